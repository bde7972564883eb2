"""What a metric is, and the segments and grains it is computed over (registry.py holds every metric).

A metric is SQL pushed down to PostgreSQL. `base_sql` yields one row per subject (a person, a ticket) and
calendar week, with these columns and any the metric needs:

    week_start date, weeks_since_go_live int (null when the wave has no go-live date),
    org_unit text, staff_group text, system text, go_live_wave text, subject text

The engine groups those rows by each grain and segment with GROUPING SETS and evaluates `value_sql`,
`numerator_sql`, `denominator_sql` and `n_sql` (aggregates over base rows) per cell. Bind parameters
(`:name`) in the SQL come from the `metrics` settings, so assumptions are configuration; the engine adds
`:_since`, the earliest week an incremental refresh recomputes (see definitions/common.py).

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
`none`. A net score or a mean also needs the sum of squares of its rows' scores (`second_moment_sql`), an
aggregate that adds up like the value's, so incremental refreshes keep it as one more component.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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


@dataclass(frozen=True)
class Metric:
    id: str
    title: str
    description: str
    unit: str
    numerator: str
    denominator: str
    better: Literal["higher", "lower"]
    base_sql: str
    value_sql: str
    numerator_sql: str | None = None
    denominator_sql: str | None = None
    n_sql: str = "count(distinct subject)"
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
    # The value's 95% interval (intervals.py) and what it reads beyond the numerator and denominator. For
    # "net" and "mean", x is a row's score (the numerator sums it) and `second_moment_sql` is Σx². A net score
    # whose rows each hold w answers (the denominator sums w; a response's agree/disagree items) gives Σxw and
    # Σw² too, so the rows, not their correlated answers, are the units sampled. The value is scale ×
    # numerator / denominator plus a constant: scale 100 (1 for a mean) unless `interval_scale_sql` says
    # otherwise, an aggregate (time saved scales the respondents' mean up to the staff in scope).
    interval: Literal["wilson", "net", "mean", "poisson", "none"] = "none"
    second_moment_sql: str | None = None
    row_weights_sql: tuple[str, str] | None = None
    interval_scale_sql: str | None = None

    @property
    def reads_staff(self) -> bool:
        """Whether the metric counts the staff in scope (the directory, or the staff seen while it is empty)."""
        return "core.staff_directory" in self.base_sql or "core.dim_staff" in self.base_sql


REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    if metric.id in REGISTRY:
        raise ValueError(f"metric {metric.id} is registered twice")
    unknown = set(metric.segments) - set(SEGMENTS) | set(metric.grains) - set(GRAINS)
    if unknown:
        raise ValueError(f"metric {metric.id} names unknown segments or grains: {sorted(unknown)}")
    if metric.interval != "none" and not (metric.numerator_sql and metric.denominator_sql):
        raise ValueError(f"metric {metric.id}: a {metric.interval} interval needs numerator_sql and denominator_sql")
    if metric.interval in ("net", "mean") and not metric.second_moment_sql:
        raise ValueError(f"metric {metric.id}: a {metric.interval} interval needs second_moment_sql (Σx²)")
    REGISTRY[metric.id] = metric
    return metric
