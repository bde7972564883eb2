"""Static checks of docker-compose.yml: valid under the Compose specification, and consistent with the code.

The specification (keys, types, `depends_on` conditions, healthcheck forms) is checked by check-jsonschema
against the schema it ships; the tests below check what no schema can: the services Realise needs, the
`realise` commands they run, the secrets, volumes and paths they use, and the versions they pin.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml

from tests.unit.deployfiles import (
    COMPOSE_FILE,
    POSTGRES_INITDB,
    PRODUCTION_CONFIG,
    REQUIRED_VARIABLE,
    URL_PASSWORD,
    as_argv,
    compose_file,
    compose_services,
    compose_spec_errors,
    depends_on,
    dockerfile_json,
    dockerfile_steps,
    interpolate,
    prefect_deployments,
    pyproject,
    service_env,
)

EXPECTED_SERVICES = {"kafka", "kafka-init", "postgres", "prefect-server", "prefect-worker", "migrate", "ingest"}
LONG_RUNNING_RESTART = {"always", "unless-stopped"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PSEUDONYM_KEY")
SHELLS = {"sh", "/bin/sh", "bash", "/bin/bash"}
SHELL_SEPARATORS = {";", "&&", "||", "|", "(", ")", "&"}


# ------------------------------------------------------------------------------------------- helpers


def _one_shot_services() -> set[str]:
    """Services that others wait on to finish: they run once and exit."""
    return {
        name
        for service in compose_services().values()
        for name, condition in depends_on(service).items()
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
    return (COMPOSE_FILE.parent / interpolate(source)).resolve()


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
    image_entrypoint = dockerfile_json("ENTRYPOINT") or []
    found: list[tuple[str, list[str]]] = []
    for name, service in compose_services().items():
        command = as_argv(service.get("command"))
        if "build" in service:
            entrypoint = as_argv(service["entrypoint"]) if "entrypoint" in service else image_entrypoint
            if command or "entrypoint" in service:
                found += [(name, args) for args in _invocations_in(entrypoint + command)]
        else:
            found += [(name, args) for args in _invocations_in(as_argv(service.get("entrypoint")) + command)]
        healthcheck = (service.get("healthcheck") or {}).get("test")
        if healthcheck:
            test = ["CMD-SHELL", healthcheck] if isinstance(healthcheck, str) else as_argv(healthcheck)
            found += [(f"{name} healthcheck", args) for args in _invocations_in(test)]
    return found


def _subcommands(cmd: Any) -> dict[str, Any] | None:
    """A command group's subcommands by name, or None for a leaf command (typer ships its own click)."""
    commands = getattr(cmd, "commands", None)
    return commands if isinstance(commands, dict) else None


# --------------------------------------------------------------------------------------------- tests


def test_compose_file_is_valid_under_the_compose_spec():
    errors = compose_spec_errors(COMPOSE_FILE)
    assert not errors, "docker-compose.yml breaks the Compose specification:\n" + "\n".join(errors)


def test_compose_spec_check_catches_unknown_keys_conditions_and_healthcheck_forms(tmp_path):
    """The schema check stands in for hand checks of top-level keys, depends_on conditions and test forms."""
    broken = copy.deepcopy(compose_file())
    broken["secret"] = {}
    broken["services"]["ingest"]["depends_on"]["migrate"]["condition"] = "service_completed"
    broken["services"]["postgres"]["healthcheck"]["test"] = {"CMD": "pg_isready"}
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken, sort_keys=False))
    errors = "\n".join(compose_spec_errors(path))
    assert "'secret' does not match any of the regexes" in errors, errors
    assert "$.services.ingest.depends_on.migrate.condition: 'service_completed' is not one of" in errors, errors
    assert "$.services.postgres.healthcheck.test" in errors, errors


def test_compose_file_has_no_version_key_and_every_realise_service():
    assert "version" not in compose_file(), "the Compose spec has no `version:` key (it is obsolete)"
    missing = EXPECTED_SERVICES - set(compose_services())
    assert not missing, f"services missing: {sorted(missing)}"


def test_every_service_has_an_image_or_a_build():
    for name, service in compose_services().items():
        assert service.get("image") or service.get("build"), f"service {name} has neither image nor build"


def test_build_contexts_and_dockerfiles_exist():
    for name, service in compose_services().items():
        build = service.get("build")
        if build is None:
            continue
        spec = {"context": build} if isinstance(build, str) else build
        context = _repo_path(spec.get("context", "."))
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        dockerfile = context / spec.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"


def test_depends_on_names_existing_services_without_cycles():
    services = compose_services()
    for name, service in services.items():
        for dep, condition in depends_on(service).items():
            assert dep in services, f"{name} depends on {dep}, which is not a service"
            assert dep != name, f"{name} depends on itself"
            if condition == "service_healthy":
                assert services[dep].get("healthcheck"), f"{name} waits for {dep} to be healthy; it has no healthcheck"

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert name not in trail, f"depends_on cycle: {' → '.join((*trail, name))}"
        for dep in depends_on(services[name]):
            visit(dep, (*trail, name))

    for name in services:
        visit(name, ())


def test_long_running_services_restart_and_one_shot_services_exit():
    one_shot = _one_shot_services()
    for name, service in compose_services().items():
        restart = str(service.get("restart", "no"))
        if name in one_shot:
            assert restart == "no" or restart.startswith("on-failure"), (
                f"{name} is waited on to complete; restart: {restart} would run it forever"
            )
        else:
            assert restart in LONG_RUNNING_RESTART, f"long-running service {name} needs restart: unless-stopped"


def test_healthchecks_are_well_formed():
    for name, service in compose_services().items():
        check = service.get("healthcheck")
        if not check:
            continue
        assert not check.get("disable"), f"{name}: healthcheck disabled"
        test = check.get("test")
        # The schema allows any list; `realise` commands are found in the CMD and CMD-SHELL forms.
        assert isinstance(test, str) or test[0] in ("CMD", "CMD-SHELL"), (
            f"{name}: healthcheck test must be a string or a CMD / CMD-SHELL list, got {test!r}"
        )


def test_named_volumes_are_declared_and_used():
    declared = set(compose_file().get("volumes") or {})
    used = {
        source for service in compose_services().values() for kind, source, _ in _mounts(service) if kind == "volume"
    }
    assert used <= declared, f"volumes used but not declared: {sorted(used - declared)}"
    assert declared <= used, f"volumes declared but not used: {sorted(declared - used)}"


def test_bind_mounts_and_the_paths_run_from_them_exist():
    for name, service in compose_services().items():
        binds = {target: source for kind, source, target in _mounts(service) if kind == "bind"}
        for source in binds.values():
            assert _repo_path(source).exists(), f"{name}: bind-mount source {source} does not exist"
        # A script the service runs from a mounted path must be in the mounted source.
        argv = as_argv(service.get("entrypoint")) + as_argv(service.get("command"))
        for token in argv:
            for target, source in binds.items():
                if token.startswith(target.rstrip("/") + "/") or token == target:
                    relative = token[len(target) :].lstrip("/")
                    mounted = _repo_path(source) / relative if relative else _repo_path(source)
                    assert mounted.exists(), f"{name} runs {token}, but {mounted} does not exist"


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
    for name, service in compose_services().items():
        for key, value in service_env(service).items():
            if SECRET_NAME.search(key):
                assert REQUIRED_VARIABLE.match(value), (
                    f"{name}: {key} must be `${{VARIABLE:?message}}` (required, no default), not {value!r}"
                )
            password = URL_PASSWORD.search(value)
            if password:
                assert REQUIRED_VARIABLE.match(password.group("password")), (
                    f"{name}: the password in {key} must be a required variable, not a literal"
                )


def test_realise_environment_variables_are_known_settings():
    from foundation.config import CONFIG_ENV, ENV_OVERRIDES, KafkaSettings
    from foundation.privacy import PSEUDONYM_KEY_ENV

    known = set(ENV_OVERRIDES) | {
        CONFIG_ENV,
        PSEUDONYM_KEY_ENV,
        KafkaSettings.model_fields["sasl_password_env"].default,
    }
    used = {
        key for service in compose_services().values() for key in service_env(service) if key.startswith("REALISE_")
    }
    # Documented (commented-out) settings must be real too.
    documented = set(re.findall(r"^\s*#\s*(REALISE_[A-Z0-9_]+)\s*:", COMPOSE_FILE.read_text(), re.MULTILINE))
    unknown = (used | documented) - known
    assert not unknown, f"not Realise settings: {sorted(unknown)}"
    assert {"REALISE_WAREHOUSE_URL", "REALISE_KAFKA_BOOTSTRAP", "REALISE_PSEUDONYM_KEY"} <= used


def test_connection_urls_point_at_the_compose_postgres():
    from sqlalchemy.engine import make_url

    services = compose_services()
    postgres_env = service_env(services["postgres"])
    initdb = "\n".join(p.read_text() for p in sorted(POSTGRES_INITDB.glob("*.sh")))
    warehouse_urls = {
        service_env(s)["REALISE_WAREHOUSE_URL"]
        for s in services.values()
        if "REALISE_WAREHOUSE_URL" in service_env(s)
    }
    assert len(warehouse_urls) == 1, f"services disagree on REALISE_WAREHOUSE_URL: {warehouse_urls}"
    raw = warehouse_urls.pop()
    url = make_url(interpolate(raw))
    assert url.drivername == "postgresql+psycopg"
    assert url.host in services and url.port == 5432
    assert url.username == postgres_env["POSTGRES_USER"] and url.database == postgres_env["POSTGRES_DB"]
    assert URL_PASSWORD.search(raw).group("password") == postgres_env["POSTGRES_PASSWORD"]

    raw = service_env(services["prefect-server"])["PREFECT_API_DATABASE_CONNECTION_URL"]
    url = make_url(interpolate(raw))
    assert url.drivername == "postgresql+asyncpg"
    assert url.host in services and url.port == 5432
    assert re.search(rf"CREATE ROLE {url.username}\b", initdb), f"deploy/postgres/initdb creates no role {url.username}"
    assert re.search(rf"CREATE DATABASE {url.database}\b", initdb), f"initdb creates no database {url.database}"
    password_variable = URL_PASSWORD.search(raw).group("password")
    assert password_variable == postgres_env.get("PREFECT_DB_PASSWORD"), (
        "the postgres service must receive the Prefect database password its init script sets"
    )


def test_kafka_is_a_single_kraft_node_with_fixed_partitions():
    from foundation.config import load_settings

    services = compose_services()
    kafka = services["kafka"]
    env = service_env(kafka)
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
        "kafka-init TOPIC_PARTITIONS": service_env(services["kafka-init"])["TOPIC_PARTITIONS"],
        "realise.production.yaml": str(load_settings(PRODUCTION_CONFIG, env={}).kafka.partitions),
    }
    for name, service in services.items():
        if "REALISE_KAFKA_PARTITIONS" in service_env(service):
            partitions[f"{name} REALISE_KAFKA_PARTITIONS"] = service_env(service)["REALISE_KAFKA_PARTITIONS"]
    assert len(set(partitions.values())) == 1, f"partition counts disagree: {partitions}"

    advertised = interpolate(env["KAFKA_ADVERTISED_LISTENERS"])
    for name, service in services.items():
        bootstrap = service_env(service).get("REALISE_KAFKA_BOOTSTRAP")
        if bootstrap:
            assert f"://{bootstrap}" in advertised, f"{name}: {bootstrap} is not an advertised Kafka listener"


def test_postgres_service():
    postgres = compose_services()["postgres"]
    assert str(postgres["image"]).split(":")[0] == "postgres"
    assert REQUIRED_VARIABLE.match(service_env(postgres)["POSTGRES_PASSWORD"])
    targets = {target: kind for kind, _, target in _mounts(postgres)}
    # The postgres 18 images keep PGDATA under /var/lib/postgresql/<major>/docker.
    assert targets.get("/var/lib/postgresql") == "volume", "mount the data volume at /var/lib/postgresql"
    assert targets.get("/docker-entrypoint-initdb.d") == "bind"
    assert "pg_isready" in json.dumps(postgres["healthcheck"]["test"])


def test_prefect_server_matches_the_pinned_prefect():
    services = compose_services()
    server = services["prefect-server"]
    env = service_env(server)
    image, _, tag = str(server["image"]).partition(":")
    python = re.search(r"python:(\d+\.\d+)", next(rest for kw, rest in dockerfile_steps() if kw == "FROM"))
    assert image == "prefecthq/prefect"
    assert tag == f"{version('prefect')}-python{python.group(1)}", "server, worker and flows must run one Prefect"
    assert as_argv(server["command"])[:3] == ["prefect", "server", "start"]
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert "/api/health" in json.dumps(server["healthcheck"]["test"])
    for name, service in services.items():
        for key in ("PREFECT_API_URL", "REALISE_PREFECT_API_URL"):
            if key in service_env(service):
                assert service_env(service)[key].startswith("http://prefect-server:4200/api"), f"{name}: {key}"


def test_prefect_worker_serves_the_prefect_yaml_work_pool():
    worker = compose_services()["prefect-worker"]
    argv = as_argv(worker.get("entrypoint")) + as_argv(worker.get("command"))
    assert argv[:3] == ["prefect", "worker", "start"], argv
    pool = argv[argv.index("--pool") + 1]
    assert argv[argv.index("--type") + 1] == "process"
    assert "build" in worker, "the worker runs flows from the Realise image"
    assert "PREFECT_API_URL" in service_env(worker)
    pools = {d["work_pool"]["name"] for d in prefect_deployments().values()}
    assert pools == {pool}, f"deployments use pools {pools}; the worker serves {pool!r}"


def test_migrate_runs_once_before_the_ingest_service():
    services = compose_services()
    migrate, ingest = services["migrate"], services["ingest"]
    assert as_argv(migrate["command"]) == ["db", "upgrade"]
    assert depends_on(migrate).get("postgres") == "service_healthy"
    deps = depends_on(ingest)
    assert deps.get("migrate") == "service_completed_successfully"
    assert deps.get("kafka-init") == "service_completed_successfully"


def test_ingest_service_runs_follow_mode_replicas():
    services = compose_services()
    ingest = services["ingest"]
    assert as_argv(ingest["command"]) == ["ingest", "--follow"]
    assert "build" in ingest
    replicas = int((ingest.get("deploy") or {}).get("replicas", 1))
    partitions = int(service_env(services["kafka"])["KAFKA_NUM_PARTITIONS"])
    assert 1 <= replicas <= partitions, "replicas beyond the partition count sit idle"
    assert "container_name" not in ingest, "replicas cannot share a container name"


def test_default_image_tag_is_the_project_version():
    images = {str(s["image"]) for s in compose_services().values() if "build" in s}
    assert len(images) == 1, f"services built from the Dockerfile should share one image: {images}"
    assert interpolate(images.pop()).endswith(f":{pyproject()['project']['version']}")
