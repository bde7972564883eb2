"""Generic CSV drop quirks, each against simulated drops in a folder, through broker and warehouse."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from foundation.errors import SourceError
from schemas.events import Kind
from simulator import csvdrop as sim
from simulator.msforms import as_exported
from tests.contract.harness import read_events
from tests.integration import helpdesk
from tests.integration.helpdesk import Rig

rig = helpdesk.rig
STREAMS = {Kind.FORM_RESPONSE: "form_responses", Kind.HELPDESK_TICKET: "helpdesk_tickets",
           Kind.TRAINING_RECORD: "training_records"}


def _config(rig: Rig, kind: Kind, **options: Any) -> Any:
    return rig.config({"type": "csvdrop", "path": str(sim.folder_for(rig.folder, kind)),
                       "options": {"kind": kind.value, **options}})


def _view(rig: Rig, view: str, source: str, key: str) -> dict[str, dict[str, Any]]:
    with rig.engine.connect() as conn:
        rows = conn.execute(sa.text(f"select * from research.{view} where source = :s"), {"s": source}).mappings()
        return {r[key]: dict(r) for r in rows}


def _stream(result: Any, kind: Kind) -> Any:
    """The result of the stream of `kind` (a drop source declares one stream per kind; it reads one)."""
    return next(s for s in result.streams if s.stream == STREAMS[kind])


def _rewrite(path: Path, change: Any) -> list[list[str]]:
    """Rewrite a drop, `change` editing its rows (a list of lists, header first)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    change(rows)
    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        csv.writer(handle).writerows(rows)
    return rows


def test_given_form_response_drop_when_pulled_then_every_row_loads_as_the_tool_recorded_it(rig: Rig) -> None:
    sim.write_drop(rig.world, rig.folder, Kind.FORM_RESPONSE)
    result = rig.pull("forms_drop", _config(rig, Kind.FORM_RESPONSE))
    assert _stream(result, Kind.FORM_RESPONSE).rejected == 0 and result.published > 0
    assert rig.ingest().quarantined == 0
    loaded = _view(rig, "form_responses", "forms_drop", "response_id")
    expected = {e.source_record_id: e for e in sim.records(rig.world, Kind.FORM_RESPONSE)}
    assert set(loaded) == set(expected)
    for rid, event in expected.items():
        p, row = event.payload, loaded[rid]
        assert (row["form_id"], row["likert"], row["recommend"], row["minutes_saved_per_shift"],
                row["submitted_at"], row["staff_pseudonym"], row["org_unit"]) == \
            (p.form_id, p.likert, p.recommend, p.minutes_saved_per_shift, as_exported(event.occurred_at),
             p.person.pseudonym,
             p.person.org_unit)


def test_given_service_desk_report_with_uk_dates_and_usernames_when_pulled_then_tickets_match_the_desk(
        rig: Rig) -> None:
    sim.write_drop(rig.world, rig.folder, Kind.HELPDESK_TICKET)
    result = rig.pull("desk_drop", _config(rig, Kind.HELPDESK_TICKET))
    stream = _stream(result, Kind.HELPDESK_TICKET)
    assert stream.rejected == 0 and stream.unmatched_staff == 0 and stream.published > 0
    rig.ingest()
    loaded = _view(rig, "helpdesk_tickets", "desk_drop", "ticket_id")
    expected = {e.source_record_id: e for e in sim.records(rig.world, Kind.HELPDESK_TICKET)}
    assert set(loaded) == set(expected)
    for rid, event in expected.items():
        p, row = event.payload, loaded[rid]
        assert (row["status"], row["priority"], row["category"], row["reopen_count"], row["satisfaction"],
                row["opened_at"], row["resolved_at"], row["requester_pseudonym"]) == \
            (p.status, p.priority, p.category, p.reopen_count, p.satisfaction, as_exported(p.opened_at),
             p.resolved_at and as_exported(p.resolved_at),
             p.person.pseudonym)


def test_given_learning_hub_extract_keyed_by_employee_number_when_pulled_then_records_link_to_the_directory(
        rig: Rig) -> None:
    sim.write_drop(rig.world, rig.folder, Kind.TRAINING_RECORD)
    result = rig.pull("hub_drop", _config(rig, Kind.TRAINING_RECORD))
    stream = _stream(result, Kind.TRAINING_RECORD)
    assert stream.rejected == 0 and stream.unmatched_staff == 0 and stream.published > 0
    rig.ingest()
    loaded = _view(rig, "training_records", "hub_drop", "statement_id")
    expected = {e.source_record_id: e for e in sim.records(rig.world, Kind.TRAINING_RECORD)}
    assert set(loaded) == set(expected)
    for rid, event in expected.items():
        p, row = event.payload, loaded[rid]
        assert (row["verb"], row["course_id"], row["duration_seconds"], row["required"], row["occurred_at"],
                row["staff_pseudonym"], row["org_unit"]) == \
            (p.verb, p.course_id, p.duration_seconds, p.required, as_exported(event.occurred_at), p.person.pseudonym,
             p.person.org_unit)
        assert row["score"] == pytest.approx(p.score) if p.score is not None else row["score"] is None


def test_given_a_moved_or_renamed_file_when_pulled_then_it_is_not_read_again(rig: Rig) -> None:
    path = sim.write_drop(rig.world, rig.folder, Kind.TRAINING_RECORD)
    rig.pull("hub_drop", _config(rig, Kind.TRAINING_RECORD))
    shutil.move(path, path.with_name("learning_records_2026-11-01.csv"))
    again = rig.pull("hub_drop", _config(rig, Kind.TRAINING_RECORD))
    assert again.records == 0 and again.published == 0


def test_given_a_file_rewritten_with_more_rows_when_pulled_then_old_rows_republish_as_the_same_events(
        rig: Rig) -> None:
    sim.write_drop(rig.world, rig.folder, Kind.HELPDESK_TICKET)
    first = rig.pull("desk_drop", _config(rig, Kind.HELPDESK_TICKET))
    rig.world.advance(timedelta(days=8))
    sim.write_drop(rig.world, rig.folder, Kind.HELPDESK_TICKET)
    second = rig.pull("desk_drop", _config(rig, Kind.HELPDESK_TICKET))
    events = read_events(rig.settings, rig.bootstrap)
    ids = [e["event_id"] for e in events]
    assert len(ids) == first.published + second.published
    unchanged = len(ids) - len(set(ids))
    assert unchanged > 0
    summary = rig.ingest()
    assert summary.duplicates == unchanged
    loaded = _view(rig, "helpdesk_tickets", "desk_drop", "ticket_id")
    assert set(loaded) == {e.source_record_id for e in sim.records(rig.world, Kind.HELPDESK_TICKET)}
    assert len(rig.raw_versions("desk_drop")) == len(set(ids))


def test_given_malformed_rows_when_pulled_then_each_is_quarantined_with_its_row_number_and_the_rest_load(
        rig: Rig) -> None:
    path = sim.write_drop(rig.world, rig.folder, Kind.HELPDESK_TICKET)

    def spoil(rows: list[list[str]]) -> None:
        rows[1][2] = "31/02/2026 10:00:00"  # no such date
        rows[2][4] = "Escalated to vendor"  # a state nobody mapped
        rows[3].append("a stray field")
        rows[4][6] = "urgent"  # a priority without a number or a known name
        rows[5] = rows[5][:4]  # cut short

    rows = _rewrite(path, spoil)
    result = rig.pull("desk_drop", _config(rig, Kind.HELPDESK_TICKET))
    stream = _stream(result, Kind.HELPDESK_TICKET)
    assert stream.rejected == 5 and stream.published == len(rows) - 1 - 5
    reasons = "\n".join(stream.rejections)
    file = path.name
    assert f"row 2 of {file}: Updated '31/02/2026 10:00:00' is not a valid day/month/year date" in reasons
    assert f"row 3 of {file}: State 'Escalated to vendor' is not in status_map" in reasons
    assert f"row 4 of {file}: the row has more fields than the header" in reasons
    assert f"row 5 of {file}: Priority 'urgent' is not a priority 1..5" in reasons
    assert f"row 6 of {file}: the row has fewer fields than the header (no 'State')" in reasons
    rig.ingest()
    assert len(_view(rig, "helpdesk_tickets", "desk_drop", "ticket_id")) == stream.published
    with rig.engine.connect() as conn:
        raw = " ".join(r[0] for r in conn.execute(sa.text(
            "select convert_from(raw, 'utf8') from ops.quarantine where source = 'desk_drop'")))
    assert '"Caller": "[identifier]"' in raw and "staff0" not in raw


EXTRA_COLUMNS = {"IP Address": "10.20.30.40", "Location": "Ward 7B bay 3 bed 12", "Job Title": "Senior Charge Nurse",
                 "Email Address": "jo.bloggs@example.nhs.uk", "Full name": "Jo Bloggs", "Staff number": "20012345",
                 "Channel": "Kiosk"}


def test_given_a_drop_with_columns_nobody_mapped_when_a_row_is_quarantined_then_its_copy_keeps_no_identifier(
        rig: Rig) -> None:
    path = sim.write_drop(rig.world, rig.folder, Kind.FORM_RESPONSE)

    def widen(rows: list[list[str]]) -> None:
        rows[0] += list(EXTRA_COLUMNS)
        for row in rows[1:]:
            row += list(EXTRA_COLUMNS.values())
        rows[1][2] = "31/02/2026 10:00:00"  # no such date
        rows[2] += ["Jo Bloggs", "jo.bloggs@example.nhs.uk"]  # more fields than headings: nothing sits where named

    rows = _rewrite(path, widen)
    header = rows[0]
    result = rig.pull("forms_drop", _config(rig, Kind.FORM_RESPONSE))
    assert _stream(result, Kind.FORM_RESPONSE).rejected == 2
    with rig.engine.connect() as conn:
        copies = [json.loads(bytes(r[0])) for r in conn.execute(sa.text(
            "select raw from ops.quarantine where source = 'forms_drop' order by key"))]
    text = json.dumps(copies)
    for value in (*EXTRA_COLUMNS.values(), rows[1][3], rows[2][3], "@"):
        assert value not in text
    bad_date = next(c for c in copies if "submitted_at" in c)
    assert bad_date["respondent_email"] == "[identifier]"
    assert bad_date["form_id"] == rows[1][header.index("form_id")]  # mapped, not identifying: kept to fix the row
    assert "Channel" in bad_date and not {"IP Address", "Email Address", "Full name", "Staff number"} & set(bad_date)


def test_given_mapped_column_missing_from_a_drop_when_pulled_then_error_names_the_setting(rig: Rig) -> None:
    path = sim.write_drop(rig.world, rig.folder, Kind.HELPDESK_TICKET)
    _rewrite(path, lambda rows: rows[0].__setitem__(10, "CSAT"))
    with pytest.raises(SourceError, match=r"has no column 'Satisfaction'; fix sources\.desk_drop\.options\.ticket"
                                          r"\.satisfaction \(or set it to null"):
        rig.pull("desk_drop", _config(rig, Kind.HELPDESK_TICKET))
    result = rig.pull("desk_drop", _config(rig, Kind.HELPDESK_TICKET, ticket={"satisfaction": "CSAT"}))
    assert _stream(result, Kind.HELPDESK_TICKET).rejected == 0 and result.published > 0


def test_given_no_record_id_column_when_ids_are_columns_together_then_ids_are_stable_hashes_without_identifiers(
        rig: Rig) -> None:
    path = sim.write_drop(rig.world, rig.folder, Kind.TRAINING_RECORD)
    _rewrite(path, lambda rows: [row.pop(0) for row in rows])
    key = ["Employee Number", "Course Code", "Status", "Date"]
    config = _config(rig, Kind.TRAINING_RECORD, training={"id": key})
    first = rig.pull("hub_drop", config)
    before = {e["event_id"] for e in read_events(rig.settings, rig.bootstrap)}
    path.write_text(path.read_text(encoding="utf-8-sig") + "\n", encoding="utf-8-sig")  # same rows, new bytes
    second = rig.pull("hub_drop", config)
    events = read_events(rig.settings, rig.bootstrap)
    assert first.published == second.published == len(sim.records(rig.world, Kind.TRAINING_RECORD))
    assert len(before) == first.published and {e["event_id"] for e in events} == before
    assert all(e["source_record_id"].startswith("row-") for e in events)
    numbers = {rig.world.identity(s.pseudonym).employee_number for s in rig.world.trust.staff}
    assert not any(n in e["source_record_id"] for e in events for n in numbers)


def test_given_since_when_pulled_then_rows_from_that_date_are_read_again_and_state_stays(rig: Rig) -> None:
    sim.write_drop(rig.world, rig.folder, Kind.FORM_RESPONSE)
    rig.pull("forms_drop", _config(rig, Kind.FORM_RESPONSE))
    stored = rig.state("forms_drop", "form_responses")
    since = rig.world.clock - timedelta(days=5)
    replay = rig.pull("forms_drop", _config(rig, Kind.FORM_RESPONSE), since=since)
    wanted = [e for e in sim.records(rig.world, Kind.FORM_RESPONSE) if e.occurred_at >= since]
    assert replay.published == len(wanted) > 0
    assert rig.state("forms_drop", "form_responses") == stored


def test_given_options_for_another_kind_when_configured_then_error_names_the_section(rig: Rig) -> None:
    with pytest.raises(SourceError, match=r"sources\.hub_drop\.options.*ticket columns are set but kind is "
                                          r"training_record: put the mapping under training"):
        rig.pull("hub_drop", _config(rig, Kind.TRAINING_RECORD, ticket={"person": "Caller"}))
