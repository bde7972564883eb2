"""What a quarantined record may say about itself where analysts can read it.

`analytics.quarantine` is readable by the analyst role, so nothing a hostile or careless sender put in a
record reaches it verbatim: reasons name schema fields, never the record's own keys; values quoted in a
reason are scrubbed; a claimed source or event id is kept only when it has the shape the contract allows
(a source code, a UUID), otherwise it is replaced by a short digest that operators can match against the
raw bytes, which stay in `ops.quarantine` for them alone. Reasons are bounded in number and size, so one
record cannot make a multi-megabyte reason list (or dead-letter header).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from foundation.privacy import scrub

MAX_REASONS = 20
MAX_REASON_CHARS = 300
MAX_REASONS_CHARS = 4000
_SOURCE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_DIGITS = re.compile(r"\d{6}")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{16}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def digest(value: str) -> str:
    """A short, stable stand-in for a claimed value that is not safe to show."""
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def claimed_source(value: Any) -> str | None:
    """The source a rejected record named: kept if it is shaped like a source code, else its digest."""
    if not isinstance(value, str) or not value:
        return None
    if _DIGEST.match(value) or (_SOURCE.match(value) and not _DIGITS.search(value)):
        return value
    return digest(value)


def claimed_event_id(value: Any) -> str | None:
    """The event id a rejected record named: kept if it is a UUID (canonical form), else its digest."""
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str) or not value:
        return None
    if _DIGEST.match(value):
        return value
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return digest(value)


def clean_reason(reason: str) -> str:
    """One reason as stored: scrubbed, valid UTF-8 without control characters, at most MAX_REASON_CHARS."""
    text = reason.encode("utf-8", "replace").decode("utf-8") if not reason.isascii() else reason
    text = scrub(_CONTROL.sub(" ", text)) or ""
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."


def bounded(reasons: list[str]) -> list[str]:
    """Cleaned reasons, at most MAX_REASONS and MAX_REASONS_CHARS in all, the rest counted in a last line."""
    out: list[str] = []
    total = 0
    for i, reason in enumerate(reasons):
        text = clean_reason(reason)
        if len(out) == MAX_REASONS or total + len(text) > MAX_REASONS_CHARS:
            out.append(f"and {len(reasons) - i:,} more")
            break
        out.append(text)
        total += len(text)
    return out


def failure(stage: str, exc: BaseException) -> str:
    """A reason for an unexpected error while handling one record: the exception's class and message."""
    message = str(exc).strip() or "no message"
    return f"{stage} failed with {type(exc).__name__}: {message}"
