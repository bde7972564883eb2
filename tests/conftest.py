"""Shared fixtures. The integration servers are real (embedded PostgreSQL, Tansu broker), one per session,
each in its own temporary directory on a random free port; if one cannot start, the tests that need it fail.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from foundation.config import Settings, StackSettings
from foundation.stack import EmbeddedKafka, EmbeddedPostgres


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """Distinct free ports (ports chosen one after another can repeat once each socket is closed)."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def realise_cli(warehouse_url: str, cwd: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs the `realise` command in `cwd` against `warehouse_url`, with an environment of its own: no
    REALISE_/PREFECT_ setting of the caller's, a data directory under `cwd` and free stack ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REALISE_", "PREFECT_"))}
    postgres, kafka, prefect = free_ports(3)
    env.update({"REALISE_WAREHOUSE_URL": warehouse_url, "REALISE_DATA_DIR": str(cwd / "realise"),
                "REALISE_POSTGRES_PORT": str(postgres), "REALISE_KAFKA_PORT": str(kafka),
                "REALISE_PREFECT_PORT": str(prefect)})
    command = str(Path(sys.executable).with_name("realise"))

    def realise(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)

    return realise


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("stack"), free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    broker = EmbeddedKafka(tmp_path_factory.mktemp("stack"), free_port())
    try:
        broker.start()
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def stack_settings(tmp_path: Path) -> Settings:
    """Settings for an embedded stack of its own: a temporary data directory and three free ports."""
    postgres, kafka, prefect = free_ports(3)
    return Settings(
        data_dir=tmp_path / "realise",
        stack=StackSettings(postgres_port=postgres, kafka_port=kafka, prefect_port=prefect),
    )


@pytest.fixture(scope="session")
def migrated_template(pg_server: EmbeddedPostgres) -> str:
    """A database migrated once per session; each test gets a copy (CREATE DATABASE ... TEMPLATE is fast)."""
    import sqlalchemy as sa

    from foundation.database import create_engine
    from warehouse.db import upgrade

    admin = create_engine(pg_server.admin_url("postgres"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("create database realise_template"))
    admin.dispose()
    engine = create_engine(pg_server.admin_url("realise_template"))
    upgrade(engine)
    engine.dispose()
    return "realise_template"


@pytest.fixture
def warehouse_url(pg_server: EmbeddedPostgres, migrated_template: str) -> Iterator[str]:
    """URL of a freshly migrated warehouse database of this test's own."""
    import sqlalchemy as sa

    from foundation.database import create_engine

    name = f"wh_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server.admin_url("postgres"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"create database {name} template {migrated_template}"))
    yield pg_server.admin_url(name)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"drop database if exists {name} with (force)"))
    admin.dispose()


@pytest.fixture
def ingest_settings(warehouse_url: str, kafka_bootstrap: str) -> Settings:
    """Settings pointing at the session's broker and this test's warehouse, with topics of its own."""
    return Settings.model_validate({
        "warehouse": {"url": warehouse_url},
        "kafka": {"bootstrap": kafka_bootstrap, "topic_prefix": f"t{uuid.uuid4().hex[:10]}.",
                  "consumer_group": f"g{uuid.uuid4().hex[:8]}"},
        "prefect": {"emit_events": False},
    })


@pytest.fixture(scope="session")
def gate():  # noqa: ANN201 - GE types are imported lazily
    """One quality gate per session: building Great Expectations' context is the slow part."""
    from ingestion.quality import QualityGate

    return QualityGate()
