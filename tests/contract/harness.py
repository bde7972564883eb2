"""The connector contract: what every source must do, checked through the real broker and warehouse.

A case names a source type, the simulated APIs it needs, how to configure it against them (or against
export files written into a folder), and how to change the source between pulls. `test_contract.py` runs
every case in `tests/contract/cases/`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import simulator
from connectors.core.pull import Puller, PullResult
from foundation.config import Settings
from foundation.privacy import DEMO_KEY
from foundation.source_config import SourceConfig
from schemas.topics import TOPICS
from simulator.server import Api, SimServer
from simulator.world import World

KEY = DEMO_KEY


@dataclass
class ContractCase:
    name: str
    apis: Callable[[World], list[Api]] = lambda world: []
    # The source's config, given the running simulator (None for file sources) and a folder for exports.
    config: Callable[[SimServer | None, World, Path], SourceConfig] = None  # type: ignore[assignment]
    env: dict[str, str] = field(default_factory=dict)
    # Make the source change between pulls (default: move the world's clock on by a week).
    change: Callable[[World, Path], None] | None = None
    # The source record ids the source holds now, to compare with what reached the warehouse.
    expected_ids: Callable[[World], set[str]] | None = None


def small_world(clock_back: timedelta = timedelta(days=7)) -> World:
    """A trust of 150 staff whose clock starts a week before its newest record (so there is change to see)."""
    world = World.generate(staff=150, seed=11, counts={"forms": 300, "tickets": 300, "training": 400, "skills": 150})
    world.set_clock(world.now - clock_back)
    return world


def write_directory(world: World, folder: Path) -> Path:
    """The world's staff as an ESR-like CSV export."""
    return simulator.write_directory(world, folder)[0]


def load_directory(puller: Puller, world: World, folder: Path) -> PullResult:
    return puller.pull("directory", SourceConfig(type="esr_csv", path=str(write_directory(world, folder))))


def read_events(settings: Settings, bootstrap: str) -> list[dict[str, Any]]:
    """Every event on the settings' event topics, from the beginning."""
    from kafka import TopicPartition

    from foundation.kafka import consumer

    c = consumer(settings, bootstrap, group=None, consumer_timeout_ms=1500)
    try:
        topics = [settings.topic(t) for t in TOPICS.values()]
        parts = [TopicPartition(t, p) for t in topics for p in (c.partitions_for_topic(t) or [])]
        c.assign(parts)
        c.seek_to_beginning(*parts)
        return [json.loads(m.value) for m in c]
    finally:
        c.close()


def fresh_prefix() -> str:
    return f"c{uuid.uuid4().hex[:10]}."
