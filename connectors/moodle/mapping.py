"""Pure parsing of Moodle answers: course completion time from criteria, activity results and grades, roles,
course ids."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from connectors.core.stream import MappingError
from connectors.moodle.settings import ACTIVITY_VERBS, AGGREGATION_ANY
from schemas.events import TrainingVerb


def unix_time(value: Any) -> datetime | None:
    """Moodle's times are unix seconds, 0 or null meaning never; numeric strings occur in older sites."""
    if value in (None, "", 0, "0"):
        return None
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        raise MappingError(f"time {value!r} is not unix seconds") from None
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def completion_time(status: dict[str, Any]) -> datetime | None:
    """When the course was completed, or None if it is not.

    The answer has no course-level time, only each criterion's `timecompleted`: under aggregation "all" (1)
    the course completes with the last criterion met, under "any" (2) with the first. A course that says
    it is complete but gives no criterion time cannot be dated: that is a MappingError.
    """
    if not status.get("completed"):
        return None
    times = [t for c in status.get("completions") or [] if (t := unix_time(c.get("timecompleted"))) is not None]
    if not times:
        raise MappingError("Moodle says the course is complete but no completion criterion has a time")
    return min(times) if status.get("aggregation") == AGGREGATION_ANY else max(times)


def has_role(user: dict[str, Any], roles: Iterable[str]) -> bool:
    """Whether any of the user's roles in the course is one of `roles` (role shortnames)."""
    wanted = set(roles)
    return any(isinstance(r, dict) and r.get("shortname") in wanted for r in user.get("roles") or [])


def course_id(course: dict[str, Any], field: str, course_map: dict[str, str]) -> str:
    """The warehouse's course id for a Moodle course: its shortname or idnumber, through `course_map`."""
    value = str(course.get(field) or "").strip()
    if not value:
        raise MappingError(f"the Moodle course {course.get('id')} has no {field}")
    return course_map.get(value, value)


def activity_verb(state: Any) -> TrainingVerb | None:
    """An activity's completion state as a verb: 1 complete → completed, 2 complete pass → passed, 3 complete
    fail → failed; 0 (incomplete) and anything else → None."""
    try:
        return ACTIVITY_VERBS.get(int(state))
    except (TypeError, ValueError):
        return None


def scaled_grade(item: dict[str, Any] | None) -> float | None:
    """A grade item's raw grade as its place in the item's range, 0..1 (graderaw over grademax when grademin is
    0, the usual case); None when ungraded or the range is empty."""
    if not item or item.get("graderaw") is None:
        return None
    try:
        raw, low, high = float(item["graderaw"]), float(item.get("grademin") or 0), float(item.get("grademax") or 0)
    except (TypeError, ValueError):
        return None
    if high <= low:
        return None
    return round(min(1.0, max(0.0, (raw - low) / (high - low))), 4)


def index_grades(body: Any) -> tuple[dict[tuple[int, str, int], dict[str, Any]], dict[tuple[str, int], str]]:
    """gradereport_user_get_grade_items' answer as (user id, module, instance) → the activity's grade item, and
    (module, instance) → the activity's name. Only an activity's first item (itemnumber 0) counts: the others
    (a forum's ratings, a workshop's assessment) grade something else."""
    grades: dict[tuple[int, str, int], dict[str, Any]] = {}
    names: dict[tuple[str, int], str] = {}
    users = body.get("usergrades") if isinstance(body, dict) else None
    for user in users if isinstance(users, list) else []:
        for item in user.get("gradeitems") or []:
            if item.get("itemtype") != "mod" or int(item.get("itemnumber") or 0) != 0:
                continue
            key = (str(item.get("itemmodule") or ""), int(item.get("iteminstance") or 0))
            grades[(int(user.get("userid") or 0), *key)] = item
            if item.get("itemname"):
                names[key] = str(item["itemname"])
    return grades, names


def activity_version(verb: str, when: datetime | None, score: float | None) -> str:
    """The version of one learner's result in one activity: it changes with the state, its time or the grade."""
    stamp = when.isoformat() if when is not None else "undated"
    return f"{verb}@{stamp}" + (f" score {score:g}" if score is not None else "")


def results_digest(results: Iterable[tuple[dict[str, Any], dict[str, Any] | None]]) -> str:
    """A short digest of a learner's activity results in a course (state, time and grade of each, with its grade
    item or None): equal digests, nothing changed."""
    rows = sorted((str(s.get("cmid")), str(s.get("state")), str(s.get("timecompleted")),
                   *(str((g or {}).get(k)) for k in ("graderaw", "grademin", "grademax"))) for s, g in results)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16] if rows else ""
