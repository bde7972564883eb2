"""Embedded Prefect API server (`prefect server start`) with its own PREFECT_HOME under the data directory.

A standing server, rather than Prefect's ephemeral one, makes each flow run start in about two seconds
instead of spending 10-20 s booting a temporary API, and keeps run history between runs.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from realise.stack._process import (
    HOST,
    PortInUse,
    alive,
    port_in_use,
    read_pid,
    service_failed,
    spawn,
    stop_group,
    write_pid,
)

SERVICE = "Prefect server"
START_TIMEOUT = 90.0
_MARKER = "prefect"


class EmbeddedPrefect:
    """A Prefect server on 127.0.0.1:`port`, state in `<data_dir>/prefect`, log in `<data_dir>/logs`."""

    name = "prefect"

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.home = self.data_dir / "prefect"
        self.pid_file = self.home / "server.pid"
        self.log_path = self.data_dir / "logs" / "prefect.log"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}/api"

    def pid(self) -> int | None:
        pid = read_pid(self.pid_file)
        return pid if alive(pid, _MARKER) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def command(self) -> list[str]:
        """`prefect server start` from the interpreter running Realise, so the pinned Prefect is the one used."""
        return [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(self.port)]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PREFECT_API_URL", None)
        env.update(
            PREFECT_HOME=str(self.home),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_LOGGING_COLORS="false",
            PYTHONUNBUFFERED="1",
        )
        return env

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server and wait for /api/health; no-op if already running."""
        if self.is_running():
            return
        if port_in_use(self.port):
            raise PortInUse(SERVICE, self.port)
        self.home.mkdir(parents=True, exist_ok=True)
        proc = spawn(self.command(), self.log_path, env=self.environment(), cwd=self.home)
        write_pid(self.pid_file, proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise service_failed(SERVICE, self.log_path, f"the server exited with code {proc.returncode}")
            if self.healthy():
                return
            time.sleep(0.5)
        self.stop()
        raise service_failed(SERVICE, self.log_path, f"{self.api_url}/health did not answer within {timeout:.0f} s")

    def stop(self, grace: float = 5.0) -> None:
        """Terminate the server's process group (the API and its background services), killing stragglers."""
        pid = self.pid()
        if pid is not None:
            stop_group(pid, grace)
        self.pid_file.unlink(missing_ok=True)

    def healthy(self) -> bool:
        import httpx

        try:
            return httpx.get(f"{self.api_url}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False
