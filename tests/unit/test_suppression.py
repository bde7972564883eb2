"""Small-number suppression on hand-built cells: primary, secondary (the subtraction attack), hierarchies.

Every statistic of a cell (n, numerator, denominator) is additive over a complete set of siblings, so
anything published can be combined: `recover` plays the attacker, solving every parent equation with
exactly one unknown child (and every hidden parent whose children are all known), until nothing changes.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warehouse.metrics.audit import Background, MetricInfo, audit
from warehouse.metrics.cells import CELL_COLUMNS
from warehouse.metrics.exposure import determined
from warehouse.metrics.suppression import suppress

MIN = 5
STATS = ("n", "numerator", "denominator")


def cell(segment_type: str, segment_value: str, parent: tuple[str, str] | None, n: int, numerator: float,
         denominator: float, *, metric_id: str = "net_experience_score", grain: str = "week",
         period: str = "2025-03-03") -> dict[str, Any]:
    return {
        "metric_id": metric_id, "grain": grain, "period": period,
        "period_start": pd.Timestamp(period).date() if grain == "week" else None,
        "period_index": None if grain == "week" else int(period),
        "segment_type": segment_type, "segment_value": segment_value,
        "parent_segment_type": parent[0] if parent else None,
        "parent_segment_value": parent[1] if parent else None,
        "value": 100.0 * numerator / denominator if denominator else None,
        "numerator": float(numerator), "denominator": float(denominator), "n": n,
    }


def frame(*cells: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(cells), columns=CELL_COLUMNS)


def key(row: Any) -> tuple[str, str, str, str, str]:
    return (row["metric_id"], row["grain"], row["period"], row["segment_type"], row["segment_value"])


def hidden_of(cells: pd.DataFrame) -> dict[str, str]:
    """segment_value → suppression reason, for the hidden cells."""
    hidden = cells[cells["suppressed"]]
    return dict(zip(hidden["segment_value"], hidden["suppression_reason"], strict=True))


def recover(cells: pd.DataFrame, hidden: pd.Series) -> dict[tuple[str, ...], dict[str, float]]:
    """What an analyst can work out from the visible cells by adding and subtracting: key → statistics."""
    known = {key(r): {s: float(r[s]) for s in STATS} for _, r in cells[~hidden].iterrows()}
    published = {key(r) for _, r in cells.iterrows()}
    families: dict[tuple[Any, ...], list[tuple[str, ...]]] = {}
    for _, r in cells[cells["parent_segment_type"].notna()].iterrows():
        parent = (r["metric_id"], r["grain"], r["period"], r["parent_segment_type"], r["parent_segment_value"])
        partition = "org" if r["segment_type"].startswith("org") else r["segment_type"]  # one tree, one partition
        families.setdefault((parent, partition), []).append(key(r))
    recovered: dict[tuple[str, ...], dict[str, float]] = {}
    changed = True
    while changed:
        changed = False
        for (parent, _), children in families.items():
            unknown = [c for c in children if c not in known]
            if parent in known and len(unknown) == 1:  # parent minus the visible siblings
                (target,) = unknown
                known[target] = {s: known[parent][s] - sum(known[c][s] for c in children if c != target)
                                 for s in STATS}
                recovered[target] = known[target]
                changed = True
            elif parent in published and parent not in known and not unknown:  # the children add up to the parent
                known[parent] = {s: sum(known[c][s] for c in children) for s in STATS}
                recovered[parent] = known[parent]
                changed = True
    return recovered


def primary_only(cells: pd.DataFrame) -> pd.Series:
    return cells["n"] < MIN


def test_given_groups_under_the_minimum_when_suppressed_then_only_those_are_hidden_as_primary():
    # Two small systems hide each other, so no secondary suppression is needed here.
    cells = frame(
        cell("trust", "all", None, 40, 10, 50),
        cell("system", "EPR", ("trust", "all"), 33, 8, 40),
        cell("system", "ePMA", ("trust", "all"), 4, 1, 6),
        cell("system", "Patient Portal", ("trust", "all"), 3, 1, 4),
    )
    out = suppress(cells, 3)
    assert not out["suppressed"].any()
    out = suppress(cells, MIN)
    assert hidden_of(out) == {"ePMA": "primary", "Patient Portal": "primary"}
    assert out.loc[~out["suppressed"], "suppression_reason"].isna().all()
    # The input is left alone and every input column is kept.
    assert "suppressed" not in cells.columns
    assert list(out.columns[: len(CELL_COLUMNS)]) == CELL_COLUMNS


def test_given_a_group_of_exactly_the_minimum_then_it_is_shown_and_an_empty_frame_stays_empty():
    out = suppress(frame(cell("trust", "all", None, MIN, 1, 5)), MIN)
    assert not out["suppressed"].any()
    empty = suppress(frame(), MIN)
    assert empty.empty
    assert {"suppressed", "suppression_reason"} <= set(empty.columns)


def test_subtraction_attack_one_hidden_staff_group_is_recovered_without_secondary_suppression():
    # Trust n=30 (published); staff groups 20, 7 and 3 people. Numerators and denominators add up too.
    cells = frame(
        cell("trust", "all", None, 30, 12, 60),
        cell("staff_group", "Nursing and Midwifery", ("trust", "all"), 20, 8, 40),
        cell("staff_group", "Medical and Dental", ("trust", "all"), 7, 5, 14),
        cell("staff_group", "Estates and Ancillary", ("trust", "all"), 3, -1, 6),
    )
    small = ("net_experience_score", "week", "2025-03-03", "staff_group", "Estates and Ancillary")

    # Primary suppression alone hides the n=3 group, but parent minus visible children gives it back.
    leaked = recover(cells, primary_only(cells))
    assert leaked[small] == {"n": 30 - 20 - 7, "numerator": 12 - 8 - 5, "denominator": 60 - 40 - 14}
    assert leaked[small] == {"n": 3, "numerator": -1, "denominator": 6}
    assert 100 * leaked[small]["numerator"] / leaked[small]["denominator"] == pytest.approx(-16.67, abs=0.01)

    # With secondary suppression the smallest visible sibling (n=7) is hidden as well ...
    out = suppress(cells, MIN)
    assert hidden_of(out) == {"Estates and Ancillary": "primary", "Medical and Dental": "secondary"}
    # ... so the parent minus the visible child leaves the sum of two unknowns, never either one.
    visible_children = out[(out["segment_type"] == "staff_group") & ~out["suppressed"]]
    assert 30 - visible_children["n"].sum() == 10  # = 7 + 3: two unknowns, one equation
    assert (out["segment_type"].eq("staff_group") & out["suppressed"]).sum() >= 2
    assert recover(out, out["suppressed"]) == {}


def test_given_two_hidden_siblings_then_no_further_cell_is_hidden():
    cells = frame(
        cell("trust", "all", None, 33, 10, 60),
        cell("staff_group", "A", ("trust", "all"), 26, 8, 50),
        cell("staff_group", "B", ("trust", "all"), 4, 1, 5),
        cell("staff_group", "C", ("trust", "all"), 3, 1, 5),
    )
    out = suppress(cells, MIN)
    assert hidden_of(out) == {"B": "primary", "C": "primary"}
    assert recover(out, out["suppressed"]) == {}


def test_given_a_hidden_parent_then_its_children_need_no_secondary_suppression():
    # A directorate hidden as the smallest sibling of a tiny one; its wards 6 and 4: only the 4 is hidden.
    # The directorate itself is unknown, so directorate minus the n=6 ward reveals nothing.
    cells = frame(
        cell("org_level_1", "MED", ("trust", "all"), 60, 20, 100),
        cell("org_level_2", "MED-AEM", ("org_level_1", "MED"), 47, 15, 80),
        cell("org_level_2", "MED-SPM", ("org_level_1", "MED"), 10, 4, 15),
        cell("org_level_2", "MED-ELD", ("org_level_1", "MED"), 3, 1, 5),
        cell("org_unit", "MED-SPM-W9", ("org_level_2", "MED-SPM"), 6, 3, 10),
        cell("org_unit", "MED-SPM-W10", ("org_level_2", "MED-SPM"), 4, 1, 5),
        cell("org_unit", "MED-AEM-ED", ("org_level_2", "MED-AEM"), 47, 15, 80),
        cell("org_unit", "MED-ELD-W14", ("org_level_2", "MED-ELD"), 3, 1, 5),
    )
    out = suppress(cells, MIN)
    assert hidden_of(out) == {"MED-ELD": "primary", "MED-SPM": "secondary", "MED-SPM-W10": "primary",
                              "MED-ELD-W14": "primary"}
    assert not out.loc[out["segment_value"] == "MED-SPM-W9", "suppressed"].item()
    assert recover(out, out["suppressed"]) == {}


def test_hierarchy_a_hidden_ward_under_a_published_directorate_hides_a_sibling_ward():
    # Division MED → directorates AEM, SPM → wards. W7B (n=2) is hidden; AEM is published, so the smallest
    # visible ward of AEM (W7A, n=6) goes too; SPM's wards are all large enough and stay.
    cells = frame(
        cell("trust", "all", None, 90, 30, 150),
        cell("org_level_1", "MED", ("trust", "all"), 90, 30, 150),
        cell("org_level_2", "MED-AEM", ("org_level_1", "MED"), 48, 16, 80),
        cell("org_level_2", "MED-SPM", ("org_level_1", "MED"), 42, 14, 70),
        cell("org_unit", "MED-AEM-ED", ("org_level_2", "MED-AEM"), 30, 10, 50),
        cell("org_unit", "MED-AEM-AMU", ("org_level_2", "MED-AEM"), 10, 4, 16),
        cell("org_unit", "MED-AEM-W7A", ("org_level_2", "MED-AEM"), 6, 3, 10),
        cell("org_unit", "MED-AEM-W7B", ("org_level_2", "MED-AEM"), 2, -1, 4),
        cell("org_unit", "MED-SPM-W9", ("org_level_2", "MED-SPM"), 21, 7, 35),
        cell("org_unit", "MED-SPM-W10", ("org_level_2", "MED-SPM"), 21, 7, 35),
    )
    leaked = recover(cells, primary_only(cells))
    assert leaked == {("net_experience_score", "week", "2025-03-03", "org_unit", "MED-AEM-W7B"):
                      {"n": 2, "numerator": -1, "denominator": 4}}

    out = suppress(cells, MIN)
    assert hidden_of(out) == {"MED-AEM-W7B": "primary", "MED-AEM-W7A": "secondary"}
    assert recover(out, out["suppressed"]) == {}


def test_hierarchy_a_directorate_hidden_by_secondary_suppression_is_not_rebuilt_from_its_wards():
    # Directorates under MED: ELD n=3 (primary), SPM n=10 (the smallest visible: secondary), AEM n=38.
    # SPM's two wards have 5 people each, so neither is small. If both stayed visible, SPM = W9 + W10,
    # and then ELD = MED - AEM - SPM: the tiny directorate would be recovered through the level below.
    cells = frame(
        cell("org_level_1", "MED", ("trust", "all"), 51, 20, 90),
        cell("org_level_2", "MED-AEM", ("org_level_1", "MED"), 38, 15, 70),
        cell("org_level_2", "MED-SPM", ("org_level_1", "MED"), 10, 6, 15),
        cell("org_level_2", "MED-ELD", ("org_level_1", "MED"), 3, -1, 5),
        cell("org_unit", "MED-AEM-ED", ("org_level_2", "MED-AEM"), 38, 15, 70),
        cell("org_unit", "MED-SPM-W9", ("org_level_2", "MED-SPM"), 5, 4, 8),
        cell("org_unit", "MED-SPM-W10", ("org_level_2", "MED-SPM"), 5, 2, 7),
        cell("org_unit", "MED-ELD-W14", ("org_level_2", "MED-ELD"), 3, -1, 5),
    )
    out = suppress(cells, MIN)
    hidden = hidden_of(out)
    assert hidden["MED-ELD"] == "primary"
    assert hidden["MED-SPM"] == "secondary"
    assert recover(out, out["suppressed"]) == {}, "a hidden directorate can be worked out from its wards"
    assert sum(v.startswith("MED-SPM-") for v in hidden) == 1  # one ward of SPM, not both


def test_siblings_are_grouped_per_metric_grain_and_period():
    # The same staff groups in two weeks, two grains and two metrics: only the family with a hidden member
    # gets secondary suppression; identical segment values elsewhere are untouched.
    def family(metric_id: str, grain: str, period: str, small: int) -> list[dict[str, Any]]:
        kw = {"metric_id": metric_id, "grain": grain, "period": period}
        return [cell("trust", "all", None, 30 + small, 10, 50, **kw),
                cell("staff_group", "A", ("trust", "all"), 20, 6, 30, **kw),
                cell("staff_group", "B", ("trust", "all"), 10, 3, 15, **kw),
                cell("staff_group", "C", ("trust", "all"), small, 1, 5, **kw)]

    cells = frame(*family("net_experience_score", "week", "2025-03-03", 3),
                  *family("net_experience_score", "week", "2025-03-10", 8),
                  *family("net_experience_score", "week_since_go_live", "2", 9),
                  *family("other_metric", "week", "2025-03-03", 7))
    out = suppress(cells.sample(frac=1, random_state=3), MIN)  # row order must not matter
    hidden = out[out["suppressed"]]
    assert sorted(zip(hidden["metric_id"], hidden["grain"], hidden["period"], hidden["segment_value"],
                      hidden["suppression_reason"], strict=True)) == [
        ("net_experience_score", "week", "2025-03-03", "B", "secondary"),
        ("net_experience_score", "week", "2025-03-03", "C", "primary"),
    ]


def test_siblings_under_different_parents_do_not_protect_each_other():
    # Two directorates each with one small ward: each directorate's own wards take the secondary.
    cells = frame(
        cell("org_level_2", "D1", ("org_level_1", "MED"), 30, 10, 50),
        cell("org_level_2", "D2", ("org_level_1", "MED"), 30, 10, 50),
        cell("org_level_1", "MED", ("trust", "all"), 60, 20, 100),
        cell("org_unit", "D1-a", ("org_level_2", "D1"), 20, 7, 30),
        cell("org_unit", "D1-b", ("org_level_2", "D1"), 8, 2, 15),
        cell("org_unit", "D1-c", ("org_level_2", "D1"), 2, 1, 5),
        cell("org_unit", "D2-a", ("org_level_2", "D2"), 24, 8, 40),
        cell("org_unit", "D2-b", ("org_level_2", "D2"), 6, 2, 10),
    )
    out = suppress(cells, MIN)
    assert hidden_of(out) == {"D1-c": "primary", "D1-b": "secondary"}


def test_ties_on_group_size_are_broken_by_segment_value_so_the_result_is_deterministic():
    cells = frame(
        cell("trust", "all", None, 23, 10, 50),
        cell("system", "Patient Portal", ("trust", "all"), 8, 3, 10),
        cell("system", "EPR", ("trust", "all"), 8, 3, 10),
        cell("system", "ePMA", ("trust", "all"), 4, 1, 5),
        cell("system", "Other", ("trust", "all"), 3, 1, 5),
    )
    first = suppress(cells, MIN)
    assert hidden_of(first) == {"ePMA": "primary", "Other": "primary"}
    cells.loc[cells["segment_value"] == "Other", "n"] = 6
    out = suppress(cells, MIN)
    assert hidden_of(out) == {"ePMA": "primary", "Other": "secondary"}
    cells.loc[cells["segment_value"] == "Other", "n"] = 9
    out = suppress(cells.iloc[::-1], MIN)
    assert hidden_of(out) == {"ePMA": "primary", "EPR": "secondary"}


# ------------------------------------------------------------------- partitions, linked cells, history


def test_two_hidden_siblings_holding_fewer_than_the_minimum_together_get_a_third():
    # B (2) and C (2) are both hidden, but trust minus A gives their sum: 4 people, under the minimum.
    cells = frame(
        cell("trust", "all", None, 30, 10, 60),
        cell("staff_group", "A", ("trust", "all"), 14, 5, 30),
        cell("staff_group", "D", ("trust", "all"), 12, 4, 20),
        cell("staff_group", "B", ("trust", "all"), 2, 1, 5),
        cell("staff_group", "C", ("trust", "all"), 2, 0, 5),
    )
    out = suppress(cells, MIN)
    assert hidden_of(out) == {"B": "primary", "C": "primary", "D": "secondary"}


def test_a_residual_cell_is_a_child_like_any_other():
    # Staff with no staff group (the residual) are 3 people: hidden, so a named group is hidden with them.
    cells = frame(
        cell("trust", "all", None, 40, 10, 60),
        cell("staff_group", "A", ("trust", "all"), 25, 6, 40),
        cell("staff_group", "B", ("trust", "all"), 12, 3, 15),
        cell("staff_group", "(none)", ("trust", "all"), 3, 1, 5),
    )
    out = suppress(cells, MIN)
    assert hidden_of(out) == {"(none)": "primary", "B": "secondary"}
    assert recover(out, out["suppressed"]) == {}


def test_org_partition_spans_segment_types_under_one_parent():
    # Division D is its directorates D-X, D-Y and the 3 staff assigned to D itself (unit D): one equation
    # across two segment types, so hiding unit D must hide a directorate too.
    cells = frame(
        cell("org_level_1", "D", ("trust", "all"), 40, 10, 60),
        cell("org_level_2", "D-X", ("org_level_1", "D"), 25, 6, 40),
        cell("org_level_2", "D-Y", ("org_level_1", "D"), 12, 3, 15),
        cell("org_unit", "D", ("org_level_1", "D"), 3, 1, 5),
    )
    out = suppress(cells, MIN)
    assert hidden_of(out) == {"D": "primary", "D-Y": "secondary"}


def with_fingerprints(cells: pd.DataFrame, prints: dict[tuple[str, str], str]) -> pd.DataFrame:
    cells = cells.copy()
    cells["fingerprint"] = [prints.get((g, v)) for g, v in zip(cells["grain"], cells["segment_value"], strict=True)]
    return cells


def test_cells_with_the_same_rows_share_one_decision_across_grains():
    # Wave W1 went live on a Monday: its calendar-week cell and its week-since-go-live cell hold the same rows.
    # In the calendar week W1 is hidden to protect a small wave; the other grain must not show it.
    week = [cell("trust", "all", None, 40, 10, 60),
            cell("go_live_wave", "W1", ("trust", "all"), 9, 3, 15),
            cell("go_live_wave", "W2", ("trust", "all"), 28, 6, 40),
            cell("go_live_wave", "W3", ("trust", "all"), 3, 1, 5)]
    since = [cell("trust", "all", None, 29, 9, 45, grain="week_since_go_live", period="2"),
             cell("go_live_wave", "W1", ("trust", "all"), 9, 3, 15, grain="week_since_go_live", period="2"),
             cell("go_live_wave", "W2", ("trust", "all"), 20, 6, 30, grain="week_since_go_live", period="2")]
    cells = with_fingerprints(frame(*week, *since), {("week", "W1"): "9:1", ("week_since_go_live", "W1"): "9:1"})
    unlinked = suppress(cells.assign(fingerprint=None), MIN)
    assert not unlinked.loc[(unlinked["grain"] == "week_since_go_live") & (unlinked["segment_value"] == "W1"),
                            "suppressed"].item()
    out = suppress(cells, MIN)
    hidden = out[out["suppressed"]]
    assert set(zip(hidden["grain"], hidden["segment_value"], hidden["suppression_reason"], strict=True)) == {
        ("week", "W3", "primary"), ("week", "W1", "secondary"), ("week_since_go_live", "W1", "linked"),
        ("week_since_go_live", "W2", "secondary")}  # and W2 then protects the linked W1 in its own grain


def previous(**cells: tuple[bool, int, tuple[float, float, float, int] | None]) -> pd.DataFrame:
    """Per staff group value: (hidden at the previous refresh, its n then, the statistics last shown)."""
    rows = []
    for value, (hidden, n, shown) in cells.items():
        reason = "secondary" if hidden else None
        segment = ("trust", "all") if value == "all" else ("staff_group", value)
        v, num, den, shown_n = shown if shown else (None, None, None, None)
        rows.append({"grain": "week", "period": "2025-03-03", "segment_type": segment[0],
                     "segment_value": segment[1], "last_hidden": hidden, "last_reason": reason, "last_n": n,
                     "shown_value": v, "shown_numerator": num, "shown_denominator": den, "shown_n": shown_n})
    return pd.DataFrame(rows).set_index(["grain", "period", "segment_type", "segment_value"])


def shown(n: int, numerator: float, denominator: float) -> tuple[float, float, float, int]:
    return 100.0 * numerator / denominator, float(numerator), float(denominator), n


def test_a_late_respondent_holds_the_revision_of_every_cell_they_change():
    # The trust cell of a past week was shown with n=30; one late respondent in A makes it 31. Showing 31 next
    # to 30 would give that person's answers, so trust and A are held; B did not change and stays shown.
    cells = frame(
        cell("trust", "all", None, 31, 11, 62),
        cell("staff_group", "A", ("trust", "all"), 21, 7, 42),
        cell("staff_group", "B", ("trust", "all"), 10, 4, 20),
    )
    before = previous(all=(False, 30, shown(30, 10, 60)), A=(False, 20, shown(20, 6, 40)),
                      B=(False, 10, shown(10, 4, 20)))
    out = suppress(cells, MIN, before)
    assert hidden_of(out) == {"all": "revision", "A": "revision"}
    # Without history the same cells would all be shown.
    assert not suppress(cells, MIN).suppressed.any()
    # Five late respondents since the values last shown: the change is a group of five, so it is shown.
    grown = frame(
        cell("trust", "all", None, 35, 14, 70),
        cell("staff_group", "A", ("trust", "all"), 25, 10, 50),
        cell("staff_group", "B", ("trust", "all"), 10, 4, 20),
    )
    assert not suppress(grown, MIN, before).suppressed.any()


def test_a_held_cell_is_not_protected_by_a_sibling_whose_value_is_already_known():
    # One person moved from B to C; A is new this refresh. B and C each changed by one person (held); the
    # trust did not change, so B + C is known, and each hides only one changed person: hiding B or C's
    # unchanged siblings would protect nothing, so the new cell A (never shown) is hidden with them.
    cells = frame(
        cell("trust", "all", None, 30, 10, 60),
        cell("staff_group", "A", ("trust", "all"), 6, 2, 12),
        cell("staff_group", "B", ("trust", "all"), 11, 4, 22),
        cell("staff_group", "C", ("trust", "all"), 13, 4, 26),
    )
    before = previous(all=(False, 30, shown(30, 10, 60)), B=(False, 12, shown(12, 5, 24)),
                      C=(False, 12, shown(12, 3, 24)))
    out = suppress(cells, MIN, before)
    assert hidden_of(out) == {"B": "revision", "C": "revision", "A": "secondary"}


def test_a_cell_hidden_at_the_last_refresh_is_shown_again_only_after_the_minimum_has_changed():
    # B was hidden (secondary) with n=12 and is now 14 with every sibling unchanged: showing it would give
    # its earlier hidden value from the siblings' changes. At 17 (five more) it may be shown.
    def family(b: int) -> pd.DataFrame:
        return frame(cell("trust", "all", None, 30 + b, 10, 60),
                     cell("staff_group", "A", ("trust", "all"), 30, 9, 55),
                     cell("staff_group", "B", ("trust", "all"), b, 1, 5))

    before = previous(all=(False, 42, shown(42, 10, 60)), A=(False, 30, shown(30, 9, 55)), B=(True, 12, None))
    assert hidden_of(suppress(family(14), MIN, before))["B"] == "secondary"
    assert "B" not in hidden_of(suppress(family(17), MIN, before))


@st.composite
def trusts(draw: st.DrawFn) -> pd.DataFrame:
    """One week of a random org tree (divisions → directorates → units, some staff assigned to a division
    directly, some with no unit) and random staff groups: every cell's statistics are the sums of its people."""
    people = []
    for d in range(draw(st.integers(1, 3))):
        for r in range(draw(st.integers(0, 3))):
            for u in range(draw(st.integers(1, 3))):
                people += [(f"D{d}", f"D{d}-R{r}", f"D{d}-R{r}-U{u}")] * draw(st.integers(1, 9))
        people += [(f"D{d}", None, f"D{d}")] * draw(st.integers(0, 4))
    people += [(None, None, "(none)")] * draw(st.integers(0, 4))
    groups = draw(st.lists(st.sampled_from(["A", "B", "C", "(none)"]), min_size=len(people), max_size=len(people)))
    answers = draw(st.lists(st.integers(-1, 1), min_size=len(people), max_size=len(people)))

    def stats(members: list[int]) -> tuple[int, int, int]:
        return len(members), sum(answers[i] for i in members), len(members)

    rows = [cell("trust", "all", None, *stats(list(range(len(people)))))]
    for level, segment in ((0, "org_level_1"), (1, "org_level_2"), (2, "org_unit")):
        for value in sorted({p[level] for p in people if p[level]}):
            members = [i for i, p in enumerate(people) if p[level] == value]
            division, directorate, unit = people[members[0]]
            parent = (("trust", "all") if level == 0 or division is None else
                      ("org_level_1", division) if level == 1 or directorate is None else
                      ("org_level_2", directorate))
            rows.append(cell(segment, value, parent, *stats(members)))
    for group in sorted(set(groups)):
        rows.append(cell("staff_group", group, ("trust", "all"),
                         *stats([i for i, g in enumerate(groups) if g == group])))
    return frame(*rows)


@settings(max_examples=150, deadline=None)
@given(trusts())
def test_property_every_partition_equation_leaves_none_or_enough_unknowns(cells: pd.DataFrame) -> None:
    out = suppress(cells, MIN)
    hidden = dict(zip(map(key, (r for _, r in out.iterrows())), out["suppressed"], strict=True))
    size = dict(zip(map(key, (r for _, r in out.iterrows())), out["n"], strict=True))
    assert all(hidden[k] for k, n in size.items() if n < MIN)
    families: dict[tuple[Any, ...], list[tuple[str, ...]]] = {}
    for _, r in out[out["parent_segment_type"].notna()].iterrows():
        partition = "org" if r["segment_type"].startswith("org") else r["segment_type"]
        parent = (r["metric_id"], r["grain"], r["period"], r["parent_segment_type"], r["parent_segment_value"])
        families.setdefault((parent, partition), []).append(key(r))
    for (parent, _), children in families.items():
        unknown = [c for c in children if hidden[c]]
        if hidden[parent]:
            assert unknown or all(size[c] == 0 for c in children), (parent, children)
        else:
            assert not unknown or (len(unknown) >= 2 and sum(size[c] for c in unknown) >= MIN), (parent, unknown)
    assert recover(out, out["suppressed"]) == {}


def published(out: pd.DataFrame) -> pd.DataFrame:
    """What the analyst reads of suppressed cells (analytics.metric_values at one refresh)."""
    rows = out.copy()
    rows["refresh_id"] = 1
    rows["partition"] = [None if s == "trust" else ("org" if s.startswith("org") else s)
                         for s in rows["segment_type"]]
    for column in ("value", "numerator", "denominator", "n"):
        rows[column] = rows[column].astype(object).where(~rows["suppressed"], None)
    rows["suppression_reason"] = rows["suppressed"].map({True: "suppressed", False: None})
    return rows


@settings(max_examples=120, deadline=None)
@given(trusts())
def test_property_linear_programming_pins_down_no_group_under_the_minimum(cells: pd.DataFrame) -> None:
    """The audit (warehouse/metrics/audit.py) bounds every hidden cell from every shown one, across levels
    of the org tree and segment types at once; none of its n or figures may be pinned down under k."""
    out = suppress(cells, MIN)
    result = audit(published(out), {"net_experience_score": MetricInfo(min_group_size=MIN)})
    shown = out[["segment_type", "segment_value", "parent_segment_value", "n", "suppressed"]].to_string()
    assert not result.findings, "\n".join([shown] + [str(f) for f in result.findings[:5]])


def test_a_parent_whose_children_add_up_to_a_known_sum_in_the_other_grain_protects_no_one():
    # Wave W1 went live on Monday 2025-02-17, so calendar week 2025-03-03 is its week 2 since go-live; W2 has
    # no go-live date. Calendar week: division D (shown) = units A (3) + B (7) + C (40, W2), so A + B = 10 is
    # known. Week 2: D holds only A and B, so D is known too. Hiding D to protect the 3 people of division XD
    # in week 2 would protect nothing: another division has to be hidden.
    def org(segment: str, value: str, parent: tuple[str, str] | None, n: int, grain: str) -> dict[str, Any]:
        period = "2025-03-03" if grain == "week" else "2"
        return cell(segment, value, parent, n, n // 2, n, grain=grain, period=period)

    week = [org("trust", "all", None, 127, "week"),
            org("org_level_1", "D", ("trust", "all"), 50, "week"),
            org("org_level_1", "XD", ("trust", "all"), 3, "week"),
            org("org_level_1", "YD", ("trust", "all"), 70, "week"),
            org("org_level_1", "WD", ("trust", "all"), 4, "week"),
            org("org_unit", "A", ("org_level_1", "D"), 3, "week"),
            org("org_unit", "B", ("org_level_1", "D"), 7, "week"),
            org("org_unit", "C", ("org_level_1", "D"), 40, "week"),
            org("org_unit", "X", ("org_level_1", "XD"), 3, "week"),
            org("org_unit", "Y", ("org_level_1", "YD"), 40, "week"),
            org("org_unit", "Z", ("org_level_1", "YD"), 30, "week"),
            org("org_unit", "W", ("org_level_1", "WD"), 4, "week")]
    since = [org("trust", "all", None, 53, "week_since_go_live"),
             org("org_level_1", "D", ("trust", "all"), 10, "week_since_go_live"),
             org("org_level_1", "XD", ("trust", "all"), 3, "week_since_go_live"),
             org("org_level_1", "YD", ("trust", "all"), 40, "week_since_go_live"),
             org("org_unit", "A", ("org_level_1", "D"), 3, "week_since_go_live"),
             org("org_unit", "B", ("org_level_1", "D"), 7, "week_since_go_live"),
             org("org_unit", "X", ("org_level_1", "XD"), 3, "week_since_go_live"),
             org("org_unit", "Y", ("org_level_1", "YD"), 40, "week_since_go_live")]
    prints = {("week", "all"): "t", ("week_since_go_live", "all"): "t2", ("week", "D"): "d",
              ("week_since_go_live", "D"): "ab", ("week", "YD"): "yz", ("week_since_go_live", "YD"): "y",
              ("week", "WD"): "w", ("week", "W"): "w", ("week", "Z"): "z", ("week", "C"): "c"}
    prints.update({(g, v): v.lower()[0] for g in ("week", "week_since_go_live") for v in ("A", "B", "X", "Y", "XD")})
    cells = with_fingerprints(frame(*week, *since), prints)
    out = suppress(cells, MIN)
    hidden = set(zip(out.loc[out["suppressed"], "grain"], out.loc[out["suppressed"], "segment_value"], strict=True))
    assert {("week", "A"), ("week", "B"), ("week_since_go_live", "D"), ("week_since_go_live", "XD")} <= hidden
    assert ("week_since_go_live", "YD") in hidden  # D protects no one: the other division is hidden
    background = Background({"W1": date(2025, 2, 17)}, {"A": "W1", "B": "W1", "X": "W1", "Y": "W1", "C": "W2",
                                                        "Z": "W2", "W": "W2"},
                            {"A": ("D",), "B": ("D",), "C": ("D",), "X": ("XD",), "Y": ("YD",), "Z": ("YD",),
                             "W": ("WD",)})
    result = audit(published(out), {"net_experience_score": MetricInfo(min_group_size=MIN)}, background)
    assert not result.findings, [str(f) for f in result.findings]


def test_a_cell_that_counts_no_one_adds_no_one_to_the_hidden_group():
    # Units P (n=0: its rows are staff in scope, none of whom answered) and Q (4) are hidden under a parent of 9
    # with R (5) shown: P + Q hold 4 people, fewer than the minimum, so R is hidden too.
    cells = frame(
        cell("org_level_2", "G", None, 9, 4, 9),
        cell("org_unit", "P", ("org_level_2", "G"), 0, 0, 0),
        cell("org_unit", "Q", ("org_level_2", "G"), 4, 2, 4),
        cell("org_unit", "R", ("org_level_2", "G"), 5, 2, 5),
    )
    assert hidden_of(suppress(cells, MIN)) == {"P": "primary", "Q": "primary", "R": "secondary"}


def test_a_division_hidden_for_its_sibling_hides_one_of_its_own_before_the_trust_is_judged_again():
    # One ticket from a person in no unit (n=0, hidden) under a trust of 110 with two divisions, each over two
    # shown directorates. Hiding division B (the smallest) hides no one while B-1 and B-2 are shown: B is
    # their sum. B's own partition is settled first (B-1 hidden), so B hides someone and the trust's
    # equation is met; judged again before that, the trust's equation would hide division A, then the
    # trust itself, then a directorate under every division.
    cells = frame(
        cell("trust", "all", None, 110, 50, 110),
        cell("org_level_1", "A", ("trust", "all"), 60, 30, 60),
        cell("org_level_1", "B", ("trust", "all"), 50, 19, 50),
        cell("org_unit", "UNMATCHED", ("trust", "all"), 0, 1, 0),
        cell("org_level_2", "A-1", ("org_level_1", "A"), 35, 20, 35),
        cell("org_level_2", "A-2", ("org_level_1", "A"), 25, 10, 25),
        cell("org_level_2", "B-1", ("org_level_1", "B"), 20, 9, 20),
        cell("org_level_2", "B-2", ("org_level_1", "B"), 30, 10, 30),
    )
    out = suppress(cells, MIN)
    assert hidden_of(out) == {"UNMATCHED": "primary", "B": "secondary", "B-1": "secondary"}
    assert not recover(out, out["suppressed"]).keys() & {key(r) for _, r in out[out["n"] < MIN].iterrows()}


@st.composite
def two_grains(draw: st.DrawFn) -> pd.DataFrame:
    """One calendar week and, for the units of the wave that has gone live, its week since go-live: random org
    trees and staff groups, every cell the sums of its people, cells holding the same people fingerprinted
    alike (a twin in the other grain, or a parent with one child)."""
    people, live = [], []
    for d in range(draw(st.integers(1, 3))):
        for u in range(draw(st.integers(1, 4))):
            size, wave_one = draw(st.integers(1, 8)), draw(st.booleans())  # a unit goes live in one wave
            people += [(f"D{d}", f"D{d}-U{u}")] * size
            live += [wave_one] * size
    groups = draw(st.lists(st.sampled_from(["A", "B", "C"]), min_size=len(people), max_size=len(people)))
    rows = []
    for grain, period, chosen in (("week", "2025-03-03", range(len(people))),
                                  ("week_since_go_live", "2", [i for i in range(len(people)) if live[i]])):
        chosen = list(chosen)
        if not chosen:
            continue

        def add(segment: str, value: str, parent: tuple[str, str] | None, members: list[int],
                grain: str = grain, period: str = period) -> None:
            rows.append(cell(segment, value, parent, len(members), len(members) // 2, len(members), grain=grain,
                             period=period) | {"fingerprint": ",".join(map(str, members))})

        add("trust", "all", None, chosen)
        for division in sorted({people[i][0] for i in chosen}):
            add("org_level_1", division, ("trust", "all"), [i for i in chosen if people[i][0] == division])
        for unit in sorted({people[i][1] for i in chosen}):
            add("org_unit", unit, ("org_level_1", unit.split("-")[0]), [i for i in chosen if people[i][1] == unit])
        for group in sorted({groups[i] for i in chosen}):
            add("staff_group", group, ("trust", "all"), [i for i in chosen if groups[i] == group])
    return pd.DataFrame(rows, columns=CELL_COLUMNS)


@settings(max_examples=150, deadline=None)
@given(two_grains())
def test_property_no_combination_of_equations_across_grains_pins_down_a_small_group(cells: pd.DataFrame) -> None:
    """Rule 3a checked afresh: over every equation of both grains at once, with cells of the same people as one
    unknown, no hidden cell under the minimum is determined."""
    out = suppress(cells, MIN)
    hidden = out[out["suppressed"]].reset_index(drop=True)
    unknown = {fingerprint: u for u, fingerprint in enumerate(dict.fromkeys(hidden["fingerprint"]))}
    index = {(r.grain, r.segment_type, r.segment_value): r.fingerprint for r in hidden.itertuples()}
    equations: dict[tuple[Any, ...], dict[int, float]] = {}
    for r in out.itertuples():
        if r.parent_segment_type is None or not isinstance(r.parent_segment_type, str):
            continue
        terms = equations.setdefault((r.grain, r.parent_segment_type, r.parent_segment_value,
                                      "org" if r.segment_type.startswith("org") else r.segment_type), {})
        parent = index.get((r.grain, r.parent_segment_type, r.parent_segment_value))
        if parent is not None:
            terms[unknown[parent]] = 1.0
        if r.suppressed:
            u = unknown[r.fingerprint]
            terms[u] = terms.get(u, 0.0) - 1.0
    pinned = determined([t for t in equations.values() if t], len(unknown))
    small = {unknown[f] for f, n in zip(hidden["fingerprint"], hidden["n"], strict=True) if n < MIN}
    assert not [u for u in small if pinned[u]], out[["grain", "segment_value", "n", "suppressed"]].to_string()
