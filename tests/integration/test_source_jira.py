"""Jira Service Management quirks against the simulated site over real HTTP, through broker and warehouse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.core.build import EventBuilder
from connectors.core.identity import UNMATCHED_UNIT, StaffResolver
from connectors.jira import map_webhook
from connectors.jira.settings import JiraOptions
from foundation.errors import SourceError
from foundation.privacy import pseudonymise
from simulator import jira as sim
from simulator.server import SimServer
from simulator.servicenow import current_tickets
from simulator.world import World
from tests.contract.harness import KEY, read_events
from tests.integration import helpdesk
from tests.integration.helpdesk import Rig

rig = helpdesk.rig


_credentials = helpdesk.credentials(sim.ENV)


_entry = partial(helpdesk.entry, sim)


def _searches(server: SimServer) -> list[dict[str, list[str]]]:
    return [parse_qs(urlsplit(path).query) for method, path, status in server.log
            if sim.SEARCH_PATH in path and status == 200]


def _assert_loaded_as_source(rig: Rig) -> None:
    loaded = rig.tickets("jira")
    current = {sim.issue_key(t.event.source_record_id): t.event.payload for t in current_tickets(rig.world, "jira")}
    assert set(loaded) == set(current)
    for key, row in loaded.items():
        assert row["updated_at"] == current[key].updated_at
    versions = rig.raw_versions("jira")
    assert len(versions) == len(set(versions))


def test_given_jql_minute_precision_when_resumed_then_the_stored_minute_is_reread_and_deduped(rig: Rig) -> None:
    with SimServer(sim.apis(rig.world)) as server:
        config = rig.config(_entry(server))
        first = rig.pull("jira", config)
        cursor = rig.state("jira", "issues")["cursor"]
        again = rig.pull("jira", config)
        jql = _searches(server)[-1]["jql"][0]
    stored = datetime.strptime(cursor, "%Y-%m-%dT%H:%M:%SZ")
    assert f'updated >= "{stored:%Y/%m/%d %H:%M}"' in jql and jql.endswith("ORDER BY updated ASC, key ASC")
    assert again.records >= 1  # the issues of the stored minute come back
    summary = rig.ingest()
    assert summary.loaded_total == first.published and summary.duplicates == again.published
    _assert_loaded_as_source(rig)


def test_given_max_results_above_100_when_pulled_then_pages_hold_100_and_none_are_missed(rig: Rig) -> None:
    world = World.generate(staff=150, seed=11, counts={"forms": 1, "tickets": 2400, "training": 1, "skills": 1})
    rig.use_world(world)
    with SimServer(sim.apis(world)) as server:
        result = rig.pull("jira", rig.config(_entry(server), page_size=500))
        searches = _searches(server)
    issues = len(current_tickets(world, "jira"))
    assert issues > 250
    assert all(q["maxResults"] == ["100"] for q in searches)
    assert result.records == issues and result.streams[0].pages >= issues // 100
    rig.ingest()
    _assert_loaded_as_source(rig)


def test_given_a_reporter_whose_profile_hides_the_email_when_pulled_then_the_account_id_is_an_unmatched_person(
        rig: Rig) -> None:
    with SimServer(sim.apis(rig.world)) as server:
        result = rig.pull("jira", rig.config(_entry(server)))
    rig.ingest()
    loaded = rig.tickets("jira")
    hidden = {sim.issue_key(t.event.source_record_id): t.event.payload.person
              for t in current_tickets(rig.world, "jira") if sim.email_hidden(t.event.payload.person.pseudonym)}
    assert hidden, "the simulated site should have reporters with hidden addresses"
    assert result.streams[0].unmatched_staff == len({p.pseudonym for p in hidden.values()})
    for key, person in hidden.items():
        assert loaded[key]["org_unit"] == UNMATCHED_UNIT
        assert loaded[key]["requester_pseudonym"] == pseudonymise(sim.account_id(person.pseudonym), KEY)
    shown = [k for k in loaded if k not in hidden]
    assert shown and all(loaded[k]["org_unit"] != UNMATCHED_UNIT for k in shown)


def test_given_a_profile_time_zone_west_of_utc_when_resumed_then_jql_dates_are_local_and_nothing_is_lost(
        rig: Rig) -> None:
    api = sim.JiraApi(rig.world, user_timezone="America/New_York")
    with SimServer([api]) as server:
        config = rig.config(_entry(server, jql_timezone="America/New_York"))
        rig.pull("jira", config)
        cursor = datetime.strptime(rig.state("jira", "issues")["cursor"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        rig.world.advance(timedelta(days=8))
        rig.pull("jira", config)
        jql = _searches(server)[-1]["jql"][0]
    local = cursor.astimezone(api.zone)
    assert f'updated >= "{local:%Y/%m/%d %H:%M}"' in jql and local.utcoffset() != timedelta(0)
    rig.ingest()
    _assert_loaded_as_source(rig)


def test_given_a_webhook_delivery_when_mapped_then_it_is_the_event_the_search_published(rig: Rig) -> None:
    api = sim.JiraApi(rig.world, user_timezone="Europe/London")
    with SimServer([api]) as server:
        rig.pull("jira", rig.config(_entry(server)))
    published = {e["source_record_id"]: e for e in read_events(rig.settings, rig.bootstrap) if e["source"] == "jira"}
    build = EventBuilder("jira", StaffResolver.from_warehouse(rig.engine, KEY), system="EPR",
                         ingested_at=datetime.now(UTC))
    options = JiraOptions(satisfaction_field=sim.SATISFACTION_FIELD)
    for key in sorted(published)[:5]:
        event = map_webhook(api.webhook_delivery(key), build, options)
        assert event is not None and str(event.event_id) == published[key]["event_id"]
        assert event.payload.model_dump(mode="json") == published[key]["payload"]


def test_given_a_mapping_naming_a_field_issues_lack_when_pulled_then_the_error_names_the_setting(rig: Rig) -> None:
    with SimServer(sim.apis(rig.world)) as server, \
            pytest.raises(SourceError, match=r"options\.satisfaction_field: issues have no field 'customfield_99999'"):
        rig.pull("jira", rig.config(_entry(server, satisfaction_field="customfield_99999")))


def test_given_jql_jira_refuses_when_pulled_then_jiras_message_is_shown(rig: Rig) -> None:
    with SimServer(sim.apis(rig.world)) as server, \
            pytest.raises(SourceError, match="HTTP 400.*Field 'projekt' does not exist"):
        rig.pull("jira", rig.config(_entry(server, jql="projekt = ITSD")))


def _requests(server: SimServer) -> list[tuple[str, dict[str, list[str]], int]]:
    return [(urlsplit(path).path, parse_qs(urlsplit(path).query), status) for method, path, status in server.log]


def _busy_minute(api: sim.JiraApi, world: World, issues: int = 25) -> None:
    """More issues than a page changed in one minute: a reader must step through that minute page by page."""
    busy = sorted(sim.issue_key(t.event.source_record_id) for t in current_tickets(world, "jira"))[:issues]
    assert len(busy) == issues
    for key in busy:
        api.update(key, world.clock.replace(second=0, microsecond=0))


def test_given_a_cloud_site_when_pulled_then_the_enhanced_search_pages_by_token_and_the_old_search_is_never_asked(
        rig: Rig) -> None:
    api = sim.JiraApi(rig.world)
    _busy_minute(api, rig.world)
    with SimServer([api]) as server:
        result = rig.pull("jira", rig.config(_entry(server), page_size=10))
        asked = _requests(server)
    paths = {path for path, _, _ in asked}
    assert paths == {sim.PREFIX + "/rest/api/2/search/jql"}
    tokens = [q["nextPageToken"][0] for _, q, _ in asked if "nextPageToken" in q]
    assert tokens and all(status == 200 for *_, status in asked)
    assert result.records == len(current_tickets(rig.world, "jira"))
    rig.ingest()
    loaded = rig.tickets("jira")
    assert {key: row["updated_at"] for key, row in loaded.items()} == api.current_versions()


def test_given_a_data_center_site_when_search_api_is_auto_then_it_falls_back_to_start_at_paging(rig: Rig) -> None:
    api = sim.JiraApi(rig.world, deployment="data_center")
    _busy_minute(api, rig.world)
    with SimServer([api]) as server:
        first = rig.pull("jira", rig.config(_entry(server), page_size=10))
        asked = _requests(server)
    assert asked[0][0].endswith("/search/jql") and asked[0][2] == 404
    legacy = [q for path, q, status in asked[1:] if path == sim.PREFIX + sim.SEARCH_PATH and status == 200]
    assert len(legacy) == len(asked) - 1 and {"0", "10", "20"} <= {q["startAt"][0] for q in legacy}
    assert first.records == len(current_tickets(rig.world, "jira"))
    rig.ingest()
    assert {key: row["updated_at"] for key, row in rig.tickets("jira").items()} == api.current_versions()


def test_given_the_removed_search_asked_of_a_cloud_site_when_pulled_then_the_error_says_use_search_jql(
        rig: Rig) -> None:
    with SimServer(sim.apis(rig.world)) as server, \
            pytest.raises(SourceError, match=r"removed rest/api/2/search \(Jira Cloud\).*options\.search_api"):
        rig.pull("jira", rig.config(_entry(server, search_api="search")))
