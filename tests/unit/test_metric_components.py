"""Splitting metric expressions into additive components (warehouse/metrics/components.py)."""

from __future__ import annotations

from warehouse.metrics.components import decompose
from warehouse.metrics.registry import all_metrics


def test_sums_and_counts_become_components_and_the_expressions_read_them():
    parts = decompose("100.0 * sum(direction) / nullif(sum(counted), 0)", "sum(direction)", "sum(counted)",
                      "count(distinct subject)")
    assert [c.sql for c in parts.components] == ["sum(direction)", "sum(counted)", "count(distinct subject)"]
    assert [c.kind for c in parts.components] == ["sum", "sum", "distinct"]
    # a sum of no non-null values is null, so each sum is read through its count
    assert parts.value_sql == "100.0 * (case when k1 > 0 then c1 end) / nullif((case when k2 > 0 then c2 end), 0)"
    assert parts.numerator_sql == "(case when k1 > 0 then c1 end)"
    assert parts.n_sql == "c3"


def test_the_same_aggregate_in_several_expressions_is_one_component():
    parts = decompose("100.0 * count(*) filter (where kind = 'a') / nullif(count(*), 0)",
                      "count(*) filter (where kind = 'a')", "count(*)", "count(distinct subject)")
    assert [c.sql for c in parts.components] == ["count(*) filter (where kind = 'a')", "count(*)",
                                                 "count(distinct subject)"]
    assert parts.numerator_sql == "c1" and parts.denominator_sql == "c2"


def test_avg_is_a_sum_over_a_count_of_the_same_rows():
    parts = decompose("avg(x) * :k * count(*)", None, None, "count(distinct subject) filter (where x is not null)")
    assert [c.sql for c in parts.components] == ["sum(x)", "count(x)", "count(*)",
                                                 "count(distinct subject) filter (where x is not null)"]
    assert parts.value_sql == "((case when k1 > 0 then c1 end) / nullif(c2, 0)) * :k * c3"
    assert parts.numerator_sql == "null"
    assert parts.components[3].count_sql == "count(subject) filter (where x is not null)"


def test_aggregates_that_do_not_add_up_are_refused():
    assert decompose("percentile_cont(0.5) within group (order by h)", None, None, "count(distinct subject)") is None
    assert decompose("max(gap)", None, None, "coalesce(min(smallest_group), 0)") is None
    assert decompose("count(distinct ticket)", None, None, "count(distinct subject)") is None


def test_every_registered_metric_but_medians_and_the_group_gap_is_decomposable():
    refused = {m.id for m in all_metrics().values()
               if decompose(m.value_sql, m.numerator_sql, m.denominator_sql, m.n_sql) is None}
    assert refused == {"median_hours_to_resolve", "skills_group_gap"}
