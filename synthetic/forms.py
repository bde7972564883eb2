"""Staff survey responses (readiness before go-live, pulse after), the source of the experience scores and comments."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import accumulate

from schemas.events import Event, Kind
from synthetic.people import ADMIN, MEDICAL, SYSTEMS, StaffMember
from synthetic.profiles import Profile
from synthetic.shared import between, build_event, clamp, days, identifier_sentence, working_hours
from synthetic.tables import json_table, keyed

_TABLES = json_table("forms.json")
# Each form asks its core items always and each of its optional items half the time.
_PULSE_ITEMS = tuple(_TABLES["items"]["pulse"]["always"])
_PULSE_EXTRA = tuple(_TABLES["items"]["pulse"]["sometimes"])
_READINESS_ITEMS = tuple(_TABLES["items"]["readiness"]["always"])
_READINESS_EXTRA = tuple(_TABLES["items"]["readiness"]["sometimes"])
_ITEMS = dict.fromkeys(_PULSE_ITEMS + _PULSE_EXTRA + _READINESS_ITEMS + _READINESS_EXTRA)
_ITEM_OFFSET: dict[str, float] = keyed(_TABLES["item_offsets"], _ITEMS, "forms.json item_offsets")
_SYSTEM_SLUG: dict[str, str] = keyed(_TABLES["form_prefix_by_system"], SYSTEMS, "forms.json form_prefix_by_system")

_PHRASES: dict[str, tuple[str, ...]] = {theme: tuple(p) for theme, p in _TABLES["comment_phrases"].items()}
_THEMES = tuple(_PHRASES)


def _theme_cum(level: str) -> tuple[float, ...]:
    weights = keyed(_TABLES["comment_theme_weights"][level], _THEMES, f"forms.json comment_theme_weights {level}")
    return tuple(accumulate(weights.values()))


# What a comment is about depends on how the person scored the form: low, middling or high.
_THEME_CUM_LOW, _THEME_CUM_MID, _THEME_CUM_HIGH = _theme_cum("low"), _theme_cum("mid"), _theme_cum("high")


def _comment(rng: random.Random, mean: float, staff: Sequence[StaffMember]) -> str:
    cum = _THEME_CUM_LOW if mean < 2.8 else _THEME_CUM_HIGH if mean > 3.8 else _THEME_CUM_MID
    parts = [rng.choice(_PHRASES[rng.choices(_THEMES, cum_weights=cum)[0]])]
    if rng.random() < 0.3:
        parts.append(rng.choice(_PHRASES[rng.choices(_THEMES, cum_weights=cum)[0]]))
    if rng.random() < 0.025:
        parts.append(identifier_sentence(rng, staff))
    return " ".join(dict.fromkeys(parts))


def _likert(rng: random.Random, p: Profile, item: str, live_days: float, trained_days: float | None) -> int:
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
    return clamp(mu + rng.gauss(0, 0.8), 1, 5)


def form_responses(profiles: Sequence[Profile], staff: Sequence[StaffMember], now: datetime, rng: random.Random,
                   count: int, record_prefix: str = "") -> list[Event]:
    """`count` form responses, each from a random person: a pulse survey after go-live, else a readiness one."""
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
        at = working_hours(rng, between(rng, lo, hi), lo, hi)
        codes = items + tuple(code for code in extra if rng.random() < 0.5)
        live_days = days(at - g)
        trained_days = (days(at - p.trained_at) if p.trained_at is not None and p.trained_at <= at
                        else None)
        likert = {code: _likert(rng, p, code, live_days, trained_days) for code in codes}
        mean = sum(likert.values()) / len(likert)
        recommend = clamp((mean - 1) * 2.5 + 0.8 + rng.gauss(0, 1.5), 0, 10) if rng.random() < 0.8 else None
        minutes = None
        if form == "pulse" and rng.random() < 0.7:
            mu = -20 * math.exp(-live_days / 14) + 10 * (1 - math.exp(-live_days / 30))
            mu += {ADMIN: 3.0, MEDICAL: -3.0}.get(p.staff.staff_group, 0.0) - (12 if p.struggling else 0)
            minutes = float(clamp(mu + rng.gauss(0, 12), -720, 720))
        comment = _comment(rng, mean, staff) if rng.random() < (0.35 if form == "pulse" else 0.25) else None
        form_id = f"{_SYSTEM_SLUG[p.staff.system]}-{form}"
        out.append(build_event(Kind.FORM_RESPONSE, f"{form_id}:{record_prefix}{number:07d}", at, {
            "form_id": form_id, "person": p.person, "likert": likert, "recommend": recommend,
            "minutes_saved_per_shift": minutes, "comment": comment}, rng, now))
    return out
