"""Pseudonymisation and free-text scrubbing, applied at the connector and again before storage.

Staff identifiers become an HMAC-SHA256 keyed hash, so the same person links across sources while the
mapping cannot be reversed without the key. Free text loses e-mail addresses, UK phone numbers, valid
NHS numbers and postcodes, each replaced by a typed placeholder so analysts can see something was removed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

from realise.errors import ConfigError

PSEUDONYM_KEY_ENV = "REALISE_PSEUDONYM_KEY"
# Used only by the demo and tests, which never see real staff identifiers.
DEMO_KEY = b"realise-demo-key-not-for-production"

_EMAIL = re.compile(r"[\w.'%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_NHS_CANDIDATE = re.compile(r"(?<![\d])(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?![\d])")
# +44 / 0044 / a leading 0 (optionally bracketed), then 9-10 more digits with spaces, dashes or a ')'.
_UK_PHONE = re.compile(
    r"(?:\+44\s?(?:\(0\)\s?)?|(?<!\d)0044\s?(?:\(0\)\s?)?|(?<!\d)\(?0)\d(?:\)?[\s-]?\d){8,9}(?!\d)"
)
# Inward code: a digit then two letters, but not an ordinal such as "1st" ("Room G12 1st floor").
_POSTCODE = re.compile(r"\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR)\s*\d(?!(?:st|nd|rd|th)\b)[A-Z]{2}\b", re.IGNORECASE)


def load_key(env: dict[str, str] | None = None, *, allow_demo: bool = False) -> bytes:
    """The pseudonymisation key from $REALISE_PSEUDONYM_KEY; refuses to run without one outside the demo."""
    value = (os.environ if env is None else env).get(PSEUDONYM_KEY_ENV, "")
    if value:
        if len(value) < 16:
            raise ConfigError(f"{PSEUDONYM_KEY_ENV} is shorter than 16 characters: use a long random secret")
        return value.encode("utf-8")
    if allow_demo:
        return DEMO_KEY
    raise ConfigError(
        f"{PSEUDONYM_KEY_ENV} is not set: set it to a long random secret (e.g. `openssl rand -hex 32`) "
        "and keep it the same for every run, or pseudonyms will not link")


def pseudonymise(identifier: str, key: bytes) -> str:
    """32 hex characters of HMAC-SHA256 over the normalised identifier (case and spaces ignored)."""
    normalised = identifier.strip().lower().encode("utf-8")
    return hmac.new(key, normalised, hashlib.sha256).hexdigest()[:32]


def is_valid_nhs_number(digits: str) -> bool:
    """Modulus-11 check of a 10-digit NHS number."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def scrub(text: str | None) -> str | None:
    """Replace identifiers in free text with [EMAIL], [NHS_NUMBER], [PHONE] and [POSTCODE]."""
    if not text:
        return text
    text = _EMAIL.sub("[EMAIL]", text)

    def _nhs(match: re.Match[str]) -> str:
        return "[NHS_NUMBER]" if is_valid_nhs_number("".join(match.groups())) else match.group(0)

    text = _NHS_CANDIDATE.sub(_nhs, text)
    text = _UK_PHONE.sub("[PHONE]", text)
    return _POSTCODE.sub("[POSTCODE]", text)
