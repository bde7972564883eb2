"""Validation results people can read: ingest stores one summary per kind per batch, in the batch's transaction,
analysts read them through analytics views, and `realise validation show|report` present them.

Batches go through the real planner (pydantic, the session's Great Expectations gate) and the real writer
into a warehouse of the test's own; the CLI runs as the installed console script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from conftest import free_ports

from foundation.database import create_engine
from ingestion.batch import SourceRecord, plan_batch
from ingestion.load import WarehouseWriter
from schemas.events import Kind, make_event
from warehouse.db import upgrade

pytestmark = pytest.mark.integration

REALISE = str(Path(sys.executable).with_name("realise"))
PREFIX = "vr."
FORM_TOPIC = f"{PREFIX}realise.form_response.v1"
TICKET_TOPIC = f"{PREFIX}realise.helpdesk_ticket.v1"
NOW = datetime.now(UTC).replace(microsecond=0)
AT = NOW - timedelta(days=3)
PERSON = {"pseudonym": "c0ffee12" * 4, "org_unit": "WARD-7B", "staff_group": "Nursing and Midwifery",
          "system": "ePMA", "go_live_wave": "wave-1"}
FUTURE_RULE = "occurred_at is from 2000-01-01 to now + 10 minutes"


def _form(n: int, occurred_at: datetime = AT, comment: str | None = None) -> bytes:
    event = make_event(Kind.FORM_RESPONSE, source="msforms", source_record_id=f"resp-{n}", record_version="1",
                       occurred_at=occurred_at, ingested_at=NOW, payload={
                           "form_id": "epma-pulse", "person": PERSON, "likert": {"confidence": 4},
                           "recommend": 8, "minutes_saved_per_shift": 10.0, "comment": comment})
    return event.model_dump_json().encode()


def _ticket(n: int) -> bytes:
    event = make_event(Kind.HELPDESK_TICKET, source="servicenow", source_record_id=f"INC{n:07d}",
                       record_version="1", occurred_at=AT, ingested_at=NOW, payload={
                           "person": PERSON, "opened_at": AT - timedelta(hours=1), "updated_at": AT,
                           "status": "open", "category": "How do I: ePMA", "priority": 3})
    return event.model_dump_json().encode()


def _batch(forms: int, future_forms: int, tickets: int, start: int = 0) -> list[SourceRecord]:
    """Forms (the last `future_forms` dated in 2099, which only the quality suite catches) and tickets."""
    records = [SourceRecord(FORM_TOPIC, 0, start + i, b"WARD-7B",
                            _form(start + i, datetime(2099, 1, 1, tzinfo=UTC) if i >= forms - future_forms else AT))
               for i in range(forms)]
    records += [SourceRecord(TICKET_TOPIC, 0, start + i, b"WARD-7B", _ticket(start + i)) for i in range(tickets)]
    return records


def _rows(engine: Any, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(sql), params).mappings()]


@pytest.fixture
def engine(warehouse_url: str) -> Any:
    e = create_engine(warehouse_url)
    yield e
    e.dispose()


def _commit(engine: Any, gate: Any, records: list[SourceRecord], group: str = "vr-group") -> Any:
    writer = WarehouseWriter(engine, group)
    try:
        return writer.commit(plan_batch(records, gate, topic_prefix=PREFIX, now=NOW))
    finally:
        writer.close()


# --- what ingest stores --------------------------------------------------------------------------

def test_a_committed_batch_stores_one_summary_per_kind_linked_to_the_batch(engine, gate):
    result = _commit(engine, gate, _batch(forms=30, future_forms=3, tickets=5))
    assert result.quarantined == 3

    batch = _rows(engine, "select id, records, quarantined from ops.ingest_batches")
    assert len(batch) == 1 and batch[0]["records"] == 35
    rows = {r["kind"]: r for r in _rows(engine, "select * from ops.validation_results")}
    assert set(rows) == {"form_response", "helpdesk_ticket"}
    assert {r["batch_id"] for r in rows.values()} == {batch[0]["id"]}

    forms = rows["form_response"]
    assert (forms["suite"], forms["records"], forms["failed_records"], forms["success"]) == \
        ("realise.form_response", 30, 3, False)
    broken = [e for e in forms["expectations"] if not e["success"]]
    assert broken == [{"expectation": "expect_column_values_to_be_between", "column": "occurred_at",
                       "rule": FUTURE_RULE, "success": False, "unexpected_count": 3}]
    assert all(e["unexpected_count"] == 0 for e in forms["expectations"] if e["success"])
    assert {"event_id is present", "recommend is 0 to 10"} <= {e["rule"] for e in forms["expectations"]}

    tickets = rows["helpdesk_ticket"]
    assert (tickets["records"], tickets["failed_records"], tickets["success"]) == (5, 0, True)
    assert "resolved_at is not before opened_at" in {e["rule"] for e in tickets["expectations"]}
    assert {e["column"] for e in tickets["expectations"]} >= {"resolved_at, opened_at", "status"}


def test_results_commit_with_the_batch_or_not_at_all(engine, gate, pg_server):
    # A trigger that fails the transaction after the results are written, as a crash there would.
    with engine.begin() as conn:
        conn.execute(sa.text(
            "create function ops.refuse() returns trigger language plpgsql as "
            "$$ begin raise exception 'refused for the test'; end $$"))
        conn.execute(sa.text("create trigger refuse after insert on ops.validation_results for each row "
                             "when (new.kind = 'helpdesk_ticket') execute function ops.refuse()"))
    with pytest.raises(psycopg.errors.RaiseException):
        _commit(engine, gate, _batch(forms=10, future_forms=1, tickets=2))

    for table in ("ops.validation_results", "ops.ingest_batches", "core.fact_form_response", "ops.quarantine"):
        assert _rows(engine, f"select count(*) as n from {table}") == [{"n": 0}], table
    assert _rows(engine, "select count(*) as n from ops.ingest_offsets where next_offset >= 0") == [{"n": 0}]

    with engine.begin() as conn:
        conn.execute(sa.text("drop trigger refuse on ops.validation_results"))
    _commit(engine, gate, _batch(forms=10, future_forms=1, tickets=2))
    assert _rows(engine, "select kind, records, failed_records from ops.validation_results order by kind") == [
        {"kind": "form_response", "records": 10, "failed_records": 1},
        {"kind": "helpdesk_ticket", "records": 2, "failed_records": 0}]


def test_a_batch_read_again_after_it_committed_adds_no_results(engine, gate):
    records = _batch(forms=12, future_forms=2, tickets=0)
    _commit(engine, gate, records)
    again = _commit(engine, gate, records)

    assert again.skipped == len(records)
    assert _rows(engine, "select count(*) as n from ops.validation_results") == [{"n": 1}]
    assert _rows(engine, "select count(*) as n from ops.ingest_batches") == [{"n": 2}]


# --- what analysts read --------------------------------------------------------------------------

def test_analysts_read_the_results_views_and_every_column_is_documented(engine, gate):
    _commit(engine, gate, _batch(forms=20, future_forms=2, tickets=3))
    _commit(engine, gate, _batch(forms=5, future_forms=0, tickets=0, start=20))

    with engine.connect() as conn:
        conn.execute(sa.text("set role realise_analyst"))
        results = [dict(r) for r in conn.execute(sa.text(
            "select * from analytics.validation_results order by validation_id")).mappings()]
        broken = [dict(r) for r in conn.execute(sa.text(
            "select kind, rule_number, column_name, rule, unexpected_count from analytics.validation_expectations "
            "where not success")).mappings()]
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            conn.execute(sa.text("select * from ops.validation_results"))

    assert [(r["kind"], r["records"], r["failed_records"], r["passed_records"], r["success"]) for r in results] == [
        ("form_response", 20, 2, 18, False), ("helpdesk_ticket", 3, 0, 3, True), ("form_response", 5, 0, 5, True)]
    assert results[0]["expectations_failed"] == 1
    assert results[0]["expectations_evaluated"] == len(results[0]["expectations"]) > 10
    assert results[0]["consumer_group"] == "vr-group"
    assert len(broken) == 1 and broken[0]["kind"] == "form_response"
    assert (broken[0]["column_name"], broken[0]["rule"], broken[0]["unexpected_count"]) == \
        ("occurred_at", FUTURE_RULE, 2)

    undocumented = _rows(engine, """
        select c.relname, a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'analytics' and c.relname in ('validation_results', 'validation_expectations')
          and a.attnum > 0 and not a.attisdropped and col_description(c.oid, a.attnum) is null""")
    assert undocumented == []


# --- the commands --------------------------------------------------------------------------------

def _realise(cwd: Path, *args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REALISE_", "PREFECT_"))}
    postgres, kafka, prefect = free_ports(3)
    env.update({"REALISE_WAREHOUSE_URL": url, "REALISE_DATA_DIR": str(cwd / "realise"),
                "REALISE_POSTGRES_PORT": str(postgres), "REALISE_KAFKA_PORT": str(kafka),
                "REALISE_PREFECT_PORT": str(prefect)})
    return subprocess.run([REALISE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_show_and_report_present_the_latest_results_quarantine_and_recent_batches(
        engine, gate, warehouse_url, tmp_path):
    empty = _realise(tmp_path, "validation", "show", url=warehouse_url)
    assert empty.returncode == 0, empty.stderr
    assert "no validation results yet" in empty.stdout

    _commit(engine, gate, _batch(forms=20, future_forms=2, tickets=3))
    # A value that would be markup if the page did not escape it reaches the report through a reason.
    hostile_event = json.loads(_form(20))
    hostile_event["payload"]["recommend"] = "<script>alert(1)</script>"
    hostile = SourceRecord(FORM_TOPIC, 0, 20, b"WARD-7B", json.dumps(hostile_event).encode())
    _commit(engine, gate, [*_batch(forms=4, future_forms=0, tickets=0, start=21), hostile])

    shown = _realise(tmp_path, "validation", "show", "--json", url=warehouse_url)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    latest = {r["kind"]: r for r in data["latest"]}
    assert set(latest) == {"form_response", "helpdesk_ticket"}
    assert (latest["form_response"]["records"], latest["form_response"]["success"]) == (4, True)
    assert latest["form_response"]["totals"]["failed_records"] == 2
    assert [b["records"] for b in data["recent_batches"]] == [4, 23]
    assert {(q["stage"], q["records"]) for q in data["quarantine_by_stage"]} == {("quality", 2), ("contract", 1)}

    text = _realise(tmp_path, "validation", "show", url=warehouse_url)
    assert text.returncode == 0, text.stderr
    assert "Latest validation per kind" in text.stdout and "helpdesk_ticket" in text.stdout

    page = tmp_path / "quality.html"
    report = _realise(tmp_path, "validation", "report", "--out", str(page), url=warehouse_url)
    assert report.returncode == 0, report.stderr
    assert f"wrote {page}" in report.stdout.replace("\n", "")
    body = page.read_text()
    assert body.startswith("<!DOCTYPE html>") and "<script" not in body and "http" not in body
    assert "realise.form_response" in body and "resolved_at is not before opened_at" in body
    assert "payload.recommend: Input should be a valid integer (got &#x27;&lt;script&gt;alert(1)&lt;/script&gt;" \
        in body
    assert body.count('<span class="fail">failed</span>') >= 1  # the first batch broke the timestamp rule


def test_report_into_a_missing_directory_is_one_line_and_exit_2(warehouse_url, tmp_path):
    result = _realise(tmp_path, "validation", "report", "--out", str(tmp_path / "nope" / "q.html"),
                      url=warehouse_url)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: --out {tmp_path / 'nope' / 'q.html'}: directory {tmp_path / 'nope'} does not exist"]


def test_a_warehouse_before_the_results_views_says_to_upgrade(pg_server, tmp_path):
    name = f"old_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_server.admin_url("postgres"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"create database {name}"))
    old = create_engine(pg_server.admin_url(name))
    try:
        upgrade(old, "0004")
        result = _realise(tmp_path, "validation", "show", url=pg_server.admin_url(name))
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "run `realise db upgrade`" in lines[0], result.stderr
    finally:
        old.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f"drop database if exists {name} with (force)"))
        admin.dispose()
