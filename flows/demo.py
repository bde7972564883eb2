"""The main job: a simulated trust's source systems → connectors → Kafka → Prefect ingest → metrics.

The go-live simulator serves a generated trust (seeded, dated from the current UTC day) from local copies of
the help desk, learning and survey systems' APIs and exports; every configured connector pulls from them,
directory first, pseudonymising staff and scrubbing free text on the way. A handful of malformed records
is put straight onto the stream to show quarantine. A same-day re-run finds no changes at the sources and
loads nothing new: a visible check that nothing is doubled.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prefect import flow, task

from connectors.core.pull import Puller, PullResult, StreamResult
from connectors.webhook.receiver import WebhookReceiver
from flows.ingest import ingest_flow
from flows.metrics import metrics_refresh_flow
from flows.report import write_report_task
from foundation import kafka as rk
from foundation import progress
from foundation.config import load_settings
from foundation.database import create_engine
from foundation.privacy import DEMO_KEY
from foundation.source_config import SourceConfig
from foundation.stack import resolve_endpoints
from simulator import Simulation
from simulator.world import World
from synthetic import generate_trust, malformed_records
from warehouse.benefits import load_register, store_register
from warehouse.directory import set_go_live_dates

ANALYTICS_COUNTS = {
    "form_response": "select count(*) from core.fact_form_response",
    "helpdesk_ticket": "select count(*) from core.fact_helpdesk_ticket",
    "training_record": "select count(*) from core.fact_training_record",
    "skills_assessment": "select count(*) from core.fact_skills_assessment",
}


def demo_now() -> datetime:
    """Start of the current UTC day: the reference time that makes a same-day re-run identical."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@task(name="simulate-and-pull")
def simulate_and_pull(staff: int, seed: int) -> dict[str, Any]:
    """Serve the generated trust from the simulated source systems and pull every source, directory first."""
    settings = load_settings()
    endpoints = resolve_endpoints(settings, autostart=False, services={"postgres", "kafka"})
    world = World.generate(staff=staff, seed=seed, now=demo_now())
    rk.ensure_topics(settings, endpoints.kafka_bootstrap)
    engine = create_engine(endpoints.warehouse_url)
    producer = rk.producer(settings, endpoints.kafka_bootstrap)
    try:
        with Simulation(world, settings.data_dir / "simulator") as sim:
            puller = Puller(engine, producer, key=DEMO_KEY, topic_prefix=settings.kafka.topic_prefix,
                            progress=progress.stream_counter("publish", "source records published"))
            configs = {name: SourceConfig.model_validate(entry) for name, entry in sim.sources().items()}
            results = [puller.pull(name, config) for name, config in configs.items() if config.type != "webhook"]
            webhooks = {name: config for name, config in configs.items() if config.type == "webhook"}
            with WebhookReceiver(webhooks, engine=engine, producer_factory=lambda: producer, key=DEMO_KEY,
                                 topic_prefix=settings.kafka.topic_prefix) as receiver:
                started = time.perf_counter()
                for name in webhooks:
                    accepted = sim.deliver_webhooks(receiver.url(name))
                    results.append(PullResult(name, "webhook", None, [StreamResult(
                        "deliveries", "form_response", records=accepted, published=accepted)],
                        seconds=round(time.perf_counter() - started, 3)))
    finally:
        producer.close()
        engine.dispose()
    published: Counter[str] = Counter()
    for result in results:
        for stream in result.streams:
            if stream.kind:
                published[stream.kind] += stream.published
    return {"published": dict(published), "staff": len(world.trust.staff),
            "sources": [{"source": r.source, "type": r.type, "records": r.records, "published": r.published,
                         "quarantined": sum(s.rejected for s in r.streams), "seconds": r.seconds,
                         "requests": r.requests} for r in results]}


@task(name="publish-hostile-records", retries=1, retry_delay_seconds=5)
def publish_hostile(staff: int, seed: int) -> dict[str, Any]:
    """Malformed and hostile records put straight onto the stream, as a misbehaving producer would."""
    settings = load_settings()
    endpoints = resolve_endpoints(settings, autostart=False, services={"kafka"})
    bad = malformed_records(generate_trust(staff, seed), demo_now(), seed)
    rk.ensure_topics(settings, endpoints.kafka_bootstrap)
    # Room for the oversized hostile record, which ingest must quarantine rather than choke on.
    rk.publish(settings, endpoints.kafka_bootstrap, [(settings.topic(m.topic), m.key, m.value) for m in bad],
               max_request_size=4 * 1024 * 1024)
    return {"malformed": sum(not m.valid for m in bad), "hostile_but_valid": sum(m.valid for m in bad)}


@task(name="load-reference-data")
def load_reference_data(staff: int, seed: int) -> dict[str, Any]:
    """Go-live dates per wave (the week-since-go-live grain) and the benefits register."""
    settings = load_settings()
    endpoints = resolve_endpoints(settings, autostart=False, services={"postgres"})
    engine = create_engine(endpoints.warehouse_url)
    trust = generate_trust(staff, seed)
    now = demo_now()
    try:
        dates = {name: wave.go_live(now).date() for name, wave in trust.waves.items()}
        set_go_live_dates(engine, dates)
        benefits = 0
        register = Path(settings.metrics.benefits_file)
        if register.exists():
            benefits = len(load_register(register))
            store_register(engine, load_register(register))
        with engine.connect() as conn:
            directory = conn.execute(sa.text("select count(*) from core.staff_directory")).scalar_one()
    finally:
        engine.dispose()
    return {"directory": directory, "go_live_dates": {k: v.isoformat() for k, v in sorted(dates.items())},
            "benefits_registered": benefits}


HEADLINES = ("net_experience_score", "enps", "training_coverage", "tickets_per_100_staff",
             "median_hours_to_resolve", "time_saved_hours_per_week")


@task(name="warehouse-summary")
def warehouse_summary() -> dict[str, Any]:
    settings = load_settings()
    endpoints = resolve_endpoints(settings, autostart=False, services={"postgres"})
    engine = create_engine(endpoints.warehouse_url)
    try:
        with engine.connect() as conn:
            totals = {kind: conn.execute(sa.text(q)).scalar_one() for kind, q in ANALYTICS_COUNTS.items()}
            quarantine = conn.execute(sa.text(
                "select reason, count(*) from (select unnest(reasons) as reason from analytics.quarantine) r "
                "group by reason order by count(*) desc, reason")).all()
            quarantined = conn.execute(sa.text("select count(*) from analytics.quarantine")).scalar_one()
            headlines = conn.execute(sa.text(
                "select distinct on (metric_id) metric_id, metric_title, unit, period, value, n, suppressed "
                "from analytics.metric_latest where grain = 'week' and segment_type = 'trust' "
                "and metric_id = any(:ids) order by metric_id, period desc"), {"ids": list(HEADLINES)}).mappings().all()
            suppression = conn.execute(sa.text(
                "select count(*) filter (where suppressed), count(*) from analytics.metric_latest")).one()
            benefits = conn.execute(sa.text(
                "select title, status, current_value, target_value, target_date from analytics.benefits "
                "order by benefit_id")).mappings().all()
            alerts = conn.execute(sa.text(
                "select message from analytics.alerts where status = 'open' order by opened_at, alert_id limit 10"
            )).scalars().all()
    finally:
        engine.dispose()
    return {"warehouse_totals": totals, "quarantined_total": quarantined,
            "quarantine_reasons": [(r, n) for r, n in quarantine],
            "headlines": [dict(h) for h in headlines],
            "metric_cells": {"suppressed": suppression[0], "total": suppression[1]},
            "benefits": [dict(b) for b in benefits], "open_alerts": list(alerts)}


@flow(name="realise-demo", log_prints=True)
def demo_flow(staff: int = 2000, seed: int = 7) -> dict[str, Any]:
    """Simulated sources → connectors → stream → ingest (drain) → refresh metrics → summarise → report."""
    started = time.perf_counter()
    pulled = simulate_and_pull(staff, seed)
    hostile = publish_hostile(staff, seed)
    reference = load_reference_data(staff, seed)
    ingest = ingest_flow(mode="drain")
    metrics = metrics_refresh_flow(full=False)
    summary = warehouse_summary()
    report = write_report_task()
    return {**pulled, **hostile, **reference, "ingest": ingest, "metrics": metrics, **summary, "report": report,
            "seconds": round(time.perf_counter() - started, 2)}
