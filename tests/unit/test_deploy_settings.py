"""Static checks of deploy/: the production settings file, env.example and the Kafka topic script."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.unit.deployfiles import (
    ENV_EXAMPLE,
    PRODUCTION_CONFIG,
    ROOT,
    TOPICS_SCRIPT,
    compose_services,
    depends_on,
    dockerfile_env,
    image_workdir,
    in_image,
    interpolate,
    required_variables,
    service_env,
)


def test_production_settings_file_is_valid():
    from foundation.config import load_settings

    settings = load_settings(PRODUCTION_CONFIG, env={})
    assert settings.warehouse.url is None and settings.kafka.bootstrap is None, (
        "addresses (and the credentials inside them) come from the environment, not the file"
    )


def test_configuration_file_named_by_the_image_and_compose_is_in_the_image():
    paths = {dockerfile_env().get("REALISE_CONFIG")}
    paths |= {
        service_env(s)["REALISE_CONFIG"] for s in compose_services().values() if "REALISE_CONFIG" in service_env(s)
    }
    paths.discard(None)
    assert paths, "REALISE_CONFIG is set nowhere"
    for path in paths:
        relative = in_image(path)
        assert relative is not None, f"{path} is not under the image's WORKDIR {image_workdir()}"
        assert (ROOT / relative).is_file(), f"REALISE_CONFIG {path}: {relative} does not exist in the repo"


def test_env_example_lists_every_required_variable_without_values():
    required = required_variables()
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


def test_kafka_init_creates_every_realise_topic(tmp_path):
    from schemas.topics import ALERTS_TOPIC, DEAD_LETTER_TOPIC, TOPICS

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    init = compose_services()["kafka-init"]
    assert depends_on(init).get("kafka") == "service_healthy"
    log = tmp_path / "kafka-topics.log"
    fake = tmp_path / "kafka-topics.sh"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    fake.chmod(0o755)
    env = {key: interpolate(value) for key, value in service_env(init).items()}
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
