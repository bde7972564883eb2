"""The disclosure settings the warehouse's SQL applies to row-level data analysts read.

The coarsened `analytics` row views (warehouse/sql/0011_tiered_access.sql) read their minimum group sizes
from the single row of `core.disclosure_settings`, so the same numbers that suppress metrics
(`metrics.min_group_size`, `metrics.comment_min_group_size`) also coarsen rows. Whatever knows the settings
and writes to the warehouse before analysts read it calls `write_disclosure_settings`.
"""

from __future__ import annotations

import sqlalchemy as sa

TABLE = "core.disclosure_settings"
SMALLEST = 2  # the settings' own lower bound (foundation.config.MetricsSettings)


def write_disclosure_settings(conn: sa.Connection, min_group_size: int, comment_min_group_size: int) -> bool:
    """Store the minimum group sizes; False (nothing written) when the warehouse predates the table.

    Runs in the caller's transaction, so the views change when it commits, together with anything else the
    caller writes.
    """
    for name, value in (("min_group_size", min_group_size), ("comment_min_group_size", comment_min_group_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < SMALLEST:
            raise ValueError(f"{name} must be a whole number of at least {SMALLEST}, not {value!r}")
    if conn.execute(sa.text("select to_regclass(:t)"), {"t": TABLE}).scalar() is None:
        return False
    conn.execute(sa.text(
        f"insert into {TABLE} (id, min_group_size, comment_min_group_size, updated_at) values (true, :k, :ck, now()) "
        "on conflict (id) do update set min_group_size = excluded.min_group_size, "
        "comment_min_group_size = excluded.comment_min_group_size, updated_at = excluded.updated_at "
        f"where ({TABLE}.min_group_size, {TABLE}.comment_min_group_size) "
        "is distinct from (excluded.min_group_size, excluded.comment_min_group_size)"),
        {"k": min_group_size, "ck": comment_min_group_size})
    return True


def read_disclosure_settings(conn: sa.Connection) -> tuple[int, int] | None:
    """(min_group_size, comment_min_group_size) the views apply now; None before the table exists."""
    if conn.execute(sa.text("select to_regclass(:t)"), {"t": TABLE}).scalar() is None:
        return None
    row = conn.execute(sa.text(f"select min_group_size, comment_min_group_size from {TABLE}")).one_or_none()
    return (5, 10) if row is None else (int(row[0]), int(row[1]))
