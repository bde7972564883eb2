"""Split a metric's aggregate expressions into additive components, so cells can be kept up to date by
adding what changed instead of regrouping every row.

A metric is decomposable when every aggregate in its value, numerator, denominator and n expressions (and
in the sums its interval reads, intervals.py) is
`sum(x)`, `count(*)`, `count(x)` or `count(distinct subject)` (each optionally with `filter (where ...)`),
or `avg(x)`, which is `sum(x) / count(x)`. These add up over disjoint sets of rows, and a count of distinct
subjects adds up over disjoint sets of subjects: a cell's components after a change are its components
before, minus what the changed subjects' rows gave, plus what they give now. Medians, minima and maxima do
not; such metrics recompute their touched periods instead.

Each component keeps a value and the number of rows it saw: `sum` of no non-null values is null in SQL, not
0, and the count says which. Expressions are rewritten over columns `c1..cN` (values) and `k1..kN` (counts);
`c0` is the number of rows in the cell, and a cell with none no longer exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_AGGREGATE = re.compile(r"\b(sum|count|avg|min|max|percentile_cont|percentile_disc|mode|string_agg|array_agg|"
                        r"bool_and|bool_or|every|stddev|variance|jsonb_agg|json_agg)\s*\(", re.IGNORECASE)
_FILTER = re.compile(r"\s*filter\s*\(", re.IGNORECASE)


@dataclass(frozen=True)
class Component:
    kind: str  # sum | count | distinct
    sql: str  # the aggregate as written, with its filter: what the grouping query computes
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
    interval_sql: tuple[str, ...] = ()  # the interval's sums (intervals.INTERVAL_COLUMNS), when asked for


def _closing(text: str, start: int) -> int:
    """Index just past the parenthesis closing the one opened at `start - 1`."""
    depth = 1
    i = start
    while depth:
        if i >= len(text):
            raise ValueError(f"unbalanced parentheses in {text!r}")
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        i += 1
    return i


def _expand_avg(sql: str) -> str:
    """avg(x) [filter (...)] -> (sum(x) [filter] / nullif(count(x) [filter], 0)): the same numeric division."""
    out, i = [], 0
    for match in re.finditer(r"\bavg\s*\(", sql, re.IGNORECASE):
        if match.start() < i:
            continue
        end = _closing(sql, match.end())
        argument = sql[match.end():end - 1]
        tail = ""
        filtered = _FILTER.match(sql, end)
        if filtered:
            stop = _closing(sql, filtered.end())
            tail, end = sql[end:stop], stop
        out.append(sql[i:match.start()])
        out.append(f"(sum({argument}){tail} / nullif(count({argument}){tail}, 0))")
        i = end
    out.append(sql[i:])
    return "".join(out)


def decompose(value_sql: str, numerator_sql: str | None, denominator_sql: str | None,
              n_sql: str, fingerprint_sql: str | None = None,
              interval_sql: tuple[str, ...] = ()) -> Decomposed | None:
    """The expressions over components, or None when an aggregate does not add up (see the module docstring)."""
    expressions = [_expand_avg(s or "null")
                   for s in (value_sql, numerator_sql, denominator_sql, n_sql, fingerprint_sql, *interval_sql)]
    components: dict[str, Component] = {}
    rewritten = []
    for sql in expressions:
        out, i = [], 0
        for match in _AGGREGATE.finditer(sql):
            if match.start() < i:
                continue
            name = match.group(1).lower()
            end = _closing(sql, match.end())
            argument = sql[match.end():end - 1].strip()
            tail = ""
            filtered = _FILTER.match(sql, end)
            if filtered:
                stop = _closing(sql, filtered.end())
                tail, end = sql[end:stop], stop
            if name == "sum":
                component = Component("sum", f"sum({argument}){tail}", f"count({argument}){tail}", argument, tail)
            elif name == "count" and argument.lower().startswith("distinct"):
                if argument.lower().split() != ["distinct", "subject"]:
                    return None  # distinct values other than subjects do not add up over subjects
                component = Component("distinct", f"count(distinct subject){tail}", f"count(subject){tail}",
                                      "distinct subject", tail)
            elif name == "count":
                component = Component("count", f"count({argument}){tail}", f"count({argument}){tail}", argument,
                                      tail)
            else:
                return None
            index = list(components).index(component.sql) + 1 if component.sql in components else None
            if index is None:
                components[component.sql] = component
                index = len(components)
            out.append(sql[i:match.start()])
            out.append(f"(case when k{index} > 0 then c{index} end)" if name == "sum" else f"c{index}")
            i = end
        out.append(sql[i:])
        rewritten.append("".join(out))
    return Decomposed(tuple(components.values()), *rewritten[:5], interval_sql=tuple(rewritten[5:]))


def signed(component: Component, name: str) -> tuple[list[str], str, str]:
    """What a component changes by (value, rows seen) over one (cell, subject) group of signed rows:
    `_sign` is -1 for a row replaced, +1 for its replacement, 0 for a row of the same subject in the same
    cell left as it was.

    In two steps, so the rows are first folded per person and segment values, then rolled up per cell:
    returns the first step's select items (columns `name`_...), and the value and rows changes over a group
    of them. Sums and counts change by the signed sums of the replaced rows. A person counts in a distinct
    count while any row of theirs in the cell does (after the filter): one with a row left as it was counts
    before and after; otherwise they join (+1) when only new rows have them, and leave (-1) when only
    replaced rows did.
    """
    t = component.tail
    argument = component.argument
    if component.kind == "sum":
        return ([f"coalesce(sum(_sign * ({argument})){t}, 0) as {name}_v",
                 f"coalesce(sum(case when ({argument}) is not null then _sign else 0 end){t}, 0) as {name}_n"],
                f"sum({name}_v)", f"sum({name}_n)")
    if component.kind == "count":
        rows = (f"coalesce(sum(_sign){t}, 0)" if argument == "*" else
                f"coalesce(sum(case when ({argument}) is not null then _sign else 0 end){t}, 0)")
        return [f"{rows} as {name}_n"], f"sum({name}_n)", f"sum({name}_n)"
    items = [f"coalesce(sum(case when subject is not null then _sign else 0 end){t}, 0) as {name}_n",
             f"coalesce(bool_or(_sign = 0){t}, false) as {name}_z",
             f"coalesce(bool_or(_sign > 0){t}, false) as {name}_p",
             f"coalesce(bool_or(_sign < 0){t}, false) as {name}_m"]
    member = (f"(case when subject is null or bool_or({name}_z) then 0 "
              f"else bool_or({name}_p)::int - bool_or({name}_m)::int end)")
    return items, member, f"sum({name}_n)"
