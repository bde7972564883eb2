"""A metric's additive components, from its measures, so cells can be kept up to date by adding what changed
instead of regrouping every row.

A metric is decomposable when every measure its value, numerator, denominator, n and interval read adds up
(Measure.additive, a lookup on the aggregation): `sum`, `count`, `count_distinct` of subject, and `average`,
which is a sum over a count of the same rows. These add up over disjoint sets of rows, and a count of
distinct subjects adds up over disjoint sets of subjects: a cell's components after a change are its
components before, minus what the changed subjects' rows gave, plus what they give now. Medians,
percentiles, minima and maxima do not; such metrics recompute their touched periods instead.

Each component keeps a value and the number of rows it saw: `sum` of no non-null values is null in SQL, not
0, and the count says which. The metric's expressions are rewritten over columns `c1..cN` (values) and
`k1..kN` (counts) by putting each measure's component reference in place of its name; `c0` is the number of
rows in the cell, and a cell with none no longer exists. A cell's fingerprint (cells.py) is two more
measures, the rows and the sum of their hashes.
"""

from __future__ import annotations

from dataclasses import dataclass

from warehouse.metrics.cells import ROW_HASH_SQL
from warehouse.metrics.metric import Measure, Metric, substitute


@dataclass(frozen=True)
class Component:
    kind: str  # sum | count | distinct
    sql: str  # the aggregate, with its filter: what the grouping query computes
    count_sql: str  # rows the aggregate saw (non-null arguments, after the filter)
    argument: str = "*"  # what is summed or counted (`*`, an expression, or `distinct subject`)
    tail: str = ""  # the aggregate's ` filter (where ...)`, or empty


@dataclass(frozen=True)
class Decomposed:
    components: tuple[Component, ...]
    value_sql: str
    numerator_sql: str
    denominator_sql: str
    n_sql: str
    fingerprint_sql: str = "null"
    interval_sql: tuple[str, ...] = ()  # the interval's sums (intervals.INTERVAL_COLUMNS)


# cells.FINGERPRINT_SQL as measures: the cell's rows, and the sum of their hashes.
FINGERPRINT_MEASURES = (Measure("_rows", "count"), Measure("_row_hash", "sum", ROW_HASH_SQL))
FINGERPRINT_EXPRESSION = "(_rows::text || ':' || coalesce(_row_hash::text, ''))"


def _parts(measure: Measure) -> list[Component]:
    """The components a measure reads: one, or a sum and a count for an average."""
    t, e = measure.tail, measure.argument
    if measure.agg == "average":
        return [Component("sum", f"sum({e}){t}", f"count({e}){t}", e, t),
                Component("count", f"count({e}){t}", f"count({e}){t}", e, t)]
    if measure.agg == "sum":
        return [Component("sum", measure.sql, f"count({e}){t}", e, t)]
    if measure.agg == "count":
        return [Component("count", measure.sql, measure.sql, e, t)]
    return [Component("distinct", measure.sql, f"count({e}){t}", f"distinct {e}", t)]


def decompose(metric: Metric) -> Decomposed | None:
    """The metric's expressions over components, or None when a measure it reads does not add up."""
    if not metric.additive:
        return None
    measures = {m.name: m for m in (*metric.all_measures, *FINGERPRINT_MEASURES)}
    components: dict[str, Component] = {}

    def index(component: Component) -> int:
        components.setdefault(component.sql, component)
        return list(components).index(component.sql) + 1

    def reference(name: str) -> str | None:
        measure = measures.get(name)
        if measure is None:
            return None
        refs = [index(c) for c in _parts(measure)]
        if measure.agg == "average":
            return f"((case when k{refs[0]} > 0 then c{refs[0]} end) / nullif(c{refs[1]}, 0))"
        return f"(case when k{refs[0]} > 0 then c{refs[0]} end)" if measure.agg == "sum" else f"c{refs[0]}"

    expressions = (metric.value_expression, metric.numerator_measure or "null",
                   metric.denominator_measure or "null", metric.n, FINGERPRINT_EXPRESSION,
                   *metric.interval_expressions)
    rewritten = [substitute(e, reference) for e in expressions]
    return Decomposed(tuple(components.values()), *rewritten[:5], interval_sql=tuple(rewritten[5:]))


@dataclass(frozen=True)
class Signed:
    """What a component changes by over signed rows: `_sign` is -1 for a row replaced, +1 for its
    replacement, 0 for a row of the same subject in the same cell left as it was."""

    rows: str  # rows-seen change: an aggregate over a cell's changed rows (`_sign` ±1)
    value: str | None  # value change, likewise; None for a distinct count (see `flags` and `member`)
    flags: tuple[str, ...] = ()  # distinct count: select items folding a person's signed rows per segment values
    member: str = "0"  # distinct count: the change (+1, -1, 0) over one (cell, person) group of folded rows


def signed(component: Component, name: str) -> Signed:
    """What a component changes by when rows are replaced (see Signed).

    Sums and counts change by the signed sums of the changed rows alone, grouped straight into cells. A
    distinct count changes per person: a person counts while any row of theirs in the cell does (after the
    filter), so their rows left as they were matter too. Folded per person and segment values (columns
    `name`_...), then per cell and person: one with a row left as it was counts before and after;
    otherwise they join (+1) when only new rows have them, and leave (-1) when only replaced rows did. Its
    rows-seen change is a signed count of the changed rows, as for a count.
    """
    t = component.tail
    argument = component.argument
    if component.kind == "sum":
        return Signed(f"coalesce(sum(case when ({argument}) is not null then _sign else 0 end){t}, 0)",
                      f"coalesce(sum(_sign * ({argument})){t}, 0)")
    if component.kind == "count":
        rows = (f"coalesce(sum(_sign){t}, 0)" if argument == "*" else
                f"coalesce(sum(case when ({argument}) is not null then _sign else 0 end){t}, 0)")
        return Signed(rows, rows)
    flags = (f"coalesce(bool_or(_sign = 0){t}, false) as {name}_z",
             f"coalesce(bool_or(_sign > 0){t}, false) as {name}_p",
             f"coalesce(bool_or(_sign < 0){t}, false) as {name}_m")
    member = (f"(case when subject is null or bool_or({name}_z) then 0 "
              f"else bool_or({name}_p)::int - bool_or({name}_m)::int end)")
    return Signed(f"coalesce(sum(case when subject is not null then _sign else 0 end){t}, 0)", None, flags, member)
