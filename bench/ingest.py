"""`realise bench ingest`: raw kafka-python fetch+decode vs validated, exactly-once ingest, one topic.

Both legs read the same records from the same topic with the same consumer settings; the baseline does
nothing but fetch and `json.loads`. The ingest leg runs the real runner (pydantic, Great Expectations,
scrubbing, one transaction per batch with offsets) into a fresh warehouse database. Memory is sampled
during ingest to show whether it grows with the backlog.
"""

from __future__ import annotations

import gc
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psutil
import sqlalchemy as sa
from kafka import TopicPartition

from foundation import kafka as rk
from foundation.config import Settings
from schemas.events import Kind
from schemas.topics import TOPICS


class _MemorySampler(threading.Thread):
    """RSS of this process every 50 ms, to report the peak and the growth across the run."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process()
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        start = time.perf_counter()
        while not self._halt.is_set():
            self.samples.append((time.perf_counter() - start, self.process.memory_info().rss))
            time.sleep(0.05)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _fresh_database(warehouse_url: str) -> str:
    """A new, migrated database beside the configured one, so the benchmark never touches real data."""
    from foundation.database import create_engine
    from warehouse.db import upgrade

    base = sa.engine.make_url(warehouse_url)
    name = f"realise_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    admin.dispose()
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def _drop_database(warehouse_url: str) -> None:
    from foundation.database import create_engine

    url = sa.engine.make_url(warehouse_url)
    admin = create_engine(url.set(database="postgres").render_as_string(hide_password=False))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'drop database if exists "{url.database}" with (force)'))
    admin.dispose()


def raw_fetch_rate(settings: Settings, bootstrap: str, topic: str, expected: int) -> float:
    """Events/s for fetch + json.loads with the consumer settings ingest uses."""
    consumer = rk.consumer(settings, bootstrap, group=None)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        started = time.perf_counter()
        seen = 0
        while seen < expected:
            for messages in consumer.poll(timeout_ms=1000, max_records=settings.ingest.batch_size).values():
                for message in messages:
                    json.loads(message.value)
                seen += sum(1 for _ in messages)
        return expected / (time.perf_counter() - started)
    finally:
        consumer.close()


def run_bench(settings: Settings, events: int, progress: Any = None) -> dict[str, Any]:
    from foundation.database import create_engine
    from foundation.stack import resolve_endpoints
    from ingestion.runner import IngestRunner
    from ingestion.service import quality_gate
    from synthetic import generate_events, generate_trust, serialise

    def say(message: str) -> None:
        if progress is not None:
            progress.print(message)

    endpoints = resolve_endpoints(settings, autostart=True, services={"postgres", "kafka"})
    run_settings = settings.model_copy(deep=True)
    run_settings.kafka.topic_prefix = f"bench{uuid.uuid4().hex[:8]}."
    run_settings.kafka.consumer_group = f"bench-{uuid.uuid4().hex[:8]}"
    topic = run_settings.topic(TOPICS[Kind.FORM_RESPONSE])
    bootstrap = endpoints.kafka_bootstrap

    say(f"generating {events:,} form_response events")
    trust = generate_trust(2000, seed=11)
    generated = generate_events(trust, now=datetime.now(UTC), seed=11, forms=events, tickets=0, training=0, skills=0)
    records = [(run_settings.topic(t), k, v) for t, k, v in map(serialise, generated)]
    event_bytes = sum(len(v) for _, _, v in records) / len(records)
    del generated
    rk.ensure_topics(run_settings, bootstrap, [topic])
    say(f"publishing to {topic} ({run_settings.kafka.partitions} partitions)")
    started = time.perf_counter()
    rk.publish(run_settings, bootstrap, records)
    publish_rate = events / (time.perf_counter() - started)
    del records
    gc.collect()

    say("baseline: kafka-python fetch + json.loads")
    raw_rate = raw_fetch_rate(run_settings, bootstrap, topic, events)

    url = _fresh_database(endpoints.warehouse_url)
    engine = create_engine(url)
    try:
        gate = quality_gate(run_settings)
        say("ingest: validate (pydantic + Great Expectations), load exactly once")
        runner = IngestRunner(run_settings, bootstrap, engine, gate=gate)
        runner.topics = [topic]
        sampler = _MemorySampler()
        sampler.start()
        summary = runner.run("drain")
        sampler.stop()
        with engine.connect() as conn:
            loaded = conn.execute(sa.text("select count(*) from core.fact_form_response")).scalar_one()
    finally:
        engine.dispose()
        _drop_database(url)

    rss = [r for _, r in sampler.samples] or [0]
    quarter = rss[: max(1, len(rss) // 4)]
    ingest_rate = summary.records / summary.seconds if summary.seconds else 0.0
    return {
        "events": events,
        "event_bytes_avg": round(event_bytes),
        "publish_events_per_s": round(publish_rate),
        "raw_fetch_decode_events_per_s": round(raw_rate),
        "ingest_events_per_s": round(ingest_rate),
        "ingest_to_raw_ratio": round(ingest_rate / raw_rate, 3) if raw_rate else 0.0,
        "goal_ratio": 0.8,
        "loaded_rows": loaded,
        "quarantined": summary.quarantined,
        "batch_size": run_settings.ingest.batch_size,
        "ingest_seconds": round(summary.seconds, 2),
        "rss_mib_first_quarter_peak": round(max(quarter) / 2**20, 1),
        "rss_mib_peak": round(max(rss) / 2**20, 1),
        "rss_mib_end": round(rss[-1] / 2**20, 1),
    }
