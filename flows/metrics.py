"""Prefect flow for metrics: refreshed when ingest announces new data, and on a schedule (prefect.yaml)."""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from foundation.config import load_settings
from foundation.database import warehouse_engine
from warehouse.metrics.service import refresh_metrics


@task(name="refresh-metrics", retries=2, retry_delay_seconds=15)
def refresh_task(full: bool) -> dict[str, Any]:
    settings = load_settings()
    engine = warehouse_engine(settings)
    try:
        result = refresh_metrics(engine, settings, full=full)
    finally:
        engine.dispose()
    return {"refresh_id": result.refresh_id, "mode": result.mode, "metrics": result.metrics, "cells": result.cells,
            "suppressed": result.suppressed, "seconds": round(result.seconds, 3), "loop": result.loop}


@flow(name="realise-metrics-refresh", log_prints=True)
def metrics_refresh_flow(full: bool = False) -> dict[str, Any]:
    """Recompute metrics: only periods with new data by default, everything with `full=True`."""
    return refresh_task(full)
