"""Pure helpers over metric cells: picking, grouping and pooling published values.

Pooling several weeks of a segment adds the published numerators and denominators; suppressed weeks are
left out and counted, so the page can say how many weeks a pooled value rests on. A pooled value is a
function of published cells only, so it reveals nothing the weekly cells do not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from reporting.data import Cell


@dataclass(frozen=True)
class Pooled:
    value: float | None
    weeks: int  # weeks with a published value behind `value`
    suppressed_weeks: int

    @property
    def suppressed(self) -> bool:
        """Every week behind it was suppressed: there is nothing to show but the marker."""
        return self.weeks == 0 and self.suppressed_weeks > 0


def pick(cells: Iterable[Cell], metric_id: str | None = None, segment_type: str | None = None,
         segment_value: str | None = None) -> list[Cell]:
    return [c for c in cells if (metric_id is None or c.metric_id == metric_id)
            and (segment_type is None or c.segment_type == segment_type)
            and (segment_value is None or c.segment_value == segment_value)]


def segment_values(cells: Iterable[Cell], segment_type: str) -> list[str]:
    """Segment values present, sorted for display."""
    return sorted({c.segment_value for c in cells if c.segment_type == segment_type})


def latest_week(cells: Iterable[Cell]) -> date | None:
    weeks = [c.period_start for c in cells if c.period_start is not None]
    return max(weeks) if weeks else None


def at_week(cells: Iterable[Cell], week: date | None) -> dict[str, Cell]:
    """The cells of one week, by segment value."""
    return {c.segment_value: c for c in cells if c.period_start == week}


def recent_weeks(cells: Iterable[Cell], count: int) -> list[date]:
    weeks = sorted({c.period_start for c in cells if c.period_start is not None})
    return weeks[-count:]


def pooled(cells: Iterable[Cell]) -> Pooled:
    """Sum of published numerators over sum of published denominators (times 100 for percentages) when every
    value is that ratio; otherwise the mean of the published values."""
    cells = list(cells)
    shown = [c for c in cells if not c.suppressed and c.value is not None]
    hidden = sum(1 for c in cells if c.suppressed)
    if not shown:
        return Pooled(None, 0, hidden)
    scale = ratio_scale(shown)
    if scale is not None:
        total = sum(c.denominator or 0.0 for c in shown)
        return Pooled(scale * sum(c.numerator or 0.0 for c in shown) / total, len(shown), hidden)
    return Pooled(sum(c.value or 0.0 for c in shown) / len(shown), len(shown), hidden)


def ratio_scale(cells: list[Cell]) -> float | None:
    """1 or 100 when every cell's value is numerator / denominator times it; None when not (a difference of
    means, a value minus a target, a metric without a denominator)."""
    for scale in (1.0, 100.0):
        if all(c.numerator is not None and c.denominator and c.value is not None
               and abs(c.value - scale * c.numerator / c.denominator) <= 1e-6 * max(1.0, abs(c.value))
               for c in cells):
            return scale
    return None


def value_range(values: Iterable[float | None], *, floor: float | None = None, ceiling: float | None = None,
                pad: float = 0.08) -> tuple[float, float]:
    """An axis range around the values with some room, clamped to the metric's natural bounds."""
    shown = [v for v in values if v is not None]
    low, high = (min(shown), max(shown)) if shown else (0.0, 1.0)
    if high == low:
        high, low = high + 1.0, low - 1.0
    span = high - low
    low, high = low - pad * span, high + pad * span
    if floor is not None:
        low = max(low, floor)
    if ceiling is not None:
        high = min(high, ceiling)
    return low, high
