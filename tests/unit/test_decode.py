"""decode: one Kafka record's bytes become a validated, scrubbed event and its JSON, or readable reasons why not."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from ingestion.decode import Rejected, decode
from schemas.events import Kind, make_event

FORM_TOPIC = "realise.form_response.v1"
TICKET_TOPIC = "realise.helpdesk_ticket.v1"
LIMIT = 1_048_576
AT = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
PERSON = {"pseudonym": "5f2b" * 8, "org_unit": "WARD-7", "org_path": ["TRUST", "MEDICINE"],
          "staff_group": "Nursing and Midwifery", "system": "EPR", "go_live_wave": "wave-1"}


def form(comment: str | None = "Smartcard login takes several attempts at the start of every shift.",
         record_id: str = "epr-pulse:0000001", **payload: Any) -> Any:
    return make_event(Kind.FORM_RESPONSE, source="forms", source_record_id=record_id, record_version="1",
                      occurred_at=AT, ingested_at=AT, payload={
                          "form_id": "epr-pulse", "person": PERSON,
                          "likert": {"confidence": 2, "system_speed": 1, "training_fit": 4},
                          "recommend": 3, "minutes_saved_per_shift": -15.0, "comment": comment, **payload})


def ticket(summary: str = "Cannot log in with smartcard") -> Any:
    return make_event(Kind.HELPDESK_TICKET, source="servicedesk", source_record_id="INC0100001",
                      record_version="2026-03-02T09:15:00Z", occurred_at=AT, ingested_at=AT, payload={
                          "person": PERSON, "opened_at": AT, "updated_at": AT, "status": "new",
                          "category": "Access / login", "priority": 3, "summary": summary})


def as_dict(event: Any) -> dict[str, Any]:
    return json.loads(event.model_dump_json())


def encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def rejected(value: bytes | None, kind: Kind = Kind.FORM_RESPONSE, topic: str = FORM_TOPIC,
             max_bytes: int = LIMIT) -> Rejected:
    result = decode(value, kind, topic, max_bytes)
    assert isinstance(result, Rejected), f"expected a rejection, got {result!r}"
    return result


def accepted(value: bytes, kind: Kind = Kind.FORM_RESPONSE, topic: str = FORM_TOPIC) -> tuple[Any, str]:
    result = decode(value, kind, topic, LIMIT)
    assert not isinstance(result, Rejected), f"expected an event, got {result!r}"
    return result


# ---------------------------------------------------------------------------------------------- bytes


@pytest.mark.parametrize("value", [None, b""], ids=["none", "empty"])
def test_given_empty_value_when_decoded_then_rejected_at_decode_as_empty(value: bytes | None) -> None:
    result = rejected(value)

    assert result.stage == "decode"
    assert result.reasons == ["record is empty"]


def test_given_value_over_the_limit_when_decoded_then_reason_names_both_sizes() -> None:
    value = form().model_dump_json().encode()
    value = value[:-1] + b" " * (2048 - len(value)) + b"}"  # valid JSON, padded to exactly 2,048 bytes

    result = rejected(value, max_bytes=1500)

    assert result.stage == "decode"
    assert len(result.reasons) == 1
    assert "too large" in result.reasons[0]
    assert "2,048" in result.reasons[0]
    assert "1,500" in result.reasons[0]


def test_given_value_exactly_at_the_limit_when_decoded_then_accepted_and_one_byte_less_rejected() -> None:
    value = form().model_dump_json().encode()

    assert not isinstance(decode(value, Kind.FORM_RESPONSE, FORM_TOPIC, len(value)), Rejected)
    assert isinstance(decode(value, Kind.FORM_RESPONSE, FORM_TOPIC, len(value) - 1), Rejected)


def test_given_latin1_byte_in_comment_when_decoded_then_reason_names_the_byte_and_its_position() -> None:
    text = form(comment="CAFE_MARKER").model_dump_json().encode()
    prefix, suffix = text.split(b"CAFE_MARKER")
    value = prefix + b"Caf\xe9 on level 2" + suffix  # e-acute in Latin-1, not UTF-8
    position = len(prefix) + 3

    result = rejected(value)

    assert result.stage == "decode"
    assert result.reasons == [f"not valid UTF-8: byte 0xe9 at position {position}"]


@pytest.mark.parametrize("value", [b"{'kind': 'form_response', 'payload': None}", b'{"kind": "form_response", "pay'],
                         ids=["python-repr", "truncated"])
def test_given_bytes_that_are_not_json_when_decoded_then_rejected_at_decode_as_not_json(value: bytes) -> None:
    result = rejected(value)

    assert result.stage == "decode"
    assert len(result.reasons) == 1
    assert result.reasons[0].startswith("not valid JSON")


@pytest.mark.parametrize(("value", "type_name"), [(b"42", "int"), (b"[{}]", "list"), (b'"form"', "str")])
def test_given_json_that_is_not_an_object_when_decoded_then_rejected_at_decode_naming_its_type(
        value: bytes, type_name: str) -> None:
    result = rejected(value)

    assert result.stage == "decode"
    assert result.reasons == [f"record must be a JSON object, got {type_name}"]


# ------------------------------------------------------------------------------------------- contract


def test_given_record_without_person_when_decoded_then_contract_reason_names_the_missing_field() -> None:
    data = as_dict(form())
    del data["payload"]["person"]

    result = rejected(encode(data))

    assert result.stage == "contract"
    assert result.reasons == ["payload.person: required field is missing"]
    assert result.source == "forms"
    assert result.event_id == data["event_id"]


def test_given_raw_email_as_pseudonym_when_decoded_then_reason_does_not_repeat_the_address() -> None:
    data = as_dict(form())
    data["payload"]["person"]["pseudonym"] = "ann.smith@example.nhs.uk"

    result = rejected(encode(data))

    assert result.reasons == ["payload.person.pseudonym: String should match pattern '^[0-9a-f]{32}$' (got '[EMAIL]')"]


def test_given_recommend_as_string_digit_when_decoded_then_rejected_because_decoding_is_strict() -> None:
    data = as_dict(form())
    data["payload"]["recommend"] = "7"

    result = rejected(encode(data))

    assert result.stage == "contract"
    assert len(result.reasons) == 1
    assert result.reasons[0].startswith("payload.recommend: ")
    assert "'7'" in result.reasons[0]


def test_given_ticket_on_form_topic_when_decoded_then_contract_reason_names_kind_and_topic() -> None:
    event = ticket()

    result = rejected(event.model_dump_json().encode(), Kind.FORM_RESPONSE, FORM_TOPIC)

    assert result.stage == "contract"
    assert len(result.reasons) == 1
    assert "helpdesk_ticket" in result.reasons[0]
    assert FORM_TOPIC in result.reasons[0]
    assert result.source == "servicedesk"
    assert result.event_id == str(event.event_id)


def test_given_event_id_not_derived_from_its_identity_when_decoded_then_short_readable_reason() -> None:
    data = as_dict(form())
    wrong = "00000000-0000-4000-8000-000000000001"
    data["event_id"] = wrong

    result = rejected(encode(data))

    assert result.stage == "contract"
    assert len(result.reasons) == 1
    reason = result.reasons[0]
    assert "event_id" in reason and wrong in reason
    assert "derived" in reason
    assert len(reason) < 250
    assert "Smartcard" not in reason and PERSON["pseudonym"] not in reason and "{" not in reason


def test_given_record_with_several_faults_when_decoded_then_every_fault_has_a_reason() -> None:
    data = as_dict(form())
    data["payload"]["recommend"] = 14
    data["payload"]["likert"]["confidence"] = 7

    result = rejected(encode(data))

    assert result.stage == "contract"
    assert len(result.reasons) == 2
    assert any(r.startswith("payload.recommend") for r in result.reasons)
    assert any(r.startswith("payload.likert.confidence") for r in result.reasons)


def test_given_rejected_record_with_lone_surrogate_in_source_when_decoded_then_identity_is_storable_text() -> None:
    # jiter refuses the lone surrogate, so the record is quarantined; its source and event id are written to
    # ops.quarantine as text, which must encode as UTF-8 or the whole batch fails to load.
    data = as_dict(form())
    value = encode(data).replace(b'"source": "forms"', b'"source": "\\ud800forms"')

    result = rejected(value)

    def storable(text: str | None) -> bool:
        return text is None or text.encode("utf-8", "replace").decode("utf-8") == text

    assert result.stage == "decode"
    assert storable(result.source), f"source {result.source!r} cannot be written as UTF-8 text"
    assert storable(result.event_id), f"event_id {result.event_id!r} cannot be written as UTF-8 text"


# ----------------------------------------------------------------------------------------- what is kept


def test_given_valid_unchanged_record_when_decoded_then_envelope_is_the_original_text() -> None:
    original = form()
    value = json.dumps(as_dict(original), indent=1).encode()  # not how pydantic would write it

    event, envelope = accepted(value)

    assert envelope == value.decode("utf-8")
    assert event == original


def test_given_nul_escape_in_comment_when_decoded_then_nul_removed_from_event_and_envelope() -> None:
    data = as_dict(form(comment="Login fails\u0000 every morning"))
    value = encode(data)
    assert b"\\u0000" in value  # what the broker holds: a JSON escape, not a raw byte

    event, envelope = accepted(value)

    assert event.payload.comment == "Login fails every morning"
    assert "\\u0000" not in envelope and "\x00" not in envelope
    assert json.loads(envelope)["payload"]["comment"] == "Login fails every morning"


def test_given_escaped_backslash_before_u0000_when_decoded_then_text_kept_as_written() -> None:
    # The comment holds the six characters \u0000 (a backslash, then u0000), not a NUL: nothing to remove.
    data = as_dict(form(comment="Path C:\\u0000\\temp is wrong"))

    event, envelope = accepted(encode(data))

    assert event.payload.comment == "Path C:\\u0000\\temp is wrong"
    assert json.loads(envelope)["payload"]["comment"] == "Path C:\\u0000\\temp is wrong"


def test_given_email_in_comment_when_decoded_then_scrubbed_in_event_and_envelope() -> None:
    value = form(comment="Please contact me at jane.doe@nhs.net about this.").model_dump_json().encode()

    event, envelope = accepted(value)

    assert event.payload.comment == "Please contact me at [EMAIL] about this."
    assert "jane.doe" not in envelope
    assert json.loads(envelope)["payload"]["comment"] == "Please contact me at [EMAIL] about this."


def test_given_phone_in_ticket_summary_when_decoded_then_scrubbed_in_event_and_envelope() -> None:
    value = ticket("Cannot log in. Call me on 07700 900123.").model_dump_json().encode()

    event, envelope = accepted(value, Kind.HELPDESK_TICKET, TICKET_TOPIC)

    assert event.payload.summary == "Cannot log in. Call me on [PHONE]."
    assert "900123" not in envelope


def test_given_scrubbed_event_when_decoded_then_identity_and_other_fields_unchanged() -> None:
    original = form(comment="Ring 07700 900123")

    event, envelope = accepted(original.model_dump_json().encode())

    assert event.event_id == original.event_id
    assert event.payload.likert == {"confidence": 2, "system_speed": 1, "training_fit": 4}
    assert json.loads(envelope)["event_id"] == str(original.event_id)
    assert uuid.UUID(json.loads(envelope)["event_id"]) == original.event_id
