"""`realise simulate`: serve a generated trust from local copies of the source systems' APIs and exports."""

from __future__ import annotations

import json
import shlex
import threading
import time
from datetime import timedelta
from pathlib import Path

import typer
import yaml

from realise.commands.context import err, out


def simulate(
    staff: int = typer.Option(2000, min=50, max=200_000, help="Staff in the generated trust."),
    seed: int = typer.Option(7, help="Seed for the trust and its feedback."),
    port: int = typer.Option(8765, min=0, max=65535, help="Port of the simulated APIs (0: any free port)."),
    out_dir: Path = typer.Option(Path(".realise/simulator"), "--out", help="Folder for the file exports."),
    write_config: Path | None = typer.Option(None, "--write-config",
                                             help="Write the `sources:` settings for the simulator to this file."),
    replay_days: float = typer.Option(0.0, min=0.0, help="Start the clock this many days back and let records "
                                      "appear as it catches up (0: everything visible at once)."),
    speed: float = typer.Option(3600.0, min=1.0, help="Simulated seconds per real second while replaying."),
    as_json: bool = typer.Option(False, "--json", help="Print the sources settings as JSON and keep serving."),
) -> None:
    """Serve a simulated trust's help desk, LMS, LRS and survey APIs and write its exports, until Ctrl-C."""
    from simulator import Simulation
    from simulator.world import World

    with err.status(f"generating a trust of {staff:,} staff and its feedback"):
        world = World.generate(staff=staff, seed=seed)
    if replay_days:
        world.set_clock(world.now - timedelta(days=replay_days))
    sim = Simulation(world, out_dir, port=port).start()
    config = {"sources": sim.sources()}
    if write_config:
        write_config.write_text(yaml.safe_dump(config, sort_keys=False))
    if as_json:
        out.print_json(json.dumps(config))
    else:
        out.print(f"simulated systems on {sim.root} ({len(sim.server.apis)} APIs), exports in {out_dir}")
        out.print(yaml.safe_dump(config, sort_keys=False))
        for name, value in sim.environment().items():
            out.print(f"export {name}={shlex.quote(value)}", soft_wrap=True, markup=False, highlight=False)
        if write_config:
            out.print(f"settings written to {write_config}: `realise --config {write_config} pull --all`")
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(1.0) and world.clock < world.now:
            world.set_clock(min(world.now, world.clock + timedelta(seconds=speed)))

    if replay_days:
        threading.Thread(target=tick, name="simulator-clock", daemon=True).start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop.set()
        sim.stop()
        err.print("simulator stopped")
