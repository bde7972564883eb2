"""Date-times as the Table API writes them: stored values and the integration user's display values.

A stored value (`sysparm_display_value=false`, or `value` under `all`) is UTC in `yyyy-MM-dd HH:mm:ss`. A
display value (`true`, or `display_value` under `all`) is the user's date format and time format joined by a
space, in the user's time zone. Both formats are java.text.SimpleDateFormat patterns (instance defaults
`yyyy-MM-dd` and `HH:mm:ss`); the letters read here are yyyy, MM/M, dd/d, HH/H, hh/h with a, mm/m, ss/s and
quoted literals. A local time in the hour the clocks go back names two instants: both readings are returned,
earliest first, and the caller picks.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

DEFAULT_DISPLAY_FORMAT = "yyyy-MM-dd HH:mm:ss"  # glide.sys.dateformat and glide.sys.timeformat, joined
_LETTERS = {"yyyy": "%Y", "MM": "%m", "M": "%m", "dd": "%d", "d": "%d", "HH": "%H", "H": "%H", "hh": "%I",
            "h": "%I", "mm": "%M", "m": "%M", "ss": "%S", "s": "%S", "a": "%p"}
_TOKEN = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|.", re.DOTALL)


def strptime_format(pattern: str) -> str:
    """The `datetime.strptime` format reading a SimpleDateFormat pattern; ValueError names what it cannot read."""
    out: list[str] = []
    for match in _TOKEN.finditer(pattern):
        token = match.group(0)
        if token.startswith("'"):
            out.append((token[1:-1].replace("''", "'") if len(token) > 2 else "'").replace("%", "%%"))
        elif token[0].isalpha():
            if token not in _LETTERS:
                raise ValueError(f"'{token}' is not supported: use dd, MM, yyyy, HH (or hh with a), mm and ss")
            out.append(_LETTERS[token])
        else:
            out.append(token.replace("%", "%%"))
    result = "".join(out)
    if "%I" in result and "%p" not in result:
        raise ValueError("hh (12-hour clock) needs a (AM/PM) in the pattern to be read back")
    needed = (("%Y", "yyyy"), ("%m", "MM"), ("%d", "dd"), ("%H" if "%I" not in result else "%I", "HH"), ("%M", "mm"))
    missing = [name for code, name in needed if code not in result]
    if missing:
        raise ValueError(f"a date and time needs {', '.join(missing)} as well")
    return result


def shape(text: str) -> str:
    """A value with its digits masked ('06/12/2026 14:05' -> '##/##/#### ##:##'), to compare with a pattern."""
    return re.sub(r"\d", "#", text)


def stored_time(text: str) -> datetime:
    """A stored value (UTC, yyyy-MM-dd HH:mm:ss, read as ISO 8601); ValueError if it is not one."""
    when = datetime.fromisoformat(text)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class DisplayFormat:
    """Reads display values written with one pattern in one time zone."""

    def __init__(self, pattern: str, zone: str) -> None:
        self.pattern, self.zone = pattern, ZoneInfo(zone)
        self._format = strptime_format(pattern)

    def readings(self, text: str) -> tuple[datetime, datetime]:
        """The UTC instants a display value can name, earliest first (the same twice unless the clocks went
        back that hour); ValueError if it does not match the pattern."""
        local = datetime.strptime(text.strip(), self._format)
        first = local.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        second = local.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        return min(first, second), max(first, second)
