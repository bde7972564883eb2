"""Google Forms: reading a form's structure and its text answers, without a server."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from connectors.core.build import EventBuilder
from connectors.core.identity import StaffResolver
from connectors.core.stream import MappingError, PullContext
from connectors.googleforms import GoogleForms
from connectors.googleforms.answers import (
    Question,
    answer_values,
    format_cursor,
    index_form,
    label_scores,
    parse_likert,
    parse_minutes,
    parse_recommend,
    parse_timestamp,
    timestamp_filter,
)
from connectors.googleforms.settings import (
    DEFAULT_LIKERT_LABELS,
    EXAMPLE_YAML,
    GoogleFormsOptions,
    normalise_title,
)
from foundation.config import Settings
from foundation.errors import SourceError
from foundation.privacy import DEMO_KEY, pseudonymise
from foundation.source_config import SourceConfig, parse_options

CONFIDENCE = "I feel confident using the system in my day-to-day work"
SPEED = "The system is fast enough for my work"


def _form(*, collection: str | None = "VERIFIED", likert_scale: tuple[int, int] = (1, 5)) -> dict[str, Any]:
    low, high = likert_scale
    form: dict[str, Any] = {
        "formId": "1abc", "info": {"title": "EPR pulse"},
        "items": [
            {"itemId": "i0", "title": "About this survey", "textItem": {}},
            {"itemId": "i1", "title": "How far do you agree?", "questionGroupItem": {
                "questions": [{"questionId": "q-conf", "rowQuestion": {"title": CONFIDENCE}},
                              {"questionId": "q-other", "rowQuestion": {"title": "Something unmapped"}}],
                "grid": {"columns": {"type": "RADIO", "options": [{"value": "Agree"}]}}}},
            {"itemId": "i2", "title": f"  {SPEED.upper()}  ", "questionItem": {"question": {
                "questionId": "q-speed", "scaleQuestion": {"low": low, "high": high}}}},
            {"itemId": "i3", "title": "Section two", "pageBreakItem": {}},
            {"itemId": "i4", "title": "How likely are you to recommend the system to a colleague?",
             "questionItem": {"question": {"questionId": "q-rec", "scaleQuestion": {"high": 10}}}},
            {"itemId": "i5", "title": "Is there anything else you would like to tell us?",
             "questionItem": {"question": {"questionId": "q-com", "textQuestion": {"paragraph": True}}}},
        ],
    }
    if collection is not None:
        form["settings"] = {"emailCollectionType": collection}
    return form


def _options(**extra: Any) -> GoogleFormsOptions:
    return GoogleFormsOptions.model_validate({"forms": [{"id": "1zzz"}, {"id": "1abc", "code": "epr-pulse"}],
                                              **extra})


def _index(form: dict[str, Any], options: GoogleFormsOptions | None = None) -> Any:
    options = options or _options()
    return index_form(form, options.forms[1], 1, options, "gf")


def test_given_grid_rows_and_scale_items_when_indexed_then_each_question_id_maps_by_title() -> None:
    index = _index(_form())
    assert index.code == "epr-pulse" and index.collects_email is True
    assert {qid: (q.role, q.code, q.shape) for qid, q in index.questions.items()} == {
        "q-conf": ("likert", "confidence", "row"), "q-speed": ("likert", "system_speed", "scale"),
        "q-rec": ("recommend", None, "scale"), "q-com": ("comment", None, "text")}
    assert index.questions["q-rec"].low == 0 and index.questions["q-rec"].high == 10  # low left out: zero


def test_given_reordered_items_when_indexed_then_the_mapping_is_the_same() -> None:
    form = _form()
    reordered = copy.deepcopy(form)
    reordered["items"].reverse()
    assert _index(reordered).questions == _index(form).questions


def test_given_required_title_missing_when_indexed_then_error_names_title_and_setting() -> None:
    options = GoogleFormsOptions.model_validate({"forms": [
        {"id": "1zzz"}, {"id": "1abc", "require": [CONFIDENCE, "The system never crashes"]}]})
    with pytest.raises(SourceError, match=r"form 1abc \(EPR pulse\) has no question 'The system never crashes'; "
                                          r"fix the title in sources\.gf\.options\.forms\[1\]\.require"):
        _index(_form(), options)


def test_given_likert_question_on_a_1_to_7_scale_when_indexed_then_error_names_question() -> None:
    with pytest.raises(SourceError, match="'  THE SYSTEM IS FAST ENOUGH FOR MY WORK  ' is a 1-7 scale.*likert_items"):
        _index(_form(likert_scale=(1, 7)))


def test_given_form_without_any_mapped_question_when_indexed_then_error_asks_for_titles() -> None:
    options = _options(likert_items={"Nothing like it": "confidence"}, recommend_question=None,
                       minutes_saved_question=None, comment_question=None)
    with pytest.raises(SourceError, match="has none of the questions in sources.gf.options"):
        _index(_form(), options)


def test_given_form_not_collecting_emails_when_indexed_then_respondent_question_is_required() -> None:
    with pytest.raises(SourceError, match="does not collect e-mail addresses.*options.respondent_question"):
        _index(_form(collection="DO_NOT_COLLECT"))
    form = _form(collection="DO_NOT_COLLECT")
    form["items"].append({"title": "Your NHS e-mail", "questionItem": {"question": {
        "questionId": "q-mail", "textQuestion": {}}}})
    index = _index(form, _options(respondent_question="your nhs E-MAIL"))
    assert index.questions["q-mail"].role == "respondent" and index.collects_email is False
    assert _index(_form(collection=None)).collects_email is None


def test_given_text_answers_when_parsed_then_likert_labels_and_digits_become_scores() -> None:
    q = Question("q", CONFIDENCE, "likert", "confidence", "row")
    scores = label_scores(DEFAULT_LIKERT_LABELS)
    answers = ("Strongly disagree", " agree ", "NEUTRAL", "5", "1")
    assert [parse_likert(q, v, scores) for v in answers] == [1, 4, 3, 5, 1]
    with pytest.raises(MappingError, match="answer 6 .* outside 1-5"):
        parse_likert(q, "6", scores)
    with pytest.raises(MappingError, match="'Somewhat' .* options.likert_labels"):
        parse_likert(q, "Somewhat", scores)


def test_given_recommend_answers_when_parsed_then_only_whole_numbers_0_to_10_pass() -> None:
    q = Question("q", "Recommend?", "recommend", None, "scale", 0, 10)
    assert parse_recommend(q, "0") == 0 and parse_recommend(q, " 10") == 10
    for bad in ("11", "7.5", "-1", "ten"):
        with pytest.raises(MappingError, match="not a whole number from 0 to 10"):
            parse_recommend(q, bad)


@pytest.mark.parametrize(("text", "minutes"), [
    ("15", 15.0), ("-10", -10.0), ("+5", 5.0), ("about 20 minutes", 20.0), ("15 mins", 15.0), ("1.5 hours", 90.0),
    ("2h", 120.0), ("~ 30", 30.0), ("n/a", None), ("  ", None), ("None", None)])
def test_given_short_answers_when_minutes_parsed_then_numbers_and_units_are_read(text: str,
                                                                                 minutes: float | None) -> None:
    assert parse_minutes(Question("q", "Minutes?", "minutes"), text) == minutes


def test_given_minutes_answer_without_a_number_when_parsed_then_mapping_error_quotes_it() -> None:
    with pytest.raises(MappingError, match="'lots' to 'Minutes\\?' is not a number of minutes"):
        parse_minutes(Question("q", "Minutes?", "minutes"), "lots")


def test_given_answer_shapes_when_values_read_then_text_values_in_order() -> None:
    assert answer_values({"textAnswers": {"answers": [{"value": "A"}, {"value": ""}, {"value": "B"}]}}) == ["A", "B"]
    assert answer_values({"fileUploadAnswers": {}}) == []


def test_given_timestamps_with_0_3_6_9_fraction_digits_when_parsed_then_cursors_sort_by_time() -> None:
    values = ["2026-11-03T09:14:05Z", "2026-11-03T09:14:05.055Z", "2026-11-03T09:14:05.055199Z",
              "2026-11-03T09:14:05.055199123Z", "2026-11-03T10:14:06+01:00"]
    parsed = [parse_timestamp(v) for v in values]
    assert parsed[0] == datetime(2026, 11, 3, 9, 14, 5, tzinfo=UTC)
    assert parsed[3] == datetime(2026, 11, 3, 9, 14, 5, 55199, tzinfo=UTC)  # nanoseconds truncated
    cursors = [format_cursor(p) for p in parsed]
    assert cursors[1] == "2026-11-03T09:14:05.055000Z" and cursors[4] == "2026-11-03T09:14:06.000000Z"
    assert sorted(cursors) == cursors  # raw strings would not: "05Z" > "05.055Z"
    assert sorted(values[:2]) != values[:2]
    assert timestamp_filter(cursors[1]) == "timestamp >= 2026-11-03T09:14:05.055000Z"
    with pytest.raises(MappingError, match="not an RFC 3339 timestamp"):
        parse_timestamp("03/11/2026 09:14")


def test_given_bad_options_when_parsed_then_error_names_the_setting() -> None:
    config = SourceConfig(type="googleforms", base_url="https://forms.googleapis.com",
                          options={"forms": [{"id": "1abc"}], "likert_items": {CONFIDENCE: "Confidence!"}})
    with pytest.raises(SourceError, match="sources.gf.options.likert_items: .*item codes must be lower-case"):
        parse_options(GoogleFormsOptions, config, "gf")
    config.options = {"forms": []}
    with pytest.raises(SourceError, match="sources.gf.options.forms"):
        parse_options(GoogleFormsOptions, config, "gf")
    config.options = {"forms": [{"id": "1abc", "code": "EPR pulse!"}]}
    with pytest.raises(SourceError, match="sources.gf.options.forms.0.code"):
        parse_options(GoogleFormsOptions, config, "gf")


def test_given_titles_differing_in_case_and_spaces_when_normalised_then_equal() -> None:
    assert normalise_title("  I feel\tConfident ") == normalise_title("i feel confident")


def _source(**extra: Any) -> GoogleForms:
    config = SourceConfig(type="googleforms", base_url="https://forms.googleapis.com",
                          options={"forms": [{"id": "1zzz"}, {"id": "1abc", "code": "epr-pulse"}], **extra})
    source = GoogleForms("gf", config, PullContext(run_started=datetime.now(UTC)))
    form = _form(collection=None)
    form["items"].append({"title": "Your NHS e-mail", "questionItem": {"question": {
        "questionId": "q-mail", "textQuestion": {}}}})
    source.forms["1abc"] = index_form(form, source.options.forms[1], 1, source.options, "gf")
    return source


def _answers(**values: str) -> dict[str, Any]:
    return {qid: {"questionId": qid, "textAnswers": {"answers": [{"value": v}]}} for qid, v in values.items()}


def test_given_listed_response_when_mapped_then_event_uses_form_code_fixed_version_and_scrubbed_comment() -> None:
    source = _source()
    build = EventBuilder("gf", StaffResolver(DEMO_KEY), system="EPR", ingested_at=datetime.now(UTC))
    record = {"formId": "1abc", "responseId": "ACYDBNabc", "lastSubmittedTime": "2026-11-03T09:14:05.5Z",
              "respondentEmail": "staff000001@example.nhs.uk",
              "answers": _answers(**{"q-conf": "Agree", "q-speed": "2", "q-rec": "9", "q-other": "Agree",
                                     "q-com": "Ring 07700 900123"})}
    event = source.map(source.streams[0], record, build)
    assert event.source_record_id == "epr-pulse:ACYDBNabc" and event.record_version == "2026-11-03T09:14:05.500000Z"
    assert event.payload.likert == {"confidence": 4, "system_speed": 2} and event.payload.recommend == 9
    assert event.payload.comment == "Ring [PHONE]" and event.payload.form_id == "epr-pulse"
    assert source.record_id(source.streams[0], record) == "epr-pulse:ACYDBNabc"


def test_given_response_without_respondent_email_when_mapped_then_the_respondent_question_or_quarantine() -> None:
    build = EventBuilder("gf", StaffResolver(DEMO_KEY), system="EPR", ingested_at=datetime.now(UTC))
    record = {"formId": "1abc", "responseId": "R1", "lastSubmittedTime": "2026-11-03T09:14:05Z",
              "answers": _answers(**{"q-conf": "5", "q-mail": "Staff000002@example.nhs.uk"})}
    plain = _source()
    with pytest.raises(MappingError, match="person missing: .*options.respondent_question"):
        plain.map(plain.streams[0], record, build)
    asking = _source(respondent_question="Your NHS e-mail")
    event = asking.map(asking.streams[0], record, build)
    assert event.payload.person.pseudonym == pseudonymise("staff000002@example.nhs.uk", DEMO_KEY)
    only_unmapped = {**record, "respondentEmail": "x@example.nhs.uk", "answers": _answers(**{"q-other": "Agree"})}
    with pytest.raises(MappingError, match="no answer to any mapped question"):
        plain.map(plain.streams[0], only_unmapped, build)


def test_given_the_readme_example_when_loaded_then_it_is_a_valid_googleforms_source() -> None:
    sources = Settings.model_validate(yaml.safe_load(EXAMPLE_YAML)).sources
    options = parse_options(GoogleFormsOptions, sources["googleforms"], "googleforms")
    assert [f.form_code for f in options.forms] == ["epr-pulse", "epr-readiness"]
