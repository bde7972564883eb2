"""Loss is loud: a broker that restarts without its data, or dies during a drain, is never a quiet exit 0.

Each test runs a Tansu broker of its own (the embedded broker keeps no disk, so a restart empties it: the
real failure) against a warehouse of its own.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.core.pull import acked_topic_id
from foundation import kafka as rk
from foundation.config import Settings
from foundation.database import create_engine
from foundation.errors import UserError
from foundation.stack import EmbeddedKafka
from ingestion.health import lost_events
from ingestion.runner import IngestRunner
from ingestion.runner import problems as ingest_problems
from synthetic import generate_events, generate_trust, serialise
from tests.conftest import free_port
from warehouse.losses import mark_replayed, record_published

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(tmp_path: Path):  # noqa: ANN201
    kafka = EmbeddedKafka(tmp_path / "kafka", free_port())
    kafka.start()
    yield kafka
    kafka.stop()


def _settings(warehouse_url: str, bootstrap: str, sources: list[str]) -> Settings:
    return Settings.model_validate({
        "warehouse": {"url": warehouse_url},
        "kafka": {"bootstrap": bootstrap, "consumer_group": f"g{uuid.uuid4().hex[:8]}"},
        "prefect": {"emit_events": False},
        "sources": {name: {"type": "csvdrop", "path": "/nonexistent"} for name in sources},
    })


def _events(seed: int, forms: int) -> list:
    trust = generate_trust(200, seed=seed)
    return generate_events(trust, now=datetime.now(UTC), seed=seed, forms=forms, tickets=0, training=0, skills=0)


def _publish_as_a_connector(s: Settings, engine: sa.Engine, events: list) -> Counter:
    """Send and record acknowledged offsets the way connectors do; returns events per partition."""
    rk.ensure_topics(s, s.kafka.bootstrap)
    producer = rk.producer(s, s.kafka.bootstrap)
    try:
        futures = [producer.send(s.topic(t), key=k, value=v) for t, k, v in map(serialise, events)]
        producer.flush()
        acked: dict[tuple[str, int, str], int] = {}
        per_partition: Counter = Counter()
        for f in futures:
            meta = f.get(timeout=30)
            at = (meta.topic, meta.partition, acked_topic_id(producer, meta.topic))
            acked[at] = max(acked.get(at, 0), meta.offset + 1)
            per_partition[(meta.topic, meta.partition)] += 1
    finally:
        producer.close()
    with engine.begin() as conn:
        record_published(conn, acked)
    return per_partition


def _drain(s: Settings, engine: sa.Engine, gate):  # noqa: ANN001, ANN202
    return IngestRunner(s, s.kafka.bootstrap, engine, gate=gate).run("drain")


def test_given_published_events_and_a_broker_restart_when_drained_then_the_loss_is_counted_and_replay_is_named(
        warehouse_url, broker, gate):
    first, lost, after = _events(1, 120), _events(2, 90), _events(3, 40)
    sources = sorted({e.source for e in first + lost})
    s = _settings(warehouse_url, broker.bootstrap, sources)
    engine = create_engine(warehouse_url)

    _publish_as_a_connector(s, engine, first)
    assert _drain(s, engine, gate).loaded_total == len(first)
    _publish_as_a_connector(s, engine, lost)

    broker.stop()
    broker.start()  # no disk: every topic and record is gone

    before = lost_events(s, warehouse_url, broker.bootstrap)
    assert not before.recorded
    assert sum(loss.lost or 0 for loss in before.pending) == len(lost)
    assert all("realise pull" in line for line in before.lines())

    _publish_as_a_connector(s, engine, after)
    summary = _drain(s, engine, gate)

    assert summary.loaded_total == len(after)
    assert sum(loss.lost or 0 for loss in summary.losses) == len(lost)
    assert {loss.cause for loss in summary.losses} == {"recreated"}
    problems = ingest_problems(summary.as_dict())
    assert problems and all("were lost" in p and "--since" in p for p in problems)
    for source in sources:
        assert any(f"realise pull {source} --since" in p for p in problems)

    # status and doctor keep saying so until the named pulls have run
    report = lost_events(s, warehouse_url, broker.bootstrap)
    assert sum(loss.lost or 0 for loss in report.recorded) == len(lost)
    assert not report.pending
    assert _drain(s, engine, gate).losses == []  # recorded once, not again

    replay = report.recorded[0].replay
    with engine.begin() as conn:
        for source in sources[:-1]:
            mark_replayed(conn, source, replay[source])
    assert lost_events(s, warehouse_url, None).recorded  # one source still to replay
    with engine.begin() as conn:
        mark_replayed(conn, sources[-1], "1999-01-01")
    assert not lost_events(s, warehouse_url, None).recorded
    engine.dispose()


def test_given_a_drain_in_progress_when_the_broker_dies_then_it_stops_with_one_line_naming_the_broker(
        warehouse_url, broker, gate):
    events = _events(4, 20_000)
    s = _settings(warehouse_url, broker.bootstrap, []).model_copy(deep=True)
    s.ingest.batch_size = 200
    engine = create_engine(warehouse_url)
    _publish_as_a_connector(s, engine, events)

    runner = IngestRunner(s, s.kafka.bootstrap, engine, gate=gate)
    outcome: dict[str, object] = {}

    def drain() -> None:
        try:
            outcome["summary"] = runner.run("drain")
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    def first_batch_committed(_plan, _result) -> None:  # noqa: ANN001
        if not stopped.is_set():
            stopped.set()
            broker.stop()

    stopped = threading.Event()
    runner.on_commit = first_batch_committed
    thread = threading.Thread(target=drain)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the drain did not stop after its broker died"
    error = outcome.get("error")
    assert isinstance(error, UserError), f"expected a one-line user error, got {outcome!r}"
    message = str(error)
    assert "\n" not in message and broker.bootstrap in message and "run ingest again" in message
    with engine.connect() as conn:
        loaded = conn.execute(sa.text("select count(*) from raw.events")).scalar_one()
    assert 0 < loaded < len(events)
    engine.dispose()
