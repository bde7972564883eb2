"""The disclosure audit on hand-made published tables: each route recovers a known small group from a table
built to leak it, and a table built to be safe gives nothing.

Tables are rows of analytics.metric_values. k = 5 throughout. Partitions carry the `partition` column
(declared complete) unless a test is about a table without it (then the people outside every child are an
unknown residual).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import pytest

from warehouse.metrics.audit import Background, MetricInfo, audit, prepare, snapshot

WEEK = "2026-03-09"  # a Monday
GO_LIVE = date(2026, 3, 2)  # a Monday: calendar week 2026-03-09 is week 1 since go-live
INFOS = {"m": MetricInfo(min_group_size=5)}


def row(segment: str, value: str, n: int | None, *, refresh: int = 1, hidden: bool = False,
        reason: str | None = None, numerator: float | None = None, parent: tuple[str, str] | None = ("trust", "all"),
        grain: str = "week", period: str = WEEK, partition: str | None = "auto") -> dict[str, Any]:
    if partition == "auto":
        partition = None if segment == "trust" else ("org" if segment.startswith("org") else segment)
    return {"refresh_id": refresh, "metric_id": "m", "grain": grain, "period": period, "segment_type": segment,
            "segment_value": value, "parent_segment_type": parent[0] if parent and segment != "trust" else None,
            "parent_segment_value": parent[1] if parent and segment != "trust" else None, "partition": partition,
            "n": None if hidden else n, "numerator": None if hidden else (numerator if numerator is not None else n),
            "denominator": None if hidden else n, "value": None, "suppressed": hidden,
            "suppression_reason": (reason or "suppressed") if hidden else None}


def run(rows: list[dict[str, Any]], background: Background | None = None, *, partition: bool = True):  # noqa: ANN201
    frame = pd.DataFrame(rows)
    if not partition:
        frame = frame.drop(columns=["partition"])
    return audit(frame, INFOS, background)


def routes(result: Any) -> dict[str, int]:
    return {k: v for k, v in result.counts().items() if v}


def test_people_outside_every_child_are_recovered_when_the_children_do_not_add_up() -> None:
    # 12 people: staff groups A (6) and B (5) shown; the one person with no staff group is the residual.
    result = run([row("trust", "all", 12), row("staff_group", "A", 6), row("staff_group", "B", 5)],
                 partition=False)

    assert routes(result) == {"residual": 1}
    (finding,) = result.findings
    assert (finding.segment_type, finding.segment_value, finding.figures["n"]) == ("trust", "all", 1)


def test_a_single_hidden_child_of_a_complete_partition_is_parent_minus_its_siblings() -> None:
    result = run([row("trust", "all", 20), row("staff_group", "A", 8), row("staff_group", "B", 9),
                  row("staff_group", "C", 3, hidden=True)])

    hits = [f for f in result.findings if f.route == "one_hidden_child" and f.segment_value == "C"]
    assert hits and hits[0].figures["n"] == pytest.approx(3)


def test_two_hidden_siblings_holding_fewer_than_k_together_are_exposed_and_squeezed() -> None:
    # Complement 20 - 8 - 10 = 2 over two hidden cells that each hold someone: 1 and 1.
    result = run([row("trust", "all", 20), row("staff_group", "A", 8), row("staff_group", "B", 10),
                  row("staff_group", "C", 1, hidden=True), row("staff_group", "D", 1, hidden=True)])

    found = {(f.route, f.segment_value): f.figures.get("n") for f in result.findings}
    assert found[("hidden_siblings", "all")] == pytest.approx(2)  # the complement
    assert found[("hidden_siblings", "C")] == pytest.approx(1)
    assert found[("hidden_siblings", "D")] == pytest.approx(1)


def test_a_cell_hidden_in_one_grain_is_the_same_people_in_the_other_and_exposes_its_sibling() -> None:
    # Calendar week 2026-03-09: waves U (11), W (6, hidden to protect V) and V (3). Wave W goes live on
    # Monday 2026-03-02, so its week-since-go-live 1 holds exactly the same people, shown there.
    rows = [row("trust", "all", 20), row("go_live_wave", "U", 11), row("go_live_wave", "W", 6, hidden=True),
            row("go_live_wave", "V", 3, hidden=True),
            row("trust", "all", 6, grain="week_since_go_live", period="1"),
            row("go_live_wave", "W", 6, grain="week_since_go_live", period="1")]
    background = Background(go_live_dates={"W": GO_LIVE})

    result = run(rows, background)

    hits = [f for f in result.findings if f.route == "across_grains"]
    assert hits and hits[0].figures["n"] == pytest.approx(3)
    assert run(rows).findings == []  # without the go-live date the intruder cannot link the grains


def test_a_shown_cell_moving_by_fewer_than_k_people_between_refreshes_is_a_finding() -> None:
    rows = [row("trust", "all", 30), row("trust", "all", 31, refresh=2)]

    result = run(rows)

    assert routes(result) == {"refresh_difference": 1}
    assert result.findings[0].figures["delta_n"] == pytest.approx(1)
    assert result.findings[0].snapshots == (1, 2)


def test_an_edited_answer_shows_as_a_changed_numerator_with_the_same_n() -> None:
    result = run([row("trust", "all", 30, numerator=10), row("trust", "all", 30, numerator=11, refresh=2)])

    assert routes(result) == {"refresh_difference": 1}
    assert result.findings[0].figures["delta_numerator"] == pytest.approx(1)


def test_a_cell_hidden_at_one_refresh_is_recovered_from_a_later_refresh_where_its_sibling_changed() -> None:
    # Refresh 1: A 10 shown, B 4 and C 6 hidden (complement 10, safe on its own). Refresh 2 rewrites only
    # the trust (a late person joins B) and B, now 5 and shown; C's row is unchanged, so C = 21 - 10 - 5 = 6
    # at refresh 2 and, the same row, at refresh 1, where B = 20 - 10 - 6 = 4.
    rows = [row("trust", "all", 20), row("staff_group", "A", 10), row("staff_group", "B", 4, hidden=True),
            row("staff_group", "C", 6, hidden=True),
            row("trust", "all", 21, refresh=2), row("staff_group", "B", 5, refresh=2)]

    result = run(rows)

    recovered = [f for f in result.findings if f.route == "refresh_recovered" and f.segment_value == "B"]
    assert recovered and recovered[0].figures["n"] == pytest.approx(4) and recovered[0].snapshots == (1,)


def test_the_lp_pins_a_cell_through_two_levels_of_the_org_tree() -> None:
    # Trust 30 = division D1 (hidden) + D2 (shown 20); D1 = wards X (shown 7) + Y (hidden): Y = 30 - 20 - 7.
    rows = [row("trust", "all", 30), row("org_level_1", "D1", 10, hidden=True), row("org_level_1", "D2", 20),
            row("org_unit", "X", 7, parent=("org_level_1", "D1")),
            row("org_unit", "Y", 3, hidden=True, parent=("org_level_1", "D1"))]

    result = run(rows)

    assert any(f.segment_value == "Y" and f.figures.get("n") == pytest.approx(3) for f in result.findings)


def test_a_numerator_pinned_for_a_group_under_k_is_a_finding() -> None:
    # n of the hidden unit is not published, but labelled primary: under 5. Its numerator is 9 - 4 - 3.
    rows = [row("trust", "all", 24, numerator=9), row("staff_group", "A", 10, numerator=4),
            row("staff_group", "B", 10, numerator=3), row("staff_group", "C", 4, hidden=True, reason="primary")]

    result = run(rows)

    assert any(f.segment_value == "C" and f.figures.get("numerator") == pytest.approx(2) for f in result.findings)


def test_safe_tables_give_no_finding() -> None:
    rows = [
        # Two hidden siblings holding 10 together (neither pinned: C could be 1..5, D 5..9).
        row("trust", "all", 30), row("staff_group", "A", 10), row("staff_group", "B", 10),
        row("staff_group", "C", 4, hidden=True), row("staff_group", "D", 6, hidden=True),
        # A complete org partition: a residual cell of its own, shown.
        row("org_level_1", "D1", 12), row("org_level_1", "D2", 12), row("org_level_1", "(none)", 6),
        # Week since go-live 1 of wave W (Monday go-live): the same 30 people, suppressed alike.
        row("trust", "all", 30, grain="week_since_go_live", period="1"),
        row("go_live_wave", "W", 30, grain="week_since_go_live", period="1"),
        row("go_live_wave", "W", 30),
        # A later refresh that moves the trust by 6 people and its hidden pair by 6 together.
        row("trust", "all", 36, refresh=2), row("staff_group", "B", 16, refresh=2),
        row("go_live_wave", "W", 36, refresh=2), row("org_level_1", "D2", 18, refresh=2),
        row("trust", "all", 36, grain="week_since_go_live", period="1", refresh=2),
        row("go_live_wave", "W", 36, grain="week_since_go_live", period="1", refresh=2),
    ]

    result = run(rows, Background(go_live_dates={"W": GO_LIVE}))

    assert result.findings == [], [str(f) for f in result.findings]
    assert result.inconsistent == 0


def test_a_snapshot_is_the_newest_row_of_each_cell_at_or_before_the_refresh() -> None:
    prepared = prepare(pd.DataFrame([row("trust", "all", 30), row("staff_group", "A", 30),
                                     row("trust", "all", 31, refresh=3)]))

    assert sorted(snapshot(prepared, 2)["n"]) == [30, 30]
    assert sorted(snapshot(prepared, 3)["n"]) == [30, 31]
