"""Hypothesis strategies for hostile Kafka records: valid events of every kind, mutated at any path.

Shared by the unit fuzz test (the planning core) and the integration fuzz test (real broker and warehouse).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from schemas.events import Kind, make_event
from schemas.topics import TOPICS

AT = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
PERSON = {"pseudonym": "e5f6" * 8, "org_unit": "WARD-3", "org_path": ["TRUST", "DIV-A"],
          "staff_group": "Nursing and Midwifery", "system": "EPR", "go_live_wave": "wave-2"}
PAYLOADS: dict[Kind, dict[str, Any]] = {
    Kind.FORM_RESPONSE: {"form_id": "pulse", "person": PERSON, "likert": {"confidence": 4, "system_speed": 2},
                         "recommend": 7, "minutes_saved_per_shift": 12.5, "comment": "Login is slow on ward 3"},
    Kind.HELPDESK_TICKET: {"person": PERSON, "opened_at": AT - timedelta(hours=3), "updated_at": AT,
                           "status": "open", "category": "Access / login", "priority": 3, "summary": "Cannot log in"},
    Kind.TRAINING_RECORD: {"person": PERSON, "course_id": "EPR-101", "course_title": "EPR basics",
                           "module": "Orders", "verb": "completed", "score": 0.8, "duration_seconds": 1800,
                           "required": True},
    Kind.SKILLS_ASSESSMENT: {"person": PERSON, "assessment_id": "dcf-2026", "phase": "baseline",
                             "scores": {"technical_proficiency": 3, "teaching_learning": 4}},
    Kind.RETRACTION: {"kind": "training_record", "reason": "voided"},
}

EXTREME_STAMPS = ["9999-12-31T23:00:00-12:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999-23:59",
                  "0001-01-01T00:00:00+23:59", "2026-03-20T10:00:00", "2026-02-30T00:00:00Z", "0000-01-01T00:00:00Z"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
    | st.sampled_from(["9999-12-31T23:00:00-12:00", "0001-01-01T00:00:00+14:00", "2026-02-30T00:00:00Z",
                       "jane.doe@nhs.net", "943 476 5919", "\u0000", "\u200b", "NaN", "1e999", "a" * 5000]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)


def valid_event(kind: Kind, n: int) -> dict[str, Any]:
    event = make_event(kind, source="fuzz", source_record_id=f"{kind.value}-{n}", record_version="1",
                       occurred_at=AT, ingested_at=AT + timedelta(hours=1), payload=PAYLOADS[kind])
    return json.loads(event.model_dump_json())


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _set(obj: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> None:
    for part in path[:-1]:
        obj = obj[part]
    if delete and isinstance(obj, dict):
        obj.pop(path[-1], None)
    else:
        obj[path[-1]] = value


@st.composite
def hostile_record(draw: st.DrawFn, n: int = 0) -> tuple[Kind, bytes]:
    """(topic kind, value bytes): a valid event, or one mutated in one of many ways."""
    kind = draw(st.sampled_from(list(Kind)))
    event = valid_event(kind, draw(st.integers(0, 10_000)) if n == 0 else n)
    how = draw(st.sampled_from(["valid", "set", "delete", "add", "deep", "bytes", "truncate", "kind", "stamp"]))
    if how == "stamp":
        stamps = [p for p in _paths(event) if str(p[-1]).endswith("_at")]
        _set(event, draw(st.sampled_from(stamps)), draw(st.sampled_from(EXTREME_STAMPS)))
    elif how == "set":
        _set(event, draw(st.sampled_from(_paths(event))), draw(json_values))
    elif how == "delete":
        _set(event, draw(st.sampled_from(_paths(event))), None, delete=True)
    elif how == "add":
        path = draw(st.sampled_from([p for p in [(), ("payload",), ("payload", "person")]
                                     if p[-1:] != ("person",) or "person" in event["payload"]]))
        target = event
        for part in path:
            target = target[part]
        target[draw(st.text(max_size=20))] = draw(json_values)
    elif how == "deep":
        depth = draw(st.integers(100, 4000))
        return kind, b'{"kind": "x", "payload": ' + b"[" * depth + b"]" * depth + b"}"
    elif how == "bytes":
        return kind, draw(st.binary(max_size=200))
    elif how == "kind":
        kind = draw(st.sampled_from([k for k in Kind if k.value != event["kind"]]))
    raw = json.dumps(event).encode()
    if how == "truncate":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    return kind, raw


def topic_of(kind: Kind, prefix: str = "") -> str:
    return f"{prefix}{TOPICS[kind]}"
