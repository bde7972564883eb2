"""The main job: a generated trust's feedback published to Kafka, ingested by the Prefect flow, summarised.

The synthetic trust, its events and a handful of malformed records are generated from a seed and the
current UTC day, so running the demo again on the same day publishes the same events and loads nothing
new: a visible check that nothing is doubled.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prefect import flow, task

from flows.ingest.flow import ingest_flow
from flows.metrics import metrics_refresh_flow
from realise import kafka as rk
from realise.config import load_settings
from realise.stack import resolve_endpoints
from warehouse.db import create_engine

ANALYTICS_COUNTS = {
    "form_response": "select count(*) from core.fact_form_response",
    "helpdesk_ticket": "select count(*) from core.fact_helpdesk_ticket",
    "training_record": "select count(*) from core.fact_training_record",
    "skills_assessment": "select count(*) from core.fact_skills_assessment",
}


def demo_now() -> datetime:
    """Start of the current UTC day: the reference time that makes a same-day re-run identical."""
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@task(name="generate-and-publish", retries=1, retry_delay_seconds=5)
def generate_and_publish(staff: int, seed: int, forms: int, tickets: int, training: int,
                         skills: int) -> dict[str, Any]:
    from connectors.synthetic import generate_events, generate_trust, malformed_records, serialise

    settings = load_settings()
    endpoints = resolve_endpoints(settings, autostart=False, services={"kafka"})
    now = demo_now()
    trust = generate_trust(staff, seed)
    events = generate_events(trust, now=now, seed=seed, forms=forms, tickets=tickets, training=training,
                             skills=skills)
    bad = malformed_records(trust, now, seed)
    records = [(settings.topic(topic), key, value) for topic, key, value in map(serialise, events)]
    records += [(settings.topic(m.topic), m.key, m.value) for m in bad]
    rk.ensure_topics(settings, endpoints.kafka_bootstrap)
    # Room for the demo's oversized hostile record, which ingest must quarantine rather than choke on.
    rk.publish(settings, endpoints.kafka_bootstrap, records, max_request_size=4 * 1024 * 1024)
    return {"published": dict(Counter(e.kind for e in events)), "malformed": sum(not m.valid for m in bad),
            "hostile_but_valid": sum(m.valid for m in bad), "staff": len(trust.staff)}


@task(name="load-reference-data")
def load_reference_data(staff: int, seed: int) -> dict[str, Any]:
    """The trust's staff directory and go-live dates: denominators and the week-since-go-live grain."""
    from connectors.synthetic import generate_trust
    from warehouse.directory import DirectoryEntry, load_directory, set_go_live_dates

    settings = load_settings()
    endpoints = resolve_endpoints(settings, autostart=False, services={"postgres"})
    engine = create_engine(endpoints.warehouse_url)
    trust = generate_trust(staff, seed)
    now = demo_now()
    try:
        loaded = load_directory(engine, (
            DirectoryEntry(s.pseudonym, s.org_unit, s.org_path, s.staff_group, s.band, s.system, s.go_live_wave)
            for s in trust.staff))
        dates = {name: wave.go_live(now).date() for name, wave in trust.waves.items()}
        set_go_live_dates(engine, dates)
        benefits = 0
        register = Path(settings.metrics.benefits_file)
        if register.exists():
            from warehouse.benefits import load_register, store_register

            benefits = len(load_register(register))
            store_register(engine, load_register(register))
    finally:
        engine.dispose()
    return {"directory": loaded, "go_live_dates": {k: v.isoformat() for k, v in sorted(dates.items())},
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
def demo_flow(staff: int = 2000, seed: int = 7, forms: int = 3000, tickets: int = 2500, training: int = 6000,
              skills: int = 1500) -> dict[str, Any]:
    """Generate → publish → ingest (drain) → refresh metrics → summarise."""
    started = time.perf_counter()
    published = generate_and_publish(staff, seed, forms, tickets, training, skills)
    reference = load_reference_data(staff, seed)
    ingest = ingest_flow(mode="drain")
    metrics = metrics_refresh_flow(full=False)
    summary = warehouse_summary()
    return {**published, **reference, "ingest": ingest, "metrics": metrics, **summary,
            "seconds": round(time.perf_counter() - started, 2)}
