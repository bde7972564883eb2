"""`realise docs warehouse` and `realise docs dbt`: regenerate (or check) files generated from a migrated
warehouse, the analysts' guide and the dbt package."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from foundation.errors import UserError
from realise.commands.context import err, out, settings
from warehouse.dbt import DBT_DIR
from warehouse.docs import EXAMPLES_DIR, GUIDE_FILE

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

app = typer.Typer(help="Generated documentation.", no_args_is_help=True)
T = TypeVar("T")


def _from_migrated_warehouse(what: str, render: Callable[[Engine], T]) -> T:
    """`render` run on the configured warehouse, refused unless it is at this code's head revision: what is
    generated must describe the views this code creates."""
    from alembic.script import ScriptDirectory

    from foundation.database import check_connection, redact, warehouse_engine
    from foundation.stack import resolve_endpoints
    from warehouse.db import _alembic_config, current_revision

    s = settings()
    ep = resolve_endpoints(s, autostart=False, services={"postgres"})
    engine = warehouse_engine(s, ep.warehouse_url)
    try:
        check_connection(engine)
        head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
        current = current_revision(engine)
        if current != head:
            raise UserError(f"the warehouse at {redact(ep.warehouse_url)} is at revision {current or 'none'}, "
                            f"not {head}: run `realise db upgrade` first, so the {what} describes this code")
        return render(engine)
    finally:
        engine.dispose()


@app.command("warehouse")
def warehouse_cmd(
    out_file: Path = typer.Option(GUIDE_FILE, "--out", "-o", help="Guide to write."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 if the file is out of date."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """The analysts' guide: analytics views and columns from the catalog, pipeline tables, example queries."""
    from warehouse.docs import ExampleError, render_guide

    if not EXAMPLES_DIR.is_dir():
        raise UserError(f"the example queries are missing ({EXAMPLES_DIR}): run this from a Realise source tree")

    def render(engine: Engine) -> str:
        try:
            return render_guide(engine)
        except ExampleError as exc:
            raise UserError(str(exc)) from None

    text = _from_migrated_warehouse("guide", render)
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


@app.command("dbt")
def dbt_cmd(
    out_dir: Path = typer.Option(DBT_DIR, "--out", "-o", help="Folder of the dbt package to write."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 if any file is out of date."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """The dbt package realise_analytics: a source for the analytics views and a staging model per view,
    described from the catalog, with the data tests the view definitions prove."""
    from warehouse.dbt import render_project, stale_files, write_project

    if out_dir == DBT_DIR and not DBT_DIR.is_dir():
        raise UserError(f"the dbt package folder is missing ({DBT_DIR}): run this from a Realise source tree, "
                        "or give --out DIR")
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file: give the folder of the dbt package")
    files = _from_migrated_warehouse("dbt package", render_project)
    if check:
        changed, removed = stale_files(files, out_dir)
        stale = changed + removed
        if as_json:
            out.print_json(json.dumps({"dir": str(out_dir), "up_to_date": not stale, "changed": changed,
                                       "removed": removed}))
        if stale:
            err.print(f"{out_dir} is out of date ({', '.join(stale)}): run `realise docs dbt --out {out_dir}`",
                      highlight=False, soft_wrap=True)
            raise typer.Exit(1)
        if not as_json:
            out.print(f"{out_dir} is up to date", highlight=False)
        return
    if not out_dir.parent.is_dir():
        raise UserError(f"--out {out_dir}: directory {out_dir.parent} does not exist")
    written, removed = write_project(files, out_dir)
    if as_json:
        out.print_json(json.dumps({"dir": str(out_dir), "written": written, "removed": removed,
                                   "files": len(files)}))
    elif written or removed:
        out.print(f"{out_dir}: {len(written)} file(s) written, {len(removed)} removed", highlight=False)
    else:
        out.print(f"{out_dir}: already up to date", highlight=False)
