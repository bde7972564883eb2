"""Turn one Kafka record's bytes into a validated event, or into readable reasons why not."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from foundation.privacy import FREE_TEXT_FIELDS, scrub
from foundation.quarantine import claimed_event_id, claimed_source
from schemas.events import EVENT_ADAPTER, EVENT_MODELS, PAYLOAD_MODELS, Kind, Person, SkillsDomain

# A JSON \u0000 escape not itself escaped: PostgreSQL text and jsonb cannot hold NUL, so it is dropped.
_JSON_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")
_MAX_SHOWN = 60


def _field_names() -> frozenset[str]:
    """Every name the contract defines: the only path parts a reason may repeat."""
    names: set[str] = {k.value for k in Kind} | {d.value for d in SkillsDomain}
    for model in (*EVENT_MODELS.values(), *PAYLOAD_MODELS.values(), Person):
        names.update(model.model_fields)
    return frozenset(names)


_FIELD_NAMES = _field_names()
_ITEM_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _where(loc: tuple[Any, ...]) -> str:
    """A reason's path: contract field names and positions as they are; a record's own keys as <key>.

    Likert item codes that have the contract's item-code shape stay readable: a valid record stores them.
    """
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(str(p))
        elif p in Kind._value2member_map_ or p == "[key]":
            continue
        elif p in _FIELD_NAMES or (parts[-1:] == ["likert"] and _ITEM_CODE.match(p)):
            parts.append(p)
        else:
            parts.append("<key>")
    return ".".join(parts)


@dataclass(frozen=True, slots=True)
class Rejected:
    stage: str  # decode | contract
    reasons: list[str]
    source: str | None = None
    event_id: str | None = None


def _shown(value: Any) -> str:
    """The offending value as the reason shows it: scrubbed, so a misplaced identifier is not repeated."""
    text = repr(scrub(value)) if isinstance(value, str) else scrub(repr(value)) or ""
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def explain(exc: ValidationError) -> list[str]:
    """One readable line per pydantic error: where, what is wrong, what was given."""
    reasons = []
    for err in exc.errors(include_url=False):
        loc = _where(err["loc"])
        msg = err["msg"]
        if err["type"] == "json_invalid":
            reasons.append(f"not valid JSON: {err['ctx'].get('error', msg) if err.get('ctx') else msg}")
        elif err["type"] == "missing":
            reasons.append(f"{loc}: required field is missing")
        elif err["type"] == "extra_forbidden":
            reasons.append(f"{loc}: unknown field")
        elif err["type"] in ("model_type", "model_attributes_type", "dict_type") and not loc:
            reasons.append(f"record must be a JSON object, got {type(err['input']).__name__}")
        elif err["type"] == "union_tag_invalid":
            reasons.append(f"kind {_shown(err['input'].get('kind') if isinstance(err['input'], dict) else None)} "
                           "is not one of: " + ", ".join(k.value for k in Kind))
        elif err["type"] == "union_tag_not_found":
            reasons.append("kind: required field is missing")
        elif err["type"] == "value_error":
            where = f"{loc}: " if loc else ""
            reasons.append(where + msg.removeprefix("Value error, "))
        else:
            where = f"{loc}: " if loc else ""
            reasons.append(f"{where}{msg} (got {_shown(err.get('input'))})")
    return reasons or [str(exc)]


def decode(value: bytes | None, expected_kind: Kind, topic: str, max_bytes: int) -> tuple[Any, str] | Rejected:
    """(validated scrubbed event, its JSON for raw storage) of `expected_kind`, or a Rejected with every reason.

    The stored JSON is the record's own text unless ingest changed the event (scrubbed text, NUL removed),
    which keeps the raw layer faithful and avoids re-serialising every event.
    """
    if value is None or len(value) == 0:
        return Rejected("decode", ["record is empty"])
    if len(value) > max_bytes:
        return Rejected("decode", [f"record is too large: {len(value):,} bytes, the limit is {max_bytes:,}"])
    changed = False
    if b"\\u0000" in value:
        stripped = _JSON_NUL.sub(rb"\1", value)
        changed = stripped != value
        value = stripped
    try:
        event = EVENT_ADAPTER.validate_json(value, strict=True)
    except ValidationError as exc:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as ude:
            return Rejected("decode", [f"not valid UTF-8: byte 0x{value[ude.start]:02x} at position {ude.start}"])
        reasons = explain(exc)
        return Rejected("decode" if reasons[0].startswith(("not valid JSON", "record must")) else "contract",
                        reasons, *_identity(value))
    if event.kind != expected_kind:
        return Rejected("contract", [f"kind {event.kind!r} does not belong on topic {topic} "
                                     f"(it carries {expected_kind.value})"], claimed_source(event.source),
                        str(event.event_id))
    clean = _scrubbed(event)
    if changed or clean is not event:
        return clean, clean.model_dump_json()
    return event, value.decode("utf-8")


def _identity(value: bytes) -> tuple[str | None, str | None]:
    """Source and event id of a rejected record, when they can be read, to help find it upstream.

    Any failure to read them (a record nested thousands deep exhausts the parser's recursion) leaves them
    unknown: the record is quarantined all the same.
    """
    try:
        obj = json.loads(value)
    except Exception:  # noqa: BLE001 - RecursionError, MemoryError and decode errors alike
        return None, None
    if not isinstance(obj, dict):
        return None, None
    return claimed_source(obj.get("source")), claimed_event_id(obj.get("event_id"))


def _max_lengths() -> dict[tuple[str, str], int]:
    """(kind, field) → the contract's maximum length, for the text fields that have one."""
    limits = {}
    for kind, model in PAYLOAD_MODELS.items():
        for name, prop in model.model_json_schema()["properties"].items():
            for option in prop.get("anyOf", [prop]):
                if "maxLength" in option:
                    limits[(kind.value, name)] = option["maxLength"]
    return limits


# Payload fields scrubbed per kind: every free-text field unless `ingest.scrub_fields` says otherwise.
_TEXT_FIELDS: dict[str, tuple[str, ...]] = dict(FREE_TEXT_FIELDS)
_MAX_LENGTH = _max_lengths()


def use_scrub_fields(fields: Mapping[str, Iterable[str]]) -> None:
    """Scrub these payload fields of each kind from now on (`ingest.scrub_fields`); kinds not named keep the
    default, every free-text field."""
    _TEXT_FIELDS.clear()
    _TEXT_FIELDS.update(FREE_TEXT_FIELDS)
    _TEXT_FIELDS.update({str(kind): tuple(names) for kind, names in fields.items()})


def _scrubbed(event: Any) -> Any:
    """Free text is scrubbed again before storage, whatever the connector did. A placeholder can be longer than
    what it replaced, so a field is cut to the contract's limit (the warehouse column's size)."""
    payload = event.payload
    update = {}
    for field in _TEXT_FIELDS.get(event.kind, ()):
        text = getattr(payload, field)
        clean = scrub(text)
        if clean != text:
            limit = _MAX_LENGTH.get((event.kind, field))
            update[field] = clean[:limit] if limit else clean
    if not update:
        return event
    return event.model_copy(update={"payload": payload.model_copy(update=update)})
