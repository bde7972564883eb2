"""`realise bench pull`: records/s per connector against the simulator, publishing included.

For each HTTP source the simulator serves (rate limits off: this measures the connector, not a vendor's
quota), two passes over the same data in the same run. The simulator runs in a process of its own, as a
real API is another machine: in this process it would share the interpreter lock with the connector.
- baseline: the source's own reader alone (HTTP requests, pagination, JSON decoding), nothing else;
- pull: the full path, reader + mapping + pseudonymisation + scrubbing + publishing to the broker and waiting
  for every acknowledgement + state in the warehouse.
The ratio pull / baseline shows what the pipeline adds on top of talking to the API. Goal: ≥ 2,000
records/s for the paginated JSON APIs. Events go to bench topics of their own and are not ingested.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.core.pull import Puller, build_source
from connectors.core.stream import PullContext
from foundation.config import Settings
from foundation.privacy import DEMO_KEY
from foundation.source_config import SourceConfig
from simulator import Simulation
from simulator.world import World

GOAL_RECORDS_PER_SECOND = 2000


def _read_only(name: str, config: SourceConfig) -> tuple[int, float]:
    source = build_source(name, config, PullContext(run_started=datetime.now(UTC)))
    started = time.perf_counter()
    records = 0
    try:
        for stream in source.streams:
            for page in source.read(stream, {}):
                records += len(page.records)
    finally:
        source.close()
    return records, time.perf_counter() - started


def _serve(staff: int, seed: int, folder: Path, conn: Any) -> None:
    """The simulator process: serve the world's APIs with rate limits off until told to stop."""
    world = World.generate(staff=staff, seed=seed)
    # The world is large and long-lived; without freezing it the cyclic collector keeps rescanning it and
    # answering pages slows down many times over.
    gc.freeze()
    with Simulation(world, folder) as sim:
        for api in sim.server.apis.values():
            api.rate_limit = None
        conn.send((sim.sources(), sim.environment()))
        conn.recv()


@contextlib.contextmanager
def _simulator(staff: int, seed: int, folder: Path) -> Iterator[dict[str, Any]]:
    """A simulator in a child process; yields its `sources:` settings, its credentials exported here."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_serve, args=(staff, seed, folder, theirs), name="realise-bench-simulator",
                            daemon=True)
    child.start()
    try:
        deadline = time.monotonic() + 600
        while not ours.poll(0.5):
            if not child.is_alive():
                raise RuntimeError(f"the simulator process exited with code {child.exitcode} before serving")
            if time.monotonic() > deadline:
                raise RuntimeError("the simulator process did not start within 600 s")
        sources, environment = ours.recv()
        os.environ.update(environment)
        yield sources
    finally:
        with contextlib.suppress(OSError):
            ours.send("stop")
        child.join(30)
        if child.is_alive():
            child.kill()


def run_bench(settings: Settings, *, staff: int, seed: int = 7, sources: list[str] | None = None,
              progress: Any = None) -> dict[str, Any]:
    from foundation import kafka as rk
    from foundation.database import warehouse_engine
    from foundation.stack import resolve_endpoints
    from warehouse.db import upgrade

    ep = resolve_endpoints(settings, autostart=True, services={"postgres", "kafka"})
    engine = warehouse_engine(settings, ep.warehouse_url)
    upgrade(engine)
    run = uuid.uuid4().hex[:8]
    bench_settings = settings.model_copy(update={"kafka": settings.kafka.model_copy(
        update={"topic_prefix": f"bench{run}."})})
    rk.ensure_topics(bench_settings, ep.kafka_bootstrap)
    producer = rk.producer(bench_settings, ep.kafka_bootstrap)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="realise-bench-pull-") as folder, \
            _simulator(staff, seed, Path(folder)) as sources_config:
        puller = Puller(engine, producer, key=DEMO_KEY, topic_prefix=bench_settings.kafka.topic_prefix)
        configs = {name: SourceConfig.model_validate(entry) for name, entry in sources_config.items()}
        puller.pull("directory", configs.pop("directory"))
        for name, config in configs.items():
            if config.base_url is None or (sources and name not in sources):
                continue
            if progress:
                progress.print(f"benchmarking {name} ...")
            baseline_records, baseline_seconds = _read_only(name, config)
            bench_name = f"bench-{run}-{name}"
            result = puller.pull(bench_name, config)
            puller.store.reset(bench_name)
            pull_rate = result.records / result.seconds if result.seconds else 0.0
            base_rate = baseline_records / baseline_seconds if baseline_seconds else 0.0
            rows.append({"source": name, "type": config.type, "records": result.records,
                         "published": result.published, "requests": result.requests,
                         "baseline_records_per_s": round(base_rate), "pull_seconds": result.seconds,
                         "pull_records_per_s": round(pull_rate),
                         "ratio": round(pull_rate / base_rate, 2) if base_rate else None,
                         "meets_goal": pull_rate >= GOAL_RECORDS_PER_SECOND})
    producer.close()
    engine.dispose()
    return {"staff": staff, "goal_records_per_s": GOAL_RECORDS_PER_SECOND, "sources": rows}
