"""Errors a user can fix: the real `realise` command exits 2 with one line naming what and where to change.

Each case runs the installed console script as a subprocess, in a directory of its own, with the
REALISE_* and PREFECT_* variables of the outer environment removed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port, free_ports
from sqlalchemy.engine import make_url

from foundation.kafka import REQUEST_TIMEOUT_MS
from foundation.stack import EmbeddedPostgres

pytestmark = pytest.mark.integration

REALISE = str(Path(sys.executable).with_name("realise"))
KAFKA_SETTING = "REALISE_KAFKA_BOOTSTRAP"
WAREHOUSE_SETTING = "REALISE_WAREHOUSE_URL"


def _realise(cwd: Path, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REALISE_", "PREFECT_"))}
    postgres, kafka, prefect = free_ports(3)  # never the defaults, where a developer's stack may run
    clean.update({"REALISE_DATA_DIR": str(cwd / "realise"), "REALISE_POSTGRES_PORT": str(postgres),
                  "REALISE_KAFKA_PORT": str(kafka), "REALISE_PREFECT_PORT": str(prefect), **env})
    return subprocess.run([REALISE, *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=timeout)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """Assert the user-error contract and return the line."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def _with_password(url: str, password: str) -> str:
    return make_url(url).set(password=password).render_as_string(hide_password=False)


def test_given_no_broker_at_the_bootstrap_address_when_ingest_drain_runs_then_it_names_the_address_and_setting(
        tmp_path: Path, warehouse_url: str) -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = _realise(tmp_path, "ingest", "--drain", REALISE_WAREHOUSE_URL=warehouse_url,
                      REALISE_KAFKA_BOOTSTRAP=address)
    elapsed = time.monotonic() - started

    line = _one_line_error(result)
    assert address in line
    assert KAFKA_SETTING in line
    # Without the reachability check the client would wait out its request timeout.
    assert elapsed < REQUEST_TIMEOUT_MS / 1000, f"took {elapsed:.1f} s to report an unreachable broker"


def test_given_a_wrong_warehouse_password_when_db_upgrade_runs_then_it_says_user_name_or_password(
        tmp_path: Path, pg_server: EmbeddedPostgres) -> None:
    url = _with_password(pg_server.admin_url("postgres"), "not-the-password")

    line = _one_line_error(_realise(tmp_path, "db", "upgrade", REALISE_WAREHOUSE_URL=url))

    assert "user name or password" in line
    assert f"127.0.0.1:{pg_server.port}" in line
    assert WAREHOUSE_SETTING in line
    assert "not-the-password" not in line


def test_given_nothing_listening_at_the_warehouse_port_when_db_upgrade_runs_then_it_names_the_address_and_setting(
        tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql+psycopg://realise:secret@127.0.0.1:{port}/realise"
    started = time.monotonic()

    line = _one_line_error(_realise(tmp_path, "db", "upgrade", REALISE_WAREHOUSE_URL=url))

    assert f"127.0.0.1:{port}" in line
    assert WAREHOUSE_SETTING in line
    assert "secret" not in line
    assert time.monotonic() - started < 30


def test_given_a_realise_yaml_with_a_syntax_error_when_a_command_runs_then_it_names_the_file_and_line(
        tmp_path: Path) -> None:
    (tmp_path / "realise.yaml").write_text("kafka:\n  bootstrap: [127.0.0.1:9092\nwarehouse:\n  url: x\n")

    line = _one_line_error(_realise(tmp_path, "db", "upgrade"))

    assert "realise.yaml" in line
    assert "not valid YAML" in line
    assert "line " in line


def test_given_an_unknown_setting_in_realise_yaml_when_a_command_runs_then_it_names_the_setting_and_file(
        tmp_path: Path) -> None:
    (tmp_path / "realise.yaml").write_text("kafka: {bootstap: x}\n")

    line = _one_line_error(_realise(tmp_path, "db", "upgrade"))

    assert "kafka.bootstap" in line
    assert "realise.yaml" in line


def test_given_a_non_numeric_partition_count_in_the_environment_when_a_command_runs_then_it_names_the_variable(
        tmp_path: Path) -> None:
    line = _one_line_error(_realise(tmp_path, "db", "upgrade", REALISE_KAFKA_PARTITIONS="abc"))

    assert "REALISE_KAFKA_PARTITIONS" in line
    assert "'abc'" in line


def test_given_neither_drain_nor_follow_when_ingest_runs_then_it_asks_for_one(tmp_path: Path) -> None:
    line = _one_line_error(_realise(tmp_path, "ingest"))

    assert "--drain" in line
    assert "--follow" in line


def test_given_no_stack_running_when_status_json_runs_then_it_prints_the_addresses(tmp_path: Path) -> None:
    postgres, kafka = free_ports(2)
    result = _realise(tmp_path, "status", "--json", REALISE_POSTGRES_PORT=str(postgres),
                      REALISE_KAFKA_PORT=str(kafka))

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    assert data["warehouse_url"].startswith("postgresql")
    assert f"@127.0.0.1:{postgres}/" in data["warehouse_url"]
    assert data["kafka_bootstrap"] == f"127.0.0.1:{kafka}"
    assert data["data_dir"] == str(tmp_path / "realise")
    assert data["configured"] == {"warehouse": False, "kafka": False, "prefect": False}
    assert {name: svc["running"] for name, svc in data["services"].items()} == {
        "postgres": False, "kafka": False, "prefect": False}


def test_given_configured_addresses_when_status_json_runs_then_it_shows_them_with_the_password_hidden(
        tmp_path: Path) -> None:
    url = "postgresql+psycopg://loader:hunter2@db.example.nhs.uk:5432/realise"
    result = _realise(tmp_path, "status", "--json", REALISE_WAREHOUSE_URL=url,
                      REALISE_KAFKA_BOOTSTRAP="kafka-1.example.nhs.uk:9093")

    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["warehouse_url"] == "postgresql+psycopg://loader:***@db.example.nhs.uk:5432/realise"
    assert data["kafka_bootstrap"] == "kafka-1.example.nhs.uk:9093"
    assert data["configured"] == {"warehouse": True, "kafka": True, "prefect": False}


def test_given_realise_config_naming_a_directory_when_a_command_runs_then_it_says_to_point_at_a_file(
        tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()

    line = _one_line_error(_realise(tmp_path, "status", REALISE_CONFIG=str(folder)))

    assert line == f"error: REALISE_CONFIG={folder} is a directory; point it at a realise.yaml file"


def test_given_config_option_naming_a_directory_when_a_command_runs_then_it_names_the_option(tmp_path: Path) -> None:
    line = _one_line_error(_realise(tmp_path, "--config", str(tmp_path), "status"))

    assert f"--config {tmp_path} is a directory" in line
