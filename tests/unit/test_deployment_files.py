"""Static checks of the production deployment files.

docker-compose.yml, Dockerfile, .dockerignore, prefect.yaml and deploy/ are parsed (no Docker engine, no
network) and cross-checked against the code they deploy: the `realise` CLI commands, the flow functions,
the settings and environment variable names, the topic names and the pinned Prefect version.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from functools import cache
from importlib.metadata import version
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

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

EXPECTED_SERVICES = {"kafka", "kafka-init", "postgres", "prefect-server", "prefect-worker", "migrate", "ingest"}
TOP_LEVEL_KEYS = {"name", "services", "volumes", "networks", "configs", "secrets", "include"}
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
LONG_RUNNING_RESTART = {"always", "unless-stopped"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PSEUDONYM_KEY")
SHELLS = {"sh", "/bin/sh", "bash", "/bin/bash"}
SHELL_SEPARATORS = {";", "&&", "||", "|", "(", ")", "&"}

# `$$` is a literal dollar; `${NAME}`, `${NAME:-default}`, `${NAME:?message}` (and the forms without the
# colon) are compose interpolation.
COMPOSE_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)
REQUIRED_VARIABLE = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):\?[^}]*\}$")
URL_PASSWORD = re.compile(r"://[^/:@\s]+:(?P<password>\$\{[^}]*\}|[^@\s]+)@")


# ---------------------------------------------------------------------------------------------- loading


@cache
def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


def _services() -> dict[str, dict[str, Any]]:
    services = _compose().get("services")
    assert isinstance(services, dict) and services, "docker-compose.yml has no services"
    return services


@cache
def _prefect_project() -> dict[str, Any]:
    data = yaml.safe_load(PREFECT_FILE.read_text())
    assert isinstance(data, dict), "prefect.yaml must be a mapping"
    return data


def _deployments() -> dict[str, dict[str, Any]]:
    deployments = _prefect_project().get("deployments") or []
    return {d["name"]: d for d in deployments}


@cache
def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


# ------------------------------------------------------------------------------------- compose helpers


def _interpolate(value: Any) -> str:
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


def _required_variables() -> set[str]:
    found: set[str] = set()
    for text in _strings(_compose()):
        for match in COMPOSE_VARIABLE.finditer(text):
            if (match.group("op") or "").endswith("?"):
                found.add(match.group("name"))
    return found


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {key: value for key, value in pairs}
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def _argv(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(item) for item in value]


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _one_shot_services() -> set[str]:
    """Services that others wait on to finish: they run once and exit."""
    return {
        name
        for service in _services().values()
        for name, condition in _depends_on(service).items()
        if condition == "service_completed_successfully"
    }


def _mounts(service: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(type, source, target) for each volume entry: type is `volume` or `bind`."""
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            yield entry.get("type", "volume"), str(entry.get("source", "")), str(entry["target"])
            continue
        parts = str(entry).split(":")
        if len(parts) == 1:  # anonymous volume
            continue
        source, target = parts[0], parts[1]
        kind = "bind" if source.startswith((".", "/", "~", "$")) else "volume"
        yield kind, source, target


def _repo_path(source: str) -> Path:
    return (COMPOSE_FILE.parent / _interpolate(source)).resolve()


def _shell_invocations(script: str) -> Iterator[list[str]]:
    """Each `realise ...` command in a shell script, up to the next shell operator."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    for i, token in enumerate(tokens):
        if token == "realise" and (i == 0 or tokens[i - 1] in SHELL_SEPARATORS):
            args: list[str] = []
            for arg in tokens[i + 1 :]:
                if arg in SHELL_SEPARATORS:
                    break
                args.append(arg)
            yield args


def _invocations_in(argv: list[str]) -> Iterator[list[str]]:
    if not argv:
        return
    head = argv[0]
    if head in ("realise", "/usr/local/bin/realise"):
        yield argv[1:]
    elif head == "CMD":
        yield from _invocations_in(argv[1:])
    elif head == "CMD-SHELL" and len(argv) > 1:
        yield from _shell_invocations(" ".join(argv[1:]))
    elif head in SHELLS and len(argv) > 2 and argv[1] == "-c":
        yield from _shell_invocations(argv[2])


def _realise_invocations() -> list[tuple[str, list[str]]]:
    """Every `realise` command line in docker-compose.yml, with the service it belongs to."""
    image_entrypoint = _dockerfile_json("ENTRYPOINT") or []
    found: list[tuple[str, list[str]]] = []
    for name, service in _services().items():
        command = _argv(service.get("command"))
        if "build" in service:
            entrypoint = _argv(service["entrypoint"]) if "entrypoint" in service else image_entrypoint
            if command or "entrypoint" in service:
                found += [(name, args) for args in _invocations_in(entrypoint + command)]
        else:
            found += [(name, args) for args in _invocations_in(_argv(service.get("entrypoint")) + command)]
        healthcheck = (service.get("healthcheck") or {}).get("test")
        if healthcheck:
            test = ["CMD-SHELL", healthcheck] if isinstance(healthcheck, str) else _argv(healthcheck)
            found += [(f"{name} healthcheck", args) for args in _invocations_in(test)]
    return found


# ----------------------------------------------------------------------------------- Dockerfile helpers


@cache
def _dockerfile() -> list[tuple[str, str]]:
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


def _dockerfile_json(keyword: str) -> list[str] | None:
    values = [rest for kw, rest in _dockerfile() if kw == keyword]
    if not values:
        return None
    parsed = json.loads(values[-1])
    assert isinstance(parsed, list), f"{keyword} should use the exec (JSON array) form"
    return parsed


def _dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in _dockerfile():
        if keyword == "ENV":
            for token in shlex.split(rest):
                key, _, value = token.partition("=")
                env[key] = value
    return env


def _workdir() -> PurePosixPath:
    workdirs = [rest for kw, rest in _dockerfile() if kw == "WORKDIR"]
    assert workdirs, "Dockerfile sets no WORKDIR"
    return PurePosixPath(workdirs[-1])


def _copy_sources() -> list[tuple[int, list[str]]]:
    """(instruction index, sources) of each COPY/ADD from the build context."""
    copies = []
    for index, (keyword, rest) in enumerate(_dockerfile()):
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


def _in_image(container_path: str) -> str | None:
    """The repo-relative path of a file the image has under its WORKDIR (COPY . .), else None."""
    try:
        return str(PurePosixPath(container_path).relative_to(_workdir()))
    except ValueError:
        return None


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


# =================================================================================== docker-compose.yml


def test_compose_file_follows_the_compose_spec():
    data = _compose()
    assert "version" not in data, "the Compose spec has no `version:` key"
    unknown = {key for key in data if key not in TOP_LEVEL_KEYS and not key.startswith("x-")}
    assert not unknown, f"unknown top-level keys: {sorted(unknown)}"
    missing = EXPECTED_SERVICES - set(_services())
    assert not missing, f"services missing: {sorted(missing)}"


def test_every_service_has_an_image_or_a_build():
    for name, service in _services().items():
        assert service.get("image") or service.get("build"), f"service {name} has neither image nor build"


def test_build_contexts_and_dockerfiles_exist():
    for name, service in _services().items():
        build = service.get("build")
        if build is None:
            continue
        spec = {"context": build} if isinstance(build, str) else build
        context = _repo_path(spec.get("context", "."))
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        dockerfile = context / spec.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"


def test_depends_on_names_existing_services_with_valid_conditions():
    services = _services()
    for name, service in services.items():
        for dep, condition in _depends_on(service).items():
            assert dep in services, f"{name} depends on {dep}, which is not a service"
            assert dep != name, f"{name} depends on itself"
            assert condition in DEPENDS_CONDITIONS, f"{name} → {dep}: unknown condition {condition!r}"
            if condition == "service_healthy":
                assert services[dep].get("healthcheck"), f"{name} waits for {dep} to be healthy; it has no healthcheck"

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert name not in trail, f"depends_on cycle: {' → '.join((*trail, name))}"
        for dep in _depends_on(services[name]):
            visit(dep, (*trail, name))

    for name in services:
        visit(name, ())


def test_long_running_services_restart_and_one_shot_services_exit():
    one_shot = _one_shot_services()
    for name, service in _services().items():
        restart = str(service.get("restart", "no"))
        if name in one_shot:
            assert restart == "no" or restart.startswith("on-failure"), (
                f"{name} is waited on to complete; restart: {restart} would run it forever"
            )
        else:
            assert restart in LONG_RUNNING_RESTART, f"long-running service {name} needs restart: unless-stopped"


def test_healthchecks_are_well_formed():
    for name, service in _services().items():
        check = service.get("healthcheck")
        if not check:
            continue
        assert not check.get("disable"), f"{name}: healthcheck disabled"
        test = check.get("test")
        assert isinstance(test, str) or (isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL")), (
            f"{name}: healthcheck test must be a string or a CMD / CMD-SHELL list, got {test!r}"
        )


def test_named_volumes_are_declared_and_used():
    declared = set(_compose().get("volumes") or {})
    used = {source for service in _services().values() for kind, source, _ in _mounts(service) if kind == "volume"}
    assert used <= declared, f"volumes used but not declared: {sorted(used - declared)}"
    assert declared <= used, f"volumes declared but not used: {sorted(declared - used)}"


def test_bind_mounts_and_the_paths_run_from_them_exist():
    for name, service in _services().items():
        binds = {target: source for kind, source, target in _mounts(service) if kind == "bind"}
        for source in binds.values():
            assert _repo_path(source).exists(), f"{name}: bind-mount source {source} does not exist"
        # A script the service runs from a mounted path must be in the mounted source.
        argv = _argv(service.get("entrypoint")) + _argv(service.get("command"))
        for token in argv:
            for target, source in binds.items():
                if token.startswith(target.rstrip("/") + "/") or token == target:
                    relative = token[len(target) :].lstrip("/")
                    mounted = _repo_path(source) / relative if relative else _repo_path(source)
                    assert mounted.exists(), f"{name} runs {token}, but {mounted} does not exist"


def _subcommands(cmd: Any) -> dict[str, Any] | None:
    """A command group's subcommands by name, or None for a leaf command (typer ships its own click)."""
    commands = getattr(cmd, "commands", None)
    return commands if isinstance(commands, dict) else None


def test_realise_commands_in_compose_exist_in_the_cli():
    import typer
    import typer.main

    from realise.cli import app

    root = typer.main.get_command(app)
    invocations = _realise_invocations()
    assert invocations, "no `realise` command found in docker-compose.yml"
    problems = []
    for where, args in invocations:
        cmd, path, rest = root, ["realise"], list(args)
        while (commands := _subcommands(cmd)) is not None and rest and not rest[0].startswith("-"):
            if rest[0] not in commands:
                problems.append(f"{where}: `{' '.join(path)}` has no command {rest[0]!r} (has {sorted(commands)})")
                break
            cmd, path, rest = commands[rest[0]], [*path, rest[0]], rest[1:]
        else:
            if commands is not None and not rest and not getattr(cmd, "invoke_without_command", False):
                problems.append(f"{where}: `{' '.join(path)}` is a group; name one of {sorted(commands)}")
                continue
            # Parse the options and arguments as the CLI would, without running the command.
            try:
                with cmd.make_context(" ".join(path), list(rest)):
                    pass
            except typer.TyperException as exc:
                problems.append(f"{where}: `{' '.join(['realise', *args])}`: {exc.format_message()}")
    assert not problems, "\n".join(problems)


def test_secrets_come_from_required_variables():
    for name, service in _services().items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key):
                assert REQUIRED_VARIABLE.match(value), (
                    f"{name}: {key} must be `${{VARIABLE:?message}}` (required, no default), not {value!r}"
                )
            password = URL_PASSWORD.search(value)
            if password:
                assert REQUIRED_VARIABLE.match(password.group("password")), (
                    f"{name}: the password in {key} must be a required variable, not a literal"
                )


def test_env_example_lists_every_required_variable_without_values():
    required = _required_variables()
    assert {"POSTGRES_PASSWORD", "REALISE_PSEUDONYM_KEY"} <= required
    listed = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line.strip())
        if match:
            listed[match.group(1)] = match.group(2)
    missing = required - set(listed)
    assert not missing, f"{ENV_EXAMPLE.name} does not list: {sorted(missing)}"
    filled = {key for key in required if listed[key]}
    assert not filled, f"{ENV_EXAMPLE.name} must not carry secret values: {sorted(filled)}"


def test_realise_environment_variables_are_known_settings():
    from realise.config import CONFIG_ENV, ENV_OVERRIDES, KafkaSettings
    from realise.privacy import PSEUDONYM_KEY_ENV

    known = set(ENV_OVERRIDES) | {
        CONFIG_ENV,
        PSEUDONYM_KEY_ENV,
        KafkaSettings.model_fields["sasl_password_env"].default,
    }
    used = {key for service in _services().values() for key in _environment(service) if key.startswith("REALISE_")}
    # Documented (commented-out) settings must be real too.
    documented = set(re.findall(r"^\s*#\s*(REALISE_[A-Z0-9_]+)\s*:", COMPOSE_FILE.read_text(), re.MULTILINE))
    unknown = (used | documented) - known
    assert not unknown, f"not Realise settings: {sorted(unknown)}"
    assert {"REALISE_WAREHOUSE_URL", "REALISE_KAFKA_BOOTSTRAP", "REALISE_PSEUDONYM_KEY"} <= used


def test_connection_urls_point_at_the_compose_postgres():
    from sqlalchemy.engine import make_url

    services = _services()
    postgres_env = _environment(services["postgres"])
    initdb = "\n".join(p.read_text() for p in sorted(POSTGRES_INITDB.glob("*.sh")))
    warehouse_urls = {
        _environment(s)["REALISE_WAREHOUSE_URL"]
        for s in services.values()
        if "REALISE_WAREHOUSE_URL" in _environment(s)
    }
    assert len(warehouse_urls) == 1, f"services disagree on REALISE_WAREHOUSE_URL: {warehouse_urls}"
    raw = warehouse_urls.pop()
    url = make_url(_interpolate(raw))
    assert url.drivername == "postgresql+psycopg"
    assert url.host in services and url.port == 5432
    assert url.username == postgres_env["POSTGRES_USER"] and url.database == postgres_env["POSTGRES_DB"]
    assert URL_PASSWORD.search(raw).group("password") == postgres_env["POSTGRES_PASSWORD"]

    raw = _environment(services["prefect-server"])["PREFECT_API_DATABASE_CONNECTION_URL"]
    url = make_url(_interpolate(raw))
    assert url.drivername == "postgresql+asyncpg"
    assert url.host in services and url.port == 5432
    assert re.search(rf"CREATE ROLE {url.username}\b", initdb), f"deploy/postgres/initdb creates no role {url.username}"
    assert re.search(rf"CREATE DATABASE {url.database}\b", initdb), f"initdb creates no database {url.database}"
    password_variable = URL_PASSWORD.search(raw).group("password")
    assert password_variable == postgres_env.get("PREFECT_DB_PASSWORD"), (
        "the postgres service must receive the Prefect database password its init script sets"
    )


def test_kafka_is_a_single_kraft_node_with_fixed_partitions():
    from realise.config import load_settings

    services = _services()
    kafka = services["kafka"]
    env = _environment(kafka)
    assert str(kafka["image"]).startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", "topics are created by kafka-init only"
    log_dirs = env["KAFKA_LOG_DIRS"]
    assert any(kind == "volume" and target == log_dirs for kind, _, target in _mounts(kafka)), (
        f"KAFKA_LOG_DIRS ({log_dirs}) must be on a named volume"
    )
    assert "kafka-broker-api-versions.sh" in json.dumps(kafka["healthcheck"]["test"])

    partitions = {
        "kafka KAFKA_NUM_PARTITIONS": env["KAFKA_NUM_PARTITIONS"],
        "kafka-init TOPIC_PARTITIONS": _environment(services["kafka-init"])["TOPIC_PARTITIONS"],
        "realise.production.yaml": str(load_settings(PRODUCTION_CONFIG, env={}).kafka.partitions),
    }
    for name, service in services.items():
        if "REALISE_KAFKA_PARTITIONS" in _environment(service):
            partitions[f"{name} REALISE_KAFKA_PARTITIONS"] = _environment(service)["REALISE_KAFKA_PARTITIONS"]
    assert len(set(partitions.values())) == 1, f"partition counts disagree: {partitions}"

    advertised = _interpolate(env["KAFKA_ADVERTISED_LISTENERS"])
    for name, service in services.items():
        bootstrap = _environment(service).get("REALISE_KAFKA_BOOTSTRAP")
        if bootstrap:
            assert f"://{bootstrap}" in advertised, f"{name}: {bootstrap} is not an advertised Kafka listener"


def test_kafka_init_creates_every_realise_topic(tmp_path):
    from schemas.topics import ALERTS_TOPIC, DEAD_LETTER_TOPIC, TOPICS

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    init = _services()["kafka-init"]
    assert _depends_on(init).get("kafka") == "service_healthy"
    log = tmp_path / "kafka-topics.log"
    fake = tmp_path / "kafka-topics.sh"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    fake.chmod(0o755)
    env = {key: _interpolate(value) for key, value in _environment(init).items()}
    result = subprocess.run(
        [bash, str(TOPICS_SCRIPT)],
        env={**env, "KAFKA_TOPICS": str(fake), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr

    created: dict[str, list[str]] = {}
    for line in log.read_text().splitlines():
        args = line.split()
        if "--create" in args:
            created[args[args.index("--topic") + 1]] = args
    expected = {*TOPICS.values(), DEAD_LETTER_TOPIC, ALERTS_TOPIC}
    assert set(created) == expected
    for topic, args in created.items():
        assert "--if-not-exists" in args, f"{topic}: creation must be idempotent"
        assert args[args.index("--partitions") + 1] == env["TOPIC_PARTITIONS"]
        assert args[args.index("--bootstrap-server") + 1] == env["BOOTSTRAP_SERVER"]


def test_postgres_service():
    postgres = _services()["postgres"]
    assert str(postgres["image"]).split(":")[0] == "postgres"
    assert REQUIRED_VARIABLE.match(_environment(postgres)["POSTGRES_PASSWORD"])
    targets = {target: kind for kind, _, target in _mounts(postgres)}
    # The postgres 18 images keep PGDATA under /var/lib/postgresql/<major>/docker.
    assert targets.get("/var/lib/postgresql") == "volume", "mount the data volume at /var/lib/postgresql"
    assert targets.get("/docker-entrypoint-initdb.d") == "bind"
    assert "pg_isready" in json.dumps(postgres["healthcheck"]["test"])


def test_prefect_server_matches_the_pinned_prefect():
    services = _services()
    server = services["prefect-server"]
    env = _environment(server)
    image, _, tag = str(server["image"]).partition(":")
    python = re.search(r"python:(\d+\.\d+)", next(rest for kw, rest in _dockerfile() if kw == "FROM"))
    assert image == "prefecthq/prefect"
    assert tag == f"{version('prefect')}-python{python.group(1)}", "server, worker and flows must run one Prefect"
    assert _argv(server["command"])[:3] == ["prefect", "server", "start"]
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert "/api/health" in json.dumps(server["healthcheck"]["test"])
    for name, service in services.items():
        for key in ("PREFECT_API_URL", "REALISE_PREFECT_API_URL"):
            if key in _environment(service):
                assert _environment(service)[key].startswith("http://prefect-server:4200/api"), f"{name}: {key}"


def test_prefect_worker_serves_the_prefect_yaml_work_pool():
    worker = _services()["prefect-worker"]
    argv = _argv(worker.get("entrypoint")) + _argv(worker.get("command"))
    assert argv[:3] == ["prefect", "worker", "start"], argv
    pool = argv[argv.index("--pool") + 1]
    assert argv[argv.index("--type") + 1] == "process"
    assert "build" in worker, "the worker runs flows from the Realise image"
    assert "PREFECT_API_URL" in _environment(worker)
    pools = {d["work_pool"]["name"] for d in _deployments().values()}
    assert pools == {pool}, f"deployments use pools {pools}; the worker serves {pool!r}"


def test_migrate_runs_once_before_the_ingest_service():
    services = _services()
    migrate, ingest = services["migrate"], services["ingest"]
    assert _argv(migrate["command"]) == ["db", "upgrade"]
    assert _depends_on(migrate).get("postgres") == "service_healthy"
    deps = _depends_on(ingest)
    assert deps.get("migrate") == "service_completed_successfully"
    assert deps.get("kafka-init") == "service_completed_successfully"


def test_ingest_service_runs_follow_mode_replicas():
    services = _services()
    ingest = services["ingest"]
    assert _argv(ingest["command"]) == ["ingest", "--follow"]
    assert "build" in ingest
    replicas = int((ingest.get("deploy") or {}).get("replicas", 1))
    partitions = int(_environment(services["kafka"])["KAFKA_NUM_PARTITIONS"])
    assert 1 <= replicas <= partitions, "replicas beyond the partition count sit idle"
    assert "container_name" not in ingest, "replicas cannot share a container name"


def test_default_image_tag_is_the_project_version():
    images = {str(s["image"]) for s in _services().values() if "build" in s}
    assert len(images) == 1, f"services built from the Dockerfile should share one image: {images}"
    assert _interpolate(images.pop()).endswith(f":{_pyproject()['project']['version']}")


# ============================================================================ Dockerfile, .dockerignore


def test_dockerfile_base_image_satisfies_requires_python():
    from packaging.specifiers import SpecifierSet

    base = next(rest for kw, rest in _dockerfile() if kw == "FROM")
    match = re.fullmatch(r"python:(\d+\.\d+)-slim(?:\S*)?(?: AS \S+)?", base, re.IGNORECASE)
    assert match, f"base image should be python:<version>-slim, got {base}"
    assert SpecifierSet(_pyproject()["project"]["requires-python"]).contains(f"{match.group(1)}.0")


def test_dockerfile_installs_the_lock_then_the_project_without_dependencies():
    steps = _dockerfile()

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
    users = [rest for kw, rest in _dockerfile() if kw == "USER"]
    assert users, "Dockerfile never leaves root"
    assert users[-1].split(":")[0] not in ("root", "0")
    entrypoint = _dockerfile_json("ENTRYPOINT")
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

    find = _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [
        p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and any(fnmatch(p.name, i) for i in find)
    ]
    assert "realise" in packages
    needed = ["pyproject.toml", "requirements.lock", "prefect.yaml", *(f"{p}/__init__.py" for p in packages)]
    readme = _pyproject()["project"].get("readme")
    if isinstance(readme, str):
        needed.append(readme)
    needed += [d["entrypoint"].partition(":")[0] for d in _deployments().values()]
    config = _in_image(_dockerfile_env().get("REALISE_CONFIG", ""))
    if config:
        needed.append(config)
    excluded = [path for path in needed if _dockerignored(path)]
    assert not excluded, f".dockerignore excludes files the image needs: {excluded}"


def test_configuration_file_named_by_the_image_and_compose_is_in_the_image():
    paths = {_dockerfile_env().get("REALISE_CONFIG")}
    paths |= {_environment(s)["REALISE_CONFIG"] for s in _services().values() if "REALISE_CONFIG" in _environment(s)}
    paths.discard(None)
    assert paths, "REALISE_CONFIG is set nowhere"
    for path in paths:
        relative = _in_image(path)
        assert relative is not None, f"{path} is not under the image's WORKDIR {_workdir()}"
        assert (ROOT / relative).is_file(), f"REALISE_CONFIG {path}: {relative} does not exist in the repo"


def test_production_settings_file_is_valid():
    from realise.config import load_settings

    settings = load_settings(PRODUCTION_CONFIG, env={})
    assert settings.warehouse.url is None and settings.kafka.bootstrap is None, (
        "addresses (and the credentials inside them) come from the environment, not the file"
    )


# ============================================================================================ prefect.yaml


def test_prefect_yaml_is_a_valid_project_file_for_the_pinned_prefect():
    from prefect.cli.deploy._models import PrefectYamlModel

    model = PrefectYamlModel.model_validate(_prefect_project())
    pinned = re.search(r"^prefect==(\S+)$", (ROOT / "requirements.lock").read_text(), re.MULTILINE)
    assert model.prefect_version == version("prefect") == pinned.group(1)
    names = [d.name for d in model.deployments]
    assert len(names) == len(set(names)), f"duplicate deployment names: {names}"
    for deployment in model.deployments:
        assert deployment.work_pool and deployment.work_pool.name, f"{deployment.name}: no work pool"


def test_pull_step_starts_flow_runs_in_the_image_workdir():
    pull = _prefect_project().get("pull") or []
    directories = [
        step["prefect.deployments.steps.set_working_directory"]["directory"]
        for step in pull
        if "prefect.deployments.steps.set_working_directory" in step
    ]
    assert directories == [str(_workdir())], f"pull steps {pull} should set the directory to {_workdir()}"


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


def test_every_flow_has_a_deployment():
    flows = _flows_in_code()
    assert "flows/ingest/flow.py:ingest_flow" in flows, "the flow scan found no ingest flow: is it still @flow?"
    deployed = {d["entrypoint"] for d in _deployments().values()}
    missing = [f for f in flows if f not in deployed]
    assert not missing, f"flows with no deployment in prefect.yaml: {missing}"


def test_deployment_entrypoints_name_flow_functions():
    deployments = _deployments()
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
    drain = _deployments()["ingest-drain"]
    assert drain["entrypoint"] == "flows/ingest/flow.py:ingest_flow"
    assert drain["parameters"] == {"mode": "drain"}
    limit = drain.get("concurrency_limit")
    assert (limit["limit"] if isinstance(limit, dict) else limit) == 1
    schedules = [s for s in drain.get("schedules") or [] if s.get("active", True)]
    assert schedules, "ingest-drain needs an active schedule"
    assert any(s.get("interval") == 300 for s in schedules), "ingest-drain runs every 5 minutes"


def test_demo_deployment_runs_on_demand_only():
    demo = _deployments()["demo"]
    assert demo["entrypoint"] == "flows/demo.py:demo_flow"
    assert not demo.get("schedules") and not demo.get("schedule")
