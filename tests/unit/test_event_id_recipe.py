"""The published event id recipe (schemas/EVENT_ID.md) gives the ids the connectors put on their events.

The recipe is written out here from the page's literals, not imported, so a change to the code's namespace or
separator fails this test instead of silently re-keying every stored event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from connectors.core.build import EventBuilder
from connectors.core.identity import StaffResolver
from connectors.core.stream import PullContext
from connectors.webhook import Webhook
from foundation.privacy import DEMO_KEY
from foundation.source_config import SourceConfig
from schemas.events import Kind

RECIPE_PAGE = Path(__file__).parents[2] / "schemas" / "EVENT_ID.md"
NAMESPACE = "5b0f6c1e-3f7a-4c55-9a59-2d1b7e0c9a41"
SEPARATOR = "\x1f"
EXAMPLE = ("forms_webhook", "epr-pulse:tok123", "2026-11-03T09:14:05.000000Z")
EXAMPLE_ID = "344195a1-6c13-58c6-8509-577e88399330"

BODY = {
    "event_id": "01ABC",
    "form_response": {
        "form_id": "Xk3PqL9a", "token": "tok123", "submitted_at": "2026-11-03T09:14:05Z",
        "hidden": {"email": "staff000042@example.nhs.uk"},
        "answers": [{"type": "number", "number": 4, "field": {"ref": "confidence"}}],
    },
}


def recipe(source: str, source_record_id: str, record_version: str) -> uuid.UUID:
    return uuid.uuid5(uuid.UUID(NAMESPACE), SEPARATOR.join((source, source_record_id, record_version)))


def test_given_the_recipe_page_when_read_then_it_states_the_namespace_separator_and_example() -> None:
    page = RECIPE_PAGE.read_text()

    assert f"`{NAMESPACE}`" in page
    assert "code point 31 (`\\x1f`" in page
    assert all(f"`{part}`" in page for part in EXAMPLE)
    assert f"`{EXAMPLE_ID}`" in page


def test_given_the_example_when_computed_by_the_recipe_then_it_is_the_published_id() -> None:
    assert str(recipe(*EXAMPLE)) == EXAMPLE_ID


def test_given_a_webhook_delivery_when_the_connector_maps_it_then_its_event_id_follows_the_recipe() -> None:
    config = SourceConfig(type="webhook", system="EPR",
                          options={"mapping": {"form_codes": {"Xk3PqL9a": "epr-pulse"}}})
    source = Webhook("forms_webhook", config, PullContext(run_started=datetime.now(UTC)))
    build = EventBuilder("forms_webhook", StaffResolver(DEMO_KEY), system="EPR", ingested_at=datetime.now(UTC))

    event = source.map(source.streams[0], BODY, build)

    assert event is not None
    assert (event.source, event.source_record_id, event.record_version) == EXAMPLE
    assert str(event.event_id) == EXAMPLE_ID
    assert event.event_id == recipe(event.source, event.source_record_id, event.record_version)


def test_given_ids_with_non_ascii_text_when_built_by_a_connector_then_they_follow_the_recipe() -> None:
    build = EventBuilder("zendesk", StaffResolver(DEMO_KEY), system="EPR", ingested_at=datetime.now(UTC))
    person = build.person("staff000042@example.nhs.uk", org_unit="Ward 7", staff_group="Nursing")
    at = datetime(2026, 1, 5, 9, tzinfo=UTC)
    payload = {"person": person, "opened_at": at, "updated_at": at, "status": "open", "category": "login",
               "priority": 3}

    event = build.event(Kind.HELPDESK_TICKET, record_id="Ticket-é-1", version="2026-01-05T09:00:00Z",
                        occurred_at=at, payload=payload)

    assert event.event_id == recipe("zendesk", "Ticket-é-1", "2026-01-05T09:00:00Z")
