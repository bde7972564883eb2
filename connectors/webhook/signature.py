"""Signing and verifying webhook deliveries: HMAC-SHA256 over `<timestamp>.<body>`, compared in constant time.

Signing the timestamp with the body means a captured delivery cannot be replayed with a fresh timestamp;
the replay window bounds how long a captured delivery stays usable at all, and delivery ids catch replays
inside the window.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

Encoding = Literal["hex", "base64"]


class Rejected(Exception):
    """A delivery refused before mapping: the HTTP status to answer and the reason to give the sender."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def signed_bytes(body: bytes, timestamp: str | None) -> bytes:
    return body if timestamp is None else timestamp.encode("ascii") + b"." + body


def sign(secret: bytes, body: bytes, timestamp: str | None, *, encoding: Encoding = "hex",
         prefix: str = "sha256=") -> str:
    """The signature header's value, e.g. `sha256=5d41...`."""
    digest = hmac.new(secret, signed_bytes(body, timestamp), hashlib.sha256).digest()
    text = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode("ascii")
    return prefix + text


def verify(secret: bytes, body: bytes, timestamp: str | None, header: str | None, *, encoding: Encoding = "hex",
           prefix: str = "sha256=", header_name: str = "signature header") -> None:
    """Raise Rejected(401) unless one of the header's comma-separated signatures matches (several: key rotation)."""
    if not header or not header.strip():
        raise Rejected(401, f"missing {header_name}")
    expected = sign(secret, body, timestamp, encoding=encoding, prefix=prefix).encode()
    if not any(hmac.compare_digest(part.strip().encode(), expected) for part in header.split(",")):
        raise Rejected(401, f"{header_name} does not match the body: check the shared secret and that the body "
                            "is sent exactly as signed")


def parse_timestamp(value: str | None, header_name: str = "timestamp header") -> int:
    """Unix seconds from the timestamp header; 401 when absent, 400 when not a whole number."""
    if value is None or not value.strip():
        raise Rejected(401, f"missing {header_name}")
    text = value.strip()
    if not text.isdigit():
        raise Rejected(400, f"{header_name} must be Unix seconds (got {text[:40]!r})")
    return int(text)


def check_window(timestamp: int, now: float, window_seconds: int) -> None:
    """Raise Rejected(401) for a delivery signed further from now than the replay window, either way."""
    skew = now - timestamp
    if abs(skew) > window_seconds:
        when = f"{int(skew)} s ago" if skew > 0 else f"{int(-skew)} s in the future"
        raise Rejected(401, f"delivery signed {when}, outside the {window_seconds} s replay window: "
                            "check the sender's clock")
