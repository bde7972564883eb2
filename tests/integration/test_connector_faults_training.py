"""Training connectors under faults, each ending in the warehouse: every record the source holds is loaded
exactly once (pull → ingest drain → compare `raw.events` with the simulated source).

xAPI LRS: a 429 storm, 5xx answers, a connection dropped mid-page, `more` links expiring mid-pull, and
statements stored (one late, with an old timestamp) while a pull is paging. Moodle: 5xx and a dropped
connection on enrolled-user pages, and learners completing between the pages of one pull.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from foundation.source_config import SourceConfig
from simulator import moodle as moodle_sim
from simulator import xapi as xapi_sim
from simulator.server import Fault, Request
from tests.integration.test_source_xapi import Rig, RigFactory, statement
from tests.integration.test_source_xapi import make_rig as make_rig  # noqa: F401 - the fixture


def xapi_config(rig: Rig, page_size: int = 40) -> SourceConfig:
    return SourceConfig.model_validate({**xapi_sim.source_config(rig.root()), "page_size": page_size,
                                        "backoff_seconds": 0.01, "max_retries": 8})


def moodle_config(rig: Rig, page_size: int = 6) -> SourceConfig:
    return SourceConfig.model_validate({**moodle_sim.source_config(rig.root()), "page_size": page_size,
                                        "backoff_seconds": 0.01, "max_retries": 8})


def assert_warehouse_holds_exactly(rig: Rig, source: str, expected: set[str]) -> None:
    summary = rig.ingest()
    assert summary.quarantined == 0
    loaded = rig.loaded(source)
    assert len(loaded) == len(set(loaded)), "a record reached the warehouse twice"
    assert set(loaded) == expected


def on_request(n: int, action: Callable[[], None], path_prefix: str = "") -> Callable[[Request], bool]:
    """A fault predicate that never matches but runs `action` once, on the n-th request below `path_prefix` (the
    fault needs `times=1` for the server to ask it)."""
    seen = 0

    def when(request: Request) -> bool:
        nonlocal seen
        if request.path.startswith(path_prefix):
            seen += 1
            if seen == n:
                action()
        return False

    return when


@pytest.fixture
def lrs_rig(make_rig: RigFactory) -> Rig:  # noqa: F811
    return make_rig(xapi_sim.apis, xapi_sim.ENV)


@pytest.fixture
def lms_rig(make_rig: RigFactory) -> Rig:  # noqa: F811
    return make_rig(moodle_sim.apis, moodle_sim.ENV)


def test_given_a_429_storm_when_pulling_statements_then_retry_after_is_honoured_and_nothing_is_lost(
        lrs_rig: Rig) -> None:
    lrs_rig.server.add_fault(xapi_sim.PREFIX, Fault(status=429, retry_after="0.05", times=6))
    result = lrs_rig.pull("xapi", xapi_config(lrs_rig))
    assert result.retries >= 6
    assert_warehouse_holds_exactly(lrs_rig, "xapi", xapi_sim.expected_statement_ids(lrs_rig.world))


def test_given_5xx_answers_mid_pull_when_pulling_statements_then_pages_are_retried_and_nothing_is_lost(
        lrs_rig: Rig) -> None:
    more = "/xapi/statements/more/"
    lrs_rig.server.add_fault(xapi_sim.PREFIX, Fault(status=503, times=3, when=lambda r: r.path.startswith(more)))
    lrs_rig.server.add_fault(xapi_sim.PREFIX, Fault(status=500, times=2))
    result = lrs_rig.pull("xapi", xapi_config(lrs_rig))
    assert result.retries == 5
    assert_warehouse_holds_exactly(lrs_rig, "xapi", xapi_sim.expected_statement_ids(lrs_rig.world))


def test_given_a_connection_dropped_mid_page_when_pulling_statements_then_the_page_is_read_again(
        lrs_rig: Rig) -> None:
    more = "/xapi/statements/more/"
    lrs_rig.server.add_fault(xapi_sim.PREFIX, Fault(drop_after=200, times=2, when=lambda r: r.path.startswith(more)))
    result = lrs_rig.pull("xapi", xapi_config(lrs_rig))
    assert result.retries >= 2
    assert_warehouse_holds_exactly(lrs_rig, "xapi", xapi_sim.expected_statement_ids(lrs_rig.world))


def test_given_more_links_expiring_mid_pull_when_pulling_statements_then_it_restarts_from_its_cursor(
        lrs_rig: Rig) -> None:
    api = lrs_rig.apis[0]
    assert isinstance(api, xapi_sim.LrsApi)
    more = "/xapi/statements/more/"
    lrs_rig.server.add_fault(xapi_sim.PREFIX, Fault(times=1, when=on_request(3, api.expire_more_links, more)))
    lrs_rig.server.add_fault(xapi_sim.PREFIX, Fault(times=1, when=on_request(7, api.expire_more_links, more)))
    result = lrs_rig.pull("xapi", xapi_config(lrs_rig))
    statuses = [status for _, path, status in lrs_rig.server.log if path.startswith("/lrs" + more)]
    assert statuses.count(404) == 2 and result.published >= len(xapi_sim.expected_statement_ids(lrs_rig.world))
    assert_warehouse_holds_exactly(lrs_rig, "xapi", xapi_sim.expected_statement_ids(lrs_rig.world))


def test_given_statements_stored_while_paging_when_pulled_then_they_arrive_once_this_run_or_the_next(
        lrs_rig: Rig) -> None:
    api = lrs_rig.apis[0]
    assert isinstance(api, xapi_sim.LrsApi)
    world = lrs_rig.world
    extra: list[dict[str, Any]] = []

    def more_learning() -> None:
        clock = world.clock
        world.advance(timedelta(minutes=10))
        extra.extend([statement(world, 40, "completed", stored=clock + timedelta(minutes=5)),
                      statement(world, 41, "passed", stored=clock + timedelta(minutes=6),
                                timestamp=clock - timedelta(days=12), result={"score": {"scaled": 0.9}})])
        api.add_statements(extra[-2:])

    more = "/xapi/statements/more/"
    lrs_rig.server.add_fault(xapi_sim.PREFIX, Fault(times=1, when=on_request(2, more_learning, more)))
    first = lrs_rig.pull("xapi", xapi_config(lrs_rig))
    assert len(extra) == 2, "the statements were stored while the pull was paging"
    second = lrs_rig.pull("xapi", xapi_config(lrs_rig))
    expected = xapi_sim.expected_statement_ids(world) | {s["id"] for s in extra}
    assert first.published + second.published >= len(expected)
    assert_warehouse_holds_exactly(lrs_rig, "xapi", expected)


def test_given_5xx_and_a_dropped_connection_when_pulling_moodle_then_calls_are_retried_and_nothing_is_lost(
        lms_rig: Rig) -> None:
    lms_rig.server.add_fault(moodle_sim.PREFIX, Fault(status=503, times=2))
    lms_rig.server.add_fault(moodle_sim.PREFIX, Fault(drop_after=40, times=2))
    result = lms_rig.pull("moodle", moodle_config(lms_rig))
    assert result.retries == 4
    assert_warehouse_holds_exactly(lms_rig, "moodle", moodle_sim.expected_record_ids(lms_rig.world))


def test_given_learners_completing_between_pages_when_pulling_moodle_then_each_completion_arrives_once(
        lms_rig: Rig) -> None:
    world = lms_rig.world
    start = world.clock
    lms_rig.server.add_fault(moodle_sim.PREFIX, Fault(times=1, when=on_request(6, lambda: world.advance(
        timedelta(days=4)))))
    config = moodle_config(lms_rig)
    lms_rig.pull("moodle", config)
    assert world.clock == start + timedelta(days=4), "learners completed while the pull was paging"
    lms_rig.pull("moodle", config)
    world.advance(timedelta(days=4))
    lms_rig.pull("moodle", config)
    assert_warehouse_holds_exactly(lms_rig, "moodle", moodle_sim.expected_record_ids(world))
