"""The ingest loop shared by `--drain` (bounded, for scheduled runs) and `--follow` (a long-running service).

Offsets come from the warehouse, never from Kafka's group commits: on start (drain) or on every partition
assignment (follow) the consumer seeks to the offsets stored with the data. Kafka's own commit is made
after each batch only so that lag monitoring tools see progress.

Batch N is committed on one background thread while batch N+1 is fetched and checked, so the database's
work overlaps the client's. Commits stay strictly ordered (one at a time, in submission order), and
anything that reads or moves offsets first waits for the commit in flight.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from threading import Event
from typing import Any, Literal

import psycopg
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from connectors.webhook import is_push_type
from foundation import kafka as rk
from foundation import progress
from foundation.config import Settings
from foundation.database import URL_SETTING
from foundation.errors import ServiceUnavailable, UserError
from ingestion.batch import BatchPlan, SourceRecord, plan_batch
from ingestion.dead_letter import DeadLetters
from ingestion.decode import use_scrub_fields
from ingestion.health import broker_partitions
from ingestion.load import CommitResult, OffsetGap, WarehouseWriter
from warehouse.losses import BrokerPartition, Loss

log = logging.getLogger(__name__)
Mode = Literal["drain", "follow"]
OnCommit = Callable[[BatchPlan, CommitResult], None]
# Without records for this long before the high watermark, a drain checks that the broker is still there.
IDLE_CHECK_SECONDS = 5.0
IDLE_GIVE_UP_SECONDS = 60.0


class IngestStopped(UserError):
    """Ingest cannot go on past a batch: says where it stopped and what the user can do."""


def _where(ranges: dict[tuple[str, int], tuple[int, int]]) -> str:
    return ", ".join(f"{t}[{p}] offsets {a}-{b}" if a != b else f"{t}[{p}] offset {a}"
                     for (t, p), (a, b) in sorted(ranges.items()))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'no message'}"


@dataclass
class IngestSummary:
    mode: str
    records: int = 0
    loaded: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    quarantined: int = 0
    skipped: int = 0
    batches: int = 0
    seconds: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)
    dead_letter_failed: int = 0
    dead_letter_error: str = ""
    losses: list[Loss] = field(default_factory=list)

    @property
    def loaded_total(self) -> int:
        return sum(self.loaded.values())

    def add(self, plan: BatchPlan, result: CommitResult) -> None:
        self.batches += 1
        self.records += plan.records
        self.loaded.update(result.loaded)
        self.duplicates += result.duplicates
        self.quarantined += result.quarantined
        self.skipped += result.skipped
        for bad in result.quarantined_records:
            self.reasons.update(_reason_class(r) for r in bad.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "records": self.records, "loaded": dict(self.loaded),
                "loaded_total": self.loaded_total, "duplicates": self.duplicates, "quarantined": self.quarantined,
                "skipped_already_loaded": self.skipped, "batches": self.batches, "seconds": round(self.seconds, 3),
                "quarantine_reasons": dict(self.reasons.most_common()),
                "dead_letter_failed": self.dead_letter_failed, "dead_letter_error": self.dead_letter_error,
                "losses": [loss.as_dict() for loss in self.losses]}


def _reason_class(reason: str) -> str:
    """Group reasons for a summary: the part before the first '(' without the offending value."""
    return reason.split(" (got", 1)[0].split(": byte", 1)[0][:120]


def problems(summary: dict[str, Any]) -> list[str]:
    """What a run must not end quietly on: events counted as lost, copies the dead-letter topic lacks."""
    lines = [loss["message"] for loss in summary.get("losses", []) if loss["lost"]]
    if summary.get("dead_letter_failed"):
        lines.append(f"{summary['dead_letter_failed']:,} quarantined records could not be copied to the "
                     f"dead-letter topic ({summary.get('dead_letter_error') or 'no answer'}); they are in "
                     "ops.quarantine")
    return lines


class _SeekToWarehouse(ConsumerRebalanceListener):
    def __init__(self, runner: IngestRunner) -> None:
        self.runner = runner

    # kafka-python 3 calls these on its network thread: only local consumer calls (seek) are allowed here,
    # nothing that waits for the broker.
    def on_partitions_revoked(self, revoked: Any) -> None:
        log.info("partitions revoked: %s", sorted((tp.topic, tp.partition) for tp in revoked))
        # Finish the commit in flight so the next owner of these partitions sees its offsets.
        self.runner.settle(in_listener=True)

    def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("partitions assigned: %s", sorted((tp.topic, tp.partition) for tp in assigned))
        self.runner.seek_to_stored(list(assigned))
        self.runner.to_reconcile.update(assigned)  # asks the broker, so done on the main thread


class IngestRunner:
    def __init__(self, settings: Settings, bootstrap: str, engine: Engine, *, gate: Any,
                 group: str | None = None, on_commit: OnCommit | None = None,
                 skip: frozenset[tuple[str, int, int]] = frozenset()) -> None:
        self.settings = settings
        use_scrub_fields(settings.ingest.scrub_fields)
        self.bootstrap = bootstrap
        self.group = group or settings.kafka.consumer_group
        self.writer = WarehouseWriter(engine, self.group)
        self.writer.pull_sources = sorted(name for name, cfg in settings.sources.items()
                                          if not is_push_type(cfg.type))
        self.to_reconcile: set[TopicPartition] = set()
        self.gate = gate
        self.on_commit = on_commit
        self.topics = rk.event_topics(settings)
        self.skip = skip
        self._consumer: KafkaConsumer | None = None
        self._dead_letters = DeadLetters(settings, bootstrap)
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="realise-commit")
        self._pending: tuple[Future[CommitResult], BatchPlan] | None = None
        self._summary: IngestSummary | None = None
        self._mode: Mode = "drain"
        # Drain progress, measured only while a progress bar is shown: (start, end offsets, watermarks).
        self._backlog: tuple[dict[TopicPartition, int], dict[TopicPartition, int],
                             dict[TopicPartition, int | None]] | None = None

    # -- positioning -------------------------------------------------------------------------------

    def seek_to_stored(self, partitions: list[TopicPartition]) -> None:
        """Seek each partition to the warehouse's next offset, or to the beginning if none is stored."""
        consumer = self._consumer
        assert consumer is not None
        if not partitions:
            return
        self.settle(in_listener=True)
        self._learn_topic_ids(consumer)
        stored = self.writer.stored_offsets((tp.topic, tp.partition) for tp in partitions)
        for tp in partitions:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)

    def _learn_topic_ids(self, consumer: KafkaConsumer) -> None:
        cluster = consumer._client.cluster  # kafka-python keeps topic ids from metadata responses here
        for topic in self.topics:
            topic_id = cluster.topic_id(topic)
            if topic_id is not None:
                self.writer.topic_ids[topic] = str(topic_id)

    # -- main loop ---------------------------------------------------------------------------------

    def run(self, mode: Mode, stop: Event | None = None) -> IngestSummary:
        stop = stop or Event()
        summary = self._summary = IngestSummary(mode=mode)
        self._mode = mode
        started = time.perf_counter()
        # A batch keeps thousands of small objects alive; with default thresholds the cyclic collector
        # rescans them (and the imported libraries) so often that validation ran ~4x slower.
        previous_threshold = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        rk.ensure_topics(self.settings, self.bootstrap)
        consumer = self._consumer = rk.consumer(
            self.settings, self.bootstrap, group=self.group if mode == "follow" else None)
        try:
            watermarks: dict[TopicPartition, int | None] | None = None
            if mode == "drain":
                partitions = self._all_partitions(consumer)
                consumer.assign(partitions)
                self._learn_topic_ids(consumer)
                self.reconcile(consumer, partitions)
                self.seek_to_stored(partitions)
                # Filled from the first fetch response per partition: some brokers' ListOffsets(latest)
                # answers the last batch's base offset rather than the high watermark.
                watermarks = dict.fromkeys(partitions)
                if progress.active():
                    self._backlog = ({tp: consumer.position(tp) for tp in partitions},
                                     consumer.end_offsets(partitions), watermarks)
            else:
                consumer.subscribe(self.topics, listener=_SeekToWarehouse(self))
            idle_since = checked_at = time.monotonic()
            while not stop.is_set():
                if watermarks is not None and self._drained(consumer, watermarks):
                    break
                records = self._collect(consumer, watermarks, stop)
                if self.to_reconcile:
                    self._reconcile_collected(consumer, records)
                    continue
                if not records:
                    now = time.monotonic()
                    if watermarks is not None and now - checked_at > IDLE_CHECK_SECONDS:
                        checked_at = now
                        self.settle()
                        self._check_broker(consumer, watermarks)
                    if watermarks is not None and now - idle_since > IDLE_GIVE_UP_SECONDS:
                        log.warning("no records for %d s before reaching the high watermark; stopping",
                                    IDLE_GIVE_UP_SECONDS)
                        break
                    continue
                idle_since = checked_at = time.monotonic()
                self._process(consumer, records)
            self.settle()
        except (psycopg.OperationalError, sa_exc.OperationalError) as exc:
            raise ServiceUnavailable("warehouse", self.writer.address, URL_SETTING,
                                     f"{_first_line(exc)}; run ingest again when PostgreSQL is back") from None
        except KafkaError as exc:
            self._pending_settled_quietly()
            raise ServiceUnavailable("Kafka broker", self.bootstrap, rk.BOOTSTRAP_SETTING,
                                     f"{_first_line(exc)} after {summary.records:,} records; what was read "
                                     "is committed, run ingest again when the broker answers") from None
        finally:
            summary.seconds = time.perf_counter() - started
            summary.losses = list(self.writer.losses)
            self.close()
            gc.set_threshold(*previous_threshold)
            gc.unfreeze()
        return summary

    def _all_partitions(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        deadline = time.monotonic() + 30
        partitions: list[TopicPartition] = []
        for topic in self.topics:
            found = consumer.partitions_for_topic(topic)
            while not found and time.monotonic() < deadline:
                time.sleep(0.2)
                found = consumer.partitions_for_topic(topic)
            if not found:
                raise UserError(f"topic {topic} has no partitions on {self.bootstrap}; create it or check "
                                "kafka.topic_prefix")
            partitions.extend(TopicPartition(topic, p) for p in sorted(found))
        return partitions

    @staticmethod
    def _drained(consumer: KafkaConsumer, watermarks: dict[TopicPartition, int | None]) -> bool:
        for tp, end in watermarks.items():
            if end is None:
                end = watermarks[tp] = consumer.highwater(tp)
            if end is None or consumer.position(tp) < end:
                return False
        return True

    def _collect(self, consumer: KafkaConsumer, watermarks: dict[TopicPartition, int | None] | None,
                 stop: Event) -> list[SourceRecord]:
        """Poll until a full batch, the wait limit, or (drain) the watermarks: GE has a fixed cost per batch."""
        cfg = self.settings.ingest
        deadline = time.monotonic() + cfg.poll_timeout_ms / 1000
        out: list[SourceRecord] = []
        while len(out) < cfg.batch_size and not stop.is_set():
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            polled = consumer.poll(timeout_ms=remaining_ms, max_records=cfg.batch_size - len(out))
            for tp, msgs in polled.items():
                limit = watermarks.get(tp) if watermarks is not None else None
                out.extend(SourceRecord(m.topic, m.partition, m.offset, m.key, m.value)
                           for m in msgs if limit is None or m.offset < limit)
                if watermarks is not None and limit is None:
                    watermarks[tp] = consumer.highwater(tp)
            if watermarks is not None and self._drained(consumer, watermarks):
                break
        return out

    def reconcile(self, consumer: KafkaConsumer, partitions: list[TopicPartition]) -> list[Loss]:
        """Compare stored offsets with the broker's first and next offsets; losses are recorded and reported."""
        if not partitions:
            return []
        self.settle()
        self._learn_topic_ids(consumer)
        begins = consumer.beginning_offsets(partitions)
        ends = consumer.end_offsets(partitions)
        return self.writer.reconcile({
            (tp.topic, tp.partition): BrokerPartition(self.writer.topic_ids.get(tp.topic), begins.get(tp), ends.get(tp))
            for tp in partitions})

    def _reconcile_collected(self, consumer: KafkaConsumer, records: list[SourceRecord]) -> None:
        """Reconcile newly assigned (or gapped) partitions; records read meanwhile are put back to read again."""
        firsts: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            firsts[tp] = min(firsts.get(tp, r.offset), r.offset)
        for tp, offset in firsts.items():
            consumer.seek(tp, offset)
        partitions = sorted(self.to_reconcile & set(consumer.assignment()))
        self.to_reconcile.clear()
        for loss in self.reconcile(consumer, partitions):
            tp = TopicPartition(loss.topic, loss.partition)
            if loss.resume_at < 0:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, loss.resume_at)

    def _check_broker(self, consumer: KafkaConsumer, watermarks: dict[TopicPartition, int | None]) -> None:
        """A drain short of its watermarks with nothing to read: is the broker gone, or did it lose data?"""
        try:
            rk.check_reachable(self.bootstrap)
        except ServiceUnavailable as exc:
            raise ServiceUnavailable(
                "Kafka broker", self.bootstrap, rk.BOOTSTRAP_SETTING,
                f"it stopped answering after {self._summary.records if self._summary else 0:,} records; what was "
                "read is committed, run ingest again when it is back") from exc
        short = {(tp.topic, tp.partition): consumer.position(tp) for tp, end in watermarks.items()
                 if end is not None and consumer.position(tp) < end}
        if not short:
            return
        # A fresh client: this consumer's metadata can still name a topic the broker no longer has.
        now = broker_partitions(self.settings, self.bootstrap, sorted({t for t, _ in short}))
        lost = []
        for (topic, partition), position in sorted(short.items()):
            held, known = now.get((topic, partition)), self.writer.topic_ids.get(topic)
            if held is None:
                lost.append(f"{topic}[{partition}] is gone")
            elif held.topic_id and known and held.topic_id != known:
                lost.append(f"{topic}[{partition}] was recreated")
            elif held.topic_id is None and held.end is not None and held.end < position:
                lost.append(f"{topic}[{partition}] now ends at {held.end}, read to {position}")
        if lost:
            raise IngestStopped(
                f"the Kafka broker at {self.bootstrap} lost records while this drain was reading "
                f"({', '.join(lost)}): it was restarted without its data or the topic was deleted; run ingest "
                "again to see what was lost and how to publish it again")

    def _process(self, consumer: KafkaConsumer, records: list[SourceRecord]) -> None:
        try:
            plan = plan_batch(records, self.gate, topic_prefix=self.settings.kafka.topic_prefix,
                              max_record_bytes=self.settings.ingest.max_record_bytes,
                              now=datetime.now(UTC), skip=self.skip)
        except Exception as exc:
            ranges: dict[tuple[str, int], tuple[int, int]] = {}
            for r in records:
                a, b = ranges.get((r.topic, r.partition), (r.offset, r.offset))
                ranges[(r.topic, r.partition)] = (min(a, r.offset), max(b, r.offset))
            raise self._stopped(ranges, exc) from exc
        if not self.settle():
            return  # the previous batch was refused and the consumer sought back: this plan is re-read
        self._pending = (self._committer.submit(self.writer.commit, plan), plan)

    def settle(self, in_listener: bool = False) -> bool:
        """Wait for the commit in flight and do its follow-up work; False if it was refused for a gap.

        From a rebalance listener the Kafka group commit is skipped: it would wait on the network thread.
        """
        if self._pending is None:
            return True
        future, plan = self._pending
        self._pending = None
        consumer = self._consumer
        try:
            result = future.result()
        except OffsetGap as gap:
            log.warning("batch would skip records (%s); seeking back", gap)
            if consumer is not None:
                for (topic, partition), offset in gap.gaps.items():
                    consumer.seek(TopicPartition(topic, partition), offset)
                    # The stored offset may be gone from the broker (retention): reconcile before reading on.
                    self.to_reconcile.add(TopicPartition(topic, partition))
            return False
        except psycopg.OperationalError as exc:
            raise ServiceUnavailable(
                "warehouse", self.writer.address, URL_SETTING,
                f"{_first_line(exc)}; the batch at {_where(plan.ranges)} was not committed, run ingest again "
                "when PostgreSQL is back: it resumes after the last committed batch") from None
        except UserError:
            raise
        except Exception as exc:
            raise self._stopped(plan.ranges, exc) from exc
        if self._summary is not None:
            self._summary.add(plan, result)
            if self._backlog is not None:
                starts, ends, marks = self._backlog
                total = sum(max(0, (marks.get(tp) or ends.get(tp) or 0) - start) for tp, start in starts.items())
                progress.current().update("ingest", self._summary.records, total, "records to the high watermark")
        if result.quarantined_records and self.settings.ingest.publish_dead_letters:
            failed = self._dead_letters.copy(result.quarantined_records)
            if failed and self._summary is not None:
                self._summary.dead_letter_failed += failed
                self._summary.dead_letter_error = self._dead_letters.last_error
        if self._mode == "follow" and result.next_offsets and consumer is not None and not in_listener:
            with contextlib.suppress(Exception):
                consumer.commit_async({TopicPartition(t, p): OffsetAndMetadata(o, "", -1)
                                       for (t, p), o in result.next_offsets.items()})
        if self.on_commit is not None:
            try:
                self.on_commit(plan, result)
            except Exception:  # a notification must never undo or stop a committed load
                log.exception("after-commit hook failed")
        return True

    def _stopped(self, ranges: dict[tuple[str, int], tuple[int, int]], exc: BaseException) -> IngestStopped:
        """An error no record can be blamed for: where ingest stopped and how to step over a record."""
        log.error("ingest stopped at %s", _where(ranges), exc_info=exc)
        first = min(ranges.items(), key=lambda kv: kv[0]) if ranges else None
        example = f"{first[0][0]}:{first[0][1]}:{first[1][0]}" if first else "TOPIC:PARTITION:OFFSET"
        return IngestStopped(
            f"ingest stopped at {_where(ranges)} ({_first_line(exc)}); nothing of this batch was committed. "
            f"If one record causes it, quarantine it with `realise ingest --drain --skip {example}` "
            "(TOPIC:PARTITION:OFFSET, repeatable)")

    def _pending_settled_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self.settle()

    def close(self) -> None:
        if self._pending is not None:
            with contextlib.suppress(Exception):
                self._pending[0].result()  # a commit in flight completes or fails whole; never half
            self._pending = None
        self._committer.shutdown(wait=True)
        self._dead_letters.close()
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                self._consumer.close(autocommit=False)
            self._consumer = None
        self.writer.close()


