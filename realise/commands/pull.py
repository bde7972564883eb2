"""`realise pull` and `realise sources`: run connectors, and see or reset their incremental state."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from foundation.errors import UserError
from realise.commands.context import err, out, settings

sources_app = typer.Typer(help="Configured sources and their incremental state.", no_args_is_help=True)


def pull(
    names: list[str] = typer.Argument(None, help="Sources to pull, as named under `sources:` in realise.yaml."),
    all_sources: bool = typer.Option(False, "--all", help="Pull every enabled source (the directory first)."),
    since: str | None = typer.Option(None, "--since", help="Replay from this date (events dedupe downstream)."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Read new and changed records from sources and publish them as events."""
    from connectors.service import ordered_sources, parse_since, pull_sources

    s = settings()
    if all_sources:
        names = ordered_sources(s)
        if not names:
            raise UserError("no sources are configured: add them under `sources:` in realise.yaml")
    if not names:
        raise UserError("name a source to pull (see `realise sources list`) or use --all")
    progress = None
    if err.is_terminal and not as_json:
        progress = _progress_printer()
    results = pull_sources(s, names, since=parse_since(since), progress=progress)
    data = [r.as_dict() for r in results]
    if as_json:
        out.print_json(json.dumps(data, default=str))
        return
    table = Table(title="Pulled")
    for col in ("source", "stream", "records", "published", "skipped", "quarantined", "unmatched staff", "cursor"):
        table.add_column(col, justify="right" if col not in ("source", "stream", "cursor") else "left")
    for r in results:
        for st in r.streams:
            table.add_row(r.source, st.stream, f"{st.records:,}", f"{st.published:,}", f"{st.skipped:,}",
                          f"{st.rejected:,}", f"{st.unmatched_staff:,}", str(st.state.get("cursor", ""))[:32])
    out.print(table)
    for r in results:
        out.print(f"{r.source}: {r.published:,} published in {r.seconds:.1f} s "
                  f"({r.requests:,} requests, {r.retries:,} retried)")
        for st in r.streams:
            for line in st.rejections[:5]:
                out.print(f"  quarantined {line}")


def _progress_printer() -> Any:
    def report(stream: str, records: int) -> None:
        err.print(f"  {stream}: {records:,} records", end="\r")

    return report


@sources_app.command("list")
def list_sources(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Configured sources with their type, location and stored state."""
    s = settings()
    states: dict[tuple[str, str], dict[str, Any]] = {}
    try:
        from connectors.core.state import StateStore
        from foundation.database import check_connection, warehouse_engine

        engine = warehouse_engine(s)
        check_connection(engine)
        states = {(r["source"], r["stream"]): r for r in StateStore(engine).all()}
        engine.dispose()
    except UserError as exc:
        err.print(f"(state not shown: {exc})")
    data = []
    for name, cfg in s.sources.items():
        streams = [{"stream": stream, "state": st["state"], "records_total": st["records_total"],
                    "updated_at": st["updated_at"]} for (src, stream), st in states.items() if src == name]
        data.append({"source": name, "type": cfg.type, "where": cfg.base_url or cfg.path, "enabled": cfg.enabled,
                     "streams": streams})
    if as_json:
        out.print_json(json.dumps(data, default=str))
        return
    table = Table(title="Sources")
    for col in ("source", "type", "where", "stream", "records so far", "cursor", "last pulled"):
        table.add_column(col)
    for d in data:
        rows = d["streams"] or [{"stream": "-", "state": {}, "records_total": 0, "updated_at": "never"}]
        for st in rows:
            table.add_row(d["source"], d["type"], str(d["where"] or ""), st["stream"], f"{st['records_total']:,}",
                          str(st["state"].get("cursor", ""))[:32], str(st["updated_at"])[:19])
    out.print(table)


@sources_app.command("reset")
def reset_source(
    name: str = typer.Argument(..., help="Source whose state to forget."),
    stream: str | None = typer.Option(None, help="Only this stream."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Forget a source's state: the next pull reads everything again (events dedupe downstream)."""
    from connectors.core.state import StateStore
    from connectors.service import source_config
    from foundation.database import check_connection, warehouse_engine

    s = settings()
    source_config(s, name)
    if not yes and not typer.confirm(f"forget the state of {name}{'/' + stream if stream else ''}?"):
        raise typer.Exit(1)
    engine = warehouse_engine(s)
    check_connection(engine)
    removed = StateStore(engine).reset(name, stream)
    engine.dispose()
    if as_json:
        out.print_json(json.dumps({"source": name, "stream": stream, "states_forgotten": removed}))
        return
    out.print(f"forgot {removed} stream state(s) of {name}")
