"""The Google Forms API v1 as the simulated trust's survey team uses it: six forms, one per system and survey.

Served under `/googleforms` (base_url `<root>/googleforms`, standing for https://forms.googleapis.com):
- `POST /token`: the OAuth 2.0 token endpoint standing for https://oauth2.googleapis.com/token. It takes
  Google's service-account grant (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, `assertion` an
  RS256 JWT signed with the simulated service account's key, `service_account_key()`: signature, `iss`, `aud`
  https://oauth2.googleapis.com/token, a Forms scope and at most an hour between `iat` and `exp` are checked,
  each failure answered `400 {"error": "invalid_grant" | "invalid_scope", "error_description"}` as Google
  does); it answers `{"access_token": "ya29...", "expires_in": 3599, "token_type": "Bearer"}`. The fixed
  bearer token STATIC_TOKEN is accepted too.
- `GET /v1/forms/{formId}`: the form (`info`, `settings.emailCollectionType`, `items` with `questionItem`
  and `questionGroupItem` grids); pulse surveys ask their statements as a grid of agree/disagree columns,
  readiness surveys as separate 1-5 linear scales.
- `GET /v1/forms/{formId}/responses?pageSize=&pageToken=&filter=timestamp >= N`: responses ordered by
  response id (not by time), `nextPageToken` while more remain, `formId` left out of listed responses,
  every answer as text, timestamps with 0, 3 or 6 fractional digits. A page token is only accepted with the
  filter it was issued for; `expire_page_tokens()` makes outstanding tokens fail with 400, as a token
  that is no longer valid does.
- `GET /v1/forms/{formId}/responses/{responseId}`.
Errors use Google's body, `{"error": {"code", "message", "status"}}`.

The trust's form responses are split between systems with `assign(record_id, SHARES)`; Google Forms holds
the "googleforms" share. `edit()` re-submits a response (new `lastSubmittedTime`, changed answer).
"""

from __future__ import annotations

import base64
import functools
import gc
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from schemas.events import Event, Kind
from simulator.server import Api, Request, Response
from simulator.world import World

PREFIX = "/googleforms"
SOURCE = "googleforms"
# Form responses across the form tools: Microsoft Forms and CSV exports, Google Forms, signed webhooks.
SHARES = {"msforms": 0.5, "csvdrop": 0.1, "googleforms": 0.25, "webhook": 0.15}
# Google's OAuth 2.0 for server-to-server applications
# (https://developers.google.com/identity/protocols/oauth2/service-account#httprest): the JWT's `aud` and the
# service-account key file's `token_uri` are this URI; the grant type is RFC 7523's JWT bearer grant.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# forms.responses.list (https://developers.google.com/forms/api/reference/rest/v1/forms.responses/list):
# "If unspecified or zero, at most 5000 responses are returned."
MAX_PAGE_SIZE = 5000
STATIC_TOKEN = "ya29.realise-sim-static-token"
SERVICE_ACCOUNT = "realise-forms-reader@realise-sim.iam.gserviceaccount.com"
KEY_ENV = "GOOGLE_FORMS_SERVICE_ACCOUNT"
FORMS_SCOPES = ("https://www.googleapis.com/auth/forms.responses.readonly",
                "https://www.googleapis.com/auth/forms.body.readonly")


@functools.cache
def service_account_key() -> str:
    """The simulated service account's JSON key (a new RSA key per process, as a downloaded key file holds)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return json.dumps({"type": "service_account", "project_id": "realise-sim", "private_key_id": secrets.token_hex(20),
                       "private_key": pem, "client_email": SERVICE_ACCOUNT, "client_id": "104729301846512398765",
                       "token_uri": GOOGLE_TOKEN_URI})


def __getattr__(name: str) -> Any:
    """`ENV`, the credentials the simulated Google accepts, made on first use (the key takes a moment)."""
    if name == "ENV":
        return {KEY_ENV: service_account_key()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

LABELS = {1: "Strongly disagree", 2: "Disagree", 3: "Neither agree nor disagree", 4: "Agree", 5: "Strongly agree"}
# The trust's survey team's wording of its Google forms (agree/disagree statement per item code).
TITLES = {
    "confidence": "I feel confident using the system in my day-to-day work",
    "training_fit": "The training prepared me for how I actually work",
    "system_speed": "The system is fast enough for my work",
    "patient_safety": "The system helps me keep patients safe",
    "would_not_go_back": "I would not want to go back to the old way of working",
    "support_available": "I can get help with the system when I need it",
    "login_reliable": "Logging in to the system is reliable",
    "workflow_fit": "The system fits the way my team works",
    "login_ready": "My login and smartcard access are ready for go-live",
    "time_to_train": "I have been given enough time to complete my training",
}
RECOMMEND_TITLE = "How likely are you to recommend the system to a colleague?"
MINUTES_SAVED_TITLE = "About how many minutes does the system save you per shift? (negative if it costs you time)"
COMMENT_TITLE = "Is there anything else you would like to tell us?"
SYSTEM_NAMES = {"epr": "EPR", "epma": "ePMA", "portal": "Patient Portal"}
_FILTER = re.compile(r"^\s*timestamp\s*(>=|>)\s*(\S+)\s*$")
_ZULU = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


def _zulu_time(text: str) -> datetime:
    """A filter's RFC 3339 UTC "Zulu" time, which Google allows nanosecond precision: microseconds kept."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return moment + timedelta(microseconds=int((fraction or "0").ljust(6, "0")[:6]))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def form_id(code: str) -> str:
    """A Google-style form id (44 characters of letters, digits, - and _) for one of the trust's surveys."""
    return "1" + _b64(hashlib.sha256(f"googleforms:{code}".encode()).digest())[:43]


def question_id(code: str, key: str) -> str:
    return hashlib.sha256(f"{code}:{key}".encode()).hexdigest()[:8]


def response_id(record_id: str) -> str:
    return "ACYDBN" + _b64(hashlib.sha256(f"response:{record_id}".encode()).digest())


def record_id(form_code: str, record: str) -> str:
    """The source_record_id the connector gives a world record served here."""
    return f"{form_code}:{response_id(record)}"


def google_time(moment: datetime) -> str:
    """RFC 3339 as Google writes it: 0, 3 or 6 fractional digits, Z."""
    moment = moment.astimezone(UTC)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond == 0:
        return base + "Z"
    if moment.microsecond % 1000 == 0:
        return f"{base}.{moment.microsecond // 1000:03d}Z"
    return f"{base}.{moment.microsecond:06d}Z"


def _fraction(record: str) -> int:
    """Sub-second part of a submission time: a quarter of responses on the whole second, the rest not."""
    h = int.from_bytes(hashlib.sha1(record.encode()).digest()[:4], "big")
    return 0 if h % 4 == 0 else h % 1_000_000


@dataclass(frozen=True)
class _Row:
    response_id: str
    submitted: datetime
    body: bytes  # the response's JSON, as listed


def _google_error(status: int, code: str, message: str, **headers: str) -> Response:
    return Response(status, {"error": {"code": status, "message": message, "status": code}}, dict(headers))


@functools.cache
def _public_key() -> Any:
    from cryptography.hazmat.primitives import serialization

    key = json.loads(service_account_key())
    return serialization.load_pem_private_key(key["private_key"].encode(), password=None).public_key()


def _refused_assertion(jwt: str) -> Response | None:
    """Google's answer to a service-account JWT it does not accept, or None when it accepts it."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    def grant_error(description: str, error: str = "invalid_grant") -> Response:
        return Response(400, {"error": error, "error_description": description})

    def decoded(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    try:
        header_part, claims_part, signature_part = jwt.split(".")
        claims = json.loads(decoded(claims_part))
        signature = decoded(signature_part)
    except ValueError:
        return grant_error("Invalid JWT: the assertion is not a JWT.")
    try:
        _public_key().verify(signature, f"{header_part}.{claims_part}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return grant_error("Invalid JWT Signature.")
    if claims.get("iss") != SERVICE_ACCOUNT:
        return grant_error("Invalid email or User ID")
    if claims.get("aud") != GOOGLE_TOKEN_URI:
        return grant_error(f"Invalid JWT: Failed audience check. The right audience is {GOOGLE_TOKEN_URI}")
    now = datetime.now(UTC).timestamp()
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int) or exp - iat > 3600 or exp < now or iat > now + 300:
        return grant_error("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                           "timeframe. Check your iat and exp values in the JWT claim.")
    if not set(str(claims.get("scope", "")).split()) & set(FORMS_SCOPES):
        return grant_error("Invalid OAuth scope or ID token audience provided.", "invalid_scope")
    return None


def google_events(world: World) -> list[Event]:
    """The current version of every form response the trust collected with Google Forms."""
    return world.latest(Kind.FORM_RESPONSE, SOURCE, SHARES)


def expected_ids(world: World) -> set[str]:
    return {record_id(e.payload.form_id, e.source_record_id) for e in google_events(world)}  # type: ignore[union-attr]


class GoogleFormsApi(Api):
    prefix = PREFIX

    def __init__(self, world: World, *, collect_emails: bool = True) -> None:
        super().__init__()
        self.world = world
        self.tokens: set[str] = set()
        self.token_generation = 0
        self.edits: dict[str, tuple[datetime, dict[str, str]]] = {}  # world record id → (time, answers)
        self.after_page: Callable[[str, int], None] | None = None  # test hook: (form id, page number served)
        self._cache: dict[tuple[datetime, int], dict[str, list[_Row]]] = {}
        self._cache_lock = threading.Lock()
        self._edit_generation = 0
        codes: dict[str, list[str]] = {}
        minutes: set[str] = set()
        for event in world.events:
            if event.kind != Kind.FORM_RESPONSE:
                continue
            payload = event.payload
            known = codes.setdefault(payload.form_id, [])  # type: ignore[union-attr]
            known.extend(c for c in payload.likert if c not in known)  # type: ignore[union-attr]
            if payload.minutes_saved_per_shift is not None:  # type: ignore[union-attr]
                minutes.add(payload.form_id)  # type: ignore[union-attr]
        order = list(TITLES)
        self.forms: dict[str, dict[str, Any]] = {
            form_id(code): self._form(code, sorted(items, key=order.index), code in minutes, collect_emails)
            for code, items in codes.items()}
        self.codes = {form_id(code): code for code in codes}

    # -- the forms -------------------------------------------------------------------------------------

    @staticmethod
    def _form(code: str, items: list[str], asks_minutes: bool, collect_emails: bool) -> dict[str, Any]:
        system, survey = code.split("-", 1)
        name = SYSTEM_NAMES.get(system, system)
        title = f"{name} post go-live pulse survey" if survey == "pulse" else f"{name} go-live readiness survey"
        body: list[dict[str, Any]] = [{
            "itemId": question_id(code, "intro"), "title": "About this survey",
            "description": "Your answers help the digital team decide where to send support.", "textItem": {}}]
        if survey == "pulse":
            body.append({
                "itemId": question_id(code, "grid"), "title": "How far do you agree with each statement?",
                "questionGroupItem": {
                    "questions": [{"questionId": question_id(code, c), "required": c in items[:6],
                                   "rowQuestion": {"title": TITLES[c]}} for c in items],
                    "grid": {"columns": {"type": "RADIO", "options": [{"value": v} for v in LABELS.values()]}}}})
        else:
            for c in items:
                body.append({"itemId": question_id(code, f"item-{c}"), "title": TITLES[c], "questionItem": {
                    "question": {"questionId": question_id(code, c), "required": True, "scaleQuestion": {
                        "low": 1, "high": 5, "lowLabel": "Strongly disagree", "highLabel": "Strongly agree"}}}})
            body.append({"itemId": question_id(code, "page"), "title": "A little more", "pageBreakItem": {}})
        body.append({"itemId": question_id(code, "item-recommend"), "title": RECOMMEND_TITLE, "questionItem": {
            "question": {"questionId": question_id(code, "recommend"),
                         "scaleQuestion": {"high": 10, "lowLabel": "Not at all likely",
                                           "highLabel": "Extremely likely"}}}})
        if asks_minutes:
            body.append({"itemId": question_id(code, "item-minutes"), "title": MINUTES_SAVED_TITLE,
                         "questionItem": {"question": {"questionId": question_id(code, "minutes"),
                                                       "textQuestion": {}}}})
        body.append({"itemId": question_id(code, "item-comment"), "title": COMMENT_TITLE, "questionItem": {
            "question": {"questionId": question_id(code, "comment"), "textQuestion": {"paragraph": True}}}})
        fid = form_id(code)
        return {
            "formId": fid, "revisionId": "00000017",
            "info": {"title": title, "documentTitle": title,
                     "description": "Two minutes, anonymous to your manager, read by the digital team."},
            "settings": {"emailCollectionType": "VERIFIED" if collect_emails else "DO_NOT_COLLECT"},
            "responderUri": f"https://docs.google.com/forms/d/e/1FAIpQL{fid[1:40]}/viewform",
            "items": body,
        }

    def reorder(self, code: str) -> None:
        """The survey team drags the questions into the opposite order (question ids stay)."""
        form = self.forms[form_id(code)]
        form["items"] = list(reversed(form["items"]))
        for item in form["items"]:
            group = item.get("questionGroupItem")
            if group:
                group["questions"] = list(reversed(group["questions"]))
        self._invalidate()

    def retitle(self, code: str, item_code: str, title: str) -> None:
        """The survey team rewords one statement."""
        for item in self.forms[form_id(code)]["items"]:
            for row in (item.get("questionGroupItem") or {}).get("questions") or []:
                if row["rowQuestion"]["title"] == TITLES[item_code]:
                    row["rowQuestion"]["title"] = title
            if item.get("title") == TITLES[item_code]:
                item["title"] = title

    # -- the responses ---------------------------------------------------------------------------------

    def edit(self, record: str, *, at: datetime | None = None, likert: dict[str, int] | None = None) -> str:
        """A respondent edits a submitted response: new lastSubmittedTime, changed answers. Returns its id."""
        event = next(e for e in google_events(self.world) if e.source_record_id == record)
        payload = event.payload
        code = payload.form_id  # type: ignore[union-attr]
        changes = likert or {c: 1 + v % 5 for c, v in list(payload.likert.items())[:1]}  # type: ignore[union-attr]
        answers = {question_id(code, c): self._likert_value(code, v) for c, v in changes.items()}
        when = (at or self.world.clock) + timedelta(microseconds=250_000)
        previous = self.edits.get(record, (when, {}))[1]
        self.edits[record] = (when, {**previous, **answers})
        self._invalidate()
        return response_id(record)

    def expire_page_tokens(self) -> None:
        self.token_generation += 1

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def _invalidate(self) -> None:
        with self._cache_lock:
            self._edit_generation += 1
            self._cache.clear()

    @staticmethod
    def _likert_value(code: str, value: int) -> str:
        return LABELS[value] if code.endswith("-pulse") else str(value)

    def _minutes_text(self, record: str, minutes: float) -> str:
        whole = f"{minutes:g}"
        variant = int.from_bytes(hashlib.sha1(f"m:{record}".encode()).digest()[:2], "big") % 10
        return f"{whole} mins" if variant == 0 else f"about {whole} minutes" if variant == 1 else whole

    def _response(self, event: Event) -> tuple[datetime, dict[str, Any]]:
        payload = event.payload
        code = payload.form_id  # type: ignore[union-attr]
        record = event.source_record_id
        submitted = event.occurred_at + timedelta(microseconds=_fraction(record))
        created = submitted.replace(microsecond=submitted.microsecond // 1000 * 1000)
        answers: dict[str, str] = {question_id(code, c): self._likert_value(code, v)
                                   for c, v in payload.likert.items()}  # type: ignore[union-attr]
        if payload.recommend is not None:  # type: ignore[union-attr]
            answers[question_id(code, "recommend")] = str(payload.recommend)  # type: ignore[union-attr]
        if payload.minutes_saved_per_shift is not None:  # type: ignore[union-attr]
            answers[question_id(code, "minutes")] = self._minutes_text(
                record, payload.minutes_saved_per_shift)  # type: ignore[union-attr]
        if payload.comment:  # type: ignore[union-attr]
            answers[question_id(code, "comment")] = payload.comment  # type: ignore[union-attr]
        if record in self.edits:
            submitted, changed = self.edits[record]
            answers.update(changed)
        body: dict[str, Any] = {
            "responseId": response_id(record), "createTime": google_time(created),
            "lastSubmittedTime": google_time(submitted),
            "answers": {qid: {"questionId": qid, "textAnswers": {"answers": [{"value": value}]}}
                        for qid, value in answers.items()},
        }
        form = self.forms[form_id(code)]
        if form["settings"]["emailCollectionType"] != "DO_NOT_COLLECT":
            body["respondentEmail"] = self.world.identity(payload.person.pseudonym).email  # type: ignore[union-attr]
        return submitted, body

    def responses(self, form_code: str) -> list[dict[str, Any]]:
        """One form's responses as the API lists them (ordered by response id), at the current clock."""
        return [json.loads(row.body) for row in self._rows()[form_id(form_code)]]

    def _rows(self) -> dict[str, list[_Row]]:
        """Every form's responses at the current clock, encoded once per clock value and edit."""
        key = (self.world.clock, self._edit_generation)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
        by_form: dict[str, list[_Row]] = {fid: [] for fid in self.forms}
        # Many small dicts and a large world: the cyclic collector would rescan the world over and over.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for event in google_events(self.world):
                submitted, body = self._response(event)
                by_form[form_id(event.payload.form_id)].append(  # type: ignore[union-attr]
                    _Row(body["responseId"], submitted, json.dumps(body, separators=(",", ":")).encode()))
        finally:
            if collecting:
                gc.enable()
        for rows in by_form.values():
            rows.sort(key=lambda r: r.response_id)
        with self._cache_lock:
            self._cache = {key: by_form}
        return by_form

    # -- HTTP ------------------------------------------------------------------------------------------

    def authorise(self, request: Request) -> Response | None:
        if request.path == "/token":
            return None
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else ""
        if token and (token == STATIC_TOKEN or token in self.tokens):
            return None
        message = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                   "or other valid authentication credential. See "
                   "https://developers.google.com/identity/sign-in/web/devconsole-project.")
        return _google_error(401, "UNAUTHENTICATED", message,
                             **{"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})

    def handle(self, request: Request) -> Response:
        if request.path == "/token" and request.method == "POST":
            return self._token(request)
        parts = request.path.strip("/").split("/")
        if request.method != "GET" or parts[:2] != ["v1", "forms"] or len(parts) not in (3, 4, 5):
            return _google_error(404, "NOT_FOUND", "Requested entity was not found.")
        fid = parts[2]
        if fid not in self.forms:
            return _google_error(404, "NOT_FOUND", "Requested entity was not found.")
        if len(parts) == 3:
            return Response(body=self.forms[fid])
        if parts[3] != "responses":
            return _google_error(404, "NOT_FOUND", "Requested entity was not found.")
        if len(parts) == 5:
            found = next((r for r in self._rows()[fid] if r.response_id == parts[4]), None)
            if found is None:
                return _google_error(404, "NOT_FOUND", "Requested entity was not found.")
            return Response(body={"formId": fid, **json.loads(found.body)})
        return self._list(request, fid)

    def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode(errors="replace")).items()}
        grant = form.get("grant_type")
        if grant != JWT_BEARER_GRANT:
            return Response(400, {"error": "unsupported_grant_type",
                                  "error_description": f"Invalid grant_type: {grant or ''}"})
        refused = _refused_assertion(form.get("assertion", ""))
        if refused is not None:
            return refused
        token = "ya29." + secrets.token_urlsafe(24)
        self.tokens.add(token)
        return Response(body={"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _list(self, request: Request, fid: str) -> Response:
        filter_ = request.arg("filter") or ""
        since: str | None = None
        strict = False
        if filter_:
            match = _FILTER.match(filter_)
            if not match or not _ZULU.match(match.group(2)):
                return _google_error(400, "INVALID_ARGUMENT", f"Invalid filter: {filter_}")
            strict, since = match.group(1) == ">", match.group(2)
        size = request.int_arg("pageSize", 0)
        size = MAX_PAGE_SIZE if size <= 0 else min(size, MAX_PAGE_SIZE)
        offset = 0
        token = request.arg("pageToken")
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            except (ValueError, UnicodeDecodeError):
                return _google_error(400, "INVALID_ARGUMENT", "Invalid page token.")
            if state.get("f") != fid or state.get("q") != filter_:
                return _google_error(400, "INVALID_ARGUMENT",
                                     "The form and the filter must be the same as for the original request.")
            if state.get("g") != self.token_generation:
                return _google_error(400, "INVALID_ARGUMENT", "Page token is no longer valid.")
            offset = int(state.get("o", 0))
        rows = self._rows()[fid]
        if since is not None:
            cut = _zulu_time(since)
            rows = [r for r in rows if (r.submitted > cut if strict else r.submitted >= cut)]
        chunk = rows[offset:offset + size]
        parts_: list[bytes] = []
        if chunk:
            parts_.append(b'"responses":[' + b",".join(r.body for r in chunk) + b"]")
        if offset + size < len(rows):
            next_token = _b64(json.dumps({"f": fid, "q": filter_, "o": offset + size,
                                          "g": self.token_generation}).encode())
            parts_.append(f'"nextPageToken":"{next_token}"'.encode())
        if self.after_page is not None:
            self.after_page(fid, offset // size + 1)
        return Response(body=b"{" + b",".join(parts_) + b"}")


def apis(world: World) -> list[Api]:
    return [GoogleFormsApi(world)]


def source_config(root: str, folder: Path | None = None) -> dict[str, Any]:
    """The `sources:` entry that reads this simulated Google Forms (credentials in ENV)."""
    return {
        "type": "googleforms", "base_url": f"{root}{PREFIX}", "page_size": MAX_PAGE_SIZE,
        # token_url: where this simulator's token endpoint is; the JWT's audience stays Google's token_uri.
        "auth": {"type": "google_service_account", "key_env": KEY_ENV, "token_url": "token",
                 "scope": " ".join(FORMS_SCOPES)},
        "options": {"forms": [{"id": form_id(f"{system}-{survey}"), "code": f"{system}-{survey}"}
                              for system in SYSTEM_NAMES for survey in ("pulse", "readiness")]},
    }
