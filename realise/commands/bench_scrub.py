"""`realise bench scrub`: recall and precision of free-text scrubbing (registered on the bench group)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from foundation.errors import UserError
from realise.commands.context import out


def register(bench_app: typer.Typer) -> None:
    """Add the scrubbing benchmark to `realise bench`."""

    @bench_app.command("scrub")
    def bench_scrub(
        corpus: Path | None = typer.Option(None, "--corpus", help="Labelled corpus, JSON Lines "
                                           "(default: the one in bench/scrub_corpus.jsonl)."),
        as_json: bool = typer.Option(False, "--json", help="Print figures as JSON, misses and false positives "
                                     "included."),
    ) -> None:
        """Recall and precision of scrub() on planted identifiers and look-alikes; Presidio's beside, if installed."""
        from bench.scrub import CORPUS, print_figures, run_bench

        path = corpus or CORPUS
        if not path.is_file():
            raise UserError(f"corpus {path} does not exist: give a JSON Lines file with --corpus")
        try:
            figures = run_bench(path)
        except (ValueError, TypeError) as exc:
            raise UserError(f"corpus {path} is not usable: {exc}") from None
        if as_json:
            out.print_json(json.dumps(figures, default=str))
            return
        print_figures(figures, out)
