"""Who a source's identifier is: pseudonymise it, then find the person's unit, group and wave.

The canonical identifier is the work e-mail address. A directory load also stores keyed hashes of other
identifiers (username, staff number) as aliases, so a source that only knows a username links to the same
pseudonym. Raw identifiers are hashed here and never kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from foundation.privacy import pseudonymise

UNMATCHED_UNIT = "UNMATCHED"
UNKNOWN_GROUP = "Unknown"


def normalise_identifier(identifier: str) -> str:
    """`mailto:A.Person@Trust.nhs.uk` and ` a.person@trust.nhs.uk` are the same person."""
    value = identifier.strip()
    if value.lower().startswith("mailto:"):
        value = value[7:]
    return value.strip().lower()


@dataclass(frozen=True)
class StaffFacts:
    org_unit: str
    org_path: tuple[str, ...]
    staff_group: str
    system: str
    go_live_wave: str | None


class StaffResolver:
    """Pseudonym → the directory's facts; alias hash → canonical pseudonym. Loaded once per pull."""

    def __init__(self, key: bytes, staff: dict[str, StaffFacts] | None = None,
                 aliases: dict[str, str] | None = None) -> None:
        self.key = key
        self.staff = staff or {}
        self.aliases = aliases or {}

    @classmethod
    def from_warehouse(cls, engine: Engine, key: bytes) -> StaffResolver:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "select d.pseudonym, d.org_unit, coalesce(o.path, '{}'), d.staff_group, d.system, d.go_live_wave "
                "from core.staff_directory d left join core.dim_org_unit o using (org_unit)")).all()
            aliases = dict(conn.execute(sa.text("select alias, pseudonym from core.staff_alias")).all())
        staff = {r[0]: StaffFacts(r[1], tuple(r[2]), r[3], r[4], r[5]) for r in rows}
        return cls(key, staff, aliases)

    def pseudonym(self, identifier: str) -> str:
        hashed = pseudonymise(normalise_identifier(identifier), self.key)
        return self.aliases.get(hashed, hashed)

    def facts(self, pseudonym: str) -> StaffFacts | None:
        return self.staff.get(pseudonym)
