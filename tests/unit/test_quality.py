"""The quality gate with real Great Expectations: each rule quarantines exactly the bad row, with a reason
a data manager can read, and leaves the clean rows beside it alone.

One gate serves the whole module: building it imports GE, which takes seconds.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from ingestion.quality import CHECKED_KINDS, QualityCheckError, QualityGate, QualityResult, frame_columns
from ingestion.rows import flatten
from schemas.events import Kind, make_event

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BAD_ROW = 1
ROWS = 3


@pytest.fixture(scope="module")
def gate() -> QualityGate:
    return QualityGate()


def _rows(kind: Kind, n: int = ROWS) -> list[dict[str, Any]]:
    """Clean rows of `kind` as the ingest code flattens them (one dict per event)."""
    rows = []
    for i in range(n):
        row: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "source": "forms",
            "occurred_at": NOW - timedelta(hours=1, minutes=i),
            "ingested_at": NOW - timedelta(minutes=1),
            "org_unit": "WARD-7",
            "staff_group": "Nursing and Midwifery",
            "system": "EPR",
            "go_live_wave": "wave-1",
            "pseudonym": f"{i:032x}",
        }
        if kind is Kind.FORM_RESPONSE:
            row |= {"form_id": "pulse-1", "recommend": 7.0, "minutes_saved_per_shift": -15.5,
                    "likert_min": 2.0, "likert_max": 5.0, "likert_count": 4}
        elif kind is Kind.HELPDESK_TICKET:
            row |= {"opened_at": NOW - timedelta(days=2), "updated_at": NOW - timedelta(days=1),
                    "resolved_at": NOW - timedelta(days=1) if i % 2 else None, "status": "open",
                    "category": "Access", "priority": 3, "reopen_count": 0, "satisfaction": 4.0}
        elif kind is Kind.TRAINING_RECORD:
            row |= {"course_id": "EPR-101", "verb": "completed", "score": 0.8, "duration_seconds": 3600.0}
        else:
            row |= {"assessment_id": "dcf-2026", "phase": "baseline", "score_min": 2, "score_max": 4,
                    "domain_count": 6}
        rows.append(row)
    return rows


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def _check_with(gate: QualityGate, kind: Kind, **bad: Any) -> QualityResult:
    """Clean rows with `bad` written into row BAD_ROW."""
    rows = _rows(kind)
    rows[BAD_ROW].update(bad)
    return gate.check(kind, _frame(rows), now=NOW)


# --- clean batches ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(CHECKED_KINDS), ids=str)
def test_given_clean_frame_when_checked_then_no_failures(gate: QualityGate, kind: Kind) -> None:
    result = gate.check(kind, _frame(_rows(kind)), now=NOW)

    assert result.failures == {}
    assert (result.evaluated, result.passed, result.failed) == (ROWS, ROWS, 0)
    assert result.statistics["unsuccessful_expectations"] == 0
    assert result.statistics["evaluated_expectations"] == len(result.expectations) > 0
    assert all(e["success"] and e["unexpected_count"] == 0 for e in result.expectations)


@pytest.mark.parametrize("kind", sorted(CHECKED_KINDS), ids=str)
def test_given_clean_frame_when_built_then_it_has_exactly_the_gate_columns(kind: Kind) -> None:
    assert tuple(_frame(_rows(kind)).columns) == frame_columns(kind)


MINIMAL_PAYLOADS = {
    Kind.FORM_RESPONSE: {"form_id": "pulse-1"},
    Kind.HELPDESK_TICKET: {"opened_at": NOW - timedelta(days=1), "updated_at": NOW, "status": "new",
                           "category": "Access", "priority": 2},
    Kind.TRAINING_RECORD: {"course_id": "EPR-101", "verb": "enrolled"},
    Kind.SKILLS_ASSESSMENT: {"assessment_id": "dcf", "phase": "follow_up", "scores": {"teaching_learning": 3}},
}


@pytest.mark.parametrize("kind", sorted(CHECKED_KINDS), ids=str)
def test_given_minimal_events_flattened_by_ingest_when_checked_then_no_failures(
    gate: QualityGate, kind: Kind,
) -> None:
    """The contract with ingestion.rows: its columns, and optional fields absent in every row."""
    person = {"pseudonym": "0" * 32, "org_unit": "WARD-7", "staff_group": "Medical and Dental", "system": "ePMA"}
    events = [make_event(kind, source="forms", source_record_id=str(i), record_version="1",
                         occurred_at=NOW - timedelta(minutes=5), ingested_at=NOW,
                         payload={"person": person, **MINIMAL_PAYLOADS[kind]}) for i in range(2)]
    frame = pd.DataFrame([flatten(e) for e in events], columns=list(frame_columns(kind)))

    assert gate.check(kind, frame, now=NOW).failures == {}


def test_given_empty_frame_when_checked_then_no_failures(gate: QualityGate) -> None:
    result = gate.check(Kind.FORM_RESPONSE, pd.DataFrame(), now=NOW)

    assert result.failures == {}
    assert (result.evaluated, result.passed) == (0, 0)
    assert result.expectations == []


# --- ranges and allowed values ------------------------------------------------------------------------


def test_given_recommend_of_14_when_checked_then_row_fails_with_range_reason(gate: QualityGate) -> None:
    result = _check_with(gate, Kind.FORM_RESPONSE, recommend=14)

    assert result.failures == {BAD_ROW: ["recommend is 14, expected 0 to 10"]}
    assert (result.evaluated, result.passed) == (ROWS, ROWS - 1)


def test_given_status_escalated_when_checked_then_row_fails_with_allowed_values_reason(
    gate: QualityGate,
) -> None:
    result = _check_with(gate, Kind.HELPDESK_TICKET, status="escalated")

    assert result.failures == {BAD_ROW: [
        "status 'escalated' is not one of: new, open, in_progress, pending, resolved, closed, cancelled"]}


BAD_VALUES = [
    (Kind.FORM_RESPONSE, "recommend", -1, "recommend is -1, expected 0 to 10"),
    (Kind.FORM_RESPONSE, "minutes_saved_per_shift", 800.5,
     "minutes_saved_per_shift is 800.5, expected -720 to 720"),
    (Kind.FORM_RESPONSE, "minutes_saved_per_shift", -721, "minutes_saved_per_shift is -721, expected -720 to 720"),
    (Kind.FORM_RESPONSE, "likert_min", 0, "likert_min is 0, expected 1 to 5"),
    (Kind.FORM_RESPONSE, "likert_max", 6, "likert_max is 6, expected 1 to 5"),
    (Kind.FORM_RESPONSE, "likert_count", 61, "likert_count is 61, expected 0 to 60"),
    (Kind.HELPDESK_TICKET, "priority", 0, "priority is 0, expected 1 to 5"),
    (Kind.HELPDESK_TICKET, "reopen_count", 1001, "reopen_count is 1001, expected 0 to 1000"),
    (Kind.HELPDESK_TICKET, "satisfaction", 6, "satisfaction is 6, expected 1 to 5"),
    (Kind.TRAINING_RECORD, "verb", "viewed",
     "verb 'viewed' is not one of: enrolled, attempted, completed, passed, failed"),
    (Kind.TRAINING_RECORD, "score", 1.5, "score is 1.5, expected 0 to 1"),
    (Kind.TRAINING_RECORD, "duration_seconds", 604801, "duration_seconds is 604801, expected 0 to 604800"),
    (Kind.TRAINING_RECORD, "duration_seconds", -1, "duration_seconds is -1, expected 0 to 604800"),
    (Kind.SKILLS_ASSESSMENT, "phase", "midpoint", "phase 'midpoint' is not one of: baseline, follow_up"),
    (Kind.SKILLS_ASSESSMENT, "score_min", 0, "score_min is 0, expected 1 to 5"),
    (Kind.SKILLS_ASSESSMENT, "score_max", 6, "score_max is 6, expected 1 to 5"),
    (Kind.SKILLS_ASSESSMENT, "domain_count", 0, "domain_count is 0, expected 1 to 6"),
    (Kind.SKILLS_ASSESSMENT, "domain_count", 7, "domain_count is 7, expected 1 to 6"),
]


@pytest.mark.parametrize(("kind", "column", "value", "reason"), BAD_VALUES,
                         ids=[f"{k}-{c}-{v}" for k, c, v, _ in BAD_VALUES])
def test_given_out_of_bounds_value_when_checked_then_only_that_row_fails_with_reason(
    gate: QualityGate, kind: Kind, column: str, value: Any, reason: str,
) -> None:
    result = _check_with(gate, kind, **{column: value})

    assert result.failures == {BAD_ROW: [reason]}


def test_given_values_on_the_bounds_when_checked_then_rows_pass(gate: QualityGate) -> None:
    rows = _rows(Kind.FORM_RESPONSE)
    rows[0] |= {"recommend": 0, "minutes_saved_per_shift": -720, "likert_min": 1, "likert_count": 0}
    rows[1] |= {"recommend": 10, "minutes_saved_per_shift": 720, "likert_max": 5, "likert_count": 60}

    assert gate.check(Kind.FORM_RESPONSE, _frame(rows), now=NOW).failures == {}


# --- required fields and duplicates -------------------------------------------------------------------

COMMON_REQUIRED = ["event_id", "source", "occurred_at", "org_unit", "staff_group", "system", "pseudonym"]
REQUIRED = [(kind, column) for kind in sorted(CHECKED_KINDS) for column in COMMON_REQUIRED] + [
    (Kind.FORM_RESPONSE, "form_id"), (Kind.FORM_RESPONSE, "likert_count"),
    (Kind.HELPDESK_TICKET, "opened_at"), (Kind.HELPDESK_TICKET, "updated_at"),
    (Kind.HELPDESK_TICKET, "status"), (Kind.HELPDESK_TICKET, "category"),
    (Kind.HELPDESK_TICKET, "priority"), (Kind.HELPDESK_TICKET, "reopen_count"),
    (Kind.TRAINING_RECORD, "course_id"), (Kind.TRAINING_RECORD, "verb"),
    (Kind.SKILLS_ASSESSMENT, "assessment_id"), (Kind.SKILLS_ASSESSMENT, "phase"),
    (Kind.SKILLS_ASSESSMENT, "score_min"), (Kind.SKILLS_ASSESSMENT, "score_max"),
    (Kind.SKILLS_ASSESSMENT, "domain_count"),
]


@pytest.mark.parametrize(("kind", "column"), REQUIRED, ids=[f"{k}-{c}" for k, c in REQUIRED])
def test_given_missing_required_field_when_checked_then_row_fails_with_missing_reason(
    gate: QualityGate, kind: Kind, column: str,
) -> None:
    result = _check_with(gate, kind, **{column: None})

    assert result.failures == {BAD_ROW: [f"{column} is missing"]}


def test_given_duplicated_event_id_when_checked_then_each_copy_is_reported(gate: QualityGate) -> None:
    rows = _rows(Kind.TRAINING_RECORD)
    rows[2]["event_id"] = rows[0]["event_id"]

    result = gate.check(Kind.TRAINING_RECORD, _frame(rows), now=NOW)

    assert result.failures == {0: ["event_id is duplicated in the batch"],
                               2: ["event_id is duplicated in the batch"]}


# --- nullable columns ---------------------------------------------------------------------------------

NULLABLE = {
    Kind.FORM_RESPONSE: ["go_live_wave", "recommend", "minutes_saved_per_shift", "likert_min", "likert_max"],
    Kind.HELPDESK_TICKET: ["go_live_wave", "resolved_at", "satisfaction"],
    Kind.TRAINING_RECORD: ["go_live_wave", "score", "duration_seconds"],
    Kind.SKILLS_ASSESSMENT: ["go_live_wave"],
}


@pytest.mark.parametrize("missing", [None, math.nan], ids=["None", "NaN"])
@pytest.mark.parametrize("kind", sorted(CHECKED_KINDS), ids=str)
def test_given_none_or_nan_in_nullable_columns_when_checked_then_rows_pass(
    gate: QualityGate, kind: Kind, missing: Any,
) -> None:
    rows = _rows(kind)
    rows[BAD_ROW].update(dict.fromkeys(NULLABLE[kind], missing))

    assert gate.check(kind, _frame(rows), now=NOW).failures == {}


@pytest.mark.parametrize("kind", sorted(CHECKED_KINDS), ids=str)
def test_given_nullable_columns_empty_in_every_row_when_checked_then_rows_pass(
    gate: QualityGate, kind: Kind,
) -> None:
    """A small batch can lack a value in every row; pandas then makes the column object dtype."""
    rows = _rows(kind)
    for row in rows:
        row.update(dict.fromkeys(NULLABLE[kind]))

    assert gate.check(kind, _frame(rows), now=NOW).failures == {}


# --- timestamps ---------------------------------------------------------------------------------------


def test_given_far_future_occurred_at_when_checked_then_row_fails_with_future_reason(
    gate: QualityGate,
) -> None:
    result = _check_with(gate, Kind.FORM_RESPONSE, occurred_at=datetime(2099, 1, 1, tzinfo=UTC))

    assert result.failures == {BAD_ROW: ["occurred_at 2099-01-01 00:00:00+00:00 is later than now + 10 minutes"]}


@pytest.mark.parametrize("ahead", [timedelta(minutes=9), timedelta(minutes=10)], ids=["9min", "10min"])
def test_given_occurred_at_within_tolerance_when_checked_then_row_passes(
    gate: QualityGate, ahead: timedelta,
) -> None:
    assert _check_with(gate, Kind.FORM_RESPONSE, occurred_at=NOW + ahead).failures == {}


def test_given_occurred_at_just_past_tolerance_when_checked_then_row_fails(gate: QualityGate) -> None:
    result = _check_with(gate, Kind.FORM_RESPONSE, occurred_at=NOW + timedelta(minutes=10, seconds=1))

    assert result.failures == {BAD_ROW: ["occurred_at 2026-11-22 12:10:01+00:00 is later than now + 10 minutes"]}


def test_given_no_now_when_checked_then_the_clock_sets_the_upper_bound(gate: QualityGate) -> None:
    rows = _rows(Kind.SKILLS_ASSESSMENT)
    clock = datetime.now(UTC)
    for row in rows:
        row["occurred_at"] = clock - timedelta(minutes=1)
    rows[BAD_ROW]["occurred_at"] = clock + timedelta(days=1)

    result = gate.check(Kind.SKILLS_ASSESSMENT, _frame(rows))

    assert list(result.failures) == [BAD_ROW]


def test_given_a_later_now_when_checked_then_the_same_timestamp_passes(gate: QualityGate) -> None:
    """The bound is a runtime parameter: one suite, a different "now" per batch."""
    future = NOW + timedelta(days=1)

    assert _check_with(gate, Kind.FORM_RESPONSE, occurred_at=future).failures != {}
    rows = _rows(Kind.FORM_RESPONSE)
    rows[BAD_ROW]["occurred_at"] = future
    assert gate.check(Kind.FORM_RESPONSE, _frame(rows), now=future).failures == {}


def test_given_occurred_at_before_2000_when_checked_then_row_fails_with_earliest_reason(
    gate: QualityGate,
) -> None:
    result = _check_with(gate, Kind.TRAINING_RECORD, occurred_at=datetime(1999, 12, 31, 23, 59, tzinfo=UTC))

    assert result.failures == {BAD_ROW: ["occurred_at 1999-12-31 23:59:00+00:00 is earlier than 2000-01-01"]}


@pytest.mark.parametrize("column", ["updated_at", "resolved_at"])
def test_given_future_ticket_timestamp_when_checked_then_row_fails_with_future_reason(
    gate: QualityGate, column: str,
) -> None:
    result = _check_with(gate, Kind.HELPDESK_TICKET, **{column: datetime(2030, 5, 1, 8, 30, tzinfo=UTC)})

    assert result.failures == {BAD_ROW: [f"{column} 2030-05-01 08:30:00+00:00 is later than now + 10 minutes"]}


def test_given_future_opened_at_when_checked_then_row_fails_with_future_and_order_reasons(
    gate: QualityGate,
) -> None:
    result = _check_with(gate, Kind.HELPDESK_TICKET, opened_at=datetime(2030, 1, 1, tzinfo=UTC))

    assert result.failures == {BAD_ROW: [
        "opened_at 2030-01-01 00:00:00+00:00 is later than now + 10 minutes",
        "resolved_at 2026-11-21 12:00:00+00:00 is before opened_at 2030-01-01 00:00:00+00:00",
        "updated_at 2026-11-21 12:00:00+00:00 is before opened_at 2030-01-01 00:00:00+00:00",
    ]}


def test_given_ticket_opened_before_2000_when_checked_then_row_fails_with_earliest_reason(
    gate: QualityGate,
) -> None:
    result = _check_with(gate, Kind.HELPDESK_TICKET, opened_at=datetime(1990, 1, 1, tzinfo=UTC))

    assert result.failures == {BAD_ROW: ["opened_at 1990-01-01 00:00:00+00:00 is earlier than 2000-01-01"]}


def test_given_other_tolerance_when_checked_then_reason_names_it() -> None:
    gate = QualityGate(future_tolerance=timedelta(hours=2))

    result = _check_with(gate, Kind.FORM_RESPONSE, occurred_at=NOW + timedelta(hours=3))
    within = _check_with(gate, Kind.FORM_RESPONSE, occurred_at=NOW + timedelta(hours=1))

    assert result.failures == {BAD_ROW: ["occurred_at 2026-11-22 15:00:00+00:00 is later than now + 2 hours"]}
    assert within.failures == {}


def test_given_no_tolerance_when_checked_then_reason_says_later_than_now() -> None:
    gate = QualityGate(future_tolerance=timedelta(0))

    result = _check_with(gate, Kind.TRAINING_RECORD, occurred_at=NOW + timedelta(seconds=1))

    assert result.failures == {BAD_ROW: ["occurred_at 2026-11-22 12:00:01+00:00 is later than now"]}


# --- ticket timestamp order ---------------------------------------------------------------------------


def test_given_resolved_before_opened_when_checked_then_row_fails_with_order_reason(gate: QualityGate) -> None:
    result = _check_with(gate, Kind.HELPDESK_TICKET, resolved_at=NOW - timedelta(days=3))

    assert result.failures == {BAD_ROW: [
        "resolved_at 2026-11-19 12:00:00+00:00 is before opened_at 2026-11-20 12:00:00+00:00"]}


def test_given_updated_before_opened_when_checked_then_row_fails_with_order_reason(gate: QualityGate) -> None:
    result = _check_with(gate, Kind.HELPDESK_TICKET, updated_at=NOW - timedelta(days=2, seconds=1))

    assert result.failures == {BAD_ROW: [
        "updated_at 2026-11-20 11:59:59+00:00 is before opened_at 2026-11-20 12:00:00+00:00"]}


def test_given_ticket_resolved_and_updated_as_it_opened_when_checked_then_row_passes(
    gate: QualityGate,
) -> None:
    opened = NOW - timedelta(days=2)

    assert _check_with(gate, Kind.HELPDESK_TICKET, updated_at=opened, resolved_at=opened).failures == {}


# --- result shape -------------------------------------------------------------------------------------


def test_given_row_breaking_two_rules_when_checked_then_both_reasons_in_suite_order(gate: QualityGate) -> None:
    result = _check_with(gate, Kind.FORM_RESPONSE, form_id=None, recommend=11, likert_max=9)

    assert result.failures == {BAD_ROW: [
        "form_id is missing", "recommend is 11, expected 0 to 10", "likert_max is 9, expected 1 to 5"]}
    assert result.passed == ROWS - 1


def test_given_frame_with_other_index_when_checked_then_failures_are_keyed_by_position(
    gate: QualityGate,
) -> None:
    rows = _rows(Kind.FORM_RESPONSE)
    rows[2]["recommend"] = 12
    frame = _frame(rows).set_index(pd.Index([70, 50, 60], name="offset"))

    assert gate.check(Kind.FORM_RESPONSE, frame, now=NOW).failures == {2: ["recommend is 12, expected 0 to 10"]}


def test_given_failures_when_checked_then_expectations_and_statistics_count_them(gate: QualityGate) -> None:
    result = _check_with(gate, Kind.FORM_RESPONSE, recommend=14)

    failed = [e for e in result.expectations if not e["success"]]
    assert failed == [{"type": "expect_column_values_to_be_between", "columns": ["recommend"],
                       "description": "recommend is 0 to 10", "success": False, "unexpected_count": 1}]
    assert result.statistics["unsuccessful_expectations"] == 1
    assert result.statistics["successful_expectations"] == len(result.expectations) - 1


def test_given_many_rows_when_checked_then_every_bad_row_is_reported(gate: QualityGate) -> None:
    """GE lists only 20 unexpected rows unless asked for all of them."""
    rows = _rows(Kind.FORM_RESPONSE, 500)
    bad = set(range(0, 500, 7))
    for i in bad:
        rows[i]["recommend"] = 99

    result = gate.check(Kind.FORM_RESPONSE, _frame(rows), now=NOW)

    assert set(result.failures) == bad
    assert result.passed == 500 - len(bad)


def test_given_a_check_when_run_then_nothing_is_printed(gate: QualityGate, capfd: pytest.CaptureFixture) -> None:
    _check_with(gate, Kind.HELPDESK_TICKET, status="escalated")

    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_given_a_new_gate_when_built_and_used_then_no_files_appear_in_the_working_directory(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)

    _check_with(QualityGate(), Kind.FORM_RESPONSE, recommend=14)

    assert list(tmp_path.iterdir()) == []


# --- misuse -------------------------------------------------------------------------------------------


def test_given_frame_without_a_column_when_checked_then_value_error_names_it(gate: QualityGate) -> None:
    frame = _frame(_rows(Kind.TRAINING_RECORD)).drop(columns=["score"])

    with pytest.raises(ValueError, match="lacks column.*score"):
        gate.check(Kind.TRAINING_RECORD, frame, now=NOW)


def test_given_naive_now_when_checked_then_value_error(gate: QualityGate) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        gate.check(Kind.FORM_RESPONSE, _frame(_rows(Kind.FORM_RESPONSE)), now=datetime(2026, 1, 1))


def test_given_a_rule_ge_cannot_evaluate_when_checked_then_quality_check_error(gate: QualityGate) -> None:
    """A text in a numeric column is a bug upstream; no row may load as if it had been checked."""
    with pytest.raises(QualityCheckError, match="recommend"):
        _check_with(gate, Kind.FORM_RESPONSE, recommend="seven")
