"""Shared fixtures. The integration servers are real (embedded PostgreSQL, Tansu broker), one per session,
each in its own temporary directory on a random free port; if one cannot start, the tests that need it fail.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from realise.config import Settings, StackSettings
from realise.stack import EmbeddedKafka, EmbeddedPostgres


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
