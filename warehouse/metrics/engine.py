"""Compute metric cells in PostgreSQL, suppress small groups, append them to history.

A full refresh recomputes every period. An incremental refresh recomputes only the periods that events
loaded since the previous refresh fall into (all later periods too, for cumulative metrics); every
segment of such a period is recomputed, so secondary suppression always sees complete sibling groups.
Because `analytics.metric_latest` takes the newest value per cell, both leave the same latest values.

"Since the previous refresh" is per metric and on the server's clock: each refresh records a watermark
(ops.metric_refreshes.started_at, and core.metric_definitions.updated_at for every metric it included)
no later than the start of any transaction still open when it began, so a batch that commits while a
refresh runs is picked up by the next one. A metric never refreshed before, or whose minimum group size
changed, gets every period recomputed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from warehouse.metrics.registry import GRAINS, PARENT_SEGMENT, SEGMENTS, TRUST, Metric, all_metrics
from warehouse.metrics.suppression import suppress

log = logging.getLogger(__name__)
_SEGMENT_ORDER = list(SEGMENTS)
_GROUP_COLUMNS = [c for c in SEGMENTS.values() if c is not None]
CELL_COLUMNS = ["metric_id", "grain", "period", "period_start", "period_index", "segment_type", "segment_value",
                "parent_segment_type", "parent_segment_value", "value", "numerator", "denominator", "n"]


@dataclass(frozen=True)
class SuppressionPolicy:
    min_group_size: int = 5
    comment_min_group_size: int = 10

    def minimum(self, metric: Metric) -> int:
        return self.comment_min_group_size if metric.comment_metric else self.min_group_size


@dataclass
class RefreshResult:
    refresh_id: int
    mode: str
    metrics: int = 0
    cells: int = 0
    suppressed: int = 0
    seconds: float = 0.0
    periods: dict[str, int] = field(default_factory=dict)  # metric → recomputed periods (incremental)
    loop: dict[str, Any] = field(default_factory=dict)  # benefits and alerts evaluated after the refresh


def _grouping_sql(metric: Metric, grain_column: str, period_filter: str) -> tuple[str, list[str]]:
    """One query per grain: GROUPING SETS over the metric's segments. Returns the SQL and the segment
    columns it groups by (in the order of the grouping bits)."""
    used = [SEGMENTS[s] for s in metric.segments if SEGMENTS[s]]
    sets = [f"({grain_column}{', ' + SEGMENTS[s] if SEGMENTS[s] else ''})" for s in metric.segments]
    columns = ", ".join(used + [f"null::text as {c}" for c in _GROUP_COLUMNS if c not in used])
    bits = f"grouping({', '.join(used)})" if used else "0"
    sql = f"""
        with base as ({metric.base_sql}),
        enriched as (
            select b.*, l.org_l1, l.org_l2
            from base b left join core.v_org_levels l using (org_unit)
            where b.{grain_column} is not null {period_filter}
        )
        select {grain_column} as period_key, {bits} as grouping_bits, {columns},
               {metric.value_sql} as value,
               {metric.numerator_sql or 'null'} as numerator,
               {metric.denominator_sql or 'null'} as denominator,
               {metric.n_sql} as n
        from enriched
        group by grouping sets ({', '.join(sets)})
    """
    return sql, used


def _segment_of(bits: int, row: dict[str, Any], used: list[str]) -> tuple[str, str | None]:
    """Which segment a grouping-sets row is: the one segment column left ungrouped (its bit is 0)."""
    ungrouped = [c for i, c in enumerate(used) if not bits & (1 << (len(used) - 1 - i))]
    if not ungrouped:
        return "trust", TRUST
    column = ungrouped[0]
    segment = next(s for s, c in SEGMENTS.items() if c == column)
    return segment, row[column]


def compute_cells(conn: Connection, metric: Metric, params: dict[str, Any],
                  periods: dict[str, list[Any]] | None = None) -> pd.DataFrame:
    """Cells of one metric (unsuppressed), for all periods or only `periods[grain]`."""
    frames = []
    levels = {r.org_unit: (r.org_l1, r.org_l2) for r in conn.execute(sa.text(
        "select org_unit, org_l1, org_l2 from core.v_org_levels"))}
    for grain in metric.grains:
        column = GRAINS[grain]
        bind = dict(params)
        period_filter = ""
        if periods is not None:
            wanted = periods.get(grain) or []
            if not wanted:
                continue
            period_filter = f"and b.{column} = any(:_periods)"
            bind["_periods"] = wanted
        sql, used = _grouping_sql(metric, column, period_filter)
        rows = conn.execute(sa.text(sql), bind).mappings().all()
        cells = []
        for row in rows:
            segment, value = _segment_of(row["grouping_bits"], row, used)
            if value is None:
                continue  # e.g. a unit with no directorate above it, or staff with no wave
            parent_type = PARENT_SEGMENT.get(segment)
            parent_value = _parent_value(segment, value, levels)
            key = row["period_key"]
            cells.append({
                "metric_id": metric.id, "grain": grain,
                "period": key.isoformat() if isinstance(key, date) else str(key),
                "period_start": key if isinstance(key, date) else None,
                "period_index": key if not isinstance(key, date) else None,
                "segment_type": segment, "segment_value": str(value),
                "parent_segment_type": parent_type if parent_value is not None else None,
                "parent_segment_value": parent_value,
                "value": _num(row["value"]), "numerator": _num(row["numerator"]),
                "denominator": _num(row["denominator"]), "n": int(row["n"] or 0),
            })
        frames.append(pd.DataFrame(cells, columns=CELL_COLUMNS))
    if not frames:
        return pd.DataFrame(columns=CELL_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _parent_value(segment: str, value: str, levels: dict[str, tuple[str | None, str | None]]) -> str | None:
    if segment == "trust":
        return None
    if segment == "org_unit":
        l1, l2 = levels.get(value, (None, None))
        return l2 if l2 and l2 != value else (l1 if l1 and l1 != value else TRUST)
    if segment == "org_level_2":
        for l1, l2 in levels.values():
            if l2 == value and l1:
                return l1
        return TRUST
    return TRUST


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


def touched_periods(conn: Connection, metric: Metric, since: datetime, params: dict[str, Any]
                    ) -> dict[str, list[Any]]:
    """Periods (per grain) that data loaded after `since` can change.

    Weeks: those of the new events' times, and for tickets also the weeks they were opened and resolved
    (metrics count tickets by those dates). Weeks since go-live: every index any day of those weeks has for
    any wave, whatever date a metric's rows use. Cumulative metrics: every later period as well.
    """
    kinds = list(metric.kinds)
    weeks = {r[0] for r in conn.execute(sa.text(
        "select distinct date_trunc('week', occurred_at at time zone 'UTC')::date from raw.events "
        "where loaded_at >= :since and kind = any(:kinds)"), {"since": since, "kinds": kinds})}
    for kind in kinds:
        # Views show the latest version of a response or ticket: a new version moves the record out of
        # the weeks of its earlier versions (and a ticket's opened and resolved weeks), so those change too.
        dates = _VERSION_DATES.get(kind)
        if dates is None or not weeks:
            continue
        weeks |= {r[0] for r in conn.execute(sa.text(
            f"select distinct date_trunc('week', d at time zone 'UTC')::date from core.fact_{kind} f "
            "join (select distinct source, source_record_id from raw.events "
            "      where loaded_at >= :since and kind = :kind) n using (source, source_record_id), "
            f"unnest(array[{', '.join('f.' + c for c in dates)}]) as d where d is not null"),
            {"since": since, "kind": kind})}
    if not weeks:
        return {}
    first = min(weeks)
    if metric.cumulative:
        last = conn.execute(sa.text(
            "select greatest(max(date_trunc('week', occurred_at at time zone 'UTC'))::date, :first) "
            "from raw.events"), {"first": first}).scalar()
        weeks |= {r[0] for r in conn.execute(sa.text(
            "select generate_series(:first, :last, interval '7 days')::date"), {"first": first, "last": last})}
    out: dict[str, list[Any]] = {}
    if "week" in metric.grains:
        out["week"] = sorted(weeks)
    if "week_since_go_live" in metric.grains:
        indices = {r[0] for r in conn.execute(sa.text(
            "select distinct floor((w.d - v.go_live_date) / 7.0)::int from core.dim_wave v, "
            "unnest(:weeks) as s(start), generate_series(0, 6) as g(o), lateral (select s.start + g.o as d) w "
            "where v.go_live_date is not null"), {"weeks": sorted(weeks)})}
        if metric.cumulative and indices:
            indices |= set(range(min(indices), max(indices) + 600))
        out["week_since_go_live"] = sorted(indices)
    return out


def refresh(engine: Engine, *, full: bool = True, policy: SuppressionPolicy | None = None,
            params: dict[str, Any] | None = None, metric_ids: Iterable[str] | None = None) -> RefreshResult:
    """Compute metrics and append their cells to `core.metric_values` in one transaction."""
    policy = policy or SuppressionPolicy()
    if params is None:
        from realise.config import Settings
        from warehouse.metrics.service import metric_params

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
        since = _metric_watermarks(conn, metrics.values(), policy) if mode == "incremental" else {}
        refresh_id = conn.execute(sa.text(
            "insert into ops.metric_refreshes (started_at, mode, min_group_size) values (:now, :mode, :m) "
            "returning id"), {"now": watermark, "mode": mode, "m": policy.min_group_size}).scalar_one()
        result = RefreshResult(refresh_id, mode)
        _write_definitions(conn, metrics.values(), policy, watermark)
        for metric in metrics.values():
            periods = None
            if mode == "incremental" and since.get(metric.id) is not None:
                periods = touched_periods(conn, metric, since[metric.id], params)
                result.periods[metric.id] = sum(len(v) for v in periods.values())
                if not periods:
                    continue
            cells = compute_cells(conn, metric, params, periods)
            if mode == "incremental" and periods is None:  # new metric, new minimum or new directory
                result.periods[metric.id] = len(cells[["grain", "period"]].drop_duplicates())
            if cells.empty:
                continue
            cells = suppress(cells, policy.minimum(metric))
            _write_cells(conn, cells, refresh_id, now)
            result.metrics += 1
            result.cells += len(cells)
            result.suppressed += int(cells["suppressed"].sum())
        result.seconds = time.perf_counter() - started
        conn.execute(sa.text(
            "update ops.metric_refreshes set finished_at = now(), metrics = :m, cells = :c, suppressed = :s, "
            "seconds = :sec where id = :id"),
            {"m": result.metrics, "c": result.cells, "s": result.suppressed, "sec": result.seconds,
             "id": refresh_id})
    return result


def _metric_watermarks(conn: Connection, metrics: Iterable[Metric], policy: SuppressionPolicy
                       ) -> dict[str, datetime | None]:
    """Per metric, what its incremental refresh starts from: the watermark of the last refresh that
    included it (kept in core.metric_definitions.updated_at), or None to recompute every period.

    Per metric, because a refresh of some metrics (`--metric`) must not hide new data from the others.
    Every period is recomputed for a metric never refreshed before, for one whose minimum group size
    changed since (a raised minimum must hide small groups everywhere at once), and when the staff
    directory was reloaded after its last refresh (denominators change in every period). So too for a
    metric that counts the staff seen so far (core.dim_staff, the stand-in while no directory is loaded)
    once any event was loaded after its last refresh: a new person, or a person's new unit or group,
    changes its denominators in every period, and which events did that is not cheap to tell.
    """
    stored = {r.metric_id: r for r in conn.execute(sa.text(
        "select metric_id, updated_at, min_group_size from core.metric_definitions where metric_id = any(:ids)"),
        {"ids": [m.id for m in metrics]})}
    directory = conn.execute(sa.text("select max(loaded_at) from core.staff_directory")).scalar()
    out: dict[str, datetime | None] = {}
    for m in metrics:
        row = stored.get(m.id)
        if row is None or row.min_group_size != policy.minimum(m) or (
                directory is not None and directory >= row.updated_at) or (
                directory is None and "core.dim_staff" in m.base_sql and conn.execute(sa.text(
                    "select exists (select from raw.events where loaded_at >= :since)"),
                    {"since": row.updated_at}).scalar()):
            out[m.id] = None
        else:
            out[m.id] = row.updated_at
    return out


def _write_definitions(conn: Connection, metrics: Iterable[Metric], policy: SuppressionPolicy,
                       watermark: datetime) -> None:
    """Definitions as registered; updated_at is this refresh's watermark (see _metric_watermarks)."""
    for m in metrics:
        conn.execute(sa.text(
            "insert into core.metric_definitions (metric_id, title, description, unit, numerator, denominator, "
            "better, min_group_size, updated_at) values (:id, :t, :d, :u, :num, :den, :b, :min, :at) "
            "on conflict (metric_id) do update set title = excluded.title, description = excluded.description, "
            "unit = excluded.unit, numerator = excluded.numerator, denominator = excluded.denominator, "
            "better = excluded.better, min_group_size = excluded.min_group_size, updated_at = excluded.updated_at"),
            {"id": m.id, "t": m.title, "d": m.description, "u": m.unit, "num": m.numerator,
             "den": m.denominator, "b": m.better, "min": policy.minimum(m), "at": watermark})


def _text(value: Any) -> str | None:
    """Text or NULL: pandas' string columns hold a missing value as NaN, which would be stored as 'NaN'."""
    return None if value is None or pd.isna(value) else str(value)


def _write_cells(conn: Connection, cells: pd.DataFrame, refresh_id: int, computed_at: datetime) -> None:
    """Suppressed cells are stored without value, numerator or denominator: nothing to leak later."""
    records = []
    for row in cells.itertuples(index=False):
        hidden = bool(row.suppressed)
        records.append({
            "refresh_id": refresh_id, "metric_id": row.metric_id, "grain": row.grain, "period": row.period,
            "period_start": row.period_start if isinstance(row.period_start, date) else None,
            "period_index": None if pd.isna(row.period_index) else int(row.period_index),
            "segment_type": row.segment_type, "segment_value": row.segment_value,
            "parent_segment_type": _text(row.parent_segment_type),
            "parent_segment_value": _text(row.parent_segment_value),
            "value": None if hidden or pd.isna(row.value) else float(row.value),
            "numerator": None if hidden or pd.isna(row.numerator) else float(row.numerator),
            "denominator": None if hidden or pd.isna(row.denominator) else float(row.denominator),
            "n": int(row.n), "suppressed": hidden,
            "suppression_reason": row.suppression_reason if hidden else None, "computed_at": computed_at,
        })
    conn.execute(sa.text(
        "insert into core.metric_values (refresh_id, metric_id, grain, period, period_start, period_index, "
        "segment_type, segment_value, parent_segment_type, parent_segment_value, value, numerator, denominator, "
        "n, suppressed, suppression_reason, computed_at) values (:refresh_id, :metric_id, :grain, :period, "
        ":period_start, :period_index, :segment_type, :segment_value, :parent_segment_type, "
        ":parent_segment_value, :value, :numerator, :denominator, :n, :suppressed, :suppression_reason, "
        ":computed_at)"), records)
