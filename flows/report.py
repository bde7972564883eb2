"""Prefect flow for the HTML report: the main job writes one after its metrics refresh, and the `report`
deployment (prefect.yaml) writes one on demand."""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from foundation.config import load_settings
from foundation.database import warehouse_engine
from reporting import default_path, write_report


@task(name="write-report")
def write_report_task(out: str | None = None) -> dict[str, Any]:
    """Write the report to `out`, by default <data_dir>/reports/realise-report.html."""
    settings = load_settings()
    engine = warehouse_engine(settings)
    try:
        result = write_report(engine, out or default_path(settings.data_dir))
    finally:
        engine.dispose()
    return {"path": str(result.path), "size_kb": round(result.size_bytes / 1024), "charts": result.charts,
            "seconds": round(result.seconds, 2)}


@flow(name="realise-report", log_prints=True)
def report_flow(out: str | None = None) -> dict[str, Any]:
    """The benefits and adoption report as one self-contained HTML file, from the analytics views."""
    result = write_report_task(out)
    print(f"report written to {result['path']} ({result['size_kb']:,} KB, {result['charts']} charts)")
    return result
