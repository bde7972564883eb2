"""Readers of the deployment files that more than one test_deploy_* module cross-checks.

No Docker engine and no network: YAML is read with PyYAML; the Compose file is validated against the Compose
specification's own JSON schema (github.com/compose-spec/compose-spec, schema/compose-spec.json, Apache-2.0),
which check-jsonschema ships in its wheel as `vendor.compose-spec`; the Dockerfile, which has no schema, is
split into instructions here.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from schemacheck import schema_errors

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PREFECT_FILE = ROOT / "prefect.yaml"
DEPLOY_DIR = ROOT / "deploy"
PRODUCTION_CONFIG = DEPLOY_DIR / "realise.production.yaml"
ENV_EXAMPLE = DEPLOY_DIR / "env.example"
TOPICS_SCRIPT = DEPLOY_DIR / "kafka" / "create-topics.sh"
POSTGRES_INITDB = DEPLOY_DIR / "postgres" / "initdb"

# `$$` is a literal dollar; `${NAME}`, `${NAME:-default}`, `${NAME:?message}` (and the forms without the
# colon) are compose interpolation.
COMPOSE_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)
REQUIRED_VARIABLE = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):\?[^}]*\}$")
URL_PASSWORD = re.compile(r"://[^/:@\s]+:(?P<password>\$\{[^}]*\}|[^@\s]+)@")


# ---------------------------------------------------------------------------------------------- loading


@cache
def compose_file() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


def compose_services() -> dict[str, dict[str, Any]]:
    found = compose_file().get("services")
    assert isinstance(found, dict) and found, "docker-compose.yml has no services"
    return found


@cache
def prefect_project() -> dict[str, Any]:
    data = yaml.safe_load(PREFECT_FILE.read_text())
    assert isinstance(data, dict), "prefect.yaml must be a mapping"
    return data


def prefect_deployments() -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in prefect_project().get("deployments") or []}


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


# ----------------------------------------------------------------------------------- the Compose schema


def compose_spec_errors(path: Path) -> list[str]:
    """Where `path` breaks the Compose specification, as check-jsonschema (its vendored schema) reports it."""
    return [f"{where}: {message}" for _, where, message in
            schema_errors([path], ["--builtin-schema", "vendor.compose-spec"])]


# ------------------------------------------------------------------------------------- compose values


def interpolate(value: Any) -> str:
    """The value as compose passes it on: defaults filled in, required variables given a stand-in."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        op = match.group("op") or ""
        if op.endswith("-"):
            return match.group("arg")
        if op.endswith("?"):
            return f"required-{match.group('name').lower()}"
        return f"value-{(match.group('name') or match.group('bare')).lower()}"

    return COMPOSE_VARIABLE.sub(substitute, str(value))


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def required_variables() -> set[str]:
    """Variables that docker-compose.yml requires (`${NAME:?message}`) anywhere."""
    found: set[str] = set()
    for text in _strings(compose_file()):
        for match in COMPOSE_VARIABLE.finditer(text):
            if (match.group("op") or "").endswith("?"):
                found.add(match.group("name"))
    return found


def service_env(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping, whichever of the two Compose forms it is written in."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {key: value for key, value in pairs}
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def as_argv(value: Any) -> list[str]:
    """A command or entrypoint as an argument list, whichever of the two Compose forms it is written in."""
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(item) for item in value]


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """The services this one waits for, each with the condition it waits on."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


# ------------------------------------------------------------------------------------------ Dockerfile


@cache
def dockerfile_steps() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def dockerfile_json(keyword: str) -> list[str] | None:
    """The last `keyword` instruction's arguments, which must be in the exec (JSON array) form."""
    values = [rest for kw, rest in dockerfile_steps() if kw == keyword]
    if not values:
        return None
    parsed = json.loads(values[-1])
    assert isinstance(parsed, list), f"{keyword} should use the exec (JSON array) form"
    return parsed


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in dockerfile_steps():
        if keyword == "ENV":
            for token in shlex.split(rest):
                key, _, value = token.partition("=")
                env[key] = value
    return env


def image_workdir() -> PurePosixPath:
    workdirs = [rest for kw, rest in dockerfile_steps() if kw == "WORKDIR"]
    assert workdirs, "Dockerfile sets no WORKDIR"
    return PurePosixPath(workdirs[-1])


def in_image(container_path: str) -> str | None:
    """The repo-relative path of a file the image has under its WORKDIR (COPY . .), else None."""
    try:
        return str(PurePosixPath(container_path).relative_to(image_workdir()))
    except ValueError:
        return None
