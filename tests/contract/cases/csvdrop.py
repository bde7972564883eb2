"""Generic CSV drops of each kind: cumulative extracts rewritten with more rows after a change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from foundation.source_config import SourceConfig
from schemas.events import Kind
from simulator import csvdrop
from simulator.server import SimServer
from simulator.world import World
from tests.contract.harness import ContractCase


def _config(kind: Kind) -> Callable[[SimServer | None, World, Path], SourceConfig]:
    def config(server: SimServer | None, world: World, folder: Path) -> SourceConfig:
        csvdrop.write_drop(world, folder, kind)
        return SourceConfig(type="csvdrop", path=str(csvdrop.folder_for(folder, kind)),
                            options={"kind": kind.value})

    return config


def _change(kind: Kind) -> Callable[[World, Path], None]:
    def change(world: World, folder: Path) -> None:
        world.advance(timedelta(days=8))
        csvdrop.write_drop(world, folder, kind)

    return change


CASES = [ContractCase(name=name, config=_config(kind), change=_change(kind), expected_ids=csvdrop.record_ids(kind))
         for name, kind in (("csvdrop", Kind.FORM_RESPONSE), ("csvdrop_tickets", Kind.HELPDESK_TICKET),
                            ("csvdrop_training", Kind.TRAINING_RECORD))]
