"""The generated trust (org units, go-live waves, staff): who every event is about, with no real staff data."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cached_property
from typing import Literal

from foundation.privacy import DEMO_KEY, pseudonymise
from schemas.events import Person
from synthetic.tables import csv_rows, keyed

TRUST_CODE = "RXX"
TRUST_NAME = "Northbridge Teaching Hospitals NHS Foundation Trust"
EMAIL_DOMAIN = "example.nhs.uk"
STRUGGLING_UNIT = f"{TRUST_CODE}-MED-AEM-W7B"  # Ward 7B Acute Medicine

STAFF_GROUPS = (
    "Nursing and Midwifery",
    "Medical and Dental",
    "Allied Health Professionals",
    "Admin and Clerical",
    "Additional Clinical Services",
    "Healthcare Scientists",
    "Estates and Ancillary",
)
NURSING, MEDICAL, AHP, ADMIN, ACS, SCIENTISTS, ESTATES = STAFF_GROUPS
SYSTEMS = ("EPR", "ePMA", "Patient Portal")

_GO_LIVE_TIME = time(7, 0, tzinfo=UTC)


def _weights_by_unit_type(name: str, columns: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    """Per kind of unit, the weights of `columns` (staff groups or systems) in that order."""
    out: dict[str, tuple[int, ...]] = {}
    for row in csv_rows(name):
        unit_type = row.pop("unit_type")
        out[unit_type] = tuple(int(w) for w in keyed(row, columns, f"{name} columns").values())
    return out


def _bands() -> dict[str, tuple[tuple[str, ...], tuple[int, ...]]]:
    """Per staff group, its pay bands (or grades) and their weights."""
    bands: dict[str, list[tuple[str, int]]] = {}
    for row in csv_rows("bands.csv"):
        bands.setdefault(row["staff_group"], []).append((row["band"], int(row["weight"])))
    by_group = keyed(bands, STAFF_GROUPS, "bands.csv staff groups")
    return {group: (tuple(b for b, _ in rows), tuple(w for _, w in rows)) for group, rows in by_group.items()}


# Go-live relative to the reference date (`now`): two waves already live, one two weeks away.
_WAVE_OFFSETS = {row["wave"]: int(row["go_live_offset_days"]) for row in csv_rows("waves.csv")}
# Pharmacists are counted with healthcare scientists (the scientific and technical workforce).
_GROUP_MIX = _weights_by_unit_type("staff_group_mix.csv", STAFF_GROUPS)
_SYSTEM_MIX = _weights_by_unit_type("system_mix.csv", SYSTEMS)
_BANDS = _bands()
# One row per unit, under its directorate (which carries the go-live wave) and division.
_ORG_UNITS = csv_rows("org_units.csv")


@dataclass(frozen=True)
class Wave:
    """A go-live wave, dated relative to a reference date so generated data never goes stale."""

    name: str
    offset_days: int

    def go_live(self, now: datetime) -> datetime:
        """Go-live moment (07:00 UTC) for the reference date `now`."""
        return datetime.combine((now + timedelta(days=self.offset_days)).date(), _GO_LIVE_TIME)


@dataclass(frozen=True)
class OrgUnit:
    """A node of the org hierarchy; people belong to leaves ("unit"), which carry the go-live wave."""

    code: str
    name: str
    level: Literal["trust", "division", "directorate", "unit"]
    parent: str | None
    unit_type: str = ""  # leaves only: ward, ed, theatres, clinic, pharmacy, ...
    wave: str | None = None  # leaves only
    size: float = 0.0  # leaves only: relative headcount


@dataclass(frozen=True)
class StaffMember:
    """One generated member of staff. `identifier` is fake and only ever leaves here as `pseudonym`."""

    identifier: str
    pseudonym: str
    org_unit: str
    org_path: tuple[str, ...]
    staff_group: str
    band: str
    system: str
    go_live_wave: str | None

    @cached_property
    def person(self) -> Person:
        """The event payload's view of this person."""
        return Person(pseudonym=self.pseudonym, org_unit=self.org_unit, org_path=list(self.org_path),
                      staff_group=self.staff_group, system=self.system, go_live_wave=self.go_live_wave)


@dataclass
class Trust:
    """The generated organisation: units by code, go-live waves by name, and its staff."""

    code: str
    name: str
    units: dict[str, OrgUnit]
    waves: dict[str, Wave]
    staff: list[StaffMember]
    seed: int

    def leaves(self) -> list[OrgUnit]:
        return [u for u in self.units.values() if u.level == "unit"]

    def path(self, code: str) -> tuple[str, ...]:
        """Ancestor codes of `code`, top first, excluding `code` itself."""
        out: list[str] = []
        parent = self.units[code].parent
        while parent is not None:
            out.append(parent)
            parent = self.units[parent].parent
        return tuple(reversed(out))

    def go_live(self, wave: str | None, now: datetime) -> datetime | None:
        return self.waves[wave].go_live(now) if wave else None

    def staff_in(self, code: str) -> list[StaffMember]:
        """Staff whose leaf unit is `code` or sits under it."""
        return [s for s in self.staff if s.org_unit == code or code in s.org_path]


def _org_units() -> dict[str, OrgUnit]:
    """Trust, divisions, directorates and units by code, each parent before its children."""
    units: dict[str, OrgUnit] = {TRUST_CODE: OrgUnit(TRUST_CODE, TRUST_NAME, "trust", None)}
    for row in _ORG_UNITS:
        division = f"{TRUST_CODE}-{row['division_code']}"
        directorate = f"{division}-{row['directorate_code']}"
        code = f"{directorate}-{row['unit_code']}"
        if division not in units:
            units[division] = OrgUnit(division, row["division"], "division", TRUST_CODE)
        if directorate not in units:
            units[directorate] = OrgUnit(directorate, row["directorate"], "directorate", division)
        units[code] = OrgUnit(code, row["unit"], "unit", directorate, row["unit_type"], row["go_live_wave"],
                              float(row["relative_size"]))
    return units


def generate_trust(n_staff: int = 2000, seed: int = 7) -> Trust:
    """A trust with four divisions, their directorates and wards/teams, and `n_staff` generated staff."""
    if n_staff < 1:
        raise ValueError("n_staff must be at least 1")
    rng = random.Random(f"realise-trust:{seed}")
    trust = Trust(TRUST_CODE, TRUST_NAME, _org_units(), {n: Wave(n, d) for n, d in _WAVE_OFFSETS.items()}, [],
                  seed)

    leaves = trust.leaves()
    # Every unit gets someone before the rest are spread by size, so small trusts still cover all units.
    placed = leaves[:n_staff] + rng.choices(leaves, weights=[u.size for u in leaves],
                                            k=max(0, n_staff - len(leaves)))
    paths = {u.code: trust.path(u.code) for u in leaves}
    for index, unit in enumerate(placed, start=1):
        groups, systems = _GROUP_MIX[unit.unit_type], _SYSTEM_MIX[unit.unit_type]
        group = rng.choices(STAFF_GROUPS, weights=groups)[0]
        names, weights = _BANDS[group]
        identifier = f"staff{index:06d}@{EMAIL_DOMAIN}"
        trust.staff.append(StaffMember(
            identifier=identifier,
            pseudonym=pseudonymise(identifier, DEMO_KEY),
            org_unit=unit.code,
            org_path=paths[unit.code],
            staff_group=group,
            band=rng.choices(names, weights=weights)[0],
            system=rng.choices(SYSTEMS, weights=systems)[0],
            go_live_wave=unit.wave,
        ))
    return trust
