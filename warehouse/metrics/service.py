"""Refresh entry point shared by the CLI, the Prefect flow and the benchmarks."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from foundation.config import Settings
from warehouse.directory import set_go_live_dates
from warehouse.disclosure import write_disclosure_settings
from warehouse.metrics.engine import RefreshResult, SuppressionPolicy, refresh
from warehouse.metrics.params import metric_params

__all__ = ["apply_go_live_dates", "metric_params", "refresh_metrics"]


def apply_go_live_dates(engine: Engine, settings: Settings) -> None:
    """Go-live dates from configuration into core.dim_wave (the grain `week_since_go_live` needs them)."""
    if settings.metrics.go_live_dates:
        set_go_live_dates(engine, dict(settings.metrics.go_live_dates))


def refresh_metrics(engine: Engine, settings: Settings, *, full: bool = False,
                    metric_ids: list[str] | None = None) -> RefreshResult:
    """Refresh metrics, then evaluate the benefits register and alert rules against them."""
    from warehouse.loop import after_refresh

    apply_go_live_dates(engine, settings)
    with engine.begin() as conn:  # the coarsening of the analyst's row-level views follows the same minimums
        write_disclosure_settings(conn, settings.metrics.min_group_size, settings.metrics.comment_min_group_size)
    policy = SuppressionPolicy(settings.metrics.min_group_size, settings.metrics.comment_min_group_size)
    result = refresh(engine, full=full, policy=policy, params=metric_params(settings), metric_ids=metric_ids)
    result.loop = after_refresh(engine, settings, result)
    return result
