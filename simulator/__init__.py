"""The go-live simulator: a generated trust served by local copies of each source system's API and exports.

`Simulation` writes the file exports (staff directory, form exports), starts one local server hosting every
simulated API, sets the simulated systems' credentials in the environment, and gives the `sources:` entries
that point Realise's connectors at all of it. `realise simulate` runs it in the foreground; the main job
runs it in-process, then pulls every source.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.server import Api, SimServer
from simulator.world import World


@dataclass(frozen=True)
class SimulatedSystem:
    """One source system as the simulator presents it, and the `sources:` entry that reads it.

    `module` is simulator.<module>, which defines `source_config(root[, folder])` and may define
    `apis(world)`, `write_exports(world, folder)` and `ENV` (the credentials the simulated system accepts).
    """

    source: str
    module: str


# Pulled in this order: the staff directory first, so every other source resolves people against it.
SYSTEMS: list[SimulatedSystem] = [
    SimulatedSystem("directory", "directory"),
    SimulatedSystem("servicenow", "servicenow"),
    SimulatedSystem("jira", "jira"),
    SimulatedSystem("zendesk", "zendesk"),
    SimulatedSystem("xapi", "xapi"),
    SimulatedSystem("moodle", "moodle"),
    SimulatedSystem("msforms", "msforms"),
    SimulatedSystem("googleforms", "googleforms"),
    SimulatedSystem("csvdrop", "csvdrop"),
    SimulatedSystem("qualtrics", "qualtrics"),
    SimulatedSystem("webhook", "webhook"),  # push: `deliver_webhooks` sends, the receiver publishes
]


def _directory_config(root: str, folder: Path) -> dict[str, Any]:
    return {"type": "esr_csv", "path": str(folder / "esr_staff.csv")}


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
        self._modules: dict[str, Any] = {}
        for system in self.systems:
            if system.module == "directory":
                continue
            module = importlib.import_module(f"simulator.{system.module}")
            self._modules[system.source] = module
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
        """The `sources:` settings that point each connector at its simulated system."""
        out: dict[str, dict[str, Any]] = {}
        for system in self.systems:
            module = self._modules.get(system.source)
            if module is None:
                out[system.source] = _directory_config(self.root, self.folder)
                continue
            takes_folder = sum(p.kind is p.POSITIONAL_OR_KEYWORD
                               for p in inspect.signature(module.source_config).parameters.values()) > 1
            out[system.source] = (module.source_config(self.root, self.folder) if takes_folder
                                  else module.source_config(self.root))
        return out

    def environment(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for module in self._modules.values():
            env.update(getattr(module, "ENV", {}))
        return env

    def deliver_webhooks(self, receiver_url: str) -> int:
        """Send every form response the simulated push-style tool holds, signed; returns those accepted."""
        from simulator.webhook import WebhookSender

        with WebhookSender(receiver_url) as sender:
            answers = sender.send_new(self.world)
        return sum(a.is_success for a in answers)

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
