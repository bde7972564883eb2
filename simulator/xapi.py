"""A Learning Record Store's statements resource (xAPI 1.0.3) holding the simulated trust's e-learning.

Wire format as the spec and common LRSs have it:
- every resource below the LRS endpoint, `/lrs/xapi/` by default or any other (`/data/xAPI/` as Learning
  Locker has it); paths are case-sensitive, so `/data/xapi/statements` is not found there;
- `GET <endpoint>statements` with `since` (exclusive), `until`, `limit` (0 or above the maximum → 1000),
  `ascending` (default false: newest first), `verb`, `activity`; other parameters are refused with 400;
- `X-Experience-API-Version` is required on every request (400 without it) and echoed on every answer,
  with `X-Experience-API-Consistent-Through`;
- HTTP Basic auth with the LRS key and secret (`LRS_KEY` / `LRS_SECRET` below), 401 otherwise;
- `{"statements": [...], "more": "<host-relative IRL or empty>"}` (`<endpoint>statements/more/<token>`, the full
  path as the spec has it); a `more` link names server-side state
  (keyset on stored, id) that expires after `more_ttl` seconds, or at once by `expire_more_links()`, and
  is then answered 404;
- voided statements are hidden from queries; the voiding statement itself is returned;
- errors as `{"errorId": ..., "message": ...}` (Learning Locker's shape).

Which training is here: the go-live EPR course and the optional e-learning; the other go-live courses and
the classroom smartcard session are in the Moodle simulator (`MOODLE_COURSES`). Each training event is one
statement (its id the event's record id), `stored` being the event's ingestion time, plus a `launched`
statement before each attempt, as SCORM/cmi5 players send. A statement is visible once the world's clock
reaches its `stored` time; with `consistency_lag`, half the statements stored within the lag are not
visible yet, and Consistent-Through says so.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import uuid
from bisect import bisect_left, bisect_right
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from schemas.events import Event, Kind, TrainingRecord
from simulator.moodle import MOODLE_COURSES
from simulator.server import Api, Request, Response
from simulator.world import World

PREFIX = "/lrs"
ENDPOINT = PREFIX + "/xapi/"  # the LRS endpoint, below which the statements resource lives
LRS_KEY = "realise-lrs-key"
LRS_SECRET = "realise-lrs-secret"
VERSION = "1.0.3"
HOME_PAGE = "https://learning.example.nhs.uk"
MAX_LIMIT = 1000
ADL = "http://adlnet.gov/expapi/verbs/"
VERB_IRIS = {"enrolled": ADL + "registered", "attempted": ADL + "attempted", "completed": ADL + "completed",
             "passed": ADL + "passed", "failed": ADL + "failed"}
_QUERY_PARAMS = {"statementId", "voidedStatementId", "agent", "verb", "activity", "registration",
                 "related_activities", "related_agents", "since", "until", "limit", "format", "attachments",
                 "ascending"}
_NS = uuid.UUID("0d5a3f4e-6a55-4c1b-9a1e-6f4f2f1f7a10")
_AUTHORITY = {"objectType": "Agent", "name": "Northbridge Learning Hub", "mbox": "mailto:lrs@learning.example.nhs.uk"}


def lrs_holds(event: Event) -> bool:
    """Whether this simulated trust keeps a training event in its LRS (rather than in Moodle)."""
    return cast(TrainingRecord, event.payload).course_id not in MOODLE_COURSES


def course_iri(course_id: str) -> str:
    return f"{HOME_PAGE}/courses/{course_id}"


def stored_text(when: datetime) -> str:
    """`stored` as LRSs write it: UTC, milliseconds, Z."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def iso_duration(seconds: int, style: int = 0) -> str:
    """An ISO 8601 duration in one of the spellings platforms send."""
    if style == 1:
        return f"PT{seconds}S"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if style == 2:
        return f"P0DT{hours}H{minutes}M{secs}.00S"
    text = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    return "PT" + (text or "0S")


def _hash(value: str) -> int:
    return int.from_bytes(hashlib.sha1(value.encode()).digest()[:4], "big")


def statement_of(world: World, event: Event) -> dict[str, Any]:
    """One training event as the statement a training platform would have sent the LRS."""
    p = cast(TrainingRecord, event.payload)
    ident = world.identity(p.person.pseudonym)
    if _hash(p.person.pseudonym) % 10 < 6:
        actor = {"objectType": "Agent", "name": ident.display_name, "mbox": f"mailto:{ident.email}"}
    else:
        actor = {"objectType": "Agent", "name": ident.display_name,
                 "account": {"homePage": HOME_PAGE, "name": ident.username}}
    course = {"objectType": "Activity", "id": course_iri(p.course_id),
              "definition": {"name": {"en-GB": p.course_title},
                             "type": "http://adlnet.gov/expapi/activities/course"}}
    context: dict[str, Any] = {"platform": "Northbridge Learning Hub", "language": "en-GB",
                               "registration": str(uuid.uuid5(_NS, f"{p.person.pseudonym}/{p.course_id}"))}
    obj: dict[str, Any] = course
    if p.module:
        slug = "-".join(p.module.lower().split())
        obj = {"objectType": "Activity", "id": f"{course['id']}/modules/{slug}",
               "definition": {"name": {"en-GB": p.module, "en-US": p.module},
                              "type": "http://adlnet.gov/expapi/activities/module"}}
        context["contextActivities"] = {"parent": [course]}
    result: dict[str, Any] = {}
    if p.score is not None:
        result["score"] = {"scaled": p.score, "raw": round(p.score * 100), "min": 0, "max": 100}
    if p.verb in ("passed", "failed"):
        result["success"] = p.verb == "passed"
    if p.verb in ("completed", "passed"):
        result["completion"] = True
    if p.duration_seconds is not None:
        result["duration"] = iso_duration(p.duration_seconds, _hash(event.source_record_id) % 3)
    occurred = event.occurred_at
    if _hash(event.source_record_id) % 5 == 0:  # a device in British Summer Time sends its local offset
        timestamp = (occurred + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000+01:00")
    else:
        timestamp = stored_text(occurred)
    statement: dict[str, Any] = {
        "id": event.source_record_id, "actor": actor,
        "verb": {"id": VERB_IRIS[p.verb], "display": {"en-GB": p.verb}},
        "object": obj, "context": context, "timestamp": timestamp, "stored": stored_text(event.ingested_at),
        "authority": _AUTHORITY, "version": VERSION,
    }
    if result:
        statement["result"] = result
    return statement


def _launched(statement: dict[str, Any]) -> dict[str, Any]:
    """The `launched` statement a player sends when a learner opens a module (not a training record)."""
    launched = {**statement, "id": str(uuid.uuid5(_NS, statement["id"] + "/launched")),
                "verb": {"id": ADL + "launched", "display": {"en-GB": "launched"}}}
    launched.pop("result", None)
    return launched


def expected_statement_ids(world: World) -> set[str]:
    """Ids of the training statements the LRS holds at the world's clock (the ones the connector maps)."""
    return {e.source_record_id for e in world.events
            if e.kind == Kind.TRAINING_RECORD and lrs_holds(e) and e.ingested_at <= world.clock}


def _error(status: int, message: str, **headers: str) -> Response:
    return Response(status, {"errorId": str(uuid.uuid4()), "warnings": [], "message": message},
                    {"X-Experience-API-Version": VERSION, **headers})


class LrsApi(Api):
    """The LRS at `endpoint` (a path ending in /). `add_statements` stores more (tests: late, voided, odd
    actors); `expire_more_links` forgets every `more` link."""

    prefix = PREFIX

    def __init__(self, world: World, *, endpoint: str = ENDPOINT, more_ttl: float = 600.0,
                 consistency_lag: float = 0.0, max_limit: int = MAX_LIMIT) -> None:
        super().__init__()
        if not endpoint.startswith("/") or not endpoint.endswith("/") or endpoint == "/":
            raise ValueError(f"endpoint {endpoint!r} must be a path of one segment or more, ending in /")
        # The server routes by the first path segment; the rest of the endpoint is this API's own.
        self.endpoint = endpoint
        self.prefix, self._below = "/" + endpoint.split("/")[1], "/" + endpoint.split("/", 2)[2]
        self.world, self.more_ttl, self.consistency_lag, self.max_limit = world, more_ttl, consistency_lag, max_limit
        self._auth = "Basic " + base64.b64encode(f"{LRS_KEY}:{LRS_SECRET}".encode()).decode()
        self._more: dict[str, tuple[dict[str, str], tuple[str, str], float]] = {}
        self._voided: set[str] = set()
        self._rows: list[tuple[str, str, dict[str, Any]]] = []
        self._keys: list[tuple[str, str]] = []
        self._store_lock = threading.Lock()
        statements = []
        for event in world.events:
            if event.kind == Kind.TRAINING_RECORD and lrs_holds(event):
                statement = statement_of(world, event)
                statements.append(statement)
                if cast(TrainingRecord, event.payload).verb == "attempted":
                    statements.append(_launched(statement))
        self.add_statements(statements)

    # -- test hooks ---------------------------------------------------------------------------------

    def add_statements(self, statements: list[dict[str, Any]]) -> None:
        """Store statements (each needs `stored`); voiding statements hide their targets, as an LRS does."""
        with self._store_lock:
            for s in statements:
                if s.get("verb", {}).get("id") == ADL + "voided":
                    self._voided.add(s["object"]["id"])
            rows = self._rows + [(s["stored"], s["id"], s) for s in statements]
            rows.sort(key=lambda r: (r[0], r[1]))
            self._rows, self._keys = rows, [(r[0], r[1]) for r in rows]

    def visible_statements(self) -> list[dict[str, Any]]:
        """Every statement a query would return now, oldest first (voided ones hidden)."""
        until = stored_text(self.world.clock)
        return [s for stored, sid, s in self._rows if stored <= until and sid not in self._voided]

    def expire_more_links(self) -> None:
        with self._store_lock:
            self._more.clear()

    # -- protocol -----------------------------------------------------------------------------------

    def _resource(self, request: Request) -> str | None:
        """The path below the endpoint (`statements`, `about`, ...), or None outside it."""
        if not request.path.startswith(self._below):
            return None
        return request.path[len(self._below):].rstrip("/")

    def authorise(self, request: Request) -> Response | None:
        if self._resource(request) == "about":
            return None
        if request.headers.get("authorization") != self._auth:
            return _error(401, "Unauthorised", **{"WWW-Authenticate": 'Basic realm="LRS"'})
        return None

    def handle(self, request: Request) -> Response:
        path = self._resource(request)
        if path is None:
            return _error(404, f"No resource at {request.path}")
        if path == "about":
            return Response(200, {"version": [VERSION]}, {"X-Experience-API-Version": VERSION})
        if request.headers.get("x-experience-api-version") is None:
            return _error(400, "X-Experience-API-Version header missing")
        if request.method != "GET":
            return _error(405, f"{request.method} is not supported by this simulator")
        if path == "statements":
            unknown = sorted(set(request.query) - _QUERY_PARAMS)
            if unknown:
                return _error(400, f"Unknown parameters: {', '.join(unknown)}")
            params = {k: v[0] for k, v in request.query.items()}
            return self._page(params, None)
        if path.startswith("statements/more/"):
            token = path.rsplit("/", 1)[1]
            with self._store_lock:
                entry = self._more.get(token)
            if entry is None or time.monotonic() - entry[2] > self.more_ttl:
                return _error(404, "The `more` link has expired or does not exist; query again with `since`")
            return self._page(entry[0], entry[1])
        return _error(404, f"No resource at {request.path}")

    def _page(self, params: dict[str, str], after: tuple[str, str] | None) -> Response:
        clock = self.world.clock
        try:
            since = stored_text(_time(params["since"])) if params.get("since") else None
            until = stored_text(_time(params["until"])) if params.get("until") else None
            limit = int(params.get("limit") or 0)
        except ValueError as exc:
            return _error(400, f"Invalid query parameter: {exc}")
        if limit <= 0 or limit > self.max_limit:
            limit = self.max_limit
        ascending = params.get("ascending", "false").lower() == "true"
        visible_until = stored_text(clock)
        consistent = stored_text(clock - timedelta(seconds=self.consistency_lag))
        upper = min(visible_until, until) if until else visible_until
        rows, keys = self._rows, self._keys
        lo = bisect_right(keys, (since, "\uffff")) if since else 0
        hi = bisect_right(keys, (upper, "\uffff"))
        if after is not None:
            if ascending:
                lo = max(lo, bisect_right(keys, after))
            else:
                hi = min(hi, bisect_left(keys, after))
        verb, activity = params.get("verb"), params.get("activity")
        out: list[dict[str, Any]] = []
        last: tuple[str, str] | None = None
        span = range(lo, hi) if ascending else range(hi - 1, lo - 1, -1)
        more = False
        for index in span:
            stored, sid, statement = rows[index]
            if sid in self._voided:
                continue
            if stored > consistent and int(sid[0], 16) % 2:  # still being indexed
                continue
            if verb and statement["verb"]["id"] != verb:
                continue
            if activity and statement["object"].get("id") != activity:
                continue
            if len(out) == limit:
                more = True
                break
            out.append(statement)
            last = (stored, sid)
        link = ""
        if more and last is not None:
            token = secrets.token_urlsafe(12)
            now = time.monotonic()
            with self._store_lock:
                if len(self._more) > 10_000:  # forget links older than their lifetime
                    self._more = {k: v for k, v in self._more.items() if now - v[2] <= self.more_ttl}
                self._more[token] = (params, last, now)
            link = f"{self.endpoint}statements/more/{token}"
        headers = {"X-Experience-API-Version": VERSION, "X-Experience-API-Consistent-Through": consistent}
        return Response(200, {"statements": out, "more": link}, headers)


def _time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


ENV = {"LRS_KEY": LRS_KEY, "LRS_SECRET": LRS_SECRET}


def source_config(root: str, *, endpoint: str = ENDPOINT) -> dict[str, Any]:
    """The `sources:` entry for this simulator served at `root` (http://127.0.0.1:PORT), with ENV exported."""
    return {"type": "xapi", "base_url": root + endpoint, "page_size": 500,
            "auth": {"type": "basic", "username_env": "LRS_KEY", "password_env": "LRS_SECRET"}}


def expected_ids(world: World) -> set[str]:
    return expected_statement_ids(world)


def apis(world: World, **options: Any) -> list[Api]:
    return [LrsApi(world, **options)]
