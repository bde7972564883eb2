"""`realise report`: one self-contained HTML file of benefits and adoption, from the analytics views.

The file embeds plotly.js and every figure, so it opens offline and can be e-mailed; suppressed cells are
marked and never carry a value; all text from the warehouse is escaped.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from foundation.errors import UserError
from reporting.data import ReportData, read_report_data
from reporting.page import document
from reporting.sections.adoption import demand_section, readiness_section
from reporting.sections.alerts import alerts_section
from reporting.sections.benefits import benefits_section
from reporting.sections.feedback import experience_section, skills_section, themes_section
from reporting.sections.spc import spc_section

REPORT_NAME = "realise-report.html"
SECTIONS = (benefits_section, spc_section, readiness_section, demand_section, experience_section, skills_section,
            themes_section, alerts_section)


@dataclass(frozen=True)
class ReportResult:
    path: Path
    size_bytes: int
    charts: int
    seconds: float
    refreshed_at: datetime | None


def default_path(data_dir: Path) -> Path:
    """Where the main job and the report flow write the report unless told otherwise."""
    return Path(data_dir) / "reports" / REPORT_NAME


def render(data: ReportData) -> str:
    """The whole page as one HTML string."""
    return document(data, "\n".join(build(data) for build in SECTIONS))


def write_report(engine: Engine, out: Path | str, *, now: datetime | None = None) -> ReportResult:
    """Read the warehouse, render, and write the file atomically (a reader never sees half a report)."""
    started = time.perf_counter()
    data = read_report_data(engine, now=now)
    page = render(data)
    path = Path(out).expanduser()
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise UserError(f"cannot write the report to {path}: {exc.strerror or exc}") from None
    return ReportResult(path=path.resolve(), size_bytes=len(page.encode("utf-8")),
                        charts=page.count("data-chart="), seconds=time.perf_counter() - started,
                        refreshed_at=data.refreshed_at)


__all__ = ["ReportData", "ReportResult", "default_path", "read_report_data", "render", "write_report"]
