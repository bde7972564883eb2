"""Wire settings, endpoints and the quality gate into an IngestRunner; shared by the CLI, flows and bench."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from foundation.config import Settings
from foundation.database import check_connection, warehouse_engine
from ingestion.runner import IngestRunner, IngestSummary, Mode

log = logging.getLogger(__name__)
_GATE: Any = None


def quality_gate(settings: Settings) -> Any:
    """One GE gate per process: building the context and suites is the expensive part."""
    global _GATE
    if _GATE is None:
        from ingestion.quality import QualityGate

        _GATE = QualityGate(timedelta(minutes=settings.ingest.future_tolerance_minutes))
    return _GATE


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGTERM/SIGINT finish the current batch, then stop cleanly (the consumer leaves its group)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping after the current batch", signum)
        stop.set()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, prev in previous.items():
            signal.signal(sig, prev)


def run_ingest(settings: Settings, warehouse_url: str, bootstrap: str, mode: Mode, *,
               group: str | None = None, emit_prefect_events: bool = False,
               stop: threading.Event | None = None,
               skip: frozenset[tuple[str, int, int]] = frozenset()) -> IngestSummary:
    engine = warehouse_engine(settings, warehouse_url)
    try:
        check_connection(engine)
        on_commit = None
        if emit_prefect_events and settings.prefect.emit_events:
            from ingestion.notify import PrefectEventEmitter

            on_commit = PrefectEventEmitter(group or settings.kafka.consumer_group)
        runner = IngestRunner(settings, bootstrap, engine, gate=quality_gate(settings), group=group,
                              on_commit=on_commit, skip=skip)
        if stop is None:
            with stop_on_signals() as signalled:
                summary = runner.run(mode, signalled)
        else:
            summary = runner.run(mode, stop)
        if on_commit is not None:
            on_commit.flush()
        return summary
    finally:
        engine.dispose()
