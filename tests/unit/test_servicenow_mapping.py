"""ServiceNow value parsing: states, priorities, numbers and date-times in every display-value shape, one record in
each; paging by key over display values."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from typing import Any

import pytest

from connectors.core.build import EventBuilder
from connectors.core.identity import StaffResolver
from connectors.core.stream import MappingError, PullContext
from connectors.servicenow import ServiceNow, ticket_priority, ticket_status, whole_number
from connectors.servicenow.client import ServiceNowClient, label_of, value_of
from connectors.servicenow.settings import ServiceNowOptions
from foundation.errors import SourceError
from foundation.privacy import DEMO_KEY
from foundation.source_config import SourceConfig, parse_options
from simulator import servicenow as sim
from simulator.server import SimServer
from tests.contract.harness import small_world


@pytest.mark.parametrize(("field", "expected"), [
    ("1", "new"), ("2", "in_progress"), ("3", "pending"), ("6", "resolved"), ("7", "closed"), ("8", "cancelled"),
    ("Resolved", "resolved"), ("On Hold", "pending"), ("Canceled", "cancelled"), ("In Progress", "in_progress"),
    ({"display_value": "Closed", "value": "7"}, "closed"),
])
def test_state_codes_labels_and_objects_map_to_statuses(field: Any, expected: str) -> None:
    assert ticket_status(field) == expected


def test_unknown_state_is_a_mapping_error_unless_configured() -> None:
    with pytest.raises(MappingError, match="options.states"):
        ticket_status({"display_value": "Awaiting Vendor", "value": "-5"})
    assert ticket_status({"display_value": "Awaiting Vendor", "value": "-5"}, {"-5": "pending"}) == "pending"


@pytest.mark.parametrize(("field", "expected"), [
    ("1", 1), ("5", 5), ("2 - High", 2), ("4 - Low", 4), ({"display_value": "3 - Moderate", "value": "3"}, 3),
])
def test_priority_from_code_or_label(field: Any, expected: int) -> None:
    assert ticket_priority(field) == expected


@pytest.mark.parametrize("field", ["", "0", "9", "High"])
def test_priority_outside_1_to_5_is_a_mapping_error(field: str) -> None:
    with pytest.raises(MappingError, match="priority"):
        ticket_priority(field)


def test_numbers_arrive_as_strings() -> None:
    assert whole_number("3", "n") == 3
    assert whole_number("", "n") == 0
    assert whole_number({"display_value": "12", "value": "12"}, "n") == 12
    with pytest.raises(MappingError, match="not a number"):
        whole_number("many", "reopen_count")


def test_value_and_label_of_every_shape() -> None:
    assert value_of({"display_value": "Resolved", "value": "6"}) == "6"
    assert label_of({"display_value": "Resolved", "value": "6"}) == "Resolved"
    assert value_of({"link": "https://x/api/now/table/sys_user/abc", "value": "abc"}) == "abc"
    assert value_of("6") == label_of("6") == "6"


def _source(display: str, **options: Any) -> ServiceNow:
    config = SourceConfig(type="servicenow", base_url="http://127.0.0.1:9",
                          options={"display_value": display, "satisfaction_field": "u_satisfaction", **options})
    return ServiceNow("servicenow", config, PullContext(run_started=datetime.now(UTC)))


def _record(display: str) -> dict[str, Any]:
    """One incident as each sysparm_display_value answers (the user's zone is Europe/London for 'true')."""
    values = {"number": "INC0012345", "sys_id": "0a1b", "sys_updated_on": "2026-07-01 09:30:00",
              "sys_mod_count": "4", "opened_at": "2026-07-01 08:00:00", "resolved_at": "2026-07-01 09:30:00",
              "closed_at": "", "state": "6", "priority": "2", "caller_id.email": "staff000001@example.nhs.uk",
              "category": "inquiry", "short_description": "How do I print? call 07700 900123",
              "reopen_count": "1", "u_satisfaction": "4"}
    labels = {**values, "sys_updated_on": "2026-07-01 10:30:00", "opened_at": "2026-07-01 09:00:00",
              "resolved_at": "2026-07-01 10:30:00", "state": "Resolved", "priority": "2 - High",
              "category": "Inquiry / Help"}
    if display == "false":
        return values
    if display == "true":
        return labels
    return {k: {"display_value": labels[k], "value": v} for k, v in values.items()}


@pytest.mark.parametrize("display", ["false", "true", "all"])
def test_one_incident_maps_to_the_same_event_in_every_display_shape(display: str) -> None:
    source = _source(display, instance_timezone="Europe/London", category_labels={"inquiry": "Inquiry / Help"})
    build = EventBuilder("servicenow", StaffResolver(DEMO_KEY), system="EPR", ingested_at=datetime.now(UTC))
    event = source.map(source.streams[0], _record(display), build)
    assert event is not None
    p = event.payload
    assert event.source_record_id == "INC0012345"
    assert event.record_version == "2026-07-01T09:30:00Z#4"
    assert p.updated_at == datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
    assert p.opened_at == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert (p.status, p.priority, p.reopen_count, p.satisfaction) == ("resolved", 2, 1, 4)
    assert p.category == "Inquiry / Help"
    assert p.summary is not None and "07700" not in p.summary
    assert p.person.pseudonym != "staff000001@example.nhs.uk" and len(p.person.pseudonym) == 32


def _build() -> EventBuilder:
    return EventBuilder("servicenow", StaffResolver(DEMO_KEY), system="EPR", ingested_at=datetime.now(UTC))


@pytest.mark.parametrize(("options", "dates"), [
    ({"date_format": "dd/MM/yyyy HH:mm:ss"},  # time_zone left at its default, Europe/London (BST in July)
     {"sys_updated_on": "01/07/2026 10:30:00", "opened_at": "01/07/2026 09:00:00",
      "resolved_at": "01/07/2026 10:30:00"}),
    ({"date_format": "MM-dd-yyyy hh:mm:ss a", "time_zone": "Asia/Kolkata"},
     {"sys_updated_on": "07-01-2026 03:00:00 PM", "opened_at": "07-01-2026 01:30:00 PM",
      "resolved_at": "07-01-2026 03:00:00 PM"}),
], ids=["dd/MM/yyyy", "12-hour"])
def test_given_display_value_true_and_a_users_date_format_when_mapped_then_times_read_with_date_format_and_time_zone(
        options: dict[str, str], dates: dict[str, str]) -> None:
    source = _source("true", category_labels={"inquiry": "Inquiry / Help"}, **options)
    event = source.map(source.streams[0], {**_record("true"), **dates}, _build())
    assert event is not None
    assert event.record_version == "2026-07-01T09:30:00Z#4"
    assert event.payload.opened_at == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert event.payload.resolved_at == datetime(2026, 7, 1, 9, 30, tzinfo=UTC)


def test_given_display_value_true_and_a_date_in_another_format_when_mapped_then_the_error_names_field_shape_and_option(
) -> None:
    source = _source("true")
    record = {**_record("true"), "sys_updated_on": "06/12/2026 14:05:09"}
    with pytest.raises(MappingError, match=r"sys_updated_on '06/12/2026 14:05:09' \(shape ##/##/#### ##:##:##\) does "
                                           r"not match options\.date_format 'yyyy-MM-dd HH:mm:ss': set it and "
                                           r"options\.time_zone .* or use display_value 'all'"):
        source.map(source.streams[0], record, _build())


@pytest.mark.parametrize(("options", "message"), [
    ({"date_format": "dd MMM yyyy HH:mm"}, r"options\.date_format: .*'MMM' is not supported"),
    ({"date_format": "dd/MM/yyyy hh:mm:ss"}, r"options\.date_format: .*hh \(12-hour clock\) needs a \(AM/PM\)"),
    ({"time_zone": "GMT Standard Time"}, r"options\.time_zone: .*not an IANA time zone name"),
])
def test_given_a_date_format_or_time_zone_that_cannot_be_read_when_configured_then_the_error_names_the_option(
        options: dict[str, str], message: str) -> None:
    with pytest.raises(SourceError, match=message):
        _source("true", **options)


def test_given_display_values_in_the_hour_the_clocks_go_back_when_paging_by_key_then_paging_moves_on_and_ends(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in sim.ENV.items():
        monkeypatch.setenv(name, value)
    world = small_world()
    api = sim.ServiceNowApi(world, user_timezone="Europe/London")
    changed = sorted(api.current_versions())[:12]
    for i, number in enumerate(changed):  # 01:00-01:50 on 27 October 2030, first in BST and then again in GMT
        api.update(number, datetime(2030, 10, 27, i // 6, 10 * (i % 6), tzinfo=UTC))
    with SimServer([api]) as server:
        entry = sim.source_config(f"http://127.0.0.1:{server.port}")
        config = SourceConfig.model_validate({**entry, "page_size": 4, "options": {
            **entry["options"], "display_value": "true", "instance_timezone": "Europe/London"}})
        client = ServiceNowClient("servicenow", config, parse_options(ServiceNowOptions, config, "servicenow"))
        try:
            pages = list(islice(client.records(["number", "sys_id", "sys_updated_on"], None), 200))
        finally:
            client.close()
    read = [row["number"] for page in pages for row in page]
    assert len(pages) < 200, "paging by key went back to an earlier key and kept re-reading the same rows"
    assert set(read) == set(api.current_versions())
