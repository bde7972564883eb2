"""Benefit status from the measured trajectory, on hand-computed trajectories.

Weeks are Mondays; the latest week is 16 Nov 2026 (x = 0), earlier weeks are x = -1, -2, ...; the trend is
the least-squares line through the last 6 weeks, projected to the target date.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from warehouse.benefits import AT_RISK, NO_DATA, OFF_TRACK, ON_TRACK, benefit_status

LATEST = date(2026, 11, 16)
TODAY = date(2026, 11, 22)


def weeks(*values: float | None, latest: date = LATEST) -> list[tuple[date, float | None]]:
    """Values for consecutive weeks ending with `latest`."""
    n = len(values)
    return [(latest - timedelta(weeks=n - 1 - i), v) for i, v in enumerate(values)]


def in_weeks(k: int) -> date:
    return LATEST + timedelta(weeks=k)


def test_given_a_rising_line_that_reaches_the_target_when_judged_then_it_is_on_track_with_the_projection():
    # 10, 12, 14: slope 2 a week, 14 now; in 10 weeks 14 + 20 = 34 >= 30.
    st = benefit_status(weeks(10, 12, 14), baseline=10, target=30, target_date=in_weeks(10), better="higher",
                        today=TODAY)
    assert st.status == ON_TRACK
    assert st.projected_value == pytest.approx(34)
    assert st.slope_per_week == pytest.approx(2)
    assert (st.current_value, st.current_period, st.points) == (14, LATEST, 3)


def test_given_a_rising_line_too_slow_for_the_target_when_judged_then_it_is_at_risk():
    # 10, 11, 12: slope 1; in 10 weeks 22 < 30, but 12 is above the baseline 10 and heading the right way.
    st = benefit_status(weeks(10, 11, 12), baseline=10, target=30, target_date=in_weeks(10), better="higher",
                        today=TODAY)
    assert st.status == AT_RISK
    assert st.projected_value == pytest.approx(22)
    assert "misses the target 30" in st.reason


def test_given_a_value_worse_than_the_baseline_when_the_projection_misses_then_it_is_off_track():
    st = benefit_status(weeks(9, 8.5, 8), baseline=10, target=30, target_date=in_weeks(10), better="higher",
                        today=TODAY)
    assert st.status == OFF_TRACK
    assert st.projected_value == pytest.approx(3)
    assert "worse than the baseline" in st.reason


def test_given_a_value_above_the_baseline_when_the_trend_heads_away_from_the_target_then_it_is_off_track():
    # 20, 19, 18: above the baseline 10 but falling 1 a week: 8 in 10 weeks.
    st = benefit_status(weeks(20, 19, 18), baseline=10, target=30, target_date=in_weeks(10), better="higher",
                        today=TODAY)
    assert st.status == OFF_TRACK
    assert st.projected_value == pytest.approx(8)
    assert "heads away" in st.reason


def test_given_a_flat_line_already_above_the_target_when_judged_then_it_is_on_track():
    st = benefit_status(weeks(31, 31, 31), baseline=10, target=30, target_date=in_weeks(10), better="higher",
                        today=TODAY)
    assert st.status == ON_TRACK
    assert st.slope_per_week == 0
    assert st.projected_value == pytest.approx(31)


def test_given_noisy_values_when_fitted_then_the_least_squares_line_decides_exactly_at_the_target():
    # x = -2, -1, 0; y = 10, 14, 12: slope 1, fitted value now 13 (not the measured 12); in 4 weeks 17.
    on = benefit_status(weeks(10, 14, 12), baseline=10, target=17, target_date=in_weeks(4), better="higher",
                        today=TODAY)
    assert on.status == ON_TRACK
    assert on.projected_value == pytest.approx(17)
    assert on.current_value == 12
    risk = benefit_status(weeks(10, 14, 12), baseline=10, target=17.5, target_date=in_weeks(4), better="higher",
                          today=TODAY)
    assert risk.status == AT_RISK


def test_given_a_suppressed_week_inside_the_window_when_fitted_then_it_is_left_out():
    # Weeks x = -3, -1, 0 with 10, 14, 16 (x = -2 suppressed): slope 2, fitted value now 16; 5 weeks on 26.
    st = benefit_status(weeks(10, None, 14, 16), baseline=10, target=26, target_date=in_weeks(5),
                        better="higher", today=TODAY)
    assert st.status == ON_TRACK
    assert st.points == 3
    assert st.slope_per_week == pytest.approx(2)
    assert st.projected_value == pytest.approx(26)


def test_given_old_values_outside_the_window_when_fitted_then_only_the_last_six_weeks_count():
    # A spike 8-9 weeks ago would drag the line down; the last 6 weeks are flat at 20.
    values = weeks(90, 90, 20, 20, 20, 20, 20, 20, 20)
    st = benefit_status(values, baseline=10, target=30, target_date=in_weeks(10), better="higher", today=TODAY)
    assert st.status == AT_RISK
    assert st.points == 6
    assert st.projected_value == pytest.approx(20)


@pytest.mark.parametrize("values, why", [
    ([], "no values"),
    (weeks(10, 11, None), "suppressed or missing"),
    (weeks(None, 11, 12), "only 2 of the last 6 weeks"),
    (weeks(12), "only 1 of the last 6 weeks"),
])
def test_given_missing_or_suppressed_values_when_judged_then_there_is_no_data(values, why):
    # The latest week is over (judged on the Monday after it).
    st = benefit_status(values, baseline=10, target=30, target_date=in_weeks(10), better="higher",
                        today=LATEST + timedelta(weeks=1))
    assert st.status == NO_DATA
    assert why in st.reason
    assert st.projected_value is None


def test_given_a_week_still_under_way_with_no_value_yet_when_judged_then_the_week_before_is_the_latest():
    # Sunday 22 Nov: the week of 16 Nov is under way and its cell hidden (too few answers so far). The weeks
    # before, 10, 12, 14, are judged as if it were not there: 14 now, +2 a week, 14 + 2 * 11 = 36 >= 30.
    st = benefit_status(weeks(10, 12, 14, None), baseline=10, target=30, target_date=in_weeks(10),
                        better="higher", today=TODAY)
    assert st.status == ON_TRACK
    assert st.current_period == LATEST - timedelta(weeks=1) and st.current_value == 14
    assert st.projected_value == pytest.approx(36)
    # A week under way with a value is the latest; a week over with none is no data.
    assert benefit_status(weeks(10, 12, 14, 16), baseline=10, target=30, target_date=in_weeks(10),
                          better="higher", today=TODAY).current_period == LATEST
    assert benefit_status(weeks(10, 12, 14, None), baseline=10, target=30, target_date=in_weeks(10),
                          better="higher", today=LATEST + timedelta(weeks=1)).status == NO_DATA


def test_given_lower_is_better_when_demand_falls_fast_enough_then_it_is_on_track():
    # Tickets per 100 staff 20, 18, 16: slope -2; in 6 weeks 4 <= 5.
    st = benefit_status(weeks(20, 18, 16), baseline=20, target=5, target_date=in_weeks(6), better="lower",
                        today=TODAY)
    assert st.status == ON_TRACK
    assert st.projected_value == pytest.approx(4)


def test_given_lower_is_better_when_demand_falls_too_slowly_then_it_is_at_risk():
    st = benefit_status(weeks(20, 19.5, 19), baseline=20, target=5, target_date=in_weeks(6), better="lower",
                        today=TODAY)
    assert st.status == AT_RISK
    assert st.projected_value == pytest.approx(16)


def test_given_lower_is_better_when_demand_rises_above_the_baseline_then_it_is_off_track():
    st = benefit_status(weeks(20, 21, 22), baseline=20, target=5, target_date=in_weeks(6), better="lower",
                        today=TODAY)
    assert st.status == OFF_TRACK
    assert st.projected_value == pytest.approx(28)


def test_given_lower_is_better_when_demand_is_below_the_baseline_but_rising_then_it_is_off_track():
    st = benefit_status(weeks(10, 11, 12), baseline=20, target=5, target_date=in_weeks(6), better="lower",
                        today=TODAY)
    assert st.status == OFF_TRACK
    assert "heads away" in st.reason


def test_given_a_target_date_in_the_past_when_judged_then_the_latest_value_decides():
    met = benefit_status(weeks(28, 29, 31), baseline=10, target=30, target_date=date(2026, 11, 1),
                         better="higher", today=TODAY)
    assert met.status == ON_TRACK
    assert met.projected_value == 31
    missed = benefit_status(weeks(27, 28, 29), baseline=10, target=30, target_date=date(2026, 11, 1),
                            better="higher", today=TODAY)
    assert missed.status == OFF_TRACK
    assert "has passed" in missed.reason


def test_given_weeks_in_any_order_when_judged_then_they_are_sorted_by_week():
    st = benefit_status(list(reversed(weeks(10, 12, 14))), baseline=10, target=30, target_date=in_weeks(10),
                        better="higher", today=TODAY)
    assert (st.status, st.current_value) == (ON_TRACK, 14)


def test_given_an_unknown_direction_when_judged_then_it_is_refused():
    with pytest.raises(ValueError, match="higher"):
        benefit_status(weeks(1, 2, 3), baseline=1, target=3, target_date=in_weeks(2), better="up", today=TODAY)
