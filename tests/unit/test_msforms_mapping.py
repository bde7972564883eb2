"""Microsoft Forms value parsing: local export times, file titles, Likert labels, state cursors, settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.core.build import EventBuilder
from connectors.core.identity import StaffResolver
from connectors.core.stream import MappingError, PullContext
from connectors.core.tabular import LIKERT_LABELS, LocalTimes, likert, number, whole
from connectors.msforms import MsForms, MsFormsState
from connectors.msforms.client import form_title
from connectors.msforms.settings import EXAMPLE_YAML, MsFormsOptions
from foundation.errors import SourceError
from foundation.privacy import DEMO_KEY
from foundation.source_config import SourceConfig, parse_options


def test_given_us_style_time_in_british_summer_when_parsed_then_it_is_an_hour_earlier_in_utc() -> None:
    times = LocalTimes("Europe/London", day_first=False)
    assert times.parse("7/3/2026 9:14:05") == datetime(2026, 7, 3, 8, 14, 5, tzinfo=UTC)
    assert times.parse("11/3/2026 9:14:05") == datetime(2026, 11, 3, 9, 14, 5, tzinfo=UTC)


def test_given_iso_text_and_twelve_hour_clock_when_parsed_then_both_read_as_local_time() -> None:
    times = LocalTimes("Europe/London", day_first=False)
    assert times.parse("2026-11-03 09:14:05") == datetime(2026, 11, 3, 9, 14, 5, tzinfo=UTC)
    assert times.parse("11/3/2026 9:14:05 PM") == datetime(2026, 11, 3, 21, 14, 5, tzinfo=UTC)
    assert times.parse("11/3/2026 12:00:00 AM") == datetime(2026, 11, 3, 0, 0, 0, tzinfo=UTC)


def test_given_a_time_in_the_hour_repeated_when_clocks_go_back_when_parsed_then_it_is_the_first_occurrence() -> None:
    times = LocalTimes("Europe/London", day_first=True)
    # 25 October 2026: 01:24 local happens at 00:24 UTC (BST) and again at 01:24 UTC (GMT).
    assert times.parse("25/10/2026 01:24:16") == datetime(2026, 10, 25, 0, 24, 16, tzinfo=UTC)
    assert times.parse("25/10/2026 02:24:16") == datetime(2026, 10, 25, 2, 24, 16, tzinfo=UTC)


def test_given_a_time_in_the_hour_skipped_when_clocks_go_forward_when_parsed_then_the_winter_offset_applies() -> None:
    times = LocalTimes("Europe/London", day_first=True)
    # 29 March 2026: local 01:00-02:00 does not exist; 01:30 is read as GMT.
    assert times.parse("29/03/2026 01:30:00") == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert times.parse("29/03/2026 02:30:00") == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_given_the_simulated_export_time_of_an_instant_when_read_back_then_only_the_repeated_hour_moves() -> None:
    from simulator.msforms import as_exported

    second_one_am = datetime(2026, 10, 25, 1, 24, 16, tzinfo=UTC)
    assert as_exported(second_one_am) == datetime(2026, 10, 25, 0, 24, 16, tzinfo=UTC)
    assert as_exported(datetime(2026, 10, 25, 0, 24, 16, tzinfo=UTC)) == datetime(2026, 10, 25, 0, 24, 16, tzinfo=UTC)
    assert as_exported(datetime(2026, 11, 3, 9, 0, tzinfo=UTC)) == datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def test_given_xlsx_time_cell_with_float_error_when_parsed_then_it_rounds_to_the_second() -> None:
    times = LocalTimes("Europe/London")
    assert times.parse(datetime(2026, 1, 5, 9, 14, 4, 999996)) == datetime(2026, 1, 5, 9, 14, 5, tzinfo=UTC)


@pytest.mark.parametrize(("values", "day_first"), [
    (["13/2/2026 9:00:00", "1/2/2026 9:00:00"], True),
    (["2/13/2026 9:00:00", "1/2/2026 9:00:00"], False),
    (["1/2/2026 9:00:00", "2/1/2026 9:00:00"], False),  # every value ambiguous: Forms' own month-first default
])
def test_given_slash_dates_when_learning_the_file_then_the_order_comes_from_its_values(
        values: list[str], day_first: bool) -> None:
    assert LocalTimes("UTC", day_first=False).learn(values, "s", "x").day_first is day_first


def test_given_a_file_mixing_both_orders_when_learning_then_error_names_the_setting() -> None:
    with pytest.raises(SourceError, match="mixes day-first and month-first dates; set sources.s.options.date_fmt"):
        LocalTimes("UTC").learn(["13/2/2026 9:00", "2/13/2026 9:00"], "s", "sources.s.options.date_fmt")


def test_given_explicit_date_format_when_value_does_not_match_then_mapping_error_quotes_both() -> None:
    times = LocalTimes("UTC", "%d.%m.%Y %H:%M")
    assert times.parse("03.11.2026 09:14") == datetime(2026, 11, 3, 9, 14, tzinfo=UTC)
    with pytest.raises(MappingError, match=r"'2026-11-03' does not match date_format '%d.%m.%Y %H:%M'"):
        times.parse("2026-11-03")


@pytest.mark.parametrize(("name", "title"), [
    ("EPR pulse survey(1-123).xlsx", "EPR pulse survey"),
    ("EPR pulse survey(1-123) (1).xlsx", "EPR pulse survey"),
    ("EPR pulse survey (1-9).csv", "EPR pulse survey"),
    ("Ward feedback.xlsx", "Ward feedback"),
])
def test_given_export_file_name_when_read_then_the_form_title_is_the_name_without_the_range(
        name: str, title: str) -> None:
    assert form_title(Path(name)) == title


def test_given_likert_labels_in_any_case_or_numbers_when_read_then_they_become_1_to_5() -> None:
    assert likert("Strongly agree", LIKERT_LABELS, "q") == 5
    assert likert(" neither AGREE nor disagree ", LIKERT_LABELS, "q") == 3
    assert likert(2, LIKERT_LABELS, "q") == 2
    assert likert("4", LIKERT_LABELS, "q") == 4
    assert likert("", LIKERT_LABELS, "q") is None
    with pytest.raises(MappingError, match="'Somewhat agree' is not one of the answer labels"):
        likert("Somewhat agree", LIKERT_LABELS, "q")
    with pytest.raises(MappingError, match="outside 1..5"):
        likert(7, LIKERT_LABELS, "q")


def test_given_number_answers_when_read_then_units_and_minus_signs_are_understood() -> None:
    assert number("-10", "m") == -10 and number("\u221215 mins", "m") == -15 and number("1,200", "m") == 1200
    assert whole("10", "recommend", 0, 10) == 10
    with pytest.raises(MappingError, match="not a whole number from 0 to 10"):
        whole(11, "recommend", 0, 10)


def test_given_form_marks_when_state_is_saved_then_its_cursor_only_grows_in_string_order() -> None:
    state = MsFormsState({})
    cursors = [state.as_dict()["cursor"]]
    for form, last in (("a", 9), ("b", 120), ("a", 10)):
        state.files.append(f"sha-{form}-{last}")
        state.advance(form, last, "")
        cursors.append(state.as_dict()["cursor"])
    state.advance("a", 3, "")  # an older export of form a: its mark stays at 10
    assert state.mark("a") == (10, "")
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)
    assert MsFormsState(state.as_dict()).as_dict() == state.as_dict()


def test_given_unknown_timezone_when_configured_then_error_names_the_setting() -> None:
    config = SourceConfig(type="msforms", path="x", options={"timezone": "Europe/Londn"})
    with pytest.raises(SourceError, match=r"sources\.f\.options\.timezone: .*not an IANA time zone"):
        parse_options(MsFormsOptions, config, "f")


def test_given_readme_example_when_validated_then_it_is_a_valid_source() -> None:
    for name, entry in yaml.safe_load(EXAMPLE_YAML)["sources"].items():
        options = parse_options(MsFormsOptions, SourceConfig.model_validate(entry), name)
        assert options.form("epr pulse survey") is not None


# -- edited responses: content digests, versions, state --------------------------------------------------------

WARD_FORM = {"Ward pulse": {"form_id": "ward-pulse", "system": "EPR", "recommend": "Recommend?",
                            "likert": {"Confident?": "confidence", "Trained?": "training_fit"}}}
HEADER = "ID,Start time,Completion time,Email,Name,Confident?,Trained?,Recommend?\n"
ROWS = ["1,11/3/2026 9:00:00,11/3/2026 9:05:00,ann.a@example.nhs.uk,Ann A,Agree,Disagree,7\n",
        "2,11/3/2026 9:10:00,11/3/2026 9:12:00,bob.b@example.nhs.uk,Bob B,Agree,Agree,8\n"]


def _forms_source(folder: Path, since: datetime | None = None) -> MsForms:
    config = SourceConfig(type="msforms", path=str(folder), system="EPR", options={"forms": WARD_FORM})
    return MsForms("ward", config, PullContext(run_started=datetime.now(UTC), since=since))


def _read(folder: Path, state: dict[str, Any], since: datetime | None = None) -> tuple[list[Any], dict[str, Any]]:
    """The events built from one read of `folder` after `state`, and the state that read leaves."""
    source = _forms_source(folder, since)
    build = EventBuilder("ward", StaffResolver(DEMO_KEY), system="EPR", ingested_at=datetime.now(UTC))
    events, last = [], state
    for page in source.read(source.streams[0], dict(state)):
        events += [source.map(source.streams[0], record, build) for record in page.records]
        last = page.state or last
    return events, last


def _export(folder: Path, rows: list[str], name: str = "Ward pulse(1-2).csv") -> Path:
    path = folder / name
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def test_given_a_response_edited_without_a_modified_column_when_read_again_then_only_it_returns_as_a_later_version(
        tmp_path: Path) -> None:
    _export(tmp_path, ROWS)
    first, state = _read(tmp_path, {})
    assert [e.source_record_id for e in first] == ["ward-pulse:1", "ward-pulse:2"]
    _export(tmp_path, [ROWS[0], ROWS[1].replace("Agree,Agree,8", "Strongly disagree,Agree,8")],
            "Ward pulse(1-2) (1).csv")
    edited, state = _read(tmp_path, state)
    assert [e.source_record_id for e in edited] == ["ward-pulse:2"]
    assert edited[0].payload.likert == {"confidence": 1, "training_fit": 4}
    assert edited[0].occurred_at == first[1].occurred_at  # Forms keeps the completion time of an edited response
    assert edited[0].record_version > first[1].record_version  # the analytics views show the later version
    assert edited[0].event_id != first[1].event_id
    _export(tmp_path, [ROWS[0], ROWS[1].replace("Agree,Agree,8", "Strongly disagree,Agree,8")] + ["\n"],
            "Ward pulse(1-2) (2).csv")  # the same answers in a file with other bytes
    again, _ = _read(tmp_path, state)
    assert again == []


def test_given_edits_of_one_response_when_read_then_each_later_content_sorts_later_and_a_reverted_answer_too(
        tmp_path: Path) -> None:
    answers = ["Agree,Agree,8", "Disagree,Agree,8", "Agree,Agree,8"]  # edited, then changed back
    later = "3,11/4/2026 9:10:00,11/4/2026 9:12:00,anonymous,,Agree,Agree,9\n"  # the third export is another file
    state: dict[str, Any] = {}
    versions = []
    for n, answer in enumerate(answers):
        _export(tmp_path, [ROWS[0], ROWS[1].replace("Agree,Agree,8", answer)] + [later] * (n == 2),
                f"Ward pulse(1-2) ({n}).csv")
        events, state = _read(tmp_path, state)
        versions += [e.record_version for e in events if e.source_record_id == "ward-pulse:2"]
    assert len(versions) == len(set(versions)) == 3 and versions == sorted(versions)


def test_given_since_when_exports_before_and_after_an_edit_are_replayed_then_each_content_keeps_its_version(
        tmp_path: Path) -> None:
    _export(tmp_path, ROWS)
    first, state = _read(tmp_path, {})
    _export(tmp_path, [ROWS[0], ROWS[1].replace("Agree,Agree,8", "Disagree,Agree,8")], "Ward pulse(1-2) (1).csv")
    edited, state = _read(tmp_path, state)
    assert len(edited) == 1
    replayed, _ = _read(tmp_path, state, since=datetime(2026, 1, 1, tzinfo=UTC))
    assert {e.event_id for e in replayed} == {e.event_id for e in first + edited}


def test_given_state_saved_before_rows_had_digests_when_read_then_old_rows_are_not_sent_again(tmp_path: Path) -> None:
    _export(tmp_path, ROWS)
    events, state = _read(tmp_path, {"cursor": "000000000002.000001", "files": ["an-older-export"],
                                     "forms": {"ward-pulse": {"id": 2, "modified": ""}}})
    assert events == [] and state["forms"]["ward-pulse"]["id"] == 2
    _export(tmp_path, [ROWS[0], ROWS[1].replace("Agree,Agree,8", "Disagree,Agree,8")], "Ward pulse(1-2) (1).csv")
    edited, _ = _read(tmp_path, state)
    assert [e.source_record_id for e in edited] == ["ward-pulse:2"]


def test_given_thousands_of_responses_when_state_is_saved_then_it_holds_a_short_digest_per_response(
        tmp_path: Path) -> None:
    rows = [f"{n},11/3/2026 9:00:00,11/3/2026 9:05:00,anonymous,,Agree,Disagree,{n % 11}\n" for n in range(1, 5001)]
    _export(tmp_path, rows, "Ward pulse(1-5000).csv")
    _, state = _read(tmp_path, {})
    assert len(json.dumps(state)) < 5000 * 30


# -- responses deleted in Forms: retractions ---------------------------------------------------------------------

ROW_3 = "3,11/4/2026 9:10:00,11/4/2026 9:12:00,anonymous,,Agree,Agree,9\n"
ROW_4 = "4,11/5/2026 9:10:00,11/5/2026 9:12:00,anonymous,,Disagree,Agree,6\n"


def _retractions(events: list[Any]) -> list[Any]:
    return [e for e in events if e.kind == "retraction"]


def test_given_a_response_gone_from_a_later_full_export_when_read_then_it_is_retracted_once(tmp_path: Path) -> None:
    _export(tmp_path, ROWS)
    first, state = _read(tmp_path, {})
    later = _export(tmp_path, [ROWS[0], ROW_3], "Ward pulse(1-2) (1).csv")  # response 2 deleted in Forms
    second, state = _read(tmp_path, state)
    assert [e.source_record_id for e in second if e.kind == "form_response"] == ["ward-pulse:3"]
    [retraction] = _retractions(second)
    assert retraction.source_record_id == first[1].source_record_id == "ward-pulse:2"
    assert (retraction.payload.kind, retraction.payload.reason) == ("form_response", "removed")
    assert retraction.occurred_at >= datetime.fromtimestamp(later.stat().st_mtime, UTC).replace(microsecond=0)
    assert retraction.occurred_at >= first[1].occurred_at  # late enough to hide the response in the views
    assert "2" not in state["forms"]["ward-pulse"]["rows"] and state["forms"]["ward-pulse"]["removed"] == [2]
    _export(tmp_path, [ROWS[0], ROW_3, ROW_4], "Ward pulse(1-3).csv")
    third, _ = _read(tmp_path, state)
    assert [e.source_record_id for e in third] == ["ward-pulse:4"]


def test_given_an_older_export_read_late_when_its_top_id_is_below_the_mark_then_nothing_is_retracted(
        tmp_path: Path) -> None:
    _export(tmp_path, [*ROWS, ROW_3], "Ward pulse(1-3).csv")
    _, state = _read(tmp_path, {})
    _export(tmp_path, ROWS[:1], "Ward pulse(1-1).csv")  # downloaded before responses 2 and 3 were submitted
    late, state = _read(tmp_path, state)
    assert late == [] and set(state["forms"]["ward-pulse"]["rows"]) == {"1", "2", "3"}


def test_given_a_retracted_response_when_an_older_export_still_holding_it_is_read_late_then_nothing_is_sent(
        tmp_path: Path) -> None:
    _export(tmp_path, ROWS)
    _, state = _read(tmp_path, {})
    _export(tmp_path, [ROWS[0], ROW_3], "Ward pulse(1-2) (1).csv")
    removed, state = _read(tmp_path, state)
    assert len(_retractions(removed)) == 1
    _export(tmp_path, [ROWS[0], ROWS[1].replace(",8\n", ",3\n")], "Ward pulse(1-2) (2).csv")  # edited, then deleted
    late, state = _read(tmp_path, state)
    assert late == [] and "2" not in state["forms"]["ward-pulse"]["rows"]
    _export(tmp_path, [ROWS[0], ROW_3, ROW_4], "Ward pulse(1-3).csv")
    after, _ = _read(tmp_path, state)
    assert [e.source_record_id for e in after] == ["ward-pulse:4"]
