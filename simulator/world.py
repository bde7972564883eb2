"""The simulated trust behind every simulated API: staff with raw (fake) identifiers and their feedback.

The feedback is `synthetic`'s generated events (post-go-live demand spikes that decay,
confidence rising with training, a struggling ward, a skills baseline and follow-up). Each simulated API
shows those records in its own format with raw identifiers, as the real systems do, so the connectors'
pseudonymisation is exercised. A visibility clock makes "what changed since the last pull" real: a record
version is visible once the clock reaches its time, and tests move the clock forward between pulls.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

from schemas.events import Event, Kind
from synthetic import StaffMember, Trust, generate_events, generate_trust

# Events per kind for a trust of 2,000 staff; scaled with the trust's size.
DEFAULT_COUNTS = {"forms": 3000, "tickets": 2500, "training": 6000, "skills": 1500}


@dataclass(frozen=True)
class Identity:
    """The raw identifiers a source system holds for one member of staff (all fake)."""

    email: str
    username: str
    employee_number: str
    display_name: str


class World:
    def __init__(self, trust: Trust, events: Sequence[Event], now: datetime) -> None:
        self.trust, self.now = trust, now
        self.events = sorted(events, key=attrgetter("occurred_at"))
        self.clock = now
        self._lock = threading.Lock()
        self.staff: dict[str, StaffMember] = {s.pseudonym: s for s in trust.staff}
        self.identities = {s.pseudonym: _identity(s) for s in trust.staff}

    @classmethod
    def generate(cls, staff: int = 2000, seed: int = 7, now: datetime | None = None,
                 counts: dict[str, int] | None = None) -> World:
        now = (now or datetime.now(UTC)).replace(microsecond=0)
        scale = staff / 2000
        wanted = {k: max(1, round(v * scale)) for k, v in DEFAULT_COUNTS.items()} | (counts or {})
        trust = generate_trust(staff, seed)
        return cls(trust, generate_events(trust, now=now, seed=seed, **wanted), now)

    # -- time -----------------------------------------------------------------------------------------

    def set_clock(self, when: datetime) -> None:
        with self._lock:
            self.clock = when

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.clock = self.clock + delta

    def visible(self, kind: Kind, source: str | None = None, shares: dict[str, float] | None = None) -> list[Event]:
        """Event versions of `kind` that have happened by the clock (optionally only one source's share)."""
        clock = self.clock
        out = [e for e in self.events if e.kind == kind and e.occurred_at <= clock]
        if source is not None and shares is not None:
            out = [e for e in out if assign(e.source_record_id, shares) == source]
        return out

    def latest(self, kind: Kind, source: str | None = None, shares: dict[str, float] | None = None) -> list[Event]:
        """The current version of each record, as a system that keeps only current state shows it."""
        current: dict[str, Event] = {}
        for event in self.visible(kind, source, shares):
            current[event.source_record_id] = event
        return sorted(current.values(), key=attrgetter("occurred_at"))

    # -- people ---------------------------------------------------------------------------------------

    def identity(self, pseudonym: str) -> Identity:
        return self.identities[pseudonym]

    def member(self, pseudonym: str) -> StaffMember:
        return self.staff[pseudonym]

    def unit_name(self, code: str) -> str:
        return self.trust.units[code].name

    def directory_rows(self) -> list[dict[str, Any]]:
        """The staff directory as an ESR-like export's rows (see `esr_csv` for the columns)."""
        rows = []
        for s in self.trust.staff:
            ident = self.identities[s.pseudonym]
            rows.append({
                "Employee Number": ident.employee_number,
                "Assignment Number": f"{ident.employee_number}-1",
                "Full Name": ident.display_name,
                "Email Address": ident.email,
                "Username": ident.username,
                "Organisation": self.unit_name(s.org_unit),
                "Org Unit Code": s.org_unit,
                "Org Hierarchy": " > ".join([*s.org_path, s.org_unit]),
                "Staff Group": s.staff_group,
                "Pay Band": s.band,
                "Go-Live Wave": s.go_live_wave or "",
                "Primary System": s.system,
                "Assignment Status": "Active Assignment",
            })
        return rows


def _identity(s: StaffMember) -> Identity:
    number = s.identifier.split("@", 1)[0].removeprefix("staff")
    return Identity(email=s.identifier, username=f"staff{number}", employee_number=f"9{number.zfill(7)}",
                    display_name=f"Staff Member {number}")


def assign(record_id: str, shares: dict[str, float]) -> str:
    """Deterministically give a record to one of several systems in the given proportions."""
    total = sum(shares.values())
    point = int.from_bytes(hashlib.sha1(record_id.encode()).digest()[:8], "big") / 2**64 * total
    for name, weight in shares.items():
        if point < weight:
            return name
        point -= weight
    return next(reversed(shares))
