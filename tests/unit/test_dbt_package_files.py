"""The committed dbt package (dbt/) is one dbt can read: valid under dbt's published JSON schemas (vendored in
tests/vendor/dbt-jsonschema), each source table with its staging model, and the views' node trees read the way
PostgreSQL writes them. That it is what the generator makes from a migrated warehouse is
tests/integration/test_dbt_package.py.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from schemacheck import schema_errors

from warehouse.dbt import (
    DBT_DIR,
    MODEL_PREFIX,
    MODELS_DIR,
    MODELS_FILE,
    PROJECT_FILE,
    PROJECT_NAME,
    SCHEMA,
    SOURCE_NAME,
    SOURCES_FILE,
    model_name,
)
from warehouse.lineage import Catalog, parse_node_tree

VENDOR = Path(__file__).resolve().parents[1] / "vendor" / "dbt-jsonschema"
PROPERTY_SCHEMA = VENDOR / "dbt_yml_files-latest.json"
PROJECT_SCHEMA = VENDOR / "dbt_project-latest.json"


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((DBT_DIR / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"dbt/{name} must be a mapping"
    return data


def _source() -> dict[str, Any]:
    [source] = _load(SOURCES_FILE)["sources"]
    return source


# --- dbt's schemas ----------------------------------------------------------------------------------

def test_the_vendored_schemas_are_the_ones_recorded_with_their_origin():
    recorded = (VENDOR / "SOURCE.md").read_text(encoding="utf-8")
    assert "https://github.com/dbt-labs/dbt-jsonschema" in recorded and (VENDOR / "LICENSE").is_file()
    for schema in (PROPERTY_SCHEMA, PROJECT_SCHEMA):
        digest = hashlib.sha256(schema.read_bytes()).hexdigest()
        assert f"`{schema.name}`" in recorded and f"`{digest}`" in recorded, (
            f"{schema.name} differs from the copy SOURCE.md records: copy it again and record the commit")


def test_the_property_files_and_the_project_are_valid_under_dbts_schemas():
    errors = schema_errors([DBT_DIR / SOURCES_FILE, DBT_DIR / MODELS_FILE], ["--schemafile", str(PROPERTY_SCHEMA)])
    errors += schema_errors([DBT_DIR / PROJECT_FILE], ["--schemafile", str(PROJECT_SCHEMA)])
    assert not errors, "the dbt package breaks dbt's schemas:\n" + "\n".join(f"{f}: {p}: {m}" for f, p, m in errors)


def test_the_schema_check_catches_a_misspelt_column_property(tmp_path):
    broken = _load(SOURCES_FILE)
    broken["sources"][0]["tables"][0]["columns"][0]["descripton"] = "typo"
    path = tmp_path / "sources.yml"
    path.write_text(yaml.safe_dump(broken, sort_keys=False))
    errors = schema_errors([path], ["--schemafile", str(PROPERTY_SCHEMA)])
    assert [(p, m) for _, p, m in errors] == [
        ("$.sources[0].tables[0].columns[0]", "Additional properties are not allowed ('descripton' was unexpected)")]


# --- the package hangs together ------------------------------------------------------------------------

def test_the_project_is_a_dbt_package_whose_model_paths_hold_the_staging_models():
    project = _load(PROJECT_FILE)
    assert project["name"] == PROJECT_NAME and project["config-version"] == 2
    assert any(MODELS_DIR.startswith(f"{p}/") for p in project["model-paths"])


def test_the_source_reads_the_analytics_schema_and_leaves_the_database_to_the_profile():
    source = _source()
    assert source["name"] == SOURCE_NAME and source["schema"] == SCHEMA and "database" not in source
    tables = [t["name"] for t in source["tables"]]
    assert len(tables) >= 15 and tables == sorted(tables)
    for table in source["tables"]:
        assert table.get("description"), f"{table['name']} has no description"
        assert all(c.get("description") for c in table["columns"]), f"{table['name']}: a column lacks one"


def test_every_source_table_has_a_staging_model_with_the_same_columns_and_descriptions():
    models = {m["name"]: m for m in _load(MODELS_FILE)["models"]}
    sql_files = {p.name for p in (DBT_DIR / MODELS_DIR).glob(f"{MODEL_PREFIX}*.sql")}
    tables = _source()["tables"]
    assert sorted(models) == [model_name(t["name"]) for t in tables]
    assert sql_files == {f"{model_name(t['name'])}.sql" for t in tables}
    for table in tables:
        model = models[model_name(table["name"])]
        assert model.get("description") == table.get("description")
        assert [{k: v for k, v in c.items() if k != "data_tests"} for c in table["columns"]] == model["columns"]
        sql = (DBT_DIR / MODELS_DIR / f"{model['name']}.sql").read_text(encoding="utf-8")
        selected = re.search(r"^select\n(.*?)\nfrom \{\{ source\('(\w+)', '(\w+)'\) \}\}$", sql, re.S | re.M)
        assert selected and selected.group(2, 3) == (SOURCE_NAME, table["name"]), sql
        names = [n.strip().strip('"') for n in selected.group(1).split(",\n")]
        assert names == [c["name"] for c in table["columns"]]


def test_data_tests_are_only_the_provable_ones_and_sit_on_the_source():
    tested = {test for t in _source()["tables"] for c in t["columns"] for test in c.get("data_tests", [])}
    assert tested <= {"not_null", "unique"} and "not_null" in tested
    assert not [c for m in _load(MODELS_FILE)["models"] for c in m["columns"] if "data_tests" in c]


# --- reading PostgreSQL's node trees --------------------------------------------------------------------

def test_node_trees_parse_into_nodes_lists_and_escaped_names():
    tree = parse_node_tree(r'({QUERY :commandType 1 :rtable ({RTE :alias <> :eref {ALIAS :aliasname \:odd\ name'
                           r' :colnames ("a" "b")}}) :x (b) :y (b 3 4) :constvalue 4 [ 5 0 0 0 ] :z <>})')
    [query] = tree
    assert query["_type"] == "QUERY" and query["commandType"] == "1" and query["z"] is None
    assert query["rtable"][0]["eref"]["aliasname"] == ":odd name"
    assert query["rtable"][0]["eref"]["colnames"] == ['"a"', '"b"']
    assert query["x"] == ["b"] and query["y"] == ["b", "3", "4"]
    assert query["constvalue"] == ["4", "[", "5", "0", "0", "0", "]"]


def _var(varno: int, attno: int, nulling: list[str] | None = None) -> dict[str, Any]:
    return {"_type": "VAR", "varno": str(varno), "varattno": str(attno), "varlevelsup": "0",
            "varnullingrels": nulling or ["b"]}


def _view(*exprs: Any, rtable: list[dict[str, Any]], **flags: Any) -> dict[str, Any]:
    return {"_type": "QUERY", "commandType": "1", "hasAggs": "false", "hasTargetSRFs": "false",
            "rtable": rtable, "jointree": {"_type": "FROMEXPR", "fromlist": [{"_type": "RANGETBLREF",
                                                                           "rtindex": "1"}]},
            "targetList": [{"_type": "TARGETENTRY", "expr": e, "resno": str(i), "resjunk": "false"}
                           for i, e in enumerate(exprs, 1)], **flags}


@pytest.mark.parametrize(("expr", "flags", "proven"), [
    (_var(1, 1), {}, (True, True)),
    (_var(1, 2), {}, (True, False)),  # NOT NULL, no key
    (_var(1, 3), {}, (False, False)),  # nullable
    (_var(1, 1, ["b", "2"]), {}, (False, True)),  # an outer join may null it
    ({"_type": "COALESCEEXPR", "args": [_var(1, 3), {"_type": "CONST", "constisnull": "false"}]}, {},
     (True, False)),
    ({"_type": "COALESCEEXPR", "args": [_var(1, 3), {"_type": "CONST", "constisnull": "true"}]}, {},
     (False, False)),
    ({"_type": "RELABELTYPE", "arg": _var(1, 2)}, {}, (True, False)),
    ({"_type": "FUNCEXPR", "args": [_var(1, 1)]}, {}, (False, False)),
    (_var(1, 1), {"setOperations": {"_type": "SETOPERATIONSTMT"}}, (False, False)),
    (_var(1, 1), {"hasTargetSRFs": "true"}, (True, False)),  # rows repeat; none is null
])
def test_a_view_column_is_proven_only_from_what_its_definition_shows(expr, flags, proven):
    table, view = 10, 20
    catalog = Catalog(kinds={table: "r", view: "v"}, not_null={(table, 1), (table, 2)}, unique={(table, 1)},
                      queries={})
    catalog._parsed[view] = _view(expr, rtable=[{"_type": "RANGETBLENTRY", "rtekind": "0", "relid": str(table)}],
                                  **flags)
    assert (catalog.column_not_null(view, 1), catalog.column_unique(view, 1)) == proven
