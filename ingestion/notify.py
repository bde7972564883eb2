"""Prefect events after committed batches, so refreshes and alerts can trigger on new data.

Events are coalesced: at most one per `min_interval` seconds, carrying the counts since the last one,
so a fast follow-mode consumer does not flood the Prefect API.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

from ingestion.batch import BatchPlan
from ingestion.load import CommitResult

log = logging.getLogger(__name__)
EVENT_NAME = "realise.ingest.batch.committed"


class PrefectEventEmitter:
    def __init__(self, consumer_group: str, min_interval: float = 1.0) -> None:
        from prefect.events import emit_event

        self._emit = emit_event
        self.group = consumer_group
        self.min_interval = min_interval
        self._last = 0.0
        self._pending: Counter[str] = Counter()
        self._batches = 0
        self._max_occurred: Any = None

    def __call__(self, plan: BatchPlan, result: CommitResult) -> None:
        self._pending.update(result.loaded)
        self._pending["quarantined"] += result.quarantined
        self._batches += 1
        if result.max_occurred_at and (self._max_occurred is None or result.max_occurred_at > self._max_occurred):
            self._max_occurred = result.max_occurred_at
        if time.monotonic() - self._last >= self.min_interval:
            self.flush()

    def flush(self) -> None:
        if not self._batches:
            return
        payload = {"batches": self._batches, "loaded": {k: v for k, v in self._pending.items() if k != "quarantined"},
                   "quarantined": self._pending["quarantined"],
                   "max_occurred_at": self._max_occurred.isoformat() if self._max_occurred else None}
        self._emit(event=EVENT_NAME,
                   resource={"prefect.resource.id": f"realise.warehouse.ingest.{self.group}",
                             "prefect.resource.name": "Realise warehouse"},
                   payload=payload)
        self._last = time.monotonic()
        self._pending.clear()
        self._batches = 0
        self._max_occurred = None
