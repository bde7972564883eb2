"""xAPI-style training statements, behind coverage and confidence-since-training: go-live course, then others."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from schemas.events import Event, Kind
from synthetic.people import STAFF_GROUPS, SYSTEMS
from synthetic.profiles import Profile
from synthetic.shared import between, build_event, random_uuid, secs
from synthetic.tables import json_table, keyed

_TABLES = json_table("training.json")
# (course id, title, minutes) of each system's go-live course, and the module each staff group takes in it.
_GO_LIVE_COURSES: dict[str, tuple[str, str, int]] = {
    system: (course["course_id"], course["title"], course["minutes"])
    for system, course in keyed(_TABLES["go_live_courses"], SYSTEMS, "training.json go_live_courses").items()}
_MODULES: dict[str, str] = keyed(_TABLES["go_live_module_by_staff_group"], STAFF_GROUPS,
                                 "training.json go_live_module_by_staff_group")
# (course id, title, minutes, ends with a scored quiz)
_OPTIONAL_COURSES: tuple[tuple[str, str, int, bool], ...] = tuple(
    (c["course_id"], c["title"], c["minutes"], c["scored_quiz"]) for c in _TABLES["optional_courses"])

_Statement = tuple[datetime, str, float | None, int | None]  # time, verb, score, duration seconds


def _go_live_statements(p: Profile, rng: random.Random) -> list[_Statement]:
    minutes = _GO_LIVE_COURSES[p.staff.system][2]
    end = p.trained_at or p.due_at
    enrolled = secs(end - timedelta(days=rng.uniform(3, 21)))
    attempted = between(rng, enrolled + (end - enrolled) * 0.2, enrolled + (end - enrolled) * 0.7)

    def spent() -> int:
        return int(minutes * 60 * rng.uniform(0.6, 1.6))

    out: list[_Statement] = [(enrolled, "enrolled", None, None), (attempted, "attempted", None, None)]
    if p.trained_at is None:
        if rng.random() < 0.4:
            out.append((secs(attempted + timedelta(minutes=minutes)), "failed",
                        round(rng.uniform(0.3, 0.79), 2), spent()))
        return out if rng.random() < 0.7 else out[:1]
    if p.failed_first:
        out.append((secs(attempted + timedelta(minutes=minutes)), "failed", round(rng.uniform(0.4, 0.79), 2),
                    spent()))
    duration = spent()
    out.append((p.trained_at, "completed", None, duration))
    out.append((p.trained_at + timedelta(seconds=1), "passed", round(rng.uniform(0.8, 1.0), 2), duration))
    return out


def training_statements(profiles: Sequence[Profile], now: datetime, rng: random.Random, count: int) -> list[Event]:
    """`count` statements: a first pass over everyone's go-live course, later passes over optional courses."""
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
                start = between(rng, max(now - timedelta(days=90), p.go_live - timedelta(days=30)), now)
                statements = [(start, "enrolled", None, None)]
                if rng.random() < 0.7:
                    done = secs(start + timedelta(days=rng.uniform(0, 10)))
                    duration = int(minutes * 60 * rng.uniform(0.6, 1.5))
                    statements.append((done, "completed", None, duration))
                    if quiz:
                        statements.append((done + timedelta(seconds=1), "passed",
                                           round(rng.uniform(0.7, 1.0), 2), duration))
            for at, verb, score, duration in statements:
                if at > now or len(out) >= count:
                    continue
                out.append(build_event(Kind.TRAINING_RECORD, random_uuid(rng), at, {
                    "person": p.person, "course_id": course_id, "course_title": title,
                    "module": module if verb != "enrolled" else None, "verb": verb, "score": score,
                    "duration_seconds": duration, "required": required}, rng, now))
            if len(out) >= count:
                break
        if len(out) == before:
            raise RuntimeError("no training statements fall before `now`")
        cycle += 1
    return out
