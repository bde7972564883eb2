"""`realise bench refresh|freshness`: metric refresh benchmarks (commands registered on the bench group)."""

from __future__ import annotations

import typer


def register(bench_app: typer.Typer) -> None:
    """Add the metric benchmarks to `realise bench`."""
