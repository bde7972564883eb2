"""A ServiceNow instance's Table API for the `incident` table, as `GET /api/now/table/incident` answers.

What it reproduces: basic auth (user `realise.integration`, password `sim-password`; anything else gets the
Table API's 401 body), every value as a string, `sysparm_display_value` false / true / all (labels such as
"2 - High" and "Resolved"; `all` gives `{"display_value", "value"}` objects), date-times stored in UTC as
"2026-12-06 14:05:09" and displayed as the integration user's profile says (its time zone, date format and
time format, SimpleDateFormat patterns defaulting to the instance's yyyy-MM-dd and HH:mm:ss, so
"06/12/2026 02:05:09 PM" for dd/MM/yyyy and hh:mm:ss a), reference fields as
`{"link", "value"}` unless `sysparm_exclude_reference_link=true`, dot-walked `sysparm_fields` such as
`caller_id.email`, unknown field names silently left out, `sysparm_limit` / `sysparm_offset` with the
X-Total-Count and Link headers, and the encoded-query subset incremental readers use: `field>=value`
(and > < <= = !=) joined by `^`, alternatives joined by `^NQ`, `ORDERBY` / `ORDERBYDESC`. As on a real
instance, a condition on a field the table does not have is ignored rather than refused.

The table holds the current state of each ticket the world gives ServiceNow (its share of `HELPDESK_SHARES`).
`update(number)` changes a ticket now (a work note: `sys_updated_on` moves to the clock, `sys_mod_count` goes
up), which is how tests move a record between pages.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from schemas.events import Event, Kind
from simulator.server import Api, Request, Response
from simulator.world import World

PREFIX = "/servicenow"
USERNAME = "realise.integration"
PASSWORD = "sim-password"
TABLE_PATH = "/api/now/table/incident"
MAX_LIMIT = 10_000  # the instance's glide.json.query.max_records default

# How the simulated trust's tickets are spread across its three help desks.
HELPDESK_SHARES = {"servicenow": 0.6, "jira": 0.25, "zendesk": 0.15}

STATES = {"new": ("1", "New"), "in_progress": ("2", "In Progress"), "pending": ("3", "On Hold"),
          "resolved": ("6", "Resolved"), "closed": ("7", "Closed"), "cancelled": ("8", "Canceled")}
PRIORITIES = {1: "1 - Critical", 2: "2 - High", 3: "3 - Moderate", 4: "4 - Low", 5: "5 - Planning"}
# Choice values behind the trust's incident categories (labels are the category names people see).
CATEGORY_VALUES = {"How do I / training": "inquiry", "Access / login": "access", "Defect / error": "software",
                   "Hardware / printer": "hardware", "Performance": "performance"}
SATISFACTION_FIELD = "u_satisfaction"  # the trust's custom survey-score column on incident
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


@dataclass(frozen=True)
class TicketVersion:
    """A ticket as a system that keeps only current state shows it: its newest version and how many came before."""

    event: Event
    versions: int


def current_tickets(world: World, system: str) -> list[TicketVersion]:
    """The current version of each ticket `system` holds at the world's clock, oldest change first."""
    latest: dict[str, Event] = {}
    counts: dict[str, int] = {}
    for event in world.visible(Kind.HELPDESK_TICKET, system, HELPDESK_SHARES):
        latest[event.source_record_id] = event
        counts[event.source_record_id] = counts.get(event.source_record_id, 0) + 1
    return [TicketVersion(e, counts[rid]) for rid, e in sorted(latest.items(), key=lambda kv: kv[1].occurred_at)]


def sys_id(number: str) -> str:
    return hashlib.md5(f"incident:{number}".encode()).hexdigest()  # noqa: S324 - an id, not a secret


def user_sys_id(pseudonym: str) -> str:
    return hashlib.md5(f"sys_user:{pseudonym}".encode()).hexdigest()  # noqa: S324


def snow_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime(TIME_FORMAT) if value else ""


def simple_date_format(value: datetime, pattern: str) -> str:
    """`value` written with a java.text.SimpleDateFormat pattern, as a user's date or time format is: y (yy: two
    digits), M (MMM and MMMM: the month's name), d, H (0-23), h (1-12), m, s, a (AM/PM), text in quotes."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        letter = pattern[i]
        if letter == "'":  # quoted text; '' is a quote, inside quotes or out
            if pattern.startswith("''", i):
                out.append("'")
                i += 2
                continue
            i += 1
            while i < len(pattern) and (pattern[i] != "'" or pattern.startswith("''", i)):
                out.append(pattern[i])
                i += 2 if pattern.startswith("''", i) else 1
            i += 1
            continue
        run = len(pattern[i:]) - len(pattern[i:].lstrip(letter))
        out.append(_pattern_field(value, letter, run) if letter.isalpha() else pattern[i:i + run])
        i += run
    return "".join(out)


def _pattern_field(value: datetime, letter: str, width: int) -> str:
    if letter == "y":
        return f"{value.year % 100:02d}" if width == 2 else f"{value.year:0{width}d}"
    if letter == "M" and width >= 3:
        return MONTHS[value.month - 1] if width >= 4 else MONTHS[value.month - 1][:3]
    if letter == "a":
        return "AM" if value.hour < 12 else "PM"
    numbers = {"M": value.month, "d": value.day, "H": value.hour, "h": value.hour % 12 or 12, "m": value.minute,
               "s": value.second}
    if letter not in numbers:
        raise ValueError(f"the simulator does not write pattern letter {letter!r}")
    return f"{numbers[letter]:0{width}d}"


def expected_ids(world: World) -> set[str]:
    """Incident numbers the simulated instance holds now (they are the world's record ids)."""
    return {t.event.source_record_id for t in current_tickets(world, "servicenow")}


# -------------------------------------------------------------------------------------- encoded queries

_OPERATORS = (">=", "<=", "!=", ">", "<", "=")


def parse_query(query: str) -> tuple[list[list[tuple[str, str, str]]], list[tuple[str, bool]]]:
    """An encoded query as OR-groups of AND-conditions (field, operator, value) and the ORDERBY terms."""
    groups: list[list[tuple[str, str, str]]] = []
    order: list[tuple[str, bool]] = []
    for part in query.split("^NQ") if query else []:
        conditions = []
        for term in part.split("^"):
            if not term or term == "EQ":
                continue
            if term.startswith("ORDERBYDESC"):
                order.append((term[11:], True))
                continue
            if term.startswith("ORDERBY"):
                order.append((term[7:], False))
                continue
            for op in _OPERATORS:
                field, found, value = term.partition(op)
                if found and field:
                    conditions.append((field, op, value))
                    break
        groups.append(conditions)
    return groups, order


_COMPARE: dict[str, Callable[[str, str], bool]] = {
    ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


def _numeric(field: str) -> bool:
    return field in ("sys_mod_count", "reopen_count", "priority", "state", "incident_state")


def matches(row: dict[str, str], groups: list[list[tuple[str, str, str]]]) -> bool:
    """Whether a row's values satisfy any of the OR-groups (no groups: every row)."""
    if not groups:
        return True
    for conditions in groups:
        ok = True
        for field, op, value in conditions:
            if field not in row:  # an invalid condition is dropped, as the instance does by default
                continue
            have = row[field]
            if _numeric(field) and have.lstrip("-").isdigit() and value.lstrip("-").isdigit():
                ok = _COMPARE[op](int(have), int(value))  # type: ignore[arg-type]
            else:
                ok = _COMPARE[op](have, value)
            if not ok:
                break
        if ok:
            return True
    return False


# ------------------------------------------------------------------------------------------------- the API


class ServiceNowApi(Api):
    prefix = PREFIX

    def __init__(self, world: World, *, user_timezone: str = "UTC", user_date_format: str = "yyyy-MM-dd",
                 user_time_format: str = "HH:mm:ss", base_url: str = "https://trust.service-now.com",
                 rate_limit: float | None = None, hidden: set[str] | None = None) -> None:
        """`user_*`: the integration user's profile, which display values follow (defaults: the instance's).
        `hidden`: incident numbers an access rule hides from the integration user. As on an instance, they
        are removed from a page after the limit is applied, so a page can come back short (or empty) while
        X-Total-Count and the Link header still count them."""
        super().__init__()
        self.hidden = hidden or set()
        self.world, self.zone, self.base_url = world, ZoneInfo(user_timezone), base_url
        self.date_format, self.time_format = user_date_format, user_time_format
        self.rate_limit = rate_limit
        self._cache: tuple[datetime, list[tuple[dict[str, str], dict[str, Any]]]] | None = None
        self._updates: dict[str, tuple[datetime, int]] = {}
        self._after_request: list[tuple[int, Callable[[], None]]] = []
        self._served = 0
        self._table_lock = threading.Lock()

    # -- test hooks -----------------------------------------------------------------------------------

    def update(self, number: str, when: datetime | None = None) -> None:
        """Change a ticket now (a work note): it moves to the end of the sys_updated_on order."""
        with self._table_lock:
            _, extra = self._updates.get(number, (self.world.clock, 0))
            self._updates[number] = (when or self.world.clock, extra + 1)
            self._cache = None

    def after_requests(self, count: int, action: Callable[[], None]) -> None:
        """Run `action` once the table has answered `count` more requests (a change between two pages)."""
        with self._table_lock:
            self._after_request.append((self._served + count, action))

    def current_versions(self) -> dict[str, datetime]:
        """Incident number → its sys_updated_on now, to compare a warehouse with."""
        return {values["number"]: datetime.strptime(values["sys_updated_on"], TIME_FORMAT).replace(tzinfo=UTC)
                for values, _ in self.rows() if values["number"] not in self.hidden}

    # -- data -----------------------------------------------------------------------------------------

    def rows(self) -> list[tuple[dict[str, str], dict[str, Any]]]:
        """The incident table at the world's clock: (each field's value, each field's (value, display value))."""
        clock = self.world.clock
        with self._table_lock:
            if self._cache is not None and self._cache[0] == clock:
                return self._cache[1]
            rows = [self._row(t) for t in current_tickets(self.world, "servicenow")]
            table = [({k: v[0]["sys_id"] if isinstance(v[0], dict) else v[0] for k, v in r.items()}, r) for r in rows]
            table.sort(key=lambda fr: (fr[0]["sys_updated_on"], fr[0]["sys_id"]))
            self._cache = (clock, table)
            return table

    def _row(self, ticket: TicketVersion) -> dict[str, Any]:
        e = ticket.event
        p = e.payload
        number = e.source_record_id
        updated, mods = p.updated_at, ticket.versions - 1
        if number in self._updates:  # a test's change, unless the world has changed the ticket since
            when, extra = self._updates[number]
            updated, mods = max(updated, when), mods + extra
        ident = self.world.identity(p.person.pseudonym)
        state, state_label = STATES[p.status]
        category = CATEGORY_VALUES.get(p.category, p.category.lower())
        user = user_sys_id(p.person.pseudonym)

        def t(value: datetime | None) -> tuple[str, str]:
            return snow_time(value), self.display_time(value) if value else ""

        closed = p.resolved_at if p.status in ("resolved", "cancelled") else None
        return {
            "sys_id": (sys_id(number), sys_id(number)),
            "number": (number, number),
            "sys_class_name": ("incident", "Incident"),
            "sys_created_on": t(p.opened_at),
            "sys_created_by": (ident.username, ident.username),
            "sys_updated_on": t(updated),
            "sys_updated_by": ("it.agent", "it.agent"),
            "sys_mod_count": (str(mods), str(mods)),
            "opened_at": t(p.opened_at),
            "resolved_at": t(p.resolved_at),
            "closed_at": t(closed if p.status == "closed" else None),
            "state": (state, state_label),
            "incident_state": (state, state_label),
            "active": ("false" if p.status in ("resolved", "closed", "cancelled") else "true",
                       "false" if p.status in ("resolved", "closed", "cancelled") else "true"),
            "priority": (str(p.priority), PRIORITIES[p.priority]),
            "category": (category, p.category),
            "subcategory": ("", ""),
            "short_description": (p.summary or "", p.summary or ""),
            "reopen_count": (str(p.reopen_count), str(p.reopen_count)),
            SATISFACTION_FIELD: (str(p.satisfaction or ""), str(p.satisfaction or "")),
            "caller_id": ({"table": "sys_user", "sys_id": user}, ident.display_name),
            "caller_id.email": (ident.email, ident.email),
            "caller_id.user_name": (ident.username, ident.username),
            "caller_id.employee_number": (ident.employee_number, ident.employee_number),
            "location": ("", ""),
            "u_org_unit": (p.person.org_unit, self.world.unit_name(p.person.org_unit)),
        }

    def display_time(self, value: datetime) -> str:
        """A date-time as the integration user sees it: their date format, a space, their time format."""
        local = value.astimezone(self.zone)
        return f"{simple_date_format(local, self.date_format)} {simple_date_format(local, self.time_format)}"

    # -- requests -------------------------------------------------------------------------------------

    def authorise(self, request: Request) -> Response | None:
        expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        if request.headers.get("authorization") == expected:
            return None
        return Response(401, {"error": {"message": "User Not Authenticated",
                                        "detail": "Required to provide Auth information"}, "status": "failure"},
                        {"WWW-Authenticate": 'Basic realm="Service-now"'})

    def handle(self, request: Request) -> Response:
        if request.method != "GET":
            return Response(405, {"error": {"message": "Method not Supported", "detail": request.method},
                                  "status": "failure"})
        if request.path.rstrip("/") != TABLE_PATH:
            if request.path.startswith("/api/now/table/"):
                table = request.path.rsplit("/", 1)[-1]
                return Response(400, {"error": {"message": "Invalid table " + table, "detail": None},
                                      "status": "failure"})
            return Response(400, {"error": {"message": "Requested URI does not represent any resource",
                                            "detail": None}, "status": "failure"})
        try:
            return self._table(request)
        finally:
            self._run_hooks()

    def _run_hooks(self) -> None:
        with self._table_lock:
            self._served += 1
            due = [action for at, action in self._after_request if at <= self._served]
            self._after_request = [(at, action) for at, action in self._after_request if at > self._served]
        for action in due:
            action()

    def _table(self, request: Request) -> Response:
        display = (request.arg("sysparm_display_value") or "false").lower()
        exclude_links = (request.arg("sysparm_exclude_reference_link") or "false").lower() == "true"
        limit = max(1, min(request.int_arg("sysparm_limit", MAX_LIMIT), MAX_LIMIT))
        offset = max(0, request.int_arg("sysparm_offset", 0))
        fields_arg = request.arg("sysparm_fields")
        query = request.arg("sysparm_query") or ""
        groups, order = parse_query(query)
        rows = [fr for fr in self.rows() if matches(fr[0], groups)]
        for field, descending in reversed(order):
            if rows and field in rows[0][0]:
                rows.sort(key=lambda fr, f=field: _sort_key(fr[0], f), reverse=descending)
        total = len(rows)
        page = [row for values, row in rows[offset:offset + limit] if values["number"] not in self.hidden]
        fields = [f.strip() for f in fields_arg.split(",") if f.strip()] if fields_arg else None
        result = [self._render(r, fields, display, exclude_links) for r in page]
        headers = {"X-Total-Count": str(total), "Link": self._links(request, offset, limit, total)}
        return Response(200, {"result": result}, headers)

    def _render(self, row: dict[str, Any], fields: list[str] | None, display: str,
                exclude_links: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        names = fields if fields is not None else [f for f in row if "." not in f]
        for name in names:
            if name not in row:
                continue  # unknown fields are left out without an error
            value, label = row[name]
            if isinstance(value, dict):  # a reference
                link = f"{self.base_url}/api/now/table/{value['table']}/{value['sys_id']}"
                if display == "all":
                    out[name] = {"display_value": label, "value": value["sys_id"]} | (
                        {} if exclude_links else {"link": link})
                elif display == "true":
                    out[name] = label if exclude_links else {"display_value": label, "link": link}
                else:
                    out[name] = value["sys_id"] if exclude_links else {"value": value["sys_id"], "link": link}
            elif display == "all":
                out[name] = {"display_value": label, "value": value}
            else:
                out[name] = label if display == "true" else value
        return out

    def _links(self, request: Request, offset: int, limit: int, total: int) -> str:
        def url(at: int) -> str:
            params = {k: v[0] for k, v in request.query.items()} | {"sysparm_offset": str(at),
                                                                    "sysparm_limit": str(limit)}
            return f"<{self.base_url}{TABLE_PATH}?{urlencode(params)}>"

        last = max(0, (total - 1) // limit * limit)
        links = [f'{url(0)};rel="first"']
        if offset > 0:
            links.append(f'{url(max(0, offset - limit))};rel="prev"')
        if offset + limit < total:
            links.append(f'{url(offset + limit)};rel="next"')
        links.append(f'{url(last)};rel="last"')
        return ",".join(links)


def _sort_key(row: dict[str, str], field: str) -> Any:
    value = row[field]
    return int(value) if _numeric(field) and value.lstrip("-").isdigit() else value


ENV = {"SERVICENOW_USER": USERNAME, "SERVICENOW_PASSWORD": PASSWORD}


def source_config(root: str) -> dict[str, Any]:
    """The `sources:` entry for this simulator served at `root` (http://127.0.0.1:PORT), with ENV exported."""
    return {"type": "servicenow", "base_url": root + PREFIX, "page_size": 1000,
            "auth": {"type": "basic", "username_env": "SERVICENOW_USER", "password_env": "SERVICENOW_PASSWORD"},
            "options": {"satisfaction_field": SATISFACTION_FIELD}}


def apis(world: World) -> list[Api]:
    return [ServiceNowApi(world)]
