"""Refresh entry point shared by the CLI, the Prefect flow and the benchmarks."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from realise.config import Settings
from warehouse.metrics.engine import RefreshResult, SuppressionPolicy, refresh


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


def apply_go_live_dates(engine: Engine, settings: Settings) -> None:
    """Go-live dates from configuration into core.dim_wave (the grain `week_since_go_live` needs them)."""
    dates = settings.metrics.go_live_dates
    if not dates:
        return
    with engine.begin() as conn:
        for wave, day in dates.items():
            conn.execute(sa.text(
                "insert into core.dim_wave (go_live_wave, go_live_date) values (:w, :d) "
                "on conflict (go_live_wave) do update set go_live_date = excluded.go_live_date"),
                {"w": wave, "d": day})


def refresh_metrics(engine: Engine, settings: Settings, *, full: bool = False,
                    metric_ids: list[str] | None = None) -> RefreshResult:
    """Refresh metrics, then evaluate the benefits register and alert rules against them."""
    from warehouse.loop import after_refresh

    apply_go_live_dates(engine, settings)
    policy = SuppressionPolicy(settings.metrics.min_group_size, settings.metrics.comment_min_group_size)
    result = refresh(engine, full=full, policy=policy, params=metric_params(settings), metric_ids=metric_ids)
    result.loop = after_refresh(engine, settings, result)
    return result
