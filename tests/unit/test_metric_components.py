"""A metric's additive components, from its measures (warehouse/metrics/components.py)."""

from __future__ import annotations

from typing import Any

from warehouse.metrics.cells import FINGERPRINT_SQL
from warehouse.metrics.components import FINGERPRINT_EXPRESSION, FINGERPRINT_MEASURES, decompose
from warehouse.metrics.engine import decomposed
from warehouse.metrics.metric import Measure, Metric, inline, render_expression
from warehouse.metrics.registry import all_metrics


def metric(measures: tuple[Measure, ...], **fields: Any) -> Metric:
    """A metric over made-up base rows (not registered)."""
    return Metric(id="test", title="Test", description="", unit="%", numerator="", denominator="", better="higher",
                  base=inline("select 1"), measures=measures, **fields)


def test_sums_and_counts_become_components_and_the_expressions_read_them():
    parts = decompose(metric((Measure("net", "sum", "direction"), Measure("answers", "sum", "counted")),
                             type="ratio", numerator_measure="net", denominator_measure="answers"))
    assert [c.sql for c in parts.components][:3] == ["sum(direction)", "sum(counted)", "count(distinct subject)"]
    assert [c.kind for c in parts.components][:3] == ["sum", "sum", "distinct"]
    # a sum of no non-null values is null, so each sum is read through its count
    assert parts.value_sql == "100.0 * (case when k1 > 0 then c1 end) / nullif((case when k2 > 0 then c2 end), 0)"
    assert parts.numerator_sql == "(case when k1 > 0 then c1 end)"
    assert parts.n_sql == "c3"
    # the fingerprint's rows and hashes come after the metric's own components
    assert parts.fingerprint_sql == "(c4::text || ':' || coalesce((case when k5 > 0 then c5 end)::text, ''))"


def test_the_same_aggregate_in_several_measures_is_one_component():
    parts = decompose(metric((Measure("a", "count", filter="kind = 'a'"), Measure("rows", "count")),
                             type="ratio", numerator_measure="a", denominator_measure="rows"))
    assert [c.sql for c in parts.components] == ["count(*) filter (where kind = 'a')", "count(*)",
                                                 "count(distinct subject)",
                                                 "sum(" + FINGERPRINT_MEASURES[1].expr + ")"]
    assert parts.numerator_sql == "c1" and parts.denominator_sql == "c2"
    assert parts.fingerprint_sql.startswith("(c2::text")  # the cell's rows are the denominator's count(*)


def test_an_average_is_a_sum_over_a_count_of_the_same_rows():
    parts = decompose(metric(
        (Measure("mean_x", "average", "x"), Measure("rows", "count"),
         Measure("people", "count_distinct", "subject", filter="x is not null")),
        type="derived", expr="mean_x * :k * rows", n="people"))
    assert [c.sql for c in parts.components][:4] == ["sum(x)", "count(x)", "count(*)",
                                                     "count(distinct subject) filter (where x is not null)"]
    assert parts.value_sql == "((case when k1 > 0 then c1 end) / nullif(c2, 0)) * :k * c3"
    assert parts.numerator_sql == "null"
    assert parts.components[3].count_sql == "count(subject) filter (where x is not null)"


def test_measures_that_do_not_add_up_are_refused_by_their_aggregation():
    assert decompose(metric((Measure("h", "median", "hours"),), type="simple", expr="h")) is None
    assert decompose(metric((Measure("h", "percentile", "hours", percentile=0.9),), type="simple", expr="h")) is None
    assert decompose(metric((Measure("gap", "max", "gap"), Measure("smallest", "min", "smallest_group")),
                            type="simple", expr="gap", n="coalesce(smallest, 0)")) is None
    # distinct values other than subjects do not add up over subjects
    assert decompose(metric((Measure("tickets", "count_distinct", "ticket"),), type="simple", expr="tickets")) is None
    assert decompose(metric((Measure("people", "count_distinct", "subject"),), type="simple", expr="people"))


def test_the_fingerprint_measures_are_the_cells_fingerprint():
    assert render_expression(FINGERPRINT_EXPRESSION, FINGERPRINT_MEASURES) == FINGERPRINT_SQL


def test_every_registered_metric_but_medians_and_the_group_gap_is_decomposable():
    refused = {m.id for m in all_metrics().values() if decomposed(m) is None}
    assert refused == {"median_hours_to_resolve", "skills_group_gap"}


def test_every_registered_metrics_decomposition_comes_from_its_measures():
    """Whether a metric decomposes is a lookup on its measures' aggregations, and its components are those
    measures' (an average's sum and count), the implicit subjects count and the fingerprint's: nothing is
    parsed back from SQL."""
    for m in all_metrics().values():
        used = m.used_measures()
        additive = all(x.agg in ("sum", "count", "average") or (x.agg == "count_distinct" and x.expr == "subject")
                       for x in used)
        parts = decomposed(m)
        assert (parts is not None) == (additive and m.rows_per != "period"), m.id
        if parts is None:
            continue
        expected = set()
        for x in (*used, *FINGERPRINT_MEASURES):
            if x.agg == "average":
                expected |= {f"sum({x.expr}){x.tail}", f"count({x.expr}){x.tail}"}
            else:
                expected.add(x.sql)
        assert {c.sql for c in parts.components} == expected, m.id
        assert len(parts.interval_sql) == 4


def test_a_component_over_shared_rows_reads_the_columns_they_name():
    """delta._renamed: a metric drawing on shared rows (Metric.rows_of) has its components grouped over the
    shared rows' columns; only column names change, not functions, casts or bind parameters."""
    from warehouse.metrics.components import Component
    from warehouse.metrics.delta import _renamed

    component = Component("sum", "sum(mentions) filter (where mentions > :mentions)",
                          "count(mentions::int) filter (where mentions > :mentions)", "mentions",
                          " filter (where mentions > :mentions)")
    renamed = _renamed(component, {"mentions": "mentions_training"})
    assert renamed == Component("sum", "sum(mentions_training) filter (where mentions_training > :mentions)",
                                "count(mentions_training::int) filter (where mentions_training > :mentions)",
                                "mentions_training", " filter (where mentions_training > :mentions)")
    assert _renamed(component, {}) is component
