"""The staff directory: who is in scope, where, in which staff group and wave (from an ESR-like export).

It is the denominator of coverage, participation and demand per 100 staff. A load replaces the whole
directory in one transaction (an export is a snapshot), and also fills the org unit hierarchy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class DirectoryEntry:
    pseudonym: str
    org_unit: str
    org_path: tuple[str, ...]
    staff_group: str
    band: str | None
    system: str
    go_live_wave: str | None
    in_scope: bool = True


def load_directory(engine: Engine, entries: Iterable[DirectoryEntry], aliases: dict[str, str] | None = None) -> int:
    """Replace the directory (and, when given, the identifier aliases) with a new snapshot."""
    rows = [e.__dict__ for e in entries]
    units: dict[str, tuple[str | None, list[str]]] = {}
    for e in rows:
        chain = [*e["org_path"], e["org_unit"]]
        for depth, code in enumerate(chain):
            units.setdefault(code, (chain[depth - 1] if depth else None, chain[:depth]))
    with engine.begin() as conn:
        conn.execute(sa.text("delete from core.staff_directory"))
        if rows:
            conn.execute(sa.text(
                "insert into core.staff_directory (pseudonym, org_unit, staff_group, band, system, go_live_wave, "
                "in_scope) values (:pseudonym, :org_unit, :staff_group, :band, :system, :go_live_wave, :in_scope)"),
                rows)
        if aliases is not None:
            conn.execute(sa.text("delete from core.staff_alias"))
            if aliases:
                conn.execute(sa.text("insert into core.staff_alias (alias, pseudonym) values (:a, :p) "
                                     "on conflict (alias) do update set pseudonym = excluded.pseudonym"),
                             [{"a": a, "p": p} for a, p in aliases.items()])
        for code, (parent, path) in units.items():
            conn.execute(sa.text(
                "insert into core.dim_org_unit (org_unit, parent, level, path) values (:u, :p, :l, :path) "
                "on conflict (org_unit) do nothing"), {"u": code, "p": parent, "l": len(path), "path": path})
    return len(rows)


def set_go_live_dates(engine: Engine, dates: dict[str, object]) -> None:
    with engine.begin() as conn:
        for wave, day in dates.items():
            conn.execute(sa.text(
                "insert into core.dim_wave (go_live_wave, go_live_date) values (:w, :d) "
                "on conflict (go_live_wave) do update set go_live_date = excluded.go_live_date"),
                {"w": wave, "d": day})
