"""What every kind of event needs, kept once so the kinds agree: times on shift, the envelope, fake identifiers."""

from __future__ import annotations

import random
import uuid
from bisect import bisect
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any, cast

from schemas.events import Event, Kind, make_event
from synthetic.people import StaffMember
from synthetic.tables import json_table

SOURCES: dict[Kind, str] = {
    Kind.FORM_RESPONSE: "msforms",
    Kind.HELPDESK_TICKET: "servicenow",
    Kind.TRAINING_RECORD: "xapi",
    Kind.SKILLS_ASSESSMENT: "skills_survey",
}

# ------------------------------------------------------------------------------------------------- time


def secs(t: datetime) -> datetime:
    """Whole seconds, so ISO strings (used as record versions) all have one format and sort by time."""
    return t.replace(microsecond=0)


def between(rng: random.Random, lo: datetime, hi: datetime) -> datetime:
    return secs(lo + (hi - lo) * rng.random())


_HOURS = tuple(range(7, 23))
_HOUR_CUM = tuple(accumulate((3, 6, 9, 9, 8, 7, 7, 8, 7, 6, 4, 3, 3, 2, 2, 1)))


def working_hours(rng: random.Random, t: datetime, lo: datetime, hi: datetime) -> datetime:
    """Move `t` to a daytime hour on the same day, most people giving feedback or raising tickets on shift."""
    hour = _HOURS[bisect(_HOUR_CUM, rng.random() * _HOUR_CUM[-1])]
    minute, second = divmod(rng.randrange(3600), 60)
    moved = t.replace(hour=hour, minute=minute, second=second, microsecond=0)
    return moved if lo <= moved <= hi else secs(t)


def days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400.0


def clamp(value: float, low: int, high: int) -> int:
    return low if value < low else high if value > high else int(round(value))


# ---------------------------------------------------------------------------------------- event envelope


def build_event(kind: Kind, record_id: str, occurred: datetime, payload: dict[str, Any],
                rng: random.Random, now: datetime) -> Event:
    """A validated event; version is the occurred time, and the connector reads it seconds to minutes later."""
    ingested = min(now, occurred + timedelta(seconds=5 + int(895 * rng.random())))
    return cast(Event, make_event(kind, source=SOURCES[kind], source_record_id=record_id,
                                  record_version=occurred.isoformat(), occurred_at=occurred,
                                  payload=payload, ingested_at=ingested))


def random_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# ---------------------------------------------------------------------------------- identifiers in text

# Fake identifiers for free text: example.nhs.uk e-mail, Ofcom drama-range mobile, 999-range NHS number.
_POSTCODES = tuple(json_table("free_text.json")["postcodes"])


def nhs_number(rng: random.Random) -> str:
    """A 999-range test NHS number whose modulus-11 check digit is valid."""
    while True:
        digits = [9, 9, 9] + [rng.randrange(10) for _ in range(6)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            text = "".join(map(str, digits + [check]))
            return f"{text[:3]} {text[3:6]} {text[6:]}"


def identifier_sentence(rng: random.Random, staff: Sequence[StaffMember]) -> str:
    """A sentence holding one fake identifier, for the scrubber to find in free text."""
    pick = rng.randrange(4)
    if pick == 0:
        return f"Please contact me at {rng.choice(staff).identifier} about this."
    if pick == 1:
        return f"Call me on 07700 900{rng.randrange(1000):03d} if you need more detail."
    if pick == 2:
        return f"Patient {nhs_number(rng)} had the wrong drug chart after go-live."
    return f"The printer at the {rng.choice(_POSTCODES)} community site never works."
