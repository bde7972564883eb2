"""Incremental state per source stream, kept in the warehouse (`ops.connector_state`).

State only moves forward: a save whose cursor is behind the stored one (a `--since` replay) keeps the stored
cursor, so a replay never makes the next scheduled pull read the window again.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine


def position(state: dict[str, Any] | None) -> str:
    """The comparable part of a state: its `cursor` (an ISO time or an opaque, ordered token)."""
    return str((state or {}).get("cursor") or "")


class StateStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, source: str, stream: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            value = conn.execute(sa.text("select state from ops.connector_state where source = :s and stream = :t"),
                                 {"s": source, "t": stream}).scalar()
        return dict(value or {})

    def all(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("select source, stream, state, records_total, updated_at "
                                        "from ops.connector_state order by source, stream")).mappings().all()
        return [dict(r) for r in rows]

    def save(self, conn: Connection, source: str, stream: str, state: dict[str, Any], records: int) -> dict[str, Any]:
        """Store `state` unless it is behind the stored one; returns the state now stored."""
        current = conn.execute(sa.text(
            "select state from ops.connector_state where source = :s and stream = :t for update"),
            {"s": source, "t": stream}).scalar()
        keep = dict(current or {})
        if current is None or position(state) >= position(current):
            keep = state
        conn.execute(sa.text(
            "insert into ops.connector_state (source, stream, state, records_total, updated_at) "
            "values (:s, :t, cast(:state as jsonb), :n, now()) on conflict (source, stream) do update set "
            "state = excluded.state, records_total = ops.connector_state.records_total + :n, updated_at = now()"),
            {"s": source, "t": stream, "state": json.dumps(keep), "n": records})
        return keep

    def reset(self, source: str, stream: str | None = None) -> int:
        with self.engine.begin() as conn:
            query = "delete from ops.connector_state where source = :s" + (" and stream = :t" if stream else "")
            return conn.execute(sa.text(query), {"s": source, "t": stream}).rowcount
