"""No record can stop a batch: poison records are quarantined with a readable reason and the rest go on.

Each named record here once stopped every topic and partition for good. Uses the session's real quality gate.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from foundation.quarantine import MAX_REASONS, MAX_REASONS_CHARS, claimed_event_id, claimed_source, digest
from ingestion.batch import SKIPPED_REASON, SourceRecord, plan_batch
from schemas.events import Kind, make_event

TOPIC = "realise.form_response.v1"
TICKETS = "realise.helpdesk_ticket.v1"
AT = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
PERSON = {"pseudonym": "c3d4" * 8, "org_unit": "WARD-9", "staff_group": "Nursing and Midwifery", "system": "EPR"}


def form(n: int) -> dict[str, Any]:
    event = make_event(Kind.FORM_RESPONSE, source="forms", source_record_id=f"r{n}", record_version="1",
                       occurred_at=AT, ingested_at=AT + timedelta(hours=1),
                       payload={"form_id": "pulse", "person": PERSON, "likert": {"confidence": 4}})
    return json.loads(event.model_dump_json())


def ticket() -> dict[str, Any]:
    event = make_event(Kind.HELPDESK_TICKET, source="desk", source_record_id="INC1", record_version="1",
                       occurred_at=AT, ingested_at=AT + timedelta(hours=1),
                       payload={"person": PERSON, "opened_at": AT, "updated_at": AT, "status": "open",
                                "category": "Access", "priority": 3})
    return json.loads(event.model_dump_json())


def rec(offset: int, value: bytes | None, topic: str = TOPIC) -> SourceRecord:
    return SourceRecord(topic, 0, offset, b"WARD-9", value)


def plan(gate: Any, *values: bytes | None, topic: str = TOPIC, **kwargs: Any) -> Any:
    records = [rec(i, v, topic) for i, v in enumerate(values)]
    return plan_batch([*records, rec(len(values), json.dumps(form(99)).encode(), TOPIC)], gate, now=NOW, **kwargs)


def only_bad(p: Any) -> Any:
    assert p.valid_count == 1, "the valid record after the poison one must still load"
    assert len(p.bad) == 1
    return p.bad[0]


def test_given_json_nested_3000_deep_when_planned_then_quarantined_and_the_batch_goes_on(gate):
    deep = b'{"source": "x", "a": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    bad = only_bad(plan(gate, deep))
    assert bad.stage == "decode"
    assert "recursion" in bad.reasons[0] or "JSON" in bad.reasons[0]


@pytest.mark.parametrize("stamp", ["9999-12-31T23:00:00-12:00", "0001-01-01T00:00:00+14:00"])
@pytest.mark.parametrize("field", ["occurred_at", "ingested_at"])
def test_given_a_timestamp_outside_utc_years_when_planned_then_a_contract_reason_names_the_field(gate, stamp, field):
    event = form(1)
    event[field] = stamp
    bad = only_bad(plan(gate, json.dumps(event).encode()))
    assert bad.stage == "contract"
    assert bad.reasons == [f"{field}: timestamp is outside years 1..9999 once converted to UTC"]


def test_given_a_ticket_opened_outside_utc_years_when_planned_then_quarantined(gate):
    event = ticket()
    event["payload"]["opened_at"] = "0001-01-01T00:00:00+14:00"
    p = plan_batch([rec(0, json.dumps(event).encode(), TICKETS)], gate, now=NOW)
    assert [b.reasons for b in p.bad] == [["payload.opened_at: timestamp is outside years 1..9999 once converted "
                                           "to UTC"]]


def test_given_a_record_that_breaks_decoding_itself_when_planned_then_the_exception_is_the_reason(gate):
    # A value of the wrong type stands for any bug a record can trigger inside decode.
    bad = only_bad(plan(gate, "not bytes"))  # type: ignore[arg-type]
    assert bad.stage == "decode"
    assert bad.reasons[0].startswith("decode failed with TypeError: ")


class _GateFailingOn:
    """The real gate, except that it raises for any frame holding one marked record."""

    def __init__(self, gate: Any, event_id: str) -> None:
        self.gate, self.event_id, self.calls = gate, event_id, 0

    def check(self, kind: Kind, frame: pd.DataFrame, now: datetime | None = None) -> Any:
        self.calls += 1
        if (frame["event_id"].astype(str) == self.event_id).any():
            raise ValueError("expectation engine failed")
        return self.gate.check(kind, frame, now=now)


def test_given_the_quality_gate_fails_on_one_record_when_planned_then_only_that_record_is_quarantined(gate):
    records = [rec(i, json.dumps(form(i)).encode()) for i in range(40)]
    failing = _GateFailingOn(gate, form(17)["event_id"])
    p = plan_batch(records, failing, now=NOW)
    assert p.valid_count == 39
    assert [(b.record.offset, b.stage) for b in p.bad] == [(17, "quality")]
    assert p.bad[0].reasons == ["quality check failed with ValueError: expectation engine failed"]
    assert failing.calls <= 2 * 6 + 1  # halving, not one check per record


def test_given_an_operator_skip_when_planned_then_the_record_is_quarantined_unread(gate):
    records = [rec(0, b"{}"), rec(1, json.dumps(form(1)).encode())]
    p = plan_batch(records, gate, now=NOW, skip=frozenset({(TOPIC, 0, 0)}))
    assert [(b.stage, b.reasons) for b in p.bad] == [("skipped", [SKIPPED_REASON])]
    assert p.valid_count == 1


def test_given_hundreds_of_errors_when_planned_then_reasons_are_bounded_and_counted(gate):
    event = form(1)
    event["payload"]["likert"] = {f"item_{i}": 9 for i in range(50)}
    event["payload"]["junk"] = "x" * 300_000
    event.update({f"extra_{i}": i for i in range(500)})
    bad = only_bad(plan(gate, json.dumps(event).encode()))
    assert len(bad.reasons) <= MAX_REASONS + 1
    assert sum(map(len, bad.reasons)) <= MAX_REASONS_CHARS + 40
    assert bad.reasons[-1].startswith("and ") and bad.reasons[-1].endswith(" more")


def test_given_identifiers_in_keys_and_claimed_ids_when_quarantined_then_none_reaches_the_reasons(gate):
    event = form(1)
    event["payload"]["likert"] = {"jane.doe@nhs.net": 4, "confidence": 9}
    event["payload"]["Jane Doe 07700 900468"] = "x"
    event["source"] = "jane.doe@nhs.net"
    event["event_id"] = "jane.doe@nhs.net"
    bad = only_bad(plan(gate, json.dumps(event).encode()))
    text = " ".join(bad.reasons)
    for leak in ("jane", "Jane", "07700", "nhs.net"):
        assert leak not in text
    assert bad.source == digest("jane.doe@nhs.net")
    assert bad.event_id == digest("jane.doe@nhs.net")
    assert any(r.startswith("payload.likert.confidence:") for r in bad.reasons), bad.reasons
    assert any(r.startswith("payload.<key>: unknown field") for r in bad.reasons), bad.reasons


def test_given_claimed_identity_when_cleaned_then_contract_shapes_stay_and_the_rest_is_digested():
    known = str(uuid.uuid4())
    assert claimed_source("msforms") == "msforms"
    assert claimed_source("07700900468") == digest("07700900468")
    assert claimed_source("a@b.org") == digest("a@b.org")
    assert claimed_source(digest("x")) == digest("x")
    assert claimed_event_id(known.upper()) == known
    assert claimed_event_id("INC0012345") == digest("INC0012345")
    assert claimed_event_id(None) is None and claimed_source(42) is None
