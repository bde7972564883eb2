"""Google Forms API v1: six surveys, OAuth2 client credentials against the simulated token endpoint."""

from __future__ import annotations

from pathlib import Path

from foundation.source_config import SourceConfig
from simulator import googleforms as sim
from simulator.server import SimServer
from simulator.world import World
from tests.contract.harness import ContractCase


def _config(server: SimServer | None, world: World, folder: Path) -> SourceConfig:
    assert server is not None
    entry = sim.source_config(f"http://127.0.0.1:{server.port}")
    return SourceConfig.model_validate({**entry, "page_size": 100, "backoff_seconds": 0.01})


CASES = [ContractCase(name="googleforms", apis=sim.apis, config=_config, env=dict(sim.ENV),
                      expected_ids=sim.expected_ids)]
