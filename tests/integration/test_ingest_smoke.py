"""Events published to the real broker arrive in the real warehouse exactly once, across re-runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from foundation import kafka as rk
from foundation.database import create_engine
from ingestion.runner import IngestRunner
from synthetic import generate_events, generate_trust, serialise

pytestmark = pytest.mark.integration


def test_given_published_events_when_drained_twice_then_each_is_loaded_once(ingest_settings, gate):
    s = ingest_settings
    events = generate_events(generate_trust(300, seed=3), now=datetime.now(UTC), seed=3, forms=400, tickets=300,
                             training=300, skills=100)
    records = [(s.topic(t), k, v) for t, k, v in map(serialise, events)]
    rk.ensure_topics(s, s.kafka.bootstrap)
    rk.publish(s, s.kafka.bootstrap, records + records[:50])  # the first 50 delivered twice
    engine = create_engine(s.warehouse.url)

    first = IngestRunner(s, s.kafka.bootstrap, engine, gate=gate).run("drain")
    second = IngestRunner(s, s.kafka.bootstrap, engine, gate=gate).run("drain")

    assert first.records == len(records) + 50
    assert first.loaded_total == len(events)
    assert first.duplicates == 50
    assert second.records == 0
    with engine.connect() as conn:
        raw = conn.execute(sa.text("select count(*), count(distinct event_id) from raw.events")).one()
        facts = sum(conn.execute(sa.text(f"select count(*) from core.fact_{k}")).scalar_one()
                    for k in ("form_response", "helpdesk_ticket", "training_record", "skills_assessment"))
    assert raw == (len(events), len(events))
    assert facts == len(events)
    engine.dispose()
