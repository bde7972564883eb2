"""Prefect flow for ingest: the `ingest-drain` deployment runs it on a schedule, one run at a time."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task

from foundation.config import load_settings
from foundation.stack import resolve_endpoints
from ingestion.runner import problems
from ingestion.service import run_ingest


@task(name="drain-topics", retries=2, retry_delay_seconds=10)
def drain_topics(mode: str = "drain") -> dict[str, Any]:
    """One task for the whole run: batches are committed inside it, so a retry resumes where it stopped."""
    settings = load_settings()
    endpoints = resolve_endpoints(settings, autostart=False, services={"postgres", "kafka"})
    summary = run_ingest(settings, endpoints.warehouse_url, endpoints.kafka_bootstrap, mode,  # type: ignore[arg-type]
                         emit_prefect_events=True)
    return summary.as_dict()


@flow(name="realise-ingest", log_prints=True)
def ingest_flow(mode: str = "drain") -> dict[str, Any]:
    """Load new events from Kafka into the warehouse: `drain` stops at the high watermark, `follow` runs on."""
    if mode not in ("drain", "follow"):
        raise ValueError(f"mode must be 'drain' or 'follow', not {mode!r}")
    summary = drain_topics(mode)
    logger = get_run_logger()
    logger.info(
        "loaded %s events, %s duplicates skipped, %s quarantined in %.1f s",
        summary["loaded_total"], summary["duplicates"], summary["quarantined"], summary["seconds"])
    found = problems(summary)
    for line in found:
        logger.error(line)
    if found:
        # Everything read is committed; the run fails so the loss or the missing copies are seen.
        raise RuntimeError("; ".join(found))
    return summary
