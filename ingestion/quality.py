"""Data-quality gate: one Great Expectations suite per event kind, run over each micro-batch.

Pydantic has already checked each event's shape; this step checks the flattened rows of one kind
together: required fields, allowed values, ranges, duplicate event ids, timestamps in the future or
before 2000, and ticket timestamps out of order. Rows that break a rule are quarantined with reasons a
data manager can read; the rest load.

GE is set up once per process (context, data source, suites). Per call only the batch's data and its
"latest allowed timestamp" change; the latter is a suite parameter, so suites are never rebuilt.
GE's cost is mostly a fixed few milliseconds per expectation, so a batch is validated first with
pass/fail results only, and only the expectations that failed are run again to list their rows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from schemas.events import Kind

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult
    from great_expectations.expectations import Expectation

__all__ = ["EARLIEST_TIMESTAMP", "QualityCheckError", "QualityGate", "QualityResult", "frame_columns"]

EARLIEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
# Suite parameter holding the batch's "now + tolerance"; bound at validation time.
LATEST_PARAMETER = "latest_allowed_at"
# Every unexpected row's index (not only the first 20), and no pandas query string GE would build.
_DETAIL_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False,
                  "partial_unexpected_count": 0}

_COMMON_COLUMNS = ("event_id", "source", "occurred_at", "ingested_at", "org_unit", "staff_group", "system",
                   "go_live_wave", "pseudonym")
_COMMON_REQUIRED = ("event_id", "source", "occurred_at", "org_unit", "staff_group", "system", "pseudonym")

TICKET_STATUSES = ("new", "open", "in_progress", "pending", "resolved", "closed", "cancelled")
TRAINING_VERBS = ("enrolled", "attempted", "completed", "passed", "failed")
ASSESSMENT_PHASES = ("baseline", "follow_up")


@dataclass(frozen=True)
class _KindRules:
    """What the suite for one kind checks, as data, so columns, expectations and reasons share one source."""

    columns: tuple[str, ...]
    required: tuple[str, ...]
    allowed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    timestamps: tuple[str, ...] = ("occurred_at",)
    # (later, earlier): `later` must not be before `earlier` where both are present.
    ordered: tuple[tuple[str, str], ...] = ()


_RULES: dict[Kind, _KindRules] = {
    Kind.FORM_RESPONSE: _KindRules(
        columns=("form_id", "recommend", "minutes_saved_per_shift", "likert_min", "likert_max",
                 "likert_count"),
        required=("form_id", "likert_count"),
        # likert_count: the payload model allows at most 60 items.
        ranges={"recommend": (0, 10), "minutes_saved_per_shift": (-720, 720), "likert_min": (1, 5),
                "likert_max": (1, 5), "likert_count": (0, 60)},
    ),
    Kind.HELPDESK_TICKET: _KindRules(
        columns=("opened_at", "updated_at", "resolved_at", "status", "category", "priority",
                 "reopen_count", "satisfaction"),
        required=("opened_at", "updated_at", "status", "category", "priority", "reopen_count"),
        allowed={"status": TICKET_STATUSES},
        ranges={"priority": (1, 5), "reopen_count": (0, 1000), "satisfaction": (1, 5)},
        timestamps=("occurred_at", "opened_at", "updated_at", "resolved_at"),
        ordered=(("resolved_at", "opened_at"), ("updated_at", "opened_at")),
    ),
    Kind.TRAINING_RECORD: _KindRules(
        columns=("course_id", "verb", "score", "duration_seconds"),
        required=("course_id", "verb"),
        allowed={"verb": TRAINING_VERBS},
        ranges={"score": (0, 1), "duration_seconds": (0, 7 * 24 * 3600)},
    ),
    Kind.SKILLS_ASSESSMENT: _KindRules(
        columns=("assessment_id", "phase", "score_min", "score_max", "domain_count"),
        required=("assessment_id", "phase", "score_min", "score_max", "domain_count"),
        allowed={"phase": ASSESSMENT_PHASES},
        ranges={"score_min": (1, 5), "score_max": (1, 5), "domain_count": (1, 6)},
    ),
}


# Retractions carry no person and no values to check: the contract is their whole check.
CHECKED_KINDS: frozenset[Kind] = frozenset(_RULES)


def frame_columns(kind: Kind) -> tuple[str, ...]:
    """The columns `check` needs in a frame of `kind`, so the code that builds frames can share them."""
    return _COMMON_COLUMNS + _RULES[Kind(kind)].columns


class QualityCheckError(RuntimeError):
    """GE could not evaluate a rule, so no row of the batch can be said to have passed it."""


@dataclass
class QualityResult:
    """Outcome of one batch: which rows failed and why, plus per-expectation counts for a results page."""

    failures: dict[int, list[str]]  # positional row number -> reasons, in suite order
    evaluated: int
    passed: int
    statistics: dict[str, Any]  # GE's: evaluated/successful/unsuccessful_expectations, success_percent
    expectations: list[dict[str, Any]]  # type, columns, description, success, unexpected_count
    kind: str = ""
    suite: str = ""

    @property
    def failed(self) -> int:
        return len(self.failures)

    def summary(self) -> dict[str, Any]:
        """The row ingest stores in ops.validation_results: built from counts GE already returned, no rerun."""
        return {
            "kind": self.kind,
            "suite": self.suite,
            "records": self.evaluated,
            "failed_records": self.failed,
            "success": all(e["success"] for e in self.expectations),
            "expectations": [{"expectation": e["type"], "column": ", ".join(e["columns"]),
                              "rule": e["description"], "success": e["success"],
                              "unexpected_count": e["unexpected_count"]} for e in self.expectations],
        }


# Renders the reasons for the failing rows of one rule: (frame, positions) -> one text per position.
_Reason = Callable[[pd.DataFrame, list[int]], list[str]]


@dataclass(frozen=True)
class _Rule:
    columns: tuple[str, ...]
    description: str
    reason: _Reason


class QualityGate:
    """Builds the GE context and the four suites once; `check` validates one batch of one kind per call.

    Calls are serialised by a lock because GE keeps the loaded batch on its data source between calls.
    """

    def __init__(self, future_tolerance: timedelta = timedelta(minutes=10)) -> None:
        if future_tolerance < timedelta(0):
            raise ValueError("future_tolerance must not be negative")
        self.future_tolerance = future_tolerance
        # The bound as the reasons name it: "now + 10 minutes", or "now" when there is no tolerance.
        self._latest_text = f"now + {_fmt_duration(future_tolerance)}" if future_tolerance else "now"
        self._lock = threading.Lock()
        self._gx, gxe = _import_gx()
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        # In-memory stores and no docs site: nothing is written to disk. No tqdm bars on stderr.
        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
            analytics_enabled=False,
        )
        self._context = self._gx.get_context(mode="ephemeral", project_config=config)
        datasource = self._context.data_sources.add_pandas("realise_ingest")
        self._batches: dict[Kind, BatchDefinition] = {}
        self._suites: dict[Kind, ExpectationSuite] = {}
        self._rules: dict[Kind, list[_Rule]] = {}
        self._expectations: dict[Kind, list[Expectation]] = {}
        for kind in _RULES:
            asset = datasource.add_dataframe_asset(kind.value)
            self._batches[kind] = asset.add_batch_definition_whole_dataframe("micro_batch")
            self._suites[kind], self._rules[kind] = self._build_suite(gxe, kind)
            self._expectations[kind] = list(self._suites[kind].expectations)

    def suite(self, kind: Kind) -> ExpectationSuite:
        """The suite for `kind`, e.g. to list the rules on a results page. Do not modify it."""
        return self._suites[Kind(kind)]

    def check(self, kind: Kind, frame: pd.DataFrame, now: datetime | None = None) -> QualityResult:
        """Validate the rows of one kind; failures are keyed by position in `frame` (0..len-1)."""
        kind = Kind(kind)
        if frame.empty:
            return QualityResult(failures={}, evaluated=0, passed=0, expectations=[], statistics={
                "evaluated_expectations": 0, "successful_expectations": 0,
                "unsuccessful_expectations": 0, "success_percent": None},
                kind=kind.value, suite=self._suites[kind].name)
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        data = _prepare(kind, frame)
        parameters = {LATEST_PARAMETER: (now + self.future_tolerance).astimezone(UTC)}
        rules = self._rules[kind]
        details: dict[int, ExpectationValidationResult] = {}
        with self._lock:
            batch = self._batches[kind].get_batch(batch_parameters={"dataframe": data})
            # Pass 1, pass/fail only: about half the cost of listing rows, and most batches are clean.
            outcome = batch.validate(self._suites[kind], result_format="BOOLEAN_ONLY",
                                     expectation_parameters=parameters)
            summary = _by_rule(kind, rules, outcome.results)
            failed = [self._expectations[kind][i] for i in sorted(summary) if not summary[i].success]
            if failed:
                # Pass 2, only the expectations that failed, listing the rows that broke them.
                detail_suite = self._gx.ExpectationSuite(
                    name=f"realise.{kind.value}.failed", expectations=[e.configuration for e in failed])
                detail = batch.validate(detail_suite, result_format=_DETAIL_FORMAT,
                                        expectation_parameters=parameters)
                details = _by_rule(kind, rules, detail.results)
        if len(summary) != len(rules) or any(i not in details for i, r in summary.items() if not r.success):
            raise QualityCheckError(f"{kind.value}: GE returned results that do not match the suite")

        failures: dict[int, list[str]] = {}
        expectations: list[dict[str, Any]] = []
        for index, rule in enumerate(rules):
            unexpected_count = 0
            if index in details:
                result = details[index].result
                unexpected_count = int(result.get("unexpected_count") or 0)
                positions = _positions(result.get("unexpected_index_list") or [], len(data))
                if not positions:  # failed, yet no row to blame: loading the batch would hide the failure
                    raise QualityCheckError(f"{kind.value}: '{rule.description}' failed without naming rows")
                for position, reason in zip(positions, rule.reason(data, positions), strict=True):
                    failures.setdefault(position, []).append(reason)
            expectations.append({
                "type": self._expectations[kind][index].expectation_type,
                "columns": list(rule.columns),
                "description": rule.description,
                "success": bool(summary[index].success),
                "unexpected_count": unexpected_count,
            })
        return QualityResult(
            failures=dict(sorted(failures.items())),
            evaluated=len(data),
            passed=len(data) - len(failures),
            statistics=dict(outcome.statistics),
            expectations=expectations,
            kind=kind.value,
            suite=self._suites[kind].name,
        )

    def _build_suite(self, gxe: Any, kind: Kind) -> tuple[ExpectationSuite, list[_Rule]]:
        """Expectations in a fixed order, so a row's reasons come out in that order; meta numbers the rule."""
        spec = _RULES[kind]
        suite = self._gx.ExpectationSuite(name=f"realise.{kind.value}")
        rules: list[_Rule] = []

        def add(expectation_cls: Any, rule: _Rule, **kwargs: Any) -> None:
            suite.add_expectation(expectation_cls(meta={"rule": len(rules)}, **kwargs))
            rules.append(rule)

        for column in _COMMON_REQUIRED + spec.required:
            add(gxe.ExpectColumnValuesToNotBeNull,
                _Rule((column,), f"{column} is present", _constant_reason(f"{column} is missing")),
                column=column)
        add(gxe.ExpectColumnValuesToBeUnique,
            _Rule(("event_id",), "event_id is unique in the batch",
                  _constant_reason("event_id is duplicated in the batch")),
            column="event_id")
        for column, values in spec.allowed.items():
            add(gxe.ExpectColumnValuesToBeInSet,
                _Rule((column,), f"{column} is one of: {', '.join(values)}", _set_reason(column, values)),
                column=column, value_set=list(values))
        for column, (low, high) in spec.ranges.items():
            add(gxe.ExpectColumnValuesToBeBetween,
                _Rule((column,), f"{column} is {_fmt_number(low)} to {_fmt_number(high)}",
                      _range_reason(column, low, high)),
                column=column, min_value=low, max_value=high)
        for column in spec.timestamps:
            add(gxe.ExpectColumnValuesToBeBetween,
                _Rule((column,), f"{column} is from {EARLIEST_TIMESTAMP:%Y-%m-%d} to {self._latest_text}",
                      _time_reason(column, self._latest_text)),
                column=column, min_value=EARLIEST_TIMESTAMP, max_value={"$PARAMETER": LATEST_PARAMETER})
        for later, earlier in spec.ordered:
            add(gxe.ExpectColumnPairValuesAToBeGreaterThanB,
                _Rule((later, earlier), f"{later} is not before {earlier}", _order_reason(later, earlier)),
                column_A=later, column_B=earlier, or_equal=True, ignore_row_if="either_value_is_missing")
        # A suite silently drops an expectation equal to one it holds (meta aside): rule numbers would shift.
        if len(suite.expectations) != len(rules):
            raise RuntimeError(f"{suite.name}: two rules built the same expectation")
        return suite, rules


def _prepare(kind: Kind, frame: pd.DataFrame) -> pd.DataFrame:
    """RangeIndex, so GE's row indexes are positions; timestamps as UTC datetimes so GE compares like types."""
    spec = _RULES[kind]
    missing = [c for c in _COMMON_COLUMNS + spec.columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{kind.value} frame lacks column(s): {', '.join(missing)}")
    data = frame.reset_index(drop=True)
    converted: dict[str, pd.Series] = {}
    for column in spec.timestamps:
        series = data[column]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            if str(series.dtype.tz) != "UTC":
                converted[column] = series.dt.tz_convert("UTC")
        elif pd.api.types.is_datetime64_dtype(series.dtype):
            raise ValueError(f"{kind.value} column {column} holds timezone-naive datetimes")
        else:  # object column of aware datetimes and/or None, e.g. resolved_at when no ticket is resolved
            converted[column] = pd.to_datetime(series, utc=True)
    return data.assign(**converted) if converted else data


def _by_rule(kind: Kind, rules: list[_Rule],
             results: Iterable[ExpectationValidationResult]) -> dict[int, ExpectationValidationResult]:
    """Results keyed by rule number; an expectation that raised stops the batch rather than pass its rows."""
    keyed = {}
    for result in results:
        index = result.expectation_config.meta["rule"]
        message = _exception_message(result.exception_info)
        if message is not None:
            raise QualityCheckError(f"{kind.value}: could not check '{rules[index].description}': {message}")
        keyed[index] = result
    return keyed


def _exception_message(info: Any) -> str | None:
    """GE reports either one exception dict or several keyed by metric; None when nothing raised."""
    if not isinstance(info, dict):
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message")) if info.get("raised_exception") else None
    for nested in info.values():
        message = _exception_message(nested)
        if message is not None:
            return message
    return None


def _positions(index_list: list[Any], size: int) -> list[int]:
    """GE reports index labels, which on a RangeIndex are positions. Anything else means GE changed: stop."""
    positions = []
    for entry in index_list:
        if isinstance(entry, bool) or not isinstance(entry, int | np.integer) or not 0 <= entry < size:
            raise QualityCheckError(f"GE reported row {entry!r}, which is not a row position")
        positions.append(int(entry))
    return positions


def _constant_reason(text: str) -> _Reason:
    return lambda _frame, positions: [text] * len(positions)


def _set_reason(column: str, values: Sequence[str]) -> _Reason:
    allowed = ", ".join(values)

    def reason(frame: pd.DataFrame, positions: list[int]) -> list[str]:
        return [f"{column} '{v}' is not one of: {allowed}" for v in frame[column].iloc[positions]]

    return reason


def _range_reason(column: str, low: float, high: float) -> _Reason:
    bounds = f"expected {_fmt_number(low)} to {_fmt_number(high)}"

    def reason(frame: pd.DataFrame, positions: list[int]) -> list[str]:
        return [f"{column} is {_fmt_number(v)}, {bounds}" for v in frame[column].iloc[positions]]

    return reason


def _time_reason(column: str, latest_text: str) -> _Reason:
    earliest = pd.Timestamp(EARLIEST_TIMESTAMP)

    def reason(frame: pd.DataFrame, positions: list[int]) -> list[str]:
        return [f"{column} {v} is earlier than {earliest:%Y-%m-%d}" if v < earliest
                else f"{column} {v} is later than {latest_text}"
                for v in frame[column].iloc[positions]]

    return reason


def _order_reason(later: str, earlier: str) -> _Reason:
    def reason(frame: pd.DataFrame, positions: list[int]) -> list[str]:
        rows = frame[[later, earlier]].iloc[positions]
        return [f"{later} {a} is before {earlier} {b}" for a, b in zip(rows[later], rows[earlier], strict=True)]

    return reason


def _fmt_number(value: Any) -> str:
    """14.0 (ints arrive as float when the column has gaps) reads as 14; 1.5 stays 1.5."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _fmt_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


_import_lock = threading.Lock()


def _import_gx() -> tuple[Any, Any]:
    """Import GE on first use, not with this module (it takes seconds), and quieten its INFO/DEBUG logs."""
    with _import_lock:
        import great_expectations as gx
        import great_expectations.expectations as gxe

        logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return gx, gxe
