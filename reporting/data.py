"""What the report shows, read from the warehouse's `analytics` views only (what the analyst role may read).

Metric cells come from `analytics.metric_latest`. A suppressed cell keeps its flag and loses its value,
numerator, denominator and group size here too, whatever the view returns, so nothing downstream can
show one by mistake.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ProgrammingError

from foundation.errors import UserError

RUN_REFRESH = "run `realise metrics refresh` first"
COMMENT_PREFIX = "comment_"
THEME_PREFIX = "comment_theme_"
DOMAIN_PREFIX = "skills_change_"
SKILLS_METRICS = ("skills_mean_baseline", "skills_mean_follow_up", "skills_change")
# Headline measures drawn as SPC charts (trust-wide, weekly), from analytics.metric_spc.
SPC_METRICS = ("net_experience_score", "enps", "tickets_per_100_staff", "median_hours_to_resolve")


@dataclass(frozen=True)
class Cell:
    """One published metric value (or its suppressed placeholder)."""

    metric_id: str
    grain: str
    period: str
    period_start: date | None
    period_index: int | None
    segment_type: str
    segment_value: str
    value: float | None
    numerator: float | None
    denominator: float | None
    n: int | None
    suppressed: bool


@dataclass(frozen=True)
class MetricInfo:
    id: str
    title: str
    unit: str
    better: str
    min_group_size: int


@dataclass
class ReportData:
    generated_at: datetime
    refreshed_at: datetime | None
    metrics: dict[str, MetricInfo]
    benefits: list[dict[str, Any]] = field(default_factory=list)
    status_changes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    benefit_series: dict[str, list[Cell]] = field(default_factory=dict)
    readiness: list[Cell] = field(default_factory=list)
    helpdesk: list[Cell] = field(default_factory=list)
    experience: list[Cell] = field(default_factory=list)
    skills: list[Cell] = field(default_factory=list)
    themes: list[Cell] = field(default_factory=list)
    spc: list[dict[str, Any]] = field(default_factory=list)  # analytics.metric_spc rows, oldest week first
    alerts: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)

    def min_group(self, metric_id: str) -> int:
        """The minimum group size the metric's cells were suppressed with."""
        info = self.metrics.get(metric_id)
        return info.min_group_size if info else self.min_group_size

    @property
    def min_group_size(self) -> int:
        """The rule for most metrics (the most common minimum)."""
        sizes = [m.min_group_size for m in self.metrics.values() if not m.id.startswith(COMMENT_PREFIX)]
        return max(set(sizes), key=sizes.count) if sizes else 0

    @property
    def comment_min_group_size(self) -> int | None:
        sizes = [m.min_group_size for m in self.metrics.values() if m.id.startswith(COMMENT_PREFIX)]
        return max(sizes) if sizes else None

    @property
    def latest_week(self) -> date | None:
        weeks = [c.period_start for c in (*self.experience, *self.themes, *self.skills) if c.period_start]
        return max(weeks) if weeks else None


_CELL_SQL = sa.text(
    "select metric_id, grain, period, period_start, period_index, segment_type, segment_value, value, "
    "numerator, denominator, n, suppressed from analytics.metric_latest "
    "where metric_id = any(:metrics) and grain = :grain and segment_type = any(:segments)"
    " and (cast(:segment_value as text) is null or segment_value = :segment_value) "
    "order by metric_id, segment_type, segment_value, period_start, period_index")


def _cell(row: Any) -> Cell:
    hidden = bool(row.suppressed)
    return Cell(metric_id=row.metric_id, grain=row.grain, period=str(row.period), period_start=row.period_start,
                period_index=row.period_index, segment_type=row.segment_type, segment_value=str(row.segment_value),
                value=None if hidden else _float(row.value), numerator=None if hidden else _float(row.numerator),
                denominator=None if hidden else _float(row.denominator), n=None if hidden else row.n,
                suppressed=hidden)


def _spc_row(row: dict[str, Any]) -> dict[str, Any]:
    """A week of an SPC chart; a suppressed week keeps no value and no signal, whatever the view returns."""
    if row.get("suppressed"):
        row.update(value=None, beyond_limits=None, shift=None, trend=None, two_in_three=None, special_cause=None,
                   variation=None, icon=None)
    return row


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def cells(conn: Connection, metrics: Iterable[str], grain: str, segments: Iterable[str],
          segment_value: str | None = None) -> list[Cell]:
    rows = conn.execute(_CELL_SQL, {"metrics": list(metrics), "grain": grain, "segments": list(segments),
                                    "segment_value": segment_value})
    return [_cell(r) for r in rows]


def _metrics(conn: Connection) -> tuple[dict[str, MetricInfo], datetime | None]:
    rows = conn.execute(sa.text(
        "select metric_id, title, unit, better, min_group_size, updated_at from analytics.metric_definitions"
    )).all()
    info = {r.metric_id: MetricInfo(r.metric_id, r.title, r.unit, r.better, int(r.min_group_size)) for r in rows}
    refreshed = max((r.updated_at for r in rows if r.updated_at is not None), default=None)
    return info, refreshed


def _status_changes(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """Each benefit's status transitions, oldest first (the history without the unchanged evaluations)."""
    rows = conn.execute(sa.text(
        "select benefit_id, status, computed_at, previous from ("
        " select benefit_id, status, computed_at,"
        "  lag(status) over (partition by benefit_id order by computed_at) as previous"
        " from analytics.benefit_status) s "
        "where previous is distinct from status order by benefit_id, computed_at")).mappings()
    changes: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        changes.setdefault(r["benefit_id"], []).append(dict(r))
    return changes


def read_report_data(engine: Engine, *, now: datetime | None = None) -> ReportData:
    """Everything the report shows, in one read-only transaction (a consistent snapshot)."""
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ",
                                                postgresql_readonly=True) as conn:
            return _read(conn, now or datetime.now(UTC))
    except ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) in ("42P01", "3F000"):  # undefined table / schema
            raise UserError(f"the warehouse has no analytics views ({str(exc.orig).splitlines()[0]}): run "
                            "`realise db upgrade`, then `realise metrics refresh`") from None
        raise


def _read(conn: Connection, now: datetime) -> ReportData:
    metrics, refreshed = _metrics(conn)
    if not metrics or not conn.execute(sa.text("select exists (select from analytics.metric_values)")).scalar():
        raise UserError(f"the warehouse holds no metric values yet: {RUN_REFRESH}")
    data = ReportData(generated_at=now, refreshed_at=refreshed, metrics=metrics)
    data.benefits = [dict(r) for r in conn.execute(sa.text(
        "select * from analytics.benefits order by benefit_id")).mappings()]
    data.status_changes = _status_changes(conn)
    for b in data.benefits:
        if b["metric_id"] in metrics:
            data.benefit_series[b["benefit_id"]] = cells(conn, [b["metric_id"]], "week", [b["segment_type"]],
                                                         b["segment_value"])
    data.readiness = cells(conn, ["training_coverage", "training_readiness_gap"], "week_since_go_live",
                           ["go_live_wave"])
    data.helpdesk = cells(conn, ["tickets_per_100_staff"], "week_since_go_live", ["trust", "go_live_wave"])
    data.experience = cells(conn, ["net_experience_score"], "week", ["trust", "staff_group"])
    skills = [*SKILLS_METRICS, *sorted(m for m in metrics if m.startswith(DOMAIN_PREFIX))]
    data.skills = cells(conn, skills, "week", ["trust", "staff_group"])
    themes = sorted(m for m in metrics if m.startswith(THEME_PREFIX))
    data.themes = cells(conn, themes, "week", ["trust", "staff_group"])
    data.spc = [_spc_row(dict(r)) for r in conn.execute(sa.text(
        "select * from analytics.metric_spc where segment_type = 'trust' and metric_id = any(:m) "
        "order by metric_id, period_start"), {"m": list(SPC_METRICS)}).mappings()]
    data.alerts = [dict(r) for r in conn.execute(sa.text(
        "select * from analytics.alerts where status = 'open' order by opened_at, alert_id")).mappings()]
    data.actions = [dict(r) for r in conn.execute(sa.text(
        "select * from analytics.actions where alert_id = any(:ids) order by alert_id, action_date, action_id"),
        {"ids": [a["alert_id"] for a in data.alerts]}).mappings()]
    return data
