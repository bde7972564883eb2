"""Qualtrics mapping: cursors, the datacenter URL and token header, responses to assessments and form responses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from connectors.core.build import EventBuilder
from connectors.core.identity import StaffResolver
from connectors.core.stream import MappingError, PullContext
from connectors.qualtrics import CONTINUED_FROM, PULSE, SKILLS, Qualtrics, cursor_value, start_date
from connectors.qualtrics.client import api_config
from connectors.qualtrics.settings import EXAMPLE_YAML, QualtricsOptions
from foundation.errors import SourceError
from foundation.privacy import DEMO_KEY, pseudonymise
from foundation.source_config import AuthConfig, SourceConfig, parse_options

EMAIL = "staff000007@example.nhs.uk"


def _source(**options: Any) -> Qualtrics:
    config = SourceConfig(type="qualtrics", base_url="https://fra1.qualtrics.com",
                          auth=AuthConfig(type="api_key", token_env="QUALTRICS_API_TOKEN"), options=options)
    return Qualtrics("q", config, PullContext(run_started=datetime.now(UTC)))


def _build() -> EventBuilder:
    return EventBuilder("q", StaffResolver(DEMO_KEY), system="EPR", ingested_at=datetime.now(UTC))


def _response(**values: Any) -> dict[str, Any]:
    base = {"recordedDate": "2026-03-04T09:14:05.123Z", "status": 0, "finished": 1, "recipientEmail": EMAIL,
            "QID1": 1, "round": "DCSA-R1", **{f"QID2_{n}": n % 5 + 1 for n in range(1, 7)}}
    return {"responseId": "R_1a2b3c4d5e6f7g8", "surveyId": "SV_6FkDigCapSelfAx", "values": {**base, **values}}


def _map(source: Qualtrics, record: dict[str, Any], stream: str = SKILLS) -> Any:
    return source.map(next(s for s in source.streams if s.name == stream), record, _build())


def test_given_recorded_dates_when_made_cursors_then_one_fixed_format_sorts_by_time() -> None:
    a = cursor_value(datetime(2026, 3, 4, 9, 14, 5, 123000, tzinfo=UTC))
    b = cursor_value(datetime(2026, 3, 4, 10, 0, 0, tzinfo=UTC))
    assert (a, b) == ("2026-03-04T09:14:05.123Z", "2026-03-04T10:00:00.000Z") and a < b
    assert start_date(a) == "2026-03-04T09:14:05Z"  # whole second: the boundary second is exported again


def test_given_base_url_with_api_path_and_default_header_when_configured_then_root_and_x_api_token_are_used() -> None:
    config = SourceConfig(type="qualtrics", base_url="https://fra1.qualtrics.com/API/v3/",
                          auth=AuthConfig(type="api_key", token_env="T"))
    fixed = api_config(config, "q")
    assert fixed.base_url == "https://fra1.qualtrics.com" and fixed.auth.header == "X-API-TOKEN"
    with pytest.raises(SourceError, match="needs an API token: set sources.q.auth"):
        api_config(SourceConfig(type="qualtrics", base_url="https://fra1.qualtrics.com"), "q")


def test_given_skills_response_when_mapped_then_phase_round_and_six_domains_come_from_the_recodes() -> None:
    event = _map(_source(), _response())
    p = event.payload
    assert (event.source_record_id, p.phase, p.assessment_id) == ("R_1a2b3c4d5e6f7g8", "baseline", "DCSA-R1")
    assert p.scores["identity_wellbeing_safety"] == 2 and len(p.scores) == 6
    assert p.person.pseudonym == pseudonymise(EMAIL, DEMO_KEY)
    assert event.occurred_at == datetime(2026, 3, 4, 9, 14, 5, 123000, tzinfo=UTC)
    assert event.record_version.startswith("2026-03-04T09:14:05.123Z.")  # recordedDate, then the answers' digest


@pytest.mark.parametrize("recode", [2, 2.0, "2"])
def test_given_phase_recode_as_number_float_or_text_when_mapped_then_it_is_follow_up(recode: Any) -> None:
    assert _map(_source(), _response(QID1=recode)).payload.phase == "follow_up"


def test_given_unknown_phase_or_no_domain_when_mapped_then_mapping_error_says_which() -> None:
    with pytest.raises(MappingError, match="QID1 = 3 is not one of the phase_values"):
        _map(_source(), _response(QID1=3))
    empty = _response()
    empty["values"] = {k: v for k, v in empty["values"].items() if not k.startswith("QID2_")}
    with pytest.raises(MappingError, match="no capability domain answered"):
        _map(_source(), empty)
    with pytest.raises(MappingError, match="QID2_3: 9 is not a whole number from 1 to 5"):
        _map(_source(), _response(QID2_3=9))


def test_given_survey_without_round_or_phase_question_when_mapped_then_the_fixed_settings_apply() -> None:
    source = _source(skills_surveys=[{"phase": "follow_up", "phase_field": None, "assessment_field": None,
                                      "assessment_id": "DCSA-2026"}])
    p = _map(source, _response(QID1=None, round=None)).payload
    assert (p.phase, p.assessment_id) == ("follow_up", "DCSA-2026")


@pytest.mark.parametrize(("status", "kept"), [(0, True), (4, True), (16, True), (1, False), (2, False), (8, False)])
def test_given_response_status_when_mapped_then_only_real_responses_are_kept(status: int, kept: bool) -> None:
    if kept:
        assert _map(_source(), _response(status=status)) is not None
    else:
        with pytest.raises(MappingError, match=f"status {status} .* is not a staff response"):
            _map(_source(), _response(status=status))


def test_given_response_without_recipient_when_mapped_then_person_missing_is_the_reason() -> None:
    with pytest.raises(MappingError, match="person missing"):
        _map(_source(), _response(recipientEmail=None))


def test_given_pulse_survey_when_mapped_then_matrix_rows_become_items_and_text_is_scrubbed() -> None:
    source = _source(pulse_surveys=[{"survey_id": "SV_0uPulseEprStaff1", "form_id": "epr-pulse-q", "system": "EPR",
                                     "likert": {"QID3_1": "confidence", "QID3_2": "training_fit"},
                                     "recommend": "QID4", "minutes_saved": "QID6", "comment": "QID5_TEXT"}])
    record = {"responseId": "R_9z8y7x6w5v4u3t2", "surveyId": "SV_0uPulseEprStaff1",
              "values": {"recordedDate": "2026-03-04T09:14:05Z", "recipientEmail": EMAIL, "QID3_1": 4, "QID4": 9,
                         "QID6": "15", "QID5_TEXT": f"Ring me at {EMAIL}"}}
    p = _map(source, record, PULSE).payload
    assert (p.form_id, p.likert, p.recommend, p.minutes_saved_per_shift) == ("epr-pulse-q", {"confidence": 4}, 9, 15)
    assert p.comment is not None and EMAIL not in p.comment and p.person.system == "EPR"


def test_given_readme_example_when_validated_then_it_is_a_valid_source() -> None:
    for name, entry in yaml.safe_load(EXAMPLE_YAML)["sources"].items():
        options = parse_options(QualtricsOptions, SourceConfig.model_validate(entry), name)
        assert len(options.skills_surveys[0].domains) == 6 and options.pulse_surveys


def test_given_response_edited_in_data_and_analysis_when_mapped_then_it_is_a_new_version_and_a_re_export_is_not(
        ) -> None:
    source = _source()
    original = _map(source, _response())
    edited = _map(source, _response(QID2_3=5))  # an edit keeps recordedDate and every other date
    again = _map(source, _response())
    assert edited.payload.scores["information_data_content"] == 5
    assert edited.record_version != original.record_version and edited.event_id != original.event_id
    assert again.event_id == original.event_id


def test_given_anonymous_link_response_when_mapped_then_a_pseudonym_of_the_response_and_the_ward_answer_are_used(
        ) -> None:
    survey = {"survey_id": "SV_0uPulseAnon1", "form_id": "portal-pulse", "system": "Patient Portal",
              "likert": {"QID3_1": "confidence"}, "unit": "ward", "staff_group": "staffGroup"}
    source = _source(skills_surveys=[{}], pulse_surveys=[survey],
                     unit_codes={"Ward 7B Acute Medicine": "RXX-MED-AEM-W7B"})
    record = {"responseId": "R_anonLink0000001", "surveyId": "SV_0uPulseAnon1",
              "values": {"recordedDate": "2026-03-04T09:14:05Z", "distributionChannel": "anonymous", "QID3_1": 4,
                         "ward": "ward 7b acute medicine", "staffGroup": "Nursing and Midwifery"}}
    person = _map(source, record, PULSE).payload.person
    assert person.pseudonym == pseudonymise("anonymous:SV_0uPulseAnon1:R_anonLink0000001", DEMO_KEY)
    assert (person.org_unit, person.staff_group, person.system) == ("RXX-MED-AEM-W7B", "Nursing and Midwifery",
                                                                     "Patient Portal")
    skills = _response(recipientEmail=None, distributionChannel="anonymous")
    assert _map(source, skills).payload.person.org_unit == "UNMATCHED"  # no ward asked: nobody's unit


def test_given_only_pulse_surveys_configured_when_read_then_no_skills_survey_is_exported() -> None:
    pulse = {"survey_id": "SV_0uPulseEprStaff1", "form_id": "epr-pulse-q", "likert": {"QID3_1": "confidence"}}
    assert _source(pulse_surveys=[pulse]).options.skills_surveys == []
    assert [s.survey_id for s in _source().options.skills_surveys] == ["SV_6FkDigCapSelfAx"]


def test_given_edit_exported_through_a_continuation_token_when_mapped_then_its_version_sorts_after_the_original(
        ) -> None:
    source = _source()
    original = _map(source, _response())
    edit = _response(QID2_3=5)
    edit[CONTINUED_FROM] = "2026-03-09T07:00:00.000Z"  # when the token that exported the edit was received
    edited = _map(source, edit)
    assert edited.record_version.startswith("2026-03-09T07:00:00.000Z.")
    assert (edited.occurred_at, edited.record_version) > (original.occurred_at, original.record_version)
