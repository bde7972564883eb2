"""`realise bench freshness`: seconds from publishing a form response to the metric reflecting it.

Runs on the embedded stack (started if needed; or the configured PostgreSQL and Kafka) with a fresh
database and fresh topics. Ingest follows the topics on a thread (the IngestRunner in follow mode, as
`realise ingest --follow` runs it, stopped by an Event); its after-commit hook wakes a refresher thread
which, after a short debounce that lets commits arriving together share one refresh, runs the incremental
refresh the metrics flow runs (`refresh_metrics`: metrics, then benefits and alert rules).

A warehouse of background events is loaded and fully refreshed first, so each refresh has realistic work.
Then form responses are published one at a time; for each, a probe polls `analytics.metric_latest` for
net_experience_score at trust level in the event's week until a refresh that covers the event has written
that cell (the refresh's watermark, ops.metric_refreshes.started_at, is later than the event's loaded_at).
The time from just before the send to that moment is the event's freshness.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from foundation.config import Settings

METRIC = "net_experience_score"
_REFLECTED = sa.text(
    "select l.refresh_id from analytics.metric_latest l join ops.metric_refreshes r on r.id = l.refresh_id "
    "where l.metric_id = :metric and l.grain = 'week' and l.period = :week and l.segment_type = 'trust' "
    "and r.started_at > (select loaded_at from raw.events where event_id = :event) limit 1")


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass
class _Refresher:
    """Runs an incremental refresh after ingest commits new rows, coalescing commits that come together."""

    engine: Engine
    settings: Settings
    metric_ids: list[str] | None
    debounce: float
    wake: threading.Event = field(default_factory=threading.Event)
    halt: threading.Event = field(default_factory=threading.Event)
    armed: bool = False
    seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def on_commit(self, plan: Any, result: Any) -> None:
        if self.armed and result.loaded_total:
            self.wake.set()

    def run(self) -> None:
        from warehouse.metrics.service import refresh_metrics

        while not self.halt.is_set():
            if not self.wake.wait(0.2):
                continue
            time.sleep(self.debounce)
            self.wake.clear()  # a commit from here on wakes the next refresh
            started = time.perf_counter()
            try:
                refresh_metrics(self.engine, self.settings, full=False, metric_ids=self.metric_ids)
            except Exception as exc:  # keep measuring; the figures report it
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self.seconds.append(time.perf_counter() - started)


def _fresh_event(template: Any, at: datetime, record_id: str) -> Any:
    from schemas.events import make_event

    return make_event(template.kind, source=template.source, source_record_id=record_id,
                      record_version=at.isoformat(), occurred_at=at, ingested_at=at, payload=template.payload)


def _wait_for_rows(engine: Engine, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            count = conn.execute(sa.text("select count(*) from raw.events")).scalar_one()
        if count >= expected:
            break
        time.sleep(0.25)
    return count


def run_bench(settings: Settings, events: int = 50, interval: float = 0.5, *, preload: int = 20_000,
              debounce: float = 0.1, metric_ids: list[str] | None = None, timeout: float = 60.0,
              progress: Any = None) -> dict[str, Any]:
    from bench.ingest import _drop_database, _fresh_database
    from bench.refresh import generated, records, set_go_live_dates
    from foundation import kafka as rk
    from foundation.database import create_engine
    from foundation.stack import resolve_endpoints
    from ingestion.runner import IngestRunner
    from ingestion.service import quality_gate
    from synthetic import generate_events, generate_trust
    from warehouse.metrics.registry import all_metrics
    from warehouse.metrics.service import refresh_metrics

    def say(message: str) -> None:
        if progress is not None:
            progress.print(message)

    endpoints = resolve_endpoints(settings, autostart=True, services={"postgres", "kafka"})
    bootstrap = endpoints.kafka_bootstrap
    run = settings.model_copy(deep=True)
    run.kafka.topic_prefix = f"fresh{uuid.uuid4().hex[:8]}."
    run.kafka.consumer_group = f"fresh-{uuid.uuid4().hex[:8]}"
    run.kafka.bootstrap = bootstrap
    run.prefect.emit_events = False
    url = _fresh_database(endpoints.warehouse_url)
    run.warehouse.url = url
    engine = create_engine(url)
    probe = create_engine(url, pool_size=1)
    metrics = metric_ids or list(all_metrics())

    now = datetime.now(UTC).replace(microsecond=0)
    trust = generate_trust(2000, seed=17)
    templates = generate_events(trust, now=now, seed=17, forms=events, tickets=0, training=0, skills=0)
    rk.ensure_topics(run, bootstrap)
    if preload:
        say(f"publishing {preload:,} background events (all four kinds) to {run.kafka.topic_prefix}*")
        for chunk in generated(trust, now, preload, seed=17, prefix="bg"):
            rk.publish(run, bootstrap, [(run.topic(t), k, v) for t, k, v in chunk])

    refresher = _Refresher(engine, run, metric_ids, debounce)
    stop = threading.Event()
    failure: list[BaseException] = []
    runner = IngestRunner(run, bootstrap, engine, gate=quality_gate(run), on_commit=refresher.on_commit)

    def ingest() -> None:
        try:
            runner.run("follow", stop)
        except BaseException as exc:  # reported below
            failure.append(exc)

    ingest_thread = threading.Thread(target=ingest, name="bench-ingest-follow", daemon=True)
    refresh_thread = threading.Thread(target=refresher.run, name="bench-refresher", daemon=True)
    latencies: list[float] = []
    missed = 0
    producer = None
    try:
        ingest_thread.start()
        loaded = _wait_for_rows(engine, preload, timeout=max(120.0, preload / 500)) if preload else 0
        if failure:
            raise failure[0]
        set_go_live_dates(engine, trust, now)
        say(f"ingest following ({loaded:,} background events loaded); full refresh of {len(metrics)} metrics")
        started = time.perf_counter()
        refresh_metrics(engine, run, full=True, metric_ids=metric_ids)
        full_seconds = time.perf_counter() - started
        refresher.armed = True
        refresh_thread.start()

        producer = rk.producer(run, bootstrap, linger_ms=0)
        pending: list[tuple[str, str, float]] = []  # event id, week, publish time
        say(f"publishing {events} form responses, one every {interval} s")
        next_send = time.perf_counter()
        sent = 0
        deadline = None
        while sent < events or pending:
            clock = time.perf_counter()
            if sent < events and clock >= next_send:
                at = datetime.now(UTC).replace(microsecond=0)
                event = _fresh_event(templates[sent], at, f"fresh-{uuid.uuid4().hex[:12]}")
                topic, key, value = next(records([event]))
                published = time.perf_counter()
                producer.send(run.topic(topic), key=key, value=value).get(timeout=30)
                week = (at.date() - timedelta(days=at.weekday())).isoformat()
                pending.append((str(event.event_id), week, published))
                sent += 1
                next_send += interval
                if sent == events:
                    deadline = time.perf_counter() + timeout
            with probe.connect() as conn:
                for item in list(pending):
                    event_id, week, published = item
                    if conn.execute(_REFLECTED, {"metric": METRIC, "week": week, "event": event_id}).first():
                        latencies.append(time.perf_counter() - published)
                        pending.remove(item)
                    elif time.perf_counter() - published > timeout:
                        missed += 1
                        pending.remove(item)
            if failure:
                raise failure[0]
            if deadline is not None and time.perf_counter() > deadline:
                missed += len(pending)
                break
            time.sleep(0.05)
    finally:
        if producer is not None:
            producer.close(timeout=5)
        refresher.halt.set()
        stop.set()
        ingest_thread.join(60)
        if refresh_thread.is_alive():
            refresh_thread.join(120)
        probe.dispose()
        engine.dispose()
        _drop_database(url)

    figures: dict[str, Any] = {
        "events": events,
        "publish_interval_s": interval,
        "background_events": preload,
        "metrics_refreshed": len(metrics),
        "refresh_path": "ingest follow → on_commit hook → debounced refresh_metrics(full=False)",
        "debounce_s": debounce,
        "poll_timeout_ms": run.ingest.poll_timeout_ms,
        "full_refresh_s": round(full_seconds, 3),
        "refreshes": len(refresher.seconds),
        "refresh_s_p50": round(percentile(refresher.seconds, 0.5), 3) if refresher.seconds else None,
        "refresh_s_max": round(max(refresher.seconds), 3) if refresher.seconds else None,
        "refresh_errors": len(refresher.errors),
        "reflected": len(latencies),
        "missed": missed,
    }
    if latencies:
        figures.update({
            "freshness_s_min": round(min(latencies), 3),
            "freshness_s_p50": round(percentile(latencies, 0.5), 3),
            "freshness_s_p95": round(percentile(latencies, 0.95), 3),
            "freshness_s_max": round(max(latencies), 3),
        })
    figures["goal_p95_s"] = 10.0
    figures["meets_goal"] = bool(latencies) and not missed and figures["freshness_s_p95"] <= 10.0
    if refresher.errors:
        figures["first_refresh_error"] = refresher.errors[0][:300]
    return figures
