"""Pure parsing of Moodle answers: course completion time from criteria, roles, course ids."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from connectors.core.stream import MappingError
from connectors.moodle.settings import AGGREGATION_ANY


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
