"""The embedded stack: real PostgreSQL, Tansu and Prefect processes on random loopback ports."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from conftest import free_port
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from foundation.config import Settings
from foundation.errors import UserError
from foundation.stack import EmbeddedPostgres, Stack, resolve_endpoints

pytestmark = pytest.mark.integration


def _conninfo(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def _topics(bootstrap: str) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def test_up_status_down(stack_settings: Settings) -> None:
    stack = Stack(stack_settings)
    ports = stack_settings.stack
    try:
        started = time.monotonic()
        status = stack.up()
        elapsed = time.monotonic() - started
        assert elapsed < 90, f"stack took {elapsed:.1f} s to start"

        assert status == stack.status()
        assert status["data_dir"] == str(stack_settings.data_dir.absolute())
        assert status["warehouse_url"] == f"postgresql+psycopg://realise:***@127.0.0.1:{ports.postgres_port}/realise"
        assert status["kafka_bootstrap"] == f"127.0.0.1:{ports.kafka_port}"
        assert status["prefect_api_url"] == f"http://127.0.0.1:{ports.prefect_port}/api"
        for name, port in (("postgres", ports.postgres_port), ("kafka", ports.kafka_port),
                           ("prefect", ports.prefect_port)):
            service = status["services"][name]
            assert service["running"] is True, name
            assert isinstance(service["pid"], int), name
            assert service["address"] == f"127.0.0.1:{port}"
        assert json.loads((stack_settings.data_dir / "stack.json").read_text()) == status

        assert stack.postgres.password not in (stack_settings.data_dir / "stack.json").read_text()
        with psycopg.connect(_conninfo(stack.postgres.url), connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.execute("SHOW fsync").fetchone() == ("on",)

        admin = KafkaAdminClient(bootstrap_servers=status["kafka_bootstrap"], request_timeout_ms=5000)
        try:
            admin.create_topics([NewTopic("stack.check", num_partitions=3, replication_factor=1)])
        finally:
            admin.close()
        assert "stack.check" in _topics(status["kafka_bootstrap"])

        assert httpx.get(f"{status['prefect_api_url']}/health", timeout=5).status_code == 200

        assert stack.up()["services"] == status["services"], "up() on a running stack restarted a service"

        endpoints = resolve_endpoints(stack_settings, autostart=False)
        assert endpoints.warehouse_url == stack.postgres.url
        assert endpoints.kafka_bootstrap == status["kafka_bootstrap"]
        assert endpoints.prefect_api_url == status["prefect_api_url"]
    finally:
        stack.down()

    after = stack.status()
    for name in ("postgres", "kafka", "prefect"):
        assert after["services"][name]["running"] is False, name
        assert after["services"][name]["pid"] is None, name
        pid = status["services"][name]["pid"]
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    with pytest.raises(UserError, match=r"the embedded stack is not running.*realise up"):
        resolve_endpoints(stack_settings, autostart=False, services={"postgres", "kafka"})


def _logs_in(server: EmbeddedPostgres, password: str) -> bool:
    try:
        psycopg.connect(host="127.0.0.1", port=server.port, user="realise", password=password, dbname="realise",
                        connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        assert "password authentication failed" in str(exc)
        return False
    return True


def test_given_a_new_data_dir_when_postgres_starts_then_its_superuser_password_is_random_private_and_kept(
        tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "realise", free_port())
    try:
        server.start()
        password_file = tmp_path / "realise" / "pg" / "superuser.password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        password = password_file.read_text().strip()
        assert len(password) >= 40 and password != "realise"
        assert server.password == password and f":{password}@" in server.url
        assert _logs_in(server, password) and not _logs_in(server, "realise")

        server.stop()
        server.start()
        assert password_file.read_text().strip() == password, "a second start made a new password"
        assert _logs_in(server, password)
    finally:
        server.stop()


def test_given_a_cluster_with_the_old_fixed_password_when_started_then_it_gets_a_random_one(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "realise", free_port())
    try:
        server.start()
        with psycopg.connect(server.conninfo("postgres"), autocommit=True) as conn:
            conn.execute("ALTER ROLE realise PASSWORD 'realise'")
        server.password_file.unlink()  # as a cluster made before the password file existed
        assert server.password == "realise" and _logs_in(server, "realise")

        server.start()  # already running: the password is replaced in place
        assert server.password_file.exists() and not _logs_in(server, "realise")
        assert _logs_in(server, server.password or "")

        server.stop()
        server.password_file.unlink()  # lost: the next start sets another over the unix socket
        server.start()
        assert _logs_in(server, server.password or "")
        assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600
    finally:
        server.stop()


def test_services_outlive_the_process_that_started_them(stack_settings: Settings, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "REALISE_DATA_DIR": str(stack_settings.data_dir),
        "REALISE_POSTGRES_PORT": str(stack_settings.stack.postgres_port),
        "REALISE_KAFKA_PORT": str(stack_settings.stack.kafka_port),
        "REALISE_PREFECT_PORT": str(stack_settings.stack.prefect_port),
    }
    script = (
        "from foundation.config import load_settings\n"
        "from foundation.stack import Stack\n"
        "Stack(load_settings()).up({'postgres', 'kafka'})\n"
    )
    stack = Stack(stack_settings)
    try:
        subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, check=True, timeout=120)
        status = stack.status()
        assert status["services"]["postgres"]["running"] is True
        assert status["services"]["kafka"]["running"] is True
        assert status["services"]["prefect"]["running"] is False

        endpoints = resolve_endpoints(stack_settings, autostart=False, services={"postgres", "kafka"})
        assert endpoints.prefect_api_url is None
        with psycopg.connect(_conninfo(endpoints.warehouse_url), connect_timeout=5) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("realise",)
        assert isinstance(_topics(endpoints.kafka_bootstrap), set)
    finally:
        stack.down()
    assert not stack.postgres.is_running()
    assert not stack.kafka.is_running()


@pytest.mark.parametrize(
    ("service", "setting", "env_var"),
    [
        ("postgres", "stack.postgres_port", "REALISE_POSTGRES_PORT"),
        ("kafka", "stack.kafka_port", "REALISE_KAFKA_PORT"),
        ("prefect", "stack.prefect_port", "REALISE_PREFECT_PORT"),
    ],
)
def test_port_taken_by_another_program(stack_settings: Settings, service: str, setting: str, env_var: str) -> None:
    stack = Stack(stack_settings)
    port = stack.service(service).port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(UserError) as info:
            stack.up({service})
    message = str(info.value)
    assert str(port) in message
    assert setting in message
    assert env_var in message
    assert "\n" not in message
    assert not stack.service(service).is_running()


def test_session_fixtures_serve(pg_server: EmbeddedPostgres, kafka_bootstrap: str) -> None:
    with psycopg.connect(pg_server.conninfo(), connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("realise",)
    pg_server.start()
    assert pg_server.is_running()
    assert isinstance(_topics(kafka_bootstrap), set)
