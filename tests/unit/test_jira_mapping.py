"""Jira value mapping: status categories and names, priority names, request types, CSAT, hidden e-mail, webhooks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.core.build import EventBuilder
from connectors.core.identity import StaffResolver
from connectors.core.stream import MappingError, PullContext
from connectors.jira import (
    Jira,
    JiraWebhook,
    category_of,
    issue_priority,
    issue_status,
    map_issue,
    map_webhook,
    requester_of,
    satisfaction_of,
    version_of,
)
from connectors.jira.client import JiraClient, jira_time
from connectors.jira.settings import JiraOptions
from foundation.errors import SourceError
from foundation.privacy import DEMO_KEY
from foundation.source_config import SourceConfig


def _status(name: str, category: str) -> dict[str, Any]:
    return {"name": name, "statusCategory": {"key": category}}


@pytest.mark.parametrize(("name", "category", "expected"), [
    ("Waiting for support", "new", "new"), ("Open", "new", "open"), ("In Progress", "indeterminate", "in_progress"),
    ("Waiting for customer", "indeterminate", "pending"), ("Escalated", "indeterminate", "in_progress"),
    ("Resolved", "done", "resolved"), ("Closed", "done", "closed"), ("Canceled", "done", "cancelled"),
    ("Declined", "done", "cancelled"), ("Done", "done", "resolved"),
])
def test_status_by_category_refined_by_name(name: str, category: str, expected: str) -> None:
    assert issue_status(_status(name, category)) == expected


def test_status_override_by_name_and_unknown_category() -> None:
    assert issue_status(_status("Escalated", "indeterminate"), {"escalated": "pending"}) == "pending"
    with pytest.raises(MappingError, match="options.statuses"):
        issue_status(_status("Limbo", "undefined"))


@pytest.mark.parametrize(("name", "expected"), [("Highest", 1), ("High", 2), ("Medium", 3), ("Low", 4),
                                                ("Lowest", 5), ("Blocker", 1), ("Trivial", 5)])
def test_priority_names(name: str, expected: int) -> None:
    assert issue_priority({"name": name}) == expected


def test_priority_missing_uses_default_and_unknown_is_an_error() -> None:
    assert issue_priority(None, default=4) == 4
    assert issue_priority({"name": "P0"}, {"P0": 1}) == 1
    with pytest.raises(MappingError, match="options.priorities"):
        issue_priority({"name": "P0"})


def test_category_from_request_type_components_select_or_text() -> None:
    assert category_of({"requestType": {"name": "Access / login"}, "currentStatus": {}}) == "Access / login"
    assert category_of([{"name": "EPR"}, {"name": "ePMA"}]) == "EPR"
    assert category_of({"value": "Defect"}) == "Defect"
    assert category_of("Printing") == "Printing"
    assert category_of(None) is None and category_of([]) is None


def test_satisfaction_rating_object() -> None:
    assert satisfaction_of({"rating": 4}) == 4
    assert satisfaction_of(None) is None and satisfaction_of({"rating": None}) is None
    with pytest.raises(MappingError):
        satisfaction_of({"rating": "great"})


def test_hidden_email_falls_back_to_account_id() -> None:
    assert requester_of({"accountId": "qm:1", "emailAddress": "a@example.nhs.uk"}) == "a@example.nhs.uk"
    assert requester_of({"accountId": "qm:1", "displayName": "A"}) == "qm:1"
    assert requester_of(None) is None


def test_version_is_the_same_instant_whatever_zone_jira_wrote() -> None:
    assert version_of(jira_time("2026-07-01T10:15:30.123+0100")) == "2026-07-01T09:15:30.123Z"
    assert version_of(jira_time("2026-07-01T09:15:30.123+0000")) == "2026-07-01T09:15:30.123Z"


def _issue(updated: str) -> dict[str, Any]:
    return {"id": "10042", "key": "ITSD-42", "fields": {
        "summary": "Cannot log in", "created": "2026-07-01T08:00:00.000+0000", "updated": updated,
        "resolutiondate": None, "status": _status("In Progress", "indeterminate"), "priority": {"name": "High"},
        "reporter": {"accountId": "qm:abc", "emailAddress": "staff000002@example.nhs.uk"},
        "customfield_10010": {"requestType": {"name": "Access / login"}}}}


def test_webhook_delivery_and_search_result_give_one_event_id() -> None:
    build = EventBuilder("jira", StaffResolver(DEMO_KEY), system="EPR", ingested_at=datetime.now(UTC))
    searched = map_issue(_issue("2026-07-01T09:00:00.000+0000"), build, JiraOptions())
    pushed = map_webhook({"webhookEvent": "jira:issue_updated",
                          "issue": _issue("2026-07-01T10:00:00.000+0100")}, build)
    assert pushed is not None and pushed.event_id == searched.event_id
    assert searched.payload.status == "in_progress" and searched.payload.priority == 2
    assert map_webhook({"webhookEvent": "comment_created", "issue": _issue("x")}, build) is None


def test_given_an_issue_deleted_delivery_when_mapped_then_it_retracts_the_ticket_the_search_gave() -> None:
    build = EventBuilder("jira", StaffResolver(DEMO_KEY), system="EPR", ingested_at=datetime.now(UTC))
    searched = map_issue(_issue("2026-07-01T09:00:00.000+0000"), build, JiraOptions())
    deleted = map_webhook({"webhookEvent": "jira:issue_deleted", "timestamp": 1782900000123,
                           "issue": _issue("2026-07-01T09:00:00.000+0000")}, build)
    assert deleted is not None and deleted.kind == "retraction"
    assert (deleted.source, deleted.source_record_id) == (searched.source, searched.source_record_id)
    assert deleted.record_version == "deleted:1782900000123"
    assert deleted.occurred_at == datetime(2026, 7, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert deleted.payload.model_dump() == {"kind": "helpdesk_ticket", "reason": "deleted"}
    with pytest.raises(MappingError, match="timestamp"):
        map_webhook({"webhookEvent": "jira:issue_deleted", "issue": _issue("x")}, build)


def test_given_a_jira_delivery_when_copied_for_quarantine_then_every_user_object_is_replaced_wholesale() -> None:
    config = SourceConfig(type="jira_webhook")
    source = JiraWebhook("jira_push", config, PullContext(run_started=datetime.now(UTC)))
    user = {"self": "https://trust.atlassian.net/rest/api/2/user?accountId=qm:abc", "accountId": "qm:abc",
            "displayName": "Alex Example", "emailAddress": "alex.example@example.nhs.uk",
            "avatarUrls": {"48x48": "https://avatar-management.example/initials/AE-0.png"}}
    issue = _issue("2026-07-01T09:00:00.000+0000")
    issue["fields"]["customfield_10200"] = [user]  # a multi-user picker
    issue["fields"]["comment"] = {"comments": [{"author": user, "body": "Called [~accountid:qm:abc] back"}]}
    body = {"webhookEvent": "jira:issue_updated", "user": user, "issue": issue,
            "changelog": {"items": [{"field": "assignee", "from": "qm:abc", "fromString": "Alex Example",
                                     "to": None, "toString": None}]}}
    copy = source.quarantine_copy(body)
    text = str(copy)
    for value in ("qm:abc", "Alex Example", "alex.example", "avatar", "displayName", "accountId"):
        assert value not in text
    assert copy["user"] == copy["issue"]["fields"]["reporter"] == "[identifier]"
    assert copy["issue"]["key"] == "ITSD-42" and copy["issue"]["fields"]["summary"] == "Cannot log in"
    assert source.record_id(source.streams[0], copy) == "ITSD-42"
    assert body["user"] is user  # the delivery itself is left as it was


def test_jql_with_its_own_order_by_is_refused_naming_the_setting() -> None:
    config = SourceConfig(type="jira", base_url="http://127.0.0.1:9",
                          options={"jql": "project = ITSD order by created DESC"})
    with pytest.raises(SourceError, match=r"options\.jql: leave out ORDER BY"):
        Jira("jira", config, PullContext(run_started=datetime.now(UTC)))


def test_jql_adds_the_minute_bound_in_the_profile_time_zone_and_brackets_an_or() -> None:
    options = JiraOptions(jql="project = ITSD OR project = EPR", jql_timezone="Europe/London")
    config = SourceConfig(type="jira", base_url="http://127.0.0.1:9")
    client = JiraClient("jira", config, options, ["updated"])
    since = datetime(2026, 7, 1, 9, 15, 42, tzinfo=UTC)
    assert client.jql(since) == ('(project = ITSD OR project = EPR) AND updated >= "2026/07/01 10:15" '
                                 "ORDER BY updated ASC, key ASC")
    assert client.jql(None) == "(project = ITSD OR project = EPR) ORDER BY updated ASC, key ASC"
