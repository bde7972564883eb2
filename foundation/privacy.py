"""Pseudonymisation and free-text scrubbing, applied at the connector and again before storage.

Staff identifiers become an HMAC-SHA256 keyed hash, so the same person links across sources while the
mapping cannot be reversed without the key.

Free text loses four kinds of identifier, each replaced by a typed placeholder so analysts can see
something was removed:
- [EMAIL] an e-mail address;
- [PHONE] a UK phone number: +44, 0044 or 0, then 9 or 10 digits grouped by spaces (one or two), dashes, dots
  or a bracketed area code. Matched before NHS numbers: +44 113 496 0000 is grouped 3-3-4 too;
- [NHS_NUMBER] ten digits grouped 3-3-4 by spaces (one or two), dashes or dots, whatever the check digit: a
  typo of a patient's number still points at that patient. Ungrouped, only when the `nhs-number` package finds
  it valid (modulus 11, a real date of birth in Scotland's CHI range) in a range that is issued or kept for test
  patients, or when "NHS" comes just before it: any other run of ten digits is more likely an order number;
- [POSTCODE] a UK postcode (the inward code's letters never include C I K M O V, so `x2 5mg` is a dose, and a
  lower-case ordinal is not one: `G12 1st floor`).

Matching happens after Unicode NFKC normalisation with invisible characters (zero-width spaces and joiners,
word joiner, byte-order mark, soft hyphen, direction marks) removed and dashes unified, so full-width digits
and a zero-width space inside a phone number or an e-mail domain do not hide an identifier. Text in which
something was found comes back normalised; text with nothing found comes back exactly as given.
Left alone on purpose: ticket numbers (INC0012345), dates, times, doses, bed and bay numbers, versions,
money. Not detected at all: names, street addresses, spelled-out e-mail addresses (`jane at nhs dot net`),
hospital numbers and National Insurance numbers. `realise bench scrub` measures recall and precision on a
labelled corpus. Ingest scrubs every stored free-text field, so the common case is fast: ASCII text skips the
normaliser, and text without an `@` or a digit skips the patterns that need one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata

from nhs_number import REGION_RESERVED, REGION_UNALLOCATED
from nhs_number import is_valid as _nhs_number_is_valid

from foundation.errors import ConfigError

PSEUDONYM_KEY_ENV = "REALISE_PSEUDONYM_KEY"
# Used only by the demo and tests, which never see real staff identifiers.
DEMO_KEY = b"realise-demo-key-not-for-production"

# Payload fields a person typed or an administrator named, per event kind: ingest scrubs these by default
# (setting `ingest.scrub_fields`). Codes used as join keys (form_id, course_id, assessment_id, org units) and
# enumerations are not free text: a placeholder would break their pattern and every join on them.
FREE_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "form_response": ("comment",),
    "helpdesk_ticket": ("category", "summary"),
    "training_record": ("course_title", "module"),
    "skills_assessment": (),
    "retraction": (),
}

_INVISIBLE = "\u00ad\u034f\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e" \
             "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_UNIFY = str.maketrans(dict.fromkeys(_INVISIBLE, None) | dict.fromkeys(_DASHES, "-"))
_TO_UNIFY = re.compile(f"[{_INVISIBLE}{_DASHES}]")  # translate() is slow: only when there is something to do

# The number patterns start with a digit or a literal and check what comes before it afterwards, with a
# lookbehind: the regex engine then skips straight to candidates instead of trying every position.
# Between two digit groups: one or two spaces, or a dash or a dot with a space either side or none.
_SEP = r"(?:\s{1,2}|\s?[-.]\s?)"
_EMAIL = re.compile(r"[\w.'%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Ten digits as 3-3-4, separators optional; a token of its own, not part of INC0012345678 or a hex string.
_NHS_CANDIDATE = re.compile(rf"(\d(?<!\w\d)\d\d)({_SEP}?)(\d{{3}})({_SEP}?)(\d{{4}})(?!\w)")
_NHS_CONTEXT = re.compile(r"\bNHS\b(?:\W+\w+){0,2}?\W*$", re.IGNORECASE)
# +44 or 0044, or a leading 0 (maybe bracketed), then 9-10 more digits with separators or a ')', as a token of
# its own. The first two of them come unbroken (07700, 020, +44 113), so 04.03.2026 0800 and 09:14:05.055199123
# are not phone numbers; nor is 00123456789, or digits running into a time.
_UK_PHONE = re.compile(
    rf"(?:(?:\+44|0044(?<!\w0044)){_SEP}?(?:\(0\){_SEP}?)?\d\d|\(0(?<!\w\(0)\d\d|0(?<!\w0)[1-9]\d)"
    rf"(?:\)?{_SEP}?\d){{7,8}}(?!\w|:\d)")
# Inward code: a digit then two letters from the Royal Mail's set, but not a lower-case ordinal ("Room G12 1st
# floor"); B15 2TH is a postcode.
_POSTCODE = re.compile(
    r"\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR)\s*\d(?!(?-i:(?<=1)st|(?<=2)nd|(?<=3)rd|(?<=[04-9])th)\b)"
    r"[ABD-HJLNP-UW-Z]{2}\b", re.IGNORECASE)
# An inward code, found from its digit: the full pattern starts with a letter, so it runs only when one is there.
_INWARD_CODE = re.compile(r"\d[ABD-HJLNP-UW-Zabd-hjlnp-uw-z]{2}\b")
_DIGIT = re.compile(r"\d")


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


def _issued_nhs_number(digits: str) -> bool:
    """Ten digits with a valid check digit (and a real date of birth in Scotland's CHI range) in a range that
    is ever issued."""
    return (_nhs_number_is_valid(digits) and not REGION_UNALLOCATED.contains_number(digits)
            and not REGION_RESERVED.contains_number(digits))


def _nhs(match: re.Match[str]) -> str:
    grouped = match[2] and match[4]
    if grouped or _issued_nhs_number(match[1] + match[3] + match[5]):
        return "[NHS_NUMBER]"
    start = match.start()
    if _NHS_CONTEXT.search(match.string, max(0, start - 24), start):
        return "[NHS_NUMBER]"
    return match[0]


def normalise(text: str) -> str:
    """NFKC with invisible characters removed and every dash a hyphen-minus: what the patterns are matched on."""
    if _TO_UNIFY.search(text):
        text = text.translate(_UNIFY)
    return unicodedata.normalize("NFKC", text)


def _replace_identifiers(text: str) -> str:
    if "@" in text:
        text = _EMAIL.sub("[EMAIL]", text)
    if _DIGIT.search(text) is None:
        return text
    text = _UK_PHONE.sub("[PHONE]", text)  # first: +44 113 496 0000 is grouped 3-3-4 like an NHS number
    text = _NHS_CANDIDATE.sub(_nhs, text)
    return _POSTCODE.sub("[POSTCODE]", text) if _INWARD_CODE.search(text) else text


def scrub(text: str | None) -> str | None:
    """Replace identifiers in free text with [EMAIL], [NHS_NUMBER], [PHONE] and [POSTCODE]."""
    if not text:
        return text
    if text.isascii():
        return _replace_identifiers(text)
    normal = normalise(text)
    clean = _replace_identifiers(normal)
    return text if clean == normal else clean
