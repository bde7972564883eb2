"""Every connector passes the same contract (cases in tests/contract/cases/):

- what it publishes validates against the event contract and carries a primary key;
- no raw identifier of the simulated staff reaches the stream;
- state only moves forward, and a re-run with no source change publishes no new event;
- after the source changes, a pull publishes the change and ingest leaves exactly the source's records.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.core.state import StateStore, position
from foundation.config import Settings
from foundation.database import create_engine
from foundation.kafka import ensure_topics, producer
from ingestion.service import run_ingest
from schemas.events import EVENT_ADAPTER
from simulator.server import SimServer
from tests.contract import cases
from tests.contract.harness import KEY, ContractCase, fresh_prefix, load_directory, read_events, small_world


def _cases() -> list[ContractCase]:
    found = []
    for info in pkgutil.iter_modules(cases.__path__):
        module = importlib.import_module(f"{cases.__name__}.{info.name}")
        found.extend(getattr(module, "CASES", []))
    return found


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_connector_contract(case: ContractCase, warehouse_url: str, kafka_bootstrap: str, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.core.pull import Puller

    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    world = small_world()
    settings = Settings.model_validate({"warehouse": {"url": warehouse_url},
                                        "kafka": {"bootstrap": kafka_bootstrap, "topic_prefix": fresh_prefix(),
                                                  "consumer_group": fresh_prefix()[:-1]},
                                        "prefect": {"emit_events": False}})
    ensure_topics(settings, kafka_bootstrap)
    engine = create_engine(warehouse_url)
    prod = producer(settings, kafka_bootstrap)
    apis = case.apis(world)
    server = SimServer(apis).start() if apis else None
    try:
        puller = Puller(engine, prod, key=KEY, topic_prefix=settings.kafka.topic_prefix)
        load_directory(puller, world, tmp_path)
        config = case.config(server, world, tmp_path)

        first = puller.pull(case.name, config)
        events = read_events(settings, kafka_bootstrap)
        assert first.published > 0 and len(events) == first.published
        for event in events:
            EVENT_ADAPTER.validate_python(event)
            assert event["source"] == case.name and event["source_record_id"]
        raw = "\n".join(map(str, events)).lower()
        for ident in list(world.identities.values())[:150]:
            assert ident.email not in raw and ident.employee_number not in raw
        store = StateStore(engine)
        states = {s.stream: store.get(case.name, s.stream) for s in first.streams}

        again = puller.pull(case.name, config)
        repeated = read_events(settings, kafka_bootstrap)[len(events):]
        assert {e["event_id"] for e in repeated} <= {e["event_id"] for e in events}, "re-run published new events"
        assert again.records <= first.records
        for stream, before in states.items():
            assert position(store.get(case.name, stream)) >= position(before)

        (case.change or (lambda w, p: w.advance(__import__("datetime").timedelta(days=8))))(world, tmp_path)
        changed = puller.pull(case.name, config)
        after = read_events(settings, kafka_bootstrap)
        new_ids = {e["event_id"] for e in after} - {e["event_id"] for e in events}
        assert new_ids, "the source changed but the pull published nothing new"
        assert changed.published >= len(new_ids) or changed.published > 0
        for stream, before in states.items():
            assert position(store.get(case.name, stream)) >= position(before)
    finally:
        prod.close()
        if server:
            server.stop()

    summary = run_ingest(settings, warehouse_url, kafka_bootstrap, "drain")
    assert summary.quarantined == 0
    if case.expected_ids is not None:
        with engine.connect() as conn:
            loaded = set(conn.execute(sa.text("select distinct source_record_id from raw.events where source = :s"),
                                      {"s": case.name}).scalars())
        assert loaded == case.expected_ids(world)
    engine.dispose()
