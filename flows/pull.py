"""Prefect flow for connectors: pull sources onto the stream (each source has a scheduled deployment)."""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from connectors.service import ordered_sources, parse_since, pull_sources
from foundation.config import load_settings


@task(name="pull-source", retries=2, retry_delay_seconds=30)
def pull_task(name: str, since: str | None = None) -> dict[str, Any]:
    settings = load_settings()
    [result] = pull_sources(settings, [name], since=parse_since(since))
    return result.as_dict()


@flow(name="realise-pull", log_prints=True)
def pull_flow(sources: list[str] | None = None, since: str | None = None) -> list[dict[str, Any]]:
    """Pull the named sources (default: every enabled source, the staff directory first), one task each."""
    names = sources or ordered_sources(load_settings())
    results = []
    for name in names:
        result = pull_task(name, since)
        print(f"{name}: {result['published']} events published from {result['records']} records")
        results.append(result)
    return results
