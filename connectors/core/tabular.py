"""Reading exported spreadsheets and CSV files: finding them, fingerprinting them, their local times and labels.

File sources (form exports, CSV drops) share these rules: a path is one file or a folder of them; a file is
known by the sha256 of its bytes, so a renamed or moved copy is not read twice; times written without a zone
are local wall-clock times in a configured IANA zone, turned into UTC here; day-first or month-first slash
dates are told apart from the file's own values when the format is `auto`.

A row's content is known by `row_digest` (8 bytes of sha256 as hex) of the answers a mapping reads, so a
response edited at the source is told from one exported again unchanged. A heading that names a person or a
way to reach or find one (`identifying_heading`) never brings its values into a quarantined copy.

A wall-clock time cannot say which of the two instants it is in the hour that repeats when the clocks go back
(01:00-02:00 on the last Sunday of October in Europe/London): such a time is read as its first occurrence
(summer time), the rule of Python's zoneinfo with fold=0. A time in the hour skipped when they go forward is
read with the offset in force before the change.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator

from connectors.core.stream import MappingError, Options
from foundation.errors import SourceError

# Agree/disagree answer labels as Microsoft Forms, Google Forms and most survey tools write them.
LIKERT_LABELS: dict[str, int] = {
    "strongly disagree": 1, "disagree": 2, "neither agree nor disagree": 3, "neutral": 3,
    "neither agree or disagree": 3, "agree": 4, "strongly agree": 5,
}


def find_files(path: str | None, patterns: Iterable[str], source: str, what: str) -> list[Path]:
    """The export files at `path` (one file, or a folder's files matching `patterns`), oldest first.

    Excel's lock files (`~$...`) and hidden files are skipped: they appear in shared folders while someone
    has a workbook open.
    """
    if not path:
        raise SourceError(f"source '{source}' needs path: set sources.{source}.path to the {what} file or folder")
    root = Path(path).expanduser()
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise SourceError(f"source '{source}': {root} does not exist; fix sources.{source}.path")
    found = {p for pattern in patterns for p in root.glob(pattern)
             if p.is_file() and not p.name.startswith(("~$", "."))}
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def zone(name: str) -> ZoneInfo:
    """An IANA time zone; raises ValueError (for an options model to report) when the name is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not an IANA time zone name such as Europe/London or UTC") from None


def utc_iso(moment: datetime) -> str:
    """One fixed, sortable format for versions and cursors: `2026-03-04T09:14:05Z` (UTC, whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_SLASH = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
                    r"\s*([AaPp]\.?[Mm]\.?)?)?\s*$")


@dataclass
class LocalTimes:
    """Parses an export's times. `date_format` is a strptime pattern, or `auto`: ISO 8601 and slash dates.

    In `auto` mode a slash date's order (day/month or month/day) is decided by `learn` from the file's values
    (a first part above 12 means day first, a second part above 12 means month first); when every value is
    ambiguous, `day_first` (the source type's default) decides.
    """

    zone_name: str = "Europe/London"
    date_format: str = "auto"
    day_first: bool = True

    def __post_init__(self) -> None:
        self._zone = zone(self.zone_name)

    def learn(self, values: Iterable[Any], source: str, setting: str) -> LocalTimes:
        """A parser for one file: its slash-date order taken from the file's own values."""
        if self.date_format != "auto":
            return self
        day_first = month_first = False
        for value in values:
            if not isinstance(value, str):
                continue
            match = _SLASH.match(value)
            if match:
                first, second = int(match.group(1)), int(match.group(2))
                day_first |= first > 12
                month_first |= second > 12
        if day_first and month_first:
            raise SourceError(f"source '{source}': the file mixes day-first and month-first dates; set "
                              f"{setting} to its strptime pattern, e.g. '%d/%m/%Y %H:%M:%S'")
        order = True if day_first else False if month_first else self.day_first
        return LocalTimes(self.zone_name, self.date_format, order)

    def parse(self, value: Any, what: str = "time") -> datetime:
        """A local time (a spreadsheet datetime cell or text) as an aware UTC datetime, whole seconds."""
        if isinstance(value, datetime):
            naive = value
        elif isinstance(value, str) and value.strip():
            naive = self._text(value.strip(), what)
        else:
            raise MappingError(f"{what} missing")
        if naive.tzinfo is None:
            naive = naive.replace(tzinfo=self._zone)
        if naive.microsecond:
            # Spreadsheet times are day fractions: 09:14:05 can come back as 09:14:04.999996.
            naive = (naive + timedelta(microseconds=500_000)).replace(microsecond=0)
        return naive.astimezone(UTC)

    def _text(self, text: str, what: str) -> datetime:
        if self.date_format != "auto":
            try:
                return datetime.strptime(text, self.date_format)
            except ValueError:
                raise MappingError(f"{what} {text!r} does not match date_format {self.date_format!r}") from None
        match = _SLASH.match(text)
        if match:
            a, b, year, hour, minute, second, meridian = match.groups()
            day, month = (int(a), int(b)) if self.day_first else (int(b), int(a))
            hours = int(hour or 0)
            if meridian:
                if not 1 <= hours <= 12:
                    raise MappingError(f"{what} {text!r} has hour {hours} with {meridian}")
                hours = hours % 12 + (12 if meridian[0] in "Pp" else 0)
            full_year = int(year) + (2000 if len(year) == 2 else 0)
            try:
                return datetime(full_year, month, day, hours, int(minute or 0), int(second or 0))
            except ValueError:
                order = "day/month" if self.day_first else "month/day"
                raise MappingError(f"{what} {text!r} is not a valid {order}/year date") from None
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise MappingError(f"{what} {text!r} is not a date and time") from None


def row_digest(values: Mapping[str, Any]) -> str:
    """16 hex characters naming a row's content: `values` (field -> cell) compared as text, ignoring case, spacing
    and whether a number came as text or a number (`7`, `7.0`, `"7"`), so a CSV and an xlsx export agree."""
    parts = []
    for key in sorted(values):
        value = values[key]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
        parts.append(f"{key}\x1e{' '.join(text.split()).casefold()}")
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


# Words of headings whose values identify someone or reach them; quasi-identifiers (job title, location) too.
_IDENTIFYING_WORDS = re.compile(
    r"\b(?:e ?mail|mail|name|names|surname|forename|initials|user|user ?name|user ?id|login ?(?:name|id)|account"
    r"|staff ?(?:number|no|id)|employee|payroll|assignment ?number|esr|person ?(?:number|id)|nhs ?(?:number|no)"
    r"|ni ?number|national ?insurance|phone|mobile|telephone|tel|fax|ip|ip ?address|address|postcode|post ?code|zip"
    r"|date ?of ?birth|dob|birth|age|gender|sex|ethnicity|location|job ?title|job|role|position|grade|band"
    r"|manager|device|mac|browser|user ?agent|latitude|longitude|gps)\b")


def identifying_heading(heading: str) -> bool:
    """Whether a column heading names an identifier or quasi-identifier: `Email Address`, `Full name`, `IP`,
    `staffNumber`, `Job Title`, `Location`, ... (case, camelCase and punctuation ignored)."""
    words = re.sub(r"[^0-9a-z]+", " ", re.sub(r"([a-z])([A-Z])", r"\1 \2", heading).lower())
    return bool(_IDENTIFYING_WORDS.search(" ".join(words.split())))


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def likert(value: Any, labels: Mapping[str, int], what: str) -> int | None:
    """An agree/disagree answer as 1..5 from its label (any case) or its number; None when unanswered."""
    if blank(value):
        return None
    if isinstance(value, bool):
        raise MappingError(f"{what}: {value!r} is not an agree/disagree answer")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip()
        found = labels.get(text.lower())
        if found is not None:
            return found
        try:
            number = float(text)
        except ValueError:
            raise MappingError(f"{what}: {text!r} is not one of the answer labels "
                               f"({', '.join(sorted(labels))}) nor a number") from None
    if not number.is_integer() or not 1 <= number <= 5:
        raise MappingError(f"{what}: {value!r} is outside 1..5")
    return int(number)


def number(value: Any, what: str) -> float | None:
    """A number from a cell: `12`, `12.5`, `-10`, `1,200`, `15 mins`; None when blank."""
    if blank(value):
        return None
    if isinstance(value, bool):
        raise MappingError(f"{what}: {value!r} is not a number")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace(",", "").replace("\u2212", "-")
    match = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)\s*(?:%|mins?|minutes?|m)?", text, flags=re.IGNORECASE)
    if not match:
        raise MappingError(f"{what}: {value!r} is not a number")
    return float(match.group(1))


def whole(value: Any, what: str, low: int, high: int) -> int | None:
    """A whole number in low..high (a 0-10 rating, a priority); None when blank."""
    found = number(value, what)
    if found is None:
        return None
    if not found.is_integer() or not low <= found <= high:
        raise MappingError(f"{what}: {value!r} is not a whole number from {low} to {high}")
    return int(found)


_NUM = r"(\d+(?:\.\d+)?)"
_ISO_DURATION = re.compile(rf"^P(?:{_NUM}D)?(?:T(?:{_NUM}H)?(?:{_NUM}M)?(?:{_NUM}S)?)?$")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})(?:\.\d+)?$")


def duration_seconds(value: Any, what: str, unit: str = "minutes") -> int | None:
    """Time spent as whole seconds: `1:30:05` or `12:30` (clock), `PT1H30M` (ISO 8601), or a number of `unit`."""
    if blank(value):
        return None
    text = str(value).strip().upper() if not isinstance(value, int | float) else None
    if text is not None:
        iso = _ISO_DURATION.match(text)
        if iso and text not in ("P", "PT"):
            days, hours, minutes, seconds = (float(g or 0) for g in iso.groups())
            return round(days * 86400 + hours * 3600 + minutes * 60 + seconds)
        clock = _CLOCK.match(text)
        if clock:
            hours, minutes, seconds = (int(g or 0) for g in clock.groups())  # H:MM:SS, or MM:SS
            return hours * 3600 + minutes * 60 + seconds
    amount = number(value, what)
    assert amount is not None
    if amount < 0:
        raise MappingError(f"{what}: {value!r} is negative")
    factor = {"seconds": 1, "minutes": 60, "hours": 3600}.get(unit)
    if factor is None:
        raise MappingError(f"{what}: unknown duration unit {unit!r}")
    return round(amount * factor)


class ExportOptions(Options):
    """Checks shared by file-export sources: a real time zone name and Likert labels mapping to 1..5."""

    @field_validator("timezone", check_fields=False)
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("likert_labels", check_fields=False)
    @classmethod
    def _labels(cls, value: dict[str, int]) -> dict[str, int]:
        if any(not 1 <= v <= 5 for v in value.values()):
            raise ValueError("every label must map to 1..5")
        return {k.strip().lower(): v for k, v in value.items()}
