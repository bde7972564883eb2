"""Compute metric cells in PostgreSQL, suppress small groups, append them to history.

A full refresh recomputes every period. An incremental refresh writes only the periods that events
loaded since the previous refresh can change, every segment of each, so secondary suppression always sees
complete sibling groups. Because `analytics.metric_latest` takes the newest value per cell, both leave the
same latest values.

One pipeline, two ways to keep cells
    Every metric goes through the same steps (`_refresh_metric`): bring its rows up to date, then work out
    the cells of the periods that changed, each grouped by the one GROUPING SETS query of grouping.py.
    Decomposable metrics (every aggregate a sum or a count, see components.py; all but medians and the
    staff-group gap) keep their base rows and each cell's additive components (delta.py): an incremental
    refresh replaces the rows of the changed records or people and adds the difference they make to their
    cells, so its work follows the new events rather than the weeks they fall in. The others are regrouped
    with their own aggregates, which do not add up: medians, whose rows each come from one record, keep
    their base rows too, replace the changed records' rows and regroup the periods whose rows changed from
    the stored rows; the staff-group gap, whose rows summarise a period, regroups the touched periods from
    its base SQL (below).

Periods touched (base SQL regrouped; for decomposable metrics, the first of them bounds the rows replaced)
    The weeks of the new events, the weeks of every version of the records they are new versions of (a
    record counts under its latest version only, so it leaves its old weeks), for tickets also the weeks
    opened and resolved, and the weeks a metric's `touched_sql` names (rows that depend on other records).
    On the week-since-go-live grain, every index any day of those weeks has for any wave.

Early filter
    Each grain's query is bound `:_since`, the Monday of the earliest week a recomputed row can be dated in
    (for the week-since-go-live grain, the earliest go-live plus the smallest touched index), and the metric
    SQL drops older rows before its heavy work (latest versions, staff x weeks); see definitions/common.py.
    So incremental work follows the touched weeks, not the history.

"Since the previous refresh" is per metric and on the server's clock: each refresh records a watermark
(ops.metric_refreshes.started_at, and core.metric_definitions.updated_at for every metric it included)
no later than the start of any transaction still open when it began, so a batch that commits while a
refresh runs is picked up by the next one.

Every period is recomputed for a metric never refreshed before, for one whose minimum group size changed
(a raised minimum must hide small groups everywhere at once), and for one whose reference data changed
since its last refresh. Reference data is what every period of a metric reads whatever its events: the
go-live dates and the org hierarchy; the metric's own definition; the staff in scope, for a metric that
counts them (the directory's staff in scope, or while no directory is loaded everyone seen so far, with the
attributes last seen: a newcomer, or a person seen in another unit, changes the denominators of every
week); and the span of weeks, for a metric whose rows run from its first to its last week of data. A hash
of it is kept per metric (core.metric_definitions.reference_hash), so events from people already seen with
the same attributes, the usual case, leave such a metric as incremental as any other.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from foundation import progress
from foundation.config import Settings
from warehouse.metrics import delta, published
from warehouse.metrics.cells import CELL_COLUMNS, FINGERPRINT_SQL, Levels, cells_of, drop_lone_residuals, period_text
from warehouse.metrics.components import Decomposed, decompose
from warehouse.metrics.definitions.common import STAFF_IN_SCOPE, changed_records
from warehouse.metrics.delta import UNRESTRICTED
from warehouse.metrics.grouping import base_rows_sql, grouping_sets_sql
from warehouse.metrics.intervals import INTERVAL_COLUMNS, interval_sql
from warehouse.metrics.params import metric_params
from warehouse.metrics.registry import GRAINS, Metric, all_metrics
from warehouse.metrics.suppression import RULES, suppress

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class SuppressionPolicy:
    min_group_size: int = 5
    comment_min_group_size: int = 10
    rules: frozenset[str] = RULES  # which suppression rules run (primary always does); see suppression.py

    def minimum(self, metric: Metric) -> int:
        return self.comment_min_group_size if metric.comment_metric else self.min_group_size


@dataclass
class RefreshResult:
    refresh_id: int
    mode: str
    metrics: int = 0
    cells: int = 0
    suppressed: int = 0
    closed: int = 0  # cells whose rows have all gone, closed in the latest view
    seconds: float = 0.0
    periods: dict[str, int] = field(default_factory=dict)  # metric → recomputed periods (incremental)
    loop: dict[str, Any] = field(default_factory=dict)  # benefits and alerts evaluated after the refresh


def compute_cells(conn: Connection, metric: Metric, params: dict[str, Any],
                  periods: dict[str, list[Any]] | None = None,
                  levels: Levels | None = None,
                  stored: str | None = None) -> pd.DataFrame:
    """Cells of one metric (unsuppressed) regrouped with its own aggregates, for all periods or only
    `periods[grain]`, from its base SQL or from the `stored` base rows (delta.py): one GROUPING SETS query
    per grain (grouping.py)."""
    frames = []
    if levels is None:
        levels = org_levels(conn)
    interval = [f"{sql} as {c}" for sql, c in zip(interval_sql(metric), INTERVAL_COLUMNS, strict=True)]
    aggregates = [f"{metric.value_sql} as value", f"{metric.numerator_sql or 'null'} as numerator",
                  f"{metric.denominator_sql or 'null'} as denominator", f"{metric.n_sql} as n",
                  f"{FINGERPRINT_SQL} as fingerprint", *interval]
    for grain in metric.grains:
        column = GRAINS[grain]
        bind = {**params, **UNRESTRICTED}
        period = ""
        if periods is not None:
            wanted = periods.get(grain) or []
            if not wanted:
                continue
            period = f"b.{column} = any(:_periods)"
            bind["_periods"] = wanted
            bind["_since"] = _earliest_week(conn, grain, wanted)
        if stored:
            sql = grouping_sets_sql(metric, grain, stored, aggregates, where=period)
        else:  # the grain's rows chosen inside the base rows' query, where the planner takes them from the base SQL
            rows = f"b.{column} is not null" + (f" and {period}" if period else "")
            sql = grouping_sets_sql(metric, grain, f"({base_rows_sql(metric, rows)})", aggregates)
        frames.append(cells_of(metric, conn.execute(sa.text(sql), bind).mappings().all(), levels))
    if not frames:
        return pd.DataFrame(columns=CELL_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def org_levels(conn: Connection) -> Levels:
    """Each org unit's level-1 and level-2 ancestors (or itself), for the parents of secondary suppression."""
    return {r.org_unit: (r.org_l1, r.org_l2) for r in conn.execute(sa.text(
        "select org_unit, org_l1, org_l2 from core.v_org_levels"))}


def _earliest_week(conn: Connection, grain: str, periods: list[Any]) -> date | None:
    """The Monday of the earliest week a row of these periods can be dated in (the early filter's bound).

    A week since go-live k of a wave going live on day g holds rows dated from g + 7k on (a person-week row
    is dated by its Monday and indexed by its Sunday: from g + 7k - 6), so the earliest go-live bounds them
    all. None (no bound) when no wave has a go-live date: then no row has a week since go-live.
    """
    if grain == "week":
        return min(periods)
    first_go_live = conn.execute(sa.text(
        "select min(go_live_date) from core.dim_wave where go_live_date is not null")).scalar()
    if first_go_live is None:
        return None
    day = first_go_live + timedelta(days=7 * min(periods) - 6)
    return day - timedelta(days=day.weekday())


# Per kind, the dates of a source record's versions that metrics may count it under.
_VERSION_DATES: dict[str, tuple[str, ...]] = {
    "form_response": ("occurred_at",),
    "helpdesk_ticket": ("occurred_at", "opened_at", "resolved_at"),
    "training_record": ("occurred_at",),
    "skills_assessment": ("occurred_at",),
}
# Which events a refresh sees, on the server's clock. A loading transaction stamps loaded_at with its start
# time (now()) but becomes visible only when it commits, so "loaded after the previous refresh" must be
# measured from the start of the oldest transaction still open when the refresh began, not from the
# refresh's own start: otherwise a batch committed during a refresh is missed by every later incremental
# one. (Other roles' transactions are visible here only to superusers and pg_read_all_stats members.)
_WATERMARK_SQL = """
    select clock_timestamp(),
           least(clock_timestamp(), (select min(xact_start) from pg_stat_activity
                                     where datname = current_database() and pid <> pg_backend_pid()
                                       and backend_type = 'client backend' and xact_start is not null))
"""


def touched_periods(conn: Connection, metric: Metric, since: datetime, params: dict[str, Any],
                    cache: dict[Any, Any] | None = None) -> dict[str, list[Any]]:
    """Periods (per grain) that data loaded after `since` can change (see the module docstring).

    Cumulative metrics: every later period as well. `cache` (one per refresh) keeps what metrics reading
    the same kinds share, so it is asked once per refresh rather than once per metric.
    """
    cache = {} if cache is None else cache

    def once(key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    weeks = touched_weeks(conn, metric, since, params, cache)
    if not weeks:
        return {}
    first = min(weeks)
    if metric.cumulative:
        last = max(first, once(("last week",), lambda: conn.execute(sa.text(
            "select max(date_trunc('week', occurred_at at time zone 'UTC'))::date from raw.events")).scalar()
            or first))
        weeks |= {first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)}
    out: dict[str, list[Any]] = {}
    if "week" in metric.grains:
        out["week"] = sorted(weeks)
    if "week_since_go_live" in metric.grains:
        indices = once(("indices", frozenset(weeks)), lambda: {r[0] for r in conn.execute(sa.text(
            "select distinct floor((w.d - v.go_live_date) / 7.0)::int from core.dim_wave v, "
            "unnest(:weeks) as s(start), generate_series(0, 6) as g(o), lateral (select s.start + g.o as d) w "
            "where v.go_live_date is not null"), {"weeks": sorted(weeks)})})
        if metric.cumulative and indices:
            indices = indices | set(range(min(indices), max(indices) + 600))
        out["week_since_go_live"] = sorted(indices)
    return out


def touched_weeks(conn: Connection, metric: Metric, since: datetime, params: dict[str, Any],
                  cache: dict[Any, Any]) -> set[date]:
    """Calendar weeks whose rows data loaded after `since` can change (before widening for cumulative
    metrics and the week-since-go-live grain; see touched_periods)."""
    weeks: set[date] = set()
    for kind in metric.kinds:
        key = ("kind", kind, since)
        if key not in cache:
            cache[key] = _touched_weeks(conn, kind, since)
        weeks |= cache[key]
    if weeks and metric.touched_sql:
        key = ("sql", metric.touched_sql, since)
        if key not in cache:
            cache[key] = {r[0] for r in conn.execute(sa.text(
                f"select distinct date_trunc('week', d at time zone 'UTC')::date from ({metric.touched_sql}) t "
                "where d is not null"), {**params, "since": since})}
        weeks |= cache[key]
    return weeks


def _touched_weeks(conn: Connection, kind: str, since: datetime) -> set[date]:
    """Weeks of the events of `kind` loaded after `since`, and of every version of their records."""
    weeks = {r[0] for r in conn.execute(sa.text(
        "select distinct date_trunc('week', occurred_at at time zone 'UTC')::date from raw.events "
        "where loaded_at >= :since and kind = :kind"), {"since": since, "kind": kind})}
    # Views show the latest version of a response or ticket: a new version moves the record out of the
    # weeks of its earlier versions (and a ticket's opened and resolved weeks), so those change too.
    # A retraction moves the record out of the weeks of all its versions.
    dates = _VERSION_DATES.get(kind)
    if dates:
        weeks |= {r[0] for r in conn.execute(sa.text(
            f"select distinct date_trunc('week', d at time zone 'UTC')::date from core.fact_{kind} f "
            f"join {changed_records('array[cast(:kind as text)]')} n using (source, source_record_id), "
            f"unnest(array[{', '.join('f.' + c for c in dates)}]) as d where d is not null"),
            {"since": since, "kind": kind})}
    return weeks


def refresh(engine: Engine, *, full: bool = True, policy: SuppressionPolicy | None = None,
            params: dict[str, Any] | None = None, metric_ids: Iterable[str] | None = None) -> RefreshResult:
    """Compute metrics and append their cells to `core.metric_values` in one transaction."""
    policy = policy or SuppressionPolicy()
    if params is None:
        params = metric_params(Settings())
    metrics = all_metrics()
    if metric_ids is not None:
        metrics = {k: metrics[k] for k in metric_ids}
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text("select pg_advisory_xact_lock(7411002)"))  # one refresh at a time
        # After the lock and on the server's clock: computed_at then follows the order refreshes commit in
        # (analytics.metric_latest takes the newest), and compares with loaded_at, also the server's.
        now, watermark = conn.execute(sa.text(_WATERMARK_SQL)).one()
        previous = conn.execute(sa.text(
            "select max(started_at) from ops.metric_refreshes where finished_at is not null")).scalar()
        mode = "full" if full or previous is None else "incremental"
        references = _reference_hashes(conn, metrics.values())
        since = _metric_watermarks(conn, metrics.values(), policy, references) if mode == "incremental" else {}
        refresh_id = conn.execute(sa.text(
            "insert into ops.metric_refreshes (started_at, mode, min_group_size) values (:now, :mode, :m) "
            "returning id"), {"now": watermark, "mode": mode, "m": policy.min_group_size}).scalar_one()
        result = RefreshResult(refresh_id, mode)
        _write_definitions(conn, metrics.values(), policy, watermark, references)
        levels = org_levels(conn)
        touched: dict[Any, Any] = {}
        recomputed = [m for m in metrics.values() if since.get(m.id) is None]
        bar = progress.current()
        for done, metric in enumerate(metrics.values()):
            bar.update("metrics", done, len(metrics), "metrics refreshed")
            cells, scope = _refresh_metric(conn, metric, since.get(metric.id), params, levels, touched, result,
                                           recomputed)
            previous = published.previous_state(conn, metric.id)
            gone = published.closing(previous, cells, scope, metric.id)
            if cells.empty and gone.empty:
                continue
            if not cells.empty:
                cells = drop_lone_residuals(cells)
                cells = suppress(published.with_linked(cells, previous, metric.id), policy.minimum(metric),
                                 previous, policy.rules)
                if "history" in policy.rules:
                    cells = published.hold_intervals(cells, previous)
                cells = published.to_write(cells)
            cells = pd.concat([cells, gone], ignore_index=True) if not gone.empty else cells
            published.write(conn, cells, metric.id, refresh_id, now)
            result.closed += len(gone)
            result.metrics += 1
            result.cells += len(cells)
            result.suppressed += int(cells["suppressed"].sum())
        bar.update("metrics", len(metrics), len(metrics), "metrics refreshed")
        delta.release(conn, touched.get("stored rows", {}))
        result.seconds = time.perf_counter() - started
        conn.execute(sa.text(
            "update ops.metric_refreshes set finished_at = now(), metrics = :m, cells = :c, suppressed = :s, "
            "seconds = :sec where id = :id"),
            {"m": result.metrics, "c": result.cells, "s": result.suppressed, "sec": result.seconds,
             "id": refresh_id})
    return result


@functools.cache
def decomposed(metric: Metric) -> Decomposed | None:
    """The metric's additive components, or None when its cells must be regrouped (components.py; rows
    that summarise a whole period are regrouped whatever their value)."""
    return decompose(metric) if metric.decomposes else None


def keeps_rows(metric: Metric) -> bool:
    """Whether the metric's base rows are stored (delta.py): always for a decomposable metric; for a
    regrouped one, when each row comes from one record and its periods change only with it."""
    return decomposed(metric) is not None or (
        metric.rows_per == "record" and not metric.cumulative and not metric.touched_sql)


def _refresh_metric(conn: Connection, metric: Metric, since: datetime | None, params: dict[str, Any],
                    levels: Levels, cache: dict[Any, Any], result: RefreshResult,
                    recomputed: Iterable[Metric] = ()) -> tuple[pd.DataFrame, set[str] | None]:
    """Cells of the periods that changed (every cell when the metric is recomputed: `since` None, for a full
    refresh, a new metric, a new minimum or new reference data), with those periods (`grain|period`; None:
    all of them).

    One pipeline for every metric, in two steps. Rows: a metric that keeps its base rows stores them all
    when recomputed, else replaces the changed records' or people's rows and learns which periods' rows
    changed (delta.py); one that keeps none (its rows summarise a period) takes the periods new data can
    touch. Cells: a decomposable metric adds what the replaced rows change to its cells' stored components
    and reads the touched cells from them; the others regroup the touched periods with their own
    aggregates (medians, spreads: they do not add up) from the stored rows or the base SQL. `recomputed` are
    the metrics this refresh recomputes: those that share this metric's rows get their components from its
    grouping.
    """
    parts = decomposed(metric)
    stored = delta.base_table(metric) if keeps_rows(metric) else None
    if since is not None and stored and not delta.has_state(conn, metric):
        since = None
    periods: dict[str, list[Any]] | None = None
    if since is None:
        if stored:  # rows stored earlier in this refresh serve metrics of the same base SQL or drawing on them
            delta.store(conn, metric, params, regrouped=parts is None, stored=cache.setdefault("stored rows", {}))
        if parts is not None and not cache.pop(("rebuilt", metric.id), False):
            # Metrics recomputed in this refresh that group the same rows into the same cells get their
            # components from this metric's grouping.
            peers = [(m, p) for m in recomputed
                     if m.id != metric.id and delta.shares_rows(metric, m) and (p := decomposed(m)) is not None]
            rebuilt = delta.rebuild(conn, metric, parts, peers, cache.get("stored rows"))
            cache.update({("rebuilt", m): True for m in rebuilt if m != metric.id})
    elif stored:
        def first_week() -> date | None:
            weeks = touched_weeks(conn, metric, since, params, cache)
            return min(weeks) if weeks else None

        periods = delta.replace(conn, metric, since, params, first_week, cache)
        if periods is not None:
            if parts is not None:
                delta.apply(conn, metric, parts, periods)
            delta.finish(conn, metric)
        periods = periods or {}
    else:
        periods = touched_periods(conn, metric, since, params, cache)

    if periods is None:
        cells = (delta.evaluate(conn, metric, parts, params, levels) if parts is not None
                 else compute_cells(conn, metric, params, None, levels, stored))
        if result.mode == "incremental":
            result.periods[metric.id] = len(cells[["grain", "period"]].drop_duplicates())
        return cells, None
    touched = [f"{g}|{period_text(p)}" for g in metric.grains for p in periods.get(g, [])]
    result.periods[metric.id] = len(touched)
    if not touched:
        return pd.DataFrame(columns=CELL_COLUMNS), set()
    cells = (delta.evaluate(conn, metric, parts, params, levels, touched) if parts is not None
             else compute_cells(conn, metric, params, periods, levels, stored))
    return cells, set(touched)


def _metric_watermarks(conn: Connection, metrics: Iterable[Metric], policy: SuppressionPolicy,
                       references: dict[str, str]) -> dict[str, datetime | None]:
    """Per metric, what its incremental refresh starts from: the watermark of the last refresh that
    included it (kept in core.metric_definitions.updated_at), or None to recompute every period.

    Per metric, because a refresh of some metrics (`--metric`) must not hide new data from the others.
    None for a metric never refreshed before, whose minimum group size changed since, or whose reference
    data changed since (see the module docstring).
    """
    stored = {r.metric_id: r for r in conn.execute(sa.text(
        "select metric_id, updated_at, min_group_size, reference_hash from core.metric_definitions "
        "where metric_id = any(:ids)"), {"ids": [m.id for m in metrics]})}
    out: dict[str, datetime | None] = {}
    for m in metrics:
        row = stored.get(m.id)
        unchanged = (row is not None and row.min_group_size == policy.minimum(m)
                     and row.reference_hash == references[m.id])
        out[m.id] = row.updated_at if unchanged else None
    return out


# Reference data (see the module docstring), each as one text: go-live dates, and the staff in scope.
_WAVES_SQL = ("select coalesce(string_agg(go_live_wave || '=' || coalesce(go_live_date::text, ''), ',' "
              "order by go_live_wave), '') from core.dim_wave")
# Each org unit's ancestors: the parents of org_level_1/org_level_2 cells are stored with base rows.
_LEVELS_SQL = ("select coalesce(string_agg(org_unit || '=' || coalesce(org_l1, '') || '/' || coalesce(org_l2, ''), "
               "',' order by org_unit), '') from core.v_org_levels")
_STAFF_SQL = f"select md5(coalesce(string_agg(s::text, ',' order by s::text), '')) from ({STAFF_IN_SCOPE}) s"


def _reference_hashes(conn: Connection, metrics: Iterable[Metric]) -> dict[str, str]:
    """Per metric, a hash of the reference data every period of it reads. Read once per refresh, at its
    start: staff or spans that change while it runs differ from the hash, so the next refresh sees them."""
    waves = conn.execute(sa.text(_WAVES_SQL)).scalar_one() + "\n" + conn.execute(sa.text(_LEVELS_SQL)).scalar_one()
    staff: str | None = None
    spans: dict[str, str] = {}
    out = {}
    for m in metrics:
        # The components (their order too: the stored cell states are indexed by it) as well as the SQL.
        components = decomposed(m)
        # The stored rows' shape (base_rows_sql) too: rows stored by an older shape are stored afresh.
        parts = [waves, base_rows_sql(m), m.value_sql, m.numerator_sql or "", m.denominator_sql or "", m.n_sql,
                 m.interval, *interval_sql(m), *(c.sql for c in (components.components if components else ()))]
        if m.reads_staff:
            if staff is None:
                staff = conn.execute(sa.text(_STAFF_SQL)).scalar_one()
            parts.append(staff)
        if m.span_sql:
            if m.span_sql not in spans:
                spans[m.span_sql] = conn.execute(sa.text(f"select s::text from ({m.span_sql}) s")).scalar_one()
            parts.append(spans[m.span_sql])
        out[m.id] = hashlib.md5("\n".join(parts).encode(), usedforsecurity=False).hexdigest()
    return out


def _write_definitions(conn: Connection, metrics: Iterable[Metric], policy: SuppressionPolicy,
                       watermark: datetime, references: dict[str, str]) -> None:
    """Definitions as registered, with their declared structure; updated_at is this refresh's watermark and
    reference_hash the hash of its reference data (see _metric_watermarks)."""
    for m in metrics:
        structure = m.structure()
        conn.execute(sa.text(
            "insert into core.metric_definitions (metric_id, title, description, unit, numerator, denominator, "
            "better, min_group_size, updated_at, reference_hash, metric_type, measures, expression, "
            "numerator_measure, denominator_measure, decomposes, base_sql_template) values (:id, :t, :d, :u, "
            ":num, :den, :b, :min, :at, :ref, :type, cast(:measures as jsonb), :expr, :num_m, :den_m, :dec, "
            ":tpl) on conflict (metric_id) do update set title = excluded.title, "
            "description = excluded.description, unit = excluded.unit, numerator = excluded.numerator, "
            "denominator = excluded.denominator, better = excluded.better, "
            "min_group_size = excluded.min_group_size, updated_at = excluded.updated_at, "
            "reference_hash = excluded.reference_hash, metric_type = excluded.metric_type, "
            "measures = excluded.measures, expression = excluded.expression, "
            "numerator_measure = excluded.numerator_measure, denominator_measure = excluded.denominator_measure, "
            "decomposes = excluded.decomposes, base_sql_template = excluded.base_sql_template"),
            {"id": m.id, "t": m.title, "d": m.description, "u": m.unit, "num": m.numerator,
             "den": m.denominator, "b": m.better, "min": policy.minimum(m), "at": watermark,
             "ref": references[m.id], "type": m.type, "measures": json.dumps(structure["measures"]),
             "expr": structure["value"], "num_m": m.numerator_measure, "den_m": m.denominator_measure,
             "dec": decomposed(m) is not None, "tpl": m.base.describe()})
