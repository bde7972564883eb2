"""The embedded stack: PostgreSQL, a Kafka-protocol broker and a Prefect server on loopback.

`realise up` starts it and `realise down` stops it. Each service is a detached process with its state under
one data directory (settings.data_dir), so it survives the command that started it and the next command
finds it again. Configured addresses (warehouse.url, kafka.bootstrap, prefect.api_url) always take
precedence: the embedded services only stand in for what is not configured.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from foundation.config import Settings
from foundation.errors import UserError
from foundation.stack._process import PortInUse, port_in_use
from foundation.stack.kafka import EmbeddedKafka
from foundation.stack.postgres import EmbeddedPostgres
from foundation.stack.prefect_server import EmbeddedPrefect

__all__ = [
    "SERVICES",
    "EmbeddedKafka",
    "EmbeddedPostgres",
    "EmbeddedPrefect",
    "Endpoints",
    "Stack",
    "resolve_endpoints",
]

SERVICES: tuple[str, ...] = ("postgres", "kafka", "prefect")
STATE_FILE = "stack.json"

_LABELS = {"postgres": "PostgreSQL", "kafka": "Kafka broker", "prefect": "Prefect server"}
_PORT_SETTINGS = {
    "postgres": ("stack.postgres_port", "REALISE_POSTGRES_PORT"),
    "kafka": ("stack.kafka_port", "REALISE_KAFKA_PORT"),
    "prefect": ("stack.prefect_port", "REALISE_PREFECT_PORT"),
}


class Service(Protocol):
    name: str
    port: int
    log_path: Path

    @property
    def address(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def is_running(self) -> bool: ...

    def pid(self) -> int | None: ...


def _port_hint(name: str) -> str:
    setting, env = _PORT_SETTINGS[name]
    return f"free it, or set {setting} in realise.yaml or {env} to a free port"


class Stack:
    """The three embedded services of one data directory."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data_dir = Path(settings.data_dir).absolute()
        ports = settings.stack
        self.postgres = EmbeddedPostgres(self.data_dir, ports.postgres_port)
        self.kafka = EmbeddedKafka(self.data_dir, ports.kafka_port)
        self.prefect = EmbeddedPrefect(self.data_dir, ports.prefect_port)

    def service(self, name: str) -> Service:
        services: dict[str, Service] = {"postgres": self.postgres, "kafka": self.kafka, "prefect": self.prefect}
        if name not in services:
            raise UserError(f"unknown service '{name}': choose from {', '.join(SERVICES)}")
        return services[name]

    def up(self, services: Collection[str] = frozenset(SERVICES)) -> dict[str, Any]:
        """Start the given services (those already running are left alone) and return status().

        They start in parallel: Prefect takes 10-20 s, the others about a second.
        """
        requested = set(services)
        for name in sorted(requested - set(SERVICES)):
            self.service(name)
        wanted = [self.service(name) for name in SERVICES if name in requested]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._lock():
            to_start = [svc for svc in wanted if not svc.is_running()]
            self._check_ports(wanted, to_start)
            errors: list[BaseException] = []
            if to_start:
                with ThreadPoolExecutor(max_workers=len(to_start), thread_name_prefix="realise-up") as pool:
                    futures = [pool.submit(svc.start) for svc in to_start]
                errors = [exc for fut in futures if (exc := fut.exception()) is not None]
            status = self._write_state()
        if errors:
            first = errors[0]
            if isinstance(first, PortInUse):
                name = next(svc.name for svc in to_start if svc.port == first.port)
                raise UserError(f"{first.summary}; {_port_hint(name)}") from None
            if isinstance(first, UserError):
                raise first
            raise UserError(f"the embedded stack did not start: {type(first).__name__}: {first}") from first
        return status

    def down(self) -> None:
        """Stop every embedded service of this data directory."""
        if not self.data_dir.exists():
            return
        with self._lock():
            running = [self.service(name) for name in SERVICES if self.service(name).is_running()]
            if running:
                with ThreadPoolExecutor(max_workers=len(running), thread_name_prefix="realise-down") as pool:
                    futures = [pool.submit(svc.stop) for svc in running]
                errors = [exc for fut in futures if (exc := fut.exception()) is not None]
            else:
                errors = []
            self._write_state()
        if errors:
            raise errors[0]

    def status(self) -> dict[str, Any]:
        """JSON-able state of the embedded services (what `realise status` prints)."""
        services: dict[str, Any] = {}
        for name in SERVICES:
            svc = self.service(name)
            pid = svc.pid()
            services[name] = {
                "running": pid is not None,
                "pid": pid,
                "address": svc.address,
                "log": str(svc.log_path),
            }
        return {
            "data_dir": str(self.data_dir),
            "warehouse_url": self.postgres.shown_url,
            "kafka_bootstrap": self.kafka.bootstrap,
            "prefect_api_url": self.prefect.api_url,
            "services": services,
        }

    def _check_ports(self, wanted: list[Service], to_start: list[Service]) -> None:
        """Fail before starting anything when a port is taken, naming the setting that moves it."""
        by_port: dict[int, str] = {}
        for svc in wanted:
            name, port = svc.name, svc.port
            if port in by_port:
                raise UserError(
                    f"the embedded {_LABELS[by_port[port]]} and {_LABELS[name]} are both configured on port "
                    f"{port}; set {_PORT_SETTINGS[name][0]} in realise.yaml or {_PORT_SETTINGS[name][1]} "
                    "to another port"
                )
            by_port[port] = name
        for svc in to_start:
            if port_in_use(svc.port):
                raise UserError(f"{PortInUse(_LABELS[svc.name], svc.port).summary}; {_port_hint(svc.name)}")

    def _write_state(self) -> dict[str, Any]:
        status = self.status()
        path = self.data_dir / STATE_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(status, indent=2) + "\n")
        os.replace(tmp, path)
        return status

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Serialise `up`/`down` on one data directory across processes."""
        with (self.data_dir / ".stack.lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Endpoints:
    """Where the warehouse, the broker and the Prefect API are, configured or embedded."""

    warehouse_url: str
    kafka_bootstrap: str
    prefect_api_url: str | None


def resolve_endpoints(
    settings: Settings, *, autostart: bool, services: Collection[str] = frozenset(SERVICES)
) -> Endpoints:
    """Configured addresses where set, else the embedded services' (started first when `autostart`).

    Only the services in `services` are checked or started; Prefect's URL is None when it is neither
    wanted nor configured.
    """
    stack = Stack(settings)
    configured = {
        "postgres": settings.warehouse.url,
        "kafka": settings.kafka.bootstrap,
        "prefect": settings.prefect.api_url,
    }
    embedded = [name for name in SERVICES if name in set(services) and not configured[name]]
    missing = [name for name in embedded if not stack.service(name).is_running()]
    if missing:
        if not autostart:
            names = ", ".join(_LABELS[name] for name in missing)
            raise UserError(f"the embedded stack is not running ({names} stopped): run `realise up`")
        stack.up(set(missing))
    prefect_url = configured["prefect"] or (stack.prefect.api_url if "prefect" in set(services) else None)
    return Endpoints(
        warehouse_url=configured["postgres"] or stack.postgres.url,
        kafka_bootstrap=configured["kafka"] or stack.kafka.bootstrap,
        prefect_api_url=prefect_url,
    )
