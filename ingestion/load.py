"""Write one planned batch to the warehouse in one transaction, offsets included.

Exactly-once rests on three rules: (1) rows and the next offset per partition commit together or not
at all; (2) the stored offset row is locked and checked first, so a record an earlier or concurrent
consumer already committed is skipped (fencing), and a batch that would leave a gap is refused;
(3) every table has a natural key (`event_id`, or topic/partition/offset/digest for quarantine) with
ON CONFLICT DO NOTHING, so even a replay can never double a row.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import Engine

from foundation.quarantine import failure
from ingestion.batch import Bad, BatchPlan, Valid
from ingestion.rows import COPY_TYPES, FACT_COLUMNS, FACT_TABLES
from schemas.events import Kind
from warehouse.losses import BrokerPartition, Loss, find_losses, record, stored_and_published

log = logging.getLogger(__name__)

RAW_COLUMNS = ("event_id", "kind", "source", "source_record_id", "record_version", "occurred_at", "ingested_at",
               "topic", "partition", "offset", "envelope")
QUARANTINE_COLUMNS = ("topic", "partition", "offset", "key", "raw", "raw_sha256", "raw_size", "kind", "source",
                      "event_id", "stage", "reasons")
# Quarantine keeps whatever id a rejected record named, as text: it may not be a valid UUID.
QUARANTINE_TYPES = {"event_id": "text"}
_JSON_COLUMNS = {"likert", "scores"}
NO_OFFSET = -1
_RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
# A value the server or the COPY encoder will not take: blamed on records, never on the warehouse.
_REFUSED_VALUE = (psycopg.DataError, psycopg.IntegrityError, UnicodeEncodeError, OverflowError, ValueError,
                  TypeError)


class OffsetGap(RuntimeError):
    """The batch starts after the stored offset: records in between were never read. Re-seek and retry."""

    def __init__(self, gaps: dict[tuple[str, int], int]) -> None:
        self.gaps = gaps
        super().__init__(", ".join(f"{t}[{p}] stored {o}" for (t, p), o in gaps.items()))


@dataclass
class CommitResult:
    loaded: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    quarantined: int = 0
    skipped: int = 0  # records at offsets an earlier commit already covered
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    max_occurred_at: datetime | None = None
    quarantined_records: list[Bad] = field(default_factory=list)

    @property
    def loaded_total(self) -> int:
        return sum(self.loaded.values())


class WarehouseWriter:
    """Owns one database connection and writes batches for one consumer group."""

    def __init__(self, engine: Engine, consumer_group: str) -> None:
        self.engine = engine
        self.group = consumer_group
        self._conn: psycopg.Connection[Any] | None = None
        self.topic_ids: dict[str, str] = {}
        self.pull_sources: list[str] = []  # sources a lost record can be published again from
        self.losses: list[Loss] = []  # found by this writer, for the run's summary

    @property
    def address(self) -> str:
        """The warehouse URL without its password, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            url = self.engine.url.set(drivername="postgresql")
            self._conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=False,
                                         application_name="realise-ingest")
            self._create_temp_tables(self._conn)
        return self._conn

    def close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()

    @staticmethod
    def _create_temp_tables(conn: psycopg.Connection[Any]) -> None:
        with conn.cursor() as cur:
            cur.execute("create temp table tmp_raw (like raw.events including defaults) on commit delete rows")
            cur.execute("create temp table tmp_quarantine (like ops.quarantine including defaults) "
                        "on commit delete rows")
            for kind in Kind:
                cur.execute(sql.SQL("create temp table {} (like {} including defaults) on commit delete rows")
                            .format(sql.Identifier(f"tmp_{kind.value}"), _table(FACT_TABLES[kind])))
        conn.commit()

    def stored_offsets(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Next offset to read per partition, as committed; partitions never committed are absent.

        Partitions whose topic has a new id (deleted and recreated, or the embedded broker restarted without
        disk) are reconciled first: the loss is recorded and the new topic is read from the start.
        """
        parts = sorted(set(partitions))
        if not parts:
            return {}
        if self.topic_ids:
            self.reconcile({tp: BrokerPartition(self.topic_ids.get(tp[0])) for tp in parts})
        conn = self._connection()
        with conn.cursor() as cur:
            cur.execute(
                "select topic, partition, next_offset from ops.ingest_offsets "
                "where consumer_group = %s and (topic, partition) in (select * from unnest(%s::text[], %s::int[])) "
                "and next_offset >= 0", (self.group, [t for t, _ in parts], [p for _, p in parts]))
            rows = cur.fetchall()
        conn.commit()
        return {(t, p): o for t, p, o in rows}

    def reconcile(self, broker: dict[tuple[str, int], BrokerPartition]) -> list[Loss]:
        """Compare what was read with what the broker holds; record any loss and where to read on."""
        with self.engine.begin() as conn:
            stored, published = stored_and_published(conn, self.group, sorted({t for t, _ in broker}))
            found = find_losses(stored, published, broker)
            record(conn, self.group, found, self.pull_sources)
        for loss in found:
            if loss.lost == 0:
                log.info("%s[%d] was recreated after everything published to it was read", loss.topic,
                         loss.partition)
            else:
                log.error("%s", loss.message())
        lost = [loss for loss in found if loss.lost != 0]
        self.losses.extend(lost)
        return found

    def commit(self, plan: BatchPlan, attempts: int = 3) -> CommitResult:
        isolated = False
        for attempt in range(1, attempts + 1):
            try:
                return self._commit_once(plan)
            except _RETRYABLE as exc:
                self._connection().rollback()
                if attempt == attempts:
                    raise
                log.warning("batch transaction conflicted (%s); retrying", type(exc).__name__)
                time.sleep(0.05 * attempt)
            except _REFUSED_VALUE as exc:
                # The contract should make every value storable; if one is not, that record is quarantined
                # and the rest of the batch commits, rather than the batch failing on every run.
                if isolated or not self._quarantine_refused(plan):
                    raise
                log.warning("the warehouse refused a value (%s); those records are quarantined",
                            type(exc).__name__)
                isolated = True
        raise AssertionError("unreachable")

    def _quarantine_refused(self, plan: BatchPlan) -> int:
        """Try each record's rows alone (a savepoint each, all rolled back) and quarantine those refused."""
        conn = self._connection()
        if not conn.closed:
            conn.rollback()
        moved = 0
        with conn.cursor() as cur:
            for kind, items in plan.valid.items():
                kept = []
                for item in items:
                    cols = FACT_COLUMNS[kind]
                    try:
                        with conn.transaction():
                            self._copy(cur, "tmp_raw", RAW_COLUMNS, [_raw_row(item)])
                            self._copy(cur, f"tmp_{kind.value}", cols, [_fact_row(item.row, cols)])
                    except _REFUSED_VALUE as exc:
                        moved += 1
                        plan.bad.append(Bad(item.record, "load", [failure("storing", exc)], kind.value,
                                            item.event.source, str(item.event.event_id)))
                    else:
                        kept.append(item)
                plan.valid[kind] = kept
            for i, bad in enumerate(plan.bad):
                try:
                    with conn.transaction():
                        self._copy(cur, "tmp_quarantine", QUARANTINE_COLUMNS, [_quarantine_row(bad)],
                                   QUARANTINE_TYPES)
                except _REFUSED_VALUE as exc:
                    moved += 1
                    plan.bad[i] = Bad(bad.record, bad.stage[:16], [failure("storing the reasons", exc)])
        conn.rollback()
        return moved

    def _commit_once(self, plan: BatchPlan) -> CommitResult:
        conn = self._connection()
        result = CommitResult()
        try:
            with conn.cursor() as cur:
                stored = self._lock_offsets(cur, plan.ranges)
                gaps = {tp: s for tp, s in stored.items() if s != NO_OFFSET and s < plan.ranges[tp][0]}
                if gaps:
                    raise OffsetGap(gaps)

                def fresh(rec: Any) -> bool:
                    return rec.offset >= stored[(rec.topic, rec.partition)]

                valid = {k: [v for v in items if fresh(v.record)] for k, items in plan.valid.items()}
                bad = [b for b in plan.bad if fresh(b.record)]
                kept = sum(len(v) for v in valid.values()) + len(bad)
                result.skipped = plan.valid_count + len(plan.bad) - kept

                all_valid = [v for items in valid.values() for v in items]
                if all_valid:
                    self._copy(cur, "tmp_raw", RAW_COLUMNS, (_raw_row(v) for v in all_valid))
                    cur.execute("insert into raw.events select * from tmp_raw on conflict (event_id) do nothing")
                    new_raw = cur.rowcount
                    result.duplicates = len(all_valid) - new_raw + plan.repeated
                    for kind, items in valid.items():
                        if not items:
                            continue
                        cols = FACT_COLUMNS[kind]
                        self._copy(cur, f"tmp_{kind.value}", cols, (_fact_row(v.row, cols) for v in items))
                        cur.execute(sql.SQL("insert into {t} ({c}) select {c} from {tmp} "
                                            "on conflict (event_id) do nothing").format(
                            t=_table(FACT_TABLES[kind]), c=sql.SQL(", ").join(map(sql.Identifier, cols)),
                            tmp=sql.Identifier(f"tmp_{kind.value}")))
                        result.loaded[kind.value] = cur.rowcount
                    people = [v for v in all_valid if v.event.kind != Kind.RETRACTION]
                    if people:
                        self._upsert_dimensions(cur, people)
                    result.max_occurred_at = max(v.row["occurred_at"] for v in all_valid)
                else:
                    result.duplicates = plan.repeated
                if bad:
                    self._copy(cur, "tmp_quarantine", QUARANTINE_COLUMNS, (_quarantine_row(b) for b in bad),
                               QUARANTINE_TYPES)
                    columns = sql.SQL(", ").join(map(sql.Identifier, QUARANTINE_COLUMNS))
                    cur.execute(sql.SQL(
                        "insert into ops.quarantine ({c}) select {c} from tmp_quarantine "
                        "on conflict (topic, partition, \"offset\", raw_sha256) do nothing").format(c=columns))
                    result.quarantined = cur.rowcount
                    result.quarantined_records = bad

                result.next_offsets = {tp: last + 1 for tp, (_, last) in plan.ranges.items()
                                       if last + 1 > stored[tp]}
                for (topic, partition), nxt in result.next_offsets.items():
                    cur.execute("update ops.ingest_offsets set next_offset = %s, topic_id = %s, updated_at = now() "
                                "where consumer_group = %s and topic = %s and partition = %s",
                                (nxt, self.topic_ids.get(topic), self.group, topic, partition))
                cur.execute(
                    "insert into ops.ingest_batches (consumer_group, records, loaded, duplicates, quarantined, "
                    "loaded_by_kind, max_occurred_at) values (%s, %s, %s, %s, %s, %s, %s) returning id",
                    (self.group, plan.records, result.loaded_total, result.duplicates, result.quarantined,
                     json.dumps(result.loaded), result.max_occurred_at))
                batch_id = cur.fetchone()[0]  # type: ignore[index]
                if kept and plan.validations:  # a batch read again after a crash is not validated twice
                    self._store_validations(cur, batch_id, plan.validations)
            conn.commit()
        except BaseException:
            if not conn.closed:
                conn.rollback()
            raise
        return result

    @staticmethod
    def _store_validations(cur: psycopg.Cursor[Any], batch_id: int, summaries: list[dict[str, Any]]) -> None:
        """One ops.validation_results row per kind, in the batch's transaction: results match what loaded."""
        cur.executemany(
            "insert into ops.validation_results (batch_id, kind, suite, records, failed_records, success, "
            "expectations) values (%s, %s, %s, %s, %s, %s, %s::jsonb)",
            [(batch_id, v["kind"], v["suite"], v["records"], v["failed_records"], v["success"],
              json.dumps(v["expectations"])) for v in summaries])

    def _lock_offsets(self, cur: psycopg.Cursor[Any], ranges: dict[tuple[str, int], tuple[int, int]]
                      ) -> dict[tuple[str, int], int]:
        parts = sorted(ranges)
        topics, partitions = [t for t, _ in parts], [p for _, p in parts]
        cur.execute(
            "insert into ops.ingest_offsets (consumer_group, topic, partition, next_offset) "
            "select %s, t, p, -1 from unnest(%s::text[], %s::int[]) as x(t, p) order by t, p "
            "on conflict do nothing", (self.group, topics, partitions))
        cur.execute(
            "select topic, partition, next_offset from ops.ingest_offsets where consumer_group = %s "
            "and (topic, partition) in (select * from unnest(%s::text[], %s::int[])) "
            "order by topic, partition for update", (self.group, topics, partitions))
        return {(t, p): o for t, p, o in cur.fetchall()}

    @staticmethod
    def _copy(cur: psycopg.Cursor[Any], table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
              types: dict[str, str] | None = None) -> None:
        """Binary COPY: about twice as fast as text for both the client and the server."""
        stmt = sql.SQL("copy {} ({}) from stdin (format binary)").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
        pg_types = [(types or {}).get(c) or COPY_TYPES[c] for c in columns]
        with cur.copy(stmt) as copy:
            copy.set_types(["bytea" if t == "jsonb" else t for t in pg_types])
            for row in rows:
                copy.write_row(row)

    @staticmethod
    def _upsert_dimensions(cur: psycopg.Cursor[Any], items: list[Valid]) -> None:
        units: dict[str, list[str]] = {}
        groups, systems, waves = set(), set(), set()
        staff: dict[str, tuple[Any, ...]] = {}
        for v in items:
            r = v.row
            units.setdefault(r["org_unit"], r["org_path"])
            groups.add(r["staff_group"])
            systems.add(r["system"])
            if r["go_live_wave"]:
                waves.add(r["go_live_wave"])
            prev = staff.get(r["pseudonym"])
            if prev is None or r["occurred_at"] > prev[5]:
                first = prev[4] if prev else r["occurred_at"]
                staff[r["pseudonym"]] = (r["pseudonym"], r["org_unit"], r["staff_group"], r["system"],
                                         min(first, r["occurred_at"]), r["occurred_at"], r["go_live_wave"])
        # Ancestors named in paths become units too, each knowing its own parent.
        nodes: dict[str, tuple[str | None, list[str]]] = {}
        for unit, path in units.items():
            chain = [*path, unit]
            for depth, code in enumerate(chain):
                nodes.setdefault(code, (chain[depth - 1] if depth else None, chain[:depth]))
        ordered = sorted(nodes.items())
        cur.execute(
            "insert into core.dim_org_unit (org_unit, parent, level, path) "
            "select u, p, l, coalesce(string_to_array(nullif(pa, ''), chr(31)), '{}') "
            "from unnest(%s::text[], %s::text[], %s::int[], %s::text[]) as x(u, p, l, pa) "
            "on conflict (org_unit) do nothing",
            ([c for c, _ in ordered], [p for _, (p, _) in ordered], [len(path) for _, (_, path) in ordered],
             ["\x1f".join(path) for _, (_, path) in ordered]))
        cur.execute("insert into core.dim_staff_group select unnest(%s::text[]) order by 1 on conflict do nothing",
                    (sorted(groups),))
        cur.execute("insert into core.dim_system select unnest(%s::text[]) order by 1 on conflict do nothing",
                    (sorted(systems),))
        if waves:
            cur.execute("insert into core.dim_wave (go_live_wave) select unnest(%s::text[]) order by 1 "
                        "on conflict do nothing", (sorted(waves),))
        rows = sorted(staff.values())
        cur.execute(
            "insert into core.dim_staff (pseudonym, org_unit, staff_group, system, first_seen_at, last_seen_at, "
            "go_live_wave) select * from unnest(%s::text[], %s::text[], %s::text[], %s::text[], "
            "%s::timestamptz[], %s::timestamptz[], %s::text[]) order by 1 "
            "on conflict (pseudonym) do update set "
            "first_seen_at = least(core.dim_staff.first_seen_at, excluded.first_seen_at), "
            "last_seen_at = excluded.last_seen_at, org_unit = excluded.org_unit, "
            "staff_group = excluded.staff_group, system = excluded.system, go_live_wave = excluded.go_live_wave "
            "where core.dim_staff.last_seen_at < excluded.last_seen_at",
            [list(col) for col in zip(*rows, strict=True)])


def _table(dotted: str) -> sql.Composable:
    schema, name = dotted.split(".")
    return sql.Identifier(schema, name)


def _jsonb(text: str) -> bytes:
    """jsonb's binary wire format: version 1, then the JSON text."""
    return b"\x01" + text.encode("utf-8")


def _raw_row(v: Valid) -> tuple[Any, ...]:
    e, r = v.event, v.record
    return (e.event_id, e.kind, e.source, e.source_record_id, e.record_version, v.row["occurred_at"],
            v.row["ingested_at"], r.topic, r.partition, r.offset, _jsonb(v.envelope))


def _fact_row(row: dict[str, Any], columns: Sequence[str]) -> tuple[Any, ...]:
    return tuple(_jsonb(json.dumps(row[c])) if c in _JSON_COLUMNS else row[c] for c in columns)


def _quarantine_row(b: Bad) -> tuple[Any, ...]:
    r = b.record
    return (r.topic, r.partition, r.offset, r.key, b.raw, b.raw_sha256, len(b.raw), b.kind, b.source,
            b.event_id, b.stage, b.reasons)


def utcnow() -> datetime:
    return datetime.now(UTC)
