"""Copies of quarantined records on the dead-letter topic, for stream consumers; at least once.

`ops.quarantine` is the record of truth and is committed first; a copy that cannot be made never undoes
a load, but it is counted, so a drain that could not copy everything says so and exits non-zero.

Every copy fits the producer's request limit: the reasons header is already bounded (see
`foundation.quarantine`), and the value is cut to what is left of the limit, with the original size in
a header. Sends are checked one by one and the failures retried, so one failed send never drops the rest.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from foundation import kafka as rk
from foundation.config import Settings
from ingestion.batch import Bad
from schemas.topics import DEAD_LETTER_TOPIC

log = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 1_048_576  # kafka-python's max_request_size default, and most brokers' message limit
# Room for the record batch, record framing, key and header names under the request limit.
FRAMING_BYTES = 16 * 1024
MAX_VALUE_BYTES = 512 * 1024
ATTEMPTS = 3


def copy_of(bad: Bad, *, max_request_bytes: int = MAX_REQUEST_BYTES
            ) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of one dead-letter copy, sized to fit one produce request."""
    r = bad.record
    headers = [("realise.reasons", json.dumps(bad.reasons).encode()),
               ("realise.stage", bad.stage.encode()),
               ("realise.origin", f"{r.topic}/{r.partition}/{r.offset}".encode())]
    key = r.key if r.key is None or len(r.key) <= 1024 else r.key[:1024]
    value = r.value or b""
    room = max_request_bytes - FRAMING_BYTES - sum(len(k) + len(v) for k, v in headers) - len(key or b"")
    limit = max(0, min(MAX_VALUE_BYTES, room))
    if len(value) > limit:
        headers.append(("realise.truncated_from", str(len(value)).encode()))
        value = value[:limit]
    return key, value, headers


class DeadLetters:
    """One producer, created on first use; `copy` returns how many copies could not be made."""

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings, self.bootstrap = settings, bootstrap
        self.topic = settings.topic(DEAD_LETTER_TOPIC)
        self._producer: Any = None
        self.failed = 0
        self.last_error = ""

    def copy(self, records: Sequence[Bad]) -> int:
        pending = list(records)
        for attempt in range(1, ATTEMPTS + 1):
            pending = self._send(pending)
            if not pending:
                return 0
            log.warning("%d dead-letter copies failed (attempt %d of %d): %s", len(pending), attempt, ATTEMPTS,
                        self.last_error)
            self._discard_producer()
            time.sleep(0.2 * attempt)
        self.failed += len(pending)
        log.error("could not copy %d quarantined records to %s: %s (they are in ops.quarantine)",
                  len(pending), self.topic, self.last_error)
        return len(pending)

    def _send(self, records: list[Bad]) -> list[Bad]:
        """The records whose copy was not acknowledged."""
        try:
            if self._producer is None:
                self._producer = rk.producer(self.settings, self.bootstrap, linger_ms=50,
                                             max_request_size=MAX_REQUEST_BYTES)
        except Exception as exc:  # noqa: BLE001 - reported through the failure count
            self.last_error = f"{type(exc).__name__}: {exc}"
            return records
        futures = []
        failed: list[Bad] = []
        for bad in records:
            key, value, headers = copy_of(bad)
            try:
                futures.append((bad, self._producer.send(self.topic, key=key, value=value, headers=headers)))
            except Exception as exc:  # noqa: BLE001 - one refused send never stops the others
                self.last_error = f"{type(exc).__name__}: {exc}"
                failed.append(bad)
        try:
            self._producer.flush(timeout=30)
        except Exception as exc:  # noqa: BLE001
            self.last_error = f"{type(exc).__name__}: {exc}"
        for bad, future in futures:
            try:
                future.get(timeout=1 if future.is_done else 30)
            except Exception as exc:  # noqa: BLE001
                self.last_error = f"{type(exc).__name__}: {exc}"
                failed.append(bad)
        return failed

    def _discard_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=5)
            except Exception:  # noqa: BLE001 - a broken producer is replaced either way
                log.debug("closing the dead-letter producer failed", exc_info=True)
            self._producer = None

    def close(self) -> None:
        self._discard_producer()
