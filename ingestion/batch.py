"""Plan one micro-batch: decode every record, check quality per kind, split into load vs quarantine.

Pure logic with no I/O, so the same core serves drain and follow modes and is unit-testable.

No record can stop a batch: whatever goes wrong while one record is decoded, checked or flattened
quarantines that record with the exception's class and message, and the rest go on. If the quality gate
itself fails on a frame, the frame is halved until the records it fails on are found.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import pandas as pd

from foundation.quarantine import bounded, failure
from ingestion.decode import Rejected, decode
from ingestion.quality import CHECKED_KINDS, frame_columns
from ingestion.rows import flatten
from schemas.events import Kind
from schemas.topics import kind_for_topic


class QualityChecker(Protocol):
    def check(self, kind: Kind, frame: pd.DataFrame, now: datetime | None = None) -> Any: ...


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record as read from Kafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(slots=True)
class Valid:
    record: SourceRecord
    event: Any
    row: dict[str, Any]
    # The event as JSON for raw storage: the record's own bytes unless ingest changed the event.
    envelope: str


@dataclass(slots=True)
class Bad:
    record: SourceRecord
    stage: str  # decode | contract | flatten | quality | routing | skipped
    reasons: list[str]
    kind: str | None = None
    source: str | None = None
    event_id: str | None = None

    def __post_init__(self) -> None:
        self.reasons = bounded(self.reasons)

    @property
    def raw(self) -> bytes:
        return self.record.value or b""

    @property
    def raw_sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()


@dataclass
class BatchPlan:
    valid: dict[Kind, list[Valid]] = field(default_factory=lambda: defaultdict(list))
    bad: list[Bad] = field(default_factory=list)
    repeated: int = 0  # the same event twice in one batch: a re-delivery, loaded once
    # (topic, partition) → (first offset, last offset) read in this batch
    ranges: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    records: int = 0
    # One summary per kind validated by the quality gate (QualityResult.summary), stored with the batch.
    validations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def valid_count(self) -> int:
        return sum(len(v) for v in self.valid.values())


SKIPPED_REASON = "skipped by an operator (realise ingest --skip)"


def plan_batch(records: Iterable[SourceRecord], gate: QualityChecker, *, topic_prefix: str = "",
               max_record_bytes: int = 1_048_576, now: datetime | None = None,
               skip: frozenset[tuple[str, int, int]] = frozenset()) -> BatchPlan:
    plan = BatchPlan()
    seen: set[str] = set()
    kinds: dict[str, Kind | None] = {}
    for rec in records:
        plan.records += 1
        tp = (rec.topic, rec.partition)
        first, last = plan.ranges.get(tp, (rec.offset, rec.offset))
        plan.ranges[tp] = (min(first, rec.offset), max(last, rec.offset))
        if rec.topic not in kinds:
            kinds[rec.topic] = kind_for_topic(rec.topic, topic_prefix)
        kind = kinds[rec.topic]
        if kind is None:
            plan.bad.append(Bad(rec, "routing", [f"topic {rec.topic} does not carry Realise events"]))
            continue
        if skip and (rec.topic, rec.partition, rec.offset) in skip:
            plan.bad.append(Bad(rec, "skipped", [SKIPPED_REASON], kind.value))
            continue
        stage = "decode"
        try:
            result = decode(rec.value, kind, rec.topic, max_record_bytes)
            if isinstance(result, Rejected):
                plan.bad.append(Bad(rec, result.stage, result.reasons, kind.value, result.source, result.event_id))
                continue
            event, envelope = result
            event_id = str(event.event_id)
            if event_id in seen:
                plan.repeated += 1
                continue
            stage = "flatten"
            row = flatten(event)
        except Exception as exc:  # noqa: BLE001 - one record's failure must never stop the stream
            plan.bad.append(Bad(rec, stage, [failure(stage, exc)], kind.value))
            continue
        seen.add(event_id)
        plan.valid[kind].append(Valid(rec, event, row, envelope))

    now = now or datetime.now(UTC)
    for kind, items in list(plan.valid.items()):
        if items and kind in CHECKED_KINDS:
            plan.valid[kind] = _check_quality(plan, gate, kind, items, now)
    return plan


def _check_quality(plan: BatchPlan, gate: QualityChecker, kind: Kind, items: list[Valid],
                   now: datetime) -> list[Valid]:
    """The records of `items` that pass the gate; the rest go to `plan.bad` with the gate's reasons."""
    try:
        frame = pd.DataFrame([v.row for v in items], columns=list(frame_columns(kind)))
        outcome = gate.check(kind, frame, now=now)
    except Exception as exc:  # noqa: BLE001 - find the records the gate cannot check, keep the rest
        if len(items) == 1:
            item = items[0]
            plan.bad.append(Bad(item.record, "quality", [failure("quality check", exc)], kind.value,
                                item.event.source, str(item.event.event_id)))
            return []
        half = len(items) // 2
        return (_check_quality(plan, gate, kind, items[:half], now)
                + _check_quality(plan, gate, kind, items[half:], now))
    plan.validations.append(outcome.summary())
    if not outcome.failures:
        return items
    kept = []
    for i, item in enumerate(items):
        reasons = outcome.failures.get(i)
        if reasons:
            plan.bad.append(Bad(item.record, "quality", list(reasons), kind.value, item.event.source,
                                str(item.event.event_id)))
        else:
            kept.append(item)
    return kept
