"""A rig for help-desk connector tests: the real broker and warehouse, a simulated trust, pull then ingest."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors.core.pull import Puller, PullResult
from foundation.config import Settings
from foundation.database import create_engine
from foundation.kafka import ensure_topics, producer
from foundation.source_config import SourceConfig
from ingestion.runner import IngestSummary
from ingestion.service import run_ingest
from simulator.server import SimServer
from simulator.world import World
from tests.contract.harness import KEY, load_directory, small_world


@dataclass
class Rig:
    settings: Settings
    warehouse_url: str
    bootstrap: str
    engine: Engine
    puller: Puller
    world: World
    folder: Path

    def config(self, entry: dict[str, Any], **overrides: Any) -> SourceConfig:
        """A source entry with quick retries for tests."""
        return SourceConfig.model_validate({**entry, "backoff_seconds": 0.01, "max_backoff_seconds": 0.2,
                                            **overrides})

    def pull(self, name: str, config: SourceConfig, since: datetime | None = None) -> PullResult:
        return self.puller.pull(name, config, since=since)

    def ingest(self) -> IngestSummary:
        return run_ingest(self.settings, self.warehouse_url, self.bootstrap, "drain")

    def tickets(self, source: str) -> dict[str, dict[str, Any]]:
        """research.helpdesk_tickets for one source: ticket id → its loaded row."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("select * from research.helpdesk_tickets where source = :s"),
                                {"s": source}).mappings().all()
        return {r["ticket_id"]: dict(r) for r in rows}

    def raw_versions(self, source: str) -> list[tuple[str, str]]:
        """(record id, version) of every event in raw.events for one source, duplicates kept."""
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(  # type: ignore[misc]
                "select source_record_id, record_version from raw.events where source = :s"), {"s": source})]

    def use_world(self, world: World) -> None:
        """Swap in another simulated trust and load its staff directory."""
        self.world = world
        load_directory(self.puller, world, self.folder)

    def state(self, source: str, stream: str) -> dict[str, Any]:
        return self.puller.store.get(source, stream)


def credentials(env: dict[str, str]) -> Any:
    """An autouse fixture putting a simulated system's credentials (its `ENV`) into the environment."""

    @pytest.fixture(autouse=True)
    def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return _credentials


def entry(sim: Any, server: SimServer, **options: Any) -> dict[str, Any]:
    """A simulated system's `source_config` against the running server, with `options` overriding its own."""
    config = sim.source_config(f"http://127.0.0.1:{server.port}")
    return {**config, "options": {**config["options"], **options}}


@pytest.fixture
def rig(ingest_settings: Settings, warehouse_url: str, kafka_bootstrap: str, tmp_path: Path) -> Iterator[Rig]:
    """A small simulated trust (clock a week back) with its staff directory loaded."""
    ensure_topics(ingest_settings, kafka_bootstrap)
    engine = create_engine(warehouse_url)
    prod = producer(ingest_settings, kafka_bootstrap)
    puller = Puller(engine, prod, key=KEY, topic_prefix=ingest_settings.kafka.topic_prefix)
    world = small_world()
    load_directory(puller, world, tmp_path)
    rig = Rig(ingest_settings, warehouse_url, kafka_bootstrap, engine, puller, world, tmp_path)
    try:
        yield rig
    finally:
        prod.close()
        engine.dispose()
