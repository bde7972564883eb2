"""The one GROUPING SETS query cells come from (warehouse/metrics/grouping.py), read as SQL text: a set per
segment on the grain, the segment type and value each set's grouping bits name, the residual label, and both
ways cells are grouped (a metric's own aggregates, regrouped; its additive components, delta.py) built on it.

The metrics are a registered metric with its segments and grains replaced, so the tests read only what the
generator reads (segments, grains, base SQL).
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from typing import Any

import pytest

from warehouse.metrics import delta
from warehouse.metrics.cells import CELL_COLUMNS, cells_of, period_key, period_text
from warehouse.metrics.components import Component, Decomposed
from warehouse.metrics.engine import compute_cells
from warehouse.metrics.grouping import base_rows_sql, grouping_sets_sql, period_sql, segment_sql
from warehouse.metrics.registry import GRAINS, RESIDUAL, SEGMENTS, TRUST, Metric, all_metrics

SMALL = ("trust", "org_level_1", "staff_group")


def metric(segments: tuple[str, ...] = SMALL, grains: tuple[str, ...] = tuple(GRAINS)) -> Metric:
    return dataclasses.replace(all_metrics()["net_experience_score"], segments=segments, grains=grains)


def grouping_sets(sql: str) -> list[list[str]]:
    """The columns of each grouping set, in order (of the first GROUPING SETS in `sql`)."""
    return all_grouping_sets(sql)[0]


def all_grouping_sets(sql: str) -> list[list[list[str]]]:
    """grouping_sets of every GROUPING SETS in `sql`, in order."""
    found = re.findall(r"group by grouping sets \((.*?)\)\s*\) cells", sql, re.S)
    assert found, sql
    return [[[c.strip() for c in s.split(",")] for s in re.findall(r"\(([^()]*)\)", inner)] for inner in found]


def cases(expression: str) -> dict[int, str]:
    """`case grouping(...) when code then result ... end` as {code: result}."""
    return {int(code): result.strip() for code, result in
            re.findall(r"when (\d+) then (.+?)(?= when \d+ then | end$)", expression)}


def grouping_bits(columns: list[str], grouped: list[str]) -> int:
    """What PostgreSQL's grouping(columns...) gives a row of the set `grouped`: a bit per column, the first
    the most significant, 1 where the column is not grouped."""
    return sum(1 << (len(columns) - 1 - i) for i, c in enumerate(columns) if c not in grouped)


@pytest.mark.parametrize("grain", list(GRAINS))
def test_one_grouping_set_per_segment_on_the_grain(grain: str) -> None:
    sql = grouping_sets_sql(metric(), grain, "t", ["count(*) as rows"])
    column = f"b.{GRAINS[grain]}"
    assert grouping_sets(sql) == [[column], [column, "b.org_l1"], [column, "b.staff_group"]]
    assert f"from t b\n            where {column} is not null\n" in sql
    assert f"{period_sql(grain)} as period" in sql and f"'{grain}'::text as grain" in sql
    assert "count(*) as rows" in sql


def test_each_sets_grouping_bits_name_its_segment_and_its_value() -> None:
    every = metric(tuple(SEGMENTS))
    types, values = segment_sql(every)
    used = [f"b.{c}" for c in SEGMENTS.values() if c]
    assert f"case grouping({', '.join(used)})" in types
    by_type, by_value = cases(types), cases(values)
    for segment, column in SEGMENTS.items():
        bits = grouping_bits(used, [f"b.{column}"] if column else [])
        assert by_type[bits] == f"'{segment}'"
        expected = (f"'{TRUST}'" if column is None else
                    f"b.{column}::text" if segment in ("org_level_1", "org_level_2") else
                    f"coalesce(b.{column}::text, '{RESIDUAL}')")
        assert by_value[bits] == expected, segment
    assert len(by_type) == len(by_value) == len(SEGMENTS)


def test_rows_with_no_value_get_the_residual_label_in_sql_except_in_the_org_levels_which_are_left_out() -> None:
    sql = grouping_sets_sql(metric(), "week", "t", ["count(*) as rows"])
    assert f"coalesce(b.staff_group::text, '{RESIDUAL}')" in sql
    assert "coalesce(b.org_l1" not in sql
    assert sql.rstrip().endswith("where cells.segment_value is not null")  # a null org level names no cell


def test_a_metric_over_the_trust_alone_needs_no_grouping_bits() -> None:
    assert segment_sql(metric(("trust",))) == ("'trust'", f"'{TRUST}'")
    sql = grouping_sets_sql(metric(("trust",)), "week", "t", ["count(*) as rows"])
    assert grouping_sets(sql) == [["b.week_start"]] and "grouping(" not in sql


def test_per_columns_are_grouped_in_every_set_and_where_restricts_the_rows() -> None:
    sql = grouping_sets_sql(metric(), "week", "t", ["count(*) as rows"], where="b.week_start = any(:_periods)",
                            per=("subject",))
    assert all(s[-1] == "b.subject" for s in grouping_sets(sql))
    assert "where b.week_start is not null and (b.week_start = any(:_periods))" in sql


def test_periods_are_written_as_stored_and_read_back() -> None:
    assert period_sql("week") == "to_char(b.week_start, 'YYYY-MM-DD')"
    assert period_sql("week_since_go_live") == "b.weeks_since_go_live::text"
    for grain, key in (("week", date(2025, 3, 3)), ("week_since_go_live", -2)):
        assert period_key(grain, period_text(key)) == key


def test_base_rows_carry_org_levels_and_day_and_keep_rows_with_either_period_unless_told() -> None:
    m = metric()
    sql = base_rows_sql(m)
    assert f"from ({m.base_sql}) b" in sql and "l.org_l1, l.org_l2" in sql and "as _day" in sql
    assert "where b.week_start is not null or b.weeks_since_go_live is not null" in sql
    assert base_rows_sql(m, "b.week_start = any(:_periods)").rstrip().endswith("where b.week_start = any(:_periods)")


def test_grouped_rows_become_cells_with_their_period_keys() -> None:
    row: dict[str, Any] = {"value": 1.5, "numerator": None, "denominator": None, "n": 7, "fingerprint": "7:1",
                           "sum_x2": None, "sum_xw": None, "sum_w2": None, "scale": None}
    rows = [{**row, "grain": "week", "period": "2025-03-03", "segment_type": "staff_group",
             "segment_value": RESIDUAL},
            {**row, "grain": "week_since_go_live", "period": "-2", "segment_type": "trust", "segment_value": TRUST}]
    cells = cells_of(metric(), rows, {})
    assert list(cells.columns) == CELL_COLUMNS
    assert cells["period_start"].tolist()[0] == date(2025, 3, 3) and cells["period_index"].tolist()[1] == -2
    assert cells[["segment_type", "segment_value"]].values.tolist() == [["staff_group", RESIDUAL], ["trust", TRUST]]
    assert cells["parent_segment_value"].tolist()[0] == TRUST and cells["parent_segment_type"].isna().tolist()[1]


PARTS = Decomposed(components=(Component("sum", "sum(x)", "count(x)", "x"),), value_sql="c1", numerator_sql="c1",
                   denominator_sql="c0", n_sql="c0")
WITH_PEOPLE = Decomposed(components=(*PARTS.components, Component("distinct", "count(distinct subject)",
                                                                  "count(subject)", "distinct subject")),
                         value_sql="c1", numerator_sql="c1", denominator_sql="c2", n_sql="c2")


def test_components_and_their_changes_are_grouped_by_the_same_sets() -> None:
    m = metric()
    types, values = segment_sql(m)
    full = delta._components_sql(m, PARTS.components, "week", "src")
    changes = delta._changes_sql(m, PARTS, "week")
    sets = [["b.week_start"], ["b.week_start", "b.org_l1"], ["b.week_start", "b.staff_group"]]
    for sql in (full, changes):  # a sum changes by the changed rows alone, grouped as the cells are
        assert sql.count("group by grouping sets") == 1 and types in sql and values in sql
        assert grouping_sets(sql) == sets
    # A count of distinct people also groups the changed people's rows per cell and person.
    people = delta._changes_sql(m, WITH_PEOPLE, "week")
    assert people.count("group by grouping sets") == 2 and people.count(types) == 2
    assert all_grouping_sets(people) == [sets, [[*s, "b.subject"] for s in sets]]


class _Recorder:
    """A connection that records the SQL it is given and returns no rows."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def execute(self, statement: Any, bind: Any = None) -> Any:
        self.sql.append(str(statement))
        return self

    def mappings(self) -> Any:
        return self

    def all(self) -> list[Any]:
        return []

    def scalar(self) -> Any:
        return None


@pytest.mark.parametrize("stored", [None, delta.base_table(metric())])
def test_regrouped_cells_use_the_same_sets_with_the_metrics_own_aggregates(stored: str | None) -> None:
    m = metric()
    conn = _Recorder()
    cells = compute_cells(conn, m, {}, {"week": [date(2025, 3, 3)], "week_since_go_live": [1]}, {}, stored)  # type: ignore[arg-type]
    assert cells.empty and list(cells.columns) == CELL_COLUMNS
    grouped = [s for s in conn.sql if "grouping sets" in s]
    assert len(grouped) == 2  # one query per grain
    types, values = segment_sql(m)
    for sql, grain in zip(grouped, GRAINS.values(), strict=True):
        assert types in sql and values in sql and f"{m.value_sql} as value" in sql and f"{m.n_sql} as n" in sql
        assert f"b.{grain} = any(:_periods)" in sql
        if stored:
            assert f"from {stored} b" in sql
        else:  # the period chosen among the base rows, beside their org levels and day
            assert f"where b.{grain} is not null and b.{grain} = any(:_periods)\n" in sql and "as _day" in sql
