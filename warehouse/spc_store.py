"""core.metric_spc: every weekly series as an XmR chart, rewritten after each metrics refresh.

The input is what analytics.metric_latest shows at the weekly grain, so a chart rests on published values
only: a suppressed week is stored with no value and no signals, and takes no part in the limits or the runs
(warehouse/spc.py). A held revision counts with the value the view shows, which readers have seen. Each
wave's series is split at its go-live week (core.dim_wave), where its limits are recomputed; other
segments have one phase. Cumulative metrics (to date) are left out: their weeks are not independent. The
target and assurance come from the benefits register (the earliest target date where several benefits
measure one series). The table is replaced in one transaction, so readers never see half of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from warehouse.spc import assurance, xmr_chart

_LOCK = 7411005  # one rewrite of core.metric_spc at a time
_COLUMNS = ("metric_id", "segment_type", "segment_value", "period_start", "refresh_id", "value", "suppressed",
            "phase_start", "mean", "moving_range_mean", "lower_limit", "upper_limit", "limit_points",
            "beyond_limits", "shift", "trend", "two_in_three", "special_cause", "variation", "icon", "target",
            "assurance")
_INSERT = sa.text(f"insert into core.metric_spc ({', '.join(_COLUMNS)}) values "
                  f"({', '.join(':' + c for c in _COLUMNS)})")


def chart_rows(metric_id: str, segment_type: str, segment_value: str,
               cells: Iterable[tuple[date, float | None]], better: str, *, phase_starts: Iterable[date] = (),
               target: float | None = None, refresh_id: int | None = None) -> list[dict[str, Any]]:
    """The rows of one series: its weeks `(week start, value or None when suppressed)`, oldest first."""
    chart = xmr_chart(cells, better, phase_starts=phase_starts)
    rows = []
    for p in chart.points:
        limits, judged = p.limits, p.limits is not None and p.value is not None
        rows.append({
            "metric_id": metric_id, "segment_type": segment_type, "segment_value": segment_value,
            "period_start": p.week, "refresh_id": refresh_id, "value": p.value, "suppressed": p.value is None,
            "phase_start": p.phase_start,
            "mean": limits.mean if limits else None, "moving_range_mean": limits.mr_mean if limits else None,
            "lower_limit": limits.lower if limits else None, "upper_limit": limits.upper if limits else None,
            "limit_points": limits.points if limits else None,
            "beyond_limits": p.beyond_limits if judged else None, "shift": p.shift if judged else None,
            "trend": p.trend if judged else None, "two_in_three": p.two_in_three if judged else None,
            "special_cause": p.special_cause, "variation": p.variation, "icon": p.icon,
            "target": target, "assurance": assurance(limits, target, better)})
    return rows


def _series(conn: sa.Connection) -> Iterator[tuple[tuple[str, str, str], list[tuple[date, float | None]]]]:
    rows = conn.execute(sa.text(
        "select metric_id, segment_type, segment_value, period_start, "
        "case when suppressed then null else value end as value from analytics.metric_latest "
        "where grain = 'week' and period_start is not null "
        "order by metric_id, segment_type, segment_value, period_start"))
    for key, group in groupby(rows, key=lambda r: (r.metric_id, r.segment_type, r.segment_value)):
        yield key, [(r.period_start, None if r.value is None else float(r.value)) for r in group]


def _go_live_weeks(conn: sa.Connection) -> dict[str, date]:
    return {str(w): d for w, d in conn.execute(sa.text(
        "select go_live_wave, go_live_date from core.dim_wave where go_live_date is not null"))}


def _targets(conn: sa.Connection) -> dict[tuple[str, str, str], float]:
    targets: dict[tuple[str, str, str], float] = {}
    for r in conn.execute(sa.text(
            "select metric_id, segment_type, segment_value, target_value from core.benefits "
            "order by target_date, benefit_id")):
        targets.setdefault((r.metric_id, r.segment_type, r.segment_value), float(r.target_value))
    return targets


def write_spc(engine: Engine, metrics: Mapping[str, Any], *, refresh_id: int | None = None,
              batch_rows: int = 5000) -> dict[str, int]:
    """Rewrite core.metric_spc from analytics.metric_latest for the registered, non-cumulative `metrics`
    (by id, each with `better` and `cumulative`); counts of series, rows and weeks with a special cause."""
    counts = {"spc_series": 0, "spc_rows": 0, "spc_special_cause": 0}
    with engine.begin() as conn:
        conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        waves, targets = _go_live_weeks(conn), _targets(conn)
        conn.execute(sa.text("delete from core.metric_spc"))
        pending: list[dict[str, Any]] = []
        for (metric_id, segment_type, segment_value), cells in _series(conn):
            metric = metrics.get(metric_id)
            if metric is None or getattr(metric, "cumulative", False):
                continue
            go_live = waves.get(segment_value) if segment_type == "go_live_wave" else None
            rows = chart_rows(metric_id, segment_type, segment_value, cells, metric.better,
                              phase_starts=[go_live] if go_live else [], refresh_id=refresh_id,
                              target=targets.get((metric_id, segment_type, segment_value)))
            counts["spc_series"] += 1
            counts["spc_rows"] += len(rows)
            counts["spc_special_cause"] += sum(1 for r in rows if r["special_cause"] is not None)
            pending += rows
            if len(pending) >= batch_rows:
                conn.execute(_INSERT, pending)
                pending = []
        if pending:
            conn.execute(_INSERT, pending)
    return counts
