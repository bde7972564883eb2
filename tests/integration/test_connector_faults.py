"""Help-desk pulls under faults end with the warehouse holding exactly the source's tickets, each version once.

Every test pulls twice (the second time after the source changed), drains the ingest and compares
`research.helpdesk_tickets` with the simulated system's current tickets and `raw.events` for repeats:
a 429 storm, 5xx answers, a connection dropped in the middle of a page, a record updated between two pages,
and an export cursor that expires in the middle of a walk.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from connectors.core.pull import PullResult
from simulator import jira, servicenow, zendesk
from simulator.server import Api, Fault, Request, SimServer
from tests.integration import helpdesk
from tests.integration.helpdesk import Rig

rig = helpdesk.rig


@dataclass(frozen=True)
class Target:
    name: str
    sim: ModuleType
    make: Callable[[Any], Any]
    page_size: int


TARGETS = {
    "servicenow": Target("servicenow", servicenow, servicenow.ServiceNowApi, 10),
    "jira": Target("jira", jira, jira.JiraApi, 10),
    "zendesk": Target("zendesk", zendesk, zendesk.ZendeskApi, 5),
}


def from_request(number: int) -> Callable[[Request], bool]:
    """A fault condition that holds from the `number`th request it is asked about (2: a later page)."""
    counter = itertools.count(1)
    return lambda request: next(counter) >= number


def _pull_twice(rig: Rig, target: Target, api: Any, arrange: Callable[[SimServer, Any, int], None],
                monkeypatch: pytest.MonkeyPatch) -> tuple[PullResult, PullResult, list[tuple[str, str, int]]]:
    """Pull, let the world move on a week, pull again; `arrange` plans each pull's faults (run 0, then 1)."""
    for name, value in target.sim.ENV.items():
        monkeypatch.setenv(name, value)
    with SimServer([api]) as server:
        config = rig.config(target.sim.source_config(f"http://127.0.0.1:{server.port}"),
                            page_size=target.page_size)
        arrange(server, api, 0)
        first = rig.pull(target.name, config)
        rig.world.advance(timedelta(days=8))
        arrange(server, api, 1)
        second = rig.pull(target.name, config)
        log = list(server.log)
    return first, second, log


def _assert_exactly_the_source(rig: Rig, target: Target, api: Any) -> None:
    summary = rig.ingest()
    assert summary.quarantined == 0
    loaded, current = rig.tickets(target.name), api.current_versions()
    assert set(loaded) == set(current), "tickets lost or invented"
    assert {k: v["updated_at"] for k, v in loaded.items()} == current, "a ticket is not at its current version"
    versions = rig.raw_versions(target.name)
    assert len(versions) == len(set(versions)), "a version was stored twice"


@pytest.mark.parametrize("target", TARGETS.values(), ids=TARGETS)
def test_given_a_429_storm_when_pulled_then_retry_after_is_honoured_and_the_warehouse_matches_the_source(
        rig: Rig, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    api = target.make(rig.world)

    def storm(server: SimServer, api: Api, run: int) -> None:
        server.add_fault(target.sim.PREFIX, Fault(status=429, retry_after="0.05", times=5,
                                                        when=from_request(2 - run)))

    first, second, _ = _pull_twice(rig, target, api, storm, monkeypatch)
    assert first.retries >= 5 and second.retries >= 5
    _assert_exactly_the_source(rig, target, api)


@pytest.mark.parametrize("target", TARGETS.values(), ids=TARGETS)
def test_given_5xx_answers_when_pulled_then_retries_recover_without_loss_or_duplicates(
        rig: Rig, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    api = target.make(rig.world)

    def outage(server: SimServer, api: Api, run: int) -> None:
        server.add_fault(target.sim.PREFIX, Fault(status=500, times=3, when=from_request(2 - run)))
        server.add_fault(target.sim.PREFIX, Fault(status=503, times=2, when=from_request(3 - run)))

    first, second, _ = _pull_twice(rig, target, api, outage, monkeypatch)
    assert first.retries >= 3 and second.retries >= 3
    _assert_exactly_the_source(rig, target, api)


@pytest.mark.parametrize("target", TARGETS.values(), ids=TARGETS)
def test_given_a_connection_dropped_mid_page_when_pulled_then_the_page_is_read_again(
        rig: Rig, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    api = target.make(rig.world)

    def drop(server: SimServer, api: Api, run: int) -> None:
        server.add_fault(target.sim.PREFIX, Fault(drop_after=200, times=2, when=from_request(2)))

    first, second, _ = _pull_twice(rig, target, api, drop, monkeypatch)
    assert first.retries >= 1 and first.streams[0].pages > 1
    _assert_exactly_the_source(rig, target, api)


@pytest.mark.parametrize("target", [TARGETS["servicenow"], TARGETS["jira"]], ids=["servicenow", "jira"])
def test_given_a_record_updated_between_pages_when_pulled_then_it_is_neither_lost_nor_doubled(
        rig: Rig, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    api = target.make(rig.world)
    moved: list[str] = []
    records: list[int] = []

    def touch(server: SimServer, api: Any, run: int) -> None:
        if run == 0:  # the fourth record of the first page changes once that page has been served
            order = sorted(api.current_versions().items(), key=lambda kv: (kv[1], kv[0]))
            records.append(len(order))
            moved.append(order[3][0])
            api.after_requests(1, lambda: api.update(moved[0]))

    first, _, _ = _pull_twice(rig, target, api, touch, monkeypatch)
    assert first.streams[0].pages > 2
    assert first.records == records[0] + 1  # every record once, and the moved one again at its new version
    _assert_exactly_the_source(rig, target, api)


def test_given_a_cursor_that_expires_mid_export_when_pulled_then_the_export_restarts_from_start_time(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    target = TARGETS["zendesk"]
    api = zendesk.ZendeskApi(rig.world)
    records: list[int] = []

    def expire(server: SimServer, api: zendesk.ZendeskApi, run: int) -> None:
        records.append(len(api.current_versions()))
        # First pull: the cursor of its third export request is refused; second pull: the stored cursor is.
        api.expire_after(2 if run == 0 else 0)

    first, second, log = _pull_twice(rig, target, api, expire, monkeypatch)
    exports = [(path, status) for _, path, status in log if "/incremental/" in path]
    refused = [i for i, (path, status) in enumerate(exports) if status == 422]
    assert len(refused) == 2 and all("cursor=" in exports[i][0] for i in refused)
    assert all("start_time=" in exports[i + 1][0] for i in refused)
    assert first.records > records[0]  # tickets of the restart's first second are read twice
    _assert_exactly_the_source(rig, target, api)
