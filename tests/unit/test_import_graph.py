"""The import structure: layers that only point down, and no module that imports itself back through others.

Layers: every first-party package sits on one, and imports only its own modules and those of the packages
under it. Every import counts, inside functions and under `if TYPE_CHECKING:` too: an import that points up
is a dependency that points up, however late it runs.

Loops: no first-party module imports itself back through others at import time. A loop makes the import order
matter and is usually dodged with an import inside a function; both hide where a module sits. Module-level
imports only (those inside functions run late and cannot loop at import time; those under
`if TYPE_CHECKING:` never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# From the ground up. A package may import the packages of the layers under its own and, within its layer,
# those listed before it (sideways, one way): connectors read and write warehouse tables, ingestion asks the
# connectors which sources are pushed rather than pulled; never the other way round.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("contracts", ("schemas",)),  # the events every layer speaks
    ("foundation", ("foundation",)),  # settings, errors, privacy, progress, service clients, embedded stack
    # the store, sources onto Kafka, Kafka into the store, the report read from the store
    ("pipeline", ("warehouse", "connectors", "ingestion", "reporting")),
    ("tools", ("synthetic", "simulator", "bench")),  # generated data, stand-in vendor APIs, benchmarks
    ("flows", ("flows",)),  # Prefect flows over the pipeline
    ("interface", ("realise",)),  # the command line and doctor
)
PACKAGES = tuple(package for _, packages in LAYERS for package in packages)
# Imports that point up today, each with why and what ends it. One that is no longer made fails the test.
ALLOWED_UP: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(*, migrations: bool = False) -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if migrations or "migrations" not in path.parts:
                found[module_name(path)] = path
    return found


def _top_level(tree: ast.Module) -> list[ast.stmt]:
    """Statements that run on import: the module's own, and those inside top-level try/if blocks other than
    `if TYPE_CHECKING:`."""
    out: list[ast.stmt] = []
    pending = list(tree.body)
    while pending:
        node = pending.pop(0)
        out.append(node)
        if isinstance(node, ast.If):
            test = node.test
            if not (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
                    or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
                pending.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend(node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body])
    return out


def imports(name: str, path: Path, known: set[str], *, everywhere: bool = False) -> set[str]:
    """First-party modules `name` imports at import time; with `everywhere`, inside functions and under
    `if TYPE_CHECKING:` too."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree) if everywhere else _top_level(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def rank(module: str) -> int:
    """The package's place from the ground up: a module may import those of a lower or equal rank."""
    return PACKAGES.index(module.partition(".")[0])


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) for every import of a package above the importer's own, or beside it but after it."""
    return sorted((name, target) for name, targets in graph.items() for target in targets
                  if rank(target) > rank(name))


def test_upward_finds_imports_up_and_sideways_back_and_passes_those_down_and_within() -> None:
    graph = {
        "realise.cli": {"flows.demo", "foundation.config", "realise.commands"},
        "foundation.config": {"schemas.events", "realise.cli"},  # up to the top
        "ingestion.health": {"connectors.webhook", "warehouse.losses"},  # sideways, the allowed way
        "warehouse.losses": {"ingestion.runner"},  # sideways, back
        "bench.pull": {"simulator", "connectors.service"},
        "connectors.service": {"bench.pull"},  # a pipeline package using a tool
    }
    assert upward(graph) == [("connectors.service", "bench.pull"), ("foundation.config", "realise.cli"),
                             ("warehouse.losses", "ingestion.runner")]


def test_every_package_is_on_a_layer() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name != "tests"}
    assert packages == set(PACKAGES), "put a new package on a layer in LAYERS"


def test_imports_only_point_down() -> None:
    found = modules(migrations=True)
    known = set(found)
    graph = {name: imports(name, path, known, everywhere=True) for name, path in found.items()}
    assert sum(len(v) for v in graph.values()) > 500, "the import graph was not read"
    up = upward(graph)
    unexplained = [f"{a} imports {b}" for a, b in up if (a, b) not in ALLOWED_UP]
    assert not unexplained, "imports that point up a layer (or sideways, back):\n" + "\n".join(unexplained)
    stale = [f"{a} -> {b}" for a, b in ALLOWED_UP if (a, b) not in up]
    assert not stale, f"no longer imported: remove from ALLOWED_UP: {stale}"


def test_loops_finds_a_cycle_and_passes_a_tree() -> None:
    assert loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert loops({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_no_first_party_import_loops() -> None:
    found = modules()
    known = set(found)
    graph = {name: imports(name, path, known) for name, path in found.items()}
    assert sum(len(v) for v in graph.values()) > 200, "the import graph was not read"
    assert loops(graph) == []
