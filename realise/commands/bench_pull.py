"""`realise bench pull`: connector throughput against the simulator (registered on the bench group)."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from realise.commands.context import err, out, settings


def register(bench_app: typer.Typer) -> None:
    """Add the pull benchmark to `realise bench`."""

    @bench_app.command("pull")
    def bench_pull(
        staff: int = typer.Option(10_000, min=100, max=200_000, help="Staff in the simulated trust."),
        source: list[str] = typer.Option(None, "--source", "-s", help="Only these simulated sources."),
        as_json: bool = typer.Option(False, "--json", help="Print figures as JSON."),
    ) -> None:
        """Records/s per connector against the simulator, publishing included, vs the API reader alone."""
        from bench.pull import run_bench

        figures = run_bench(settings(), staff=staff, sources=source or None, progress=err)
        if as_json:
            out.print_json(json.dumps(figures, default=str))
            return
        table = Table(title=f"pull benchmark: simulated trust of {staff:,} staff "
                            f"(goal {figures['goal_records_per_s']:,} records/s)")
        for col in ("source", "records", "requests", "API reader records/s", "pull records/s", "ratio", "goal"):
            table.add_column(col, justify="left" if col == "source" else "right")
        for r in figures["sources"]:
            table.add_row(r["source"], f"{r['records']:,}", f"{r['requests']:,}",
                          f"{r['baseline_records_per_s']:,}", f"{r['pull_records_per_s']:,}", str(r["ratio"]),
                          "met" if r["meets_goal"] else "not met")
        out.print(table)

