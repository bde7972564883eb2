"""Connector types are found by declaration: entry points in pyproject.toml, loaded one type at a time.

The framework (connectors/core) imports no concrete connector; a type that is missing or declared wrongly is
a one-line SourceError that says what to fix.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from connectors.core import stream
from connectors.core.stream import ENTRY_POINT_GROUP, Source, source_type, type_names
from foundation.errors import SourceError

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR_PACKAGES = sorted(p.name for p in (ROOT / "connectors").iterdir()
                            if (p / "__init__.py").is_file() and p.name != "core")


def _declared_in_pyproject() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project["entry-points"][ENTRY_POINT_GROUP]


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, **declared: str) -> None:
    entries = {name: EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP) for name, value in declared.items()}
    monkeypatch.setattr(stream, "_declared", lambda: entries)


def test_every_connector_package_declares_its_types_and_the_installed_metadata_matches_pyproject() -> None:
    declared = _declared_in_pyproject()
    assert sorted({value.split(":")[0].removeprefix("connectors.") for value in declared.values()}) == \
        CONNECTOR_PACKAGES, "a connector package without an entry point is never found"
    assert set(declared) <= set(type_names()), "installed metadata is stale: run `make install`"
    for type_name, value in declared.items():
        cls = source_type(type_name, type_name)
        assert issubclass(cls, Source) and cls.type == type_name
        assert f"{cls.__module__}:{cls.__qualname__}" == value


def test_the_framework_imports_no_connector_and_no_registry_of_them() -> None:
    found = []
    for path in sorted((ROOT / "connectors" / "core").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.name}: {name}" for name in names
                      if name.startswith("connectors.") and not name.startswith("connectors.core")]
    assert found == []


def test_given_one_source_type_when_looked_up_then_only_its_connector_package_is_imported() -> None:
    code = "\n".join([
        "import sys",
        "from connectors.core.pull import build_source",
        "from connectors.core.stream import source_type",
        "source_type('staff', 'esr_csv')",
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('connectors.')} - {'core'}))"])
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['esr']"


@pytest.mark.parametrize(("value", "says"), [
    ("connectors.nosuch:Thing", "cannot be loaded (ModuleNotFoundError: No module named 'connectors.nosuch')"),
    ("connectors.zendesk:Zendsk", "cannot be loaded (AttributeError: module 'connectors.zendesk' has no attribute"),
    ("connectors.zendesk:Zendesk", "names <class 'connectors.zendesk.Zendesk'>, not a Source whose type is 'helpdesk'"),
    ("connectors.zendesk:ticket_status", "not a Source whose type is 'helpdesk'"),
])
def test_given_a_misdeclared_entry_point_when_its_type_is_used_then_one_line_names_it_and_the_fix(
        monkeypatch: pytest.MonkeyPatch, value: str, says: str) -> None:
    _fake_entry_points(monkeypatch, helpdesk=value)
    with pytest.raises(SourceError) as raised:
        source_type("desk", "helpdesk")
    message = str(raised.value)
    assert message.startswith(f"connector type 'helpdesk' (entry point helpdesk = '{value}' in realise.connectors)")
    assert says in message
    assert message.endswith("fix it under [project.entry-points] in pyproject.toml and reinstall (`make install`)")
    assert "\n" not in message


def test_given_no_installed_entry_points_when_a_type_is_used_then_it_says_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_entry_points(monkeypatch)
    with pytest.raises(SourceError, match=r"^no connector types are installed \(no entry points in group "
                                          r"realise.connectors\): install Realise with `make install`"):
        source_type("desk", "helpdesk")


def test_given_an_undeclared_type_when_used_then_the_declared_ones_are_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_entry_points(monkeypatch, zendesk="connectors.zendesk:Zendesk")
    with pytest.raises(SourceError, match=r"^sources.desk.type 'helpdesk' is not a connector type; use one of: "
                                          r".*zendesk"):
        source_type("desk", "helpdesk")
