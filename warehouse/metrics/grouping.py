"""GROUPING SETS over a metric's segments on one grain: the one query shape every cell is grouped by.

Cells are grouped from a metric's base rows in two ways: regrouped, with the metric's own aggregates (its
value, numerator, denominator and n expressions: medians and other aggregates that do not add up), or as
additive components kept per cell and updated by what changed rows add and take away (delta.py). Both go
through `grouping_sets_sql`, so a cell's period, segment type and segment value (the residual `(none)`
included) are worked out in one place, in SQL, whichever aggregates it carries.

The rows grouped are `base_rows_sql`: the base SQL with what grouping needs beyond it, each org unit's
level-1 and level-2 ancestors, `_day` (the first day a row can be dated in: its week, or for a row of the
week-since-go-live grain only, the last day of that week) and `_h` (its hash, for the cell's fingerprint),
whether they are grouped at once or stored first.
"""

from __future__ import annotations

from collections.abc import Sequence

from warehouse.metrics.cells import ROW_HASH_COLUMN_SQL
from warehouse.metrics.metric import GRAINS, RESIDUAL, RESIDUAL_SEGMENTS, SEGMENTS, TRUST, Metric

_EITHER_GRAIN = " or ".join(f"b.{column} is not null" for column in GRAINS.values())


def base_rows_sql(metric: Metric, where: str = _EITHER_GRAIN) -> str:
    """The metric's base rows as they are grouped or stored, with their org levels, `_day` and `_h` (the row's
    hash, cells.ROW_HASH_COLUMN_SQL): those `where` says (a condition on `b`, the base SQL's rows), by default
    every row with a period on either grain (no cell holds the others)."""
    return rows_sql(metric.base_sql, where)


def rows_sql(base_sql: str, where: str = _EITHER_GRAIN) -> str:
    """base_rows_sql of any base SQL (a metric's, or the rows several metrics draw on: Metric.rows_of)."""
    day = "coalesce(b.week_start, dw.go_live_date + 7 * b.weeks_since_go_live + 6)"
    return f"""
        select b.*, l.org_l1, l.org_l2, {day} as _day,
               {ROW_HASH_COLUMN_SQL.format(subject="b.subject", day=day)} as _h
        from ({base_sql}) b
        left join core.v_org_levels l using (org_unit)
        left join core.dim_wave dw on dw.go_live_wave = b.go_live_wave
        where {where}
    """


def period_sql(grain: str) -> str:
    """A row's period as cells store it (cells.period_text): its week's Monday as an ISO date, or its week
    since go-live."""
    column = GRAINS[grain]
    return f"to_char(b.{column}, 'YYYY-MM-DD')" if grain == "week" else f"b.{column}::text"


def segment_sql(metric: Metric) -> tuple[str, str]:
    """The expressions naming a grouped row's segment type and value, from its grouping bits (the segment
    column left ungrouped). Rows with no value in a segment that has a residual cell get `RESIDUAL`; in
    the org levels they get null (a unit with no level-1 or level-2 node above it: its own unit cell holds
    them)."""
    used = [SEGMENTS[s] for s in metric.segments if SEGMENTS[s]]
    if not used:
        return "'trust'", f"'{TRUST}'"
    everything = (1 << len(used)) - 1
    bits = f"grouping({', '.join('b.' + c for c in used)})"
    types = [f"when {everything} then 'trust'"]
    values = [f"when {everything} then '{TRUST}'"]
    for i, column in enumerate(used):
        segment = next(s for s, c in SEGMENTS.items() if c == column)
        code = everything & ~(1 << (len(used) - 1 - i))
        types.append(f"when {code} then '{segment}'")
        value = f"coalesce(b.{column}::text, '{RESIDUAL}')" if segment in RESIDUAL_SEGMENTS else f"b.{column}::text"
        values.append(f"when {code} then {value}")
    return f"case {bits} {' '.join(types)} end", f"case {bits} {' '.join(values)} end"


def grouping_sets_sql(metric: Metric, grain: str, source: str, aggregates: Sequence[str], *,
                      where: str = "", per: Sequence[str] = ()) -> str:
    """One row per cell of `grain` (and per `per` columns, when given): the rows of `source` (a table, a
    parenthesised query or a CTE name, read as `b`) with a period on the grain, grouped by GROUPING SETS
    over the metric's segments.

    Columns: grain, period (as stored), segment_type, segment_value, then the `aggregates` (select items,
    each `expression as name`). `where` restricts the rows further (a condition on `b`). Rows of segments
    that name no cell (see segment_sql) are left out.
    """
    column = GRAINS[grain]
    keys = "".join(f", b.{c}" for c in per)
    sets = ", ".join(f"(b.{column}{', b.' + SEGMENTS[s] if SEGMENTS[s] else ''}{keys})" for s in metric.segments)
    segment_type, segment_value = segment_sql(metric)
    return f"""
        select * from (
            select '{grain}'::text as grain, {period_sql(grain)} as period, {segment_type} as segment_type,
                   {segment_value} as segment_value, {', '.join(aggregates)}
            from {source} b
            where b.{column} is not null{f' and ({where})' if where else ''}
            group by grouping sets ({sets})
        ) cells
        where cells.segment_value is not null
    """
