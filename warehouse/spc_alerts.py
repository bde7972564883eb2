"""Alert rules of `type: spc`: a segment is in breach when its latest week shows special-cause variation.

A rule names the signals that count (`signals`, default all four: beyond_limits, shift, trend, two_in_three;
see warehouse/spc.py), which direction of special cause raises an alert (`variation`: concerning, the
default, improving or any; read through the metric's `better`), and how limits are set: `phase_starts`
(change points, e.g. go-live dates, or `go_live` for each wave's own date when the rule watches
go_live_wave), `baseline_weeks`, `min_points` (default 12), `shift_points` and `trend_points` (default 7).

Only what a reader may see is used, as for the other rules: suppressed cells, cells without a value and cells
from fewer than `min_n` people are gaps. They take no part in the limits and break runs, and when the latest
week is one, or its phase has too few values for limits, the segment is not judged (it neither raises nor
resolves an alert). A held revision (revision_pending) is judged on the value analytics.metric_latest shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from warehouse.spc import (
    BEYOND_LIMITS,
    HIGH,
    MIN_POINTS,
    SHIFT,
    SHIFT_POINTS,
    SIGNALS,
    TREND,
    TREND_POINTS,
    TWO_IN_THREE,
    SpcPoint,
    is_improvement,
    xmr_chart,
)

GO_LIVE = "go_live"
VARIATIONS = ("concerning", "improving", "any")
SPC_FIELDS = ("signals", "variation", "phase_starts", "baseline_weeks", "min_points", "shift_points",
              "trend_points")
MESSAGE_FIELDS = ("signal", "variation", "mean", "lower", "upper")
DEFAULT_MESSAGE = ("{metric_title} for {segment_type} {segment_value} shows {variation} variation in the week of "
                   "{period}: {value:.1f}, {signal} (mean {mean:.1f}, process limits {lower:.1f} to {upper:.1f})")
SAMPLE_FIELDS = {"signal": "above the upper process limit", "variation": "special cause concerning",
                 "mean": 1.0, "lower": 0.5, "upper": 1.4}
_WEEK = timedelta(weeks=1)


def check_spc_rule(rule: Any) -> None:
    """Complete an spc rule's defaults, or raise ValueError saying which field to fix (pydantic reports it
    with the file and rule)."""
    for name in ("condition", "threshold", "weeks"):
        if getattr(rule, name) is not None:
            raise ValueError(f"{name} is for threshold and trend rules; a type: spc rule takes signals, variation, "
                             "phase_starts, baseline_weeks, min_points, shift_points and trend_points")
    if rule.phase_starts == GO_LIVE and rule.segment_type != "go_live_wave":
        raise ValueError("phase_starts: go_live starts a phase at each wave's own go-live date, so it needs "
                         f"segment_type go_live_wave, not {rule.segment_type}; list the dates instead "
                         "(phase_starts: [2026-09-21])")
    if rule.signals is not None and len(set(rule.signals)) != len(rule.signals):
        raise ValueError("signals names a signal twice")
    rule.signals = list(rule.signals or SIGNALS)
    rule.variation = rule.variation or "concerning"
    rule.min_points = rule.min_points or MIN_POINTS
    rule.shift_points = rule.shift_points or SHIFT_POINTS
    rule.trend_points = rule.trend_points or TREND_POINTS
    if rule.baseline_weeks is not None and rule.baseline_weeks < rule.min_points:
        raise ValueError(f"baseline_weeks ({rule.baseline_weeks}) is shorter than min_points ({rule.min_points}): "
                         "the limits could never be set; lengthen the baseline or lower min_points")


def parse_phase_starts(value: Any) -> Any:
    """`go_live` or a list of dates (YAML reads YYYY-MM-DD as a date); ValueError saying so otherwise."""
    if value is None or value == GO_LIVE:
        return value
    if isinstance(value, date):
        value = [value]
    if not isinstance(value, list):
        raise ValueError(f"phase_starts is go_live or a list of dates (phase_starts: [2026-09-21]), not {value!r}")
    days = []
    for item in value:
        if isinstance(item, str):
            try:
                item = date.fromisoformat(item.strip())
            except ValueError:
                raise ValueError(f"phase_starts: {item!r} is not a date; write YYYY-MM-DD") from None
        if not isinstance(item, date):
            raise ValueError(f"phase_starts: {item!r} is not a date; write YYYY-MM-DD")
        days.append(item)
    return days


def template_hint(rule: Any) -> str:
    """Why a message template cannot be filled in, where that is down to the rule's type."""
    if rule.type == "spc" and any(f"{{{f}" in rule.template for f in ("threshold", "weeks", "start_value")):
        return " (threshold, weeks and start_value are empty for type: spc rules)"
    if rule.type != "spc" and any(f"{{{f}" in rule.template for f in MESSAGE_FIELDS):
        return " (signal, variation, mean, lower and upper are for type: spc rules)"
    return ""


def check_not_spc_fields(rule: Any) -> None:
    """A threshold or trend rule must not carry spc options (a typo for `type: spc` would go unnoticed)."""
    present = [name for name in SPC_FIELDS if getattr(rule, name) is not None]
    if present:
        raise ValueError(f"{', '.join(present)} {'is' if len(present) == 1 else 'are'} for type: spc rules; "
                         "add type: spc or remove them")


def metric_problems(rule: Any, metric: Any) -> list[str]:
    """Problems of an spc rule with its metric: a cumulative metric (to date) has no process to chart."""
    if rule.type == "spc" and getattr(metric, "cumulative", False):
        return [f"field 'type': {metric.id} is cumulative (each week counts everything to date), so its weeks "
                "are not independent and SPC limits do not apply; use a below/above rule"]
    return []


def describe(rule: Any) -> str:
    phases = "" if not rule.phase_starts else (
        ", phases from each wave's go-live" if rule.phase_starts == GO_LIVE
        else f", phases from {', '.join(d.isoformat() for d in rule.phase_starts)}")
    baseline = f", limits from the first {rule.baseline_weeks} weeks" if rule.baseline_weeks else ""
    return f"spc {rule.variation}: {', '.join(rule.signals)}{phases}{baseline}"


# --- judging one segment (pure) ------------------------------------------------------------------

@dataclass(frozen=True)
class SpcJudgement:
    state: str  # breach | clear | unknown (the literals of warehouse/alerts.py)
    point: SpcPoint | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # signal, variation, mean, lower, upper


def judge_spc(rule: Any, cells: Sequence[Any], better: str, phase_starts: Sequence[date] = ()) -> SpcJudgement:
    """Whether the latest of one segment's weekly cells (oldest first; objects with period_start, value, n and
    suppressed) shows special cause of the rule's signals and variation."""
    def usable(c: Any) -> bool:
        return not c.suppressed and c.value is not None and c.n is not None and c.n >= rule.min_n

    if not cells:
        return SpcJudgement("unknown")
    chart = xmr_chart([(c.period_start, float(c.value) if usable(c) else None) for c in cells], better,
                      phase_starts=phase_starts, baseline_weeks=rule.baseline_weeks, min_points=rule.min_points,
                      shift_points=rule.shift_points, trend_points=rule.trend_points)
    last = chart.latest
    if last is None or last.value is None or last.limits is None:
        return SpcJudgement("unknown", last)
    wanted = [s for s in rule.signals if _counts(last, s, rule.variation, better)]
    if not wanted:
        return SpcJudgement("clear", last)
    direction = last.direction(wanted[0])
    assert direction is not None
    kind = "special cause improving" if is_improvement(direction, better) else "special cause concerning"
    fields = {"signal": "; ".join(_signal_text(chart.points, s) for s in wanted), "variation": kind,
              "mean": last.limits.mean, "lower": last.limits.lower, "upper": last.limits.upper}
    return SpcJudgement("breach", last, fields)


def _counts(point: SpcPoint, signal: str, variation: str, better: str) -> bool:
    direction = point.direction(signal)
    if direction is None:
        return False
    return variation == "any" or is_improvement(direction, better) == (variation == "improving")


def _run_back(points: Sequence[SpcPoint], signal: str) -> int:
    """How many weeks running, up to the latest, `signal` has flagged values pointing the latest one's way."""
    last = points[-1]
    count = 1
    for newer, older in zip(reversed(points), list(reversed(points))[1:], strict=False):
        if older.week != newer.week - _WEEK or older.phase_start != last.phase_start \
                or older.direction(signal) != last.direction(signal):
            break
        count += 1
    return count


def _signal_text(points: Sequence[SpcPoint], signal: str) -> str:
    last = points[-1]
    up = last.direction(signal) == HIGH
    if signal == BEYOND_LIMITS:
        return "above the upper process limit" if up else "below the lower process limit"
    if signal == SHIFT:
        return f"{_run_back(points, signal)} weeks running {'above' if up else 'below'} the mean"
    if signal == TREND:
        return f"{'rising' if up else 'falling'} {_run_back(points, signal)} weeks running"
    assert signal == TWO_IN_THREE
    return f"2 of 3 weeks near the {'upper' if up else 'lower'} process limit"


# --- what the warehouse says -----------------------------------------------------------------------

def phase_starts_by_segment(conn: sa.Connection, rule: Any) -> dict[str, tuple[date, ...]]:
    """Change points per segment value: each wave's go-live date for `phase_starts: go_live` (waves without
    one have a single phase); otherwise the rule's dates for every segment (key '*')."""
    if rule.phase_starts == GO_LIVE:
        rows = conn.execute(sa.text(
            "select go_live_wave, go_live_date from core.dim_wave where go_live_date is not null")).all()
        return {str(wave): (day,) for wave, day in rows}
    return {"*": tuple(rule.phase_starts or ())}
