"""Pure parsing of xAPI statement parts: durations, scores, language maps, actors, course activities, times."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.core.build import parse_time
from connectors.core.stream import MappingError

MAX_DURATION_SECONDS = 7 * 24 * 3600  # the event contract's limit

# ISO 8601 duration as xAPI uses it: PnYnMnDTnHnMnS or PnW, each number optionally with a decimal fraction.
_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+(?:[.,]\d+)?)Y)?(?:(?P<months>\d+(?:[.,]\d+)?)M)?(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?"
    r"(?:(?P<days>\d+(?:[.,]\d+)?)D)?(?:T(?=\d)(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$")
# Years and months have no fixed length; a learning session reported in them is rare and taken at 365/30 days.
_UNIT_SECONDS = {"years": 365 * 86400, "months": 30 * 86400, "weeks": 7 * 86400, "days": 86400, "hours": 3600,
                 "minutes": 60, "seconds": 1}


def parse_duration(value: Any) -> float:
    """Seconds in an ISO 8601 duration (`PT1H12M30S`, `P1DT2H`, `PT4350.5S`, `P2W`); MappingError if malformed."""
    if not isinstance(value, str):
        raise MappingError(f"result.duration {value!r} is not an ISO 8601 duration")
    match = _DURATION.match(value.strip().upper())
    if not match:
        raise MappingError(f"result.duration {value!r} is not an ISO 8601 duration")
    return sum(float(number.replace(",", ".")) * _UNIT_SECONDS[unit]
               for unit, number in match.groupdict().items() if number is not None)


def duration_seconds(result: dict[str, Any]) -> int | None:
    """Whole seconds spent, or None when absent or longer than a week (a session left open is not time spent)."""
    if result.get("duration") in (None, ""):
        return None
    seconds = round(parse_duration(result["duration"]))
    return seconds if seconds <= MAX_DURATION_SECONDS else None


def scaled_score(result: dict[str, Any]) -> float | None:
    """A 0..1 score from `result.score`.

    `scaled` (−1..1) is used as it is, except that negative scores (penalty marking) count as 0: the
    warehouse's score is a proportion correct. Without `scaled`, `raw` within `min`..`max` (min defaulting
    to 0) gives (raw − min) / (max − min). No usable score gives None.
    """
    score = result.get("score")
    if not isinstance(score, dict):
        return None
    scaled = score.get("scaled")
    if isinstance(scaled, int | float) and not isinstance(scaled, bool):
        if not -1 <= scaled <= 1:
            raise MappingError(f"result.score.scaled {scaled} is outside -1..1")
        return round(max(0.0, float(scaled)), 4)
    raw, low, high = score.get("raw"), score.get("min", 0), score.get("max")
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in (raw, low, high)) and high > low:
        return round(min(1.0, max(0.0, (raw - low) / (high - low))), 4)
    return None


def pick_language(names: Any, languages: Sequence[str]) -> str | None:
    """The text of a language map in the first preferred language present, else its first entry."""
    if isinstance(names, str):
        return names.strip() or None
    if not isinstance(names, dict) or not names:
        return None
    lowered = {str(k).lower(): v for k, v in names.items()}
    for lang in languages:
        text = lowered.get(lang.lower())
        if isinstance(text, str) and text.strip():
            return text.strip()
    first = next((v for v in names.values() if isinstance(v, str) and v.strip()), None)
    return first.strip() if first else None


@dataclass(frozen=True)
class Activity:
    course_id: str
    course_title: str | None
    module: str | None


def resolve_course(statement: dict[str, Any], pattern: re.Pattern[str], course_map: dict[str, str],
                   languages: Sequence[str]) -> Activity | None:
    """The course a statement is about: its object, or (for a module) a context parent or grouping activity."""
    obj = statement.get("object") or {}
    context = (statement.get("context") or {}).get("contextActivities") or {}
    candidates = [obj] + _as_list(context.get("parent")) + _as_list(context.get("grouping"))
    for position, activity in enumerate(candidates):
        iri = activity.get("id") if isinstance(activity, dict) else None
        if not isinstance(iri, str):
            continue
        course_id = course_map.get(iri)
        if course_id is None:
            match = pattern.search(iri)
            course_id = match.group(1) if match else None
        if course_id:
            title = pick_language((activity.get("definition") or {}).get("name"), languages)
            module = None
            if position > 0:  # the object is a module or lesson within the course
                module = pick_language((obj.get("definition") or {}).get("name"), languages) or obj.get("id")
            return Activity(course_id, title, module)
    return None


def _as_list(value: Any) -> list[Any]:
    """contextActivities values may be one activity or a list (xAPI 1.0.0 allowed either)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def actor_identifier(actor: Any) -> str:
    """The identifier the staff directory knows: an mbox address or an account name (a username).

    An actor known only by `mbox_sha1sum` or `openid`, or a Group, cannot be linked to one member of staff:
    that is a MappingError, so the statement is quarantined with the reason rather than guessed at.
    """
    if not isinstance(actor, dict):
        raise MappingError("actor missing")
    if actor.get("objectType") == "Group":
        raise MappingError("actor is a Group: a team's statement cannot be credited to one member of staff")
    mbox = actor.get("mbox")
    if isinstance(mbox, str) and mbox.strip():
        return mbox
    account = actor.get("account")
    if isinstance(account, dict) and isinstance(account.get("name"), str) and account["name"].strip():
        return account["name"]
    if actor.get("mbox_sha1sum"):
        raise MappingError("actor identified only by mbox_sha1sum: a hashed address cannot be linked to the "
                           "staff directory; have the platform send mbox or account")
    if actor.get("openid"):
        raise MappingError("actor identified only by openid, which the staff directory does not hold")
    raise MappingError("actor has no mbox or account")


CURSOR_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def cursor_text(value: datetime) -> str:
    """A time in the one format cursors use (UTC, microseconds), so string order is time order."""
    return value.astimezone(UTC).strftime(CURSOR_FORMAT)


def stored_cursor(statement: dict[str, Any]) -> str:
    """The statement's `stored` time as a cursor string."""
    return cursor_text(parse_time(statement.get("stored"), "stored"))


class RequiredCourses:
    """Which courses are required for a person's go-live, from a list (everyone) or a per-wave mapping.

    Shared by the training connectors. In the mapping, `all` applies to every wave. An empty setting means
    the trust has not said: `required` stays unknown (None) rather than false.
    """

    def __init__(self, setting: list[str] | dict[str, list[str]]) -> None:
        self.known = bool(setting)
        self.everyone = frozenset(setting if isinstance(setting, list) else setting.get("all", []))
        self.by_wave = {} if isinstance(setting, list) else {w: frozenset(c) for w, c in setting.items()}

    def __call__(self, course_id: str, wave: str | None) -> bool | None:
        if not self.known:
            return None
        return course_id in self.everyone or (wave is not None and course_id in self.by_wave.get(wave, ()))
