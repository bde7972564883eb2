"""ServiceNow Table API quirks, each against the simulated instance over real HTTP, through broker and warehouse."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from functools import partial

import httpx
import pytest
import sqlalchemy as sa

from foundation.errors import SourceError
from simulator import servicenow as sim
from simulator.server import SimServer
from tests.integration import helpdesk
from tests.integration.helpdesk import Rig

rig = helpdesk.rig

STATUS = {"new": "new", "in_progress": "in_progress", "resolved": "resolved", "cancelled": "cancelled"}


_credentials = helpdesk.credentials(sim.ENV)


_entry = partial(helpdesk.entry, sim)


def _source_rows(api: sim.ServiceNowApi) -> dict[str, dict[str, str]]:
    return {values["number"]: values for values, _ in api.rows()}


def _assert_loaded_as_source(rig: Rig, api: sim.ServiceNowApi) -> None:
    """The warehouse holds exactly the instance's incidents, each at its current version, each version once."""
    source = _source_rows(api)
    loaded = rig.tickets("servicenow")
    assert set(loaded) == set(source)
    for number, row in loaded.items():
        assert row["updated_at"].astimezone(UTC).strftime(sim.TIME_FORMAT) == source[number]["sys_updated_on"]
    versions = rig.raw_versions("servicenow")
    assert len(versions) == len(set(versions))


@pytest.mark.parametrize("display", ["false", "true", "all"])
def test_given_display_value_variant_when_pulled_then_codes_labels_and_local_times_map_to_the_same_tickets(
        rig: Rig, display: str) -> None:
    api = sim.ServiceNowApi(rig.world, user_timezone="Europe/London")
    labels = {v: k for k, v in sim.CATEGORY_VALUES.items()} if display == "false" else {}
    with SimServer([api]) as server:
        config = rig.config(_entry(server, display_value=display, instance_timezone="Europe/London",
                                   category_labels=labels), page_size=20)
        result = rig.pull("servicenow", config)
    assert result.streams[0].rejected == 0 and result.published == len(_source_rows(api))
    assert rig.ingest().quarantined == 0
    _assert_loaded_as_source(rig, api)
    loaded = rig.tickets("servicenow")
    for t in sim.current_tickets(rig.world, "servicenow"):
        p = t.event.payload
        row = loaded[t.event.source_record_id]
        assert (row["status"], row["priority"], row["category"], row["satisfaction"], row["reopen_count"]) == \
            (STATUS[p.status], p.priority, p.category, p.satisfaction, p.reopen_count)
        assert row["opened_at"] == p.opened_at and row["org_unit"] == p.person.org_unit


@pytest.mark.parametrize(("display", "date_format", "time_format", "zone"), [
    ("true", "dd/MM/yyyy", "HH:mm:ss", "Europe/London"),
    ("true", "MM-dd-yyyy", "hh:mm:ss a", "America/New_York"),
    ("all", "dd/MM/yyyy", "hh:mm:ss a", "Asia/Kolkata"),
], ids=["true-dd/MM/yyyy", "true-12-hour", "all-dd/MM/yyyy"])
def test_given_a_users_date_format_and_time_zone_when_pulled_then_dates_read_back_to_the_stored_utc_times(
        rig: Rig, display: str, date_format: str, time_format: str, zone: str) -> None:
    api = sim.ServiceNowApi(rig.world, user_timezone=zone, user_date_format=date_format, user_time_format=time_format)
    options = {"display_value": display}
    if display == "true":
        options |= {"date_format": f"{date_format} {time_format}", "time_zone": zone}
    with SimServer([api]) as server:
        body = httpx.get(f"{server.url(sim.PREFIX)}{sim.TABLE_PATH}", auth=(sim.USERNAME, sim.PASSWORD),
                         params={"sysparm_limit": 1, "sysparm_fields": "sys_updated_on",
                                 "sysparm_display_value": display}).json()
        result = rig.pull("servicenow", rig.config(_entry(server, **options), page_size=20))
    shown = body["result"][0]["sys_updated_on"]
    assert not (shown["display_value"] if display == "all" else shown)[:4].isdigit()  # not yyyy-MM-dd
    assert result.streams[0].rejected == 0 and result.published == len(_source_rows(api))
    rig.ingest()
    _assert_loaded_as_source(rig, api)
    loaded = rig.tickets("servicenow")
    for t in sim.current_tickets(rig.world, "servicenow"):
        assert loaded[t.event.source_record_id]["opened_at"] == t.event.payload.opened_at


def test_given_display_value_true_and_another_date_format_when_pulled_then_records_are_quarantined_and_the_pull_stops(
        rig: Rig) -> None:
    api = sim.ServiceNowApi(rig.world, user_timezone="Europe/London", user_date_format="dd/MM/yyyy")
    with SimServer([api]) as server, pytest.raises(
            SourceError, match=r"sys_updated_on cannot be read.*does not match options\.date_format 'yyyy-MM-dd"):
        rig.pull("servicenow", rig.config(_entry(server, display_value="true"), page_size=20))
    with rig.engine.connect() as conn:
        reasons = conn.execute(sa.text("select reasons from ops.quarantine where source = 'servicenow'")).scalars()
        reasons = [r for rs in reasons for r in rs]
    assert len(reasons) == 20
    assert all(re.search(r"sys_updated_on '\d\d/\d\d/\d{4} \d\d:\d\d:\d\d' \(shape ##/##/#### ##:##:##\) does not "
                         r"match options\.date_format 'yyyy-MM-dd HH:mm:ss': set it and options\.time_zone", r)
               for r in reasons)
    assert not rig.state("servicenow", "incidents").get("cursor")


def test_given_values_arrive_as_strings_when_read_raw_then_every_value_is_a_string(rig: Rig) -> None:
    api = sim.ServiceNowApi(rig.world)
    with SimServer([api]) as server:
        body = httpx.get(f"{server.url(sim.PREFIX)}{sim.TABLE_PATH}", params={"sysparm_limit": 5},
                         auth=(sim.USERNAME, sim.PASSWORD)).json()
        config = rig.config(_entry(server, display_value="false"))
        rig.pull("servicenow", config)
    assert all(isinstance(v, str | dict) for record in body["result"] for v in record.values())
    assert {type(record["priority"]) for record in body["result"]} == {str}
    assert all(isinstance(r["caller_id"], dict) and "link" in r["caller_id"] for r in body["result"])
    rig.ingest()
    loaded = rig.tickets("servicenow")
    assert loaded and {type(r["priority"]) for r in loaded.values()} == {int}


def test_given_a_record_updated_between_pages_when_paging_by_offset_then_one_is_skipped_but_keyset_loses_none(
        rig: Rig) -> None:
    api = sim.ServiceNowApi(rig.world)
    auth = (sim.USERNAME, sim.PASSWORD)
    order = {"sysparm_query": "ORDERBYsys_updated_on^ORDERBYsys_id", "sysparm_limit": 10,
             "sysparm_fields": "number"}
    with SimServer([api]) as server:
        url = f"{server.url(sim.PREFIX)}{sim.TABLE_PATH}"
        first = [r["number"] for r in httpx.get(url, params={**order, "sysparm_offset": 0}, auth=auth).json()["result"]]
        api.update(first[0])  # an agent adds a work note: the record moves to the end
        seen = set(first)
        offset = 10
        while rows := httpx.get(url, params={**order, "sysparm_offset": offset}, auth=auth).json()["result"]:
            seen.update(r["number"] for r in rows)
            offset += 10
        skipped = set(_source_rows(api)) - seen
        assert len(skipped) == 1, "plain offset paging should lose the record that slid across the page boundary"

        moved = sorted(_source_rows(api), key=lambda n: _source_rows(api)[n]["sys_updated_on"])[3]
        api.after_requests(1, lambda: api.update(moved))
        result = rig.pull("servicenow", rig.config(_entry(server), page_size=10))
    assert result.streams[0].pages > 2
    rig.ingest()
    _assert_loaded_as_source(rig, api)
    assert rig.tickets("servicenow")[moved]["updated_at"] == rig.world.clock


def test_given_rows_hidden_by_access_rules_when_pages_come_back_short_or_empty_then_paging_goes_on_to_the_end(
        rig: Rig) -> None:
    order = sorted(sim.ServiceNowApi(rig.world).current_versions().items(), key=lambda kv: (kv[1], kv[0]))
    hidden = {number for number, _ in order[2:25]}  # more than a whole page of hidden rows
    api = sim.ServiceNowApi(rig.world, hidden=hidden)
    with SimServer([api]) as server:
        result = rig.pull("servicenow", rig.config(_entry(server), page_size=10))
    assert result.records == len(order) - len(hidden) and result.streams[0].pages >= 5
    rig.ingest()
    assert {k: v["updated_at"] for k, v in rig.tickets("servicenow").items()} == api.current_versions()


def test_given_a_mapping_naming_a_field_the_table_lacks_when_pulled_then_the_error_names_the_setting(
        rig: Rig) -> None:
    with SimServer([sim.ServiceNowApi(rig.world)]) as server, \
            pytest.raises(SourceError, match=r"options\.satisfaction_field: the incident table has no field 'u_csat'"):
        rig.pull("servicenow", rig.config(_entry(server, satisfaction_field="u_csat")))


def test_given_a_wrong_password_when_pulled_then_the_error_names_the_environment_variables(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICENOW_PASSWORD", "wrong")
    with SimServer([sim.ServiceNowApi(rig.world)]) as server, \
            pytest.raises(SourceError, match="HTTP 401.*SERVICENOW_USER, SERVICENOW_PASSWORD"):
        rig.pull("servicenow", rig.config(_entry(server)))
    assert os.environ["SERVICENOW_PASSWORD"] == "wrong"


def test_given_second_precision_updates_when_pulled_again_then_the_last_second_is_reread_and_nothing_new_loads(
        rig: Rig) -> None:
    with SimServer([sim.ServiceNowApi(rig.world)]) as server:
        config = rig.config(_entry(server))
        first = rig.pull("servicenow", config)
        again = rig.pull("servicenow", config)
    assert again.records >= 1 and again.records < first.records
    summary = rig.ingest()
    assert summary.loaded_total == first.published and summary.duplicates == again.published


def test_given_since_when_replayed_then_that_window_is_read_and_the_stored_cursor_stays(rig: Rig) -> None:
    api = sim.ServiceNowApi(rig.world)
    with SimServer([api]) as server:
        config = rig.config(_entry(server))
        rig.pull("servicenow", config)
        stored = rig.state("servicenow", "incidents")
        since = rig.world.clock - timedelta(days=10)
        replay = rig.pull("servicenow", config, since=since)
    newest = max(values["sys_updated_on"] for values in _source_rows(api).values())
    assert stored["cursor"] == datetime.strptime(newest, sim.TIME_FORMAT).strftime("%Y-%m-%dT%H:%M:%SZ")
    changed = [n for n, values in _source_rows(api).items() if values["sys_updated_on"] >= snow(since)]
    assert replay.records == len(changed) > 0
    assert rig.state("servicenow", "incidents") == stored


def snow(value: datetime) -> str:
    return value.astimezone(UTC).strftime(sim.TIME_FORMAT)
