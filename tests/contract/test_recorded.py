"""Each connector against responses written from its vendor's documentation (tests/contract/recorded/).

The simulator and the connectors could share a wrong idea of a wire format; these exchanges come from the
vendors' published examples instead. Every recorded request must be asked for, nothing else may be, and the
events the connector makes of the responses must be the ones `source.json` expects. A source that reads files is
given the recorded files in a folder (`{files}` in `source.json`); a pull can start from stored state (`state`,
per stream); an environment value `{google_service_account_key}` is a service-account JSON key made for the run.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.core.build import EventBuilder
from connectors.core.identity import StaffResolver
from connectors.core.pull import build_source
from connectors.core.stream import MappingError, PullContext
from foundation.privacy import DEMO_KEY
from foundation.source_config import SourceConfig
from schemas.events import EVENT_ADAPTER
from simulator.server import SimServer
from tests.contract.recorded import RecordedApi, RecordedSystem, load, systems

PREFIX = "/recorded"


KEY_PLACEHOLDER = "{google_service_account_key}"


def _expand(value: Any, root: str, files: str = "") -> Any:
    return json.loads(json.dumps(value).replace("{root}", root).replace("{files}", files))


def _env_value(value: str) -> str:
    if value == KEY_PLACEHOLDER:
        from simulator.googleforms import service_account_key

        return service_account_key()
    return value


def _pull(recorded: RecordedSystem, monkeypatch: pytest.MonkeyPatch, resolver: StaffResolver | None = None
          ) -> tuple[list[dict[str, Any]], list[str], RecordedApi, StaffResolver]:
    """The events (as JSON) and rejections of one pull of `recorded`, with an empty directory by default."""
    system = recorded.name
    api = RecordedApi(PREFIX, recorded.exchanges)
    for name, value in recorded.env.items():
        monkeypatch.setenv(name, _env_value(value))
    resolver = resolver or StaffResolver(DEMO_KEY)
    with SimServer([api]) as server, tempfile.TemporaryDirectory(prefix="recorded-") as folder:
        for file in recorded.files:
            file.write(Path(folder))
        config = SourceConfig.model_validate(_expand(recorded.source, server.url(PREFIX), folder))
        source = build_source(system, config, PullContext(run_started=datetime.now(UTC)))
        builder = EventBuilder(system, resolver, system=config.system, ingested_at=datetime.now(UTC))
        events: list[dict[str, Any]] = []
        rejected: list[str] = []
        try:
            for stream in source.streams:
                for page in source.read(stream, dict(recorded.state.get(stream.name, {}))):
                    for record in page.records:
                        try:
                            event = source.map(stream, record, builder)
                        except MappingError as exc:
                            rejected.append(f"{source.record_id(stream, record)}: {exc}")
                            continue
                        if event is not None:
                            events.append(json.loads(event.model_dump_json()))
        finally:
            source.close()
    return events, rejected, api, resolver


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _subset(v, actual[k]) for k, v in expected.items())
    return bool(expected == actual)


def _matches(want: dict[str, Any], event: dict[str, Any], resolver: StaffResolver) -> bool:
    """An expected event (kind, record id, optionally person, time, version prefix and payload fields)."""
    if (event["kind"], event["source_record_id"]) != (want["kind"], want["source_record_id"]):
        return False
    if "person" in want and event["payload"]["person"]["pseudonym"] != resolver.pseudonym(want["person"]):
        return False
    if "occurred_at" in want and (datetime.fromisoformat(event["occurred_at"])
                                  != datetime.fromisoformat(want["occurred_at"])):
        return False
    if not event["record_version"].startswith(want.get("record_version", "")):
        return False
    return _subset(want.get("payload", {}), event["payload"])


@pytest.mark.parametrize("system", systems())
def test_given_documented_responses_when_pulled_then_events_are_the_documented_records(
        system: str, monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = load(system)
    events, rejected, api, resolver = _pull(recorded, monkeypatch)

    assert not api.unmatched, f"requests the documentation does not show: {api.unmatched}"
    assert [e.name for e in recorded.exchanges if not e.served] == [], "recorded exchanges never asked for"
    assert not rejected, rejected
    for event in events:
        EVENT_ADAPTER.validate_python(event)
        assert event["source"] == system
    assert len(events) == len(recorded.expect), [(e["kind"], e["source_record_id"]) for e in events]
    unused = list(events)
    for want in recorded.expect:
        got = next((e for e in unused if _matches(want, e, resolver)), None)
        assert got is not None, (f"no event like {want}; got "
                                 f"{[(e['kind'], e['source_record_id'], e['payload']) for e in unused]}")
        unused.remove(got)
    raw = json.dumps(events).lower()
    for want in recorded.expect:
        if "person" in want:
            assert want["person"].lower() not in raw, "a raw identifier reached an event"
