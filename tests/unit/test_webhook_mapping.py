"""Webhook bodies to form-response events: dotted paths, typed answers, labels, and what gets quarantined."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.core.build import EventBuilder
from connectors.core.identity import StaffResolver
from connectors.core.pull import redact
from connectors.core.stream import MappingError, PullContext
from connectors.webhook import Webhook, answer_value, collect_answers, likert_value, lookup
from connectors.webhook.settings import DEFAULT_LABELS, WebhookMapping
from foundation.privacy import DEMO_KEY, pseudonymise
from foundation.source_config import SourceConfig

BODY: dict[str, Any] = {
    "event_id": "01ABC", "event_type": "form_response",
    "form_response": {
        "form_id": "Xk3PqL9a", "token": "tok123", "submitted_at": "2026-11-03T09:14:05Z",
        "hidden": {"email": "Staff000042@Example.nhs.uk"},
        "answers": [
            {"type": "number", "number": 4, "field": {"id": "f1", "type": "opinion_scale", "ref": "confidence"}},
            {"type": "choice", "choice": {"label": "Strongly disagree"}, "field": {"ref": "system_speed"}},
            {"type": "number", "number": 9, "field": {"ref": "recommend"}},
            {"type": "number", "number": -10, "field": {"ref": "minutes_saved"}},
            {"type": "text", "text": "Call me on 07700 900123 please", "field": {"ref": "comment"}},
            {"type": "text", "text": "ignored", "field": {"ref": "not_mapped"}},
        ]}}


def _source(**options: Any) -> Webhook:
    config = SourceConfig(type="webhook", system="ePMA", options={"mapping": {"form_codes": {"Xk3PqL9a": "epr-pulse"}},
                                                                  **options})
    return Webhook("hook", config, PullContext(run_started=datetime.now(UTC)))


def _build() -> EventBuilder:
    return EventBuilder("hook", StaffResolver(DEMO_KEY), system="ePMA", ingested_at=datetime.now(UTC))


def test_given_typeform_style_body_when_mapped_then_event_carries_scores_and_a_pseudonym() -> None:
    source = _source()
    event = source.map(source.streams[0], copy.deepcopy(BODY), _build())
    assert event is not None
    assert event.source_record_id == "epr-pulse:tok123"
    assert event.record_version == "2026-11-03T09:14:05.000000Z"
    p = event.payload
    assert p.form_id == "epr-pulse" and p.likert == {"confidence": 4, "system_speed": 1}  # type: ignore[union-attr]
    assert (p.recommend, p.minutes_saved_per_shift) == (9, -10.0)  # type: ignore[union-attr]
    assert p.comment == "Call me on [PHONE] please"  # type: ignore[union-attr]
    assert p.person.pseudonym == pseudonymise("staff000042@example.nhs.uk", DEMO_KEY)  # type: ignore[union-attr]
    assert "staff000042" not in event.model_dump_json().lower()


def test_given_the_same_response_twice_when_mapped_then_event_ids_are_equal() -> None:
    source = _source()
    first = source.map(source.streams[0], copy.deepcopy(BODY), _build())
    again = copy.deepcopy(BODY)
    again["event_id"] = "01XYZ"  # a new delivery of the same response
    assert first is not None and first.event_id == source.map(source.streams[0], again, _build()).event_id  # type: ignore[union-attr]


def test_given_answers_as_an_object_and_custom_paths_when_mapped_then_they_are_read() -> None:
    source = _source(mapping={"record_id": "id", "form_id": "form", "submitted_at": "at", "respondent": "who",
                              "answers": "values", "likert_items": {"q_conf": "confidence"}})
    body = {"id": 7, "form": "epr-pulse", "at": "2026-11-03T10:00:00+01:00", "who": "staff000001@example.nhs.uk",
            "values": {"q_conf": "Agree", "recommend": "10", "minutes_saved": 5.5, "comment": None}}
    event = source.map(source.streams[0], body, _build())
    assert event is not None and event.source_record_id == "epr-pulse:7"
    assert event.occurred_at == datetime(2026, 11, 3, 9, tzinfo=UTC)
    assert event.payload.likert == {"confidence": 4}  # type: ignore[union-attr]
    assert (event.payload.recommend, event.payload.minutes_saved_per_shift) == (10, 5.5)  # type: ignore[union-attr]


@pytest.mark.parametrize(("change", "reason"), [
    (lambda b: b["form_response"].pop("token"), "response id missing.*options.mapping.record_id"),
    (lambda b: b["form_response"].pop("form_id"), "form id missing.*options.mapping.form_id"),
    (lambda b: b["form_response"].update(submitted_at="yesterday"), "is not a date and time"),
    (lambda b: b["form_response"].pop("hidden"), "person missing"),
    (lambda b: b["form_response"]["answers"][0].update(number=7), "not a whole number from 1 to 5"),
    (lambda b: b["form_response"]["answers"][1].update(choice={"label": "Meh"}), "options.mapping.likert_labels"),
    (lambda b: b["form_response"]["answers"][2].update(number=11), "not a whole number from 0 to 10"),
    (lambda b: b["form_response"]["answers"][3].update(number=True), "not a number"),
    (lambda b: b["form_response"]["answers"][3].update(number=900), "minutes_saved_per_shift"),
    (lambda b: b["form_response"].update(answers=[]), "no answer to any mapped question"),
    (lambda b: b["form_response"].update(answers="4,5"), "neither a list of answers nor an object"),
])
def test_given_body_that_cannot_be_mapped_when_mapped_then_mapping_error_says_why(change: Any, reason: str) -> None:
    body = copy.deepcopy(BODY)
    change(body)
    source = _source()
    with pytest.raises(MappingError, match=reason):
        source.map(source.streams[0], body, _build())


def test_given_quarantined_copy_when_redacted_then_the_respondent_is_gone() -> None:
    source = _source()
    copy_ = redact(copy.deepcopy(BODY), source.identifier_fields)
    assert copy_["form_response"]["hidden"]["email"] == "[identifier]"
    assert source.record_id(source.streams[0], BODY) == "Xk3PqL9a:tok123"


def test_given_answer_shapes_when_values_read_then_labels_and_numbers_come_out() -> None:
    assert answer_value({"type": "number", "number": 3}) == 3
    assert answer_value({"type": "choice", "choice": {"label": "Agree"}}) == "Agree"
    assert answer_value({"type": "choices", "choices": {"labels": ["A", "B"]}}) == "A"
    assert answer_value({"value": "x"}) == "x"
    mapping = WebhookMapping()
    answers = collect_answers(BODY, mapping)
    assert answers["confidence"] == 4 and answers["comment"].startswith("Call me")
    assert lookup(BODY, "form_response.hidden.email") and lookup(BODY, "form_response.nope.email") is None
    assert likert_value(" strongly  AGREE ", DEFAULT_LABELS, "a") == 5 and likert_value("3", DEFAULT_LABELS, "a") == 3
    assert likert_value(2.0, DEFAULT_LABELS, "a") == 2


def test_given_webhook_source_when_read_then_nothing_is_pulled() -> None:
    source = _source()
    assert list(source.read(source.streams[0], {})) == []


@pytest.mark.parametrize(("field", "value", "says"), [
    ("likert_items", {"q1": "Confidence!"}, "item codes must be lower-case letters, digits and _"),
    ("likert_labels", {"Agree": 4, "Totally": 7}, "labels must map to 1..5 (got 'Totally': 7)"),
])
def test_given_a_mapping_with_bad_codes_or_labels_when_validated_then_the_error_says_which(
        field: str, value: dict[str, Any], says: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=re.escape(says)):
        WebhookMapping.model_validate({field: value})
