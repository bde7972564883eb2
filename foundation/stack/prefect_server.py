"""Embedded Prefect server: `prefect server start` from the pinned Prefect, state under the data dir.

A separately started server is healthy in ~16 s here and then serves flow runs in about a second, where
Prefect's ephemeral server would add 11-19 s to every first run and print tracebacks when it stops.
"""

from __future__ import annotations

import os
import sys

from foundation.stack._process import HOST, DetachedService

SERVICE = "Prefect server"
START_TIMEOUT = 90.0


class EmbeddedPrefect(DetachedService):
    """A Prefect server on 127.0.0.1:`port`, state in `<data_dir>/prefect`, log in `<data_dir>/logs`."""

    name = "prefect"
    label = SERVICE
    marker = "prefect"
    pid_name = "server.pid"
    start_timeout = START_TIMEOUT
    poll_interval = 0.5

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}/api"

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

    def ready(self) -> bool:
        return self.healthy()

    def waiting_for(self) -> str:
        return f"{self.api_url}/health did not answer"

    def healthy(self) -> bool:
        import httpx

        try:
            return httpx.get(f"{self.api_url}/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False
