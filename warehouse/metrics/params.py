"""The bind parameters a metric's SQL may use: the configured assumptions (shift hours, hourly cost...)."""

from __future__ import annotations

from typing import Any

from foundation.config import Settings


def metric_params(settings: Settings) -> dict[str, Any]:
    """Bind parameters the metric SQL may use: the configured assumptions."""
    m = settings.metrics
    return {
        "readiness_target_pct": m.readiness_target_pct,
        "required_courses": list(m.required_courses),
        "shift_hours": m.shift_hours,
        "shifts_per_week": m.shifts_per_week,
        "fte_hours_per_week": m.fte_hours_per_week,
        "hourly_cost_gbp": m.hourly_cost_gbp,
    }
