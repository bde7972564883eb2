"""A generated NHS trust, its staff feedback events and a corpus of malformed records.

The demo, the tests and the benchmarks need realistic feedback without real staff data. Staff identifiers
here are `staffNNNNNN@example.nhs.uk`, pseudonymised with the demo key before they reach an event, and every
value comes from a seeded `random.Random`, so one seed always gives the same trust and identical events
(event ids and `ingested_at` included).

The data carries the patterns the metrics are meant to find: help-desk demand spikes in the week after
each wave's go-live and then decays, shifting from how-to and access questions towards defects; confidence
grows with time since training; Ward 7B Acute Medicine struggles (lower scores, more tickets); digital
capability rises from baseline to follow-up, with a gap between staff groups; and a few free-text fields
hold fake identifiers (e-mail, phone, NHS number from the 999 test range, postcode) for the scrubber.
"""

from __future__ import annotations

import copy
import gc
import json
import math
import random
import uuid
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cached_property
from itertools import accumulate
from operator import attrgetter
from typing import Any, Literal, cast

from realise.privacy import DEMO_KEY, pseudonymise
from schemas.events import Event, Kind, Person, SkillsDomain, make_event, make_event_id
from schemas.topics import TOPICS, partition_key

__all__ = [
    "EMAIL_DOMAIN", "HTML_INJECTION", "ONE_MIB", "SOURCES", "SQL_INJECTION", "STAFF_GROUPS", "STRUGGLING_UNIT",
    "SYSTEMS", "TRUST_CODE", "CaughtBy",
    "Malformed", "OrgUnit", "StaffMember", "Trust", "Wave",
    "generate_events", "generate_trust", "malformed_records", "serialise",
]

TRUST_CODE = "RXX"
TRUST_NAME = "Northbridge Teaching Hospitals NHS Foundation Trust"
EMAIL_DOMAIN = "example.nhs.uk"
STRUGGLING_UNIT = f"{TRUST_CODE}-MED-AEM-W7B"  # Ward 7B Acute Medicine

SOURCES: dict[Kind, str] = {
    Kind.FORM_RESPONSE: "msforms",
    Kind.HELPDESK_TICKET: "servicenow",
    Kind.TRAINING_RECORD: "xapi",
    Kind.SKILLS_ASSESSMENT: "skills_survey",
}

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

# Go-live relative to the reference date (`now`): two waves already live, one two weeks away.
_WAVE_OFFSETS = {"wave-1": -60, "wave-2": -30, "wave-3": 14}
_GO_LIVE_TIME = time(7, 0, tzinfo=UTC)

# Staff-group mix (in STAFF_GROUPS order) and system mix (in SYSTEMS order) per kind of unit.
# Pharmacists are counted with healthcare scientists (the scientific and technical workforce).
_UNIT_MIX: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "ward": ((42, 10, 4, 6, 35, 0, 3), (80, 18, 2)),
    "ed": ((40, 22, 3, 10, 22, 0, 3), (88, 10, 2)),
    "theatres": ((40, 20, 6, 5, 24, 1, 4), (85, 13, 2)),
    "critical": ((60, 15, 5, 4, 14, 1, 1), (75, 23, 2)),
    "maternity": ((55, 12, 1, 8, 22, 0, 2), (85, 10, 5)),
    "clinic": ((25, 20, 5, 30, 20, 0, 0), (65, 10, 25)),
    "pharmacy": ((0, 2, 0, 15, 50, 33, 0), (25, 75, 0)),
    "imaging": ((5, 12, 50, 15, 18, 0, 0), (95, 0, 5)),
    "lab": ((0, 5, 0, 15, 25, 55, 0), (97, 0, 3)),
    "therapy": ((0, 0, 75, 10, 15, 0, 0), (85, 0, 15)),
    "records": ((0, 0, 0, 95, 5, 0, 0), (70, 0, 30)),
    "estates": ((0, 0, 0, 10, 0, 0, 90), (100, 0, 0)),
    "corporate": ((0, 0, 0, 95, 0, 0, 5), (85, 0, 15)),
}

_BANDS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    NURSING: (("Band 5", "Band 6", "Band 7", "Band 8a"), (50, 30, 15, 5)),
    MEDICAL: (("Resident Doctor", "Specialty Doctor", "Consultant"), (45, 15, 40)),
    AHP: (("Band 5", "Band 6", "Band 7", "Band 8a"), (30, 40, 25, 5)),
    ADMIN: (("Band 2", "Band 3", "Band 4", "Band 5", "Band 7"), (20, 40, 25, 10, 5)),
    ACS: (("Band 2", "Band 3", "Band 4"), (35, 50, 15)),
    SCIENTISTS: (("Band 5", "Band 6", "Band 7", "Band 8a"), (30, 35, 25, 10)),
    ESTATES: (("Band 2", "Band 3", "Band 4"), (60, 30, 10)),
}

# division → directorates (code, name, wave) → units (code, name, unit kind, relative size)
_HIERARCHY: tuple[tuple[str, str, tuple[tuple[str, str, str, tuple[tuple[str, str, str, float], ...]], ...]],
                  ...] = (
    ("MED", "Medicine", (
        ("AEM", "Acute and Emergency Medicine", "wave-1", (
            ("ED", "Emergency Department", "ed", 3.0),
            ("AMU", "Acute Medical Unit", "ward", 1.6),
            ("W7A", "Ward 7A Acute Medicine", "ward", 1.0),
            ("W7B", "Ward 7B Acute Medicine", "ward", 1.0),
        )),
        ("SPM", "Specialist Medicine", "wave-2", (
            ("W9", "Ward 9 Respiratory", "ward", 1.0),
            ("W10", "Ward 10 Cardiology", "ward", 1.0),
            ("W11", "Ward 11 Gastroenterology", "ward", 1.0),
            ("ENDO", "Endoscopy Unit", "clinic", 0.6),
        )),
        ("ELD", "Elderly Care", "wave-1", (
            ("W14", "Ward 14 Elderly Care", "ward", 1.0),
            ("W15", "Ward 15 Stroke Unit", "ward", 1.0),
            ("FAU", "Frailty Assessment Unit", "ward", 0.7),
        )),
    )),
    ("SUR", "Surgery", (
        ("GEN", "General Surgery", "wave-1", (
            ("W3", "Ward 3 General Surgery", "ward", 1.0),
            ("SAU", "Surgical Assessment Unit", "ward", 0.8),
            ("DSU", "Day Surgery Unit", "theatres", 0.8),
        )),
        ("TAO", "Trauma and Orthopaedics", "wave-2", (
            ("W5", "Ward 5 Trauma and Orthopaedics", "ward", 1.0),
            ("FRC", "Fracture Clinic", "clinic", 0.5),
        )),
        ("TCC", "Theatres and Critical Care", "wave-2", (
            ("THR", "Main Theatres", "theatres", 2.5),
            ("CCU", "Critical Care Unit", "critical", 1.8),
        )),
    )),
    ("WAC", "Women and Children", (
        ("MAT", "Maternity", "wave-3", (
            ("DEL", "Delivery Suite", "maternity", 1.5),
            ("W20", "Ward 20 Maternity", "maternity", 1.0),
            ("ANC", "Antenatal Clinic", "clinic", 0.6),
        )),
        ("PAE", "Paediatrics", "wave-3", (
            ("CHW", "Children's Ward", "ward", 1.0),
            ("NNU", "Neonatal Unit", "critical", 1.0),
            ("POP", "Paediatric Outpatients", "clinic", 0.5),
        )),
    )),
    ("CSC", "Clinical Support and Corporate Services", (
        ("PHA", "Pharmacy", "wave-1", (
            ("DISP", "Pharmacy Dispensary", "pharmacy", 1.0),
            ("WPT", "Ward Pharmacy Team", "pharmacy", 0.8),
        )),
        ("DIA", "Diagnostics", "wave-2", (
            ("RAD", "Radiology", "imaging", 1.8),
            ("PATH", "Pathology Laboratories", "lab", 1.8),
        )),
        ("THE", "Therapies", "wave-2", (
            ("PHYS", "Physiotherapy", "therapy", 1.2),
            ("OT", "Occupational Therapy", "therapy", 0.8),
            ("DIET", "Dietetics", "therapy", 0.3),
        )),
        ("OPA", "Outpatients and Patient Access", "wave-1", (
            ("OPD", "Main Outpatients", "clinic", 1.4),
            ("PAC", "Patient Access Centre", "records", 1.2),
            ("MREC", "Medical Records", "records", 0.8),
        )),
        ("EAF", "Estates and Facilities", "wave-3", (
            ("EST", "Estates", "estates", 1.2),
            ("FAC", "Facilities and Portering", "estates", 2.2),
        )),
        ("COR", "Corporate Services", "wave-3", (
            ("IT", "Digital Services", "corporate", 1.0),
            ("HR", "Workforce and HR", "corporate", 0.6),
            ("FIN", "Finance", "corporate", 0.5),
        )),
    )),
)


# --------------------------------------------------------------------------------------------- the trust


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


def generate_trust(n_staff: int = 2000, seed: int = 7) -> Trust:
    """A trust with four divisions, their directorates and wards/teams, and `n_staff` generated staff."""
    if n_staff < 1:
        raise ValueError("n_staff must be at least 1")
    rng = random.Random(f"realise-trust:{seed}")
    units: dict[str, OrgUnit] = {TRUST_CODE: OrgUnit(TRUST_CODE, TRUST_NAME, "trust", None)}
    for div_code, div_name, directorates in _HIERARCHY:
        div = f"{TRUST_CODE}-{div_code}"
        units[div] = OrgUnit(div, div_name, "division", TRUST_CODE)
        for dir_code, dir_name, wave, leaves in directorates:
            directorate = f"{div}-{dir_code}"
            units[directorate] = OrgUnit(directorate, dir_name, "directorate", div)
            for unit_code, unit_name, unit_type, size in leaves:
                code = f"{directorate}-{unit_code}"
                units[code] = OrgUnit(code, unit_name, "unit", directorate, unit_type, wave, size)
    trust = Trust(TRUST_CODE, TRUST_NAME, units, {n: Wave(n, d) for n, d in _WAVE_OFFSETS.items()}, [], seed)

    leaves = trust.leaves()
    # Every unit gets someone before the rest are spread by size, so small trusts still cover all units.
    placed = leaves[:n_staff] + rng.choices(leaves, weights=[u.size for u in leaves],
                                            k=max(0, n_staff - len(leaves)))
    paths = {u.code: trust.path(u.code) for u in leaves}
    for index, unit in enumerate(placed, start=1):
        groups, systems = _UNIT_MIX[unit.unit_type]
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


# ------------------------------------------------------------------------------------------- time helpers


def _secs(t: datetime) -> datetime:
    """Whole seconds, so ISO strings (used as record versions) all have one format and sort by time."""
    return t.replace(microsecond=0)


def _between(rng: random.Random, lo: datetime, hi: datetime) -> datetime:
    return _secs(lo + (hi - lo) * rng.random())


_HOURS = tuple(range(7, 23))
_HOUR_CUM = tuple(accumulate((3, 6, 9, 9, 8, 7, 7, 8, 7, 6, 4, 3, 3, 2, 2, 1)))


def _working_hours(rng: random.Random, t: datetime, lo: datetime, hi: datetime) -> datetime:
    """Move `t` to a daytime hour on the same day, most people giving feedback or raising tickets on shift."""
    hour = _HOURS[bisect(_HOUR_CUM, rng.random() * _HOUR_CUM[-1])]
    minute, second = divmod(rng.randrange(3600), 60)
    moved = t.replace(hour=hour, minute=minute, second=second, microsecond=0)
    return moved if lo <= moved <= hi else _secs(t)


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400.0


def _clamp(value: float, low: int, high: int) -> int:
    return low if value < low else high if value > high else int(round(value))


# ---------------------------------------------------------------------------------------- people's state

_GROUP_MOOD = {NURSING: 0.35, MEDICAL: -0.1, AHP: 0.15, ADMIN: 0.2, ACS: 0.0, SCIENTISTS: 0.1, ESTATES: -0.1}
_COMPLETES_TRAINING = {NURSING: 0.94, MEDICAL: 0.78, AHP: 0.93, ADMIN: 0.9, ACS: 0.88, SCIENTISTS: 0.93,
                       ESTATES: 0.8}
_STRUGGLING_MOOD = -0.9


@dataclass(slots=True)
class _Profile:
    """Latent state behind one person's feedback, shared by every kind so the kinds tell one story."""

    staff: StaffMember
    person: Person
    go_live: datetime
    due_at: datetime  # when they were due to pass the go-live course
    trained_at: datetime | None  # when they passed it (may be after now: not yet); None: never
    failed_first: bool
    mood: float  # staff group + ward + personal offset on every agree/disagree item
    struggling: bool


def _profiles(trust: Trust, now: datetime, seed: int) -> list[_Profile]:
    rng = random.Random(f"realise:{seed}:profiles")
    fallback = _secs(now)
    out = []
    for s in trust.staff:
        go_live = trust.go_live(s.go_live_wave, now) or fallback
        struggling = s.org_unit == STRUGGLING_UNIT
        due = _secs(go_live - timedelta(days=rng.triangular(1, 42, 7)))
        if rng.random() < 0.08:  # some only finish after go-live
            due = _secs(go_live + timedelta(days=rng.uniform(1, 12)))
        trained = due if rng.random() < _COMPLETES_TRAINING[s.staff_group] - (0.1 if struggling else 0) else None
        mood = _GROUP_MOOD[s.staff_group] + (_STRUGGLING_MOOD if struggling else 0.0) + rng.gauss(0, 0.35)
        out.append(_Profile(s, s.person, go_live, due, trained, rng.random() < 0.12, mood, struggling))
    return out


# ---------------------------------------------------------------------------------------- event assembly


def _event(kind: Kind, record_id: str, occurred: datetime, payload: dict[str, Any],
           rng: random.Random, now: datetime) -> Event:
    """A validated event; version is the occurred time, and the connector reads it seconds to minutes later."""
    ingested = min(now, occurred + timedelta(seconds=5 + int(895 * rng.random())))
    return cast(Event, make_event(kind, source=SOURCES[kind], source_record_id=record_id,
                                  record_version=occurred.isoformat(), occurred_at=occurred,
                                  payload=payload, ingested_at=ingested))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# Fake identifiers for free text: example.nhs.uk e-mail, Ofcom drama-range mobile, 999-range NHS number.
_POSTCODES = ("LS1 4AP", "M1 3BN", "B4 6AT", "NE1 7RU", "BS1 5TR", "L3 9TA", "SW1A 2AA", "CF10 1EP")


def _nhs_number(rng: random.Random) -> str:
    """A 999-range test NHS number whose modulus-11 check digit is valid."""
    while True:
        digits = [9, 9, 9] + [rng.randrange(10) for _ in range(6)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            text = "".join(map(str, digits + [check]))
            return f"{text[:3]} {text[3:6]} {text[6:]}"


def _identifier_sentence(rng: random.Random, staff: Sequence[StaffMember]) -> str:
    pick = rng.randrange(4)
    if pick == 0:
        return f"Please contact me at {rng.choice(staff).identifier} about this."
    if pick == 1:
        return f"Call me on 07700 900{rng.randrange(1000):03d} if you need more detail."
    if pick == 2:
        return f"Patient {_nhs_number(rng)} had the wrong drug chart after go-live."
    return f"The printer at the {rng.choice(_POSTCODES)} community site never works."


# ------------------------------------------------------------------------------------------------- forms

_PULSE_ITEMS = ("confidence", "training_fit", "system_speed", "patient_safety", "would_not_go_back",
                "support_available")
_PULSE_EXTRA = ("login_reliable", "workflow_fit")
_READINESS_ITEMS = ("confidence", "training_fit", "support_available", "patient_safety", "login_ready",
                    "time_to_train")
_READINESS_EXTRA = ("workflow_fit", "system_speed")
_ITEM_OFFSET = {"confidence": 0.0, "training_fit": 0.1, "system_speed": -0.5, "patient_safety": 0.2,
                "would_not_go_back": 0.0, "support_available": 0.2, "login_reliable": -0.3,
                "workflow_fit": -0.2, "login_ready": 0.4, "time_to_train": -0.5}
_SYSTEM_SLUG = {"EPR": "epr", "ePMA": "epma", "Patient Portal": "portal"}

_THEMES = ("login", "speed", "training", "workflow", "hardware", "positive")
_PHRASES: dict[str, tuple[str, ...]] = {
    "login": (
        "Smartcard login takes several attempts at the start of every shift.",
        "I keep getting locked out and have to ring the service desk for a password reset.",
        "Single sign-on does not work on the ward PCs so I log in to every application separately.",
        "New starters waited days for their access to be set up.",
        "The system logs me out in the middle of a drug round.",
    ),
    "speed": (
        "The system is very slow at handover when everyone is logged in.",
        "Loading the patient list takes over a minute.",
        "Screens freeze when I open the observations chart.",
        "Everything takes more clicks than paper did.",
        "Results take ages to appear after I refresh.",
    ),
    "training": (
        "The e-learning did not cover what we actually do on the ward.",
        "Training was too early, I had forgotten most of it by go-live.",
        "The floor-walkers were brilliant in the first week.",
        "I would like a refresher session on discharge letters.",
        "Classroom training was much better than the online modules.",
    ),
    "workflow": (
        "Discharge summaries take twice as long as before.",
        "Medication rounds take longer because of the extra scanning.",
        "The handover report does not show what we need.",
        "Ordering bloods is much easier now.",
        "Too many alerts pop up and people click through them.",
    ),
    "hardware": (
        "Not enough computers on wheels for the morning round.",
        "The wristband printer jams every day.",
        "Barcode scanners keep losing their connection.",
        "Laptop batteries do not last a whole shift.",
    ),
    "positive": (
        "Much easier to read prescriptions now.",
        "Having results in one place saves me a lot of time.",
        "I would not go back to paper.",
        "Great support from the digital team.",
        "Finding the patient's history is so much quicker.",
    ),
}
_THEME_CUM_LOW = tuple(accumulate((3, 3, 2, 3, 2, 0.3)))
_THEME_CUM_MID = tuple(accumulate((2, 2, 2, 2, 1, 1.5)))
_THEME_CUM_HIGH = tuple(accumulate((0.6, 0.6, 1, 1, 0.4, 4)))


def _comment(rng: random.Random, mean: float, staff: Sequence[StaffMember]) -> str:
    cum = _THEME_CUM_LOW if mean < 2.8 else _THEME_CUM_HIGH if mean > 3.8 else _THEME_CUM_MID
    parts = [rng.choice(_PHRASES[rng.choices(_THEMES, cum_weights=cum)[0]])]
    if rng.random() < 0.3:
        parts.append(rng.choice(_PHRASES[rng.choices(_THEMES, cum_weights=cum)[0]]))
    if rng.random() < 0.025:
        parts.append(_identifier_sentence(rng, staff))
    return " ".join(dict.fromkeys(parts))


def _likert(rng: random.Random, p: _Profile, item: str, live_days: float, trained_days: float | None) -> int:
    """One agree/disagree answer: confidence grows with days since training, support fades after go-live."""
    mu = 3.3 + p.mood + _ITEM_OFFSET[item]
    if item == "confidence":
        mu += -1.0 if trained_days is None else -0.6 + 1.5 * (1 - math.exp(-trained_days / 21))
    elif item == "would_not_go_back" and live_days > 0:
        mu += -0.6 + 1.2 * (1 - math.exp(-live_days / 30))
    elif item == "support_available" and live_days > 0:
        mu += 0.4 * math.exp(-live_days / 14)
    elif item == "training_fit" and p.staff.staff_group == MEDICAL:
        mu -= 0.3
    elif item == "system_speed" and p.struggling:
        mu -= 0.4
    return _clamp(mu + rng.gauss(0, 0.8), 1, 5)


def _forms(profiles: Sequence[_Profile], staff: Sequence[StaffMember], now: datetime, rng: random.Random,
           count: int, record_prefix: str = "") -> list[Event]:
    out: list[Event] = []
    for number in range(1, count + 1):
        p = rng.choice(profiles)
        g = p.go_live
        pulse_from = g + timedelta(days=3)
        if pulse_from < now and rng.random() < 0.82:
            form, items, extra = "pulse", _PULSE_ITEMS, _PULSE_EXTRA
            lo = pulse_from
            hi = now
        else:
            form, items, extra = "readiness", _READINESS_ITEMS, _READINESS_EXTRA
            lo, hi = g - timedelta(days=28), min(g, now)
            if lo >= hi:
                lo, hi = now - timedelta(days=28), now
        at = _working_hours(rng, _between(rng, lo, hi), lo, hi)
        codes = items + tuple(code for code in extra if rng.random() < 0.5)
        live_days = _days(at - g)
        trained_days = (_days(at - p.trained_at) if p.trained_at is not None and p.trained_at <= at
                        else None)
        likert = {code: _likert(rng, p, code, live_days, trained_days) for code in codes}
        mean = sum(likert.values()) / len(likert)
        recommend = _clamp((mean - 1) * 2.5 + 0.8 + rng.gauss(0, 1.5), 0, 10) if rng.random() < 0.8 else None
        minutes = None
        if form == "pulse" and rng.random() < 0.7:
            mu = -20 * math.exp(-live_days / 14) + 10 * (1 - math.exp(-live_days / 30))
            mu += {ADMIN: 3.0, MEDICAL: -3.0}.get(p.staff.staff_group, 0.0) - (12 if p.struggling else 0)
            minutes = float(_clamp(mu + rng.gauss(0, 12), -720, 720))
        comment = _comment(rng, mean, staff) if rng.random() < (0.35 if form == "pulse" else 0.25) else None
        form_id = f"{_SYSTEM_SLUG[p.staff.system]}-{form}"
        out.append(_event(Kind.FORM_RESPONSE, f"{form_id}:{record_prefix}{number:07d}", at, {
            "form_id": form_id, "person": p.person, "likert": likert, "recommend": recommend,
            "minutes_saved_per_shift": minutes, "comment": comment}, rng, now))
    return out


# ----------------------------------------------------------------------------------------------- tickets

HOW_TO, ACCESS, DEFECT, HARDWARE, PERFORMANCE = (
    "How do I / training", "Access / login", "Defect / error", "Hardware / printer", "Performance")
_CATEGORIES = (HOW_TO, ACCESS, DEFECT, HARDWARE, PERFORMANCE)
# Before go-live people ask for access; the first fortnight is how-to and login; later, defects dominate.
_CATEGORY_WEIGHTS = {"before": (40, 48, 2, 10, 0), "early": (45, 25, 15, 9, 6), "late": (25, 15, 35, 12, 13)}
_CATEGORY_CUM = {phase: tuple(accumulate(w)) for phase, w in _CATEGORY_WEIGHTS.items()}
_CATEGORY_CUM_STRUGGLING = {
    phase: tuple(accumulate(x * (2 if c in (HARDWARE, PERFORMANCE) else 1) for x, c in zip(w, _CATEGORIES,
                                                                                            strict=True)))
    for phase, w in _CATEGORY_WEIGHTS.items()}
_RESOLVE_HOURS = {HOW_TO: 6, ACCESS: 4, DEFECT: 70, HARDWARE: 20, PERFORMANCE: 40}
_PRIORITIES = (1, 2, 3, 4, 5)
_PRIORITY_CUM = tuple(accumulate((1, 6, 45, 40, 8)))
_PRIORITY_CUM_DEFECT = tuple(accumulate((3, 15, 55, 25, 2)))
_SUMMARIES: dict[str, tuple[str, ...]] = {
    HOW_TO: ("How do I record fluid balance?", "How do I amend a discharge letter?",
             "Where do I find the handover report?", "How do I cancel an order placed in error?",
             "How do I document a missed dose?"),
    ACCESS: ("Cannot log in with smartcard", "Account locked after password change",
             "New starter needs access to the ward", "Wrong role assigned, cannot see medication chart",
             "Single sign-on not working on ward PC"),
    DEFECT: ("Error message when saving observations", "Allergy not showing on prescription",
             "Discharge letter missing medications", "Results not filed to the patient record",
             "Duplicate orders created after timeout"),
    HARDWARE: ("Wristband printer jammed", "Barcode scanner not pairing", "Computer on wheels battery failed",
               "Label printer printing blank labels", "Docking station not detecting laptop"),
    PERFORMANCE: ("System very slow at handover", "Patient list takes minutes to load",
                  "Screen freezes when opening charts", "Frequent timeouts during drug round"),
}
_TICKET_LOOKBACK = timedelta(days=90)


def _tickets(profiles: Sequence[_Profile], staff: Sequence[StaffMember], now: datetime, rng: random.Random,
             count: int, record_prefix: str = "INC") -> list[Event]:
    out: list[Event] = []
    cum = tuple(accumulate(4.0 if p.struggling else 1.0 for p in profiles))
    number = 100_000
    earliest = now - _TICKET_LOOKBACK
    while len(out) < count:
        p = rng.choices(profiles, cum_weights=cum)[0]
        g = p.go_live
        if g <= now and rng.random() < 0.75:  # post-go-live demand, decaying with a 5-day mean
            opened = g + timedelta(days=rng.expovariate(1 / 5))
            if opened > now:
                continue
            lo = g
        else:
            lo = max(earliest, g - timedelta(days=42)) if g > now else earliest
            opened = _between(rng, lo, now)
        opened = _working_hours(rng, opened, lo, now)
        number += 1
        since = _days(opened - g)
        phase = "before" if since < 0 else "early" if since < 14 else "late"
        category = rng.choices(_CATEGORIES, cum_weights=(_CATEGORY_CUM_STRUGGLING if p.struggling
                                                         else _CATEGORY_CUM)[phase])[0]
        priority = rng.choices(_PRIORITIES, cum_weights=_PRIORITY_CUM_DEFECT if category == DEFECT
                               else _PRIORITY_CUM)[0]
        taken = _secs(opened + timedelta(minutes=5 + rng.expovariate(1 / 180)))
        reopens = 0
        if rng.random() < (0.15 if category == DEFECT else 0.06) + (0.05 if p.struggling else 0):
            reopens = 1 if rng.random() < 0.85 else 2
        hours = rng.expovariate(1 / _RESOLVE_HOURS[category]) + 24 * reopens * rng.uniform(0.5, 2)
        closed = _secs(taken + timedelta(minutes=10, hours=hours))
        final = "cancelled" if rng.random() < 0.03 else "resolved"
        states = [(s, t) for s, t in ((opened, "new"), (taken, "in_progress"), (closed, final)) if s <= now]
        observed = [s for s in states[:-1] if rng.random() < 0.6] + states[-1:]
        satisfaction = None
        if rng.random() < (0.55 if final == "resolved" else 0.05):
            mu = 4.2 - 0.7 * reopens - (0.5 if hours > 72 else 0) - (0.6 if p.struggling else 0)
            satisfaction = _clamp(mu + rng.gauss(0, 0.9), 1, 5)
        summary = rng.choice(_SUMMARIES[category])
        if rng.random() < 0.03:
            summary = f"{summary}. {_identifier_sentence(rng, staff)}"
        for updated, status in observed[: count - len(out)]:
            done = status in ("resolved", "cancelled")
            out.append(_event(Kind.HELPDESK_TICKET, f"{record_prefix}{number:07d}", updated, {
                "person": p.person, "opened_at": opened, "updated_at": updated,
                "resolved_at": updated if status == "resolved" else None, "status": status,
                "category": category, "priority": priority, "reopen_count": reopens if done else 0,
                "satisfaction": satisfaction if done else None, "summary": summary}, rng, now))
    return out


# ---------------------------------------------------------------------------------------------- training

_GO_LIVE_COURSES = {"EPR": ("EPR-GL-101", "EPR go-live essentials", 90),
                    "ePMA": ("EPMA-GL-101", "ePMA prescribing and administration", 120),
                    "Patient Portal": ("PORTAL-GL-101", "Patient Portal for staff", 45)}
_MODULES = {NURSING: "Nursing documentation and observations", MEDICAL: "Orders, results and discharge",
            AHP: "Therapy assessments and referrals", ADMIN: "Registration and scheduling",
            ACS: "Observations and care records", SCIENTISTS: "Specimen tracking and results",
            ESTATES: "Task lists and bed management"}
# (course id, title, minutes, ends with a scored quiz)
_OPTIONAL_COURSES = (("EPR-TIPS-201", "EPR tips and shortcuts", 20, False),
                     ("EPR-SU-301", "Super user programme", 180, True),
                     ("DOC-REFRESH-110", "Documentation refresher", 30, True),
                     ("SMARTCARD-101", "Smartcard and login basics", 15, False),
                     ("DCS-101", "Digital clinical safety awareness", 40, True))

_Statement = tuple[datetime, str, float | None, int | None]  # time, verb, score, duration seconds


def _go_live_statements(p: _Profile, rng: random.Random) -> list[_Statement]:
    minutes = _GO_LIVE_COURSES[p.staff.system][2]
    end = p.trained_at or p.due_at
    enrolled = _secs(end - timedelta(days=rng.uniform(3, 21)))
    attempted = _between(rng, enrolled + (end - enrolled) * 0.2, enrolled + (end - enrolled) * 0.7)

    def spent() -> int:
        return int(minutes * 60 * rng.uniform(0.6, 1.6))

    out: list[_Statement] = [(enrolled, "enrolled", None, None), (attempted, "attempted", None, None)]
    if p.trained_at is None:
        if rng.random() < 0.4:
            out.append((_secs(attempted + timedelta(minutes=minutes)), "failed",
                        round(rng.uniform(0.3, 0.79), 2), spent()))
        return out if rng.random() < 0.7 else out[:1]
    if p.failed_first:
        out.append((_secs(attempted + timedelta(minutes=minutes)), "failed", round(rng.uniform(0.4, 0.79), 2),
                    spent()))
    duration = spent()
    out.append((p.trained_at, "completed", None, duration))
    out.append((p.trained_at + timedelta(seconds=1), "passed", round(rng.uniform(0.8, 1.0), 2), duration))
    return out


def _training(profiles: Sequence[_Profile], now: datetime, rng: random.Random, count: int) -> list[Event]:
    out: list[Event] = []
    order = list(range(len(profiles)))
    cycle = 0
    while len(out) < count:
        rng.shuffle(order)
        before = len(out)
        for index in order:
            p = profiles[index]
            if cycle == 0:
                course_id, title, _ = _GO_LIVE_COURSES[p.staff.system]
                module: str | None = _MODULES[p.staff.staff_group]
                required = True
                statements = _go_live_statements(p, rng)
            else:  # later passes: optional and refresher courses
                course_id, title, minutes, quiz = rng.choice(_OPTIONAL_COURSES)
                module, required = None, False
                start = _between(rng, max(now - timedelta(days=90), p.go_live - timedelta(days=30)), now)
                statements = [(start, "enrolled", None, None)]
                if rng.random() < 0.7:
                    done = _secs(start + timedelta(days=rng.uniform(0, 10)))
                    duration = int(minutes * 60 * rng.uniform(0.6, 1.5))
                    statements.append((done, "completed", None, duration))
                    if quiz:
                        statements.append((done + timedelta(seconds=1), "passed",
                                           round(rng.uniform(0.7, 1.0), 2), duration))
            for at, verb, score, duration in statements:
                if at > now or len(out) >= count:
                    continue
                out.append(_event(Kind.TRAINING_RECORD, _uuid(rng), at, {
                    "person": p.person, "course_id": course_id, "course_title": title,
                    "module": module if verb != "enrolled" else None, "verb": verb, "score": score,
                    "duration_seconds": duration, "required": required}, rng, now))
            if len(out) >= count:
                break
        if len(out) == before:
            raise RuntimeError("no training statements fall before `now`")
        cycle += 1
    return out


# ------------------------------------------------------------------------------------------------ skills

_GROUP_SKILL = {NURSING: 2.8, MEDICAL: 3.4, AHP: 3.0, ADMIN: 3.3, ACS: 2.4, SCIENTISTS: 3.4, ESTATES: 1.9}
_DOMAIN_OFFSET = {
    SkillsDomain.IDENTITY_WELLBEING_SAFETY: 0.2,
    SkillsDomain.COMMUNICATION_COLLABORATION: 0.3,
    SkillsDomain.INFORMATION_DATA_CONTENT: 0.0,
    SkillsDomain.TEACHING_LEARNING: -0.1,
    SkillsDomain.TECHNICAL_PROFICIENCY: -0.2,
    SkillsDomain.CREATION_INNOVATION_RESEARCH: -0.4,
}


def _skills(profiles: Sequence[_Profile], now: datetime, rng: random.Random, count: int,
            record_prefix: str = "DCSA-") -> list[Event]:
    out: list[Event] = []
    order = list(range(len(profiles)))
    number, cycle = 0, 0

    def emit(p: _Profile, phase: str, at: datetime, assessment: str) -> None:
        nonlocal number
        number += 1
        gain = 0.0 if phase == "baseline" else (0.25 if p.struggling else 0.5)
        base = _GROUP_SKILL[p.staff.staff_group] + 0.6 * p.mood - 0.6 * _GROUP_MOOD[p.staff.staff_group]
        scores = {d: _clamp(base + off + gain + (0.35 if d is SkillsDomain.TECHNICAL_PROFICIENCY and gain else 0)
                            + rng.gauss(0, 0.7), 1, 5) for d, off in _DOMAIN_OFFSET.items()}
        out.append(_event(Kind.SKILLS_ASSESSMENT, f"{record_prefix}{number:07d}", at, {
            "person": p.person, "assessment_id": assessment, "phase": phase, "scores": scores}, rng, now))

    while len(out) < count:
        rng.shuffle(order)
        before = len(out)
        # One round covers everyone once; later rounds exist only when more events are asked for.
        assessment = f"DCSA-R{cycle + 1}"
        for index in order:
            p = profiles[index]
            lo, hi = p.go_live - timedelta(days=56), min(p.go_live - timedelta(days=7), now)
            if lo < hi:
                emit(p, "baseline", _working_hours(rng, _between(rng, lo, hi), lo, hi), assessment)
            lo, hi = p.go_live + timedelta(days=21), min(p.go_live + timedelta(days=56), now)
            if lo < hi and rng.random() < 0.55 and len(out) < count:
                emit(p, "follow_up", _working_hours(rng, _between(rng, lo, hi), lo, hi), assessment)
            if len(out) >= count:
                break
        if len(out) == before:
            raise RuntimeError("no skills assessments fall before `now`")
        cycle += 1
    return out[:count]


# ------------------------------------------------------------------------------------------------ public


def generate_events(trust: Trust, *, now: datetime, seed: int = 7, forms: int, tickets: int, training: int,
                    skills: int) -> list[Event]:
    """Validated events of all four kinds, in occurred_at order, none after `now`.

    The counts are numbers of events: a ticket contributes one event per observed version (new,
    in_progress, resolved), so `tickets` events cover fewer distinct tickets. Each kind draws from its own
    random stream, so changing one count leaves the other kinds' events unchanged.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if min(forms, tickets, training, skills) < 0:
        raise ValueError("event counts must not be negative")
    now = _secs(now.astimezone(UTC))
    profiles = _profiles(trust, now, seed)

    def stream(name: str) -> random.Random:
        return random.Random(f"realise:{seed}:{name}")

    # Events hold no reference cycles; without the cyclic collector rescanning the growing list of
    # models, generation runs about twice as fast.
    collecting = gc.isenabled()
    gc.disable()
    try:
        events = (_forms(profiles, trust.staff, now, stream("forms"), forms)
                  + _tickets(profiles, trust.staff, now, stream("tickets"), tickets)
                  + _training(profiles, now, stream("training"), training)
                  + _skills(profiles, now, stream("skills"), skills))
    finally:
        if collecting:
            gc.enable()
    events.sort(key=attrgetter("occurred_at"))
    return events


def serialise(event: Event) -> tuple[str, bytes, bytes]:
    """(topic, key, value) as a producer sends it (connectors.core.pull.routed): keyed by org unit so one unit
    stays in one partition, a retraction by the record it retracts."""
    if event.kind == Kind.RETRACTION:
        return TOPICS[Kind.RETRACTION], partition_key(event.source_record_id), event.model_dump_json().encode()
    return (TOPICS[Kind(event.kind)], partition_key(event.payload.person.org_unit),
            event.model_dump_json().encode())


# -------------------------------------------------------------------------------------- malformed corpus

CaughtBy = Literal["pydantic", "quality", "ingest", ""]
ONE_MIB = 1024 * 1024
SQL_INJECTION = "'; DROP TABLE core.fact_form_response; --"
HTML_INJECTION = "<script>alert(1)</script>"


@dataclass(frozen=True)
class Malformed:
    """A hostile record for the ingest: quarantine it (valid=False) or load it intact (valid=True).

    `expect` is a lowercase substring of the quarantine reason. `caught_by` names the stage that rejects it:
    "pydantic" (the event models, at decode), "ingest" (decode's checks around the models: record size,
    kind against topic) or "quality" (the data-quality gate, e.g. timestamps later than now). Valid records
    have expect="" and caught_by="". They include SQL and script injection, which must be stored as plain
    text, and NUL and control characters in a comment: PostgreSQL text cannot hold NUL, so the ingest must
    strip it before storing rather than reject the record.
    """

    topic: str
    key: bytes | None
    value: bytes
    why: str
    expect: str
    valid: bool = False
    caught_by: CaughtBy = "pydantic"
    name: str = ""


def _rebased(base: dict[str, Any], record_id: str) -> dict[str, Any]:
    """A deep copy of `base` under a new source record id, event id re-derived so only the change is wrong."""
    data = copy.deepcopy(base)
    data["source_record_id"] = record_id
    data["event_id"] = str(make_event_id(data["source"], record_id, data["record_version"]))
    return data


def malformed_records(trust: Trust, now: datetime, seed: int = 7) -> list[Malformed]:
    """Malformed and hostile records, each a valid event with one thing changed (or raw bytes)."""
    now = _secs(now.astimezone(UTC))
    rng = random.Random(f"realise:{seed}:malformed")
    profiles = _profiles(trust, now, seed)
    bases: dict[Kind, dict[str, Any]] = {
        Kind.FORM_RESPONSE: _forms(profiles, trust.staff, now, rng, 1, "edge-")[0].model_dump(mode="json"),
        Kind.HELPDESK_TICKET: _tickets(profiles, trust.staff, now, rng, 1, "EDGE")[0].model_dump(mode="json"),
        Kind.TRAINING_RECORD: _training(profiles, now, rng, 1)[0].model_dump(mode="json"),
        Kind.SKILLS_ASSESSMENT: _skills(profiles, now, rng, 1, "EDGE-")[0].model_dump(mode="json"),
    }
    out: list[Malformed] = []

    def add(name: str, kind: Kind, why: str, expect: str, change: Callable[[dict[str, Any]], Any] | None = None,
            *, raw: bytes | None = None, topic: str | None = None, keyed: bool = True, valid: bool = False,
            caught_by: CaughtBy = "pydantic") -> None:
        data = _rebased(bases[kind], f"edge-{name}")
        if change is not None:
            replaced = change(data)
            data = data if replaced is None else replaced
        value = raw if raw is not None else json.dumps(data, ensure_ascii=False).encode()
        key = partition_key(bases[kind]["payload"]["person"]["org_unit"]) if keyed else None
        out.append(Malformed(topic or TOPICS[kind], key, value, why, expect, valid,
                             "" if valid else caught_by, name))

    def set_path(*path: str | int, value: Any) -> Callable[[dict[str, Any]], None]:
        def change(data: dict[str, Any]) -> None:
            target: Any = data
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value

        return change

    def delete(*path: str) -> Callable[[dict[str, Any]], None]:
        def change(data: dict[str, Any]) -> None:
            target: Any = data
            for part in path[:-1]:
                target = target[part]
            del target[path[-1]]

        return change

    form, ticket, training, skills = (Kind.FORM_RESPONSE, Kind.HELPDESK_TICKET, Kind.TRAINING_RECORD,
                                      Kind.SKILLS_ASSESSMENT)
    form_json = json.dumps(_rebased(bases[form], "edge-bytes")).encode()
    person = bases[form]["payload"]["person"]
    raw_email = next(s.identifier for s in trust.staff if s.pseudonym == person["pseudonym"])

    # Bytes that are not a JSON object.
    add("invalid_json", form, "Python repr instead of JSON (single quotes)", "json",
        raw=b"{'kind': 'form_response', 'payload': None}", keyed=False)
    add("truncated_json", form, "JSON cut off half way", "json", raw=form_json[: len(form_json) // 2])
    latin1 = _rebased(bases[form], "edge-invalid_utf8")
    latin1["payload"]["comment"] = "Café on level 2 is the only place with working Wi-Fi"
    add("invalid_utf8", form, "Latin-1 bytes in a comment, not UTF-8", "utf-8",
        raw=json.dumps(latin1, ensure_ascii=False).encode("latin-1"))
    add("empty_value", form, "empty value", "empty", raw=b"")
    add("json_array", form, "a JSON list holding an event, not an event", "object",
        raw=json.dumps([bases[form]]).encode())
    add("json_number", form, "a bare JSON number", "object", raw=b"42", keyed=False)

    # Shape: required fields, types, unknown fields, envelope rules.
    add("missing_person", form, "payload.person missing", "required", delete("payload", "person"))
    add("missing_occurred_at", ticket, "occurred_at missing", "required", delete("occurred_at"))
    add("missing_kind", form, "kind missing", "kind", delete("kind"))
    add("unknown_kind", form, "kind that no model carries", "kind", set_path("kind", value="feedback"))
    add("recommend_string", form, "recommend as a word", "recommend", set_path("payload", "recommend", value="ten"))
    add("likert_string", form, '"five" for a Likert value', "likert",
        set_path("payload", "likert", "confidence", value="five"))
    add("extra_field", form, "unknown top-level field", "unknown field",
        set_path("submitted_via", value="teams"))
    add("schema_version_2", skills, "schema version this release does not know", "schema_version",
        set_path("schema_version", value=2))
    add("naive_timestamp", form, "occurred_at without a timezone", "timezone",
        lambda d: set_path("occurred_at", value=d["occurred_at"].rstrip("Z").split("+")[0])(d))
    add("raw_email_pseudonym", form, "raw e-mail address where the pseudonym belongs", "pseudonym",
        set_path("payload", "person", "pseudonym", value=raw_email))
    add("event_id_not_derived", training, "event_id not derived from source, record id and version",
        "event_id", set_path("event_id", value=_uuid(rng)))

    # Out of range.
    add("likert_7", form, "Likert value 7 on a 1-5 scale", "likert",
        set_path("payload", "likert", "confidence", value=7))
    add("recommend_14", form, "recommend 14 on a 0-10 scale", "recommend", set_path("payload", "recommend", value=14))
    add("score_1_5", training, "scaled score 1.5 (must be 0..1)", "score", set_path("payload", "score", value=1.5))
    add("priority_9", ticket, "ticket priority 9 (must be 1..5)", "priority",
        set_path("payload", "priority", value=9))
    add("skills_score_6", skills, "capability score 6 on a 1-5 scale", "scores",
        set_path("payload", "scores", SkillsDomain.TECHNICAL_PROFICIENCY.value, value=6))
    add("comment_5000", form, "comment of 5,000 characters (limit 4,000)", "comment",
        set_path("payload", "comment", value="The system is slow. " * 250))

    # Caught after the models: size and topic at decode, time rules at the quality gate.
    add("record_over_1mib", form, "whole record over 1 MiB (valid JSON padded with whitespace)", "too large",
        raw=form_json[:-1] + b" " * (ONE_MIB + 1024 - len(form_json)) + b"}", caught_by="ingest")
    add("kind_topic_mismatch", ticket, "helpdesk_ticket event on the form_response topic", "kind",
        topic=TOPICS[form], caught_by="ingest")
    add("occurred_2099", form, "occurred_at in 2099", "later than now",
        set_path("occurred_at", value="2099-01-01T09:00:00Z"), caught_by="quality")
    add("occurred_1999", training, "occurred_at in 1999", "earlier than",
        set_path("occurred_at", value="1999-12-31T09:00:00Z"), caught_by="quality")
    opened = datetime.fromisoformat(bases[ticket]["payload"]["opened_at"])
    add("resolved_before_opened", ticket, "ticket resolved before it was opened", "before opened_at",
        set_path("payload", "resolved_at", value=(opened - timedelta(days=2)).isoformat()),
        caught_by="quality")

    # Hostile but valid: must load, stored as plain text.
    add("sql_injection_comment", form, "SQL injection in a comment", "",
        set_path("payload", "comment", value=SQL_INJECTION), valid=True)
    add("sql_injection_ticket", ticket, "SQL injection in a ticket's category and summary", "",
        lambda d: d["payload"].update(category=SQL_INJECTION, summary=f"Robert{SQL_INJECTION}"), valid=True)
    add("html_injection_comment", form, "script tag in a comment", "",
        set_path("payload", "comment", value=f"Great system {HTML_INJECTION}"), valid=True)
    add("html_injection_course", training, "script tag in a course title", "",
        set_path("payload", "course_title", value=HTML_INJECTION), valid=True)
    add("nul_in_comment", form, "NUL character in a comment (ingest strips it before storing)", "",
        set_path("payload", "comment", value="Login fails\u0000 every morning"), valid=True)
    add("control_chars_in_comment", form, "bell, ANSI escape and right-to-left override in a comment", "",
        set_path("payload", "comment", value="Slow\u0007 \u001b[31mred\u001b[0m \u202egnp.exe"), valid=True)
    return out
