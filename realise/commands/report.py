"""`realise report`: the benefits and adoption report as one self-contained HTML file."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from realise.commands.context import out, settings


def report_cmd(
    path: Path = typer.Option(Path("realise-report.html"), "--out", "-o", help="HTML file to write."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Write the benefits register, training readiness, help-desk demand, staff experience, skills, comment
    themes and open alerts with their actions to one HTML file that opens offline (charts included)."""
    from foundation.database import check_connection, warehouse_engine
    from reporting import write_report
    from reporting.format import fmt_datetime

    s = settings()
    engine = warehouse_engine(s)
    try:
        check_connection(engine)
        result = write_report(engine, path)
    finally:
        engine.dispose()
    if as_json:
        out.print_json(json.dumps({"file": str(result.path), "charts": result.charts, "bytes": result.size_bytes,
                                   "seconds": round(result.seconds, 3), "refreshed_at": result.refreshed_at},
                                  default=str))
        return
    refreshed = fmt_datetime(result.refreshed_at) or "unknown"
    out.print(f"report of data refreshed {refreshed}: {result.charts} charts, "
              f"{result.size_bytes / 1024:,.0f} KB, {result.seconds:.1f} s", highlight=False)
    out.print(str(result.path), highlight=False, soft_wrap=True)
