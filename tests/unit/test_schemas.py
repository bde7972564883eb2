"""Event contracts: committed JSON Schemas match the models, ids are derived, topics map to kinds."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from schemas.events import Kind, make_event, make_event_id
from schemas.generate import JSON_DIR, render
from schemas.topics import DEAD_LETTER_TOPIC, TOPICS, kind_for_topic, partition_key

AT = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
PERSON = {"pseudonym": "0123456789abcdef" * 2, "org_unit": "WARD-7", "staff_group": "Nursing and Midwifery",
          "system": "EPR"}
FORM_PAYLOAD = {"form_id": "epr-pulse", "person": PERSON, "likert": {"confidence": 4}, "recommend": 8}


def committed_schema(kind: Kind) -> dict[str, Any]:
    return json.loads((JSON_DIR / f"{kind.value}.v1.schema.json").read_text())


# ------------------------------------------------------------------------------------------ schema files


def test_given_models_when_schemas_rendered_then_committed_files_are_identical() -> None:
    rendered = render()
    committed = {p.name: p.read_text() for p in Path(JSON_DIR).glob("*.json")}

    stale = sorted(name for name in rendered.keys() | committed.keys() if rendered.get(name) != committed.get(name))

    assert not stale, f"schemas/json is out of date ({', '.join(stale)}): run `python -m schemas.generate`"


def test_given_render_when_called_then_one_file_per_kind() -> None:
    assert sorted(render()) == ["form_response.v1.schema.json", "helpdesk_ticket.v1.schema.json",
                                "retraction.v1.schema.json", "skills_assessment.v1.schema.json",
                                "training_record.v1.schema.json"]


def test_given_form_response_schema_when_read_then_likert_values_are_integers_1_to_5() -> None:
    likert = committed_schema(Kind.FORM_RESPONSE)["$defs"]["FormResponse"]["properties"]["likert"]

    (value_schema,) = likert["patternProperties"].values()
    assert value_schema == {"type": "integer", "minimum": 1, "maximum": 5}


def test_given_form_response_schema_when_read_then_recommend_is_integer_0_to_10_or_null() -> None:
    recommend = committed_schema(Kind.FORM_RESPONSE)["$defs"]["FormResponse"]["properties"]["recommend"]

    assert {"type": "integer", "minimum": 0, "maximum": 10} in recommend["anyOf"]
    assert {"type": "null"} in recommend["anyOf"]
    assert len(recommend["anyOf"]) == 2


def test_given_valid_event_when_checked_against_committed_schema_then_it_passes() -> None:
    event = make_event(Kind.FORM_RESPONSE, source="forms", source_record_id="r1", record_version="1",
                       occurred_at=AT, ingested_at=AT, payload=FORM_PAYLOAD)

    jsonschema.validate(json.loads(event.model_dump_json()), committed_schema(Kind.FORM_RESPONSE))


@pytest.mark.parametrize("likert", [{"confidence": 6}, {"Confidence": 9}],
                         ids=["value-above-5", "key-outside-the-item-code-pattern"])
def test_given_likert_the_model_refuses_when_checked_against_committed_schema_then_schema_refuses_it_too(
        likert: dict[str, int]) -> None:
    # Producers validate against the published schema; what it accepts and the ingest refuses is quarantined.
    event = make_event(Kind.FORM_RESPONSE, source="forms", source_record_id="r1", record_version="1",
                       occurred_at=AT, ingested_at=AT, payload=FORM_PAYLOAD)
    data = json.loads(event.model_dump_json())
    data["payload"]["likert"] = likert
    with pytest.raises(ValidationError):
        make_event(Kind.FORM_RESPONSE, source="forms", source_record_id="r1", record_version="1",
                   occurred_at=AT, payload={**FORM_PAYLOAD, "likert": likert})

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, committed_schema(Kind.FORM_RESPONSE))


# -------------------------------------------------------------------------------------------- event ids


def test_given_same_identity_when_event_id_made_twice_then_same_id() -> None:
    assert make_event_id("forms", "epr-pulse:0000001", "1") == make_event_id("forms", "epr-pulse:0000001", "1")


def test_given_identity_when_event_id_made_then_uuid5_in_the_fixed_realise_namespace() -> None:
    # Written out here, not imported: changing the namespace would silently re-key every stored event.
    namespace = uuid.UUID("5b0f6c1e-3f7a-4c55-9a59-2d1b7e0c9a41")

    event_id = make_event_id("forms", "epr-pulse:0000001", "1")

    assert event_id.version == 5
    assert event_id == uuid.uuid5(namespace, "forms\x1fepr-pulse:0000001\x1f1")


@pytest.mark.parametrize("changed", [("servicedesk", "r1", "v1"), ("forms", "r2", "v1"), ("forms", "r1", "v2")],
                         ids=["source", "record-id", "version"])
def test_given_one_part_of_identity_changed_when_event_id_made_then_id_differs(
        changed: tuple[str, str, str]) -> None:
    assert make_event_id(*changed) != make_event_id("forms", "r1", "v1")


def test_given_parts_that_concatenate_alike_when_event_id_made_then_ids_differ() -> None:
    assert make_event_id("forms", "ab", "c") != make_event_id("forms", "a", "bc")
    assert make_event_id("form", "sr1", "1") != make_event_id("forms", "r1", "1")


def test_given_make_event_when_built_then_event_id_is_derived_from_identity() -> None:
    event = make_event(Kind.FORM_RESPONSE, source="forms", source_record_id="r1", record_version="1",
                       occurred_at=AT, payload=FORM_PAYLOAD)

    assert event.event_id == make_event_id("forms", "r1", "1")


# ------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize("pseudonym", ["jane.doe@nhs.net", "STAFF000123", "0123456789ABCDEF" * 2, "0" * 31])
def test_given_person_without_a_32_hex_pseudonym_when_event_made_then_validation_fails_on_pseudonym(
        pseudonym: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make_event(Kind.FORM_RESPONSE, source="forms", source_record_id="r1", record_version="1", occurred_at=AT,
                   payload={**FORM_PAYLOAD, "person": {**PERSON, "pseudonym": pseudonym}})

    assert [err["loc"][-1] for err in caught.value.errors()] == ["pseudonym"]


def test_given_naive_occurred_at_when_event_made_then_validation_fails() -> None:
    with pytest.raises(ValidationError):
        make_event(Kind.FORM_RESPONSE, source="forms", source_record_id="r1", record_version="1",
                   occurred_at=datetime(2026, 3, 2, 9, 15), payload=FORM_PAYLOAD)


# ----------------------------------------------------------------------------------------------- topics


def test_given_same_org_unit_when_partition_key_made_then_same_key() -> None:
    assert partition_key("WARD-7") == partition_key("WARD-7") == b"WARD-7"


def test_given_different_org_units_when_partition_key_made_then_keys_differ() -> None:
    assert partition_key("WARD-7") != partition_key("WARD-8")


@pytest.mark.parametrize(("topic", "kind"), [
    ("realise.form_response.v1", Kind.FORM_RESPONSE),
    ("realise.helpdesk_ticket.v1", Kind.HELPDESK_TICKET),
    ("realise.training_record.v1", Kind.TRAINING_RECORD),
    ("realise.skills_assessment.v1", Kind.SKILLS_ASSESSMENT),
])
def test_given_event_topic_without_prefix_when_looked_up_then_its_kind(topic: str, kind: Kind) -> None:
    assert kind_for_topic(topic) is kind
    assert TOPICS[kind] == topic


def test_given_prefixed_topic_and_prefix_when_looked_up_then_its_kind() -> None:
    assert kind_for_topic("staging.realise.helpdesk_ticket.v1", "staging.") is Kind.HELPDESK_TICKET


def test_given_prefixed_topic_without_prefix_when_looked_up_then_none() -> None:
    assert kind_for_topic("staging.realise.helpdesk_ticket.v1") is None


@pytest.mark.parametrize("topic", [DEAD_LETTER_TOPIC, "realise.alerts.v1", "realise.form_response.v2", "payroll"])
def test_given_topic_that_carries_no_events_when_looked_up_then_none(topic: str) -> None:
    assert kind_for_topic(topic) is None
