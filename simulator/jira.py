"""A Jira Service Management site's issue search and its webhook deliveries.

A Cloud site (the default) answers the enhanced search, `GET /rest/api/{2,3}/search/jql`: pages follow an
opaque `nextPageToken` until `isLast` (the token is left out of the last page), no `total`, and only issue
ids unless `fields` are asked for; its old `GET /rest/api/2/search` answers 410 Gone. A Data Center site
answers only `GET /rest/api/2/search`, paged by `startAt` with a `total`.

What it reproduces: basic auth with an account e-mail and API token (`realise@example.nhs.uk` /
`sim-api-token`; anything else gets Jira's 401 body), JQL for the clauses incremental readers use
(`project = ITSD`, `updated >= "yyyy/MM/dd HH:mm"` and `created`, joined by AND, `ORDER BY updated ASC, key
ASC`) with JQL's minute precision and dates read in the searching user's time zone, `startAt` /
`maxResults` paging where `maxResults` is capped at 100 whatever is asked, `total`, and `fields=` (unknown
names left out; `*all`, `*navigable`). Issues carry Jira's shapes: timestamps such as
`2026-11-20T10:15:30.000+0000` in the user's zone, `status.statusCategory.key` (new / indeterminate / done),
`priority.name` (Highest .. Lowest), the reporter's `emailAddress` missing for accounts whose profile hides
it (one in ten), the JSM request type in `customfield_10010` and the CSAT rating in `customfield_10034`.

`webhook_delivery(key)` is the body Jira POSTs to a webhook for the issue's current version, and
`JiraWebhookSender` posts it as Jira Cloud posts to an admin webhook with a secret: `X-Hub-Signature:
sha256=<hex HMAC-SHA256 of the raw body>` (WebSub's form, no timestamp), a delivery id in
`X-Atlassian-Webhook-Identifier` kept on every retry, and `X-Atlassian-Webhook-Retry` counting retries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx

from simulator.server import Api, Request, Response
from simulator.servicenow import TicketVersion, current_tickets
from simulator.world import World

PREFIX = "/jira"
EMAIL = "realise@example.nhs.uk"
API_TOKEN = "sim-api-token"
SEARCH_PATH = "/rest/api/2/search"
SEARCH_JQL_PATHS = ("/rest/api/2/search/jql", "/rest/api/3/search/jql")
REMOVED = ("The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration "
           "guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046")
PROJECT = "ITSD"
MAX_RESULTS = 100
REQUEST_TYPE_FIELD = "customfield_10010"
SATISFACTION_FIELD = "customfield_10034"

_CATEGORIES = {"new": ("2", "new", "To Do", "blue-gray"), "indeterminate": ("4", "indeterminate", "In Progress",
                                                                             "yellow"),
               "done": ("3", "done", "Done", "green")}
STATUSES = {"new": ("Waiting for support", "new"), "open": ("Open", "new"), "in_progress": ("In Progress",
                                                                                          "indeterminate"),
            "pending": ("Waiting for customer", "indeterminate"), "resolved": ("Resolved", "done"),
            "closed": ("Closed", "done"), "cancelled": ("Canceled", "done")}
PRIORITIES = {1: "Highest", 2: "High", 3: "Medium", 4: "Low", 5: "Lowest"}
JIRA_TIME = "%Y-%m-%dT%H:%M:%S.000%z"


def issue_number(record_id: str) -> int:
    """INC0100123 → 123: the world's ticket numbers start at 100001."""
    return int(record_id[3:]) - 100_000


def issue_key(record_id: str) -> str:
    return f"{PROJECT}-{issue_number(record_id)}"


def expected_ids(world: World) -> set[str]:
    return {issue_key(t.event.source_record_id) for t in current_tickets(world, "jira")}


def email_hidden(pseudonym: str) -> bool:
    """One account in ten hides its e-mail address from the API (the profile's visibility setting)."""
    return hashlib.sha1(f"jira-privacy:{pseudonym}".encode()).digest()[0] < 26  # noqa: S324


def account_id(pseudonym: str) -> str:
    return "qm:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"jira-account:{pseudonym}"))


def avatar_urls(name: str) -> dict[str, str]:
    """Jira Cloud's initials avatars, one URL a size."""
    initials = "".join(part[0] for part in name.split()[:2]).upper()
    url = ("https://secure.gravatar.com/avatar/" + hashlib.md5(name.encode()).hexdigest()  # noqa: S324
           + "?d=https%3A%2F%2Favatar-management--avatars.us-west-2.prod.public.atl-paas.net%2Finitials%2F"
           + initials + "-0.png")
    return {size: url for size in ("48x48", "24x24", "16x16", "32x32")}


class JqlError(ValueError):
    """A query Jira would refuse with 400 and this message."""


_DATE_FORMATS = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")
_CLAUSE = re.compile(r'^\s*(\w+)\s*(>=|<=|!=|=|>|<)\s*("([^"]*)"|\'([^\']*)\'|(\S+))\s*$')


def parse_jql(jql: str, zone: ZoneInfo) -> tuple[list[tuple[str, str, Any]], list[tuple[str, bool]]]:
    """JQL's AND-joined clauses (field, operator, value) and ORDER BY terms (field, descending)."""
    found = re.search(r"\border\s+by\b", jql, re.I)
    where, order_text = (jql[:found.start()], jql[found.end():]) if found else (jql, "")
    clauses: list[tuple[str, str, Any]] = []
    for part in re.split(r"\s+AND\s+", where.strip(), flags=re.I) if where.strip() else []:
        m = _CLAUSE.match(part)
        if not m:
            raise JqlError(f"Error in the JQL Query: the clause '{part.strip()}' is not supported here.")
        field, op = m.group(1).lower(), m.group(2)
        literal = next(g for g in (m.group(4), m.group(5), m.group(6)) if g is not None)
        if field in ("updated", "created"):
            for fmt in _DATE_FORMATS:
                try:
                    clauses.append((field, op, datetime.strptime(literal, fmt).replace(tzinfo=zone)))
                    break
                except ValueError:
                    continue
            else:
                raise JqlError(f"Date value '{literal}' for field '{field}' is invalid. Valid formats include: "
                               "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
                               "format e.g. '-5d', '4w 2d'.")
        elif field == "project":
            clauses.append((field, op, literal))
        else:
            raise JqlError(f"Field '{field}' does not exist or you do not have permission to view it.")
    order: list[tuple[str, bool]] = []
    for term in order_text.split(",") if order_text.strip() else []:
        words = term.split()
        order.append((words[0].lower(), len(words) > 1 and words[1].upper() == "DESC"))
    return clauses, order


_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
        "=": lambda a, b: a == b, "!=": lambda a, b: a != b}


class JiraApi(Api):
    prefix = PREFIX

    def __init__(self, world: World, *, user_timezone: str = "UTC", base_url: str = "https://trust.atlassian.net",
                 rate_limit: float | None = None, deployment: Literal["cloud", "data_center"] = "cloud") -> None:
        super().__init__()
        self.deployment = deployment
        self.world, self.zone, self.base_url = world, ZoneInfo(user_timezone), base_url
        self.rate_limit = rate_limit
        self._cache: tuple[datetime, list[tuple[datetime, int, dict[str, Any]]], list[tuple[datetime, int]]] | None \
            = None
        self._lock_table = threading.Lock()
        self._updates: dict[int, datetime] = {}
        self._after_request: list[tuple[int, Callable[[], None]]] = []
        self._served = 0

    # -- test hooks -----------------------------------------------------------------------------------

    def update(self, key: str, when: datetime | None = None) -> None:
        """Change an issue now (a comment): its `updated` moves to the clock and it moves to the end."""
        with self._lock_table:
            self._updates[int(key.rsplit("-", 1)[1])] = when or self.world.clock
            self._cache = None

    def after_requests(self, count: int, action: Callable[[], None]) -> None:
        """Run `action` once the search has answered `count` more requests (a change between two pages)."""
        with self._lock_table:
            self._after_request.append((self._served + count, action))

    def current_versions(self) -> dict[str, datetime]:
        """Issue key → its `updated` now, to compare a warehouse with."""
        rows, _ = self.table()
        return {r[2]["key"]: r[0] for r in rows}

    # -- data -----------------------------------------------------------------------------------------

    def table(self) -> tuple[list[tuple[datetime, int, dict[str, Any]]], list[tuple[datetime, int]]]:
        """(updated, number, issue) sorted by update then number, and the sort keys for bisecting."""
        clock = self.world.clock
        with self._lock_table:
            if self._cache is None or self._cache[0] != clock:
                rows = sorted((self._updated(self.issue(t), issue_number(t.event.source_record_id))
                               for t in current_tickets(self.world, "jira")), key=lambda r: (r[0], r[1]))
                self._cache = (clock, rows, [(r[0], r[1]) for r in rows])
            return self._cache[1], self._cache[2]

    def _updated(self, issue: dict[str, Any], number: int) -> tuple[datetime, int, dict[str, Any]]:
        """(updated, number, issue), with a test's later change applied."""
        updated = datetime.strptime(issue["fields"]["updated"], JIRA_TIME)
        if number in self._updates and self._updates[number] > updated:
            when = self._updates[number]
            issue = {**issue, "fields": {**issue["fields"], "updated": self._time(when)}}
        return datetime.strptime(issue["fields"]["updated"], JIRA_TIME), number, issue

    def _time(self, value: datetime | None) -> str | None:
        return value.astimezone(self.zone).strftime(JIRA_TIME) if value else None

    def issue(self, ticket: TicketVersion) -> dict[str, Any]:
        e = ticket.event
        p = e.payload
        number = issue_number(e.source_record_id)
        issue_id = str(10_000 + number)
        name, category = STATUSES[p.status]
        cat_id, cat_key, cat_name, colour = _CATEGORIES[category]
        ident = self.world.identity(p.person.pseudonym)
        reporter: dict[str, Any] = {
            "self": f"{self.base_url}/rest/api/2/user?accountId={account_id(p.person.pseudonym)}",
            "accountId": account_id(p.person.pseudonym), "avatarUrls": avatar_urls(ident.display_name),
            "displayName": ident.display_name, "active": True, "timeZone": "Europe/London",
            "accountType": "customer"}
        if not email_hidden(p.person.pseudonym):
            reporter["emailAddress"] = ident.email
        done = category == "done"
        resolution = None
        if done:
            resolution = {"id": "10001" if p.status == "cancelled" else "10000",
                          "name": "Won't Do" if p.status == "cancelled" else "Done"}
        request_type_id = str(hashlib.sha1(p.category.encode()).digest()[0] % 90 + 10)  # noqa: S324
        fields: dict[str, Any] = {
            "summary": p.summary,
            "issuetype": {"id": "10002", "name": "[System] Service request", "subtask": False},
            "project": {"id": "10000", "key": PROJECT, "name": "IT Service Desk"},
            "created": self._time(p.opened_at),
            "updated": self._time(p.updated_at),
            "resolutiondate": self._time(p.resolved_at or p.updated_at) if done else None,
            "resolution": resolution,
            "status": {"self": f"{self.base_url}/rest/api/2/status/1", "description": "", "name": name,
                       "id": str(10_000 + list(STATUSES).index(p.status)),
                       "statusCategory": {"self": f"{self.base_url}/rest/api/2/statuscategory/{cat_id}",
                                          "id": int(cat_id), "key": cat_key, "colorName": colour, "name": cat_name}},
            "priority": {"self": f"{self.base_url}/rest/api/2/priority/{p.priority}", "name": PRIORITIES[p.priority],
                         "id": str(p.priority)},
            "reporter": reporter,
            "creator": reporter,
            "assignee": None,
            "components": [{"self": f"{self.base_url}/rest/api/2/component/100", "id": "100",
                            "name": p.person.system}],
            "labels": [],
            REQUEST_TYPE_FIELD: {
                "_links": {"jiraRest": f"{self.base_url}/rest/api/2/issue/{issue_id}"},
                "requestType": {"id": request_type_id, "name": p.category, "description": "",
                                "issueTypeId": "10002", "serviceDeskId": "1", "groupIds": ["1"]},
                "currentStatus": {"status": name, "statusCategory": cat_key.upper(),
                                  "statusDate": {"iso8601": self._time(p.updated_at)}}},
            SATISFACTION_FIELD: {"rating": p.satisfaction} if p.satisfaction and done else None,
        }
        return {"expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
                "id": issue_id, "self": f"{self.base_url}/rest/api/2/issue/{issue_id}",
                "key": f"{PROJECT}-{number}", "fields": fields}

    # -- requests -------------------------------------------------------------------------------------

    def authorise(self, request: Request) -> Response | None:
        expected = "Basic " + base64.b64encode(f"{EMAIL}:{API_TOKEN}".encode()).decode()
        if request.headers.get("authorization") == expected:
            return None
        return Response(401, {"errorMessages": ["You are not authenticated. Authentication required to perform "
                                                "this operation."], "errors": {}},
                        {"WWW-Authenticate": 'Basic realm="protected-area"'})

    def handle(self, request: Request) -> Response:
        try:
            return self._search(request)
        finally:
            with self._lock_table:
                self._served += 1
                due = [action for at, action in self._after_request if at <= self._served]
                self._after_request = [(at, action) for at, action in self._after_request if at > self._served]
            for action in due:
                action()

    def _search(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        enhanced = path in SEARCH_JQL_PATHS and self.deployment == "cloud"
        if request.method != "GET" or not (enhanced or path == SEARCH_PATH):
            return Response(404, {"errorMessages": ["null for uri: " + request.path], "errors": {}})
        if path == SEARCH_PATH and self.deployment == "cloud":
            return Response(410, {"errorMessages": [REMOVED], "errors": {}})
        try:
            clauses, order = parse_jql(request.arg("jql") or "", self.zone)
        except JqlError as exc:
            return Response(400, {"errorMessages": [str(exc)], "errors": {}, "warningMessages": []})
        rows, keys = self.table()
        lo, hi = 0, len(rows)
        rest = []
        for field, op, value in clauses:
            if field == "updated" and op in (">=", ">"):
                at = (bisect_left if op == ">=" else bisect_right)(keys, (value, -1 if op == ">=" else 1 << 62))
                lo = max(lo, at)
            else:
                rest.append((field, op, value))
        selected = rows[lo:hi]
        for field, op, value in rest:
            if field == "project":
                selected = [r for r in selected if _OPS[op](PROJECT.lower(), value.lower())]
            else:
                selected = [r for r in selected
                            if _OPS[op](r[0] if field == "updated" else _created(r[2]), value)]
        for field, descending in reversed(order):
            if field == "key":
                selected = sorted(selected, key=lambda r: r[1], reverse=descending)
            elif field in ("updated", "created"):
                selected = sorted(selected, key=lambda r: r[0] if field == "updated" else _created(r[2]),
                                  reverse=descending)
        limit = max(0, min(request.int_arg("maxResults", 50), MAX_RESULTS))
        if enhanced:
            return self._enhanced_page(request, selected, limit)
        start = max(0, request.int_arg("startAt", 0))
        wanted = [f.strip() for f in (request.arg("fields") or "*navigable").split(",") if f.strip()]
        issues = [self._select(r[2], wanted) for r in selected[start:start + limit]]
        return Response(200, {"expand": "schema,names", "startAt": start, "maxResults": limit,
                              "total": len(selected), "issues": issues})

    def _enhanced_page(self, request: Request, selected: list[Any], limit: int) -> Response:
        """Enhanced search: the token names the query and the offset; ids only unless fields are asked for."""
        jql = request.arg("jql") or ""
        token = request.arg("nextPageToken")
        start = 0
        if token:
            try:
                query, offset = base64.urlsafe_b64decode(token.encode()).decode().split("|", 1)
                start = int(offset)
            except (ValueError, UnicodeDecodeError):
                query = ""
            if query != hashlib.sha256(jql.encode()).hexdigest()[:16]:
                return Response(400, {"errorMessages": ["The provided next page token is invalid or expired."],
                                      "errors": {}})
        wanted = [f.strip() for f in (request.arg("fields") or "id").split(",") if f.strip()]
        page = selected[start:start + limit]
        issues = [{"id": r[2]["id"]} if wanted == ["id"] else self._select(r[2], wanted) for r in page]
        body: dict[str, Any] = {"issues": issues, "isLast": start + len(page) >= len(selected)}
        if not body["isLast"]:
            mark = f"{hashlib.sha256(jql.encode()).hexdigest()[:16]}|{start + len(page)}"
            body["nextPageToken"] = base64.urlsafe_b64encode(mark.encode()).decode()
        return Response(200, body)

    @staticmethod
    def _select(issue: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
        if any(w in ("*all", "*navigable") for w in wanted):
            return issue
        fields = issue["fields"]
        return {**issue, "fields": {w: fields[w] for w in wanted if w in fields}}

    def webhook_delivery(self, key: str, event: str = "jira:issue_updated",
                         at: datetime | None = None) -> dict[str, Any]:
        """The JSON body Jira POSTs to a registered webhook for the issue's current version, sent `at` (default:
        the issue's last update). A deleted issue's body carries the issue as it was, and no changelog."""
        rows, _ = self.table()
        issue = next(r[2] for r in rows if r[2]["key"] == key)
        updated = datetime.strptime(issue["fields"]["updated"], JIRA_TIME)
        body: dict[str, Any] = {
            "timestamp": int((at or updated).timestamp() * 1000), "webhookEvent": event,
            "issue_event_type_name": {"jira:issue_created": "issue_created",
                                      "jira:issue_deleted": "issue_deleted"}.get(event, "issue_generic"),
            "user": {"self": f"{self.base_url}/rest/api/2/user?accountId=5b10ac8d82e05b22cc7d4ef5",
                     "accountId": "5b10ac8d82e05b22cc7d4ef5", "avatarUrls": avatar_urls("Service Desk Agent"),
                     "displayName": "Service Desk Agent", "active": True, "timeZone": "Europe/London",
                     "accountType": "atlassian"},
            "issue": issue}
        if event != "jira:issue_deleted":
            body["changelog"] = {"id": str(int(updated.timestamp())),
                                 "items": [{"field": "status", "fieldtype": "jira", "fieldId": "status",
                                            "from": None, "fromString": None, "to": issue["fields"]["status"]["id"],
                                            "toString": issue["fields"]["status"]["name"]}]}
        return body


def _created(issue: dict[str, Any]) -> datetime:
    return datetime.strptime(issue["fields"]["created"], JIRA_TIME).astimezone(UTC)


ENV = {"JIRA_EMAIL": EMAIL, "JIRA_API_TOKEN": API_TOKEN}


def source_config(root: str) -> dict[str, Any]:
    """The `sources:` entry for this simulator served at `root` (http://127.0.0.1:PORT), with ENV exported."""
    return {"type": "jira", "base_url": root + PREFIX, "page_size": 100,
            "auth": {"type": "basic", "username_env": "JIRA_EMAIL", "password_env": "JIRA_API_TOKEN"},
            "options": {"jql": f"project = {PROJECT}", "satisfaction_field": SATISFACTION_FIELD}}


def apis(world: World) -> list[Api]:
    return [JiraApi(world)]


WEBHOOK_SECRET = "sim-jira-webhook-secret-8d2e61b0"
WEBHOOK_ENV = {"JIRA_WEBHOOK_SECRET": WEBHOOK_SECRET}


def hub_signature(secret: bytes, body: bytes) -> str:
    """`X-Hub-Signature` as Jira Cloud sends it: WebSub's `sha256=` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class JiraDelivery:
    identifier: str
    body: bytes


class JiraWebhookSender:
    """Posts webhook bodies to one URL as Jira Cloud does, retrying a failed delivery with the same identifier."""

    def __init__(self, url: str, secret: str = WEBHOOK_SECRET, *, retries: int = 5,
                 backoff_seconds: float = 0.05) -> None:
        self.url, self.secret, self.retries, self.backoff = url, secret.encode(), retries, backoff_seconds
        self.client = httpx.Client(timeout=30.0)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> JiraWebhookSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def delivery(body: dict[str, Any]) -> JiraDelivery:
        """One delivery of a body: a fresh identifier, the body serialised once (it is signed as sent)."""
        return JiraDelivery(str(uuid.uuid4()), json.dumps(body, separators=(",", ":")).encode())

    def headers(self, item: JiraDelivery, retry: int = 0) -> dict[str, str]:
        headers = {"Content-Type": "application/json; charset=UTF-8", "User-Agent": "Atlassian Webhook HTTP Client",
                   "X-Atlassian-Webhook-Identifier": item.identifier, "X-Atlassian-Webhook-Flow": "Primary",
                   "X-Hub-Signature": hub_signature(self.secret, item.body)}
        if retry:
            headers["X-Atlassian-Webhook-Retry"] = str(retry)
        return headers

    def post(self, item: JiraDelivery, *, retry: int = 0, headers: dict[str, str] | None = None,
             body: bytes | None = None) -> httpx.Response:
        """One attempt; tests pass their own `headers` or `body` to tamper with it."""
        return self.client.post(self.url, content=item.body if body is None else body,
                                headers=headers if headers is not None else self.headers(item, retry))

    def deliver(self, item: JiraDelivery) -> httpx.Response:
        """Attempts until a 2xx, an answer Jira does not retry (4xx other than 408/429), or retries run out."""
        for attempt in range(self.retries + 1):
            response = self.post(item, retry=attempt)
            if response.is_success or response.status_code < 500 and response.status_code not in (408, 429) \
                    or attempt == self.retries:
                return response
            time.sleep(self.backoff * 2 ** attempt)
        return response


def webhook_source_config(pull_source: str | None = "jira") -> dict[str, Any]:
    """The `sources:` entry receiving this site's webhooks (secret in WEBHOOK_ENV), mapped as `source_config`."""
    return {"type": "jira_webhook", "options": {"pull_source": pull_source, "secret_env": "JIRA_WEBHOOK_SECRET",
                                                "satisfaction_field": SATISFACTION_FIELD}}
