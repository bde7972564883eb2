"""The Puller's guarantees, with a minimal source served over real HTTP and the real broker and warehouse.

- state is stored only after the broker acknowledged the page's events: a crash in between re-reads the
  page next time and its events dedupe in ingest (same ids);
- a record that cannot be mapped is quarantined once with its reason, without its identifiers;
- a `--since` replay re-publishes the window without moving the stored cursor backwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa

from connectors.core.build import EventBuilder, parse_time
from connectors.core.http import HttpClient
from connectors.core.pull import Puller
from connectors.core.stream import Page, Source, Stream, register
from foundation.config import Settings
from foundation.database import create_engine
from foundation.kafka import ensure_topics, producer
from foundation.source_config import SourceConfig
from ingestion.service import run_ingest
from schemas.events import Kind
from simulator.server import Api, Request, Response, SimServer
from tests.contract.harness import KEY, read_events

T0 = datetime(2026, 10, 1, 9, tzinfo=UTC)


class TicketsApi(Api):
    """`GET /tickets?since=ISO&page=N`: 10 per page, ascending by `updated`."""

    prefix = "/mini"

    def __init__(self, tickets: list[dict[str, Any]]) -> None:
        super().__init__()
        self.tickets = tickets

    def handle(self, request: Request) -> Response:
        since = request.arg("since") or ""
        page = request.int_arg("page", 0)
        rows = sorted((t for t in self.tickets if t["updated"] >= since), key=lambda t: (t["updated"], t["id"]))
        chunk = rows[page * 10:(page + 1) * 10]
        return Response(body={"tickets": chunk, "more": len(rows) > (page + 1) * 10})


@register
class MiniSource(Source):
    type: ClassVar[str] = "test_mini"
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream("tickets", Kind.HELPDESK_TICKET, ("id",), "updated", sorted_by_cursor=True),)
    identifier_fields = ("email",)
    crash_after_pages: ClassVar[int | None] = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.client = HttpClient(self.name, self.config)

    def read(self, stream: Stream, state: dict[str, Any]) -> Iterator[Page]:
        since = self.context.since.isoformat() if self.context.since else state.get("cursor", "")
        page = 0
        while True:
            body = self.client.get_json("tickets", {"since": since, "page": page})
            if MiniSource.crash_after_pages is not None and page >= MiniSource.crash_after_pages:
                raise RuntimeError("crash")
            cursor = max((t["updated"] for t in body["tickets"]), default=None)
            yield Page(body["tickets"], {"cursor": cursor} if cursor else None)
            if not body["more"]:
                return
            page += 1

    def map(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> Any:
        at = parse_time(record["updated"])
        return build.event(Kind.HELPDESK_TICKET, record_id=record["id"], version=record["updated"], occurred_at=at,
                           payload={"person": build.person(record.get("email")), "opened_at": at, "updated_at": at,
                                    "status": "new", "category": "How do I", "priority": record["priority"]})

    def close(self) -> None:
        self.client.close()


def _tickets(n: int) -> list[dict[str, Any]]:
    return [{"id": f"T{i:03d}", "updated": (T0 + timedelta(minutes=i)).isoformat(), "priority": "3",
             "email": f"person{i}@example.nhs.uk"} for i in range(n)]


@pytest.fixture
def mini(warehouse_url: str, kafka_bootstrap: str, ingest_settings: Settings) -> Iterator[dict[str, Any]]:
    ensure_topics(ingest_settings, kafka_bootstrap)
    tickets = _tickets(35)
    server = SimServer([TicketsApi(tickets)]).start()
    engine = create_engine(warehouse_url)
    prod = producer(ingest_settings, kafka_bootstrap)
    puller = Puller(engine, prod, key=KEY, topic_prefix=ingest_settings.kafka.topic_prefix)
    config = SourceConfig(type="test_mini", base_url=server.url("/mini"), backoff_seconds=0.01)
    MiniSource.crash_after_pages = None
    yield {"puller": puller, "config": config, "engine": engine, "tickets": tickets}
    prod.close()
    engine.dispose()
    server.stop()


def test_given_a_crash_after_publishing_when_pulled_again_then_pages_are_reread_and_dedupe(
        mini: dict[str, Any], ingest_settings: Settings, warehouse_url: str, kafka_bootstrap: str) -> None:
    puller, config = mini["puller"], mini["config"]
    MiniSource.crash_after_pages = 2  # pages 0 and 1 are published and their state stored; page 2 crashes
    with pytest.raises(RuntimeError):
        puller.pull("mini", config)
    assert puller.store.get("mini", "tickets")["cursor"] == mini["tickets"][19]["updated"]
    MiniSource.crash_after_pages = None
    result = puller.pull("mini", config)
    # Resuming with >= re-reads the last stored record once more.
    assert result.records == 16 and result.published == 16
    events = read_events(ingest_settings, kafka_bootstrap)
    assert len(events) == 36 and len({e["event_id"] for e in events}) == 35
    summary = run_ingest(ingest_settings, warehouse_url, kafka_bootstrap, "drain")
    assert summary.loaded_total == 35 and summary.duplicates == 1
    with mini["engine"].connect() as conn:
        assert conn.execute(sa.text("select count(distinct source_record_id) from raw.events")).scalar() == 35


def test_given_unmappable_records_when_pulled_twice_then_each_is_quarantined_once_without_identifiers(
        mini: dict[str, Any]) -> None:
    mini["tickets"][3]["priority"] = "urgent"
    mini["tickets"][4]["email"] = None
    puller, config = mini["puller"], mini["config"]
    first = puller.pull("mini", config)
    assert first.streams[0].rejected == 2 and first.published == 33
    puller.store.reset("mini")
    puller.pull("mini", config)
    with mini["engine"].connect() as conn:
        rows = conn.execute(sa.text("select reasons[1], convert_from(raw, 'utf8') from ops.quarantine "
                                    "where stage = 'connector' order by reasons[1]")).all()
    assert [r[0] for r in rows] == [
        "record T003: payload.priority: Input should be a valid integer, unable to parse string as an integer",
        "record T004: person missing: the record names no requester, respondent or learner"]
    assert "person3@" not in rows[0][1] and "[identifier]" in rows[0][1]


def test_given_a_since_replay_when_pulled_then_window_is_republished_and_cursor_stays(
        mini: dict[str, Any], ingest_settings: Settings, kafka_bootstrap: str) -> None:
    puller, config = mini["puller"], mini["config"]
    puller.pull("mini", config)
    stored = puller.store.get("mini", "tickets")
    replay = puller.pull("mini", config, since=T0 + timedelta(minutes=30))
    assert replay.records == 5 and puller.store.get("mini", "tickets") == stored
    assert puller.pull("mini", config).records == 1  # only the boundary record, by the >= rule
