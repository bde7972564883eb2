"""`realise metrics ...`: refresh, list and show benefits-realisation metrics."""

from __future__ import annotations

import typer

app = typer.Typer(help="Benefits-realisation and adoption metrics.", no_args_is_help=True)
