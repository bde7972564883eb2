"""What a metric is, and the segments and grains it is computed over (registry.py holds every metric).

A metric is SQL pushed down to PostgreSQL, declared in dbt MetricFlow's vocabulary: base rows, measures
(aggregations over them) and a metric type saying how the value follows from the measures.

Base rows
    `base` names a Jinja2 template under warehouse/metrics/sql/ and its variables (`template(...)`; see
    templates.py), rendered to SQL that yields one row per subject (a person, a ticket) and calendar week,
    with these columns and any the measures read:

        week_start date, weeks_since_go_live int (null when the wave has no go-live date),
        org_unit text, staff_group text, system text, go_live_wave text, subject text

Measures
    A `Measure` aggregates the base rows of a cell: `agg` is one of MetricFlow's aggregations (sum, count,
    count_distinct, average, median, percentile, min, max) of `expr`, an SQL expression over the base rows'
    columns, optionally over only the rows `filter` (SQL) holds for. Whether a measure adds up over disjoint
    sets of rows, so cells can be kept up to date by adding what changed (components.py), is a lookup on
    `agg`: sum and count do, average is a sum over a count, count_distinct does only of `subject` (people
    are disjoint between the changes the engine adds up); medians, percentiles, minima and maxima do not.

Metric types
    `simple`: the value is one measure (`expr` names it). `ratio`: value = scale × numerator / denominator,
    plus `offset` if given (`numerator_measure`, `denominator_measure`; scale 100.0 unless said: a
    percentage). `derived`: the value is `expr`, an SQL expression over measure names. The expressions
    (`expr`, `n`, `interval_scale`, `offset`) name measures and may use bind parameters (`:name`, from the
    `metrics` settings, so assumptions are configuration), numbers and non-aggregate functions; aggregates
    belong in measures. The engine groups the base rows by each grain and segment with GROUPING SETS and
    evaluates the value, numerator, denominator and `n` (people behind the value; by default the measure
    `subjects`, count_distinct of subject) per cell; `value_sql`, `numerator_sql`, ... are those expressions
    with each measure name replaced by its aggregate SQL. The engine adds the bind parameter `:_since`, the
    earliest week an incremental refresh recomputes (see definitions/common.py).

What an incremental refresh must know about a metric beyond `kinds` and `cumulative`:

* `span_sql`: for a metric whose rows run over a span of weeks set by the data (every person in scope in
  every week from the first to the last week with data), one row saying the span; when it changes, every
  period is recomputed, since weeks with no new event gain or lose rows.
* `touched_sql`: dates (column `d`) of further rows that events loaded after `:since` can change, for a
  metric whose rows depend on other rows than their own record's (a follow-up on its person's baseline).
* `rows_per`: whether a base row derives from one source record (then it carries `_src` and `_rid`), from
  its person's records, or from all of a period's records (a spread between groups: regrouped from the base
  SQL in the periods new data touches); how an incremental refresh finds the rows to replace
  (warehouse/metrics/delta.py). Base SQL also takes the bind parameters `:_subjects`, `:_rec_src` and
  `:_rec_id`, which restrict it to some people or records (null: no restriction).

Every metric declares its 95% interval (`interval`, see intervals.py): `wilson` for a percentage of counts,
`net` for a net score (answers in {-1, 0, +1}), `mean` for a mean, `poisson` for a count per exposure, or
`none`. Every interval but `none` reads the numerator and denominator measures. A net score or a mean also
needs the sum of squares of its rows' scores (`second_moment`, a sum measure), so incremental refreshes keep
it as one more component.

`register` checks all of this (unknown or unused measure names, a ratio without numerator or denominator,
an aggregate inside an expression, a template that does not render) and says what is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import jinja2

from warehouse.metrics.templates import render

SEGMENTS: dict[str, str | None] = {
    "trust": None,
    "org_level_1": "org_l1",
    "org_level_2": "org_l2",
    "org_unit": "org_unit",
    "staff_group": "staff_group",
    "system": "system",
    "go_live_wave": "go_live_wave",
}
# Segment types whose rows may have no value (no unit, no staff group, no system, no wave): those rows get a
# residual cell of their own, so the children of every parent add up to it (see cells.py).
RESIDUAL = "(none)"
RESIDUAL_SEGMENTS = frozenset({"org_unit", "staff_group", "system", "go_live_wave"})
_ORG = frozenset({"org_level_1", "org_level_2", "org_unit"})


def partition_of(segment: str) -> str | None:
    """Which partition of its parent a cell belongs to: the org tree is one, every other segment type its own."""
    if segment == "trust":
        return None
    return "org" if segment in _ORG else segment


GRAINS: dict[str, str] = {"week": "week_start", "week_since_go_live": "weeks_since_go_live"}
TRUST = "all"

# ------------------------------------------------------------------------------------------ measures

Aggregation = Literal["sum", "count", "count_distinct", "average", "median", "percentile", "min", "max"]
AGGREGATIONS: tuple[str, ...] = ("sum", "count", "count_distinct", "average", "median", "percentile", "min",
                                 "max")
# Aggregations whose values over disjoint sets of rows add up to the value over their union (an average as a
# sum over a count); count_distinct of `subject` too (see Measure.additive).
ADDITIVE: frozenset[str] = frozenset({"sum", "count", "average"})


@dataclass(frozen=True)
class Measure:
    """An aggregation of a cell's base rows, as in MetricFlow.

    `expr` is an SQL expression over the base rows' columns: what is summed, averaged, ordered (median,
    percentile), or counted when not null. For `count`, "1" (the default) or "*" counts every row
    (`count(*)`). `filter` (SQL over the base rows) restricts the rows aggregated: `filter (where ...)`."""

    name: str
    agg: Aggregation
    expr: str = "1"
    filter: str | None = None
    percentile: float | None = None  # for agg percentile: 0 to 1 (continuous, as percentile_cont)
    description: str = ""

    @property
    def tail(self) -> str:
        return f" filter (where {self.filter})" if self.filter else ""

    @property
    def argument(self) -> str:
        """What the aggregate reads: `*` for a count of every row."""
        return "*" if self.agg == "count" and self.expr.strip() in ("1", "*") else self.expr

    @property
    def sql(self) -> str:
        """The aggregate, as the grouping query evaluates it."""
        e = self.argument
        if self.agg in ("sum", "count", "min", "max"):
            return f"{self.agg}({e}){self.tail}"
        if self.agg == "count_distinct":
            return f"count(distinct {e}){self.tail}"
        if self.agg == "average":
            return f"avg({e}){self.tail}"
        fraction = "0.5" if self.agg == "median" else repr(self.percentile)
        return f"percentile_cont({fraction}) within group (order by {e}){self.tail}"

    @property
    def additive(self) -> bool:
        """Whether the measure adds up over disjoint sets of rows (people, for a distinct count)."""
        return self.agg in ADDITIVE or (self.agg == "count_distinct" and self.expr.strip() == "subject")

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "agg": self.agg, "expr": self.expr}
        if self.filter:
            out["filter"] = self.filter
        if self.percentile is not None:
            out["percentile"] = self.percentile
        if self.description:
            out["description"] = self.description
        out["additive"] = self.additive
        return out


# People behind a value, the default `n`: measures of that name in a metric take its place.
SUBJECTS = Measure("subjects", "count_distinct", "subject", description="people behind the value")

# --------------------------------------------------------------------------------------- expressions

# A string literal (skipped), or a name with what comes before it (a cast `::`, a bind parameter `:`, a
# qualifier `.`) and whether a call follows.
_TOKEN = re.compile(r"'(?:[^']|'')*'|(::|:|\.)?\b([A-Za-z_]\w*)(\s*\()?")
_KEYWORDS = frozenset({"null", "case", "when", "then", "else", "end", "and", "or", "not", "is", "true", "false",
                       "in", "between", "distinct", "from"})
_AGGREGATE_FUNCTIONS = frozenset({"sum", "count", "avg", "min", "max", "percentile_cont", "percentile_disc",
                                  "mode", "string_agg", "array_agg", "bool_and", "bool_or", "every", "stddev",
                                  "variance", "jsonb_agg", "json_agg"})
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _names(expression: str) -> Iterator[tuple[re.Match[str], str, bool]]:
    """The names in an expression, in order: (match, name, called); casts, bind parameters, qualified names
    and string literals left out."""
    for match in _TOKEN.finditer(expression):
        if match.group(2) is None or match.group(1):
            continue
        yield match, match.group(2), match.group(3) is not None


def references(expression: str) -> list[str]:
    """Names in `expression` that may be measures (not keywords, functions, casts or bind parameters)."""
    return [name for _, name, called in _names(expression) if not called and name.lower() not in _KEYWORDS]


def substitute(expression: str, replace: Callable[[str], str | None]) -> str:
    """`expression` with each name that `replace` maps (measure names) replaced by what it maps to."""
    out, i = [], 0
    for match, name, called in _names(expression):
        new = None if called else replace(name)
        if new is not None:
            out.append(expression[i:match.start(2)])
            out.append(new)
            i = match.end(2)
    out.append(expression[i:])
    return "".join(out)


def render_expression(expression: str, measures: tuple[Measure, ...]) -> str:
    """An expression over measure names as SQL over base rows: each name replaced by its aggregate."""
    by_name = {m.name: m.sql for m in measures}
    return substitute(expression, by_name.get)


# ------------------------------------------------------------------------------------------ base rows


@dataclass(frozen=True)
class BaseQuery:
    """A metric's base rows: a template under warehouse/metrics/sql/ (or, for one-off metrics such as tests',
    the template text itself, `source`) and the variables it is rendered with."""

    template: str | None
    variables: tuple[tuple[str, Any], ...] = ()
    source: str | None = None

    @property
    def sql(self) -> str:
        return render(self.template, self.source, self.variables)

    def describe(self) -> str:
        """The template and its variables, as one line."""
        name = self.template or "(inline)"
        args = ", ".join(f"{k}={v!r}" for k, v in self.variables)
        return f"{name}({args})" if args else name


def template(name: str, **variables: Any) -> BaseQuery:
    """Base rows from the template file `name` (under warehouse/metrics/sql/) with these variables."""
    return BaseQuery(name, tuple(sorted(variables.items())))


def inline(source: str, **variables: Any) -> BaseQuery:
    """Base rows from template text given here rather than in a file (one-off metrics, tests)."""
    return BaseQuery(None, tuple(sorted(variables.items())), source)


@dataclass(frozen=True)
class RowsOf:
    """Where a metric's base rows can also be had: the rows of another base query (`base`), those `where`
    holds for (SQL over its columns), with `columns` renamed ((this metric's column, the source's column)
    pairs). A full refresh works a source out once for every metric drawing on it, rather than once per
    metric: the comment themes are one query's theme columns, each skills domain is its rows for that domain.
    The metric's own base SQL stays what it computes (tests check the two give the same rows), and what a
    plain regrouping or an incremental refresh runs."""

    base: BaseQuery
    where: str | None = None
    columns: tuple[tuple[str, str], ...] = ()

    @property
    def sql(self) -> str:
        return self.base.sql

    def describe(self) -> str:
        renamed = ", ".join(f"{mine} = {theirs}" for mine, theirs in self.columns)
        return self.base.describe() + (f" where {self.where}" if self.where else "") + (
            f" with {renamed}" if renamed else "")


# ------------------------------------------------------------------------------------------ metrics

MetricType = Literal["simple", "ratio", "derived"]


@dataclass(frozen=True)
class Metric:
    id: str
    title: str
    description: str
    unit: str
    numerator: str  # what the numerator is, in words (the measure is `numerator_measure`)
    denominator: str  # what the denominator is, in words ("" when there is none)
    better: Literal["higher", "lower"]
    base: BaseQuery
    type: MetricType
    measures: tuple[Measure, ...]
    expr: str | None = None  # simple: the measure that is the value; derived: the value over measure names
    numerator_measure: str | None = None  # a ratio's numerator; any metric's numerator column
    denominator_measure: str | None = None
    scale: str = "100.0"  # ratio: value = scale * numerator / denominator (+ offset)
    offset: str | None = None  # ratio: a constant added (e.g. "-:readiness_target_pct")
    n: str = SUBJECTS.name  # people behind the value, over measure names
    kinds: tuple[str, ...] = ()  # fact kinds read: new events of these kinds mark periods for refresh
    cumulative: bool = False  # a new event changes every later period too (e.g. coverage to date)
    comment_metric: bool = False  # uses free text: the higher minimum group size applies
    segments: tuple[str, ...] = tuple(SEGMENTS)
    grains: tuple[str, ...] = tuple(GRAINS)
    span_sql: str | None = None
    touched_sql: str | None = None
    # What one base row derives from (see delta.py): one source record (the row carries `_src`, `_rid`: its
    # source and source record id), its person's records (a person-week, a follow-up and its baseline), or
    # every record of its period (stored nowhere; regrouped from the base SQL).
    rows_per: Literal["record", "subject", "period"] = "record"
    rows_of: RowsOf | None = None  # the same rows from a query other metrics share (a full refresh's shortcut)
    # The value's 95% interval (intervals.py) and what it reads beyond the numerator and denominator. For
    # "net" and "mean", x is a row's score (the numerator sums it) and `second_moment` names the measure Σx².
    # A net score whose rows each hold w answers (the denominator sums w; a response's agree/disagree items)
    # names Σxw and Σw² too (`row_weights`), so the rows, not their correlated answers, are the units sampled.
    # The value is scale × numerator / denominator plus a constant: scale 100 (1 for a mean) unless
    # `interval_scale` (over measure names) says otherwise (time saved scales the respondents' mean up to the
    # staff in scope).
    interval: Literal["wilson", "net", "mean", "poisson", "none"] = "none"
    second_moment: str | None = None
    row_weights: tuple[str, str] | None = None
    interval_scale: str | None = None

    # --- structure

    @property
    def all_measures(self) -> tuple[Measure, ...]:
        """The declared measures, and `subjects` (count_distinct of subject) when an expression reads it and no
        measure of that name is declared."""
        if any(m.name == SUBJECTS.name for m in self.measures) or not any(
                SUBJECTS.name in references(e) for e in self.expressions().values()):
            return self.measures
        return (*self.measures, SUBJECTS)

    def measure(self, name: str) -> Measure:
        return next(m for m in self.all_measures if m.name == name)

    @property
    def value_expression(self) -> str:
        """The value over measure names."""
        if self.type == "ratio":
            ratio = f"{self.scale} * {self.numerator_measure} / nullif({self.denominator_measure}, 0)"
            return f"{ratio} + ({self.offset})" if self.offset else ratio
        return self.expr or "null"

    @property
    def interval_expressions(self) -> tuple[str, str, str, str]:
        """Over measure names, what the interval reads beyond numerator and denominator: Σx², Σxw, Σw² and
        the scale ('null' where the metric has none; intervals.INTERVAL_COLUMNS)."""
        if self.interval == "none":
            return "null", "null", "null", "null"
        xw, w2 = self.row_weights or ("null", "null")
        scale = self.interval_scale or ("1" if self.interval == "mean" else "100")
        return self.second_moment or "null", xw, w2, scale

    def expressions(self) -> dict[str, str]:
        """Every expression over measure names the metric evaluates per cell, by role."""
        out = {"value": self.value_expression, "n": self.n}
        if self.numerator_measure:
            out["numerator"] = self.numerator_measure
        if self.denominator_measure:
            out["denominator"] = self.denominator_measure
        if self.interval != "none":
            out.update(zip(("second_moment", "row_weight_xw", "row_weight_w2", "interval_scale"),
                           self.interval_expressions, strict=True))
        return out

    def used_measures(self) -> tuple[Measure, ...]:
        """The measures the metric's expressions read, in the order they are first read."""
        names: dict[str, None] = {}
        known = {m.name for m in self.all_measures}
        for expression in self.expressions().values():
            names.update((n, None) for n in references(expression) if n in known)
        return tuple(self.measure(n) for n in names)

    @property
    def additive(self) -> bool:
        """Whether every measure the metric reads adds up (Measure.additive)."""
        return all(m.additive for m in self.used_measures())

    @property
    def decomposes(self) -> bool:
        """Whether cells are kept as additive components (components.py) rather than regrouped: every measure
        adds up and a base row is not a summary of its whole period."""
        return self.additive and self.rows_per != "period"

    def render(self, expression: str) -> str:
        return render_expression(expression, self.all_measures)

    def structure(self) -> dict[str, Any]:
        """The declared structure, as JSON-ready data (`realise metrics show --definition`,
        core.metric_definitions)."""
        interval: dict[str, Any] = {"kind": self.interval}
        if self.second_moment:
            interval["second_moment"] = self.second_moment
        if self.row_weights:
            interval["row_weights"] = list(self.row_weights)
        if self.interval_scale:
            interval["scale"] = self.interval_scale
        base: dict[str, Any] = {"template": self.base.template, "variables": dict(self.base.variables)}
        if self.rows_of is not None:  # where a full refresh draws the same rows from
            base["rows_of"] = {"template": self.rows_of.base.template,
                               "variables": dict(self.rows_of.base.variables), "where": self.rows_of.where,
                               "columns": dict(self.rows_of.columns)}
        return {
            "type": self.type,
            "measures": [m.as_dict() for m in self.all_measures],
            "value": self.value_expression,
            "numerator": self.numerator_measure,
            "denominator": self.denominator_measure,
            "n": self.n,
            "interval": interval,
            "base": base,
            "decomposes": self.decomposes,
        }

    # --- SQL, rendered from the structure

    @property
    def base_sql(self) -> str:
        return self.base.sql

    @property
    def value_sql(self) -> str:
        return self.render(self.value_expression)

    @property
    def numerator_sql(self) -> str | None:
        return self.render(self.numerator_measure) if self.numerator_measure else None

    @property
    def denominator_sql(self) -> str | None:
        return self.render(self.denominator_measure) if self.denominator_measure else None

    @property
    def n_sql(self) -> str:
        return self.render(self.n)

    @property
    def second_moment_sql(self) -> str | None:
        return self.render(self.second_moment) if self.second_moment else None

    @property
    def row_weights_sql(self) -> tuple[str, str] | None:
        return (self.render(self.row_weights[0]), self.render(self.row_weights[1])) if self.row_weights else None

    @property
    def interval_scale_sql(self) -> str | None:
        return self.render(self.interval_scale) if self.interval_scale else None

    @property
    def reads_staff(self) -> bool:
        """Whether the metric counts the staff in scope (the directory, or the staff seen while it is empty)."""
        return "core.staff_directory" in self.base_sql or "core.dim_staff" in self.base_sql


REGISTRY: dict[str, Metric] = {}


def _check_measures(metric: Metric) -> list[str]:
    problems = []
    seen: set[str] = set()
    for m in metric.measures:
        if m.name in seen:
            problems.append(f"measure {m.name!r} is declared twice")
        seen.add(m.name)
        if not _NAME.fullmatch(m.name) or m.name in _KEYWORDS:
            problems.append(f"measure name {m.name!r} must be a lower-case SQL name (letters, digits, _; not a "
                            "keyword or starting with _)")
        if m.agg not in AGGREGATIONS:
            problems.append(f"measure {m.name!r}: unknown agg {m.agg!r} (one of {', '.join(AGGREGATIONS)})")
        if (m.agg == "percentile") != (m.percentile is not None):
            problems.append(f"measure {m.name!r}: percentile is given for, and only for, agg percentile")
        elif m.percentile is not None and not 0 <= m.percentile <= 1:
            problems.append(f"measure {m.name!r}: percentile {m.percentile} is not between 0 and 1")
    return problems


def _check_expression(role: str, expression: str, known: set[str]) -> list[str]:
    problems = []
    for _, name, called in _names(expression):
        if called and name.lower() in _AGGREGATE_FUNCTIONS:
            problems.append(f"{role} expression {expression!r} calls the aggregate {name}(): declare it as a "
                            "measure and name the measure")
    unknown = [n for n in references(expression) if n not in known]
    if unknown:
        problems.append(f"{role} expression {expression!r} names unknown measure(s) "
                        f"{', '.join(map(repr, unknown))} (declared: {', '.join(sorted(known))})")
    return problems


def _check_type(metric: Metric, known: set[str]) -> list[str]:
    problems = []
    if metric.type not in ("simple", "ratio", "derived"):
        return [f"unknown type {metric.type!r} (simple, ratio or derived)"]
    if metric.type == "ratio":
        if not (metric.numerator_measure and metric.denominator_measure):
            problems.append("a ratio needs numerator_measure and denominator_measure")
        if metric.expr:
            problems.append("a ratio's value is scale * numerator / denominator (+ offset): it takes no expr")
    else:
        if not metric.expr:
            problems.append(f"a {metric.type} metric needs expr (the value: "
                            f"{'a measure name' if metric.type == 'simple' else 'an expression over measures'})")
        elif metric.type == "simple" and metric.expr not in known:
            problems.append(f"a simple metric's expr names one measure; {metric.expr!r} is not a declared measure "
                            "(an expression over measures makes a derived metric)")
        if metric.offset or metric.scale != "100.0":
            problems.append("scale and offset belong to ratio metrics; write them into a derived metric's expr")
    for role, name in (("numerator_measure", metric.numerator_measure),
                       ("denominator_measure", metric.denominator_measure),
                       ("second_moment", metric.second_moment),
                       *(("row_weights", w) for w in metric.row_weights or ())):
        if name is not None and name not in known:
            problems.append(f"{role} {name!r} is not a declared measure (declared: {', '.join(sorted(known))})")
    return problems


def _check_interval(metric: Metric) -> list[str]:
    problems = []
    if metric.interval != "none" and not (metric.numerator_measure and metric.denominator_measure):
        problems.append(f"a {metric.interval} interval needs numerator_measure and denominator_measure")
    if metric.interval in ("net", "mean") and not metric.second_moment:
        problems.append(f"a {metric.interval} interval needs second_moment (the measure Σx²)")
    if metric.interval == "none" and (metric.second_moment or metric.row_weights or metric.interval_scale):
        problems.append("second_moment, row_weights and interval_scale are read only by an interval")
    return problems


def check(metric: Metric) -> list[str]:
    """What is wrong with a metric's declaration (empty when nothing is)."""
    problems = []
    if metric.id in REGISTRY:
        problems.append("it is registered twice")
    unknown = set(metric.segments) - set(SEGMENTS) | set(metric.grains) - set(GRAINS)
    if unknown:
        problems.append(f"it names unknown segments or grains: {sorted(unknown)}")
    problems += _check_measures(metric)
    known = {m.name for m in metric.all_measures}
    problems += _check_type(metric, known)
    problems += _check_interval(metric)
    if not problems:
        for role, expression in metric.expressions().items():
            problems += _check_expression(role, expression, known)
    if not problems:
        used = {m.name for m in metric.used_measures()}
        unused = [m.name for m in metric.measures if m.name not in used]
        if unused:
            problems.append(f"measure(s) {', '.join(map(repr, unused))} are declared but nothing reads them")
    try:
        render(metric.base.template, metric.base.source, metric.base.variables)
    except jinja2.TemplateError as e:
        problems.append(f"its base SQL ({metric.base.describe()}) does not render: {type(e).__name__}: {e}")
    if metric.rows_of is not None:
        try:
            render(metric.rows_of.base.template, metric.rows_of.base.source, metric.rows_of.base.variables)
        except jinja2.TemplateError as e:
            problems.append(f"its rows_of SQL ({metric.rows_of.describe()}) does not render: "
                            f"{type(e).__name__}: {e}")
    try:
        json.dumps(dict(metric.base.variables))
    except TypeError:
        problems.append("template variables must be plain values (text, numbers, booleans, None)")
    return problems


def register(metric: Metric) -> Metric:
    problems = check(metric)
    if problems:
        raise ValueError(f"metric {metric.id}: " + "; ".join(problems))
    REGISTRY[metric.id] = metric
    return metric
