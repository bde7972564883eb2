"""One pull of one source: read pages, map records to events, publish, and only then advance state.

Per page: build events (records that cannot be mapped are quarantined with the reason and a redacted copy),
send them keyed by org unit and wait for the broker's acknowledgement of every one, then store the
quarantine rows and the page's state in one warehouse transaction. A crash before that transaction means
the page is read again next time; its events get the same ids and dedupe in ingest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from kafka import KafkaProducer
from sqlalchemy.engine import Engine

from connectors.core.build import EventBuilder
from connectors.core.identity import StaffResolver
from connectors.core.state import StateStore
from connectors.core.stream import MappingError, Page, PullContext, Source, StaffRecord, Stream, source_type
from foundation.errors import SourceError
from foundation.privacy import scrub
from foundation.quarantine import bounded
from foundation.source_config import SourceConfig
from schemas.events import Event, Kind
from schemas.topics import TOPICS, partition_key
from warehouse.directory import load_directory
from warehouse.losses import mark_replayed, record_published

log = logging.getLogger(__name__)


@dataclass
class StreamResult:
    stream: str
    kind: str | None = None
    pages: int = 0
    records: int = 0
    published: int = 0
    skipped: int = 0
    rejected: int = 0
    unmatched_staff: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    rejections: list[str] = field(default_factory=list)


@dataclass
class PullResult:
    source: str
    type: str
    since: str | None
    streams: list[StreamResult]
    seconds: float = 0.0
    requests: int = 0
    retries: int = 0

    @property
    def published(self) -> int:
        return sum(s.published for s in self.streams)

    @property
    def records(self) -> int:
        return sum(s.records for s in self.streams)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(published=self.published, records=self.records)
        return data


def redact(record: Any, identifier_fields: tuple[str, ...]) -> Any:
    """A copy fit for quarantine: identifier fields blanked, every string scrubbed."""
    if isinstance(record, dict):
        return {k: "[identifier]" if k in identifier_fields and v not in (None, "")
                else redact(v, identifier_fields) for k, v in record.items()}
    if isinstance(record, list):
        return [redact(v, identifier_fields) for v in record]
    if isinstance(record, str):
        return scrub(record)
    return record


def routed(event: Event, prefix: str = "") -> tuple[str, bytes]:
    """(topic, key) of an event: its kind's topic; keyed by org unit (one unit, one partition) or, for a
    retraction, which names no person, by the retracted record's id."""
    topic = f"{prefix}{TOPICS[Kind(event.kind)]}"
    if event.kind == Kind.RETRACTION:
        return topic, partition_key(event.source_record_id)
    return topic, partition_key(event.payload.person.org_unit)


def acked_topic_id(producer: Any, topic: str) -> str:
    """The broker's id for `topic` as the producer last saw it ('' if the broker gives none)."""
    try:
        topic_id = producer._metadata.topic_id(topic)  # kafka-python keeps ids from metadata responses here
    except AttributeError:
        return ""
    return str(topic_id) if topic_id else ""


def build_source(name: str, config: SourceConfig, context: PullContext) -> Source:
    return source_type(name, config.type)(name, config, context)


class Puller:
    """Runs sources against one producer and one warehouse; `pull` is one source, all its streams."""

    def __init__(self, engine: Engine, producer: KafkaProducer | None, *, key: bytes, topic_prefix: str = "",
                 progress: Callable[[str, int], None] | None = None) -> None:
        self.engine, self.producer, self.key, self.prefix = engine, producer, key, topic_prefix
        self.store = StateStore(engine)
        self.progress = progress

    def pull(self, name: str, config: SourceConfig, *, since: datetime | None = None) -> PullResult:
        started = time.perf_counter()
        now = datetime.now(UTC)
        source = build_source(name, config, PullContext(run_started=now, since=since))
        resolver = StaffResolver.from_warehouse(self.engine, self.key)
        builder = EventBuilder(name, resolver, system=config.system, ingested_at=now)
        result = PullResult(name, config.type, since.isoformat() if since else None, [])
        try:
            for stream in source.streams:
                result.streams.append(self._stream(source, stream, builder))
            if since is not None:
                with self.engine.begin() as conn:
                    mark_replayed(conn, name, since.date().isoformat())
        finally:
            client = getattr(source, "client", None)
            result.requests = getattr(client, "requests", 0)
            result.retries = getattr(client, "retries", 0)
            source.close()
        result.seconds = round(time.perf_counter() - started, 3)
        return result

    def _stream(self, source: Source, stream: Stream, builder: EventBuilder) -> StreamResult:
        res = StreamResult(stream.name, stream.kind.value if stream.kind else None)
        state = self.store.get(source.name, stream.name)
        res.state = state
        staff: list[StaffRecord] = []
        unmatched_before = len(builder.unmatched)
        for page in source.read(stream, dict(state)):
            res.pages += 1
            res.records += len(page.records)
            if stream.kind is None:
                staff.extend(self._staff(source, stream, page, builder, res))
                continue
            self._publish_page(source, stream, page, builder, res)
            if self.progress:
                self.progress(f"{source.name}/{stream.name}", res.records)
        if stream.kind is None:
            self._load_directory(source, stream, staff, res)
        res.unmatched_staff = len(builder.unmatched) - unmatched_before
        return res

    def _publish_page(self, source: Source, stream: Stream, page: Page, builder: EventBuilder,
                      res: StreamResult) -> None:
        assert stream.kind is not None
        rejects: list[tuple[dict[str, Any], str]] = []
        futures = []
        for record in page.records:
            try:
                event = source.map(stream, record, builder)
            except MappingError as exc:
                rejects.append((record, str(exc)))
                continue
            if event is None:
                res.skipped += 1
                continue
            if self.producer is None:
                raise SourceError("no Kafka producer: events cannot be published")
            topic, key = routed(event, self.prefix)
            futures.append(self.producer.send(topic, key=key, value=event.model_dump_json().encode()))
        acked: dict[tuple[str, int, str], int] = {}
        if futures:
            self.producer.flush()
            for future in futures:
                meta = future.get(timeout=60)  # raises if the broker did not acknowledge: state stays put
                at = (meta.topic, meta.partition, acked_topic_id(self.producer, meta.topic))
                acked[at] = max(acked.get(at, 0), meta.offset + 1)
        res.published += len(futures)
        with self.engine.begin() as conn:
            record_published(conn, acked)
            self._quarantine(conn, source, stream, rejects, res)
            if page.state is not None:
                res.state = self.store.save(conn, source.name, stream.name, page.state, len(page.records))

    def quarantine(self, source: Source, stream: Stream, rejects: list[tuple[dict[str, Any], str]]) -> None:
        """Store records that cannot be mapped, outside a pull (push sources: the webhook receiver)."""
        with self.engine.begin() as conn:
            self._quarantine(conn, source, stream, rejects, StreamResult(stream.name))

    def _quarantine(self, conn: sa.Connection, source: Source, stream: Stream,
                    rejects: list[tuple[dict[str, Any], str]], res: StreamResult) -> None:
        for record, reason in rejects:
            raw = json.dumps(redact(record, source.identifier_fields), sort_keys=True, default=str).encode()
            record_id = source.record_id(stream, record)
            conn.execute(sa.text(
                'insert into ops.quarantine (topic, partition, "offset", key, raw, raw_sha256, raw_size, kind, '
                "source, event_id, stage, reasons) values (:topic, 0, 0, :key, :raw, :sha, :size, :kind, :source, "
                "null, 'connector', :reasons) on conflict do nothing"),
                {"topic": f"source:{source.name}/{stream.name}", "key": record_id.encode()[:256], "raw": raw,
                 "sha": hashlib.sha256(raw).hexdigest(), "size": len(raw),
                 "kind": stream.kind.value if stream.kind else None, "source": source.name,
                 "reasons": bounded([f"record {record_id}: {reason}"])})
            res.rejected += 1
            if len(res.rejections) < 20:
                res.rejections.append(f"{record_id}: {reason}")

    def _staff(self, source: Source, stream: Stream, page: Page, builder: EventBuilder,
               res: StreamResult) -> list[StaffRecord]:
        rows: list[StaffRecord] = []
        rejects: list[tuple[dict[str, Any], str]] = []
        for record in page.records:
            try:
                rows.append(source.map_staff(stream, record, builder))
            except MappingError as exc:
                rejects.append((record, str(exc)))
        if rejects:
            with self.engine.begin() as conn:
                self._quarantine(conn, source, stream, rejects, res)
        res.published += len(rows)
        return rows

    def _load_directory(self, source: Source, stream: Stream, staff: list[StaffRecord], res: StreamResult) -> None:
        aliases = {alias: r.entry.pseudonym for r in staff for alias in r.alias_pseudonyms
                   if alias != r.entry.pseudonym}
        load_directory(self.engine, [r.entry for r in staff], aliases)
        with self.engine.begin() as conn:
            state = {"cursor": datetime.now(UTC).isoformat(), "staff": len(staff)}
            res.state = self.store.save(conn, source.name, stream.name, state, len(staff))
