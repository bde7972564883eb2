"""Pure text helpers for the HTML report: escaping, numbers, suppressed cells and status badges.

Everything that reaches the page from the warehouse passes through `esc` (HTML) or `plot_text` (plotly
labels, which plotly.js reads as a small subset of HTML), so a comment, action or org unit name can never
inject markup. A suppressed cell is rendered as a label, never with its value or group size.
"""

from __future__ import annotations

import html
import math
from datetime import date, datetime

STATUS_CLASSES = {"on track": "on-track", "at risk": "at-risk", "off track": "off-track", "no data": "no-data",
                  "not evaluated": "no-data"}
UNIT_SUFFIX = {"%": "%", "percentage points": " pp"}


def esc(value: object) -> str:
    """Text for HTML content or an attribute value; None becomes empty."""
    return "" if value is None else html.escape(str(value), quote=True)


def plot_text(value: object) -> str:
    """A label for plotly: its HTML subset (<a>, <b>, <br>, ...) is escaped into plain text."""
    return esc(value)


def suppressed_label(min_group_size: int) -> str:
    return f"suppressed (n < {min_group_size})"


def suppressed_html(min_group_size: int) -> str:
    """The marker a suppressed table cell shows instead of a value."""
    label = esc(suppressed_label(min_group_size))
    title = esc(f"Fewer than {min_group_size} people in this group: the value is withheld (or hidden so "
                "that another small group cannot be worked out)")
    return f'<span class="sup" title="{title}">{label}</span>'


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fmt_number(value: float | None, digits: int = 1, *, signed: bool = False) -> str:
    """A number for people: fixed decimals, a proper minus sign; empty when there is no value."""
    if not is_number(value):
        return ""
    text = f"{value:+,.{digits}f}" if signed else f"{value:,.{digits}f}"
    if text.lstrip("+-").strip("0.,") == "":  # -0.0 and +0.0 read as 0.0
        text = f"{0:.{digits}f}"
    return text.replace("-", "\u2212")


def fmt_value(value: float | None, unit: str | None, digits: int = 1, *, signed: bool = False) -> str:
    """A metric value with its unit where the unit is a symbol (%, pp); other units go in headings."""
    text = fmt_number(value, digits, signed=signed)
    return text + UNIT_SUFFIX.get(unit or "", "") if text else ""


def value_html(value: float | None, suppressed: bool, min_group_size: int, unit: str | None = None,
               digits: int = 1, *, signed: bool = False) -> str:
    """A table cell's content: the value, the suppressed marker, or a dash for no value."""
    if suppressed:
        return suppressed_html(min_group_size)
    text = fmt_value(value, unit, digits, signed=signed)
    return esc(text) if text else '<span class="none" title="no value">\u2013</span>'


def status_badge(status: str | None) -> str:
    status = status or "not evaluated"
    return f'<span class="badge {STATUS_CLASSES.get(status, "no-data")}">{esc(status)}</span>'


def fmt_week(day: date | None) -> str:
    """The week a weekly value belongs to, by its Monday (non-breaking spaces: one line in a table)."""
    return f"w/c\u00a0{day.day}\u00a0{day:%b}\u00a0{day:%Y}" if day else ""


def fmt_date(day: date | None) -> str:
    return f"{day.day}\u00a0{day:%b}\u00a0{day:%Y}" if day else ""


def fmt_datetime(moment: datetime | None) -> str:
    """A timestamp in UTC, to the minute."""
    if moment is None:
        return ""
    return f"{moment.day} {moment:%b %Y %H:%M} UTC"


def fmt_week_index(k: int) -> str:
    """A week since go-live: 0 is the go-live week."""
    return "go-live week" if k == 0 else f"week {k:+d}".replace("-", "\u2212")


def humanise(identifier: str) -> str:
    """`information_data_content` -> `Information data content`."""
    text = identifier.replace("_", " ").strip()
    return text[:1].upper() + text[1:]
