"""XmR limits, the special-cause rules, phases, hidden weeks and the icons, on hand-computed series.

Most series start with a baseline of 12 weeks alternating 10, 12, ... (week 0 = 10, week 11 = 12):
mean 11, every moving range 2, so the mean moving range is 2, the process limits 11 ± 2.66 × 2 =
5.68 .. 16.32 and the near (2 sigma) limits 11 ± 1.7733 × 2 = 7.4533 .. 14.5467. With `baseline_weeks=12`
later weeks are judged against those limits. Weeks are Mondays from 5 Jan 2026.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from warehouse.spc import (
    COMMON_CAUSE,
    CONCERNING,
    FAILING,
    HIGH,
    HIT_AND_MISS,
    IMPROVING,
    LOW,
    PASSING,
    Limits,
    assurance,
    xmr_chart,
    xmr_limits,
)

W0 = date(2026, 1, 5)
BASELINE = [10.0, 12.0] * 6


def wk(i: int) -> date:
    return W0 + timedelta(weeks=i)


def series(values: list[float | None]) -> list[tuple[date, float | None]]:
    return [(wk(i), v) for i, v in enumerate(values)]


def flagged(chart, signal: str) -> list[int]:
    return [i for i, p in enumerate(chart.points) if getattr(p, signal)]


def chart_after_baseline(tail: list[float | None], better: str = "higher", **kwargs):
    return xmr_chart(series(BASELINE + tail), better, baseline_weeks=12, **kwargs)


# --- limits --------------------------------------------------------------------------------------

def test_limits_are_the_mean_plus_and_minus_2_66_mean_moving_ranges_with_near_limits_at_two_thirds():
    chart = xmr_chart(series(BASELINE), "higher")
    limits = chart.points[0].limits
    assert limits is not None
    assert (limits.mean, limits.mr_mean, limits.points, limits.moving_ranges) == (11, 2, 12, 11)
    assert limits.upper == pytest.approx(16.32) and limits.lower == pytest.approx(5.68)
    assert limits.upper_near == pytest.approx(11 + 2 / 3 * 2.66 * 2)  # 14.5467
    assert limits.lower_near == pytest.approx(7.4533, abs=1e-4)
    # Alternating values: no run, no trend, nothing near or beyond the limits.
    assert all(p.signals == () and p.variation == COMMON_CAUSE for p in chart.points)
    assert chart.variation_icon == "common_cause"


def test_a_moving_range_at_or_above_3_267_times_the_mean_is_screened_out_once():
    # Ranges: ten of 2 and one of 18: mean 38 / 11 = 3.4545; 3.267 x 3.4545 = 11.29, so 18 goes and the
    # mean moving range is 20 / 10 = 2. Mean of the values: (6 x 10 + 5 x 12 + 30) / 12 = 12.5.
    values = [*BASELINE[:11], 30.0]
    screened = xmr_limits(values, [2.0] * 10 + [18.0])
    assert screened == Limits(mean=12.5, mr_mean=2.0, points=12, moving_ranges=10)
    kept = xmr_limits(values, [2.0] * 10 + [18.0], screen_outliers=False)
    assert kept is not None and kept.mr_mean == pytest.approx(38 / 11) and kept.moving_ranges == 11
    # Upper limit 12.5 + 2.66 x 2 = 17.82: 30 is beyond it, high.
    chart = xmr_chart(series(values), "higher")
    assert flagged(chart, "beyond_limits") == [11] and chart.points[11].special_cause == HIGH


def test_a_flat_series_keeps_its_zero_moving_ranges_and_any_move_is_beyond_the_limits():
    # Twelve 10s: mean 10, mean moving range 0, limits 10 .. 10; 10.5 afterwards is beyond them.
    chart = xmr_chart(series([10.0] * 12 + [10.5]), "higher", baseline_weeks=12)
    limits = chart.points[0].limits
    assert limits is not None and (limits.mean, limits.upper, limits.lower) == (10, 10, 10)
    assert [p.signals for p in chart.points[:12]] == [()] * 12  # on the mean: no side, no run
    assert chart.points[12].signals == ("beyond_limits",)


def test_no_limits_without_a_value_and_a_moving_range():
    assert xmr_limits([], []) is None
    assert xmr_limits([5.0], []) is None


def test_a_phase_with_fewer_than_min_points_published_values_has_no_limits_and_no_signals():
    chart = xmr_chart(series(BASELINE[:11] + [40.0]), "higher", min_points=13)
    assert all(p.limits is None and p.signals == () and p.variation is None for p in chart.points)
    assert chart.variation_icon is None and chart.assurance(0) is None
    assert xmr_chart(series(BASELINE[:11] + [40.0]), "higher").points[11].beyond_limits  # 12 are enough


# --- the rules -----------------------------------------------------------------------------------

def test_beyond_limits_flags_values_above_the_upper_or_below_the_lower_limit_only():
    # 16.32 and 5.68 are the limits: 16.3 and 5.7 are inside, 17 and 5 beyond.
    chart = chart_after_baseline([16.3, 17.0, 12.0, 5.7, 5.0])
    assert flagged(chart, "beyond_limits") == [13, 16]
    assert (chart.points[13].special_cause, chart.points[16].special_cause) == (HIGH, LOW)
    assert (chart.points[13].variation, chart.points[16].variation) == (IMPROVING, CONCERNING)


def test_a_shift_is_seven_or_more_values_on_one_side_of_the_mean():
    # Week 11 (12) and the seven weeks after it are above the mean 11: a run of 8, all flagged; the values
    # stay inside the near limits and do not rise or fall 7 weeks running.
    chart = chart_after_baseline([12.0, 13.0, 12.0, 13.0, 12.0, 13.0, 12.0])
    assert flagged(chart, "shift") == list(range(11, 19))
    assert flagged(chart, "trend") == flagged(chart, "two_in_three") == flagged(chart, "beyond_limits") == []
    assert {chart.points[i].special_cause for i in range(11, 19)} == {HIGH}


def test_six_values_on_one_side_are_no_shift_and_a_value_on_the_mean_ends_the_run():
    assert flagged(chart_after_baseline([12.0, 13.0, 12.0, 13.0, 12.0]), "shift") == []  # weeks 11..16: 6
    # 11 is the mean: weeks 11..14 (4) and 16..19 (4) are separate runs.
    assert flagged(chart_after_baseline([12.0, 13.0, 12.0, 11.0, 13.0, 12.0, 13.0, 12.0]), "shift") == []


def test_the_shift_length_is_a_parameter():
    # Weeks 11..16 are 6 above the mean: a shift when 6 are enough.
    assert flagged(chart_after_baseline([12.0, 13.0, 12.0, 13.0, 12.0], shift_points=6), "shift") == list(
        range(11, 17))


def test_a_trend_is_seven_values_each_higher_than_the_last_whatever_their_side_of_the_mean():
    # Week 11 is 12, then 8 (a fall), then 8, 9, 10, 11, 12, 13, 14 rise six times: weeks 12..18 are a rising
    # trend (high), though 8, 9 and 10 are below the mean and 11 is on it.
    chart = chart_after_baseline([8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0])
    assert flagged(chart, "trend") == list(range(12, 19))
    assert [chart.points[i].special_cause for i in range(12, 19)] == [HIGH] * 7
    assert chart.points[12].side == LOW and chart.points[15].side is None
    # For a metric where lower is better the same rise is concerning.
    lower = chart_after_baseline([8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0], better="lower")
    assert lower.points[18].variation == CONCERNING and lower.variation_icon == "concerning_high"


def test_six_rising_values_are_no_trend_unless_six_are_enough_and_a_repeat_ends_a_trend():
    rising6 = [9.0, 10.0, 11.0, 12.0, 13.0, 14.0]  # after week 11's 12: 12 -> 9 falls, then 6 values rise
    assert flagged(chart_after_baseline(rising6), "trend") == []
    assert flagged(chart_after_baseline(rising6, trend_points=6), "trend") == list(range(12, 18))
    # 9, 10, 11, 11, 12, 13, 14: the repeated 11 splits the rise into 3 and 4 values.
    assert flagged(chart_after_baseline([9.0, 10.0, 11.0, 11.0, 12.0, 13.0, 14.0]), "trend") == []


def test_falling_values_make_a_low_trend_and_a_value_ending_one_trend_and_starting_another_takes_the_second():
    # NHSRplotthedots' case c(2, 1:7, 3) with limits from all 9 values: 1..7 rise (weeks 1..7).
    rise = xmr_chart(series([2.0, 1, 2, 3, 4, 5, 6, 7, 3]), "higher", min_points=2)
    assert flagged(rise, "trend") == list(range(1, 8))
    # 1..7 rise, then 6..0 fall: week 6 (7) ends the rise and starts the fall, and is low (falling).
    peak = xmr_chart(series([1.0, 2, 3, 4, 5, 6, 7, 6, 5, 4, 3, 2, 1]), "higher", min_points=2)
    assert flagged(peak, "trend") == list(range(13))
    assert [p.trend_direction for p in peak.points] == [HIGH] * 6 + [LOW] * 7


def test_two_in_three_flags_two_of_three_values_beyond_the_near_limits_on_one_side():
    # 15 is beyond the near limit 14.5467 (inside 16.32); 11.5 is above the mean but not near: weeks 12 and 14
    # are flagged, week 13 is not.
    chart = chart_after_baseline([15.0, 11.5, 15.0])
    assert flagged(chart, "two_in_three") == [12, 14]
    assert chart.points[14].special_cause == HIGH and chart.points[14].variation == IMPROVING
    # Low side: 7 is below the near limit 7.4533, 10 below the mean: weeks 12 and 13 (week 11's 12 is above).
    assert flagged(chart_after_baseline([7.0, 7.0, 10.0]), "two_in_three") == [12, 13]


def test_two_in_three_needs_all_three_on_one_side_and_counts_no_value_beyond_the_limits():
    # 15, 10, 15: the middle value is below the mean.
    assert flagged(chart_after_baseline([10.0, 15.0, 10.0, 15.0]), "two_in_three") == []
    # 17 is beyond the limits (flagged as such): with one near value it is no two in three (as NHSRplotthedots).
    chart = chart_after_baseline([10.0, 17.0, 15.0, 10.0])
    assert flagged(chart, "two_in_three") == [] and flagged(chart, "beyond_limits") == [13]


def test_the_side_of_a_special_cause_is_decided_by_beyond_limits_then_trend_then_two_in_three_then_shift():
    # 17, 15, 14, 13, 12, 11.5, 11.2 fall six times (weeks 12..18, low); all of weeks 11..18 are above the mean
    # (a shift, high); 17 is beyond 16.32 (high). Week 12 is high (beyond limits first), week 13 low (the
    # trend before the shift).
    chart = chart_after_baseline([17.0, 15.0, 14.0, 13.0, 12.0, 11.5, 11.2])
    assert flagged(chart, "trend") == list(range(12, 19))
    assert flagged(chart, "shift") == list(range(11, 19))
    assert flagged(chart, "beyond_limits") == [12]
    assert flagged(chart, "two_in_three") == []  # 15 is the only near value: 17 is beyond, not near
    assert chart.points[12].special_cause == HIGH and chart.points[12].direction("trend") == LOW
    assert chart.points[13].special_cause == LOW and chart.points[13].direction("shift") == HIGH
    assert chart.points[11].special_cause == HIGH  # only the shift flags week 11


def test_a_series_without_signals_is_common_cause_throughout():
    chart = chart_after_baseline([11.5, 10.5, 12.5, 9.5, 11.0, 13.0, 9.0, 12.0])
    assert [p.variation for p in chart.points] == [COMMON_CAUSE] * 20
    assert chart.variation_icon == "common_cause"


# --- hidden and missing weeks --------------------------------------------------------------------

def test_a_hidden_week_breaks_a_run_and_is_never_judged():
    shown = chart_after_baseline([12.0, 13.0, 12.0, 13.0, 13.0, 12.0, 13.0, 12.0])
    assert flagged(shown, "shift") == list(range(11, 20))
    hidden = chart_after_baseline([12.0, 13.0, 12.0, None, 13.0, 12.0, 13.0, 12.0])
    assert flagged(hidden, "shift") == []  # weeks 11..14 and 16..19: two runs of 4
    assert hidden.points[15].value is None and hidden.points[15].variation is None
    assert hidden.points[15].signals == () and hidden.points[15].icon is None


def test_a_missing_week_breaks_a_run_like_a_hidden_one():
    values = BASELINE + [12.0, 13.0, 12.0, 13.0, 13.0, 12.0, 13.0, 12.0]
    gappy = [(wk(i), v) for i, v in enumerate(values) if i != 15]
    chart = xmr_chart(gappy, "higher", baseline_weeks=12)
    assert [p.week for p in chart.points if p.shift] == []


def test_hidden_weeks_take_no_part_in_the_mean_or_the_moving_ranges():
    # 10, 12, 10, (hidden), 20, 22, 20, 22, 20, 22, 20, 22, 20: 12 published values, sum 220, mean 18.333;
    # ranges 2, 2 before the gap and eight of 2 after it: 10 ranges of 2 (bridging the gap would add |20 - 10|
    # = 10 and give 30 / 11 = 2.727).
    values = [10.0, 12.0, 10.0, None, 20.0, 22.0, 20.0, 22.0, 20.0, 22.0, 20.0, 22.0, 20.0]
    limits = xmr_chart(series(values), "higher", screen_outliers=False).points[0].limits
    assert limits is not None
    assert limits.mean == pytest.approx(220 / 12) and limits.points == 12
    assert (limits.mr_mean, limits.moving_ranges) == (2, 10)


def test_the_icon_of_a_chart_whose_latest_week_is_hidden_is_none():
    chart = chart_after_baseline([12.0, None])
    assert chart.latest is not None and chart.latest.week == wk(13)
    assert chart.variation_icon is None


# --- phases and baselines ------------------------------------------------------------------------

def test_a_change_point_starts_a_phase_with_limits_of_its_own_and_runs_do_not_cross_it():
    # Before go-live 10/12 alternating (mean 11, mean range 2); from week 12, 20/24 alternating (mean 22, mean
    # range 4: the jump 12 -> 20 across the change point is no moving range); limits 22 ± 10.64.
    values = BASELINE + [20.0, 24.0] * 6
    go_live = wk(12) + timedelta(days=2)  # a Wednesday: the phase starts with its week
    chart = xmr_chart(series(values), "higher", phase_starts=[go_live])
    before, after = chart.points[0].limits, chart.points[12].limits
    assert before is not None and after is not None
    assert (before.mean, before.mr_mean, after.mean, after.mr_mean) == (11, 2, 22, 4)
    assert after.upper == pytest.approx(32.64) and after.lower == pytest.approx(11.36)
    assert {p.phase_start for p in chart.points} == {wk(0), wk(12)}
    assert all(p.signals == () for p in chart.points)
    # One phase over both: mean (132 + 264) / 24 = 16.5, every value of each half on one side: two shifts.
    one = xmr_chart(series(values), "higher")
    assert one.points[0].limits is not None and one.points[0].limits.mean == 16.5
    assert flagged(one, "shift") == list(range(24))
    assert one.points[0].special_cause == LOW and one.points[23].special_cause == HIGH


def test_a_phase_too_short_for_limits_shows_values_without_signals():
    chart = xmr_chart(series(BASELINE + [40.0, 41.0]), "higher", phase_starts=[wk(12)])
    assert chart.points[11].limits is not None and chart.points[12].limits is None
    assert chart.points[12].signals == () and chart.variation_icon is None


def test_a_baseline_fixes_the_limits_that_later_weeks_are_judged_against():
    # Baseline weeks 0..11 only: 17 in week 12 is beyond 16.32. Limits from all 13 weeks would be wider:
    # mean 149 / 13 = 11.46, ranges 2 x 11 and 5: 27 / 12 = 2.25, upper 11.46 + 5.985 = 17.45 > 17.
    fixed = chart_after_baseline([17.0])
    assert fixed.points[12].limits == fixed.points[0].limits and fixed.points[12].beyond_limits
    whole = xmr_chart(series(BASELINE + [17.0]), "higher")
    assert whole.points[12].limits is not None and whole.points[12].limits.upper == pytest.approx(
        149 / 13 + 2.66 * 27 / 12)
    assert not whole.points[12].beyond_limits


# --- icons ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("tail, better, icon", [
    ([17.0], "higher", "improving_high"),
    ([17.0], "lower", "concerning_high"),
    ([5.0], "higher", "concerning_low"),
    ([5.0], "lower", "improving_low"),
    ([11.5], "higher", "common_cause"),
])
def test_the_variation_icon_is_the_latest_weeks_special_cause_read_by_the_better_direction(tail, better, icon):
    assert chart_after_baseline(tail, better).variation_icon == icon


@pytest.mark.parametrize("target, better, expected", [
    (20.0, "higher", FAILING),  # above the upper limit 16.32: no value reaches it
    (3.0, "higher", PASSING),   # below the lower limit 5.68: every value beats it
    (12.0, "higher", HIT_AND_MISS),
    (20.0, "lower", PASSING),
    (3.0, "lower", FAILING),
    (16.32, "lower", HIT_AND_MISS),  # on the limit: some values may miss it
    (None, "higher", None),
])
def test_assurance_compares_the_target_with_the_process_limits(target, better, expected):
    limits = Limits(mean=11, mr_mean=2, points=12, moving_ranges=11)
    assert assurance(limits, target, better) == expected
    assert xmr_chart(series(BASELINE), better).assurance(target) == expected


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="better"):
        xmr_chart(series(BASELINE), "up")
    with pytest.raises(ValueError, match="two observations"):
        xmr_chart([(wk(0), 1.0), (wk(0), 2.0)], "higher")
    with pytest.raises(ValueError, match="baseline_weeks"):
        xmr_chart(series(BASELINE), "higher", baseline_weeks=1)
