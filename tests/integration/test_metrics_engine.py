"""The metrics engine on a realistic warehouse loaded through the real pipeline.

One warehouse per module: generated events of all four kinds are published to the session's broker and
drained by the IngestRunner (pydantic, Great Expectations, exactly-once load), the waves get go-live dates,
and each test runs on its own copy (CREATE DATABASE ... TEMPLATE). Later events are added through the same
writer without Kafka (bench.refresh.load_records). Only `net_experience_score` is relied on; other metrics
are registered by the test that needs them (a ticket metric, a copy of the survey metric).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench.refresh import (
    LATEST_COLUMNS,
    compare,
    generated,
    load_records,
    recent_since,
    records,
    set_go_live_dates,
    snapshot,
)
from foundation import kafka as rk
from foundation.config import Settings
from foundation.database import create_engine
from ingestion.rows import FACT_COLUMNS
from ingestion.runner import IngestRunner
from schemas.events import Kind, make_event
from synthetic import Trust, generate_events, generate_trust, serialise
from warehouse.metrics import suppression
from warehouse.metrics.definitions.common import (
    latest_form_responses,
    latest_helpdesk_tickets,
    latest_skills_assessments,
)
from warehouse.metrics.delta import UNRESTRICTED
from warehouse.metrics.engine import SuppressionPolicy
from warehouse.metrics.engine import refresh as engine_refresh
from warehouse.metrics.metric import Measure, inline
from warehouse.metrics.registry import GRAINS, REGISTRY, SEGMENTS, Metric, all_metrics

pytestmark = pytest.mark.integration

NES = "net_experience_score"
MIN = 5
# These tests compare what incremental and full refreshes compute; the history rule makes published decisions
# depend on the refreshes before, by design (tests/integration/test_disclosure_history.py covers it).
WITHOUT_HISTORY = SuppressionPolicy(rules=suppression.WITHOUT_HISTORY)


def refresh(engine: Engine, **options: Any) -> Any:
    options.setdefault("policy", WITHOUT_HISTORY)
    return engine_refresh(engine, **options)


EXTRA_GROUP = "test-extra-events"


@dataclass
class Loaded:
    database: str
    settings: Settings
    trust: Trust
    now: datetime
    events: int


def _admin_exec(pg_server: Any, statement: str) -> None:
    admin = create_engine(pg_server.admin_url("postgres"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(statement))
    admin.dispose()


@pytest.fixture(scope="module")
def loaded(pg_server: Any, migrated_template: str, kafka_bootstrap: str, gate: Any) -> Iterator[Loaded]:
    name = f"metrics_{uuid.uuid4().hex[:10]}"
    _admin_exec(pg_server, f"create database {name} template {migrated_template}")
    settings = Settings.model_validate({
        "warehouse": {"url": pg_server.admin_url(name)},
        "kafka": {"bootstrap": kafka_bootstrap, "topic_prefix": f"m{uuid.uuid4().hex[:10]}.",
                  "consumer_group": f"g{uuid.uuid4().hex[:8]}"},
        "prefect": {"emit_events": False},
    })
    now = datetime.now(UTC).replace(microsecond=0)
    # Tests date new events a few hours before `now`, in a week that must already hold data: early on a
    # Monday the current week holds none yet, so the data then ends with the week before.
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0)
    if now - monday < timedelta(hours=12):
        now = monday - timedelta(seconds=1)
    trust = generate_trust(600, seed=21)
    events = generate_events(trust, now=now, seed=21, forms=5000, tickets=1500, training=1500, skills=600)
    rk.ensure_topics(settings, kafka_bootstrap)
    rk.publish(settings, kafka_bootstrap, [(settings.topic(t), k, v) for t, k, v in map(serialise, events)])
    engine = create_engine(settings.warehouse.url)
    summary = IngestRunner(settings, kafka_bootstrap, engine, gate=gate).run("drain")
    assert summary.loaded_total == len(events), summary.as_dict()
    set_go_live_dates(engine, trust, now)
    engine.dispose()
    try:
        yield Loaded(name, settings, trust, now, len(events))
    finally:
        _admin_exec(pg_server, f"drop database if exists {name} with (force)")


@pytest.fixture
def warehouse(pg_server: Any, loaded: Loaded) -> Iterator[Engine]:
    """An engine on this test's own copy of the loaded warehouse."""
    name = f"mcopy_{uuid.uuid4().hex[:10]}"
    _admin_exec(pg_server, f"create database {name} template {loaded.database}")
    engine = create_engine(pg_server.admin_url(name))
    try:
        yield engine
    finally:
        engine.dispose()
        _admin_exec(pg_server, f"drop database if exists {name} with (force)")


def add_new_events(engine: Engine, loaded: Loaded, gate: Any, *, share: float = 0.01, seed: int = 99,
                   now: datetime | None = None) -> int:
    """About `share` more events (new records, all four kinds) dated last week and this week, or the two
    weeks up to `now` when given."""
    count = max(1, round(loaded.events * share))
    now = now or loaded.now
    chunks = generated(loaded.trust, now, count, seed=seed, prefix=f"new{seed}-", since=recent_since(now))
    totals = load_records(engine, loaded.settings, gate, chunks, group=EXTRA_GROUP)
    assert totals["quarantined"] == 0
    return int(totals["loaded"])


def load_events(engine: Engine, loaded: Loaded, gate: Any, events: list[Any]) -> None:
    totals = load_records(engine, loaded.settings, gate, [list(records(events))], group=EXTRA_GROUP)
    assert totals["loaded"] == len(events), totals


def week_of(moment: datetime | date) -> str:
    day = moment.date() if isinstance(moment, datetime) else moment
    return (day - timedelta(days=day.weekday())).isoformat()


def describe_difference(a: dict[Any, Any], b: dict[Any, Any]) -> str:
    only_a, only_b = set(a) - set(b), set(b) - set(a)
    differ = sorted((k for k in set(a) & set(b) if a[k] != b[k]), key=str)
    return (f"{len(only_a)} cells only in the first, {len(only_b)} only in the second, {len(differ)} differ; "
            f"e.g. {[(k, a[k], b[k]) for k in differ[:3]]} {sorted(only_a, key=str)[:2]} "
            f"{sorted(only_b, key=str)[:2]}")


def assert_same(incremental: dict[Any, Any], full: dict[Any, Any]) -> None:
    assert incremental == full, describe_difference(incremental, full)


def assert_same_values(incremental: dict[Any, Any], full: dict[Any, Any]) -> None:
    """The same cells and suppression, numbers equal but for float rounding: metrics that sum or average
    floats add them in whatever order PostgreSQL reads the rows."""
    same = compare(incremental, full)
    assert same["identical"], same


# ------------------------------------------------------------------------------------------ full refresh


def recoverable(cells: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Hidden cells an analyst could work out from the visible ones by adding and subtracting."""
    key = ("metric_id", "grain", "period", "segment_type", "segment_value")
    present = {tuple(c[k] for k in key) for c in cells}
    known = {tuple(c[k] for k in key) for c in cells if not c["suppressed"]}
    families: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for c in cells:
        if c["parent_segment_type"] is not None:
            parent = (c["metric_id"], c["grain"], c["period"], c["parent_segment_type"], c["parent_segment_value"])
            families.setdefault((parent, c["segment_type"]), []).append(tuple(c[k] for k in key))
    found: list[tuple[Any, ...]] = []
    changed = True
    while changed:
        changed = False
        for (parent, _), children in families.items():
            unknown = [c for c in children if c not in known]
            if parent in known and len(unknown) == 1:
                known.add(unknown[0])
                found.append(unknown[0])
                changed = True
            elif parent in present and parent not in known and not unknown:
                known.add(parent)
                found.append(parent)
                changed = True
    return found


def test_full_refresh_fills_every_grain_and_segment_and_suppresses_every_small_group(warehouse):
    result = refresh(warehouse, full=True, metric_ids=[NES])
    assert result.mode == "full"
    assert result.metrics == 1 and result.cells > 500 and result.suppressed > 0

    with warehouse.connect() as conn:
        covered = set(conn.execute(sa.text(
            "select distinct grain, segment_type from analytics.metric_latest where metric_id = :m"),
            {"m": NES}).all())
        stored = conn.execute(sa.text(
            "select n, suppressed, suppression_reason, value, numerator, denominator from core.metric_values "
            "where metric_id = :m"), {"m": NES}).mappings().all()
        latest = [dict(r) for r in conn.execute(sa.text(
            "select * from analytics.metric_latest where metric_id = :m"), {"m": NES}).mappings()]
        # The newest week whose trust cell is shown: the current week may have begun minutes ago.
        week = max(r["period"] for r in latest
                   if r["grain"] == "week" and r["segment_type"] == "trust" and not r["suppressed"])
        expected = conn.execute(sa.text(
            "select 100.0 * sum(case when answer >= 4 then 1 when answer <= 2 then -1 else 0 end) "
            "/ sum((answer <> 3)::int), count(distinct staff_pseudonym) "
            "from research.form_response_items where week_start = :w"), {"w": date.fromisoformat(week)}).one()

    assert covered == {(g, s) for g in GRAINS for s in SEGMENTS}
    assert len(stored) == result.cells
    small = [r for r in stored if r["n"] < MIN]
    assert small and all(r["suppressed"] and r["suppression_reason"] == "primary" for r in small)
    assert any(r["suppression_reason"] == "secondary" for r in stored)
    hidden = [r for r in stored if r["suppressed"]]
    assert all(r["value"] is None and r["numerator"] is None and r["denominator"] is None for r in hidden)
    assert len(hidden) == result.suppressed

    # What readers see: hidden cells carry no statistic at all, visible ones are large enough ...
    for row in latest:
        if row["suppressed"]:
            assert (row["value"], row["numerator"], row["denominator"], row["n"]) == (None, None, None, None)
        else:
            assert row["n"] >= MIN
    # ... and no hidden cell can be worked out from the visible ones, in any grain or period.
    assert recoverable(latest) == []
    # The trust's value for the latest week is the metric computed directly from the answers.
    trust = next(r for r in latest if r["grain"] == "week" and r["period"] == week and r["segment_type"] == "trust")
    assert trust["value"] == pytest.approx(float(expected[0]))
    assert trust["n"] == expected[1]


def test_suppressed_cells_are_stored_and_shown_without_statistics(warehouse):
    """`_write_cells`: hidden cells keep n in core (for audits) but no value, numerator or denominator;
    the analytics views show no n either, in history and in the latest values."""
    refresh(warehouse, full=True, metric_ids=[NES])
    with warehouse.connect() as conn:
        core_rows = conn.execute(sa.text(
            "select suppression_reason, count(*), count(value), count(numerator), count(denominator), "
            "min(n), max(n) from core.metric_values where suppressed group by 1 order by 1")).all()
        shown = {view: conn.execute(sa.text(
            f"select count(*), count(value), count(numerator), count(denominator), count(n) from {view} "
            "where suppressed")).one() for view in ("analytics.metric_values", "analytics.metric_latest")}
        visible = conn.execute(sa.text(
            "select count(*), count(value), count(n) from analytics.metric_latest where not suppressed")).one()
        parents = dict(conn.execute(sa.text(
            "select segment_type = 'trust', count(*) filter (where parent_segment_type is null "
            "or parent_segment_value is null) from core.metric_values group by 1")).all())
    reasons = {r[0]: r for r in core_rows}
    assert {"primary", "secondary"} <= set(reasons) <= {"primary", "secondary", "linked"}
    for reason, count, values, numerators, denominators, smallest, _ in core_rows:
        assert count > 0 and (values, numerators, denominators) == (0, 0, 0), reason
        assert smallest >= 1
    assert reasons["primary"][6] < MIN  # primary: n under the minimum; secondary cells may be larger
    for view, (count, *stats) in shown.items():
        assert count > 0 and stats == [0, 0, 0, 0], view
    assert visible[0] == visible[1] == visible[2]
    # The trust has no parent: NULL, not the text 'NaN' (pandas' missing value); every other cell has one.
    assert parents == {True: parents[True], False: 0} and parents[True] > 0
    with warehouse.connect() as conn:
        assert conn.execute(sa.text("select count(*) from core.metric_values where segment_type = 'trust' "
                                    "and parent_segment_type is null")).scalar_one() == parents[True]


INTERVAL_METRICS = [NES, "enps", "reopen_rate", "tickets_per_100_staff", "time_saved_hours_per_week",
                    "median_hours_to_resolve"]


def test_every_value_carries_its_interval_hidden_with_it_and_alike_incremental_and_full(warehouse, loaded, gate):
    """Each cell's 95% interval (warehouse/metrics/intervals.py) is stored with its value, withheld wherever
    the value is, and computed from the same sums by an incremental and a full refresh."""
    refresh(warehouse, full=True, metric_ids=INTERVAL_METRICS)
    with warehouse.connect() as conn:
        stored = conn.execute(sa.text(
            "select metric_id, count(*) filter (where suppressed) as hidden, "
            "count(ci_low) filter (where suppressed) as hidden_with_interval, "
            "count(*) filter (where not suppressed and value is not null) as shown, "
            "count(*) filter (where not suppressed and ci_low <= value and value <= ci_high) as inside "
            "from core.metric_values group by metric_id")).mappings().all()
        views = {view: conn.execute(sa.text(
            f"select count(*), count(ci_low), count(ci_high) from {view} where suppressed")).one()
            for view in ("analytics.metric_values", "analytics.metric_latest")}
        week = conn.execute(sa.text(
            "select max(period) from analytics.metric_latest where metric_id = 'enps' and grain = 'week' "
            "and segment_type = 'trust' and not suppressed")).scalar_one()
        trust = conn.execute(sa.text(
            "select value, ci_low, ci_high from analytics.metric_latest where metric_id = 'enps' "
            "and grain = 'week' and period = :p and segment_type = 'trust'"), {"p": week}).one()
        promoters, detractors, answers = conn.execute(sa.text(
            "select count(*) filter (where recommend >= 9), count(*) filter (where recommend <= 6), count(*) "
            "from research.form_responses where recommend is not null and week_start = :w"),
            {"w": date.fromisoformat(week)}).one()

    by_metric = {r["metric_id"]: r for r in stored}
    for metric_id in INTERVAL_METRICS:
        row = by_metric[metric_id]
        assert row["hidden"] > 0 and row["hidden_with_interval"] == 0, metric_id  # nothing of a hidden cell
        if metric_id == "median_hours_to_resolve":
            assert row["inside"] == 0  # no interval for a median
        else:
            assert row["inside"] == row["shown"] > 0, metric_id  # every value shown within its interval
    for view, (hidden, lows, highs) in views.items():
        assert hidden > 0 and (lows, highs) == (0, 0), view
    # The trust's eNPS interval, worked out from the answers (Rocks' adjusted Wald: ¾ promoter, ¾ detractor
    # and 1½ passives added).
    n = answers + 3
    p, d = (promoters + 0.75) / n, (detractors + 0.75) / n
    half = 1.959964 * ((p + d - (p - d) ** 2) / n) ** 0.5
    assert trust.value == pytest.approx(100.0 * (promoters - detractors) / answers)
    assert (trust.ci_low, trust.ci_high) == (pytest.approx(100 * (p - d - half), abs=1e-3),
                                             pytest.approx(100 * (p - d + half), abs=1e-3))

    add_new_events(warehouse, loaded, gate)
    incremental, after_incremental, after_full = incremental_then_full(warehouse, INTERVAL_METRICS)
    assert incremental.mode == "incremental"
    assert_same_values(after_incremental, after_full)  # the snapshot holds ci_low and ci_high
    columns = list(LATEST_COLUMNS[5:])
    intervals = [v[columns.index("ci_low")] for k, v in after_full.items() if k[0] != "median_hours_to_resolve"]
    assert sum(x is not None for x in intervals) > len(intervals) / 3


# ------------------------------------------------------------------------------------- incremental = full


def test_incremental_refresh_leaves_the_same_latest_values_as_a_full_refresh(warehouse, loaded, gate):
    first = refresh(warehouse, full=True, metric_ids=[NES])
    before = snapshot(warehouse, [NES])

    added = add_new_events(warehouse, loaded, gate)
    assert added >= loaded.events // 200
    incremental = refresh(warehouse, full=False, metric_ids=[NES])
    after_incremental = snapshot(warehouse, [NES])

    assert incremental.mode == "incremental"
    assert 1 <= incremental.periods[NES] < 12  # the touched weeks and their weeks since go-live only
    assert 0 < incremental.cells < first.cells / 3
    changed = {k for k in after_incremental if before.get(k) != after_incremental[k]}
    assert changed, "the new events changed no value: the test would prove nothing"
    assert {k[2] for k in changed if k[1] == "week"} <= {week_of(recent_since(loaded.now)), week_of(loaded.now)}

    full = refresh(warehouse, full=True, metric_ids=[NES])
    assert full.mode == "full" and full.cells == first.cells + (len(after_incremental) - len(before))
    assert_same(after_incremental, snapshot(warehouse, [NES]))


def test_incremental_refresh_without_new_data_writes_nothing(warehouse):
    refresh(warehouse, full=True, metric_ids=[NES])
    with warehouse.connect() as conn:
        rows_before = conn.execute(sa.text("select count(*) from core.metric_values")).scalar_one()
    before = snapshot(warehouse, [NES])

    result = refresh(warehouse, full=False, metric_ids=[NES])

    assert (result.mode, result.metrics, result.cells, result.suppressed) == ("incremental", 0, 0, 0)
    assert result.periods == {NES: 0}
    with warehouse.connect() as conn:
        assert conn.execute(sa.text("select count(*) from core.metric_values")).scalar_one() == rows_before
    assert snapshot(warehouse, [NES]) == before


def test_history_keeps_both_refreshes_and_answers_as_of_the_first(warehouse, loaded, gate):
    first = refresh(warehouse, full=True, metric_ids=[NES])
    first_values = snapshot(warehouse, [NES])
    add_new_events(warehouse, loaded, gate)
    second = refresh(warehouse, full=False, metric_ids=[NES])
    second_values = snapshot(warehouse, [NES])
    assert second_values != first_values

    as_of = ("select distinct on (metric_id, grain, period, segment_type, segment_value) "
             "metric_id, grain, period, segment_type, segment_value, parent_segment_type, parent_segment_value, "
             "value, numerator, denominator, n, suppressed, suppression_reason, ci_low, ci_high "
             "from analytics.metric_values where metric_id = :m and computed_at <= :t "
             "order by metric_id, grain, period, segment_type, segment_value, computed_at desc, refresh_id desc")
    with warehouse.connect() as conn:
        per_refresh = dict(conn.execute(sa.text(
            "select refresh_id, count(*) from analytics.metric_values group by 1")).all())
        times = dict(conn.execute(sa.text(
            "select refresh_id, max(computed_at) from analytics.metric_values group by 1")).all())
        then = {tuple(r[:5]): tuple(r[5:]) for r in conn.execute(
            sa.text(as_of), {"m": NES, "t": times[first.refresh_id]})}
        now = {tuple(r[:5]): tuple(r[5:]) for r in conn.execute(
            sa.text(as_of), {"m": NES, "t": times[second.refresh_id]})}
    assert per_refresh == {first.refresh_id: first.cells, second.refresh_id: second.cells}
    assert times[first.refresh_id] < times[second.refresh_id]
    assert then == first_values
    assert now == second_values


def test_cli_refresh_prints_json(warehouse, tmp_path):
    url = warehouse.url.render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALISE_")}
    env["REALISE_WAREHOUSE_URL"] = url
    realise = str(Path(sys.executable).with_name("realise"))

    def run(*args: str) -> dict[str, Any]:
        done = subprocess.run([realise, "metrics", "refresh", "--json", "-m", NES, *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    first = run()
    assert first["mode"] == "full"  # nothing refreshed before: the first refresh is full
    assert first["metrics"] == 1 and first["cells"] > 0 and first["suppressed"] > 0
    assert first["min_group_size"] == MIN
    again = run()
    assert (again["mode"], again["cells"]) == ("incremental", 0)
    forced = run("--full")
    assert forced["mode"] == "full" and forced["cells"] == first["cells"]
    with warehouse.connect() as conn:
        modes = [r[0] for r in conn.execute(sa.text("select mode from ops.metric_refreshes order by id"))]
    assert modes == ["full", "incremental", "full"]


# -------------------------------------------------------------------- what incremental refreshes must see


FORM_COLUMNS = FACT_COLUMNS[Kind.FORM_RESPONSE]
TICKET_METRICS = ["tickets_per_100_staff", "ticket_share_access", "ticket_share_other", "median_hours_to_resolve",
                  "reopen_rate", "backlog_growth", "helpdesk_satisfaction"]
SKILLS_CHANGE = ["skills_change", "skills_change_technical_proficiency", "skills_change_communication_collaboration"]


def test_an_event_committed_while_a_refresh_ran_is_picked_up_by_the_next_incremental_refresh(warehouse):
    """A load transaction that starts before a refresh and commits after it has loaded_at (its start time)
    earlier than the refresh: the next incremental refresh must still recompute its week."""
    refresh(warehouse, full=True, metric_ids=[NES])
    with warehouse.connect() as conn:
        old = conn.execute(sa.text(
            "select event_id from core.fact_form_response order by occurred_at limit 1")).one()
    new_id, record = uuid.uuid4(), f"late-{uuid.uuid4().hex[:8]}"
    columns = ", ".join(c for c in FORM_COLUMNS)
    copied = ", ".join({"event_id": "%(id)s", "source_record_id": "%(rid)s", "likert": "'{\"confidence\": 5}'",
                        "likert_count": "1"}.get(c, c) for c in FORM_COLUMNS)
    url = warehouse.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as load:  # one transaction, left open across the refresh below
        load.execute("insert into raw.events (event_id, kind, source, source_record_id, record_version, "
                     "occurred_at, ingested_at, topic, partition, \"offset\", envelope) select %(id)s, kind, "
                     "source, %(rid)s, record_version, occurred_at, ingested_at, topic, partition, \"offset\", "
                     "envelope from raw.events where event_id = %(old)s",
                     {"id": new_id, "rid": record, "old": old.event_id})
        load.execute(f"insert into core.fact_form_response ({columns}) select {copied} "  # noqa: S608
                     "from core.fact_form_response where event_id = %(old)s",
                     {"id": new_id, "rid": record, "old": old.event_id})
        during = threading.Thread(target=refresh, args=(warehouse,), kwargs={"full": False, "metric_ids": [NES]})
        during.start()
        during.join(60)
        assert not during.is_alive()
        load.commit()

    refresh(warehouse, full=False, metric_ids=[NES])
    after_incremental = snapshot(warehouse, [NES])
    refresh(warehouse, full=True, metric_ids=[NES])
    assert_same(after_incremental, snapshot(warehouse, [NES]))


def _latest_envelope(engine: Engine, sql: str) -> dict[str, Any]:
    with engine.connect() as conn:
        envelope = conn.execute(sa.text(sql)).scalar_one()
    return envelope if isinstance(envelope, dict) else json.loads(envelope)


def _new_version(envelope: dict[str, Any], at: datetime, **payload: Any) -> Any:
    return make_event(envelope["kind"], source=envelope["source"], source_record_id=envelope["source_record_id"],
                      record_version=at.isoformat(), occurred_at=at, ingested_at=at,
                      payload={**envelope["payload"], **payload})


def test_a_response_edited_weeks_later_is_recounted_in_its_old_week(warehouse, loaded, gate):
    """research.form_responses shows the latest version of a response: a new version dated this week moves
    the response out of its old week, so that old week changes too."""
    refresh(warehouse, full=True, metric_ids=[NES])
    before = snapshot(warehouse, [NES])
    old_week = date.fromisoformat(week_of(loaded.now)) - timedelta(weeks=4)
    envelope = _latest_envelope(warehouse, (
        "select e.envelope from raw.events e join research.form_responses r using (event_id) "
        f"where r.week_start = '{old_week}' and r.likert_count > 0 order by r.submitted_at limit 1"))
    edited = _new_version(envelope, loaded.now - timedelta(hours=1),
                          likert=dict.fromkeys(envelope["payload"]["likert"], 1))
    load_events(warehouse, loaded, gate, [edited])

    refresh(warehouse, full=False, metric_ids=[NES])
    after_incremental = snapshot(warehouse, [NES])
    refresh(warehouse, full=True, metric_ids=[NES])
    after_full = snapshot(warehouse, [NES])
    trust_then = (NES, "week", old_week.isoformat(), "trust", "all")
    assert after_full[trust_then] != before[trust_then]  # the edit did change the old week
    assert_same(after_incremental, after_full)


def test_a_ticket_resolved_weeks_later_is_recounted_in_the_week_it_was_opened(warehouse, loaded, gate, monkeypatch):
    """Ticket metrics count a ticket in the week it was opened; its later versions (resolved, reopened)
    arrive in later weeks and must still recompute the opened week."""
    metric = Metric(
        id="test_tickets_resolved", title="Tickets resolved (test)", description="Share of tickets resolved.",
        unit="%", numerator="resolved tickets", denominator="tickets opened", better="higher",
        kinds=("helpdesk_ticket",),
        base=inline("""
            select t.opened_week_start as week_start,
                   floor((t.opened_date - w.go_live_date) / 7.0)::int as weeks_since_go_live,
                   t.org_unit, t.staff_group, t.system, t.go_live_wave, t.ticket_id as subject,
                   t.source as _src, t.ticket_id as _rid, (t.status = 'resolved')::int as resolved
            from research.helpdesk_tickets t left join core.dim_wave w using (go_live_wave)
        """),
        type="derived", measures=(Measure("share_resolved", "average", "resolved"),
                                  Measure("resolved", "sum", "resolved"), Measure("tickets", "count")),
        expr="100.0 * share_resolved", numerator_measure="resolved", denominator_measure="tickets")
    monkeypatch.setitem(REGISTRY, metric.id, metric)
    ids = [NES, metric.id, *TICKET_METRICS]
    refresh(warehouse, full=True, metric_ids=ids)
    recent = recent_since(loaded.now)
    envelope = _latest_envelope(warehouse, (
        "select e.envelope from raw.events e join research.helpdesk_tickets t using (event_id) "
        f"where t.status <> 'resolved' and t.opened_at < '{recent.isoformat()}'::timestamptz - interval '7 days' "
        "order by t.opened_at limit 1"))
    at = loaded.now - timedelta(hours=2)
    resolved = _new_version(envelope, at, status="resolved", updated_at=at.isoformat(), resolved_at=at.isoformat(),
                            reopen_count=0)
    load_events(warehouse, loaded, gate, [resolved])

    refresh(warehouse, full=False, metric_ids=ids)
    after_incremental = snapshot(warehouse, ids)
    refresh(warehouse, full=True, metric_ids=ids)
    assert_same(after_incremental, snapshot(warehouse, ids))


def test_records_retracted_at_the_source_leave_every_metric_incremental_and_full_alike(warehouse, loaded, gate):
    """A retraction (an xAPI voiding, a deleted ticket or response) takes its record out of the analytics views
    and every metric, in the weeks of all its versions; an incremental refresh must match a full one."""
    ids = sorted(all_metrics())
    refresh(warehouse, full=True, metric_ids=ids)
    before = snapshot(warehouse, ids)
    at = loaded.now - timedelta(hours=1)
    targets = {
        "form_response": "select source, response_id from research.form_responses order by submitted_at limit 3",
        "helpdesk_ticket": "select source, ticket_id from research.helpdesk_tickets order by opened_at limit 3",
        "training_record": "select source, statement_id from research.training_records "
                           "where verb in ('completed', 'passed') order by occurred_at limit 3",
        "skills_assessment": "select distinct source, response_id from research.skills_assessments limit 3",
    }
    retractions = []
    with warehouse.connect() as conn:
        for kind, sql in targets.items():
            for source, record_id in conn.execute(sa.text(sql)):
                retractions.append(make_event(Kind.RETRACTION, source=source, source_record_id=record_id,
                                              record_version=f"deleted-{at.isoformat()}", occurred_at=at,
                                              ingested_at=at, payload={"kind": kind, "reason": "deleted"}))
    assert len(retractions) == 12
    load_events(warehouse, loaded, gate, retractions)
    with warehouse.connect() as conn:
        for kind, sql in targets.items():
            still = {tuple(r) for r in conn.execute(sa.text(sql.replace("limit 3", "")))}
            gone = {(e.source, e.source_record_id) for e in retractions if e.payload.kind == kind}
            assert not still & gone, kind
        # the metrics' own reading of the latest versions leaves them out too (not only the views)
        for kind, sql in (("form_response", f"select source, response_id from ({latest_form_responses()}) x"),
                          ("helpdesk_ticket", f"select source, ticket_id from ({latest_helpdesk_tickets()}) x"),
                          ("skills_assessment", "select source, source_record_id from "
                                                f"({latest_skills_assessments('baseline', early=False)}) x")):
            read = {tuple(r) for r in conn.execute(sa.text(sql), {**UNRESTRICTED})}
            gone = {(e.source, e.source_record_id) for e in retractions if e.payload.kind == kind}
            assert read and not read & gone, kind

    refresh(warehouse, full=False, metric_ids=ids)
    after_incremental = snapshot(warehouse, ids)
    refresh(warehouse, full=True, metric_ids=ids)
    after_full = snapshot(warehouse, ids)
    assert after_full != before  # the retractions did change metrics
    assert_same_values(after_incremental, after_full)


def _copy_of_nes(monkeypatch: pytest.MonkeyPatch) -> str:
    copy = dataclasses.replace(all_metrics()[NES], id="test_nes_copy")
    monkeypatch.setitem(REGISTRY, copy.id, copy)
    return copy.id


def test_refreshing_some_metrics_does_not_hide_new_data_from_the_others(warehouse, loaded, gate, monkeypatch):
    other = _copy_of_nes(monkeypatch)
    refresh(warehouse, full=True, metric_ids=[NES, other])
    add_new_events(warehouse, loaded, gate)
    refresh(warehouse, full=False, metric_ids=[NES])  # e.g. `realise metrics refresh -m net_experience_score`
    refresh(warehouse, full=False, metric_ids=[NES, other])
    after_incremental = snapshot(warehouse, [other])
    refresh(warehouse, full=True, metric_ids=[other])
    assert_same(after_incremental, snapshot(warehouse, [other]))


def test_a_metric_never_refreshed_gets_every_period_from_its_first_incremental_refresh(warehouse, monkeypatch):
    other = _copy_of_nes(monkeypatch)
    refresh(warehouse, full=True, metric_ids=[NES])
    refresh(warehouse, full=False, metric_ids=[NES, other])
    after_incremental = snapshot(warehouse, [other])
    assert after_incremental
    refresh(warehouse, full=True, metric_ids=[other])
    assert_same(after_incremental, snapshot(warehouse, [other]))


def test_a_raised_minimum_group_size_applies_to_every_period_at_once(warehouse):
    refresh(warehouse, full=True, metric_ids=[NES],
            policy=SuppressionPolicy(min_group_size=5, rules=suppression.WITHOUT_HISTORY))
    stricter = SuppressionPolicy(min_group_size=11, rules=suppression.WITHOUT_HISTORY)
    refresh(warehouse, full=False, metric_ids=[NES], policy=stricter)
    after_incremental = snapshot(warehouse, [NES])
    visible_small = [k for k, v in after_incremental.items() if not v[6] and v[5] is not None and v[5] < 11]
    assert visible_small == [], f"{len(visible_small)} groups under the new minimum still shown"
    refresh(warehouse, full=True, metric_ids=[NES], policy=stricter)
    assert_same(after_incremental, snapshot(warehouse, [NES]))


def test_a_new_member_of_staff_changes_every_week_of_a_metric_counting_the_staff_seen(
        warehouse, loaded, gate, monkeypatch):
    """While no staff directory is loaded, metrics use everyone seen so far (core.dim_staff) as staff in
    scope for every week: the first event of a new person changes the denominators of old weeks too."""
    from foundation.privacy import DEMO_KEY, pseudonymise

    metric = Metric(
        id="test_respondents_per_staff_seen", title="Respondents (test)", description="Staff who responded.",
        unit="%", numerator="staff seen who responded in the week", denominator="staff seen", better="higher",
        kinds=("form_response",), grains=("week",), rows_per="subject",
        base=inline("""
            with weeks as (select distinct week_start from research.form_responses),
            responded as (select distinct staff_pseudonym, week_start from research.form_responses)
            select k.week_start, null::int as weeks_since_go_live, s.org_unit, s.staff_group, s.system,
                   s.go_live_wave, s.pseudonym as subject, (r.staff_pseudonym is not null)::int as responded
            from core.dim_staff s cross join weeks k
            left join responded r on r.staff_pseudonym = s.pseudonym and r.week_start = k.week_start
            where not exists (select from core.staff_directory)
        """),
        type="derived", measures=(Measure("share_responded", "average", "responded"),
                                  Measure("responded", "sum", "responded"), Measure("staff", "count")),
        expr="100.0 * share_responded", numerator_measure="responded", denominator_measure="staff")
    monkeypatch.setitem(REGISTRY, metric.id, metric)
    refresh(warehouse, full=True, metric_ids=[metric.id])
    before = snapshot(warehouse, [metric.id])
    envelope = _latest_envelope(warehouse, (
        "select envelope from raw.events where kind = 'form_response' order by occurred_at desc limit 1"))
    person = {**envelope["payload"]["person"], "pseudonym": pseudonymise(f"new{uuid.uuid4().hex[:6]}@example.nhs.uk",
                                                                          DEMO_KEY)}
    at = loaded.now - timedelta(hours=1)
    newcomer = make_event(Kind.FORM_RESPONSE, source=envelope["source"], source_record_id=f"newcomer-{uuid.uuid4()}",
                          record_version=at.isoformat(), occurred_at=at, ingested_at=at,
                          payload={**envelope["payload"], "person": person})
    load_events(warehouse, loaded, gate, [newcomer])

    refresh(warehouse, full=False, metric_ids=[metric.id])
    after_incremental = snapshot(warehouse, [metric.id])
    refresh(warehouse, full=True, metric_ids=[metric.id])
    after_full = snapshot(warehouse, [metric.id])
    old_week = (metric.id, "week", (date.fromisoformat(week_of(loaded.now)) - timedelta(weeks=5)).isoformat(),
                "trust", "all")
    assert after_full[old_week] != before[old_week]  # one more person seen: every week's denominator grows
    assert_same(after_incremental, after_full)


# ------------------------------------------------------------- what the early filter must keep, every metric


def periods_of(snapshot_: dict[Any, Any], metric_id: str) -> int:
    return len({(k[1], k[2]) for k in snapshot_ if k[0] == metric_id})


def incremental_then_full(engine: Engine, ids: list[str]) -> tuple[Any, dict[Any, Any], dict[Any, Any]]:
    """An incremental refresh and then a full one: the first's result, and the latest values after each."""
    incremental = refresh(engine, full=False, metric_ids=ids)
    after_incremental = snapshot(engine, ids)
    refresh(engine, full=True, metric_ids=ids)
    return incremental, after_incremental, snapshot(engine, ids)


def test_every_metric_gives_the_same_latest_values_after_events_in_recent_and_old_weeks(warehouse, loaded, gate):
    """Every registered metric, after 1% new events in the last two weeks and new records dated five weeks
    ago (loaded now): what each recomputed period reads from before its first week is still read."""
    ids = list(all_metrics())
    refresh(warehouse, full=True, metric_ids=ids)
    before = snapshot(warehouse, ids)
    add_new_events(warehouse, loaded, gate)
    # Enough old records (about 170) that every kind, skills baselines included, has some whatever the date.
    add_new_events(warehouse, loaded, gate, share=0.02, seed=98, now=loaded.now - timedelta(weeks=5))

    incremental, after_incremental, after_full = incremental_then_full(warehouse, ids)

    assert_same_values(after_incremental, after_full)
    recent = week_of(recent_since(loaded.now))
    changed_old = {k[0] for k in after_full if k[1] == "week" and k[2] < recent and before.get(k) != after_full[k]}
    assert {NES, "ticket_share_other", "skills_mean_baseline"} <= changed_old  # old weeks did change
    # Staff counted while no directory is loaded: the new events come from people already seen, with the
    # same unit and group, so these metrics recompute the touched weeks only.
    for metric_id in ("participation", "time_saved_hours_per_week"):
        assert 0 < incremental.periods[metric_id] < periods_of(after_full, metric_id), metric_id


def test_a_ticket_resolved_after_its_last_update_counts_in_the_week_resolved(warehouse, loaded, gate):
    """A ticket last updated weeks ago can carry a resolution time in a recent week: recomputing the recent
    weeks must still find it, although its latest version was updated before them."""
    envelope = _latest_envelope(warehouse, (
        "select envelope from raw.events where kind = 'helpdesk_ticket' order by occurred_at limit 1"))
    opened = loaded.now - timedelta(weeks=6)
    resolved = loaded.now - timedelta(hours=3)
    odd = make_event(Kind.HELPDESK_TICKET, source=envelope["source"], source_record_id=f"odd-{uuid.uuid4().hex[:8]}",
                     record_version="1", occurred_at=opened + timedelta(hours=1), ingested_at=opened,
                     payload={**envelope["payload"], "opened_at": opened.isoformat(), "status": "resolved",
                              "updated_at": (opened + timedelta(hours=1)).isoformat(),
                              "resolved_at": resolved.isoformat(), "reopen_count": 0, "satisfaction": 1})
    load_events(warehouse, loaded, gate, [odd])
    refresh(warehouse, full=True, metric_ids=TICKET_METRICS)
    at = loaded.now - timedelta(hours=2)
    fresh = make_event(Kind.HELPDESK_TICKET, source=envelope["source"], source_record_id=f"new-{uuid.uuid4().hex[:8]}",
                       record_version="1", occurred_at=at, ingested_at=at,
                       payload={**envelope["payload"], "opened_at": at.isoformat(), "updated_at": at.isoformat(),
                                "status": "new", "resolved_at": None, "reopen_count": 0, "satisfaction": None})
    load_events(warehouse, loaded, gate, [fresh])  # touches this week only: the week `odd` was resolved in

    incremental, after_incremental, after_full = incremental_then_full(warehouse, TICKET_METRICS)

    assert incremental.periods["median_hours_to_resolve"] < periods_of(after_full, "median_hours_to_resolve")
    assert_same(after_incremental, after_full)


def _skills_event(template: dict[str, Any], at: datetime, phase: str, score: int) -> Any:
    payload = {**template["payload"], "phase": phase,
               "scores": dict.fromkeys(template["payload"]["scores"], score)}
    return make_event(Kind.SKILLS_ASSESSMENT, source=template["source"],
                      source_record_id=f"{phase}-{uuid.uuid4().hex[:8]}", record_version="1", occurred_at=at,
                      ingested_at=at, payload=payload)


def test_a_new_follow_up_pairs_with_a_baseline_from_an_old_week(warehouse, loaded, gate):
    """Only this week is recomputed, yet the follow-up's baseline, weeks older, is found."""
    refresh(warehouse, full=True, metric_ids=SKILLS_CHANGE)
    before = snapshot(warehouse, SKILLS_CHANGE)
    baseline = _latest_envelope(warehouse, (
        "select e.envelope from raw.events e join core.fact_skills_assessment f using (event_id) "
        f"where f.phase = 'baseline' and f.occurred_at < '{loaded.now - timedelta(weeks=4)}' "
        "order by f.occurred_at limit 1"))
    at = loaded.now - timedelta(hours=1)
    load_events(warehouse, loaded, gate, [_skills_event(baseline, at, "follow_up", 5)])

    incremental, after_incremental, after_full = incremental_then_full(warehouse, SKILLS_CHANGE)

    assert incremental.periods["skills_change"] < periods_of(after_full, "skills_change")
    this_week = ("skills_change", "week", week_of(at), "trust", "all")
    assert after_full[this_week] != before.get(this_week)  # the pair counted
    assert_same(after_incremental, after_full)


def test_a_late_baseline_re_pairs_a_follow_up_in_a_later_week_no_event_falls_in(warehouse, loaded, gate):
    """A baseline loaded now but dated the week before someone's follow-up becomes the baseline that
    follow-up pairs with: the follow-up's week changes although no new event is dated in it."""
    refresh(warehouse, full=True, metric_ids=SKILLS_CHANGE)
    before = snapshot(warehouse, SKILLS_CHANGE)
    follow_up = _latest_envelope(warehouse, (
        "select e.envelope from raw.events e join core.fact_skills_assessment f using (event_id) "
        f"where f.phase = 'follow_up' and f.occurred_at < '{recent_since(loaded.now) - timedelta(weeks=1)}' "
        "order by f.occurred_at desc limit 1"))
    follow_up_at = datetime.fromisoformat(follow_up["occurred_at"])
    load_events(warehouse, loaded, gate, [_skills_event(follow_up, follow_up_at - timedelta(days=8), "baseline", 1)])

    _, after_incremental, after_full = incremental_then_full(warehouse, SKILLS_CHANGE)

    follow_up_week = ("skills_change", "week", week_of(follow_up_at), "trust", "all")
    assert after_full[follow_up_week] != before[follow_up_week]
    assert_same(after_incremental, after_full)


def test_new_go_live_dates_change_every_period(warehouse):
    """Go-live dates place every row on the week-since-go-live grain: a changed date recomputes all periods."""
    refresh(warehouse, full=True, metric_ids=[NES])
    with warehouse.begin() as conn:
        conn.execute(sa.text("update core.dim_wave set go_live_date = go_live_date + 3 where go_live_wave = "
                             "(select min(go_live_wave) from core.dim_wave where go_live_date is not null)"))

    incremental, after_incremental, after_full = incremental_then_full(warehouse, [NES])

    with warehouse.connect() as conn:
        written_by_full = conn.execute(sa.text(
            "select count(distinct (grain, period)) from core.metric_values "
            "where refresh_id = (select max(id) from ops.metric_refreshes)")).scalar_one()
    assert incremental.periods[NES] == written_by_full
    assert_same(after_incremental, after_full)


def test_cells_kept_as_components_equal_the_cells_grouped_from_the_base_rows(warehouse, loaded, gate):
    """Decomposable metrics are evaluated from stored components (warehouse/metrics/delta.py), regrouped
    metrics that keep their base rows (the median) regroup the stored rows, the metric tests group base rows
    (compute_cells): after a full and an incremental refresh all give every cell. The same GROUPING SETS
    query (grouping.py) makes the components, their changes and the regrouped cells."""
    from warehouse.metrics import delta
    from warehouse.metrics.engine import compute_cells, decomposed, keeps_rows, org_levels
    from warehouse.metrics.service import metric_params

    params = metric_params(Settings())
    refresh(warehouse, full=True)
    add_new_events(warehouse, loaded, gate)
    refresh(warehouse, full=False)
    checked = regrouped = 0
    with warehouse.connect() as conn:
        levels = org_levels(conn)
        for metric in all_metrics().values():
            parts = decomposed(metric)
            if parts is None and not keeps_rows(metric):
                continue
            key = ["grain", "period", "segment_type", "segment_value"]
            if parts is None:
                stored = compute_cells(conn, metric, params, levels=levels, stored=delta.base_table(metric))
                regrouped += 1
            else:
                stored = delta.evaluate(conn, metric, parts, params, levels)
            stored = stored.sort_values(key).reset_index(drop=True)
            grouped = compute_cells(conn, metric, params, levels=levels).sort_values(key).reset_index(drop=True)
            assert len(stored) == len(grouped) > 0, metric.id
            assert stored[key + ["parent_segment_value", "n"]].equals(grouped[key + ["parent_segment_value", "n"]])
            for column in ("value", "numerator", "denominator", "ci_low", "ci_high"):
                a, b = stored[column].astype(float), grouped[column].astype(float)
                assert (((a - b).abs() <= 1e-9 * b.abs().clip(lower=1)) | (a.isna() & b.isna())).all(), (
                    metric.id, column)
            checked += 1
    assert (checked, regrouped) == (35, 1)


def test_metrics_drawing_on_shared_rows_store_and_group_their_own_base_rows(warehouse):
    """Metric.rows_of: a full refresh works the comment columns and the skills pairs out once and draws each
    metric's rows from them (renamed, filtered), and groups the comment metrics' components in one query;
    the shared rows are gone when it commits. What it stores is what each metric's own base SQL gives, row
    for row, and its cells are those grouped from that SQL."""
    from warehouse.metrics import delta
    from warehouse.metrics.grouping import base_rows_sql
    from warehouse.metrics.service import metric_params

    drawing = [m for m in all_metrics().values() if m.rows_of is not None]
    assert {m.id for m in drawing} >= {"comment_theme_training", "comment_sentiment",
                                       "skills_change_teaching_learning"}
    params = metric_params(Settings())
    refresh(warehouse, full=True, metric_ids=[m.id for m in drawing])
    with warehouse.connect() as conn:
        # The shared rows lived for the refresh only: metric_base holds the metrics' own rows.
        tables = set(conn.execute(sa.text(
            "select relname from pg_class where relnamespace = 'metric_base'::regnamespace and relkind = 'r'"
        )).scalars())
        assert tables == {m.id for m in drawing}
        for metric in drawing:
            bind = {**params, **UNRESTRICTED}
            own = f"select * from ({base_rows_sql(metric)}) b"
            stored = f"select * from {delta.base_table(metric)}"
            rows = conn.execute(sa.text(f"select count(*) from ({own}) o"), bind).scalar_one()
            extra = conn.execute(sa.text(f"select count(*) from ({stored} except all {own}) x"), bind).scalar_one()
            missing = conn.execute(sa.text(f"select count(*) from ({own} except all {stored}) x"), bind).scalar_one()
            assert rows > 0 and (extra, missing) == (0, 0), metric.id
        assert_state_is_regrouped(conn, drawing)


def assert_state_is_regrouped(conn: sa.Connection, metrics: list[Metric]) -> None:
    """Each metric's cells from its stored components are those compute_cells groups from its base SQL."""
    from warehouse.metrics import delta
    from warehouse.metrics.engine import compute_cells, decomposed, org_levels
    from warehouse.metrics.service import metric_params

    params = metric_params(Settings())
    levels = org_levels(conn)
    key = ["grain", "period", "segment_type", "segment_value"]
    for metric in metrics:
        parts = decomposed(metric)
        assert parts is not None
        kept = delta.evaluate(conn, metric, parts, params, levels).sort_values(key).reset_index(drop=True)
        grouped = compute_cells(conn, metric, params, levels=levels).sort_values(key).reset_index(drop=True)
        assert len(kept) > 0 and kept[key + ["n", "fingerprint"]].equals(grouped[key + ["n", "fingerprint"]]), (
            metric.id)
        for column in ("value", "numerator", "denominator"):
            a, b = kept[column].astype(float), grouped[column].astype(float)
            assert (((a - b).abs() <= 1e-9 * b.abs().clip(lower=1)) | (a.isna() & b.isna())).all(), (
                metric.id, column)


def test_a_full_refresh_grouped_in_parallel_workers_gives_the_cells_of_the_base_sql(warehouse):
    """A full recompute groups stored rows in queries PostgreSQL may hand to parallel workers (delta.rebuild
    creates a table of the grains' groupings, which can run side by side; shared rows are an unlogged table,
    which workers can read), within the refresh's own transaction. With parallel plans forced on this small
    warehouse, every cell is still the one grouped from the base SQL."""
    from warehouse.metrics import delta
    from warehouse.metrics.engine import decomposed

    forced = sa.create_engine(warehouse.url, connect_args={"options": (
        "-c parallel_setup_cost=0 -c parallel_tuple_cost=0 -c min_parallel_table_scan_size=0 "
        "-c debug_parallel_query=on")})
    metrics = [REGISTRY[m] for m in (NES, "tickets_per_100_staff", "comment_theme_training", "comment_sentiment",
                                     "skills_change_teaching_learning")]
    try:
        refresh(forced, full=True, metric_ids=[m.id for m in metrics])
        with forced.connect() as conn:
            parts = decomposed(REGISTRY[NES])
            assert parts is not None
            cells = " union all ".join(delta._components_sql(REGISTRY[NES], list(parts.components), g,
                                                             delta.base_table(REGISTRY[NES]))
                                       for g in REGISTRY[NES].grains)
            plan = "\n".join(conn.execute(sa.text(f"explain (costs off) {cells}")).scalars())
            assert "Gather" in plan and "Parallel" in plan
            assert_state_is_regrouped(conn, metrics)
    finally:
        forced.dispose()


def test_a_metric_stored_on_its_own_leaves_no_shared_rows_behind(warehouse):
    """delta.store without a refresh's map of stored rows works the shared rows out for that call only."""
    from warehouse.metrics import delta
    from warehouse.metrics.service import metric_params

    metric = REGISTRY["comment_theme_training"]
    assert metric.rows_of is not None
    with warehouse.begin() as conn:
        delta.store(conn, metric, metric_params(Settings()))
        tables = set(conn.execute(sa.text(
            "select relname from pg_class where relnamespace = 'metric_base'::regnamespace and relkind = 'r'"
        )).scalars())
        stored = conn.execute(sa.text(f"select count(*) from {delta.base_table(metric)}")).scalar_one()
    assert tables == {metric.id} and stored > 0


def test_base_rows_a_crash_emptied_are_recomputed_by_the_next_incremental_refresh(warehouse, loaded, gate):
    """Stored base rows are unlogged (derived data, no WAL): a crash restart empties their tables, as
    `truncate` does here. The next incremental refresh sees the empty table beside the logged cell state
    (a decomposable metric) or the open published cells (the median, regrouped from its stored rows) and
    recomputes those metrics in full, so the values stay those of a full refresh."""
    from warehouse.metrics import delta

    ids = [NES, "median_hours_to_resolve", "ticket_share_access"]
    refresh(warehouse, full=True, metric_ids=ids)
    with warehouse.begin() as conn:
        persistence = conn.execute(sa.text(
            "select relname, relpersistence from pg_class where relnamespace = 'metric_base'::regnamespace "
            "and relkind = 'r'")).all()
        assert {name for name, _ in persistence} >= set(ids) and {p for _, p in persistence} == {"u"}
        for metric_id in ids[:2]:
            conn.execute(sa.text(f"truncate {delta.base_table(REGISTRY[metric_id])}"))
    add_new_events(warehouse, loaded, gate)

    incremental, after_incremental, after_full = incremental_then_full(warehouse, ids)

    assert incremental.periods[NES] == periods_of(after_full, NES)
    assert incremental.periods["median_hours_to_resolve"] == periods_of(after_full, "median_hours_to_resolve")
    assert incremental.periods["ticket_share_access"] < periods_of(after_full, "ticket_share_access")
    assert_same(after_incremental, after_full)
    with warehouse.connect() as conn:
        for metric_id in ids:
            table = delta.base_table(REGISTRY[metric_id])
            assert conn.execute(sa.text(f"select count(*) from {table}")).scalar_one() > 0, metric_id


# ----------------------------------------------------------------------------- history: no differencing


def _late_responses(engine: Engine, week: date, count: int, seed: str) -> list[Any]:
    """`count` responses from people who gave none in `week`, dated in it and loaded now: late data."""
    with engine.connect() as conn:
        envelopes = conn.execute(sa.text(
            "select distinct on (r.staff_pseudonym) e.envelope from raw.events e "
            "join research.form_responses r using (event_id) "
            "where r.likert_count > 0 and r.staff_pseudonym not in "
            "  (select staff_pseudonym from research.form_responses where week_start = :w) "
            "order by r.staff_pseudonym limit :n"), {"w": week, "n": count}).scalars().all()
    assert len(envelopes) == count
    at = datetime.combine(week, datetime.min.time(), UTC) + timedelta(days=2, hours=10)
    return [make_event(e["kind"], source=e["source"], source_record_id=f"late-{seed}-{i}",
                       record_version=at.isoformat(), occurred_at=at, ingested_at=at, payload=e["payload"])
            for i, e in enumerate(json.loads(x) if isinstance(x, str) else x for x in envelopes)]


def test_a_late_respondent_is_not_given_away_by_the_difference_between_refreshes(warehouse, loaded, gate):
    """A past week's trust cell shown with n people is not shown again with n + 1: the difference would be
    the late respondent's answers. It is held (history keeps a hidden row; the latest view keeps the value
    shown, flagged) until at least the minimum group size of people have changed."""
    policy = SuppressionPolicy()  # every rule, history included
    engine_refresh(warehouse, full=True, metric_ids=[NES], policy=policy)
    week = date.fromisoformat(week_of(loaded.now)) - timedelta(weeks=5)

    def latest() -> Any:
        with warehouse.connect() as conn:
            return conn.execute(sa.text(
                "select value, n, suppressed, suppression_reason, revision_pending, ci_low, ci_high "
                "from analytics.metric_latest "
                "where metric_id = :m and grain = 'week' and period = :p and segment_type = 'trust'"),
                {"m": NES, "p": week.isoformat()}).one()

    def newest_row() -> Any:
        with warehouse.connect() as conn:
            return conn.execute(sa.text(
                "select value, n, suppressed, suppression_reason, ci_low from analytics.metric_values "
                "where metric_id = :m and grain = 'week' and period = :p and segment_type = 'trust' "
                "order by refresh_id desc limit 1"), {"m": NES, "p": week.isoformat()}).one()

    first = latest()
    assert not first.suppressed and first.n >= 2 * MIN, first
    load_events(warehouse, loaded, gate, _late_responses(warehouse, week, 1, "a"))
    engine_refresh(warehouse, full=False, metric_ids=[NES], policy=policy)
    held = latest()
    assert (held.value, held.n, held.suppressed, held.revision_pending) == (first.value, first.n, False, True)
    assert held.suppression_reason == "revision pending"
    assert first.ci_low < first.value < first.ci_high
    assert (held.ci_low, held.ci_high) == (first.ci_low, first.ci_high)  # the interval shown with the value
    assert tuple(newest_row()) == (None, None, True, "revision pending", None)
    # Four more late respondents: five people since the value last shown, so the new value is shown.
    load_events(warehouse, loaded, gate, _late_responses(warehouse, week, 4, "b"))
    engine_refresh(warehouse, full=False, metric_ids=[NES], policy=policy)
    shown = latest()
    assert (shown.n, shown.suppressed, shown.revision_pending) == (first.n + 5, False, False), shown
    assert shown.ci_low < shown.value < shown.ci_high and shown.ci_low != first.ci_low
    # One more is held again, by a full refresh too: the value computed moves by one person, the value shown
    # does not.
    load_events(warehouse, loaded, gate, _late_responses(warehouse, week, 1, "c"))
    engine_refresh(warehouse, full=True, metric_ids=[NES], policy=policy)
    assert (latest().n, latest().revision_pending) == (first.n + 5, True)
    with warehouse.connect() as conn:
        computed = conn.execute(sa.text(
            "select n from core.metric_disclosure where metric_id = :m and grain = 'week' and period = :p "
            "and segment_type = 'trust'"), {"m": NES, "p": week.isoformat()}).scalar_one()
    assert computed == first.n + 6


# ------------------------------------------------------------------------------------------- stale cells


def cells_with_rows(engine: Engine) -> set[tuple[Any, ...]]:
    """Every cell the data holds now, grouped afresh from the base SQL (no stored state, no history)."""
    from warehouse.metrics.cells import drop_lone_residuals
    from warehouse.metrics.engine import compute_cells, org_levels
    from warehouse.metrics.params import metric_params

    params = metric_params(Settings())
    out: set[tuple[Any, ...]] = set()
    with engine.connect() as conn:
        levels = org_levels(conn)
        for metric in all_metrics().values():
            cells = drop_lone_residuals(compute_cells(conn, metric, params, levels=levels))
            out |= set(zip(cells["metric_id"], cells["grain"], cells["period"].astype(str), cells["segment_type"],
                           cells["segment_value"], strict=True))
    return out


def latest_cells(engine: Engine) -> set[tuple[Any, ...]]:
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(sa.text(
            "select metric_id, grain, period, segment_type, segment_value from analytics.metric_latest"))}


def test_no_stale_cell_survives_an_incremental_or_a_full_refresh(warehouse, loaded, gate):
    """A cell whose records have all gone (responses re-dated to this week, tickets retracted, resolved tickets
    reopened) leaves analytics.metric_latest, and history marks it closed, whichever refresh runs."""
    refresh(warehouse, full=True)
    at = loaded.now - timedelta(hours=1)
    changes = []
    with warehouse.connect() as conn:
        unit, week = conn.execute(sa.text(
            "select org_unit, week_start from research.form_responses where org_unit is not null "
            "and week_start < current_date - 21 group by 1, 2 order by count(*), 1, 2 limit 1")).one()
        for envelope in conn.execute(sa.text(
                "select e.envelope from raw.events e join research.form_responses r using (event_id) "
                "where r.org_unit = :u and r.week_start = :w"), {"u": unit, "w": week}).scalars():
            changes.append(_new_version(envelope if isinstance(envelope, dict) else json.loads(envelope), at))
        retracted_unit, opened = conn.execute(sa.text(
            "select org_unit, opened_week_start from research.helpdesk_tickets where org_unit is not null "
            "and opened_week_start < current_date - 21 group by 1, 2 order by count(*), 1, 2 limit 1")).one()
        for source, ticket in conn.execute(sa.text(
                "select source, ticket_id from research.helpdesk_tickets where org_unit = :u "
                "and opened_week_start = :w"), {"u": retracted_unit, "w": opened}):
            changes.append(make_event(Kind.RETRACTION, source=source, source_record_id=ticket,
                                      record_version=f"deleted-{at.isoformat()}", occurred_at=at, ingested_at=at,
                                      payload={"kind": "helpdesk_ticket", "reason": "deleted"}))
        for envelope in conn.execute(sa.text(
                "select e.envelope from raw.events e join research.helpdesk_tickets t using (event_id) "
                "where t.status = 'resolved' and t.org_unit is not null and t.org_unit <> :u "
                "and t.resolved_at < current_date - 21 order by t.resolved_at limit 20"),
                {"u": retracted_unit}).scalars():
            envelope = envelope if isinstance(envelope, dict) else json.loads(envelope)
            changes.append(_new_version(envelope, at, status="in_progress", resolved_at=None,
                                        updated_at=at.isoformat(), reopen_count=1))
    assert len(changes) > 20
    load_events(warehouse, loaded, gate, changes)
    truth = cells_with_rows(warehouse)

    result = refresh(warehouse, full=False)
    assert result.closed > 0
    stale = latest_cells(warehouse) - truth
    assert not stale, f"{len(stale)} stale cells after an incremental refresh, e.g. {sorted(stale)[:3]}"
    assert truth <= latest_cells(warehouse)
    with warehouse.connect() as conn:
        closed = conn.execute(sa.text(
            "select count(*) from analytics.metric_values where closed and refresh_id = :r and value is null "
            "and n = 0"), {"r": result.refresh_id}).scalar_one()
        assert closed == result.closed
        assert conn.execute(sa.text(
            "select count(*) from analytics.metric_values where metric_id = :m and grain = 'week' "
            "and period = :p and segment_type = 'org_unit' and segment_value = :u and closed"),
            {"m": NES, "p": week.isoformat(), "u": unit}).scalar_one() == 1

    refresh(warehouse, full=True)
    assert latest_cells(warehouse) == truth
