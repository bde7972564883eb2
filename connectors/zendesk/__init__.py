"""Zendesk Support tickets through the cursor-based incremental export (`/api/v2/incremental/tickets/cursor.json`),
and their satisfaction ratings through the ratings list (`/api/v2/satisfaction_ratings`).

Auth is an API token, sent as basic auth for `{email}/token`. Quirks handled, each with its own test:
- the export starts from a Unix `start_time` once, then follows `after_cursor`; the last cursor is kept in
  the state so the next pull asks only for what changed since;
- a stored cursor can stop being accepted (422 / 400 InvalidPaginationParameter): the pull restarts from the
  stored `updated_at` and the tickets read again dedupe downstream;
- the export allows 10 requests a minute: 429 answers carry Retry-After, which the client waits for (every
  endpoint here goes through the same client and waits the same way);
- the requester's e-mail address is only in the side-loaded `users`, joined by `requester_id`;
- `satisfaction_rating.score` is good / bad / offered / unoffered: good → 5, bad → 1, otherwise none;
- a rating given or changed after the ticket's last change need not bring the ticket back into the export,
  so ratings are a stream of their own: answered ratings (`score=received`) from a `start_time`, bookmarked
  on their `updated_at` (the list is not sorted by it, so the bookmark is stored after its last page). A
  rating newer than its ticket's `updated_at` becomes a new version of the ticket event: the ticket as
  `show_many` answers it now (one request per page of ratings) with the rating's score, versioned
  `<ticket updated_at> rated <rating updated_at>`, which sorts after the export's version of the same ticket
  (the warehouse keeps the latest by `updated_at`, then version). A rating no newer than its ticket is
  already in the export's version. The ticket is fetched rather than remembered because the connector keeps
  no copy of tickets between pulls, and fetching shows its current status and requester;
- a drop-down custom field holds the option's tag (`how_do_i_training`), shown by its label from the ticket
  field's definition; priority may be empty (Zendesk does not require one).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from connectors.core.build import EventBuilder, parse_time, retraction
from connectors.core.stream import MappingError, Page, Schedule, Source, Stream, cursor_after
from connectors.zendesk.client import ZendeskClient, unix
from connectors.zendesk.settings import PRIORITIES, STATUSES, ZendeskOptions
from foundation.errors import SourceError
from schemas.events import Event, Kind, TicketStatus

CURSOR_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
TICKETS, RATINGS = "tickets", "satisfaction_ratings"


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime(CURSOR_FORMAT)


def ticket_status(value: Any, extra: dict[str, TicketStatus] | None = None) -> TicketStatus:
    name = str(value or "").strip().lower()
    table = STATUSES | {k.lower(): v for k, v in (extra or {}).items()}
    if name in table:
        return table[name]
    raise MappingError(f"status {value!r} is not a Zendesk ticket status: add it to options.statuses")


def ticket_priority(value: Any, default: int = 3) -> int:
    if value in (None, ""):
        return default
    name = str(value).strip().lower()
    if name in PRIORITIES:
        return PRIORITIES[name]
    raise MappingError(f"priority {value!r} is not urgent, high, normal or low")


def _rated_at(rating: dict[str, Any]) -> str | None:
    """A rating's `updated_at` in the cursor's format; None when it cannot be read (mapping then says why)."""
    try:
        return iso(parse_time(rating.get("updated_at"), "updated_at"))
    except MappingError:
        return None


def _ticket_id(rating: dict[str, Any]) -> int | None:
    value = rating.get("ticket_id")
    return int(value) if isinstance(value, int) or (isinstance(value, str) and value.isdigit()) else None


def satisfaction(rating: Any) -> int | None:
    """good → 5, bad → 1; offered (asked, not answered) and unoffered → None."""
    score = str((rating or {}).get("score") or "").lower() if isinstance(rating, dict) else ""
    if score.startswith("good"):
        return 5
    if score.startswith("bad"):
        return 1
    return None


class Zendesk(Source):
    """Zendesk Support tickets as help-desk tickets.

    ```yaml
    sources:
      zendesk:
        type: zendesk
        base_url: https://yourtrust.zendesk.com
        auth: {type: basic, username_env: ZENDESK_EMAIL, password_env: ZENDESK_API_TOKEN}
        options: {category_field_id: 360012345678}
    ```
    """

    type: ClassVar[str] = "zendesk"
    summary: ClassVar[str] = "Zendesk tickets (cursor-based incremental export)."
    pull_schedule: ClassVar[Schedule] = Schedule(interval=600)
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream(TICKETS, Kind.HELPDESK_TICKET, primary_key=("id",), cursor_field="updated_at",
               sorted_by_cursor=True),
        Stream(RATINGS, Kind.HELPDESK_TICKET, primary_key=("id",), cursor_field="updated_at",
               sorted_by_cursor=False),
    )
    options_model = ZendeskOptions
    identifier_fields = ("requester", "email", "requester_id", "submitter_id", "assignee_id", "collaborator_ids",
                         "follower_ids", "email_cc_ids", "recipient", "via")
    options: ZendeskOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api = ZendeskClient(self.name, self.config, self.options)
        self.client = self.api.http  # the puller reports its request and retry counts
        self.labels: dict[str, str] = {}

    def read(self, stream: Stream, state: dict[str, Any]) -> Iterator[Page]:
        o = self.options
        if o.category_field_id is not None and not self.labels:
            self.labels = self.api.field_labels(o.category_field_id)
        if stream.name == RATINGS:
            yield from self._read_ratings(state)
            return
        stored = state.get("cursor")
        stored_at = datetime.strptime(stored, CURSOR_FORMAT).replace(tzinfo=UTC) if stored else None
        since = self.context.since
        after = None if since is not None else state.get("after_cursor")
        first = since or stored_at or o.start_date
        resume = {"start_time": unix(first) if first else 0}
        cap = iso(self.context.run_started)
        cursor, checked = stored, False
        for page in self.api.pages(cursor=after, start_time=resume["start_time"], resume_at=resume):
            if page.tickets and not checked:
                self._check_fields(page.tickets[0])
                checked = True
            newest = max((str(t.get("updated_at") or "") for t in page.tickets), default="")
            if newest:
                candidate = iso(parse_time(newest, "updated_at"))
                cursor = cursor_after(cursor, candidate, cap)
                resume["start_time"] = max(resume["start_time"], unix(parse_time(cursor)))
            after = page.after_cursor or after
            new_state = {"cursor": cursor or "", "after_cursor": after} if cursor or after else None
            yield Page(page.tickets, new_state)

    def _read_ratings(self, state: dict[str, Any]) -> Iterator[Page]:
        """Answered ratings updated from the bookmark (`>=`), each with its ticket as Zendesk shows it now."""
        if not self.options.satisfaction_ratings:
            return
        stored = state.get("cursor")
        first = self.context.since or (parse_time(stored) if stored else None) or self.options.start_date
        floor = iso(first) if first else ""
        cap = iso(self.context.run_started)
        cursor = stored
        for ratings in self.api.ratings(start_time=unix(first) if first else 0):
            kept = [r for r in ratings if (_rated_at(r) or floor) >= floor]
            cursor = cursor_after(cursor, max((t for r in kept if (t := _rated_at(r))), default=None), cap)
            scored = {t for r in kept if satisfaction(r) is not None and (t := _ticket_id(r)) is not None}
            tickets = self.api.tickets(scored) if scored else {}
            yield Page([{**r, "ticket": tickets.get(_ticket_id(r) or 0)} for r in kept])
        if cursor:
            yield Page([], {"cursor": cursor})

    def _check_fields(self, ticket: dict[str, Any]) -> None:
        field_id = self.options.category_field_id
        if field_id is not None and not any(f.get("id") == field_id for f in ticket.get("custom_fields") or []):
            raise SourceError(f"sources.{self.name}.options.category_field_id: tickets have no custom field "
                              f"{field_id}; use an id from /api/v2/ticket_fields.json or remove the setting")

    def record_id(self, stream: Stream, record: dict[str, Any]) -> str:
        if stream.name == RATINGS:
            return f"satisfaction_rating/{record.get('id') or ''} (ticket {record.get('ticket_id') or ''})"
        return str(record.get("id") or "")

    def category(self, ticket: dict[str, Any]) -> str:
        field_id = self.options.category_field_id
        if field_id is not None:
            value = next((f.get("value") for f in ticket.get("custom_fields") or [] if f.get("id") == field_id), None)
            if value not in (None, ""):
                return self.labels.get(str(value), str(value))
        return str(ticket.get("type") or "") or "Uncategorised"

    def map(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> Event | None:
        if stream.name == RATINGS:
            return self._rating_version(record, build)
        updated = parse_time(record.get("updated_at"), "updated_at")
        if str(record.get("status") or "").lower() == "deleted":
            # The export lists a deleted ticket once more, with status deleted: it leaves views and metrics.
            ticket_id = str(record.get("id") or "")
            if not ticket_id:
                raise MappingError("id missing")
            return retraction(build, Kind.HELPDESK_TICKET, record_id=ticket_id, version=f"deleted {iso(updated)}",
                              occurred_at=updated, reason="deleted")
        return self._ticket_event(record, build, score=satisfaction(record.get("satisfaction_rating")),
                                  version=iso(updated), occurred_at=updated)

    def _rating_version(self, rating: dict[str, Any], build: EventBuilder) -> Event | None:
        """The rated ticket as a new version carrying the score; None when the rating has no score, its ticket
        is gone, or the ticket changed since it was rated (the export's version carries the rating then)."""
        score = satisfaction(rating)
        ticket = rating.get("ticket")
        if score is None or not ticket:
            return None
        rated = parse_time(rating.get("updated_at"), "satisfaction_rating.updated_at")
        updated = parse_time(ticket.get("updated_at"), "updated_at")
        if rated <= updated:
            return None
        return self._ticket_event(ticket, build, score=score, version=f"{iso(updated)} rated {iso(rated)}",
                                  occurred_at=rated)

    def _ticket_event(self, record: dict[str, Any], build: EventBuilder, *, score: int | None, version: str,
                      occurred_at: datetime) -> Event:
        """A ticket (from the export or fetched by id) as a help-desk ticket event with satisfaction `score`."""
        ticket_id = str(record.get("id") or "")
        if not ticket_id:
            raise MappingError("id missing")
        updated = parse_time(record.get("updated_at"), "updated_at")
        opened = parse_time(record.get("created_at"), "created_at") if record.get("created_at") else updated
        status = ticket_status(record.get("status"), self.options.statuses)
        metric = record.get("metric_set") or {}
        resolved = None
        if status in ("resolved", "closed"):
            resolved = parse_time(metric["solved_at"], "solved_at") if metric.get("solved_at") else updated
        requester = (record.get("requester") or {}).get("email")
        if not requester:
            raise MappingError(f"requester {record.get('requester_id')} has no e-mail address in the side-loaded "
                               "users")
        return build.event(Kind.HELPDESK_TICKET, record_id=ticket_id, version=version, occurred_at=occurred_at,
                           payload={
                               "person": build.person(requester),
                               "opened_at": opened, "updated_at": updated, "resolved_at": resolved,
                               "status": status, "category": self.category(record)[:128],
                               "priority": ticket_priority(record.get("priority"), self.options.default_priority),
                               "reopen_count": int(metric.get("reopens") or 0),
                               "satisfaction": score,
                               "summary": build.text(record.get("subject") or record.get("raw_subject")),
                           })

    def close(self) -> None:
        self.api.close()
