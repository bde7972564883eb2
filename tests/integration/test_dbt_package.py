"""The dbt package (dbt/): generated from a freshly migrated warehouse, valid under dbt's schemas, and its data
tests proved soundly from the catalog (views built to trip the proof). That they pass on demo data is in
test_warehouse_guide.py, which builds the demo warehouse once for the guide's examples and for them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import realise_cli
from schemacheck import schema_errors

from foundation.database import create_engine
from warehouse.dbt import (
    DBT_DIR,
    MODELS_DIR,
    PROJECT_FILE,
    generated_files,
    render_project,
    stale_files,
    write_project,
)
from warehouse.lineage import proven_tests

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "tests" / "vendor" / "dbt-jsonschema"


def _render(url: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        return render_project(engine)
    finally:
        engine.dispose()


# --- the committed package is what the generator makes --------------------------------------------

def test_the_committed_dbt_package_is_what_the_generator_makes_from_a_freshly_migrated_warehouse(warehouse_url):
    changed, removed = stale_files(_render(warehouse_url), DBT_DIR)
    assert not changed and not removed, (
        f"dbt/ is out of date ({', '.join(changed + removed)}): regenerate it with `realise docs dbt` against a "
        "migrated warehouse")


def test_the_generated_files_are_valid_under_dbts_schemas(warehouse_url, tmp_path):
    files = _render(warehouse_url)
    write_project(files, tmp_path)
    properties = [tmp_path / name for name in files if name.endswith(".yml") and name != PROJECT_FILE]
    errors = schema_errors(properties, ["--schemafile", str(VENDOR / "dbt_yml_files-latest.json")])
    errors += schema_errors([tmp_path / PROJECT_FILE], ["--schemafile", str(VENDOR / "dbt_project-latest.json")])
    assert len(properties) == 2 and not errors, "\n".join(f"{f}: {p}: {m}" for f, p, m in errors)


# --- what the catalog proves, and what it does not --------------------------------------------------

PROBE = """
create table probe.t (id bigint primary key, name text not null, note text, code text unique);
create table probe.u (t_id bigint not null references probe.t, label text not null);
create table probe.parent (id bigint primary key, v text not null);
create table probe.child () inherits (probe.parent);
create view probe.plain as select id, name, note, code, name::varchar as name_cast from probe.t where id > 0;
create view probe.on_view as select id, name from probe.plain;
create view probe.inner_join as select t.id, u.label from probe.t join probe.u on u.t_id = t.id;
create view probe.left_join as select t.id, u.label, coalesce(u.label, 'none') as label_or_none,
    coalesce(u.label, t.note) as label_or_note from probe.t left join probe.u on u.t_id = t.id;
create view probe.using_join as select t_id, u.label from probe.u left join probe.t on t.id = probe.u.t_id;
create view probe.unioned as select id, name from probe.t union all select id, name from probe.t;
create view probe.grouped as select name, count(*) as n from probe.t group by name;
create view probe.rollup as select name, code from probe.t group by rollup (name, code);
create view probe.subquery as select s.id, s.name from (select id, name from probe.t) s;
create view probe.exprs as select id + 0 as id, upper(name) as name, 'x'::text as constant from probe.t;
create view probe.srf as select id, generate_series(1, 2) as k from probe.t;
create view probe.inherited as select id, v from probe.parent;
"""
PROVEN = {
    ("plain", "id"): ("not_null", "unique"), ("plain", "name"): ("not_null",), ("plain", "code"): ("unique",),
    ("plain", "name_cast"): ("not_null",),
    ("on_view", "id"): ("not_null", "unique"), ("on_view", "name"): ("not_null",),
    ("inner_join", "id"): ("not_null",), ("inner_join", "label"): ("not_null",),
    ("left_join", "id"): ("not_null",), ("left_join", "label_or_none"): ("not_null",),
    ("using_join", "t_id"): ("not_null",), ("using_join", "label"): ("not_null",),
    ("grouped", "name"): ("not_null",),
    ("subquery", "id"): ("not_null", "unique"), ("subquery", "name"): ("not_null",),
    ("exprs", "constant"): ("not_null",),
    ("srf", "id"): ("not_null",),
}


def test_the_catalog_proves_not_null_and_unique_only_where_the_view_definition_guarantees_them(warehouse_url):
    engine = create_engine(warehouse_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("create schema probe"))
            for statement in filter(str.strip, PROBE.split(";")):
                conn.execute(sa.text(statement))
        proven = proven_tests(engine, "probe")
    finally:
        engine.dispose()
    tables = {"t", "u", "parent", "child"}
    assert {k: v for k, v in proven.items() if k[0] not in tables} == PROVEN


# --- the command --------------------------------------------------------------------------------------

def test_docs_dbt_writes_the_package_and_check_reports_drift(warehouse_url, tmp_path):
    realise = realise_cli(warehouse_url, tmp_path)

    out = tmp_path / "dbt"
    written = realise("docs", "dbt", "--out", str(out))
    assert written.returncode == 0, written.stderr
    committed = generated_files(DBT_DIR)
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == committed
    assert all((out / p).read_text() == (DBT_DIR / p).read_text() for p in committed)
    assert realise("docs", "dbt", "--out", str(out), "--check").returncode == 0

    (out / PROJECT_FILE).write_text((out / PROJECT_FILE).read_text() + "# edited\n")
    (out / MODELS_DIR / "stg_realise__dropped_view.sql").write_text("select 1\n")
    stale = realise("docs", "dbt", "--out", str(out), "--check")
    assert stale.returncode == 1 and stale.stdout == ""
    assert stale.stderr.strip().splitlines() == [
        f"{out} is out of date ({PROJECT_FILE}, {MODELS_DIR}/stg_realise__dropped_view.sql): "
        f"run `realise docs dbt --out {out}`"]
    assert realise("docs", "dbt", "--out", str(out)).returncode == 0
    assert stale_files(_render(warehouse_url), out) == ([], [])

    missing = realise("docs", "dbt", "--out", str(tmp_path / "no" / "such" / "dir"))
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert f"directory {tmp_path / 'no' / 'such'} does not exist" in missing.stderr
