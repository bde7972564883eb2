"""The latent state behind each person's feedback, shared by every kind of event so the kinds tell one story."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.events import Person
from synthetic.people import STAFF_GROUPS, STRUGGLING_UNIT, StaffMember, Trust
from synthetic.shared import secs
from synthetic.tables import json_table, keyed

_TABLES = json_table("profiles.json")
GROUP_MOOD: dict[str, float] = keyed(_TABLES["mood_by_staff_group"], STAFF_GROUPS, "profiles.json mood")
_COMPLETES_TRAINING: dict[str, float] = keyed(_TABLES["completes_training_by_staff_group"], STAFF_GROUPS,
                                              "profiles.json completes_training")
_STRUGGLING_MOOD = -0.9


@dataclass(slots=True)
class Profile:
    """One person's latent state: when they trained, how they feel, whether their ward struggles."""

    staff: StaffMember
    person: Person
    go_live: datetime
    due_at: datetime  # when they were due to pass the go-live course
    trained_at: datetime | None  # when they passed it (may be after now: not yet); None: never
    failed_first: bool
    mood: float  # staff group + ward + personal offset on every agree/disagree item
    struggling: bool


def staff_profiles(trust: Trust, now: datetime, seed: int) -> list[Profile]:
    """Every member of staff's profile, from its own random stream so each kind sees the same people."""
    rng = random.Random(f"realise:{seed}:profiles")
    fallback = secs(now)
    out = []
    for s in trust.staff:
        go_live = trust.go_live(s.go_live_wave, now) or fallback
        struggling = s.org_unit == STRUGGLING_UNIT
        due = secs(go_live - timedelta(days=rng.triangular(1, 42, 7)))
        if rng.random() < 0.08:  # some only finish after go-live
            due = secs(go_live + timedelta(days=rng.uniform(1, 12)))
        trained = due if rng.random() < _COMPLETES_TRAINING[s.staff_group] - (0.1 if struggling else 0) else None
        mood = GROUP_MOOD[s.staff_group] + (_STRUGGLING_MOOD if struggling else 0.0) + rng.gauss(0, 0.35)
        out.append(Profile(s, s.person, go_live, due, trained, rng.random() < 0.12, mood, struggling))
    return out
