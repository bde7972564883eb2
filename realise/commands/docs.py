"""`realise docs warehouse`: regenerate (or check) the warehouse guide from a migrated warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from foundation.errors import UserError
from realise.commands.context import err, out, settings
from warehouse.docs import EXAMPLES_DIR, GUIDE_FILE

app = typer.Typer(help="Generated documentation.", no_args_is_help=True)


@app.command("warehouse")
def warehouse_cmd(
    out_file: Path = typer.Option(GUIDE_FILE, "--out", "-o", help="Guide to write."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 if the file is out of date."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """The analysts' guide: analytics views and columns from the catalog, pipeline tables, example queries."""
    from alembic.script import ScriptDirectory

    from foundation.database import check_connection, redact, warehouse_engine
    from foundation.stack import resolve_endpoints
    from warehouse.db import _alembic_config, current_revision
    from warehouse.docs import ExampleError, render_guide

    if not EXAMPLES_DIR.is_dir():
        raise UserError(f"the example queries are missing ({EXAMPLES_DIR}): run this from a Realise source tree")
    s = settings()
    ep = resolve_endpoints(s, autostart=False, services={"postgres"})
    engine = warehouse_engine(s, ep.warehouse_url)
    try:
        check_connection(engine)
        head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
        current = current_revision(engine)
        if current != head:
            raise UserError(f"the warehouse at {redact(ep.warehouse_url)} is at revision {current or 'none'}, "
                            f"not {head}: run `realise db upgrade` first, so the guide describes this code")
        try:
            text = render_guide(engine)
        except ExampleError as exc:
            raise UserError(str(exc)) from None
    finally:
        engine.dispose()
    existing = out_file.read_text(encoding="utf-8") if out_file.is_file() else None
    changed = existing != text
    if check:
        if as_json:
            out.print_json(json.dumps({"file": str(out_file), "up_to_date": not changed}))
        if changed:
            err.print(f"{out_file} is out of date: run `realise docs warehouse --out {out_file}`",
                      highlight=False, soft_wrap=True)
            raise typer.Exit(1)
        if not as_json:
            out.print(f"{out_file} is up to date")
        return
    if changed:
        if not out_file.parent.is_dir():
            raise UserError(f"--out {out_file}: directory {out_file.parent} does not exist")
        out_file.write_text(text, encoding="utf-8")
    if as_json:
        out.print_json(json.dumps({"file": str(out_file), "written": changed, "bytes": len(text.encode())}))
    else:
        out.print(f"{out_file}: {'written' if changed else 'already up to date'}", highlight=False)
