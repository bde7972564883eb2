"""Property through the real broker and warehouse: published = loaded + quarantined + duplicates, always.

Hostile records (tests/fuzz_records.py), with exact re-deliveries mixed in, are published to topics of
their own and drained; the run never raises and the warehouse holds each record once, loaded or quarantined.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundation import kafka as rk
from foundation.database import create_engine
from ingestion.runner import IngestRunner
from tests.fuzz_records import hostile_record, topic_of

pytestmark = pytest.mark.integration


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(drawn=st.lists(hostile_record(), min_size=5, max_size=60), repeats=st.integers(0, 5))
def test_given_hostile_records_on_the_broker_when_drained_then_every_record_is_loaded_or_quarantined_once(
        ingest_settings, gate, drawn, repeats):
    s = ingest_settings.model_copy(deep=True)
    s.kafka.topic_prefix = f"f{uuid.uuid4().hex[:10]}."
    s.kafka.consumer_group = f"g{uuid.uuid4().hex[:8]}"
    s.ingest.batch_size = 16
    records = [(topic_of(kind, s.kafka.topic_prefix), None, raw) for kind, raw in drawn]
    records += records[:repeats]  # re-deliveries: the same bytes again
    rk.ensure_topics(s, s.kafka.bootstrap)
    rk.publish(s, s.kafka.bootstrap, records)

    engine = create_engine(s.warehouse.url)
    try:
        summary = IngestRunner(s, s.kafka.bootstrap, engine, gate=gate).run("drain")
        assert summary.records == len(records)
        assert summary.loaded_total + summary.quarantined + summary.duplicates == len(records)
        with engine.connect() as conn:
            loaded = conn.execute(sa.text("select count(*) from raw.events where topic like :p"),
                                  {"p": f"{s.kafka.topic_prefix}%"}).scalar_one()
            quarantined = conn.execute(sa.text("select count(*) from ops.quarantine where topic like :p"),
                                       {"p": f"{s.kafka.topic_prefix}%"}).scalar_one()
        assert (loaded, quarantined) == (summary.loaded_total, summary.quarantined)
    finally:
        engine.dispose()
