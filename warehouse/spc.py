"""Statistical process control: XmR charts of a weekly series, read as NHS England's "Making Data Count" reads them.

An XmR chart (individuals and moving range) has a centre line, the mean of the values, and process limits at
mean ± 2.66 × the mean moving range (2.66 = 3 / d2, d2 = 1.128 for ranges of two points); the "near" limits
at two thirds of that distance stand for 2 sigma. The rules, their parameters and their order follow NHS-R's
NHSRplotthedots (v0.2.2, MIT; R/ptd_spc_standard.R, R/ptd_calculate_point_type.R,
R/ptd_calculate_assurance_type.R):

- moving ranges of at least 3.267 × their mean (the moving-range chart's upper limit) are screened out once
  before the limits are set (the package's default `screen_outliers = TRUE`);
- beyond limits: a value above the upper or below the lower process limit;
- shift: a run of `shift_points` (7) or more values on one side of the mean; a value on the mean ends it;
- trend: a run of `trend_points` (7) or more values each higher than the last, or each lower; a repeat ends it;
- two in three: two of three consecutive values beyond the near limits (between 2 and 3 sigma), all three on
  the same side of the mean; the values beyond the near limits are flagged;
- a value's special cause is high or low by the first rule that flags it in that order (beyond limits, trend,
  two in three, shift), and improving or concerning by the metric's `better` direction;
- assurance against a target, from the limits of the latest phase: consistently passing (the target lies
  beyond the limit on the worse side, so every value meets it), consistently failing (beyond the limit on the
  better side), or hit and miss (between the limits).

What this module adds, since a published series has holes:

- Only published values count. A hidden (suppressed) or missing week has no value, takes no part in the
  mean or a moving range, and breaks every run: a moving range, shift, trend or two-in-three window must be
  seen week after week to count, as the `falling`/`rising` alert rules treat gaps.
- Limits are recomputed per phase (a change point such as a go-live starts one, with the week that holds its
  date), from the phase's first `baseline_weeks` weeks when given (else all of it), and only from at least
  `min_points` published values (12 by default: NHSRplotthedots warns below 13 that limits are trial ones).
  A phase with fewer has no limits, and its values no signals. Runs never cross phases.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

LIMIT_FACTOR = 2.66  # process limits: mean ± 2.66 × mean moving range (3 sigma)
NEAR_FACTOR = 2 * LIMIT_FACTOR / 3  # near limits (2 sigma), as NHSRplotthedots' `limitclose`
MR_SCREEN_FACTOR = 3.267  # moving ranges at or above 3.267 × their mean are screened out (D4 for n = 2)
SHIFT_POINTS = 7
TREND_POINTS = 7
MIN_POINTS = 12

BEYOND_LIMITS, SHIFT, TREND, TWO_IN_THREE = "beyond_limits", "shift", "trend", "two_in_three"
SIGNALS = (BEYOND_LIMITS, SHIFT, TREND, TWO_IN_THREE)  # every rule, in the order this module lists them
PRIORITY = (BEYOND_LIMITS, TREND, TWO_IN_THREE, SHIFT)  # the rule that decides a value's side
HIGH, LOW = "high", "low"
COMMON_CAUSE, IMPROVING, CONCERNING = "common cause", "special cause improving", "special cause concerning"
PASSING, FAILING, HIT_AND_MISS = "consistently passing", "consistently failing", "hit and miss"
_WEEK = timedelta(weeks=1)


@dataclass(frozen=True)
class Limits:
    """A phase's centre line and process limits, and how many published values they rest on."""

    mean: float
    mr_mean: float  # mean moving range, after screening
    points: int  # published values behind the mean
    moving_ranges: int  # moving ranges behind mr_mean, after screening

    @property
    def upper(self) -> float:
        return self.mean + LIMIT_FACTOR * self.mr_mean

    @property
    def lower(self) -> float:
        return self.mean - LIMIT_FACTOR * self.mr_mean

    @property
    def upper_near(self) -> float:
        return self.mean + NEAR_FACTOR * self.mr_mean

    @property
    def lower_near(self) -> float:
        return self.mean - NEAR_FACTOR * self.mr_mean


@dataclass(frozen=True)
class SpcPoint:
    """One week of the chart. Flags are False, and side, variation and special cause None, for a hidden week
    and for every week of a phase without limits."""

    week: date
    value: float | None  # None: hidden (suppressed) or not published
    phase_start: date
    limits: Limits | None
    beyond_limits: bool = False
    shift: bool = False
    trend: bool = False
    two_in_three: bool = False
    side: str | None = None  # high or low: above or below the mean (None on it)
    trend_direction: str | None = None  # high (rising) or low (falling), for a value in a trend
    better: str = "higher"

    @property
    def published(self) -> bool:
        return self.value is not None

    @property
    def signals(self) -> tuple[str, ...]:
        """The rules that flag this value, in SIGNALS order."""
        return tuple(s for s in SIGNALS if getattr(self, s))

    def direction(self, signal: str) -> str | None:
        """high or low: which way `signal` points at this value (None when it does not flag it)."""
        if not getattr(self, signal):
            return None
        return self.trend_direction if signal == TREND else self.side

    @property
    def special_cause(self) -> str | None:
        """high or low, by the first flagging rule in PRIORITY order; None for common cause."""
        for signal in PRIORITY:
            if getattr(self, signal):
                return self.direction(signal)
        return None

    @property
    def variation(self) -> str | None:
        """common cause, special cause improving or special cause concerning; None without a value or limits."""
        if self.value is None or self.limits is None:
            return None
        cause = self.special_cause
        if cause is None:
            return COMMON_CAUSE
        return IMPROVING if is_improvement(cause, self.better) else CONCERNING

    @property
    def icon(self) -> str | None:
        """The Making Data Count variation icon: common_cause, improving_high, improving_low, concerning_high
        or concerning_low; None without a value or limits."""
        variation = self.variation
        if variation is None:
            return None
        if variation == COMMON_CAUSE:
            return "common_cause"
        return f"{'improving' if variation == IMPROVING else 'concerning'}_{self.special_cause}"


@dataclass(frozen=True)
class SpcChart:
    """Every week of a series from its first to its last cell, with its phase's limits and signals."""

    points: tuple[SpcPoint, ...]
    better: str

    @property
    def latest(self) -> SpcPoint | None:
        return self.points[-1] if self.points else None

    @property
    def variation_icon(self) -> str | None:
        """The icon of the latest week (None when that week is hidden or its phase has no limits)."""
        return self.latest.icon if self.latest else None

    def assurance(self, target: float | None) -> str | None:
        """Assurance against `target` from the latest phase's limits (None without a target or limits)."""
        latest = self.latest
        return assurance(latest.limits, target, self.better) if latest else None


def is_improvement(direction: str, better: str) -> bool:
    """Whether a special cause pointing `direction` (high/low) is an improvement for a metric where `better`
    is higher or lower."""
    return (direction == HIGH) == (better == "higher")


def assurance(limits: Limits | None, target: float | None, better: str) -> str | None:
    """consistently passing, consistently failing or hit and miss; None without limits or a target."""
    _check_better(better)
    if limits is None or target is None or not math.isfinite(target):
        return None
    if target > limits.upper:
        return FAILING if better == "higher" else PASSING
    if target < limits.lower:
        return PASSING if better == "higher" else FAILING
    return HIT_AND_MISS


def xmr_limits(values: Sequence[float], moving_ranges: Sequence[float], *, screen_outliers: bool = True
               ) -> Limits | None:
    """Mean and mean moving range; None without a value and a moving range. Screening drops moving ranges at
    or above 3.267 × their mean, once (all of them are kept when that mean is 0: a flat series)."""
    if not values or not moving_ranges:
        return None
    mr_mean = sum(moving_ranges) / len(moving_ranges)
    kept = list(moving_ranges)
    if screen_outliers and mr_mean > 0:
        kept = [r for r in moving_ranges if r < MR_SCREEN_FACTOR * mr_mean]
        mr_mean = sum(kept) / len(kept)
    return Limits(mean=sum(values) / len(values), mr_mean=mr_mean, points=len(values), moving_ranges=len(kept))


def week_of(day: date) -> date:
    """The Monday of the week holding `day`."""
    return day - timedelta(days=day.weekday())


def xmr_chart(observations: Iterable[tuple[date, float | None]], better: str, *,
              phase_starts: Iterable[date] = (), baseline_weeks: int | None = None, min_points: int = MIN_POINTS,
              shift_points: int = SHIFT_POINTS, trend_points: int = TREND_POINTS,
              screen_outliers: bool = True) -> SpcChart:
    """The XmR chart of weekly `(week start, value or None when hidden)` observations.

    `phase_starts`: change points (e.g. go-live dates); each starts a phase with the week that holds it, whose
    limits are computed afresh. `baseline_weeks`: the limits of each phase come from its first that many weeks
    (counted from the phase's start, or the first observation for the first phase), and later weeks are judged
    against them; None uses the whole phase.
    """
    _check_better(better)
    if min_points < 2 or shift_points < 2 or trend_points < 2:
        raise ValueError("min_points, shift_points and trend_points must each be at least 2")
    if baseline_weeks is not None and baseline_weeks < 2:
        raise ValueError("baseline_weeks must be at least 2")
    series: dict[date, float | None] = {}
    for week, value in observations:
        if week in series:
            raise ValueError(f"two observations for the week of {week}")
        series[week] = None if value is None or not math.isfinite(value) else float(value)
    weeks = sorted(series)
    starts = sorted({week_of(d) for d in phase_starts})
    points: list[SpcPoint] = []
    for phase_start, phase_weeks in _phases(weeks, starts):
        obs = [(w, series[w]) for w in phase_weeks]
        baseline_end = phase_start + baseline_weeks * _WEEK if baseline_weeks else None
        base = [(w, v) for w, v in obs if baseline_end is None or w < baseline_end]
        values = [v for _, v in base if v is not None]
        ranges = [abs(b - a) for (wa, a), (wb, b) in zip(base, base[1:], strict=False)
                  if a is not None and b is not None and wb - wa == _WEEK]
        limits = xmr_limits(values, ranges, screen_outliers=screen_outliers) if len(values) >= min_points else None
        points += _judge_phase(obs, phase_start, limits, better, shift_points, trend_points)
    return SpcChart(tuple(points), better)


def _check_better(better: str) -> None:
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', not {better!r}")


def _phases(weeks: list[date], starts: list[date]) -> list[tuple[date, list[date]]]:
    """The observed weeks grouped by phase, each with its start: the first week for the phase before any
    change point, else the change point's week."""
    groups: dict[date, list[date]] = {}
    for week in weeks:
        began = [s for s in starts if s <= week]
        groups.setdefault(began[-1] if began else weeks[0], []).append(week)
    return sorted(groups.items())


def _runs(flags: Sequence[object]) -> list[tuple[int, int]]:
    """Maximal runs of equal, non-None flags, as (first index, length)."""
    runs: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(flags) + 1):
        if i == len(flags) or flags[i] != flags[start]:
            if flags[start] is not None:
                runs.append((start, i - start))
            start = i
    return runs


def _judge_phase(obs: list[tuple[date, float | None]], phase_start: date, limits: Limits | None, better: str,
                 shift_points: int, trend_points: int) -> list[SpcPoint]:
    if limits is None:
        return [SpcPoint(w, v, phase_start, None, better=better) for w, v in obs]
    n = len(obs)
    flags: dict[str, list[bool]] = {s: [False] * n for s in SIGNALS}
    side: list[str | None] = [None] * n
    trend_dir: list[str | None] = [None] * n
    near = [False] * n
    for i, (_, v) in enumerate(obs):
        if v is None:
            continue
        side[i] = HIGH if v > limits.mean else LOW if v < limits.mean else None
        flags[BEYOND_LIMITS][i] = v > limits.upper or v < limits.lower
        near[i] = not flags[BEYOND_LIMITS][i] and (v > limits.upper_near or v < limits.lower_near)
    for block in _blocks(obs):
        sides = [side[i] for i in block]
        for first, length in _runs(sides):
            if length >= shift_points:
                for i in block[first:first + length]:
                    flags[SHIFT][i] = True
        steps: list[str | None] = []
        for a, b in zip(block, block[1:], strict=False):
            va, vb = obs[a][1], obs[b][1]
            assert va is not None and vb is not None
            steps.append(HIGH if vb > va else LOW if vb < va else None)
        for first, length in _runs(steps):  # `length` steps join length + 1 values
            if length + 1 >= trend_points:
                for i in block[first:first + length + 1]:
                    flags[TREND][i] = True
                    trend_dir[i] = steps[first]  # a value ending one trend and starting the next takes the next
        for j in range(len(block) - 2):
            window = block[j:j + 3]
            if sum(near[i] for i in window) >= 2 and side[window[0]] is not None \
                    and all(side[i] == side[window[0]] for i in window):
                for i in window:
                    flags[TWO_IN_THREE][i] = flags[TWO_IN_THREE][i] or near[i]
    return [SpcPoint(w, v, phase_start, limits, flags[BEYOND_LIMITS][i], flags[SHIFT][i], flags[TREND][i],
                     flags[TWO_IN_THREE][i], side[i], trend_dir[i], better)
            for i, (w, v) in enumerate(obs)]


def _blocks(obs: list[tuple[date, float | None]]) -> list[list[int]]:
    """Indices of published values seen week after week: a hidden or missing week ends a block."""
    blocks: list[list[int]] = []
    for i, (week, value) in enumerate(obs):
        if value is None:
            continue
        if blocks and obs[blocks[-1][-1]][0] == week - _WEEK and blocks[-1][-1] == i - 1:
            blocks[-1].append(i)
        else:
            blocks.append([i])
    return blocks
