"""Microsoft Forms value parsing: local export times, file titles, Likert labels, state cursors, settings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from connectors.core.config import SourceConfig, parse_options
from connectors.core.errors import SourceError
from connectors.core.stream import MappingError
from connectors.core.tabular import LIKERT_LABELS, LocalTimes, likert, number, whole
from connectors.msforms import MsFormsState
from connectors.msforms.client import form_title
from connectors.msforms.settings import EXAMPLE_YAML, MsFormsOptions


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
    from connectors.simulator.msforms import as_exported

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
