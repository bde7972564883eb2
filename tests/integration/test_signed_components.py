"""What replaced rows change a cell's components by (components.signed), run in PostgreSQL on given rows:
sums and counts from the changed rows alone, a distinct count per person from their rows kept as well.

One cell. Before: p1 (x 2, kind a), p1 (x 3, kind b), p2 (x 5, kind a), p3 (x null, kind a). The update
replaces p1's kind-b row by (x 4, kind a), drops p2's row and adds p4 (x 1, kind a); p1's first row and
p3 stay. The signed rows are the changed people's: p1 (2, a, kept 0), (3, b, -1), (4, a, +1); p2 (5, a, -1);
p4 (1, a, +1). p3 changed nothing, so it is not among them.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from foundation.database import create_engine
from warehouse.metrics.components import Component, decompose, signed
from warehouse.metrics.metric import Measure, Metric, inline

SIGNED_ROWS = """
    (values ('p1', 2, 'a', 0), ('p1', 3, 'b', -1), ('p1', 4, 'a', 1), ('p2', 5, 'a', -1), ('p4', 1, 'a', 1))
    as r(subject, x, kind, _sign)
"""
BEFORE = "(values ('p1', 2, 'a'), ('p1', 3, 'b'), ('p2', 5, 'a'), ('p3', null, 'a')) as r(subject, x, kind)"
AFTER = "(values ('p1', 2, 'a'), ('p1', 4, 'a'), ('p3', null, 'a'), ('p4', 1, 'a')) as r(subject, x, kind)"


# The measures whose component each case is (the component's SQL names the case).
MEASURES = {
    "sum(x)": Measure("m", "sum", "x"),
    "sum(x) filter (where kind = 'a')": Measure("m", "sum", "x", filter="kind = 'a'"),
    "count(*)": Measure("m", "count"),
    "count(*) filter (where kind = 'a')": Measure("m", "count", filter="kind = 'a'"),
    "count(x)": Measure("m", "count", "x"),
    "count(distinct subject)": Measure("m", "count_distinct", "subject"),
    "count(distinct subject) filter (where kind = 'b')": Measure("m", "count_distinct", "subject", filter="kind = 'b'"),
    "count(distinct subject) filter (where x > 3)": Measure("m", "count_distinct", "subject", filter="x > 3"),
}


def _component(sql: str) -> Component:
    metric = Metric(id="test", title="Test", description="", unit="", numerator="", denominator="",
                    better="higher", base=inline("select 1"), type="simple", measures=(MEASURES[sql],), expr="m")
    parts = decompose(metric)
    assert parts is not None and parts.components[0].sql == sql
    return parts.components[0]


# component → (value change, rows-seen change), by hand from the rows above
CASES = {
    "sum(x)": (-3, 0),  # 10 → 7 over 3 → 3 non-null values
    "sum(x) filter (where kind = 'a')": (0, 1),  # 7 → 7 over 2 → 3 values
    "count(*)": (0, 0),  # 4 rows → 4 rows
    "count(*) filter (where kind = 'a')": (1, 1),  # 3 → 4
    "count(x)": (0, 0),  # 3 → 3
    "count(distinct subject)": (0, 0),  # {p1, p2, p3} → {p1, p3, p4}: p2 leaves, p4 joins, p1 stays
    "count(distinct subject) filter (where kind = 'b')": (-1, -1),  # {p1} → {}: p1's only kind-b row went
    "count(distinct subject) filter (where x > 3)": (0, 0),  # {p2} → {p1}: p2 leaves, p1 joins
}


@pytest.mark.parametrize("sql", list(CASES))
def test_a_components_change_is_what_the_signed_rows_give(warehouse_url: str, sql: str) -> None:
    component = _component(sql)
    change = signed(component, "s1")
    engine = create_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            # sums and counts over the changed rows alone; a distinct count per person from all their rows
            changed = f"(select * from {SIGNED_ROWS} where _sign <> 0) c"
            rows = conn.execute(sa.text(f"select {change.rows} from {changed}")).scalar_one()
            if change.value is not None:
                value = conn.execute(sa.text(f"select {change.value} from {changed}")).scalar_one()
            else:
                value = conn.execute(sa.text(
                    f"select sum(v) from (select {change.member} as v from ("
                    f"select subject, {', '.join(change.flags)} from {SIGNED_ROWS} group by subject) folded "
                    "group by subject) per_person")).scalar_one()
            got = (value, rows)
            # and the same figure as regrouping the cell before and after
            before = conn.execute(sa.text(f"select {component.sql}, {component.count_sql} from {BEFORE}")).one()
            after = conn.execute(sa.text(f"select {component.sql}, {component.count_sql} from {AFTER}")).one()
    finally:
        engine.dispose()
    assert (int(got[0]), int(got[1])) == CASES[sql]
    assert CASES[sql] == ((after[0] or 0) - (before[0] or 0), after[1] - before[1])
