"""Zendesk value mapping: statuses, priorities, satisfaction scores, API-token auth and drop-down labels."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import pytest

from connectors.core.build import EventBuilder
from connectors.core.config import SourceConfig
from connectors.core.identity import StaffResolver
from connectors.core.stream import MappingError, PullContext
from connectors.zendesk import Zendesk, satisfaction, ticket_priority, ticket_status
from connectors.zendesk.client import token_auth
from realise.privacy import DEMO_KEY


@pytest.mark.parametrize(("status", "expected"), [
    ("new", "new"), ("open", "open"), ("pending", "pending"), ("hold", "pending"), ("solved", "resolved"),
    ("closed", "closed"), ("deleted", "cancelled"), ("Solved", "resolved"),
])
def test_statuses(status: str, expected: str) -> None:
    assert ticket_status(status) == expected


def test_unknown_status_is_an_error_unless_configured() -> None:
    with pytest.raises(MappingError, match="options.statuses"):
        ticket_status("archived")
    assert ticket_status("archived", {"archived": "closed"}) == "closed"


def test_priorities_and_the_empty_priority() -> None:
    assert [ticket_priority(p) for p in ("urgent", "high", "normal", "low")] == [1, 2, 3, 4]
    assert ticket_priority(None) == 3 and ticket_priority(None, default=4) == 4
    with pytest.raises(MappingError):
        ticket_priority("critical")


@pytest.mark.parametrize(("rating", "expected"), [
    ({"score": "good", "id": 1}, 5), ({"score": "bad"}, 1), ({"score": "offered"}, None),
    ({"score": "unoffered"}, None), ({"score": "good_with_comment"}, 5), (None, None),
])
def test_satisfaction_good_is_5_bad_is_1_else_none(rating: dict[str, str] | None, expected: int | None) -> None:
    assert satisfaction(rating) == expected


def test_api_token_auth_is_basic_for_email_slash_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZD_EMAIL", "agent@example.nhs.uk")
    monkeypatch.setenv("ZD_TOKEN", "t0k3n")
    config = SourceConfig(type="zendesk", base_url="http://127.0.0.1:9",
                          auth={"type": "basic", "username_env": "ZD_EMAIL", "password_env": "ZD_TOKEN"})
    auth = token_auth("zendesk", config)
    assert isinstance(auth, httpx.BasicAuth)
    request = next(auth.auth_flow(httpx.Request("GET", "http://127.0.0.1:9/")))
    expected = base64.b64encode(b"agent@example.nhs.uk/token:t0k3n").decode()
    assert request.headers["Authorization"] == f"Basic {expected}"


def test_drop_down_tag_shows_its_label_and_type_is_the_fallback() -> None:
    config = SourceConfig(type="zendesk", base_url="http://127.0.0.1:9", options={"category_field_id": 77})
    source = Zendesk("zendesk", config, PullContext(run_started=datetime.now(UTC)))
    source.labels = {"access_login": "Access / login"}
    build = EventBuilder("zendesk", StaffResolver(DEMO_KEY), system="EPR", ingested_at=datetime.now(UTC))
    ticket = {"id": 35436, "created_at": "2026-07-01T08:00:00Z", "updated_at": "2026-07-01T09:00:00Z",
              "status": "solved", "priority": None, "type": "incident", "subject": "Locked out",
              "custom_fields": [{"id": 77, "value": "access_login"}], "satisfaction_rating": {"score": "bad"},
              "requester": {"id": 9, "email": "staff000003@example.nhs.uk"},
              "metric_set": {"reopens": 2, "solved_at": "2026-07-01T08:45:00Z"}}
    event = source.map(source.streams[0], ticket, build)
    assert event is not None
    p = event.payload
    assert (event.source_record_id, event.record_version) == ("35436", "2026-07-01T09:00:00Z")
    assert (p.category, p.status, p.priority, p.satisfaction, p.reopen_count) == ("Access / login", "resolved", 3, 1, 2)
    assert p.resolved_at == datetime(2026, 7, 1, 8, 45, tzinfo=UTC)
    ticket["custom_fields"] = []
    assert source.map(source.streams[0], ticket, build).payload.category == "incident"  # type: ignore[union-attr]
    ticket["requester"] = None
    with pytest.raises(MappingError, match="no e-mail"):
        source.map(source.streams[0], ticket, build)
