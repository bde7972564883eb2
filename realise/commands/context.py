"""What every command shares: the settings file named on the command line, and the two consoles.

realise/cli.py records `--config` here and imports the commands; the commands read settings and print
through this module, so no command imports the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from foundation.config import Settings, load_settings

out = Console()
err = Console(stderr=True)
_state: dict[str, Path | None] = {"config": None}


def use_config(path: Path | None) -> None:
    """The settings file named by `--config` (None: $REALISE_CONFIG, else ./realise.yaml if present)."""
    _state["config"] = path


def settings() -> Settings:
    """This run's settings: the file, overridden by the REALISE_* environment variables."""
    return load_settings(_state["config"])


def print_json(data: Any) -> None:
    out.print_json(json.dumps(data, default=str))
