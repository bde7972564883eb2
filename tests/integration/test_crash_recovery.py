"""Ingest killed with SIGKILL at random moments loses nothing and doubles nothing.

A 50k-event load plus the malformed corpus is published once. `realise ingest` then runs as a real
subprocess, alternating --follow (consumer group, seek on assignment) and --drain (manual assignment),
and is killed with SIGKILL a seeded-random time after it has committed its first batch, several times.
A final `realise ingest --drain` finishes the job. Every valid event must be in the warehouse exactly
once, every invalid record quarantined exactly once, and the stored offsets must equal each partition's end.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from foundation import kafka as rk
from foundation.config import Settings
from foundation.database import create_engine
from synthetic import generate_events, generate_trust, malformed_records, serialise

pytestmark = pytest.mark.integration

SEED = 20_260_611
KILLS = 5
MODES = ("--follow", "--drain")  # alternated: group subscription with seek-on-assign, and manual assignment
BATCH_SIZE = 1000  # more commit points than the default 5000, so kills land between and inside batches
FACT_TABLES = {
    "form_response": "core.fact_form_response",
    "helpdesk_ticket": "core.fact_helpdesk_ticket",
    "training_record": "core.fact_training_record",
    "skills_assessment": "core.fact_skills_assessment",
}
REALISE = str(Path(sys.executable).with_name("realise"))


@dataclass(frozen=True)
class Kill:
    mode: str
    delay: float
    exit_code: int
    raw_events: int
    quarantined: int


def _cli_env(s: Settings, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REALISE_", "PREFECT_"))}
    env.update({
        "REALISE_WAREHOUSE_URL": s.warehouse.url or "",
        "REALISE_KAFKA_BOOTSTRAP": s.kafka.bootstrap or "",
        "REALISE_TOPIC_PREFIX": s.kafka.topic_prefix,
        "REALISE_CONSUMER_GROUP": s.kafka.consumer_group,
        "REALISE_DATA_DIR": str(data_dir),
        "REALISE_INGEST_BATCH_SIZE": str(BATCH_SIZE),
    })
    return env


def _publish(s: Settings, records: list[tuple[str, bytes | None, bytes]]) -> list[tuple[str, int, int]]:
    """Send every record and return (topic, partition, offset) for each, in order."""
    rk.ensure_topics(s, s.kafka.bootstrap)
    producer = rk.producer(s, s.kafka.bootstrap, max_request_size=4 * 1024 * 1024)
    try:
        futures = [producer.send(topic, key=key, value=value) for topic, key, value in records]
        producer.flush()
        metadata = [f.get(timeout=60) for f in futures]
    finally:
        producer.close()
    return [(m.topic, m.partition, m.offset) for m in metadata]


def _scalar(engine: sa.Engine, query: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(query)).scalar_one())


def test_given_a_50k_load_when_ingest_is_sigkilled_repeatedly_then_each_record_lands_exactly_once(
        ingest_settings: Settings, tmp_path: Path) -> None:
    s = ingest_settings
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    trust = generate_trust(2000, seed=SEED)
    events = generate_events(trust, now=now, seed=SEED, forms=15_000, tickets=12_000, training=15_000,
                             skills=8_000)
    corpus = malformed_records(trust, now, SEED)
    records: list[tuple[str, bytes | None, bytes]] = [(s.topic(t), k, v) for t, k, v in map(serialise, events)]
    expected_kinds = Counter(e.kind for e in events)
    expected_ids = {str(e.event_id) for e in events}
    for m in corpus:
        if m.valid:  # hostile but valid (injections, NUL, control characters): loaded like any event
            body = json.loads(m.value)
            expected_kinds[body["kind"]] += 1
            expected_ids.add(body["event_id"])
    # The malformed records are spread through the load, so quarantining happens in many batches.
    positions = sorted(rng.sample(range(len(records) + len(corpus)), len(corpus)))
    is_bad: list[bool] = [False] * len(records)
    for pos, m in zip(positions, corpus, strict=True):
        records.insert(pos, (s.topic(m.topic), m.key, m.value))
        is_bad.insert(pos, not m.valid)
    invalid = sum(not m.valid for m in corpus)
    total = len(expected_ids)
    assert total == len(events) + len(corpus) - invalid == sum(expected_kinds.values())

    started = time.monotonic()
    placed = _publish(s, records)
    ends: dict[tuple[str, int], int] = {}
    for topic, partition, offset in placed:
        ends[(topic, partition)] = max(ends.get((topic, partition), 0), offset + 1)
    bad_positions = {p for p, bad in zip(placed, is_bad, strict=True) if bad}
    print(f"\npublished {len(records):,} records ({invalid} invalid) to {len(ends)} partitions "
          f"in {time.monotonic() - started:.1f} s")

    engine = create_engine(s.warehouse.url or "")
    env = _cli_env(s, tmp_path / "realise")
    kills: list[Kill] = []
    proc: subprocess.Popen[bytes] | None = None
    try:
        for attempt in range(KILLS):
            mode = MODES[attempt % len(MODES)]
            batches_before = _scalar(engine, "select count(*) from ops.ingest_batches")
            log = tmp_path / f"ingest-{attempt}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen([REALISE, "ingest", mode], env=env, cwd=tmp_path, stdout=out,
                                        stderr=subprocess.STDOUT)
            # Wait until this process has committed a batch (a follow consumer first waits out the
            # killed member's 6 s session), or until it can have nothing left to load.
            deadline = time.monotonic() + 60
            committed = False
            while time.monotonic() < deadline and proc.poll() is None:
                if _scalar(engine, "select count(*) from ops.ingest_batches") > batches_before:
                    committed = True
                    break
                if _scalar(engine, "select count(*) from raw.events") == total:
                    break
                time.sleep(0.1)
            delay = rng.uniform(1.5, 6.0)
            if proc.poll() is None:
                time.sleep(delay)
            if proc.poll() is None:  # not reaped yet, so the pid is still this process's
                os.kill(proc.pid, signal.SIGKILL)
            code = proc.wait(timeout=30)
            proc = None
            loaded = _scalar(engine, "select count(*) from raw.events")
            quarantined = _scalar(engine, "select count(*) from ops.quarantine")
            kills.append(Kill(mode, round(delay, 2), code, loaded, quarantined))
            when = "after its first commit" if committed else "after starting (no commit seen)"
            print(f"kill {attempt + 1} ({mode}): {delay:.2f} s {when}, exit {code}; "
                  f"warehouse {loaded:,}/{total:,} events, {quarantined}/{invalid} quarantined")
            # Killed, or (drain only) finished on its own; anything else is a crash of its own making.
            assert code == -signal.SIGKILL or (mode == "--drain" and code == 0), (
                f"ingest {mode} exited {code} before it was killed:\n{log.read_text()[-3000:]}")

        final = subprocess.run([REALISE, "ingest", "--drain", "--json"], env=env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=300)
        assert final.returncode == 0, final.stderr[-2000:]
        assert "Traceback" not in final.stderr
        summary = json.loads(final.stdout)
        print(f"final drain: {summary}")
        print(f"crash recovery took {time.monotonic() - started:.1f} s")

        mid_load = [k for k in kills if 0 < k.raw_events < total]
        assert len(mid_load) >= 2, f"fewer than 2 kills landed mid-load: {kills}"
        assert summary["loaded_total"] == total - kills[-1].raw_events
        assert summary["quarantined"] == invalid - kills[-1].quarantined

        with engine.connect() as conn:
            raw_count, distinct = conn.execute(
                sa.text("select count(*), count(distinct event_id) from raw.events")).one()
            ids = {str(r) for r in conn.execute(sa.text("select event_id from raw.events")).scalars()}
            facts = {kind: conn.execute(sa.text(f"select count(*) from {table}")).scalar_one()
                     for kind, table in FACT_TABLES.items()}
            q_count, q_distinct = conn.execute(sa.text(
                'select count(*), count(distinct (topic, partition, "offset")) from ops.quarantine')).one()
            q_positions = {tuple(r) for r in conn.execute(
                sa.text('select topic, partition, "offset" from ops.quarantine'))}
            batch_loaded, batch_quarantined = conn.execute(sa.text(
                "select sum(loaded), sum(quarantined) from ops.ingest_batches where consumer_group = :g"),
                {"g": s.kafka.consumer_group}).one()
            stored = {(t, p): o for t, p, o in conn.execute(sa.text(
                "select topic, partition, next_offset from ops.ingest_offsets where consumer_group = :g "
                "and next_offset >= 0"), {"g": s.kafka.consumer_group})}

        assert (raw_count, distinct) == (total, total)
        assert ids == expected_ids
        assert facts == {kind: expected_kinds[kind] for kind in FACT_TABLES}
        assert (q_count, q_distinct) == (invalid, invalid)
        assert q_positions == bad_positions
        assert (batch_loaded, batch_quarantined) == (total, invalid)
        assert stored == ends
    finally:
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        engine.dispose()
