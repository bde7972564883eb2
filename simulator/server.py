"""Local HTTP servers that behave like the real source APIs: their paths, pagination, auth and rate limits.

One threaded server hosts every simulated API under its own path prefix (`/servicenow`, `/zendesk`, ...).
Faults can be planned per API for tests and for `realise simulate --faults`: a 429 storm, 5xx answers, a
connection dropped in the middle of a page.
"""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str  # below the API's prefix, e.g. /api/now/table/incident
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def int_arg(self, name: str, default: int) -> int:
        value = self.arg(name)
        try:
            return int(value) if value is not None else default
        except ValueError:
            return default

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: Any = b""  # bytes, or anything JSON-serialisable
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    drop_after: int | None = None  # fault: close the connection after this many body bytes

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":")).encode()


def error(status: int, message: str, **headers: str) -> Response:
    return Response(status, {"error": {"message": message}}, dict(headers))


class Api(ABC):
    """One simulated system. `prefix` is where it lives; `handle` answers requests below it."""

    prefix: str
    # Requests per second before answering 429 with Retry-After (None: no limit).
    rate_limit: float | None = None

    def __init__(self) -> None:
        self.requests = 0
        self._bucket = (0.0, 0.0)  # tokens, last refill
        self._lock = threading.Lock()

    @abstractmethod
    def handle(self, request: Request) -> Response:
        """Answer one request (auth already checked by `authorise`)."""

    def authorise(self, request: Request) -> Response | None:
        """None when the request's credentials are acceptable, else the API's own 401/403 answer."""
        return None

    def throttle(self) -> Response | None:
        if self.rate_limit is None:
            return None
        with self._lock:
            tokens, last = self._bucket
            now = time.monotonic()
            tokens = min(self.rate_limit, tokens + (now - last) * self.rate_limit) if last else self.rate_limit
            if tokens < 1:
                self._bucket = (tokens, now)
                wait = (1 - tokens) / self.rate_limit
                return error(429, "rate limit exceeded", **{"Retry-After": f"{max(wait, 0.01):.2f}"})
            self._bucket = (tokens - 1, now)
        return None


@dataclass
class Fault:
    status: int | None = None
    retry_after: str | None = None
    drop_after: int | None = None
    times: int = 1
    when: Callable[[Request], bool] | None = None


class SimServer:
    """Serves the given APIs on 127.0.0.1; use as a context manager or call start()/stop()."""

    def __init__(self, apis: list[Api], port: int = 0) -> None:
        self.apis = {api.prefix.rstrip("/"): api for api in apis}
        self.faults: dict[str, list[Fault]] = {}
        self.log: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.port}{prefix}"

    def add_fault(self, prefix: str, fault: Fault) -> None:
        with self._lock:
            self.faults.setdefault(prefix.rstrip("/"), []).append(fault)

    def start(self) -> SimServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="realise-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def _take_fault(self, prefix: str, request: Request) -> Fault | None:
        with self._lock:
            for fault in self.faults.get(prefix, []):
                if fault.times > 0 and (fault.when is None or fault.when(request)):
                    fault.times -= 1
                    return fault
        return None

    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Response:
        parts = urlsplit(raw_path)
        prefix = next((p for p in sorted(self.apis, key=len, reverse=True)
                       if parts.path == p or parts.path.startswith(p + "/")), None)
        if prefix is None:
            return error(404, f"no simulated API at {parts.path}")
        api = self.apis[prefix]
        request = Request(method, parts.path[len(prefix):] or "/", parse_qs(parts.query, keep_blank_values=True),
                          headers, body)
        api.requests += 1
        fault = self._take_fault(prefix, request)
        if fault is not None and fault.status is not None:
            extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return error(fault.status, "simulated fault", **extra)
        denied = api.authorise(request)
        if denied is not None:
            return denied
        limited = api.throttle()
        if limited is not None:
            return limited
        response = api.handle(request)
        if fault is not None and fault.drop_after is not None:
            response.drop_after = fault.drop_after
        return response

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle's algorithm the body waits for the client's
            # delayed ACK (~40 ms), which would make every simulated call that slow.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    response = sim.dispatch(self.command, self.path, headers, body)
                except Exception as exc:  # a simulator bug must look like a 500, as a real API's would
                    response = error(500, f"simulator error: {type(exc).__name__}: {exc}")
                payload = response.payload()
                sim.log.append((self.command, self.path, response.status))
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if response.drop_after is not None:
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(payload[: response.drop_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler
