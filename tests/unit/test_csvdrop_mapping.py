"""CSV drop mapping: durations, priorities, statuses, scores, ids, short and long rows, and option checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.core.build import EventBuilder
from connectors.core.identity import StaffResolver
from connectors.core.stream import MappingError, PullContext
from connectors.core.tabular import LocalTimes, duration_seconds, identifying_heading
from connectors.csvdrop import CsvDrop
from connectors.csvdrop.client import read_csv
from connectors.csvdrop.settings import EXAMPLE_YAML, CsvDropOptions
from foundation.errors import SourceError
from foundation.privacy import DEMO_KEY
from foundation.source_config import SourceConfig, parse_options


@pytest.mark.parametrize(("value", "unit", "seconds"), [
    ("1:30:05", "minutes", 5405), ("12:30", "minutes", 750), ("PT1H30M", "minutes", 5400),
    ("PT45.5S", "minutes", 46), ("P1DT2H", "minutes", 93600), ("90", "minutes", 5400), (90, "seconds", 90),
    ("1.5", "hours", 5400), ("", "minutes", None),
])
def test_given_time_spent_in_any_common_form_when_read_then_it_is_whole_seconds(
        value: Any, unit: str, seconds: int | None) -> None:
    assert duration_seconds(value, "Time Spent", unit) == seconds


def test_given_negative_or_unreadable_time_spent_when_read_then_mapping_error() -> None:
    with pytest.raises(MappingError, match="negative"):
        duration_seconds("-5", "Time Spent")
    with pytest.raises(MappingError, match="not a number"):
        duration_seconds("a while", "Time Spent")


def _drop(kind: str, **options: Any) -> CsvDrop:
    config = SourceConfig(type="csvdrop", path="unused", options={"kind": kind, **options})
    return CsvDrop("d", config, PullContext(run_started=datetime.now(UTC)))


def _map(source: CsvDrop, record: dict[str, Any]) -> Any:
    source._times["f.csv"] = LocalTimes("Europe/London", day_first=True)
    stream = next(s for s in source.streams if s.kind is not None and s.kind.value == source.options.kind)
    build = EventBuilder("d", StaffResolver(DEMO_KEY), system="EPR", ingested_at=datetime.now(UTC))
    return source.map(stream, {"__file__": "f.csv", "__row__": "7", **record}, build)


TICKET = {"Number": "INC0100001", "Opened": "03/11/2026 09:00:00", "Updated": "04/11/2026 10:00:00",
          "Resolved": "", "State": "On Hold", "Category": "Access / login", "Priority": "2 - High",
          "Reopen count": "", "Caller": "staff000001", "Short description": "Locked out", "Satisfaction": ""}


@pytest.mark.parametrize(("priority", "expected"), [("2 - High", 2), ("P1", 1), ("Moderate", 3), ("5", 5)])
def test_given_priority_labels_when_mapped_then_they_become_1_to_5(priority: str, expected: int) -> None:
    event = _map(_drop("helpdesk_ticket"), {**TICKET, "Priority": priority})
    assert event.payload.priority == expected


def test_given_ticket_row_when_mapped_then_states_times_and_blanks_follow_the_report() -> None:
    event = _map(_drop("helpdesk_ticket"), TICKET)
    p = event.payload
    assert (p.status, p.reopen_count, p.satisfaction, p.resolved_at) == ("pending", 0, None, None)
    assert p.opened_at == datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    assert event.record_version == "2026-11-04T10:00:00Z" and event.source_record_id == "INC0100001"


def test_given_unmapped_state_when_mapped_then_reason_has_the_row_and_the_known_states() -> None:
    with pytest.raises(MappingError, match=r"row 7 of f\.csv: State 'Parked' is not in status_map \(active, "):
        _map(_drop("helpdesk_ticket"), {**TICKET, "State": "Parked"})


def test_given_training_row_with_percent_score_when_mapped_then_score_is_scaled_and_required_from_the_list() -> None:
    record = {"Record ID": "r1", "Employee Number": "20000001", "Course Code": "EPR-GL-101",
              "Course Title": "EPR go-live essentials", "Module": "", "Status": "Passed", "Score": "85%",
              "Time Spent": "1:30:00", "Date": "2026-11-03 09:00:00"}
    p = _map(_drop("training_record"), record).payload
    assert (p.verb, p.score, p.duration_seconds, p.required, p.module) == ("passed", 0.85, 5400, True, None)
    optional = _map(_drop("training_record"), {**record, "Course Code": "DCS-101"}).payload
    assert optional.required is False


def test_given_required_column_when_configured_then_it_decides_and_must_be_yes_or_no() -> None:
    source = _drop("training_record", training={"required": "Mandatory", "score": None, "duration": None})
    record = {"Record ID": "r1", "Employee Number": "20000001", "Course Code": "X-1", "Course Title": "",
              "Module": "", "Status": "Completed", "Date": "2026-11-03 09:00:00"}
    assert _map(source, {**record, "Mandatory": "Yes"}).payload.required is True
    with pytest.raises(MappingError, match="Mandatory 'maybe' is not yes or no"):
        _map(source, {**record, "Mandatory": "maybe"})


def test_given_ids_from_several_columns_or_an_email_when_mapped_then_they_are_hashed_the_same_each_time() -> None:
    source = _drop("form_response", form={"id": ["respondent_email", "submitted_at"], "likert": {}, "recommend": None,
                                          "minutes_saved": None, "comment": None, "form_id": None,
                                          "form_id_value": "ward-feedback"})
    record = {"respondent_email": "a.person@example.nhs.uk", "submitted_at": "2026-11-03T09:00:00Z",
              "org_unit": "", "staff_group": ""}
    first, second = _map(source, record), _map(source, dict(record))
    assert first.source_record_id == second.source_record_id and first.source_record_id.startswith("row-")
    assert "example" not in first.source_record_id and first.payload.form_id == "ward-feedback"


def test_given_short_and_long_rows_when_read_then_they_are_kept_for_quarantine_with_their_lines(
        tmp_path: Path) -> None:
    path = tmp_path / "drop.csv"
    path.write_text('id,when,comment\n1,2026-11-03,"two\nlines"\n2,2026-11-03\n3,2026-11-03,x,extra\n\n4,a,b\n')
    file = read_csv(path, encoding="utf-8", delimiter=",", source="d")
    rows = [(r["id"], r["__row__"], r.get("__extra__"), r["comment"]) for r in file.records]
    assert rows == [("1", "2", None, "two\nlines"), ("2", "4", None, None), ("3", "5", "extra", "x"),
                    ("4", "7", None, "b")]


def test_given_repeated_heading_when_read_then_error_names_it(tmp_path: Path) -> None:
    path = tmp_path / "drop.csv"
    path.write_text("id,score,score\n1,2,3\n")
    with pytest.raises(SourceError, match="repeats the heading 'score'"):
        read_csv(path, encoding="utf-8", delimiter=",", source="d")


def test_given_form_drop_without_form_id_when_configured_then_error_says_what_to_set() -> None:
    config = SourceConfig(type="csvdrop", path="x", options={"kind": "form_response", "form": {"form_id": None}})
    with pytest.raises(SourceError, match="set form_id .* or form_id_value"):
        parse_options(CsvDropOptions, config, "d")


def test_given_readme_examples_when_validated_then_each_is_a_valid_source() -> None:
    kinds = set()
    for name, entry in yaml.safe_load(EXAMPLE_YAML)["sources"].items():
        kinds.add(parse_options(CsvDropOptions, SourceConfig.model_validate(entry), name).kind)
    assert kinds == {"form_response", "helpdesk_ticket", "training_record"}


@pytest.mark.parametrize(("heading", "identifying"), [
    ("IP Address", True), ("ip_address", True), ("Location", True), ("Job Title", True), ("Email Address", True),
    ("Full name", True), ("Staff number", True), ("employeeId", True), ("Username", True), ("Mobile phone", True),
    ("response_id", False), ("Record ID", False), ("Course Title", False), ("login_ready", False),
    ("staff_group", False), ("Channel", False), ("Short description", False),
])
def test_given_a_column_heading_when_checked_then_identifiers_and_quasi_identifiers_are_told_apart(
        heading: str, identifying: bool) -> None:
    assert identifying_heading(heading) is identifying
