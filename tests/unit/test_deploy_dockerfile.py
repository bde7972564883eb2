"""Static checks of the Dockerfile and its build context (.dockerignore) against the project they package."""

from __future__ import annotations

import json
import re
import shlex
from fnmatch import fnmatch
from functools import cache
from pathlib import PurePosixPath

from tests.unit.deployfiles import (
    DOCKERIGNORE,
    ROOT,
    dockerfile_env,
    dockerfile_json,
    dockerfile_steps,
    in_image,
    prefect_deployments,
    pyproject,
)

# ------------------------------------------------------------------------------ build context helpers


def _copy_sources() -> list[tuple[int, list[str]]]:
    """(instruction index, sources) of each COPY/ADD from the build context."""
    copies = []
    for index, (keyword, rest) in enumerate(dockerfile_steps()):
        if keyword not in ("COPY", "ADD"):
            continue
        args = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
        flags = [a for a in args if a.startswith("--")]
        if any(flag.startswith("--from") for flag in flags):
            continue
        paths = [a for a in args if not a.startswith("--")]
        copies.append((index, paths[:-1]))
    return copies


def _glob_to_regex(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
            i = end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


@cache
def _dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = str(PurePosixPath(line.lstrip("!").strip().lstrip("/")))
        rules.append((negated, re.compile(_glob_to_regex(pattern))))
    return rules


def _dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative to the repo) out of the build context."""
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for negated, rule in _dockerignore_rules():
        if any(rule.fullmatch(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


# --------------------------------------------------------------------------------------------- tests


def test_dockerfile_base_image_satisfies_requires_python():
    from packaging.specifiers import SpecifierSet

    base = next(rest for kw, rest in dockerfile_steps() if kw == "FROM")
    match = re.fullmatch(r"python:(\d+\.\d+)-slim(?:\S*)?(?: AS \S+)?", base, re.IGNORECASE)
    assert match, f"base image should be python:<version>-slim, got {base}"
    assert SpecifierSet(pyproject()["project"]["requires-python"]).contains(f"{match.group(1)}.0")


def test_dockerfile_installs_the_lock_then_the_project_without_dependencies():
    steps = dockerfile_steps()

    def first(predicate) -> int:
        return next((i for i, step in enumerate(steps) if predicate(*step)), -1)

    copy_lock = first(lambda kw, rest: kw == "COPY" and "requirements.lock" in rest.split())
    install_lock = first(lambda kw, rest: kw == "RUN" and re.search(r"pip install .*-r requirements\.lock", rest))
    copy_project = first(lambda kw, rest: kw == "COPY" and rest.split()[0] == ".")
    install_project = first(lambda kw, rest: kw == "RUN" and re.search(r"pip install --no-deps \.(\s|$)", rest))
    assert -1 not in (copy_lock, install_lock, copy_project, install_project), steps
    assert copy_lock < install_lock < copy_project < install_project, (
        "install the pinned dependencies before copying the project, so the dependency layer is cached"
    )


def test_dockerfile_copy_sources_exist_in_the_build_context():
    copies = _copy_sources()
    assert copies, "Dockerfile copies nothing from the build context"
    for _, sources in copies:
        for source in sources:
            matches = list(ROOT.glob(source)) if any(c in source for c in "*?[") else [ROOT / source]
            assert matches and all(m.exists() for m in matches), f"COPY source {source} does not exist"
            if source != ".":
                assert not _dockerignored(source), f"COPY source {source} is excluded by .dockerignore"


def test_dockerfile_runs_the_realise_cli_as_a_non_root_user():
    users = [rest for kw, rest in dockerfile_steps() if kw == "USER"]
    assert users, "Dockerfile never leaves root"
    assert users[-1].split(":")[0] not in ("root", "0")
    entrypoint = dockerfile_json("ENTRYPOINT")
    assert entrypoint and PurePosixPath(entrypoint[0]).name == "realise", entrypoint


def test_dockerignore_keeps_secrets_and_local_state_out_and_the_sources_in():
    for path in (
        ".git/config",
        ".venv/bin/python",
        ".realise/pg/PG_VERSION",
        ".env",
        "tests/unit/x.py",
        "realise/__pycache__/cli.cpython-311.pyc",
        "realise.egg-info/PKG-INFO",
    ):
        assert _dockerignored(path), f".dockerignore should exclude {path}"

    find = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [
        p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and any(fnmatch(p.name, i) for i in find)
    ]
    assert "realise" in packages
    needed = ["pyproject.toml", "requirements.lock", "prefect.yaml", *(f"{p}/__init__.py" for p in packages)]
    readme = pyproject()["project"].get("readme")
    if isinstance(readme, str):
        needed.append(readme)
    needed += [d["entrypoint"].partition(":")[0] for d in prefect_deployments().values()]
    config = in_image(dockerfile_env().get("REALISE_CONFIG", ""))
    if config:
        needed.append(config)
    excluded = [path for path in needed if _dockerignored(path)]
    assert not excluded, f".dockerignore excludes files the image needs: {excluded}"
