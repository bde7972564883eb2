"""A Zendesk Support account: the cursor-based incremental ticket export, ticket fields, tickets by id, and the
satisfaction ratings of its CSAT survey.

What it reproduces: `GET /api/v2/incremental/tickets/cursor.json?start_time=<unix>` then `?cursor=<after_cursor>`
answering `{"tickets", "after_url", "after_cursor", "before_url", "before_cursor", "end_of_stream"}` with
tickets in `generated_timestamp` order, `per_page` up to 1000, side-loads through `include=users,metric_sets`,
`exclude_deleted`; API-token auth (`realise@example.nhs.uk/token` with token `sim-api-token`, as basic auth;
anything else gets Zendesk's 401 body); `GET /api/v2/ticket_fields/{id}.json` for the category drop-down,
whose ticket values are option tags (`how_do_i_training`), not labels. Cursors are opaque base64 of the
position, like Zendesk's; `expire_cursors()` makes every cursor issued so far invalid (Zendesk's cursors do
not live forever), answered with 422 and `InvalidPaginationParameter`. The export's rate limit (10 requests
a minute on a real account) is simulated at `rate_limit` requests a second, answered with 429, Zendesk's
body and Retry-After (here it limits every endpoint).

Satisfaction: a solved ticket with a score in the world is offered the survey when it is solved and rated
`rating_delay` later (1 to 96 hours, never after the world's `now`): after the ticket's last change, so the
rating does not move the ticket's `updated_at` nor its place in the export, while the ticket itself (in a later
export page, or by id) shows the rating from then on. `GET /api/v2/satisfaction_ratings` lists the offered and
rated ones, ordered by id, filtered by `score` (offered, unoffered, received, good, bad and their
`_with_comment`/`_without_comment` forms) and by `start_time`/`end_time` on `updated_at`; cursor pagination
with `page[size]` (at most 100) and `page[after]`, answering `meta` (`has_more`, `after_cursor`) and `links`;
without `page[size]`, offset pagination by `page`. `GET /api/v2/tickets/show_many?ids=` answers up to 100
tickets by id (unknown ids left out), with the same side-loads as the export. `rate()` gives or changes a
rating at a given time.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from simulator.server import Api, Request, Response
from simulator.servicenow import TicketVersion, current_tickets
from simulator.world import World

PREFIX = "/zendesk"
EMAIL = "realise@example.nhs.uk"
API_TOKEN = "sim-api-token"
EXPORT_PATHS = ("/api/v2/incremental/tickets/cursor.json", "/api/v2/incremental/tickets/cursor")
RATINGS_PATHS = ("/api/v2/satisfaction_ratings.json", "/api/v2/satisfaction_ratings")
SHOW_MANY_PATHS = ("/api/v2/tickets/show_many.json", "/api/v2/tickets/show_many")
MAX_PER_PAGE = 1000
MAX_PAGE_SIZE = 100  # cursor pagination's page[size] limit, and show_many's ids
CATEGORY_FIELD_ID = 360_012_345_678
_CATEGORY_TAGS = {"How do I / training": "how_do_i_training", "Access / login": "access_login",
                  "Defect / error": "defect_error", "Hardware / printer": "hardware_printer",
                  "Performance": "performance"}
STATUSES = {"new": "new", "open": "open", "in_progress": "open", "pending": "pending", "resolved": "solved",
            "closed": "closed", "cancelled": "closed"}
PRIORITIES = {1: "urgent", 2: "high", 3: "normal", 4: "low", 5: "low"}


def ticket_id(record_id: str) -> int:
    """INC0100123 → 123."""
    return int(record_id[3:]) - 100_000


def user_id(pseudonym: str) -> int:
    return 360_000_000_000 + int(pseudonym[:8], 16) % 1_000_000_000


def expected_ids(world: World) -> set[str]:
    return {str(ticket_id(t.event.source_record_id)) for t in current_tickets(world, "zendesk")}


def satisfaction_score(score: int | None, done: bool) -> dict[str, Any]:
    """The rating a solved ticket with this score ends with (3, neither good nor bad: offered, unanswered)."""
    if score is None or not done:
        return {"score": "unoffered"}
    return {"score": "good" if score >= 4 else "bad" if score <= 2 else "offered"}


def rating_delay(number: int) -> timedelta:
    """How long after its last change ticket `number`'s requester answered the survey: 1 to 96 hours."""
    return timedelta(hours=1 + int.from_bytes(hashlib.sha1(f"csat:{number}".encode()).digest()[:2], "big") % 96)


def rating_id(number: int) -> int:
    return 360_200_000_000 + number


def iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


@dataclass(frozen=True)
class Rating:
    """A ticket's satisfaction rating at the clock: offered when solved, good or bad once answered."""

    ticket: int
    score: str
    offered_at: datetime
    updated_at: datetime


class ZendeskApi(Api):
    prefix = PREFIX

    def __init__(self, world: World, *, rate_limit: float | None = None,
                 base_url: str = "https://trust.zendesk.com") -> None:
        super().__init__()
        self.world, self.base_url = world, base_url
        self.rate_limit = rate_limit
        self.generation = 1
        self.exports = 0
        self._expire_at: int | None = None
        self._cache: tuple[datetime, list[tuple[int, int, dict[str, Any], dict[str, Any], dict[str, Any]]],
                           list[tuple[int, int]], dict[int, Rating]] | None = None
        self._table_lock = threading.Lock()
        self._rated: dict[int, tuple[str, datetime]] = {}
        self._deleted: dict[int, datetime] = {}

    def expire_cursors(self) -> None:
        """Every cursor handed out so far stops working (the export must restart from a start_time)."""
        self.generation += 1

    def expire_after(self, requests: int) -> None:
        """Cursors handed out so far stop working once the export has answered `requests` more requests."""
        self._expire_at = self.exports + requests

    def rate(self, ticket: int, score: str, at: datetime) -> None:
        """The requester of solved ticket `ticket` rates it `score` (good or bad) at `at`, or changes the rating;
        the ticket's updated_at and its place in the export stay as they were."""
        if score not in ("good", "bad"):
            raise ValueError("a requester rates good or bad")
        with self._table_lock:
            self._rated[ticket] = (score, at)
            self._cache = None

    def current_satisfaction(self) -> dict[str, str]:
        """Ticket id → the score its satisfaction rating shows now (unoffered, offered, good or bad)."""
        rows, _ = self.table()
        return {str(r[1]): r[2]["satisfaction_rating"]["score"] for r in rows}

    def current_versions(self) -> dict[str, datetime]:
        """Ticket id → its updated_at now, to compare a warehouse with."""
        rows, _ = self.table()
        return {str(r[1]): datetime.strptime(r[2]["updated_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                for r in rows}

    # -- data -----------------------------------------------------------------------------------------

    def delete(self, number: int, at: datetime) -> None:
        """An agent deletes ticket `number` at `at`: from then the export lists it once more, with status
        `deleted` and the deletion as its update (Zendesk keeps deleted tickets in the incremental export)."""
        with self._table_lock:
            self._deleted[number] = at
            self._cache = None

    def table(self) -> tuple[list[tuple[int, int, dict[str, Any], dict[str, Any], dict[str, Any]]],
                             list[tuple[int, int]]]:
        """(generated_timestamp, id, ticket, requester, metric set) in export order, and the positions."""
        cache = self._current()
        return cache[1], cache[2]

    def ratings(self) -> list[Rating]:
        """Every rating offered by the clock, by id."""
        return sorted(self._current()[3].values(), key=lambda r: r.ticket)

    def _current(self) -> tuple[datetime, list[tuple[int, int, dict[str, Any], dict[str, Any], dict[str, Any]]],
                                list[tuple[int, int]], dict[int, Rating]]:
        clock = self.world.clock
        with self._table_lock:
            if self._cache is None or self._cache[0] != clock:
                ratings: dict[int, Rating] = {}
                rows = sorted((self._deleted_row(self._ticket(t, ratings, clock), clock)
                               for t in current_tickets(self.world, "zendesk")), key=lambda r: (r[0], r[1]))
                self._cache = (clock, rows, [(r[0], r[1]) for r in rows], ratings)
            return self._cache

    def _deleted_row(self, row: tuple[int, int, dict[str, Any], dict[str, Any], dict[str, Any]], clock: datetime
                     ) -> tuple[int, int, dict[str, Any], dict[str, Any], dict[str, Any]]:
        at = self._deleted.get(row[1])
        if at is None or at > clock:
            return row
        ticket = {**row[2], "status": "deleted", "updated_at": iso(at), "generated_timestamp": int(at.timestamp())}
        return int(at.timestamp()), row[1], ticket, row[3], row[4]

    def _rating(self, number: int, score: int | None, solved: datetime, clock: datetime) -> Rating | None:
        """The ticket's rating at `clock`, None if the survey was never offered."""
        answer = satisfaction_score(score, True)["score"]
        if number in self._rated:
            answer, rated_at = self._rated[number]
        elif answer == "unoffered":
            return None
        else:
            rated_at = min(solved + rating_delay(number), self.world.now)
        if answer in ("good", "bad") and rated_at <= clock:
            return Rating(number, answer, solved, rated_at)
        return Rating(number, "offered", solved, solved)

    def _ticket(self, version: TicketVersion, ratings: dict[int, Rating], clock: datetime
                ) -> tuple[int, int, dict[str, Any], dict[str, Any], dict[str, Any]]:
        p = version.event.payload
        number = ticket_id(version.event.source_record_id)
        ident = self.world.identity(p.person.pseudonym)
        requester = user_id(p.person.pseudonym)
        status = STATUSES[p.status]
        done = status in ("solved", "closed")
        rating = self._rating(number, p.satisfaction, p.updated_at, clock) if done else None
        if rating is not None:
            ratings[number] = rating
        tag = _CATEGORY_TAGS.get(p.category, p.category.lower().replace(" ", "_"))
        generated = int(p.updated_at.timestamp())
        ticket = {
            "url": f"{self.base_url}/api/v2/tickets/{number}.json", "id": number, "external_id": None,
            "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": iso(p.opened_at), "updated_at": iso(p.updated_at), "generated_timestamp": generated,
            "type": "question" if tag == "how_do_i_training" else "incident",
            "subject": p.summary, "raw_subject": p.summary, "description": p.summary,
            "priority": PRIORITIES[p.priority], "status": status, "recipient": None,
            "requester_id": requester, "submitter_id": requester, "assignee_id": 360_000_000_001,
            "organization_id": None, "group_id": 360_000_000_100, "collaborator_ids": [], "follower_ids": [],
            "email_cc_ids": [], "forum_topic_id": None, "problem_id": None, "has_incidents": False,
            "is_public": True, "due_at": None, "tags": [tag, p.person.system.lower().replace(" ", "_")],
            "custom_fields": [{"id": CATEGORY_FIELD_ID, "value": tag}],
            "fields": [{"id": CATEGORY_FIELD_ID, "value": tag}],
            "satisfaction_rating": {"score": rating.score, "id": rating_id(number)} if rating
            else {"score": "unoffered"},
            "sharing_agreement_ids": [], "followup_ids": [], "ticket_form_id": 360_000_000_010,
            "brand_id": 360_000_000_020, "allow_channelback": False, "allow_attachments": True,
            "from_messaging_channel": False,
        }
        user = {"id": requester, "url": f"{self.base_url}/api/v2/users/{requester}.json",
                "name": ident.display_name, "email": ident.email, "role": "end-user", "active": True,
                "verified": True, "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
                "time_zone": "London", "locale": "en-GB", "external_id": ident.employee_number}
        metric = {"url": f"{self.base_url}/api/v2/ticket_metrics/{number}.json", "id": number, "ticket_id": number,
                  "created_at": iso(p.opened_at), "updated_at": iso(p.updated_at), "reopens": p.reopen_count,
                  "replies": 1, "solved_at": iso(p.resolved_at) if done else None,
                  "initially_assigned_at": iso(p.opened_at), "assigned_at": iso(p.opened_at)}
        return generated, number, ticket, user, metric

    # -- cursors --------------------------------------------------------------------------------------

    def _cursor(self, position: tuple[int, int]) -> str:
        return base64.b64encode(f"{position[0]}.0||{position[1]}|{self.generation}".encode()).decode()

    def _position(self, cursor: str) -> tuple[int, int] | None:
        """The position a cursor points after; None when it is malformed or from an earlier generation."""
        try:
            stamp, _, rest = base64.b64decode(cursor.encode(), validate=True).decode().partition("||")
            ident, _, generation = rest.partition("|")
            if int(generation) != self.generation:
                return None
            return int(float(stamp)), int(ident)
        except (ValueError, UnicodeDecodeError):
            return None

    # -- requests -------------------------------------------------------------------------------------

    def authorise(self, request: Request) -> Response | None:
        expected = "Basic " + base64.b64encode(f"{EMAIL}/token:{API_TOKEN}".encode()).decode()
        if request.headers.get("authorization") == expected:
            return None
        return Response(401, {"error": "Couldn't authenticate you"})

    def throttle(self) -> Response | None:
        limited = super().throttle()
        if limited is None:
            return None
        return Response(429, {"error": "APIRateLimitExceeded",
                              "description": "Number of allowed incremental export API requests per minute "
                                             "exceeded"}, limited.headers)

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if request.method != "GET":
            return Response(404, {"error": "InvalidEndpoint", "description": "Not found"})
        if path in EXPORT_PATHS:
            return self._export(request)
        if path in RATINGS_PATHS:
            return self._ratings(request)
        if path in SHOW_MANY_PATHS:
            return self._show_many(request)
        if path.startswith("/api/v2/ticket_fields/"):
            return self._ticket_field(path.rsplit("/", 1)[-1].removesuffix(".json"))
        return Response(404, {"error": "InvalidEndpoint", "description": "Not found"})

    def _ticket_field(self, ident: str) -> Response:
        if ident != str(CATEGORY_FIELD_ID):
            return Response(404, {"error": "RecordNotFound", "description": "Not found"})
        options = [{"id": 360_000_000_200 + n, "name": name, "raw_name": name, "value": tag, "default": False}
                   for n, (name, tag) in enumerate(_CATEGORY_TAGS.items())]
        return Response(200, {"ticket_field": {
            "url": f"{self.base_url}/api/v2/ticket_fields/{CATEGORY_FIELD_ID}.json", "id": CATEGORY_FIELD_ID,
            "type": "tagger", "title": "Category", "raw_title": "Category", "active": True, "required": False,
            "custom_field_options": options}})

    def _rating_json(self, r: Rating, tickets: dict[int, dict[str, Any]]) -> dict[str, Any]:
        number, ticket = rating_id(r.ticket), tickets[r.ticket]
        return {"url": f"{self.base_url}/api/v2/satisfaction_ratings/{number}.json", "id": number,
                "assignee_id": ticket["assignee_id"], "group_id": ticket["group_id"],
                "requester_id": ticket["requester_id"], "ticket_id": r.ticket, "score": r.score,
                "created_at": iso(r.offered_at), "updated_at": iso(r.updated_at)}

    def _ratings(self, request: Request) -> Response:
        _, rows, _, offered = self._current()
        ratings = sorted(offered.values(), key=lambda r: r.ticket)
        tickets = {r[1]: r[2] for r in rows}
        score = (request.arg("score") or "").lower()
        if score:
            base = score.removesuffix("_with_comment").removesuffix("_without_comment")
            wanted = {"received": {"good", "bad"}, "good": {"good"}, "bad": {"bad"}, "offered": {"offered"},
                      "unoffered": {"unoffered"}}.get(base)
            if wanted is None:
                return Response(400, {"error": "InvalidValue", "description": f"score {score} is not valid"})
            ratings = [r for r in ratings if r.score in wanted and not score.endswith("_with_comment")]
        for name, keep in (("start_time", lambda r, t: r.updated_at.timestamp() >= t),
                           ("end_time", lambda r, t: r.updated_at.timestamp() < t)):
            raw = request.arg(name)
            if raw is not None:
                if not raw.lstrip("-").isdigit():
                    return Response(400, {"error": "InvalidValue", "description": f"{name} must be a Unix epoch time"})
                ratings = [r for r in ratings if keep(r, int(raw))]
        size = request.arg("page[size]")
        if size is None:  # offset pagination
            page = max(1, request.int_arg("page", 1))
            chunk = ratings[(page - 1) * MAX_PAGE_SIZE: page * MAX_PAGE_SIZE]
            more = page * MAX_PAGE_SIZE < len(ratings)
            return Response(200, {"satisfaction_ratings": [self._rating_json(r, tickets) for r in chunk],
                                  "next_page": f"{self.base_url}/api/v2/satisfaction_ratings.json?page={page + 1}"
                                  if more else None, "previous_page": None, "count": len(ratings)})
        if not size.isdigit() or not 1 <= int(size) <= MAX_PAGE_SIZE:
            return Response(400, {"error": "InvalidPaginationParameter",
                                  "description": f"page[size] must be between 1 and {MAX_PAGE_SIZE}"})
        after = request.arg("page[after]")
        if after:
            try:
                last = int(base64.b64decode(after.encode(), validate=True).decode())
            except ValueError:
                return Response(400, {"error": "InvalidPaginationParameter", "description": "invalid cursor"})
            ratings = [r for r in ratings if rating_id(r.ticket) > last]
        chunk = ratings[: int(size)]
        more = len(ratings) > len(chunk)
        after_cursor = base64.b64encode(str(rating_id(chunk[-1].ticket)).encode()).decode() if chunk else None
        before_cursor = base64.b64encode(str(rating_id(chunk[0].ticket)).encode()).decode() if chunk else None
        link = f"{self.base_url}/api/v2/satisfaction_ratings.json?"
        return Response(200, {
            "satisfaction_ratings": [self._rating_json(r, tickets) for r in chunk],
            "meta": {"has_more": more, "after_cursor": after_cursor, "before_cursor": before_cursor},
            "links": {"next": link + urlencode({"page[size]": size, "page[after]": after_cursor}) if more else None,
                      "prev": link + urlencode({"page[size]": size, "page[before]": before_cursor})
                      if chunk else None}})

    def _show_many(self, request: Request) -> Response:
        raw = [i.strip() for i in (request.arg("ids") or "").split(",") if i.strip()]
        if not raw or len(raw) > MAX_PAGE_SIZE or not all(i.isdigit() for i in raw):
            return Response(400, {"error": "InvalidValue",
                                  "description": f"ids must list 1 to {MAX_PAGE_SIZE} ticket ids"})
        wanted = {int(i) for i in raw}
        rows = [r for r in self.table()[0] if r[1] in wanted]
        body: dict[str, Any] = {"tickets": [r[2] for r in rows], "next_page": None, "previous_page": None,
                                "count": len(rows)}
        includes = {i.strip() for i in (request.arg("include") or "").split(",") if i.strip()}
        if "users" in includes:
            body["users"] = list({r[3]["id"]: r[3] for r in rows}.values())
        if "metric_sets" in includes:
            body["metric_sets"] = [r[4] for r in rows]
        return Response(200, body)

    def _export(self, request: Request) -> Response:
        if self._expire_at is not None and self.exports >= self._expire_at:
            self._expire_at = None
            self.expire_cursors()
        self.exports += 1
        rows, positions = self.table()
        cursor = request.arg("cursor")
        after: tuple[int, int] | None = None
        if cursor:
            after = self._position(cursor)
            if after is None:
                return Response(422, {"error": "InvalidPaginationParameter",
                                      "description": "The cursor is invalid or has expired. Restart the export "
                                                     "with a start_time."})
            start = bisect_left(positions, (after[0], after[1] + 1))
        else:
            raw = request.arg("start_time")
            if raw is None or not raw.lstrip("-").isdigit():
                return Response(400, {"error": "InvalidValue",
                                      "description": "start_time is required and must be a Unix epoch time"})
            start = bisect_left(positions, (int(raw), -1))
        per_page = max(1, min(request.int_arg("per_page", MAX_PER_PAGE), MAX_PER_PAGE))
        page = rows[start:start + per_page]
        last = (page[-1][0], page[-1][1]) if page else after
        if (request.arg("exclude_deleted") or "").lower() == "true":
            page = [r for r in page if r[2]["status"] != "deleted"]
        end = start + per_page >= len(rows)
        body: dict[str, Any] = {"tickets": [r[2] for r in page], "before_url": None, "before_cursor": None,
                                "end_of_stream": end}
        if last is not None:
            after_cursor = self._cursor(last)
            body["after_cursor"] = after_cursor
            body["after_url"] = (f"{self.base_url}/api/v2/incremental/tickets/cursor.json?"
                                 f"{urlencode({'cursor': after_cursor})}")
        else:
            body["after_cursor"] = body["after_url"] = None
        includes = {i.strip() for i in (request.arg("include") or "").split(",") if i.strip()}
        if "users" in includes:
            body["users"] = list({r[3]["id"]: r[3] for r in page}.values())
        if "metric_sets" in includes:
            body["metric_sets"] = [r[4] for r in page]
        return Response(200, body)


ENV = {"ZENDESK_EMAIL": EMAIL, "ZENDESK_API_TOKEN": API_TOKEN}


def source_config(root: str) -> dict[str, Any]:
    """The `sources:` entry for this simulator served at `root` (http://127.0.0.1:PORT), with ENV exported."""
    return {"type": "zendesk", "base_url": root + PREFIX, "page_size": 1000,
            "auth": {"type": "basic", "username_env": "ZENDESK_EMAIL", "password_env": "ZENDESK_API_TOKEN"},
            "options": {"category_field_id": CATEGORY_FIELD_ID}}


def apis(world: World) -> list[Api]:
    return [ZendeskApi(world)]
