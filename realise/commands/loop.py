"""`realise benefits|alerts|actions ...`: the benefits register and the alert → action loop."""

from __future__ import annotations

import typer

benefits_app = typer.Typer(help="The benefits register.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts raised by metric rules.", no_args_is_help=True)
actions_app = typer.Typer(help="Actions taken on alerts, and whether they worked.", no_args_is_help=True)
