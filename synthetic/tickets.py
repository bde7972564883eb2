"""Help-desk tickets, one event per observed version, whose demand spikes after each go-live and then decays."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import accumulate

from schemas.events import Event, Kind
from synthetic.people import StaffMember
from synthetic.profiles import Profile
from synthetic.shared import between, build_event, clamp, days, identifier_sentence, secs, working_hours
from synthetic.tables import json_table, keyed

HOW_TO, ACCESS, DEFECT, HARDWARE, PERFORMANCE = (
    "How do I / training", "Access / login", "Defect / error", "Hardware / printer", "Performance")
_CATEGORIES = (HOW_TO, ACCESS, DEFECT, HARDWARE, PERFORMANCE)
_PHASES = ("before", "early", "late")
_PRIORITIES = (1, 2, 3, 4, 5)

_TABLES = json_table("tickets.json")
# Before go-live people ask for access; the first fortnight is how-to and login; later, defects dominate.
_CATEGORY_WEIGHTS = {
    phase: tuple(keyed(weights, _CATEGORIES, f"tickets.json category_weights {phase}").values())
    for phase, weights in keyed(_TABLES["category_weights"], _PHASES, "tickets.json category_weights").items()}
_CATEGORY_CUM = {phase: tuple(accumulate(w)) for phase, w in _CATEGORY_WEIGHTS.items()}
_CATEGORY_CUM_STRUGGLING = {
    phase: tuple(accumulate(x * (2 if c in (HARDWARE, PERFORMANCE) else 1) for x, c in zip(w, _CATEGORIES,
                                                                                            strict=True)))
    for phase, w in _CATEGORY_WEIGHTS.items()}
_RESOLVE_HOURS: dict[str, int] = keyed(_TABLES["resolve_hours"], _CATEGORIES, "tickets.json resolve_hours")


def _priority_cum(kind: str) -> tuple[int, ...]:
    weights = keyed(_TABLES["priority_weights"][kind], map(str, _PRIORITIES), f"tickets.json priority_weights {kind}")
    return tuple(accumulate(weights.values()))


_PRIORITY_CUM, _PRIORITY_CUM_DEFECT = _priority_cum("default"), _priority_cum("defect")
_SUMMARIES: dict[str, tuple[str, ...]] = {
    category: tuple(summaries)
    for category, summaries in keyed(_TABLES["summaries"], _CATEGORIES, "tickets.json summaries").items()}
_TICKET_LOOKBACK = timedelta(days=90)


def ticket_updates(profiles: Sequence[Profile], staff: Sequence[StaffMember], now: datetime, rng: random.Random,
                   count: int, record_prefix: str = "INC") -> list[Event]:
    """`count` ticket events: each ticket's observed versions (new, in_progress, resolved or cancelled)."""
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
            opened = between(rng, lo, now)
        opened = working_hours(rng, opened, lo, now)
        number += 1
        since = days(opened - g)
        phase = "before" if since < 0 else "early" if since < 14 else "late"
        category = rng.choices(_CATEGORIES, cum_weights=(_CATEGORY_CUM_STRUGGLING if p.struggling
                                                         else _CATEGORY_CUM)[phase])[0]
        priority = rng.choices(_PRIORITIES, cum_weights=_PRIORITY_CUM_DEFECT if category == DEFECT
                               else _PRIORITY_CUM)[0]
        taken = secs(opened + timedelta(minutes=5 + rng.expovariate(1 / 180)))
        reopens = 0
        if rng.random() < (0.15 if category == DEFECT else 0.06) + (0.05 if p.struggling else 0):
            reopens = 1 if rng.random() < 0.85 else 2
        hours = rng.expovariate(1 / _RESOLVE_HOURS[category]) + 24 * reopens * rng.uniform(0.5, 2)
        closed = secs(taken + timedelta(minutes=10, hours=hours))
        final = "cancelled" if rng.random() < 0.03 else "resolved"
        states = [(s, t) for s, t in ((opened, "new"), (taken, "in_progress"), (closed, final)) if s <= now]
        observed = [s for s in states[:-1] if rng.random() < 0.6] + states[-1:]
        satisfaction = None
        if rng.random() < (0.55 if final == "resolved" else 0.05):
            mu = 4.2 - 0.7 * reopens - (0.5 if hours > 72 else 0) - (0.6 if p.struggling else 0)
            satisfaction = clamp(mu + rng.gauss(0, 0.9), 1, 5)
        summary = rng.choice(_SUMMARIES[category])
        if rng.random() < 0.03:
            summary = f"{summary}. {identifier_sentence(rng, staff)}"
        for updated, status in observed[: count - len(out)]:
            done = status in ("resolved", "cancelled")
            out.append(build_event(Kind.HELPDESK_TICKET, f"{record_prefix}{number:07d}", updated, {
                "person": p.person, "opened_at": opened, "updated_at": updated,
                "resolved_at": updated if status == "resolved" else None, "status": status,
                "category": category, "priority": priority, "reopen_count": reopens if done else 0,
                "satisfaction": satisfaction if done else None, "summary": summary}, rng, now))
    return out
