"""The warehouse guide (docs/warehouse.md): generated from a freshly migrated warehouse, and every example
query in it answers its question on demo data, run as the read-only `realise_analyst` role.

The demo warehouse is built once per module the way `realise demo` builds it, without the broker: a
generated trust's events and the hostile records go through the real planner and writer (pydantic, Great
Expectations, one transaction per batch), then the staff directory, go-live dates, benefits register,
metrics refresh (twice, for history), alert rules and an action on an alert.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from conftest import free_ports, realise_cli
from sqlalchemy.engine import Engine

from foundation.config import Settings
from foundation.database import create_engine
from warehouse.dbt import DBT_DIR, SOURCES_FILE
from warehouse.docs import EXAMPLES_DIR, GUIDE_FILE, load_examples, render_guide

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STAFF, SEED = 800, 7
VOLUMES = {"forms": 1600, "tickets": 1300, "training": 3000, "skills": 800}


def _settings(data_dir: Path) -> Settings:
    postgres, kafka, prefect = free_ports(3)  # no broker: new alerts are logged, not published
    return Settings.model_validate({
        "data_dir": str(data_dir),
        "metrics": {"benefits_file": str(ROOT / "benefits.yaml"), "alert_rules_file": str(ROOT / "alerts.yaml")},
        "stack": {"postgres_port": postgres, "kafka_port": kafka, "prefect_port": prefect},
    })


def build_demo_warehouse(engine: Engine, gate: Any, data_dir: Path) -> dict[str, Any]:
    """Load the demo's data into a migrated, empty warehouse; counts of what was loaded."""
    from bench.refresh import load_records, records
    from flows.demo import demo_now
    from synthetic import generate_events, generate_trust, malformed_records
    from warehouse.benefits import load_register, store_register
    from warehouse.directory import DirectoryEntry, load_directory, set_go_live_dates
    from warehouse.metrics.service import refresh_metrics

    settings = _settings(data_dir)
    now = demo_now()
    trust = generate_trust(STAFF, SEED)
    events = generate_events(trust, now=now, seed=SEED, **VOLUMES)
    hostile = [(m.topic, m.key, m.value) for m in malformed_records(trust, now, SEED)]
    loaded = load_records(engine, settings, gate, [list(records(events)) + hostile], group="realise-ingest")
    load_directory(engine, (DirectoryEntry(s.pseudonym, s.org_unit, s.org_path, s.staff_group, s.band, s.system,
                                           s.go_live_wave) for s in trust.staff))
    set_go_live_dates(engine, {name: wave.go_live(now).date() for name, wave in trust.waves.items()})
    store_register(engine, load_register(Path(settings.metrics.benefits_file)))
    first = refresh_metrics(engine, settings, full=True)
    with engine.begin() as conn:
        alert_id = conn.execute(sa.text(
            "select alert_id from core.alerts where status = 'open' order by opened_at, alert_id limit 1")).scalar()
        if alert_id is not None:
            conn.execute(sa.text(
                "insert into core.actions (alert_id, description, owner, due_date, action_date) "
                "values (:a, 'Floor-walkers on the ward for two weeks', 'Matron', :due, :on)"),
                {"a": alert_id, "due": (now + timedelta(days=14)).date(), "on": (now - timedelta(days=21)).date()})
    second = refresh_metrics(engine, settings, full=True)
    return {"loaded": loaded["loaded"], "quarantined": loaded["quarantined"], "refreshes": [first.refresh_id,
            second.refresh_id], "alert_with_action": alert_id}


def _admin(pg_server: Any, statement: str) -> None:
    admin = create_engine(pg_server.admin_url("postgres"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(statement))
    admin.dispose()


@pytest.fixture(scope="module")
def demo_warehouse(pg_server: Any, migrated_template: str, gate: Any,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    name = f"guide_{uuid.uuid4().hex[:10]}"
    _admin(pg_server, f"create database {name} template {migrated_template}")
    url = pg_server.admin_url(name)
    engine = create_engine(url)
    try:
        built = build_demo_warehouse(engine, gate, tmp_path_factory.mktemp("guide"))
        yield url, built
    finally:
        engine.dispose()
        _admin(pg_server, f"drop database if exists {name} with (force)")


# --- the committed guide is what the generator makes ---------------------------------------------

def test_the_committed_guide_is_what_the_generator_makes_from_a_freshly_migrated_warehouse(warehouse_url):
    engine = create_engine(warehouse_url)
    try:
        rendered = render_guide(engine)
    finally:
        engine.dispose()
    committed = GUIDE_FILE.read_text() if GUIDE_FILE.exists() else ""
    assert rendered == committed, (f"{GUIDE_FILE.relative_to(ROOT)} is out of date: regenerate it with "
                                   "`realise docs warehouse` against a migrated warehouse")


def test_the_guide_documents_every_analytics_view_and_column_and_shows_every_example(warehouse_url):
    engine = create_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            columns = conn.execute(sa.text(
                "select c.relname, a.attname, col_description(c.oid, a.attnum) as doc "
                "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
                "where n.nspname = 'analytics' and c.relkind in ('v', 'm', 'r')")).all()
        guide = render_guide(engine)
    finally:
        engine.dispose()
    assert len({view for view, _, _ in columns}) >= 15
    assert [(v, c) for v, c, doc in columns if not doc] == [], "every analytics column needs a COMMENT"
    for view, column, doc in columns:
        assert f"### `analytics.{view}`" in guide
        assert f"| `{column}` |" in guide and doc.replace("|", "\\|") in guide, (view, column)
    for example in load_examples():
        assert example.sql.strip() in guide and example.title in guide


# --- every example answers its question on demo data, as the analyst ------------------------------

def test_every_example_query_returns_rows_with_its_documented_columns_as_the_analyst(demo_warehouse):
    url, built = demo_warehouse
    assert built["loaded"] > 0 and built["quarantined"] > 0 and built["alert_with_action"] is not None
    examples = load_examples()
    assert len(examples) >= 12 and len({e.name for e in examples}) == len(examples)
    engine = create_engine(url)
    problems = []
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("set role realise_analyst"))
            for example in examples:
                try:
                    result = conn.execute(sa.text(example.sql.replace(":", r"\:")))
                    names, rows = list(result.keys()), result.all()
                except sa.exc.DBAPIError as exc:
                    conn.rollback()
                    conn.execute(sa.text("set role realise_analyst"))
                    problems.append(f"{example.name}: {str(exc.orig).splitlines()[0]}")
                    continue
                if names != example.columns:
                    problems.append(f"{example.name}: returned columns {names}, documented {example.columns}")
                if not rows:
                    problems.append(f"{example.name}: no rows on the demo data")
    finally:
        engine.dispose()
    assert not problems, "\n".join(problems)


def test_the_analyst_role_cannot_read_outside_analytics(demo_warehouse):
    url, _ = demo_warehouse
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("set role realise_analyst"))
            for table in ("core.fact_form_response", "raw.events", "ops.quarantine", "core.staff_directory"):
                with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                    conn.execute(sa.text(f"select 1 from {table} limit 1"))
                conn.rollback()
                conn.execute(sa.text("set role realise_analyst"))
    finally:
        engine.dispose()


def test_every_data_test_of_the_dbt_package_passes_on_demo_data_as_the_analyst(demo_warehouse):
    """The tests dbt/ declares (those the catalog proves, warehouse/lineage.py), run as dbt runs them."""
    url, _ = demo_warehouse
    [source] = yaml.safe_load((DBT_DIR / SOURCES_FILE).read_text())["sources"]
    engine = create_engine(url)
    failing, checked = [], 0
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("set role realise_analyst"))
            for table in source["tables"]:
                relation = f"{source['schema']}.{table['name']}"
                for column in table["columns"]:
                    name = f'"{column["name"]}"' if column.get("quote") else column["name"]
                    checks = {"not_null": f"select 1 from {relation} where {name} is null",
                              "unique": f"select 1 from {relation} where {name} is not null group by {name} "
                                        "having count(*) > 1"}
                    for test in column.get("data_tests", []):
                        checked += 1
                        if conn.execute(sa.text(f"{checks[test]} limit 1")).first() is not None:
                            failing.append(f"{test} {relation}.{column['name']}")
    finally:
        engine.dispose()
    assert checked >= 50 and not failing, failing


# --- the command ---------------------------------------------------------------------------------

def test_docs_warehouse_writes_the_guide_and_check_reports_drift(warehouse_url, tmp_path):
    realise = realise_cli(warehouse_url, tmp_path)

    out = tmp_path / "guide.md"
    written = realise("docs", "warehouse", "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert out.read_text() == GUIDE_FILE.read_text()
    assert realise("docs", "warehouse", "--out", str(out), "--check").returncode == 0

    out.write_text(out.read_text().replace("realise_analyst", "someone_else", 1))
    stale = realise("docs", "warehouse", "--out", str(out), "--check")
    assert stale.returncode == 1
    assert stale.stderr.strip().splitlines() == [
        f"{out} is out of date: run `realise docs warehouse --out {out}`"]


def test_examples_live_in_one_directory_of_sql_files():
    files = sorted(p.name for p in EXAMPLES_DIR.glob("*.sql"))
    assert files and [e.name for e in load_examples()] == [f.removesuffix(".sql") for f in files]
