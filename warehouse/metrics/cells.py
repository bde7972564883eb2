"""The shape of a metric cell as the engine suppresses and stores it, whichever way it was computed."""

from __future__ import annotations

from datetime import date
from typing import Any

from warehouse.metrics.registry import PARENT_SEGMENT, TRUST

CELL_COLUMNS = ["metric_id", "grain", "period", "period_start", "period_index", "segment_type", "segment_value",
                "parent_segment_type", "parent_segment_value", "value", "numerator", "denominator", "n"]


def period_text(key: date | int) -> str:
    """How a period is stored: the ISO date of its week's Monday, or the week since go-live."""
    return key.isoformat() if isinstance(key, date) else str(key)


def cell(metric_id: str, grain: str, key: date | int, segment: str, value: str, row: Any,
         levels: dict[str, tuple[str | None, str | None]]) -> dict[str, Any]:
    """One cell as CELL_COLUMNS, from a row with value, numerator, denominator and n."""
    parent_value = _parent_value(segment, value, levels)
    return {
        "metric_id": metric_id, "grain": grain, "period": period_text(key),
        "period_start": key if isinstance(key, date) else None,
        "period_index": key if not isinstance(key, date) else None,
        "segment_type": segment, "segment_value": value,
        "parent_segment_type": PARENT_SEGMENT.get(segment) if parent_value is not None else None,
        "parent_segment_value": parent_value,
        "value": _num(row["value"]), "numerator": _num(row["numerator"]),
        "denominator": _num(row["denominator"]), "n": int(row["n"] or 0),
    }


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _parent_value(segment: str, value: str, levels: dict[str, tuple[str | None, str | None]]) -> str | None:
    """The segment value a cell is compared against for secondary suppression (see PARENT_SEGMENT)."""
    if segment == "trust":
        return None
    if segment == "org_unit":
        l1, l2 = levels.get(value, (None, None))
        return l2 if l2 and l2 != value else (l1 if l1 and l1 != value else TRUST)
    if segment == "org_level_2":
        for l1, l2 in levels.values():
            if l2 == value and l1:
                return l1
        return TRUST
    return TRUST
