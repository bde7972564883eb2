"""Qualtrics response exports of the digital capability self-assessment, served by the simulated datacenter."""

from __future__ import annotations

from pathlib import Path

from foundation.source_config import AuthConfig, SourceConfig
from simulator import qualtrics
from simulator.server import SimServer
from simulator.world import World
from tests.contract.harness import ContractCase


def _config(server: SimServer | None, world: World, folder: Path) -> SourceConfig:
    assert server is not None
    return SourceConfig(type="qualtrics", base_url=server.url(qualtrics.PREFIX), backoff_seconds=0.01,
                        auth=AuthConfig(type="api_key", header="X-API-TOKEN", token_env=qualtrics.TOKEN_ENV),
                        page_size=500, options={"poll_seconds": 0.01})


CASES = [ContractCase(name="qualtrics", apis=qualtrics.apis, config=_config, env=dict(qualtrics.ENV),
                      expected_ids=qualtrics.response_ids)]
