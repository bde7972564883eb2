"""Which payload fields ingest scrubs: every free-text field of every kind by default, narrowed per kind by the
`ingest.scrub_fields` setting, never a code that rows join on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from foundation.config import IngestSettings, Settings, load_settings
from foundation.errors import ConfigError
from foundation.privacy import FREE_TEXT_FIELDS
from ingestion import decode as decode_module
from ingestion.decode import Rejected, decode, use_scrub_fields
from schemas.events import EVENT_ADAPTER, PAYLOAD_MODELS, Kind, make_event

AT = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
LIMIT = 1_048_576
PERSON = {"pseudonym": "5f2b" * 8, "org_unit": "WARD-7", "org_path": ["TRUST"], "staff_group": "Nursing and Midwifery",
          "system": "EPR"}
PHONE = "07700 900468"  # Ofcom's range for drama: nobody's number


@pytest.fixture(autouse=True)
def _default_fields() -> Iterator[None]:
    """Each test starts from, and leaves, the default: every free-text field."""
    use_scrub_fields({})
    yield
    use_scrub_fields({})


def ticket(category: str, summary: str = "Cannot log in") -> bytes:
    return make_event(Kind.HELPDESK_TICKET, source="servicedesk", source_record_id="INC0100001",
                      record_version="1", occurred_at=AT, ingested_at=AT, payload={
                          "person": PERSON, "opened_at": AT, "updated_at": AT, "status": "new",
                          "category": category, "priority": 3, "summary": summary}).model_dump_json().encode()


def training(course_title: str, module: str) -> bytes:
    return make_event(Kind.TRAINING_RECORD, source="lms", source_record_id="enrol-1", record_version="1",
                      occurred_at=AT, ingested_at=AT, payload={
                          "person": PERSON, "course_id": "EPR-101", "course_title": course_title, "module": module,
                          "verb": "completed"}).model_dump_json().encode()


def form(comment: str) -> bytes:
    return make_event(Kind.FORM_RESPONSE, source="forms", source_record_id="r-1", record_version="1",
                      occurred_at=AT, ingested_at=AT, payload={"form_id": "epr-pulse", "person": PERSON,
                                                               "comment": comment}).model_dump_json().encode()


def accepted(value: bytes, kind: Kind) -> tuple[Any, dict[str, Any]]:
    result = decode(value, kind, f"realise.{kind.value}.v1", LIMIT)
    assert not isinstance(result, Rejected), result
    event, envelope = result
    return event, json.loads(envelope)


# ------------------------------------------------------------------------------------------------- defaults

def test_given_default_settings_when_ticket_category_holds_a_phone_number_then_stored_scrubbed() -> None:
    event, envelope = accepted(ticket(f"Access - call {PHONE}"), Kind.HELPDESK_TICKET)

    assert event.payload.category == "Access - call [PHONE]"
    assert envelope["payload"]["category"] == "Access - call [PHONE]"


def test_given_default_settings_when_course_title_and_module_hold_identifiers_then_both_stored_scrubbed() -> None:
    event, envelope = accepted(training("EPR basics (ask jane.doe@nhs.net)", f"Module 3 - ring {PHONE}"),
                               Kind.TRAINING_RECORD)

    assert (event.payload.course_title, event.payload.module) == ("EPR basics (ask [EMAIL])", "Module 3 - ring [PHONE]")
    assert envelope["payload"]["course_title"] == "EPR basics (ask [EMAIL])"
    assert envelope["payload"]["module"] == "Module 3 - ring [PHONE]"
    assert envelope["payload"]["course_id"] == "EPR-101"


def test_given_default_settings_when_training_record_has_no_identifiers_then_envelope_is_the_record_as_sent() -> None:
    value = training("EPR basics", "Module 3: orders")

    result = decode(value, Kind.TRAINING_RECORD, "realise.training_record.v1", LIMIT)

    assert not isinstance(result, Rejected)
    assert result[1] == value.decode()


def test_given_category_at_its_limit_when_a_longer_placeholder_replaces_a_number_then_cut_to_the_limit() -> None:
    # "9434765919" (10 characters) becomes "[NHS_NUMBER]" (12): the column holds 128.
    category = "x" * 115 + " 9434765919 y"
    assert len(category) == 128

    event, envelope = accepted(ticket(category), Kind.HELPDESK_TICKET)

    assert event.payload.category == "x" * 115 + " [NHS_NUMBER]"
    assert "9434765919" not in event.payload.category
    EVENT_ADAPTER.validate_json(json.dumps(envelope), strict=True)  # still within the contract


def test_given_free_text_fields_when_compared_with_the_contract_then_every_plain_string_field_is_listed() -> None:
    # A plain string is free text; a pattern (codes, join keys) or a fixed set of values (enums) is not.
    for kind, model in PAYLOAD_MODELS.items():
        plain = set()
        for name, prop in model.model_json_schema()["properties"].items():
            options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]
            if all(o.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(o)
                   for o in options):
                plain.add(name)
        assert set(FREE_TEXT_FIELDS[kind.value]) == plain, kind


# ------------------------------------------------------------------------------------------------- setting

def test_given_ticket_narrowed_to_summary_when_decoded_then_category_kept_as_written_and_summary_scrubbed() -> None:
    use_scrub_fields(IngestSettings(scrub_fields={"helpdesk_ticket": ["summary"]}).scrub_fields)

    event, _ = accepted(ticket(f"Access - call {PHONE}", f"Ring {PHONE}"), Kind.HELPDESK_TICKET)

    assert event.payload.category == f"Access - call {PHONE}"
    assert event.payload.summary == "Ring [PHONE]"


def test_given_one_kind_narrowed_when_another_kind_is_decoded_then_it_keeps_the_default() -> None:
    use_scrub_fields(IngestSettings(scrub_fields={"helpdesk_ticket": []}).scrub_fields)

    ticket_event, _ = accepted(ticket(f"Access - call {PHONE}", f"Ring {PHONE}"), Kind.HELPDESK_TICKET)
    form_event, _ = accepted(form(f"Ring {PHONE}"), Kind.FORM_RESPONSE)

    assert ticket_event.payload.summary == f"Ring {PHONE}"
    assert form_event.payload.comment == "Ring [PHONE]"


def test_given_no_scrub_fields_setting_when_loaded_then_every_free_text_field_of_every_kind() -> None:
    fields = IngestSettings().scrub_fields

    assert fields == {Kind.FORM_RESPONSE: ["comment"], Kind.HELPDESK_TICKET: ["category", "summary"],
                      Kind.TRAINING_RECORD: ["course_title", "module"], Kind.SKILLS_ASSESSMENT: [],
                      Kind.RETRACTION: []}


def test_given_a_code_field_when_configured_then_refused_naming_the_choices() -> None:
    with pytest.raises(ValidationError, match=r"training_record\.course_id is not a free-text field: choose from "
                                              r"course_title, module"):
        IngestSettings(scrub_fields={"training_record": ["course_id"]})


def test_given_scrub_fields_in_realise_yaml_with_an_unknown_field_when_loaded_then_config_error_names_setting(
        tmp_path: Path) -> None:
    path = tmp_path / "realise.yaml"
    path.write_text("ingest:\n  scrub_fields:\n    helpdesk_ticket: [summary, status]\n")

    with pytest.raises(ConfigError, match=r"'ingest\.scrub_fields' in .*realise\.yaml: helpdesk_ticket\.status is "
                                          r"not a free-text field"):
        load_settings(path, env={})


def test_given_scrub_fields_in_realise_yaml_when_loaded_then_that_kind_narrowed_and_the_others_default(
        tmp_path: Path) -> None:
    path = tmp_path / "realise.yaml"
    path.write_text("ingest:\n  scrub_fields:\n    training_record: [module]\n")

    fields = load_settings(path, env={}).ingest.scrub_fields

    assert fields[Kind.TRAINING_RECORD] == ["module"]
    assert fields[Kind.HELPDESK_TICKET] == ["category", "summary"]


def test_given_settings_with_narrowed_fields_when_ingest_runner_is_built_then_decode_uses_them() -> None:
    import sqlalchemy as sa

    from ingestion.runner import IngestRunner

    settings = Settings(ingest=IngestSettings(scrub_fields={"helpdesk_ticket": ["summary"]}))
    engine = sa.create_engine("postgresql+psycopg://realise@127.0.0.1:1/none")  # never connected

    IngestRunner(settings, "127.0.0.1:1", engine, gate=None)

    assert decode_module._TEXT_FIELDS["helpdesk_ticket"] == ("summary",)
    assert decode_module._TEXT_FIELDS["training_record"] == ("course_title", "module")
