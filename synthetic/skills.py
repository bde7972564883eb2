"""Digital capability self-assessments (baseline, then follow-up) that show the uplift and the staff-group gap."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from schemas.events import Event, Kind, SkillsDomain
from synthetic.people import STAFF_GROUPS
from synthetic.profiles import GROUP_MOOD, Profile
from synthetic.shared import between, build_event, clamp, working_hours
from synthetic.tables import json_table, keyed

_TABLES = json_table("skills.json")
_GROUP_SKILL: dict[str, float] = keyed(_TABLES["baseline_by_staff_group"], STAFF_GROUPS,
                                       "skills.json baseline_by_staff_group")
_DOMAIN_OFFSET: dict[SkillsDomain, float] = {
    SkillsDomain(domain): offset
    for domain, offset in keyed(_TABLES["domain_offsets"], SkillsDomain, "skills.json domain_offsets").items()}


def skills_assessments(profiles: Sequence[Profile], now: datetime, rng: random.Random, count: int,
                       record_prefix: str = "DCSA-") -> list[Event]:
    """`count` assessments in rounds: each round a baseline for everyone and a follow-up for about half."""
    out: list[Event] = []
    order = list(range(len(profiles)))
    number, cycle = 0, 0

    def emit(p: Profile, phase: str, at: datetime, assessment: str) -> None:
        nonlocal number
        number += 1
        gain = 0.0 if phase == "baseline" else (0.25 if p.struggling else 0.5)
        base = _GROUP_SKILL[p.staff.staff_group] + 0.6 * p.mood - 0.6 * GROUP_MOOD[p.staff.staff_group]
        scores = {d: clamp(base + off + gain + (0.35 if d is SkillsDomain.TECHNICAL_PROFICIENCY and gain else 0)
                           + rng.gauss(0, 0.7), 1, 5) for d, off in _DOMAIN_OFFSET.items()}
        out.append(build_event(Kind.SKILLS_ASSESSMENT, f"{record_prefix}{number:07d}", at, {
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
                emit(p, "baseline", working_hours(rng, between(rng, lo, hi), lo, hi), assessment)
            lo, hi = p.go_live + timedelta(days=21), min(p.go_live + timedelta(days=56), now)
            if lo < hi and rng.random() < 0.55 and len(out) < count:
                emit(p, "follow_up", working_hours(rng, between(rng, lo, hi), lo, hi), assessment)
            if len(out) >= count:
                break
        if len(out) == before:
            raise RuntimeError("no skills assessments fall before `now`")
        cycle += 1
    return out[:count]
