"""The webhook receiver behind `realise webhook serve`: `POST /webhooks/<source>` for every push source
(`type: webhook`, `type: jira_webhook`).

A 2xx answer means the event is durable: the broker acknowledged it before the receiver answered. So a sender
that gets anything else retries, and nothing is lost between the two. What each answer means:

- 200 `{"status": "accepted", "event_id": ...}`: published and acknowledged;
- 200 `{"status": "duplicate"}`: a delivery id already accepted within the replay window (a retry after a
  lost answer, or a replay); answered as success so the sender stops, nothing is published again. Replays
  after the window fail the timestamp check, and identical content always gets the same event id, which
  ingest stores once;
- 200 `{"status": "ignored"}`: a delivery the source does not turn into an event (a Jira comment event);
  nothing is published;
- 400 malformed JSON or timestamp, or JSON nested deeper than 400 arrays and objects (counted before parsing,
  so no body can exhaust the parser's stack); 401 missing or wrong signature, or a timestamp outside the replay
  window; 404 unknown source; 408 request line, headers and body not received within the read timeout (the
  connection is then closed); 411 no Content-Length; 413 body over `max_body_bytes` (refused from the header,
  before the body is read); 415 not JSON;
- 422 `{"status": "quarantined", "reason": ...}`: signed and well-formed but not mappable; stored in
  ops.quarantine with the reason (a retry stores it once);
- 503 the broker (or the warehouse, for quarantine) did not answer in time: retry later.

Each connection is served by a thread of its own, so a slow or stalled client holds only its own thread, and
only until the read timeout (`read_timeout_seconds`, 30 s by default) cuts it off.

Delivery ids are remembered per process; with several receivers behind a load balancer, a duplicate that
reaches another replica is published again and ingest still stores it once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kafka import KafkaProducer
from sqlalchemy.engine import Engine

from connectors.core.build import EventBuilder
from connectors.core.identity import StaffResolver
from connectors.core.pull import Puller, acked_topic_id, build_source, routed
from connectors.core.stream import MappingError, PullContext
from connectors.webhook import PushSource, is_push_type, lookup
from connectors.webhook.signature import Rejected, check_window, parse_timestamp, verify
from foundation.errors import SourceError
from foundation.source_config import SourceConfig
from warehouse.losses import record_published

log = logging.getLogger(__name__)
PATH_PREFIX = "/webhooks/"
MAX_JSON_DEPTH = 400
_JSON_STRUCTURE = re.compile(rb'["\\\[\]{}]')


def producer_options(ack_timeout_seconds: float) -> dict[str, Any]:
    """Producer settings for the receiver: send at once, and give up on a record within the ack timeout, so a
    broker outage fails the deliveries that arrive during it (503) instead of queueing them behind each other."""
    ms = int(ack_timeout_seconds * 1000)
    return {"linger_ms": 0, "max_block_ms": ms, "request_timeout_ms": ms, "delivery_timeout_ms": ms}


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Endpoint:
    source: PushSource
    secret: bytes


class SeenDeliveries:
    """Delivery ids accepted in the last `window` seconds, per source."""

    def __init__(self, window: Callable[[str], float]) -> None:
        self._window = window
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def __contains__(self, key: tuple[str, str]) -> bool:
        with self._lock:
            expires = self._seen.get(key)
            return expires is not None and expires > time.monotonic()

    def add(self, key: tuple[str, str]) -> None:
        now = time.monotonic()
        with self._lock:
            self._seen[key] = now + self._window(key[0])
            if len(self._seen) % 1024 == 0:
                self._seen = {k: v for k, v in self._seen.items() if v > now}


class WebhookReceiver:
    """One HTTP server for every webhook source, serving in a thread between `start()` and `stop()`."""

    def __init__(self, sources: Mapping[str, SourceConfig], *, engine: Engine,
                 producer_factory: Callable[[], KafkaProducer], key: bytes, topic_prefix: str = "",
                 host: str = "127.0.0.1", port: int = 0, ack_timeout_seconds: float = 10.0,
                 directory_refresh_seconds: float = 300.0, read_timeout_seconds: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        for name, config in sources.items():
            if not is_push_type(config.type) or not config.enabled:
                continue
            source = build_source(name, config, PullContext(run_started=datetime.now(UTC)))
            assert isinstance(source, PushSource)
            self.endpoints[name] = Endpoint(source, _secret(name, source))
        if not self.endpoints:
            raise SourceError("no enabled source of type webhook (or jira_webhook) under sources: in realise.yaml; "
                              "add one (see connectors/webhook/settings.py) before `realise webhook serve`")
        self.engine, self.key, self.clock = engine, key, clock
        self._new_producer = producer_factory
        self._producer: KafkaProducer | None = None
        self._producer_lock = threading.Lock()
        self.prefix = topic_prefix
        self.ack_timeout, self.refresh_every = ack_timeout_seconds, directory_refresh_seconds
        self.read_timeout = read_timeout_seconds
        self.puller = Puller(engine, None, key=key, topic_prefix=topic_prefix)
        self.seen = SeenDeliveries(lambda name: float(self.endpoints[name].source.options.replay_window_seconds))
        self.counts = {"accepted": 0, "duplicate": 0, "ignored": 0, "quarantined": 0, "rejected": 0,
                       "unavailable": 0}
        self._resolver: tuple[StaffResolver, float] | None = None
        self._resolver_lock = threading.Lock()
        self._counts_lock = threading.Lock()
        self._server = _Server((host, port), _handler(self))
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, source: str) -> str:
        host = self._server.server_address[0]
        return f"http://{host}:{self.port}{PATH_PREFIX}{source}"

    def start(self) -> WebhookReceiver:
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread = None
        self._server.server_close()
        self._drop_producer(timeout=5.0)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one delivery ---------------------------------------------------------------------------------

    def producer(self) -> KafkaProducer:
        with self._producer_lock:
            if self._producer is None:
                self._producer = self._new_producer()
            return self._producer

    def _drop_producer(self, timeout: float) -> None:
        """Discard the producer after a failed send (its records were answered 503 and will be sent again);
        the next delivery connects afresh, to a broker that may have come back at another address or empty."""
        with self._producer_lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                producer.close(timeout=timeout)

    def resolver(self) -> StaffResolver:
        """The staff directory, reloaded every `directory_refresh_seconds` so new starters link."""
        with self._resolver_lock:
            if self._resolver is None or time.monotonic() - self._resolver[1] > self.refresh_every:
                try:
                    self._resolver = (StaffResolver.from_warehouse(self.engine, self.key), time.monotonic())
                except Exception as exc:  # keep the last directory while the warehouse is away
                    if self._resolver is None:
                        raise
                    log.warning("staff directory not refreshed: %s", exc)
            return self._resolver[0]

    def receive(self, name: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Verify, map and publish one delivery whose body was read; `headers` with lower-case names."""
        endpoint = self.endpoints[name]
        options = endpoint.source.options
        try:
            stamp: str | None = None
            if options.timestamp_header:
                stamp = headers.get(options.timestamp_header.lower())
                seconds = parse_timestamp(stamp, options.timestamp_header)
            verify(endpoint.secret, body, stamp, headers.get(options.signature_header.lower()),
                   encoding=options.signature_encoding, prefix=options.signature_prefix,
                   header_name=options.signature_header)
            if options.timestamp_header:
                check_window(seconds, self.clock(), options.replay_window_seconds)
            record = _json_object(body)
        except Rejected as exc:
            return self._count("rejected", Answer(exc.status, {"error": exc.reason}))
        delivery = _delivery_id(headers, record, body, options.delivery_id_header, options.delivery_id_field)
        if (name, delivery) in self.seen:
            return self._count("duplicate", Answer(200, {"status": "duplicate", "delivery": delivery}))
        stream = endpoint.source.streams[0]
        try:
            builder = EventBuilder(endpoint.source.event_source, self.resolver(),
                                   system=endpoint.source.config.system, ingested_at=datetime.now(UTC))
            event = endpoint.source.map(stream, record, builder)
        except MappingError as exc:
            try:
                self.puller.quarantine(endpoint.source, stream, [(endpoint.source.quarantine_copy(record), str(exc))])
            except Exception as db_exc:
                log.warning("%s: delivery %s could not be quarantined: %s", name, delivery, db_exc)
                return self._unavailable("the warehouse did not store the quarantined delivery")
            return self._count("quarantined", Answer(422, {"status": "quarantined", "reason": str(exc)}))
        except Exception as exc:
            log.warning("%s: delivery %s: staff directory unavailable: %s", name, delivery, exc)
            return self._unavailable("the staff directory could not be read")
        if event is None:
            self.seen.add((name, delivery))
            return self._count("ignored", Answer(200, {"status": "ignored"}))
        topic, key = routed(event, self.prefix)
        try:
            producer = self.producer()
            future = producer.send(topic, key=key, value=event.model_dump_json().encode())
            meta = future.get(timeout=self.ack_timeout)  # sent at once (linger 0); waits for this record's ack
        except Exception as exc:
            log.warning("%s: delivery %s not acknowledged by the broker: %s", name, delivery, exc)
            self._drop_producer(timeout=self.ack_timeout)
            return self._unavailable("the broker did not acknowledge the event")
        self._record_published(producer, meta)
        self.seen.add((name, delivery))
        return self._count("accepted", Answer(200, {"status": "accepted", "event_id": str(event.event_id)}))

    def _record_published(self, producer: KafkaProducer, meta: Any) -> None:
        """The acknowledged offset, so ingest can count deliveries a broker loses before they are ingested.

        The event is durable already: a warehouse that cannot take this note costs only the loss count.
        """
        try:
            with self.engine.begin() as conn:
                record_published(conn, {(meta.topic, meta.partition, acked_topic_id(producer, meta.topic)):
                                        meta.offset + 1})
        except Exception as exc:  # noqa: BLE001 - see the docstring
            log.warning("published offset of %s[%d] not recorded: %s", meta.topic, meta.partition, exc)

    def _unavailable(self, why: str) -> Answer:
        return self._count("unavailable", Answer(503, {"error": f"{why}; retry later"}, {"Retry-After": "5"}))

    def _count(self, outcome: str, answer: Answer) -> Answer:
        with self._counts_lock:
            self.counts[outcome] += 1
        return answer


def _secret(name: str, source: PushSource) -> bytes:
    var = source.options.secret_env
    value = os.environ.get(var, "")
    if not value:
        raise SourceError(f"source '{name}': environment variable {var} (the webhook's shared secret) is not set; "
                          "export it before `realise webhook serve`")
    if len(value) < 16:
        raise SourceError(f"source '{name}': the secret in {var} is shorter than 16 characters; use a long random "
                          "secret (e.g. `openssl rand -hex 32`) and give the same one to the sender")
    return value.encode()


def json_depth_over(body: bytes, limit: int) -> bool:
    """Whether arrays and objects in `body` nest deeper than `limit`, counted without parsing: brackets inside
    strings (escapes included) do not count. Linear in the body, so it is safe on any input."""
    depth, in_string, escaped_at = 0, False, -1
    for match in _JSON_STRUCTURE.finditer(body):
        at = match.start()
        if at == escaped_at:
            continue
        char = body[at]
        if in_string:
            if char == 0x5C:  # backslash: the next byte is escaped
                escaped_at = at + 1
            elif char == 0x22:
                in_string = False
        elif char == 0x22:
            in_string = True
        elif char in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif char in b"]}":
            depth -= 1
    return False


def _json_object(body: bytes) -> dict[str, Any]:
    if json_depth_over(body, MAX_JSON_DEPTH):
        raise Rejected(400, f"body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep; "
                            "send the body without extra nesting")
    try:
        record = json.loads(body)
    except RecursionError:
        raise Rejected(400, "body nests arrays and objects too deeply to read") from None
    except UnicodeDecodeError:
        raise Rejected(400, "body is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise Rejected(400, f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(record, dict):
        raise Rejected(400, f"body must be a JSON object, not {type(record).__name__}")
    return record


def _delivery_id(headers: Mapping[str, str], record: dict[str, Any], body: bytes, header: str | None,
                 body_field: str | None) -> str:
    """The sender's delivery id (header, else body field), else the body's hash: identical bodies are one delivery."""
    value = headers.get(header.lower()) if header else None
    if not value and body_field:
        found = lookup(record, body_field)
        value = str(found) if found not in (None, "") else None
    return value.strip()[:200] if value else "sha256:" + hashlib.sha256(body).hexdigest()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away or was cut off is logged, not printed as a traceback."""
        log.debug("webhook connection from %s ended with an error", client_address, exc_info=True)


_TIMED_OUT = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
              b"Content-Length: %d\r\n\r\n%s")


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """One connection. A watchdog gives each request `read_timeout` seconds from its first byte awaited to
        its last body byte read; past that the client is answered 408 and the connection is closed, however
        slowly it trickles. The socket timeout, twice as long, only backs the watchdog up (it closes silently)."""

        protocol_version = "HTTP/1.1"
        server_version = "realise-webhook"
        timeout = 2 * receiver.read_timeout

        def handle_one_request(self) -> None:
            self._reading, self._cut, self.raw_requestline = True, False, b""
            self._phase_lock = threading.Lock()
            watchdog = threading.Timer(receiver.read_timeout, self._cut_off)
            watchdog.daemon = True
            watchdog.start()
            try:
                super().handle_one_request()
            finally:
                watchdog.cancel()

        def _cut_off(self) -> None:
            with self._phase_lock:
                if not self._reading:
                    return
                self._cut = True
            if not self.raw_requestline:  # an idle keep-alive connection, or a request line never finished
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            payload = json.dumps({"error": f"request not received within {receiver.read_timeout:g} s; "
                                           "send the headers and body without pausing"}).encode()
            with contextlib.suppress(OSError):
                self.connection.sendall(_TIMED_OUT % (len(payload), payload))
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def _done_reading(self) -> bool:
            """Mark the request read; False when the watchdog cut it off first (nothing more may be sent)."""
            with self._phase_lock:
                self._reading = False
                if self._cut:
                    self.close_connection = True
                return not self._cut

        def _answer(self, answer: Answer, *, close: bool = False) -> None:
            payload = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if not self._done_reading():
                return
            if self.path.split("?")[0] == "/healthz":
                self._answer(Answer(200, {"status": "ok", "sources": sorted(receiver.endpoints)}))
            else:
                self._answer(Answer(404, {"error": f"nothing at {self.path}; POST deliveries to "
                                                   f"{PATH_PREFIX}<source>"}))

        def do_POST(self) -> None:  # noqa: N802
            if self._cut:
                self.close_connection = True
                return
            path = self.path.split("?")[0]
            name = path[len(PATH_PREFIX):] if path.startswith(PATH_PREFIX) else ""
            endpoint = receiver.endpoints.get(name)
            if endpoint is None:
                if not self._done_reading():
                    return
                self._answer(Answer(404, {"error": f"no webhook source at {path}; known: "
                                                   f"{', '.join(sorted(receiver.endpoints))}"}), close=True)
                return
            length = self.headers.get("Content-Length")
            if self.headers.get("Transfer-Encoding") or length is None or not length.strip().isdigit():
                if not self._done_reading():
                    return
                self._answer(Answer(411, {"error": "send the body with a Content-Length header"}), close=True)
                return
            limit = endpoint.source.options.max_body_bytes
            if int(length) > limit:
                if not self._done_reading():
                    return
                self._answer(Answer(413, {"error": f"body of {int(length)} bytes is over the {limit}-byte limit"}),
                             close=True)
                return
            body: bytes | None
            try:
                body = self.rfile.read(int(length))
            except TimeoutError:
                body = None
            except OSError:
                body = b""
            if not self._done_reading():
                return
            if body is None:
                self._answer(Answer(408, {"error": f"no body bytes for {receiver.read_timeout:g} s; send the body "
                                                   "without pausing"}), close=True)
                return
            if len(body) != int(length):
                self._answer(Answer(400, {"error": f"body ended after {len(body)} of {int(length)} bytes"}),
                             close=True)
                return
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if content_type != "application/json":
                self._answer(Answer(415, {"error": f"Content-Type must be application/json (got "
                                                   f"{content_type or 'none'})"}))
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._answer(receiver.receive(name, headers, body))

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("%s " + format, self.address_string(), *args)

    return Handler
