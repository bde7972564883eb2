"""The go-live simulator: a generated trust served by local copies of each source system's API and exports.

`Simulation` writes the file exports (staff directory, form exports), starts one local server hosting every
simulated API, sets the simulated systems' credentials in the environment, and gives the `sources:` entries
that point Realise's connectors at all of it. `realise simulate` runs it in the foreground; the main job
runs it in-process, then pulls every source.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.simulator.server import Api, SimServer
from connectors.simulator.world import World


@dataclass(frozen=True)
class SimulatedSystem:
    """One source system as the simulator presents it, and the `sources:` entry that reads it."""

    source: str
    module: str  # connectors.simulator.<module>: may define apis(world) and write_exports(world, folder)
    config: Callable[[str, Path], dict[str, Any]]  # (server root URL, export folder) -> sources entry
    env: dict[str, str] = field(default_factory=dict)  # credentials the simulated system accepts


def _directory(root: str, folder: Path) -> dict[str, Any]:
    return {"type": "esr_csv", "path": str(folder / "esr_staff.csv")}


SYSTEMS: list[SimulatedSystem] = [
    SimulatedSystem("directory", "directory", _directory),
]


def write_directory(world: World, folder: Path) -> list[Path]:
    import csv

    rows = world.directory_rows()
    path = folder / "esr_staff.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return [path]


class Simulation:
    def __init__(self, world: World, folder: Path, *, port: int = 0,
                 systems: list[SimulatedSystem] | None = None) -> None:
        self.world, self.folder = world, folder
        self.systems = systems if systems is not None else SYSTEMS
        apis: list[Api] = []
        self._exports: list[Callable[[World, Path], list[Path]]] = [write_directory]
        for system in self.systems:
            if system.module == "directory":
                continue
            module = importlib.import_module(f"connectors.simulator.{system.module}")
            if hasattr(module, "apis"):
                apis.extend(module.apis(world))
            if hasattr(module, "write_exports"):
                self._exports.append(module.write_exports)
        self.server = SimServer(apis, port=port)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def write_exports(self) -> list[Path]:
        self.folder.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for export in dict.fromkeys(self._exports):
            written.extend(export(self.world, self.folder))
        return written

    def sources(self) -> dict[str, dict[str, Any]]:
        return {s.source: s.config(self.root, self.folder) for s in self.systems}

    def environment(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for system in self.systems:
            env.update(system.env)
        return env

    def start(self) -> Simulation:
        self.write_exports()
        os.environ.update(self.environment())
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Simulation:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
