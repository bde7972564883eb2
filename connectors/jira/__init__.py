"""Jira Service Management issues through the REST search and webhook deliveries.

Auth is basic with the account's e-mail address and an API token. Quirks handled, each with its own test:
- Jira Cloud has removed `GET /rest/api/2/search` for the enhanced `GET /rest/api/2/search/jql` (paged by
  `nextPageToken`, no `total`); Data Center and Server have only the former: `search_api: auto` uses the
  enhanced search where the site answers it and falls back on HTTP 404;
- JQL compares dates to the minute, in the searching account's profile time zone: reads start at the
  stored minute (`>=`) and versions already read dedupe by event id;
- `maxResults` is capped at 100 whatever is asked: pages are counted by what came back;
- an issue updated between two pages moves to the end: each page re-queries from the last minute read;
- the reporter's `emailAddress` is absent when the profile hides it: the requester is then the
  `accountId`, pseudonymised like any identifier but unknown to the staff directory (an unmatched person);
- status is mapped by `status.statusCategory.key` (new / indeterminate / done) refined by status name
  (Waiting for customer → pending, Canceled → cancelled, Closed → closed); priority by name, Highest .. Lowest;
- the category is the JSM Customer Request Type's name and the CSAT score a `{"rating": n}` custom field.

`map_webhook` turns a webhook delivery (`{"webhookEvent": "jira:issue_updated", "issue": {...}}`) into the same
event the search gives for that issue version, so a push receiver and the scheduled pull dedupe together;
`jira:issue_deleted` retracts the ticket. `type: jira_webhook` (`JiraWebhook`) receives those deliveries at
`realise webhook serve`, signed as Jira Cloud signs admin webhooks with a secret (`X-Hub-Signature`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from connectors.core.build import EventBuilder, retraction
from connectors.core.stream import MappingError, Page, Schedule, Source, Stream, cursor_after
from connectors.jira.client import JiraClient, jira_time
from connectors.jira.settings import (
    CANCELLED_STATUSES,
    PENDING_STATUSES,
    PRIORITIES,
    JiraMappingOptions,
    JiraOptions,
    JiraWebhookOptions,
)
from connectors.webhook import PushSource
from foundation.errors import SourceError
from schemas.events import Event, Kind, TicketStatus

CURSOR_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
BASE_FIELDS = ("summary", "created", "updated", "resolutiondate", "status", "priority")
ISSUE_EVENTS = ("jira:issue_created", "jira:issue_updated")
DELETED = "jira:issue_deleted"
# Keys only a Jira user object has (Cloud and Data Center alike); its avatarUrls and self go with it.
_USER_KEYS = frozenset({"accountId", "emailAddress", "displayName"})
_CHANGE_VALUES = ("from", "fromString", "to", "toString")
_MENTION = re.compile(r"\[~(accountid:)?[^\]]*\]|accountId=[^&\s\"]+", re.I)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime(CURSOR_FORMAT)


def version_of(updated: datetime) -> str:
    """The issue version: its `updated` instant in UTC to the millisecond, whatever zone the answer used."""
    return updated.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def issue_status(status: Any, overrides: dict[str, TicketStatus] | None = None) -> TicketStatus:
    """Status by name override, else by statusCategory.key refined by the name."""
    if not isinstance(status, dict):
        raise MappingError("status missing")
    name = str(status.get("name") or "").strip()
    lowered = {k.lower(): v for k, v in (overrides or {}).items()}
    if name.lower() in lowered:
        return lowered[name.lower()]
    category = str((status.get("statusCategory") or {}).get("key") or "").lower()
    if category == "new":
        return "open" if name.lower() == "open" else "new"
    if category == "indeterminate":
        return "pending" if name.lower() in PENDING_STATUSES else "in_progress"
    if category == "done":
        if name.lower() in CANCELLED_STATUSES:
            return "cancelled"
        return "closed" if name.lower() == "closed" else "resolved"
    raise MappingError(f"status {name!r} has no known statusCategory ({category!r}): add it to options.statuses")


def issue_priority(priority: Any, extra: dict[str, int] | None = None, default: int = 3) -> int:
    if not isinstance(priority, dict) or not priority.get("name"):
        return default
    name = str(priority["name"]).strip().lower()
    table = PRIORITIES | {k.lower(): v for k, v in (extra or {}).items()}
    if name in table:
        return table[name]
    raise MappingError(f"priority {priority['name']!r} is not known: add it to options.priorities")


def category_of(value: Any) -> str | None:
    """A category from a request type, a component list, a select list or plain text."""
    if isinstance(value, dict):
        if isinstance(value.get("requestType"), dict):
            return value["requestType"].get("name")
        return value.get("name") or value.get("value")
    if isinstance(value, list):
        return category_of(value[0]) if value else None
    return str(value) if value not in (None, "") else None


def satisfaction_of(value: Any) -> int | None:
    """JSM's satisfaction field `{"rating": 4}` (or a bare number) as 1..5."""
    rating = value.get("rating") if isinstance(value, dict) else value
    if rating in (None, ""):
        return None
    try:
        return int(rating)
    except (TypeError, ValueError):
        raise MappingError(f"satisfaction rating {rating!r} is not a number") from None


def requester_of(user: Any) -> str | None:
    """The user's e-mail address, or its accountId when the profile hides the address."""
    if not isinstance(user, dict):
        return None
    return user.get("emailAddress") or user.get("accountId") or user.get("name")


def map_issue(issue: dict[str, Any], build: EventBuilder, options: JiraMappingOptions) -> Event:
    """One issue version (from search or a webhook) as a help-desk ticket event."""
    key = issue.get("key")
    fields = issue.get("fields")
    if not key or not isinstance(fields, dict):
        raise MappingError("key or fields missing: not a Jira issue")
    if not fields.get("updated"):
        raise MappingError("fields.updated missing")
    try:
        updated = jira_time(fields["updated"])
        opened = jira_time(fields["created"]) if fields.get("created") else updated
        resolved_at = jira_time(fields["resolutiondate"]) if fields.get("resolutiondate") else None
    except ValueError as exc:
        raise MappingError(f"a date is not in Jira's form (yyyy-MM-ddTHH:mm:ss.SSS+hhmm): {exc}") from None
    status = issue_status(fields.get("status"), options.statuses)
    if status not in ("resolved", "closed"):
        resolved_at = None
    elif resolved_at is None:
        resolved_at = updated
    reopens = fields.get(options.reopen_count_field) if options.reopen_count_field else None
    return build.event(Kind.HELPDESK_TICKET, record_id=str(key), version=version_of(updated), occurred_at=updated,
                       payload={
                           "person": build.person(requester_of(fields.get(options.requester_field))),
                           "opened_at": opened, "updated_at": updated, "resolved_at": resolved_at,
                           "status": status,
                           "category": (category_of(fields.get(options.category_field)) or "Uncategorised")[:128],
                           "priority": issue_priority(fields.get("priority"), options.priorities,
                                                      options.default_priority),
                           "reopen_count": int(reopens or 0),
                           "satisfaction": satisfaction_of(fields.get(options.satisfaction_field))
                           if options.satisfaction_field else None,
                           "summary": build.text(fields.get("summary")),
                       })


def map_webhook(body: dict[str, Any], build: EventBuilder,
                options: JiraMappingOptions | None = None) -> Event | None:
    """A Jira webhook delivery as the event the search API gives for the same issue version, or for
    `jira:issue_deleted` a retraction of that ticket, dated by the delivery's `timestamp` (ms).

    `build` must be the EventBuilder of the Jira source's name, so ids match the pulled events. Other
    deliveries (comment, worklog, project events) give None.
    """
    event = body.get("webhookEvent") if isinstance(body, dict) else None
    if event not in (*ISSUE_EVENTS, DELETED):
        return None
    issue = body.get("issue")
    if not isinstance(issue, dict):
        raise MappingError("webhook delivery has no issue")
    if event != DELETED:
        return map_issue(issue, build, options or JiraMappingOptions())
    if not issue.get("key"):
        raise MappingError("issue.key missing: not a Jira issue")
    stamp = body.get("timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int) or stamp <= 0:
        raise MappingError(f"timestamp {stamp!r} is not the delivery's time in milliseconds")
    return retraction(build, Kind.HELPDESK_TICKET, record_id=str(issue["key"]), version=f"deleted:{stamp}",
                      occurred_at=datetime.fromtimestamp(stamp / 1000, UTC), reason="deleted")


def without_users(value: Any) -> Any:
    """A copy naming no Jira user: user objects (reporter, assignee, comment authors, the acting `user`, pickers)
    replaced wholesale, changelog values emptied, and account mentions cut from text."""
    if isinstance(value, dict):
        if _USER_KEYS & value.keys() or "/user?" in str(value.get("self") or ""):
            return "[identifier]"
        out = {k: without_users(v) for k, v in value.items()}
        if "field" in value and any(k in value for k in _CHANGE_VALUES):  # a changelog item
            out.update({k: "[identifier]" for k in _CHANGE_VALUES if value.get(k) not in (None, "")})
        return out
    if isinstance(value, list):
        return [without_users(v) for v in value]
    if isinstance(value, str):
        return _MENTION.sub("[identifier]", value)
    return value


class Jira(Source):
    """Jira Service Management requests as help-desk tickets.

    ```yaml
    sources:
      jira:
        type: jira
        base_url: https://yourtrust.atlassian.net
        auth: {type: basic, username_env: JIRA_EMAIL, password_env: JIRA_API_TOKEN}
        options: {jql: project = ITSD, satisfaction_field: customfield_10034}
    ```
    """

    type: ClassVar[str] = "jira"
    summary: ClassVar[str] = "Jira Service Management issues (REST search on updated)."
    pull_schedule: ClassVar[Schedule] = Schedule(interval=300)
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream("issues", Kind.HELPDESK_TICKET, primary_key=("key",), cursor_field="updated", sorted_by_cursor=True),
    )
    options_model = JiraOptions
    identifier_fields = ("reporter", "creator", "assignee", "emailAddress", "accountId", "displayName")
    options: JiraOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        o = self.options
        if o.jql and re.search(r"\border\s+by\b", o.jql, re.I):
            raise SourceError(f"sources.{self.name}.options.jql: leave out ORDER BY; the connector orders by "
                              "updated itself")
        self.mapped = {k: v for k, v in {"requester_field": o.requester_field, "category_field": o.category_field,
                                         "satisfaction_field": o.satisfaction_field,
                                         "reopen_count_field": o.reopen_count_field}.items() if v}
        self.api = JiraClient(self.name, self.config, o, list(dict.fromkeys([*BASE_FIELDS, *self.mapped.values()])))
        self.client = self.api.http  # the puller reports its request and retry counts

    def _check_fields(self, issue: dict[str, Any]) -> None:
        fields = issue.get("fields") or {}
        for setting, name in self.mapped.items():
            if name not in fields:
                raise SourceError(f"sources.{self.name}.options.{setting}: issues have no field '{name}' (Jira "
                                  "leaves unknown fields out of search answers); name a field id from "
                                  "/rest/api/2/field or remove the setting")

    def read(self, stream: Stream, state: dict[str, Any]) -> Iterator[Page]:
        stored = state.get("cursor")
        since = self.context.since or (datetime.strptime(stored, CURSOR_FORMAT).replace(tzinfo=UTC)
                                       if stored else None)
        cap = iso(self.context.run_started)
        cursor, checked = stored, False
        for issues in self.api.issues(since):
            if not checked:
                self._check_fields(issues[0])
                checked = True
            newest = max(jira_time(i["fields"]["updated"]) for i in issues)
            cursor = cursor_after(cursor, iso(newest), cap)
            yield Page(issues, {"cursor": cursor} if cursor else None)

    def record_id(self, stream: Stream, record: dict[str, Any]) -> str:
        return str(record.get("key") or "")

    def map(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> Event | None:
        return map_issue(record, build, self.options)

    def close(self) -> None:
        self.api.close()


class JiraWebhook(PushSource):
    """Jira Cloud admin webhooks (issue created, updated, deleted), received by `realise webhook serve`.

    ```yaml
    sources:
      jira_push:
        type: jira_webhook
        options: {pull_source: jira, secret_env: JIRA_WEBHOOK_SECRET, satisfaction_field: customfield_10034}
    ```
    """

    type: ClassVar[str] = "jira_webhook"
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream("deliveries", Kind.HELPDESK_TICKET, primary_key=("key",), cursor_field=None, sorted_by_cursor=False),
    )
    options_model = JiraWebhookOptions
    identifier_fields = Jira.identifier_fields
    options: JiraWebhookOptions

    @property
    def event_source(self) -> str:
        return self.options.pull_source or self.name

    def record_id(self, stream: Stream, record: dict[str, Any]) -> str:
        issue = record.get("issue")
        return str(issue.get("key") or "") if isinstance(issue, dict) else ""

    def map(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> Event | None:
        return map_webhook(record, build, self.options)

    def quarantine_copy(self, record: dict[str, Any]) -> dict[str, Any]:
        return without_users(record)
