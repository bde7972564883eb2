"""Faults a user meets at ingest end in one line and a non-zero exit, never a traceback or a quiet exit 0.

PostgreSQL dying mid-drain runs against a server of its own; the CLI cases run the installed console script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from foundation import kafka as rk
from foundation.config import Settings
from foundation.database import create_engine
from foundation.errors import ServiceUnavailable
from foundation.stack import EmbeddedPostgres
from ingestion.runner import IngestRunner
from synthetic import generate_events, generate_trust, serialise
from tests.conftest import free_port
from warehouse.db import upgrade

pytestmark = pytest.mark.integration
REALISE = str(Path(sys.executable).with_name("realise"))


def _events(seed: int, forms: int) -> list:
    trust = generate_trust(200, seed=seed)
    return generate_events(trust, now=datetime.now(UTC), seed=seed, forms=forms, tickets=0, training=0, skills=0)


def test_given_a_drain_in_progress_when_postgresql_dies_then_one_line_names_the_warehouse_and_the_batch(
        tmp_path, kafka_bootstrap, gate):
    server = EmbeddedPostgres(tmp_path / "pg", free_port())
    server.start()
    try:
        url = server.admin_url("postgres")
        engine = create_engine(url)
        upgrade(engine)
        s = Settings.model_validate({
            "warehouse": {"url": url}, "prefect": {"emit_events": False},
            "kafka": {"bootstrap": kafka_bootstrap, "topic_prefix": f"p{uuid.uuid4().hex[:10]}.",
                      "consumer_group": f"g{uuid.uuid4().hex[:8]}"},
            "ingest": {"batch_size": 100}})
        rk.ensure_topics(s, kafka_bootstrap)
        rk.publish(s, kafka_bootstrap, [(s.topic(t), k, v) for t, k, v in map(serialise, _events(5, 2000))])
        runner = IngestRunner(s, kafka_bootstrap, engine, gate=gate)
        killed = threading.Event()

        def kill_after_first_commit(_plan, _result) -> None:  # noqa: ANN001
            if not killed.is_set():
                killed.set()
                server.stop()

        runner.on_commit = kill_after_first_commit
        with pytest.raises(ServiceUnavailable) as caught:
            runner.run("drain")
        message = str(caught.value)
        assert "\n" not in message
        assert "warehouse" in message and "run ingest again" in message
        assert "***" in message or "@" not in message  # the password is not shown
        engine.dispose()
    finally:
        server.stop()


def _realise(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REALISE_")}
    clean.update(env)
    return subprocess.run([REALISE, *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=180)


def test_given_a_poison_record_and_a_skip_when_ingested_from_the_cli_then_it_is_quarantined_and_the_run_exits_0(
        tmp_path, ingest_settings):
    s = ingest_settings
    good = [(s.topic(t), k, v) for t, k, v in map(serialise, _events(6, 30))]
    deep = b'{"a": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    topic = good[0][0]
    rk.ensure_topics(s, s.kafka.bootstrap)
    producer = rk.producer(s, s.kafka.bootstrap)
    try:
        first = producer.send(topic, value=deep, partition=0).get(timeout=30)
        producer.send(topic, value=b"{}", partition=0).get(timeout=30)
    finally:
        producer.close()
    rk.publish(s, s.kafka.bootstrap, good)
    env = {"REALISE_WAREHOUSE_URL": s.warehouse.url, "REALISE_KAFKA_BOOTSTRAP": s.kafka.bootstrap,
           "REALISE_TOPIC_PREFIX": s.kafka.topic_prefix, "REALISE_CONSUMER_GROUP": s.kafka.consumer_group}

    bad_skip = _realise(tmp_path, "ingest", "--drain", "--skip", "nonsense", **env)
    assert bad_skip.returncode == 2 and "TOPIC:PARTITION:OFFSET" in bad_skip.stderr
    assert "Traceback" not in bad_skip.stderr

    run = _realise(tmp_path, "ingest", "--drain", "--json", "--skip", f"{topic}:0:{first.offset}", **env)
    assert run.returncode == 0, run.stderr[-2000:]
    summary = json.loads(run.stdout)
    assert summary["records"] == len(good) + 2
    assert summary["loaded_total"] + summary["quarantined"] + summary["duplicates"] == len(good) + 2
    engine = create_engine(s.warehouse.url)
    with engine.connect() as conn:
        stages = sorted(conn.execute(sa.text("select stage from analytics.quarantine")).scalars())
    engine.dispose()
    assert stages == ["contract", "skipped"]
