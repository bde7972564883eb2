"""A warehouse whose metric values are written by hand, for the loop and SPC tests.

Each refresh is a row in ops.metric_refreshes and its cells in core.metric_values, remembered as published,
so a case controls exactly which cells breach, are suppressed or are too small.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from foundation.database import create_engine
from warehouse.metrics import published

NES = "net_experience_score"
MONDAY = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).date().weekday())


def week(k: int) -> date:
    """Monday k weeks from this week's (negative: earlier)."""
    return MONDAY + timedelta(weeks=k)


class Warehouse:
    """Writes refreshes of hand-made cells and reads what the loop made of them."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.clock = datetime.now(UTC) - timedelta(hours=1)
        with self.engine.begin() as conn:
            conn.execute(sa.text(
                "insert into core.metric_definitions (metric_id, title, description, unit, numerator, denominator, "
                "better, min_group_size) values (:m, 'Net experience score', 'test', 'score', 'n', 'd', 'higher', "
                "5) on conflict do nothing"), {"m": NES})

    def refresh(self, cells: list[tuple[str, str, date, float | None, int]], metric: str = NES,
                half_width: float | None = None) -> int:
        """One refresh: cells (segment_type, segment_value, week, value or None = suppressed, n), with a 95%
        interval of value ± `half_width` when given."""
        self.clock += timedelta(seconds=1)
        with self.engine.begin() as conn:
            refresh_id = conn.execute(sa.text(
                "insert into ops.metric_refreshes (started_at, finished_at, mode, min_group_size, cells) "
                "values (:t, :t, 'full', 5, :c) returning id"), {"t": self.clock, "c": len(cells)}).scalar_one()
            conn.execute(sa.text(
                "insert into core.metric_values (refresh_id, metric_id, grain, period, period_start, segment_type, "
                "segment_value, value, n, suppressed, suppression_reason, computed_at, ci_low, ci_high) values "
                "(:r, :m, 'week', :p, :ps, :st, :sv, :v, :n, :s, :why, :t, :lo, :hi)"),
                [{"r": refresh_id, "m": metric, "p": wk.isoformat(), "ps": wk, "st": st, "sv": sv, "v": v, "n": n,
                  "s": v is None, "why": "primary" if v is None else None, "t": self.clock,
                  "lo": None if v is None or half_width is None else v - half_width,
                  "hi": None if v is None or half_width is None else v + half_width}
                 for st, sv, wk, v, n in cells])
            published.remember(conn, refresh_id)
        return refresh_id

    def alerts(self, status: str | None = None) -> list[dict[str, Any]]:
        where = "where status = :s" if status else ""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.text(
                f"select * from analytics.alerts {where} order by alert_id"), {"s": status}).mappings()]

    def spc(self, segment_value: str, metric: str = NES) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.text(
                "select * from analytics.metric_spc where metric_id = :m and segment_value = :sv "
                "order by period_start"), {"m": metric, "sv": segment_value}).mappings()]

    def dispose(self) -> None:
        self.engine.dispose()
