"""Microsoft Forms exports in a folder: xlsx and CSV downloads, re-exported with more rows after a change."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from foundation.source_config import SourceConfig
from simulator import msforms
from simulator.server import SimServer
from simulator.world import World
from tests.contract.harness import ContractCase


def _config(server: SimServer | None, world: World, folder: Path) -> SourceConfig:
    msforms.write_exports(world, folder)
    return SourceConfig(type="msforms", path=str(folder / msforms.EXPORT_DIR),
                        options={"unit_codes": msforms.unit_codes(world)})


def _change(world: World, folder: Path) -> None:
    world.advance(timedelta(days=8))
    msforms.write_exports(world, folder)


CASES = [ContractCase(name="msforms", config=_config, change=_change, expected_ids=msforms.response_ids)]
