"""Property: whatever the records, planning a batch never raises and accounts for every record.

Valid events of every kind are mutated at random paths (types, extremes, identifiers, NUL, deep nesting,
random and truncated bytes, the wrong topic); every record comes out valid, repeated or quarantined with
bounded, storable reasons.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundation.quarantine import MAX_REASON_CHARS, MAX_REASONS, MAX_REASONS_CHARS
from ingestion.batch import SourceRecord, plan_batch
from tests.fuzz_records import NOW, hostile_record, topic_of


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(st.lists(hostile_record(), min_size=1, max_size=12))
def test_given_hostile_records_when_planned_then_none_raises_and_each_is_accounted_for(gate, drawn):
    records = [SourceRecord(topic_of(kind), 0, i, None, raw) for i, (kind, raw) in enumerate(drawn)]
    plan = plan_batch(records, gate, now=NOW)
    assert plan.records == len(records)
    assert plan.valid_count + len(plan.bad) + plan.repeated == len(records)
    for bad in plan.bad:
        assert bad.reasons, bad
        assert len(bad.reasons) <= MAX_REASONS + 1
        assert sum(map(len, bad.reasons)) <= MAX_REASONS_CHARS + MAX_REASON_CHARS
        for reason in bad.reasons:
            assert "\x00" not in reason
            reason.encode("utf-8")  # storable as PostgreSQL text
        assert len(bad.stage) <= 16
        assert bad.source is None or len(bad.source) <= 64
        assert bad.event_id is None or len(bad.event_id) <= 64
