"""Zendesk value mapping: statuses, priorities, satisfaction scores, API-token auth and drop-down labels."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import pytest

from connectors.core.build import EventBuilder
from connectors.core.identity import StaffResolver
from connectors.core.stream import MappingError, PullContext
from connectors.zendesk import Zendesk, satisfaction, ticket_priority, ticket_status
from connectors.zendesk.client import token_auth
from foundation.privacy import DEMO_KEY
from foundation.source_config import SourceConfig


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


def _ratings_source() -> tuple[Zendesk, EventBuilder]:
    config = SourceConfig(type="zendesk", base_url="http://127.0.0.1:9")
    source = Zendesk("zendesk", config, PullContext(run_started=datetime.now(UTC)))
    return source, EventBuilder("zendesk", StaffResolver(DEMO_KEY), system="EPR", ingested_at=datetime.now(UTC))


def _rated(score: str, rated_at: str) -> dict[str, object]:
    """A satisfaction_ratings record as the stream reads it: the rating with its ticket fetched by id."""
    ticket = {"id": 208, "created_at": "2026-07-01T08:00:00Z", "updated_at": "2026-07-01T09:00:00Z",
              "status": "solved", "priority": "normal", "type": "question", "subject": "Printer offline",
              "satisfaction_rating": {"score": "offered"}, "custom_fields": [],
              "requester": {"id": 7881, "email": "staff000003@example.nhs.uk"},
              "metric_set": {"reopens": 0, "solved_at": "2026-07-01T09:00:00Z"}}
    return {"id": 35436, "ticket_id": 208, "requester_id": 7881, "score": score, "created_at": "2026-07-01T09:00:00Z",
            "updated_at": rated_at, "ticket": ticket}


def test_given_a_rating_newer_than_its_ticket_when_mapped_then_a_later_version_of_the_ticket_carries_the_score(
        ) -> None:
    source, build = _ratings_source()
    stream = next(s for s in source.streams if s.name == "satisfaction_ratings")
    assert (stream.cursor_field, stream.sorted_by_cursor) == ("updated_at", False)
    good = source.map(stream, _rated("good", "2026-07-02T10:30:00Z"), build)
    bad = source.map(stream, _rated("bad", "2026-07-03T11:00:00Z"), build)
    exported = source.map(source.streams[0], _rated("good", "")["ticket"], build)  # type: ignore[arg-type]
    assert good is not None and bad is not None and exported is not None
    assert good.source_record_id == bad.source_record_id == exported.source_record_id == "208"
    assert (good.payload.satisfaction, bad.payload.satisfaction, exported.payload.satisfaction) == (5, 1, None)
    # The warehouse keeps the version with the latest (updated_at, record_version): the ticket's own updated_at
    # is unchanged, so each rating's version sorts after the export's and a later rating after an earlier one.
    assert good.payload.updated_at == bad.payload.updated_at == exported.payload.updated_at
    assert exported.record_version < good.record_version < bad.record_version
    assert good.occurred_at == datetime(2026, 7, 2, 10, 30, tzinfo=UTC)
    assert source.map(stream, _rated("good", "2026-07-02T10:30:00Z"), build) == good  # read again: the same event


@pytest.mark.parametrize(("score", "rated_at"), [
    ("offered", "2026-07-02T10:30:00Z"), ("unoffered", "2026-07-02T10:30:00Z"),
    ("good", "2026-07-01T09:00:00Z"), ("bad", "2026-07-01T08:59:00Z"),
])
def test_given_an_unanswered_rating_or_one_no_newer_than_its_ticket_when_mapped_then_no_new_version(
        score: str, rated_at: str) -> None:
    source, build = _ratings_source()
    stream = next(s for s in source.streams if s.name == "satisfaction_ratings")
    assert source.map(stream, _rated(score, rated_at), build) is None


def test_given_a_rating_whose_ticket_zendesk_no_longer_returns_when_mapped_then_it_is_skipped() -> None:
    source, build = _ratings_source()
    stream = next(s for s in source.streams if s.name == "satisfaction_ratings")
    assert source.map(stream, {**_rated("good", "2026-07-02T10:30:00Z"), "ticket": None}, build) is None
