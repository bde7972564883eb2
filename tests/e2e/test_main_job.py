"""The main job end to end: `realise demo` starts its own stack, publishes, ingests via Prefect, summarises.

Runs the installed console script twice against one data directory on free ports: the second run
publishes the same day's events again and must load nothing new. `realise down` always runs at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import free_ports

from flows.demo import demo_now
from foundation.config import Settings, StackSettings
from foundation.stack import Stack
from synthetic import generate_trust, malformed_records

pytestmark = pytest.mark.e2e

REALISE = str(Path(sys.executable).with_name("realise"))
STAFF, SEED = 2000, 7  # the demo's defaults
KINDS = {"form_response", "helpdesk_ticket", "training_record", "skills_assessment"}
SOURCES = {"directory", "servicenow", "jira", "zendesk", "xapi", "moodle", "msforms", "googleforms", "csvdrop",
           "qualtrics", "webhook"}


def _assert_no_raw_identifiers(env: dict[str, str], cwd: Path, postgres: int, kafka: int, corpus: list[Any]) -> None:
    """No simulated staff member's e-mail, username, staff number or name in any message or warehouse table.

    The injected hostile corpus is excluded: it plays a producer that ignores the rules (one record carries a
    raw e-mail address as its pseudonym, and must be quarantined, raw bytes and all, for review).
    """
    import re

    import sqlalchemy as sa
    from kafka import KafkaConsumer, TopicPartition

    from simulator.world import World

    world = World.generate(staff=STAFF, seed=SEED, now=demo_now())
    secrets = {v.lower() for i in world.identities.values()
               for v in (i.email, i.username, i.employee_number, i.display_name)}
    hostile_values = {m.value for m in corpus}
    token = re.compile(r"staff member \d+|[a-z0-9@._-]+")

    def leaks(text: str) -> set[str]:
        return {t for t in token.findall(text.lower()) if t in secrets}

    consumer = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{kafka}", consumer_timeout_ms=3000)
    parts = [TopicPartition(t, p) for t in consumer.topics() for p in consumer.partitions_for_topic(t) or []]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    messages = 0
    for message in consumer:
        messages += 1
        if message.value in hostile_values:
            continue
        found = leaks(message.value.decode("utf-8", "replace")) | leaks(" ".join(
            v.decode("utf-8", "replace") for _, v in message.headers or []))
        assert not found, f"{message.topic}@{message.offset} carries {sorted(found)[:3]}"
    consumer.close()
    assert messages > 10_000

    warehouse = Stack(Settings(data_dir=Path(env["REALISE_DATA_DIR"]), stack=StackSettings(postgres_port=postgres)))
    engine = sa.create_engine(warehouse.postgres.url)
    hostile_sha = {__import__("hashlib").sha256(v).hexdigest() for v in hostile_values}
    with engine.connect() as conn:
        tables = conn.execute(sa.text(
            "select table_schema, table_name from information_schema.tables where table_schema in "
            "('raw', 'staging', 'core', 'ops', 'analytics')")).all()
        for schema, table in tables:
            text, where = "t::text", ""
            if (schema, table) == ("ops", "quarantine"):  # bytea: read the bytes, not their hex form
                text = "t::text || encode(t.raw, 'escape') || coalesce(encode(t.key, 'escape'), '')"
                where = " where raw_sha256 <> all(:sha)"
            for (row,) in conn.execute(sa.text(f'select {text} from "{schema}"."{table}" t{where}'),
                                       {"sha": list(hostile_sha)}):
                found = leaks(row)
                assert not found, f"{schema}.{table} holds {sorted(found)[:3]}"
    engine.dispose()


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory outside pytest's basetemp.

    As root, the embedded PostgreSQL runs as another user and needs every parent directory to stay
    traversable; any pytest session that starts meanwhile resets /tmp/pytest-of-root to 0700, which would
    break the running server and `pg_ctl stop` (see the report on this test).
    """
    path = Path(tempfile.mkdtemp(prefix="realise-e2e-"))
    yield path / "realise"
    shutil.rmtree(path, ignore_errors=True)


def _stop_leftovers(stack: Stack) -> list[str]:
    """Last resort after a failed `realise down`: stop what this test started, by pid; name what was left."""
    left = []
    for name, svc in stack.status()["services"].items():
        if svc["running"]:
            left.append(name)
            # SIGINT is PostgreSQL's fast shutdown; the broker and Prefect stop on it too.
            with contextlib.suppress(ProcessLookupError):
                os.kill(svc["pid"], signal.SIGINT)
    return left


def _realise(env: dict[str, str], cwd: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REALISE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _demo(env: dict[str, str], cwd: Path) -> dict[str, Any]:
    result = _realise(env, cwd, "demo", "--json", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_given_a_fresh_data_dir_when_the_demo_runs_twice_then_it_loads_everything_once_and_down_stops_the_stack(
        tmp_path: Path, data_dir: Path) -> None:
    postgres, kafka, prefect = free_ports(3)
    stack = Stack(Settings(data_dir=data_dir, stack=StackSettings(postgres_port=postgres, kafka_port=kafka,
                                                                 prefect_port=prefect)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REALISE_", "PREFECT_"))}
    env.update({"REALISE_DATA_DIR": str(data_dir), "REALISE_POSTGRES_PORT": str(postgres),
                "REALISE_KAFKA_PORT": str(kafka), "REALISE_PREFECT_PORT": str(prefect)})
    # The hostile-but-valid records the demo adds to the generated events, by kind (same seed, same day).
    corpus = malformed_records(generate_trust(STAFF, SEED), demo_now(), SEED)
    hostile = Counter(json.loads(m.value)["kind"] for m in corpus if m.valid)
    status: dict[str, Any] = {}
    try:
        first = _demo(env, tmp_path)
        published, totals = first["published"], first["warehouse_totals"]
        print(f"\nfirst demo: {first['total_seconds']} s, published {published}, warehouse {totals}")
        print("sources: " + ", ".join(f"{s['source']} {s['published']}" for s in first["sources"]))

        assert set(published) == KINDS
        assert all(n > 0 for n in published.values()), published
        assert {s["source"] for s in first["sources"]} >= SOURCES
        assert first["directory"] == STAFF
        assert first["hostile_but_valid"] == sum(hostile.values())
        assert first["malformed"] == len(corpus) - sum(hostile.values()) > 0
        distinct = first["ingest"]["loaded_total"]
        # Every event a connector published is in the warehouse once (repeats only by the >= bookmark rule).
        assert sum(totals.values()) == distinct
        assert distinct + first["ingest"]["duplicates"] == sum(published.values()) + first["hostile_but_valid"]
        assert first["ingest"]["quarantined"] == first["malformed"]
        assert first["warehouse_url"] == f"postgresql+psycopg://realise:***@127.0.0.1:{postgres}/realise"
        assert first["psql"] == (f'PGPASSWORD="$(cat {stack.postgres.password_file})" '
                                 f"psql 'postgresql://realise@127.0.0.1:{postgres}/realise'")  # runs as shown

        second = _demo(env, tmp_path)
        print(f"second demo: {second['total_seconds']} s, published {second['published']}, "
              f"ingest {second['ingest']}")
        # No source changed: the connectors publish at most their boundary records again, and nothing loads.
        assert sum(second["published"].values()) < sum(published.values()) / 10
        assert second["ingest"]["loaded_total"] == 0
        assert second["warehouse_totals"] == totals
        # A re-published bad record is a new record at a new offset: quarantined again, once.
        assert second["ingest"]["quarantined"] == first["malformed"]

        _assert_no_raw_identifiers(env, tmp_path, postgres, kafka, corpus)

        result = _realise(env, tmp_path, "status", "--json", timeout=60)
        assert result.returncode == 0, result.stderr
        status = json.loads(result.stdout)
        assert {name: svc["running"] for name, svc in status["services"].items()} == {
            "postgres": True, "kafka": True, "prefect": True}
        assert f"@127.0.0.1:{postgres}/realise" in status["warehouse_url"]
        assert status["kafka_bootstrap"] == f"127.0.0.1:{kafka}"
        assert status["prefect_api_url"] == f"http://127.0.0.1:{prefect}/api"

        # Every committed batch is announced to Prefect, so refreshes can trigger on new data.
        import httpx

        events = httpx.post(f"{status['prefect_api_url']}/events/filter", timeout=30,
                            json={"filter": {"event": {"prefix": ["realise.ingest.batch.committed"]}},
                                  "limit": 50}).json()
        announced = sum(sum(e["payload"]["loaded"].values()) for e in events["events"])
        assert announced == sum(first["ingest"]["loaded"].values())
    finally:
        try:
            down = _realise(env, tmp_path, "down", timeout=120)
        finally:
            left = _stop_leftovers(stack)
    assert down.returncode == 0, down.stderr
    assert left == [], f"still running after `realise down`: {left}"
    result = _realise(env, tmp_path, "status", "--json", timeout=60)
    after = json.loads(result.stdout)
    assert [name for name, svc in after["services"].items() if svc["running"]] == []
    for svc in status.get("services", {}).values():
        pid = svc["pid"]
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, svc
