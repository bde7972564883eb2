"""plan_batch splits one micro-batch into rows to load and records to quarantine; flatten puts time in UTC.

Uses the session's real quality gate (tests/conftest.py): building Great Expectations is the slow part.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ingestion.batch import BatchPlan, SourceRecord, plan_batch
from ingestion.decode import Rejected, decode
from ingestion.rows import flatten
from schemas.events import Kind, make_event

PREFIX = "t1."
FORM_TOPIC = f"{PREFIX}realise.form_response.v1"
TICKET_TOPIC = f"{PREFIX}realise.helpdesk_ticket.v1"
OTHER_TOPIC = "payroll.events"
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
AT = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)
PERSON = {"pseudonym": "a1b2" * 8, "org_unit": "WARD-7", "staff_group": "Nursing and Midwifery", "system": "EPR",
          "go_live_wave": "wave-1"}


def form(record_id: str, occurred_at: datetime = AT, **changes: Any) -> Any:
    return make_event(Kind.FORM_RESPONSE, source="forms", source_record_id=record_id, record_version="1",
                      occurred_at=occurred_at, ingested_at=AT + timedelta(hours=1), payload={
                          "form_id": "epr-pulse", "person": PERSON, "likert": {"confidence": 3, "system_speed": 2},
                          "recommend": 6, "minutes_saved_per_shift": 5.0, **changes})


def ticket(record_id: str, status: str = "open") -> Any:
    return make_event(Kind.HELPDESK_TICKET, source="servicedesk", source_record_id=record_id,
                      record_version=f"{record_id}-{status}", occurred_at=AT, ingested_at=AT + timedelta(hours=1),
                      payload={"person": PERSON, "opened_at": AT - timedelta(hours=2), "updated_at": AT,
                               "status": status, "category": "Access / login", "priority": 3})


def value(event: Any) -> bytes:
    return event.model_dump_json().encode()


def rec(topic: str, partition: int, offset: int, data: bytes | None) -> SourceRecord:
    return SourceRecord(topic=topic, partition=partition, offset=offset, key=b"WARD-7", value=data)


F1, F2 = form("epr-pulse:0000001"), form("epr-pulse:0000002")
T1, T2 = ticket("INC0100001"), ticket("INC0100002", "resolved")
FUTURE = form("epr-pulse:0000003", occurred_at=datetime(2099, 1, 1, 9, 0, tzinfo=UTC))
NO_PERSON = json.loads(value(form("epr-pulse:0000004")))
del NO_PERSON["payload"]["person"]

MIXED = [
    rec(FORM_TOPIC, 0, 10, value(F1)),
    rec(FORM_TOPIC, 0, 11, value(F2)),
    rec(FORM_TOPIC, 0, 12, value(FUTURE)),
    rec(FORM_TOPIC, 0, 13, json.dumps(NO_PERSON).encode()),
    rec(FORM_TOPIC, 0, 14, value(F1)),  # re-delivered
    rec(FORM_TOPIC, 1, 5, b"{'kind': 'form_response'}"),
    rec(TICKET_TOPIC, 2, 7, value(T1)),
    rec(TICKET_TOPIC, 2, 8, value(T2)),
    rec(OTHER_TOPIC, 0, 99, b'{"employee": 1}'),
]


@pytest.fixture(scope="module")
def plan(gate: Any) -> BatchPlan:
    return plan_batch(MIXED, gate, topic_prefix=PREFIX, now=NOW)


def bad_at(plan: BatchPlan, topic: str, partition: int, offset: int) -> Any:
    (bad,) = [b for b in plan.bad if (b.record.topic, b.record.partition, b.record.offset) == (topic, partition,
                                                                                            offset)]
    return bad


# ------------------------------------------------------------------------------------------- the split


def test_given_mixed_batch_when_planned_then_every_record_counted(plan: BatchPlan) -> None:
    assert plan.records == 9


def test_given_mixed_batch_when_planned_then_valid_events_grouped_by_kind(plan: BatchPlan) -> None:
    assert [v.event.event_id for v in plan.valid[Kind.FORM_RESPONSE]] == [F1.event_id, F2.event_id]
    assert [v.event.event_id for v in plan.valid[Kind.HELPDESK_TICKET]] == [T1.event_id, T2.event_id]
    assert plan.valid_count == 4
    assert not plan.valid.get(Kind.TRAINING_RECORD)


def test_given_event_delivered_twice_when_planned_then_loaded_once_from_its_first_offset(plan: BatchPlan) -> None:
    assert plan.repeated == 1
    assert [v.record.offset for v in plan.valid[Kind.FORM_RESPONSE]] == [10, 11]


def test_given_mixed_batch_when_planned_then_bad_records_each_at_their_stage(plan: BatchPlan) -> None:
    stages = {(b.record.topic, b.record.partition, b.record.offset): b.stage for b in plan.bad}

    assert stages == {
        (FORM_TOPIC, 0, 12): "quality",
        (FORM_TOPIC, 0, 13): "contract",
        (FORM_TOPIC, 1, 5): "decode",
        (OTHER_TOPIC, 0, 99): "routing",
    }


def test_given_invalid_json_when_planned_then_decode_reason_says_not_json(plan: BatchPlan) -> None:
    bad = bad_at(plan, FORM_TOPIC, 1, 5)

    assert len(bad.reasons) == 1
    assert bad.reasons[0].startswith("not valid JSON")
    assert bad.kind == "form_response"
    assert bad.raw == b"{'kind': 'form_response'}"


def test_given_missing_person_when_planned_then_contract_reason_names_it_with_identity(plan: BatchPlan) -> None:
    bad = bad_at(plan, FORM_TOPIC, 0, 13)

    assert bad.reasons == ["payload.person: required field is missing"]
    assert (bad.kind, bad.source, bad.event_id) == ("form_response", "forms", NO_PERSON["event_id"])


def test_given_far_future_event_when_planned_then_quality_reason_says_later_than_now(plan: BatchPlan) -> None:
    bad = bad_at(plan, FORM_TOPIC, 0, 12)

    assert len(bad.reasons) == 1
    assert bad.reasons[0].startswith("occurred_at 2099-01-01 09:00:00")
    assert "later than now + 10 minutes" in bad.reasons[0]
    assert (bad.kind, bad.source, bad.event_id) == ("form_response", "forms", str(FUTURE.event_id))


def test_given_record_on_non_event_topic_when_planned_then_routing_reason_names_the_topic(plan: BatchPlan) -> None:
    bad = bad_at(plan, OTHER_TOPIC, 0, 99)

    assert bad.reasons == [f"topic {OTHER_TOPIC} does not carry Realise events"]
    assert bad.kind is None


def test_given_mixed_batch_when_planned_then_ranges_are_min_and_max_offset_per_partition(plan: BatchPlan) -> None:
    assert plan.ranges == {
        (FORM_TOPIC, 0): (10, 14),
        (FORM_TOPIC, 1): (5, 5),
        (TICKET_TOPIC, 2): (7, 8),
        (OTHER_TOPIC, 0): (99, 99),
    }


def test_given_offsets_out_of_order_when_planned_then_range_still_min_to_max(gate: Any) -> None:
    records = [rec(FORM_TOPIC, 0, 21, value(F1)), rec(FORM_TOPIC, 0, 19, value(F2)), rec(FORM_TOPIC, 0, 20, None)]

    plan = plan_batch(records, gate, topic_prefix=PREFIX, now=NOW)

    assert plan.ranges == {(FORM_TOPIC, 0): (19, 21)}


def test_given_unchanged_valid_record_when_planned_then_envelope_is_its_own_text(plan: BatchPlan) -> None:
    first = plan.valid[Kind.FORM_RESPONSE][0]

    assert first.envelope == value(F1).decode()


def test_given_unprefixed_event_topic_and_a_prefix_when_planned_then_not_routed_as_prefixed(gate: Any) -> None:
    plan = plan_batch([rec("x.realise.form_response.v1", 0, 1, value(F1))], gate, topic_prefix=PREFIX, now=NOW)

    assert [b.stage for b in plan.bad] == ["routing"]
    assert plan.valid_count == 0


def test_given_empty_batch_when_planned_then_empty_plan(gate: Any) -> None:
    plan = plan_batch([], gate, now=NOW)

    assert (plan.records, plan.valid_count, plan.bad, plan.repeated, plan.ranges) == (0, 0, [], 0, {})


# ------------------------------------------------------------------------------------------- rows in UTC


def bst_ticket_bytes() -> bytes:
    """A resolved ticket written by a source that uses British Summer Time offsets (+01:00) throughout."""
    base = json.loads(value(make_event(
        Kind.HELPDESK_TICKET, source="servicedesk", source_record_id="INC0200001", record_version="3",
        occurred_at=datetime(2026, 3, 28, 23, 30, tzinfo=UTC), ingested_at=datetime(2026, 3, 29, 8, 0, tzinfo=UTC),
        payload={"person": PERSON, "opened_at": datetime(2026, 3, 28, 21, 0, tzinfo=UTC),
                 "updated_at": datetime(2026, 3, 28, 23, 30, tzinfo=UTC),
                 "resolved_at": datetime(2026, 3, 28, 23, 30, tzinfo=UTC), "status": "resolved",
                 "category": "Access / login", "priority": 3})))
    base["occurred_at"] = "2026-03-29T00:30:00+01:00"
    base["ingested_at"] = "2026-03-29T09:00:00+01:00"
    base["payload"]["opened_at"] = "2026-03-28T22:00:00+01:00"
    base["payload"]["updated_at"] = "2026-03-29T00:30:00+01:00"
    base["payload"]["resolved_at"] = "2026-03-29T00:30:00+01:00"
    return json.dumps(base).encode()


@pytest.fixture(scope="module")
def bst_row() -> dict[str, Any]:
    result = decode(bst_ticket_bytes(), Kind.HELPDESK_TICKET, "realise.helpdesk_ticket.v1", 1_048_576)
    assert not isinstance(result, Rejected), result
    return flatten(result[0])


@pytest.mark.parametrize(("column", "utc"), [
    ("occurred_at", datetime(2026, 3, 28, 23, 30, tzinfo=UTC)),
    ("ingested_at", datetime(2026, 3, 29, 8, 0, tzinfo=UTC)),
    ("opened_at", datetime(2026, 3, 28, 21, 0, tzinfo=UTC)),
    ("updated_at", datetime(2026, 3, 28, 23, 30, tzinfo=UTC)),
    ("resolved_at", datetime(2026, 3, 28, 23, 30, tzinfo=UTC)),
])
def test_given_source_with_plus_one_hour_offsets_when_flattened_then_timestamp_in_utc(
        bst_row: dict[str, Any], column: str, utc: datetime) -> None:
    stamp = bst_row[column]

    assert stamp == utc
    assert stamp.utcoffset() == timedelta(0)
    assert (stamp.hour, stamp.minute) == (utc.hour, utc.minute)  # the wall clock too, not only the instant


def test_given_event_at_half_past_midnight_bst_when_flattened_then_date_key_is_the_utc_date(
        bst_row: dict[str, Any]) -> None:
    # 2026-03-29T00:30:00+01:00 is 2026-03-28T23:30:00Z: the 28th in UTC, though the 29th locally.
    assert bst_row["date_key"] == 20260328


def test_given_batch_mixing_utc_and_bst_sources_when_planned_then_all_rows_load_with_utc_times(gate: Any) -> None:
    records = [rec(TICKET_TOPIC, 0, 1, value(T1)), rec(TICKET_TOPIC, 0, 2, bst_ticket_bytes())]

    plan = plan_batch(records, gate, topic_prefix=PREFIX, now=NOW)

    assert plan.bad == []
    rows = [v.row for v in plan.valid[Kind.HELPDESK_TICKET]]
    assert [r["date_key"] for r in rows] == [20260320, 20260328]
    assert all(r[c].utcoffset() == timedelta(0) for r in rows for c in ("occurred_at", "opened_at", "updated_at"))
