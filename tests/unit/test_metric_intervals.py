"""95% intervals of metric values (warehouse/metrics/intervals.py), against values worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from warehouse.metrics.cells import ROW_HASH_SQL
from warehouse.metrics.components import decompose
from warehouse.metrics.engine import decomposed
from warehouse.metrics.intervals import Z, for_cell, interval_sql, mean, net, poisson, wilson
from warehouse.metrics.published import hold_intervals
from warehouse.metrics.registry import REGISTRY, all_metrics
from warehouse.metrics.suppression import KEY


def test_z_is_the_normal_quantile_of_a_two_sided_95_percent_interval():
    assert abs(Z - 1.959964) < 1e-6


def test_wilson_for_0_5_and_10_of_10():
    # 0/10: centre (0 + z²/20) / (1 + z²/10) = 0.19207 / 1.38415 = 0.13877, half-width the same: 0 to 0.27753.
    assert wilson(0, 10) == (0.0, pytest.approx(0.277533, abs=1e-6))
    # 5/10: centre 0.5, half-width z / (1 + z²/10) × √(0.25/10 + z²/400) = 1.41601 × 0.18602 = 0.26341.
    assert wilson(5, 10) == (pytest.approx(0.236593, abs=1e-6), pytest.approx(0.763407, abs=1e-6))
    # 10/10 mirrors 0/10.
    assert wilson(10, 10) == (pytest.approx(0.722467, abs=1e-6), 1.0)
    assert wilson(0, 0) is None


def test_the_net_score_of_one_answer_per_row_is_rocks_adjusted_wald_on_the_trinomial():
    # 10 answers: 5 promoters (+1), 2 detractors (-1), 3 passives (0): Σx = 3, Σx² = 7 (the non-zero answers).
    # Adjusted: n' = 13, promoters 5.75, detractors 2.75; NPS' = 3/13 = 0.230769;
    # var = (5.75/13 + 2.75/13 - 0.230769²) / 13 = (0.653846 - 0.053254) / 13 = 0.046199; se = 0.214940.
    low, high = net(3, 10, 7)
    assert (low, high) == (pytest.approx(0.230769 - Z * 0.214940, abs=1e-5),
                           pytest.approx(0.230769 + Z * 0.214940, abs=1e-5))
    assert (low, high) == (pytest.approx(-0.190506, abs=1e-6), pytest.approx(0.652045, abs=1e-6))


def test_the_net_score_of_several_answers_per_row_treats_the_rows_as_the_units():
    # Four responses (x: net answers, w: answers): (3, 3), (1, 3), (-2, 2), (0, 2); and the three pseudo-answers,
    # rows of one answer: ¾ of a row at +1, ¾ at -1, 1½ at 0.
    rows = [(3, 3, 1.0), (1, 3, 1.0), (-2, 2, 1.0), (0, 2, 1.0), (1, 1, 0.75), (-1, 1, 0.75), (0, 1, 1.5)]
    sum_x = sum(x * f for x, _, f in rows)
    sum_w = sum(w * f for _, w, f in rows)
    r = sum_x / sum_w  # 2 / 13
    variance = sum(f * (x - r * w) ** 2 for x, w, f in rows) / sum_w**2  # 13.724852 / 169 = 0.081212
    assert variance == pytest.approx(0.0812121, abs=1e-6)
    expected = (r - Z * math.sqrt(variance), r + Z * math.sqrt(variance))
    # Σx = 2, Σw = 10, Σx² = 9 + 1 + 4 + 0 = 14, Σxw = 9 + 3 - 4 + 0 = 8, Σw² = 9 + 9 + 4 + 4 = 26
    low, high = net(2, 10, 14, 8, 26)
    assert (low, high) == (pytest.approx(expected[0], abs=1e-12), pytest.approx(expected[1], abs=1e-12))
    assert (low, high) == (pytest.approx(-0.404699, abs=1e-6), pytest.approx(0.712392, abs=1e-6))
    # Counted as 10 independent answers (all non-zero: Σa² = 10) it would be narrower than it should be.
    independent = net(2, 10, 10)
    assert independent[1] - independent[0] < high - low


def test_a_net_score_with_every_answer_alike_still_has_a_width_and_stays_within_minus_1_and_1():
    low, high = net(5, 5, 5)
    assert 0 < low < high == 1.0
    assert net(0, 0, 0) is None


def test_the_mean_has_a_t_interval_with_n_minus_1_degrees_of_freedom():
    # 1, 2, 3, 4, 5: mean 3, s² = 2.5, se = √(2.5/5) = 0.707107, t(4, 97.5%) = 2.776445: 3 ± 1.963243.
    assert mean(15, 5, 55) == (pytest.approx(1.036757, abs=1e-6), pytest.approx(4.963243, abs=1e-6))
    assert mean(4, 1, 16) is None


def test_a_poisson_count_has_the_exact_interval_over_its_exposure():
    # 0 events: 0 to -ln(0.025) = 3.688879; 10 events: 4.795389 to 18.390356 (Garwood).
    assert poisson(0, 1) == (0.0, pytest.approx(-math.log(0.025), abs=1e-9))
    assert poisson(10, 200) == (pytest.approx(4.795389 / 200, abs=1e-8), pytest.approx(18.390356 / 200, abs=1e-8))


def _row(value: float | None, numerator: float, denominator: float, *, sum_x2: float | None = None,
         sum_xw: float | None = None, sum_w2: float | None = None, scale: float | None = 100) -> dict[str, object]:
    return {"value": value, "numerator": numerator, "denominator": denominator, "sum_x2": sum_x2,
            "sum_xw": sum_xw, "sum_w2": sum_w2, "scale": scale}


def test_a_cell_interval_is_in_the_value_units_target_and_scale_included():
    share = for_cell(REGISTRY["reopen_rate"], _row(50.0, 5, 10))
    assert share == (pytest.approx(23.6593, abs=1e-4), pytest.approx(76.3407, abs=1e-4))
    # Readiness is coverage less the target (90): so is its interval.
    readiness = for_cell(REGISTRY["training_readiness_gap"], _row(-40.0, 5, 10))
    assert readiness == (pytest.approx(23.6593 - 90, abs=1e-4), pytest.approx(76.3407 - 90, abs=1e-4))
    # Time saved scales the respondents' mean minutes (3) up to hours for the staff in scope: × 4 / 60 × 30 = 2.
    hours = for_cell(REGISTRY["time_saved_hours_per_week"], _row(6.0, 15, 5, sum_x2=55, scale=2.0))
    assert hours == (pytest.approx(2 * 1.036757, abs=1e-5), pytest.approx(2 * 4.963243, abs=1e-5))
    enps = for_cell(REGISTRY["enps"], _row(30.0, 3, 10, sum_x2=7))
    assert enps == (pytest.approx(-19.0506, abs=1e-4), pytest.approx(65.2045, abs=1e-4))
    rate = for_cell(REGISTRY["tickets_per_100_staff"], _row(5.0, 10, 200))
    assert rate == (pytest.approx(100 * 4.795389 / 200, abs=1e-5), pytest.approx(100 * 18.390356 / 200, abs=1e-5))


def test_no_interval_without_one_declared_or_without_data():
    assert for_cell(REGISTRY["median_hours_to_resolve"], _row(12.0, 12, 1)) == (None, None)
    assert for_cell(REGISTRY["reopen_rate"], _row(None, 0, 0)) == (None, None)
    assert for_cell(REGISTRY["helpdesk_satisfaction"], _row(4.0, 4, 1, sum_x2=16, scale=1)) == (None, None)


def test_every_metric_declares_its_interval():
    kinds: dict[str, set[str]] = {}
    for m in all_metrics().values():
        kinds.setdefault(m.interval, set()).add(m.id)
    assert kinds["net"] == {"net_experience_score", "enps"}
    assert kinds["poisson"] == {"tickets_per_100_staff"}
    assert {"reopen_rate", "participation", "training_coverage", "training_readiness_gap",
            "ticket_share_access", "comment_theme_training"} <= kinds["wilson"]
    assert {"helpdesk_satisfaction", "comment_sentiment", "time_saved_fte",
            "skills_change_teaching_learning"} <= kinds["mean"]
    assert kinds["none"] == {"median_hours_to_resolve", "backlog_growth", "skills_mean_baseline",
                             "skills_mean_follow_up", "skills_change", "skills_group_gap"}


def test_the_second_moment_is_one_more_component_so_incremental_refreshes_keep_it():
    parts = decompose(REGISTRY["enps"])
    assert [c.sql for c in parts.components] == ["sum(direction)", "count(*)", "count(distinct subject)",
                                                 f"sum({ROW_HASH_SQL})", "sum(direction * direction)"]
    assert parts.interval_sql == ("(case when k5 > 0 then c5 end)", "null", "null", "100")
    for m in all_metrics().values():
        if m.interval != "none":
            assert decomposed(m) is not None and len(decomposed(m).interval_sql) == 4, m.id
    assert interval_sql(REGISTRY["net_experience_score"])[1:3] == ("sum(direction * counted)",
                                                                   "sum(counted * counted)")


def _cells(*rows: tuple[str, float, float, int, float, float, bool]) -> pd.DataFrame:
    return pd.DataFrame([{"metric_id": "enps", "grain": "week", "period": "2026-03-02", "segment_type": "org_unit",
                          "segment_value": unit, "value": value, "numerator": num, "denominator": 10.0, "n": n,
                          "ci_low": low, "ci_high": high, "suppressed": hidden}
                         for unit, value, num, n, low, high, hidden in rows])


def test_a_cell_shown_with_the_statistics_it_last_showed_keeps_the_interval_it_last_showed():
    """Two people swapping a promoter and a detractor for passives leave value, numerator, denominator and n
    as they were but narrow the interval: showing the new one would tell the reader they did."""
    cells = _cells(("same", 30.0, 3.0, 10, -10.0, 60.0, False), ("moved", 40.0, 4.0, 10, 0.0, 70.0, False),
                   ("never", 30.0, 3.0, 10, -10.0, 60.0, False), ("hidden", 30.0, 3.0, 10, -10.0, 60.0, True))
    previous = pd.DataFrame([
        {"grain": "week", "period": "2026-03-02", "segment_type": "org_unit", "segment_value": unit,
         "shown_value": 30.0, "shown_numerator": 3.0, "shown_denominator": 10.0, "shown_n": 10,
         "shown_ci_low": low, "shown_ci_high": high}
        for unit, low, high in (("same", -19.0, 65.0), ("moved", -19.0, 65.0), ("never", None, None),
                                ("hidden", -19.0, 65.0))]).set_index(KEY)

    out = hold_intervals(cells, previous).set_index("segment_value")

    assert tuple(out.loc["same", ["ci_low", "ci_high"]]) == (-19.0, 65.0)
    assert tuple(out.loc["moved", ["ci_low", "ci_high"]]) == (0.0, 70.0)  # a revision shown: its own interval
    assert tuple(out.loc["never", ["ci_low", "ci_high"]]) == (-10.0, 60.0)  # none shown before to compare
    assert tuple(out.loc["hidden", ["ci_low", "ci_high"]]) == (-10.0, 60.0)  # history gets none of it anyway
    assert tuple(cells.loc[0, ["ci_low", "ci_high"]]) == (-10.0, 60.0)  # the input is left alone
