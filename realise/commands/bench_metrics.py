"""`realise bench refresh|freshness|confidentiality`: metric benchmarks (commands registered on the bench group)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from foundation.errors import UserError
from realise.commands.context import err, out, settings


def _show(title: str, figures: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(figures, default=str))
        return
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) and not \
            isinstance(value, bool) else str(value)
        table.add_row(key, shown)
    out.print(table)


def _check_metrics(metric: list[str] | None) -> list[str] | None:
    from warehouse.metrics.registry import all_metrics

    unknown = set(metric or []) - set(all_metrics())
    if unknown:
        raise UserError(f"unknown metric {', '.join(sorted(unknown))}: see `realise metrics list`")
    return metric or None


def register(bench_app: typer.Typer) -> None:
    """Add the metric benchmarks to `realise bench`."""

    @bench_app.command("refresh")
    def bench_refresh(
        events: int = typer.Option(1_000_000, min=1000, help="Events in the warehouse (all four kinds)."),
        reuse: bool = typer.Option(False, "--reuse", help="Keep the loaded warehouse as a template database and "
                                   "reuse it next time (each run works on a copy)."),
        metric: list[str] = typer.Option(None, "--metric", "-m", help="Only these metric ids (default: all)."),
        as_json: bool = typer.Option(False, "--json", help="Print figures as JSON."),
    ) -> None:
        """Full and incremental (after 1% new events) metric refresh, each against a plain recompute of every
        metric timed in the same run; checks both refreshes leave the same latest values."""
        from bench.refresh import run_bench

        figures = run_bench(settings(), events, reuse=reuse, metric_ids=_check_metrics(metric), progress=err)
        _show(f"refresh benchmark: {events:,} events, incremental after 1% new", figures, as_json)

    @bench_app.command("freshness")
    def bench_freshness(
        events: int = typer.Option(50, min=1, help="Form responses to publish, one at a time."),
        interval: float = typer.Option(0.5, min=0.0, help="Seconds between two publishes."),
        preload: int = typer.Option(20_000, min=0, help="Background events loaded (and fully refreshed) first."),
        debounce: float = typer.Option(0.1, min=0.0, help="Seconds to wait after a commit before refreshing, "
                                       "so commits close together share one refresh."),
        metric: list[str] = typer.Option(None, "--metric", "-m", help="Refresh only these metric ids "
                                         "(default: all; net_experience_score is the one measured)."),
        as_json: bool = typer.Option(False, "--json", help="Print figures as JSON."),
    ) -> None:
        """Seconds from publishing a form response to net_experience_score (trust, its week) reflecting it."""
        from bench.freshness import METRIC, run_bench

        metric_ids = _check_metrics(metric)
        if metric_ids is not None and METRIC not in metric_ids:
            raise UserError(f"the benchmark measures {METRIC}: include it in --metric")
        figures = run_bench(settings(), events, interval, preload=preload, debounce=debounce,
                            metric_ids=metric_ids, progress=err)
        _show(f"freshness benchmark: {events} form responses, one every {interval} s", figures, as_json)

    @bench_app.command("confidentiality")
    def bench_confidentiality(
        events: int = typer.Option(20_000, min=1000, help="Events in the warehouse (all four kinds)."),
        reuse: bool = typer.Option(False, "--reuse", help="Keep the loaded warehouse as a "
                                   "template database and reuse it next time."),
        as_json: bool = typer.Option(False, "--json", help="Print figures as JSON."),
    ) -> None:
        """Share of cells hidden per metric and grain with primary suppression only, with each further rule and
        with all rules, and the disclosure audit's findings for each."""
        from bench.confidentiality import run_bench

        figures = run_bench(settings(), events, reuse=reuse, say=err.print)
        _show(f"confidentiality benchmark: {events:,} events", figures, as_json)
