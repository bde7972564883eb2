"""Static checks of prefect.yaml: a valid project file for the pinned Prefect, naming the flows in the code."""

from __future__ import annotations

import ast
import re
from importlib.metadata import version
from pathlib import Path

from tests.unit.deployfiles import ROOT, image_workdir, prefect_deployments, prefect_project

# -------------------------------------------------------------------------------------- flow helpers


def _flow_function(entrypoint: str) -> tuple[Path, ast.FunctionDef | ast.AsyncFunctionDef | None]:
    path, _, func = entrypoint.partition(":")
    file = ROOT / path
    if not file.is_file():
        return file, None
    tree = ast.parse(file.read_text(), filename=str(file))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == func:
            return file, node
    return file, None


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _flows_in_code() -> list[str]:
    """Every module-level function decorated with @flow under flows/, as a prefect.yaml entrypoint."""
    found = []
    for file in sorted((ROOT / "flows").rglob("*.py")):
        tree = ast.parse(file.read_text(), filename=str(file))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                    "flow" in {_decorator_name(d) for d in node.decorator_list}:
                found.append(f"{file.relative_to(ROOT).as_posix()}:{node.name}")
    return found


# --------------------------------------------------------------------------------------------- tests


def test_prefect_yaml_is_a_valid_project_file_for_the_pinned_prefect():
    from prefect.cli.deploy._models import PrefectYamlModel

    model = PrefectYamlModel.model_validate(prefect_project())
    pinned = re.search(r"^prefect==(\S+)$", (ROOT / "requirements.lock").read_text(), re.MULTILINE)
    assert model.prefect_version == version("prefect") == pinned.group(1)
    names = [d.name for d in model.deployments]
    assert len(names) == len(set(names)), f"duplicate deployment names: {names}"
    for deployment in model.deployments:
        assert deployment.work_pool and deployment.work_pool.name, f"{deployment.name}: no work pool"


def test_pull_step_starts_flow_runs_in_the_image_workdir():
    pull = prefect_project().get("pull") or []
    directories = [
        step["prefect.deployments.steps.set_working_directory"]["directory"]
        for step in pull
        if "prefect.deployments.steps.set_working_directory" in step
    ]
    assert directories == [str(image_workdir())], f"pull steps {pull} should set the directory to {image_workdir()}"


def test_every_flow_has_a_deployment():
    flows = _flows_in_code()
    assert "flows/ingest.py:ingest_flow" in flows, "the flow scan found no ingest flow: is it still @flow?"
    deployed = {d["entrypoint"] for d in prefect_deployments().values()}
    missing = [f for f in flows if f not in deployed]
    assert not missing, f"flows with no deployment in prefect.yaml: {missing}"


def test_no_flow_file_is_named_like_a_top_level_package():
    """Prefect runs an entrypoint's file as a module named after it, with the file's folder first on sys.path:
    a flows/ingest.py would stand in for a top-level `ingest` package in everything the run imports."""
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    folders = {(ROOT / d["entrypoint"].partition(":")[0]).parent for d in prefect_deployments().values()}
    clashes = sorted((folder / name).relative_to(ROOT).as_posix() for folder in folders - {ROOT} for name in packages
                     if (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file())
    assert not clashes, f"named like a top-level package, so hiding it from flow runs: {clashes}"


def test_deployment_entrypoints_name_flow_functions():
    deployments = prefect_deployments()
    assert deployments, "prefect.yaml defines no deployments"
    problems = []
    for name, deployment in deployments.items():
        entrypoint = deployment["entrypoint"]
        file, func = _flow_function(entrypoint)
        if func is None:
            problems.append(f"{name}: {entrypoint}: " + ("no such function" if file.is_file() else "no such file"))
            continue
        if "flow" not in {_decorator_name(d) for d in func.decorator_list}:
            problems.append(f"{name}: {entrypoint} is not decorated with @flow")
        accepted = {a.arg for a in (*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs)}
        unknown = set(deployment.get("parameters") or {}) - accepted
        if unknown and func.args.kwarg is None:
            problems.append(f"{name}: {entrypoint} takes no parameters {sorted(unknown)}")
    assert not problems, "\n".join(problems)


def test_ingest_drain_deployment_is_scheduled_one_at_a_time():
    drain = prefect_deployments()["ingest-drain"]
    assert drain["entrypoint"] == "flows/ingest.py:ingest_flow"
    assert drain["parameters"] == {"mode": "drain"}
    limit = drain.get("concurrency_limit")
    assert (limit["limit"] if isinstance(limit, dict) else limit) == 1
    schedules = [s for s in drain.get("schedules") or [] if s.get("active", True)]
    assert schedules, "ingest-drain needs an active schedule"
    assert any(s.get("interval") == 300 for s in schedules), "ingest-drain runs every 5 minutes"


def test_demo_deployment_runs_on_demand_only():
    demo = prefect_deployments()["demo"]
    assert demo["entrypoint"] == "flows/demo.py:demo_flow"
    assert not demo.get("schedules") and not demo.get("schedule")
