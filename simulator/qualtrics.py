"""Qualtrics' response export API (v3) for the simulated trust's digital capability self-assessments.

Every skills assessment of the world is a response to survey SV_6FkDigCapSelfAx, distributed to a contact
list (so `recipientEmail` names the respondent). The Patient Portal pulse responses can be served as survey
SV_0uPortalPulseAnon, distributed by anonymous link: `distributionChannel` is `anonymous`, no recipient field
is set, and the ward and staff group arrive as embedded data from the link. Implemented as Qualtrics
documents it:
- `POST /API/v3/surveys/{surveyId}/export-responses` with a JSON body (`format`, `startDate` inclusive,
  `endDate` exclusive, `useLabels`, ...; unknown fields and bad dates are a 400) returns a progressId;
- `GET .../export-responses/{progressId}` reports `inProgress` (with `percentComplete`) for
  `polls_to_complete` polls, then `complete` with a `fileId`;
- `GET .../export-responses/{fileId}/file` returns a ZIP holding `<survey name>.json`;
- auth is the `X-API-TOKEN` header, which must be API_TOKEN; errors use Qualtrics' `meta.error` body;
- continuation: an export started with `allowContinuation: true` reports a `continuationToken` with its
  `complete` progress; an export started with `continuationToken` (and neither startDate nor endDate, which
  are a 400 beside it) holds the responses recorded or edited since the export that issued the token, and
  reports a new token. An unknown token, or any continuation field on a survey listed in
  `refuse_continuation` (accounts without the feature), is a 400.
The export is a snapshot of the responses recorded when it was started. `edit()` changes a response's values
as an edit in Data & Analysis does: `recordedDate` and every other date stay, only a continuation export
shows that it changed. `delete()` removes a response from every later export, announcing nothing.
`expire()` forgets every export and file, as Qualtrics does after a while, so clients
must start again; `forget_continuations()` makes every issued token unknown; `expire_files` and
`fail_exports` plan expired downloads and failed exports for tests.
"""

from __future__ import annotations

import copy
import hashlib
import io
import itertools
import json
import threading
import uuid
import weakref
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas.events import Event, Kind, SkillsDomain
from simulator.server import Api, Request, Response
from simulator.world import World

PREFIX = "/qualtrics"
API_TOKEN = "sim-qualtrics-token-7f3a9c"
TOKEN_ENV = "QUALTRICS_API_TOKEN"
SKILLS_SURVEY_NAME = "Digital capability self-assessment"
SKILLS_SURVEY_ID = "SV_6FkDigCapSelfAx"
# The self-assessment's matrix question QID2: one row (QID2_<n>) per NHS digital capability framework domain.
DOMAIN_COLUMNS: dict[str, SkillsDomain] = {
    "QID2_1": SkillsDomain("identity_wellbeing_safety"),
    "QID2_2": SkillsDomain("communication_collaboration"),
    "QID2_3": SkillsDomain("information_data_content"),
    "QID2_4": SkillsDomain("teaching_learning"),
    "QID2_5": SkillsDomain("technical_proficiency"),
    "QID2_6": SkillsDomain("creation_innovation_research"),
}
PHASE_CODES = {"baseline": 1, "follow_up": 2}
PHASE_LABELS = {1: "Before go-live (baseline)", 2: "After go-live (follow-up)"}
SCALE_LABELS = {1: "Not yet", 2: "Beginner", 3: "Competent", 4: "Proficient", 5: "Expert"}
EXPORT_FIELDS = frozenset({"format", "startDate", "endDate", "limit", "useLabels", "compress", "includedQuestionIds",
                           "includeDisplayOrder", "seenUnansweredRecode", "multiselectSeenUnansweredRecode",
                           "exportResponsesInProgress", "formatDecimalAsComma", "timeZone", "newlineReplacement",
                           "breakoutSets", "filterId", "sortByLastModifiedDate", "questionIds", "embeddedDataIds",
                           "surveyMetadataIds", "allowContinuation", "continuationToken"})
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def qualtrics_error(status: int, reason: str, message: str, code: str) -> Response:
    return Response(status, {"meta": {"httpStatus": f"{status} - {reason}", "requestId": str(uuid.uuid4()),
                                      "error": {"errorMessage": message, "errorCode": code}}})


def _ok(result: dict[str, Any]) -> Response:
    return Response(200, {"result": result, "meta": {"requestId": str(uuid.uuid4()), "httpStatus": "200 - OK"}})


def response_id(record_id: str) -> str:
    """`R_` and 15 letters and digits, derived from the world's record id."""
    number = int.from_bytes(hashlib.sha1(record_id.encode()).digest()[:12], "big")
    chars = []
    for _ in range(15):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return "R_" + "".join(chars)


def timestamp(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def recorded_at(event: Event) -> datetime:
    """The response's recordedDate: the world's time plus the milliseconds Qualtrics keeps."""
    millis = int.from_bytes(hashlib.sha1(event.source_record_id.encode()).digest()[:2], "big") % 1000
    return event.occurred_at + timedelta(milliseconds=millis)


def skills_response(world: World, event: Event) -> dict[str, Any]:
    p = event.payload
    ident = world.identity(p.person.pseudonym)
    seed = int.from_bytes(hashlib.sha1(event.source_record_id.encode()).digest()[2:6], "big")
    recorded = recorded_at(event)
    duration = 90 + seed % 900
    phase = PHASE_CODES[p.phase]
    scores = {column: p.scores[domain] for column, domain in DOMAIN_COLUMNS.items() if domain in p.scores}
    rid = response_id(event.source_record_id)
    values: dict[str, Any] = {
        "startDate": timestamp(recorded - timedelta(seconds=duration)), "endDate": timestamp(recorded),
        "status": 0, "ipAddress": f"10.{seed % 250}.{seed // 250 % 250}.{seed // 62500 % 250 + 1}",
        "progress": 100, "duration": duration, "finished": 1, "recordedDate": timestamp(recorded),
        "_recordId": rid, "recipientLastName": ident.display_name.rsplit(" ", 1)[-1],
        "recipientFirstName": ident.display_name.split(" ", 1)[0], "recipientEmail": ident.email,
        "externalDataReference": ident.employee_number, "locationLatitude": "53.7965",
        "locationLongitude": "-1.5478", "distributionChannel": "email", "userLanguage": "EN",
        "QID1": phase, **scores, "round": p.assessment_id,
    }
    return {
        "responseId": rid, "values": values,
        "labels": {"status": "IP Address", "finished": "True", "QID1": PHASE_LABELS[phase],
                   **{c: SCALE_LABELS[s] for c, s in scores.items()}},
        "displayedFields": ["QID1", *DOMAIN_COLUMNS],
        "displayedValues": {"QID1": [1, 2], **{c: [1, 2, 3, 4, 5] for c in DOMAIN_COLUMNS}},
    }


_RESPONSES: weakref.WeakKeyDictionary[World, dict[str, tuple[datetime, dict[str, Any]]]] = \
    weakref.WeakKeyDictionary()


def skills_responses(world: World) -> list[dict[str, Any]]:
    """The survey's responses recorded by the world's clock (built once per world, filtered per call)."""
    built = _RESPONSES.get(world)
    if built is None:
        built = {e.source_record_id: (recorded_at(e), skills_response(world, e))
                 for e in world.events if e.kind == Kind.SKILLS_ASSESSMENT}
        _RESPONSES[world] = built
    clock = world.clock
    return [response for at, response in built.values() if at.replace(microsecond=0) <= clock]


PULSE_SURVEY_ID = "SV_0uPortalPulseAnon"
PULSE_SURVEY_NAME = "Patient Portal pulse"
PULSE_FORM = "portal-pulse"
# Matrix QID3: one row per statement, recoded 1 (strongly disagree) .. 5 (strongly agree).
PULSE_ROWS = ("confidence", "training_fit", "system_speed", "patient_safety", "would_not_go_back",
              "support_available", "login_reliable", "workflow_fit")


def pulse_response(world: World, event: Event) -> dict[str, Any]:
    """An anonymous-link response to the pulse survey: no recipient, ward and staff group as embedded data."""
    p = event.payload
    seed = int.from_bytes(hashlib.sha1(event.source_record_id.encode()).digest()[2:6], "big")
    recorded = recorded_at(event)
    duration = 40 + seed % 300
    rows = {f"QID3_{n}": p.likert[code] for n, code in enumerate(PULSE_ROWS, start=1) if code in p.likert}
    values: dict[str, Any] = {
        "startDate": timestamp(recorded - timedelta(seconds=duration)), "endDate": timestamp(recorded),
        "status": 0, "progress": 100, "duration": duration, "finished": 1, "recordedDate": timestamp(recorded),
        "_recordId": response_id(event.source_record_id), "distributionChannel": "anonymous", "userLanguage": "EN",
        **rows, "ward": world.unit_name(p.person.org_unit), "staffGroup": p.person.staff_group,
    }
    if p.recommend is not None:
        values["QID4"] = p.recommend
    if p.comment:
        values["QID5_TEXT"] = p.comment
    return {"responseId": values["_recordId"], "values": values, "labels": {"status": "IP Address"},
            "displayedFields": [*rows, "QID4", "QID5_TEXT"]}


def pulse_responses(world: World) -> list[dict[str, Any]]:
    """The pulse survey's responses recorded by the world's clock."""
    clock = world.clock
    return [pulse_response(world, e) for e in world.latest(Kind.FORM_RESPONSE)
            if e.payload.form_id == PULSE_FORM and recorded_at(e).replace(microsecond=0) <= clock]


def pulse_survey_options(world: World) -> dict[str, Any]:
    """The `pulse_surveys` entry reading the pulse survey, with `unit_codes` for its ward names."""
    return {"survey_id": PULSE_SURVEY_ID, "form_id": PULSE_FORM, "system": "Patient Portal",
            "likert": {f"QID3_{n}": code for n, code in enumerate(PULSE_ROWS, start=1)}, "recommend": "QID4",
            "comment": "QID5_TEXT", "unit": "ward", "staff_group": "staffGroup"}


def unit_codes(world: World) -> dict[str, str]:
    """Ward names as the pulse survey's link carries them -> org unit codes, as `options.unit_codes`."""
    return {u.name: u.code for u in world.trust.leaves()}


def response_ids(world: World) -> set[str]:
    """What the qualtrics connector calls the responses recorded at the world's clock."""
    return {response_id(e.source_record_id) for e in world.latest(Kind.SKILLS_ASSESSMENT)}


@dataclass
class SimSurvey:
    name: str
    responses: Callable[[World], list[dict[str, Any]]]


@dataclass
class _Export:
    survey: str
    polls_left: int
    file_id: str
    payload: bytes = b""
    responses: int = 0
    continuation: str | None = None  # reported with the complete progress


@dataclass(frozen=True)
class _Mark:
    """Where a continuation token's export stood: its place among exports and edits, and the world's clock."""

    survey: str
    change: int
    clock: datetime


class QualtricsApi(Api):
    prefix = PREFIX

    def __init__(self, world: World, surveys: dict[str, SimSurvey] | None = None, *, polls_to_complete: int = 1,
                 on_poll: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.world, self.polls_to_complete = world, polls_to_complete
        self.surveys = surveys or {SKILLS_SURVEY_ID: SimSurvey(SKILLS_SURVEY_NAME, skills_responses)}
        # Called on every progress check, e.g. to move the world's clock while an export runs.
        self.on_poll = on_poll
        self.exports: dict[str, _Export] = {}
        self.files: dict[str, _Export] = {}
        self.started: list[dict[str, Any]] = []  # export request bodies, for tests to inspect
        self.fail_exports = 0  # the next this many exports end in status "failed"
        self.expire_files = 0  # the next this many file downloads find the file expired
        self.refuse_continuation: set[str] = set()  # surveys whose exports refuse the continuation fields
        self.edits: dict[str, tuple[int, dict[str, Any]]] = {}  # responseId -> (change number, values set)
        self.deleted: set[str] = set()  # responseIds deleted
        self._tokens: dict[str, _Mark] = {}
        self._changes = itertools.count(1)  # orders exports and edits
        self._ids = itertools.count(1)
        self._state_lock = threading.Lock()

    def expire(self) -> None:
        """Forget every export and file, as Qualtrics does once they are old."""
        with self._state_lock:
            self.exports.clear()
            self.files.clear()

    def forget_continuations(self) -> None:
        """Make every continuation token issued so far unknown."""
        with self._state_lock:
            self._tokens.clear()

    def edit(self, response_id: str, **values: Any) -> None:
        """Change answers of a recorded response, as an edit in Data & Analysis does: its dates stay."""
        with self._state_lock:
            _, before = self.edits.get(response_id, (0, {}))
            self.edits[response_id] = (next(self._changes), {**before, **values})

    def delete(self, response_id: str) -> None:
        """Delete a response, as Data & Analysis or `DELETE /API/v3/surveys/{surveyId}/responses/{responseId}`
        does: no later export lists it, and nothing announces the deletion."""
        with self._state_lock:
            self.deleted.add(response_id)

    def responses(self, survey: str) -> list[dict[str, Any]]:
        """The survey's responses recorded by the world's clock, as edited, less the deleted ones."""
        out = []
        for response in self.surveys[survey].responses(self.world):
            if response["responseId"] in self.deleted:
                continue
            edit = self.edits.get(response["responseId"])
            if edit is not None:
                response = copy.deepcopy(response)
                response["values"].update(edit[1])
            out.append(response)
        return out

    def authorise(self, request: Request) -> Response | None:
        if request.headers.get("x-api-token") != API_TOKEN:
            return qualtrics_error(401, "Unauthorized", "Authentication failed: the API token is invalid or missing.",
                                   "AUTH_7.0")
        return None

    def handle(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if parts[:3] != ["API", "v3", "surveys"] or len(parts) < 5 or parts[4] != "export-responses":
            return qualtrics_error(404, "Not Found", f"No route for {request.method} {request.path}", "ROUTE_1.0")
        survey = parts[3]
        if survey not in self.surveys:
            return qualtrics_error(404, "Not Found", f"Survey {survey} does not exist or you lack access.",
                                   "RCE_1.0")
        if len(parts) == 5 and request.method == "POST":
            return self._start(survey, request)
        if len(parts) == 6 and request.method == "GET":
            return self._progress(survey, parts[5])
        if len(parts) == 7 and parts[6] == "file" and request.method == "GET":
            return self._file(survey, parts[5])
        return qualtrics_error(405, "Method Not Allowed", f"{request.method} is not allowed here", "ROUTE_2.0")

    def _start(self, survey: str, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return qualtrics_error(400, "Bad Request", "The request body is not valid JSON.", "RP_0.1")
        if not isinstance(body, dict) or "format" not in body:
            return qualtrics_error(400, "Bad Request", "Missing required property: format", "RP_0.2")
        unknown = sorted(set(body) - EXPORT_FIELDS)
        if unknown:
            return qualtrics_error(400, "Bad Request", f"Unrecognized field: {unknown[0]}", "RP_0.3")
        if body["format"] not in ("json", "ndjson"):
            return qualtrics_error(400, "Bad Request", f"Unsupported format {body['format']!r} in this simulator",
                                   "RP_0.4")
        bounds: dict[str, datetime] = {}
        for name in ("startDate", "endDate"):
            if body.get(name) is not None:
                try:
                    bounds[name] = datetime.fromisoformat(str(body[name]).replace("Z", "+00:00"))
                    if bounds[name].tzinfo is None:
                        raise ValueError
                except ValueError:
                    return qualtrics_error(400, "Bad Request", f"Invalid {name}: expected an ISO 8601 date and "
                                           "time with a zone, e.g. 2026-03-01T00:00:00Z", "RP_0.5")
        continued = self._continuation(survey, body)
        if isinstance(continued, Response):
            return continued
        self.started.append(body)
        with self._state_lock:
            change, clock = next(self._changes), self.world.clock
        chosen = []
        for response in self.responses(survey):
            recorded = datetime.fromisoformat(response["values"]["recordedDate"].replace("Z", "+00:00"))
            if continued is not None:
                edited = self.edits.get(response["responseId"], (0, {}))[0] > continued.change
                if not edited and recorded.replace(microsecond=0) <= continued.clock:
                    continue
            if "startDate" in bounds and recorded < bounds["startDate"]:
                continue
            if "endDate" in bounds and recorded >= bounds["endDate"]:
                continue
            chosen.append(response)
        if isinstance(body.get("limit"), int):
            chosen = chosen[: body["limit"]]
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{self.surveys[survey].name}.json", json.dumps({"responses": chosen}))
        number = next(self._ids)
        export = _Export(survey, self.polls_to_complete, f"{uuid.UUID(int=number * 7919)}-def", buffer.getvalue(),
                         len(chosen))
        if body.get("allowContinuation") or continued is not None:
            export.continuation = uuid.uuid4().hex
            with self._state_lock:
                self._tokens[export.continuation] = _Mark(survey, change, clock)
        progress = f"ES_{number:015d}"
        with self._state_lock:
            self.exports[progress] = export
        return _ok({"progressId": progress, "percentComplete": 0.0, "status": "inProgress"})

    def _continuation(self, survey: str, body: dict[str, Any]) -> _Mark | Response | None:
        """The mark of the body's continuationToken, None without one, or the 400 Qualtrics answers."""
        token, allow = body.get("continuationToken"), body.get("allowContinuation")
        if token is None and allow is None:
            return None
        if allow is not None and not isinstance(allow, bool):
            return qualtrics_error(400, "Bad Request", "allowContinuation must be a boolean", "RP_0.6")
        if survey in self.refuse_continuation:
            return qualtrics_error(400, "Bad Request", "Continuation is not available for this survey.",
                                   "RP_0.7")
        if token is None:
            return None
        if "startDate" in body or "endDate" in body:
            return qualtrics_error(400, "Bad Request", "continuationToken cannot be combined with startDate "
                                   "or endDate", "RP_0.8")
        with self._state_lock:
            mark = self._tokens.get(str(token))
        if mark is None or mark.survey != survey:
            return qualtrics_error(400, "Bad Request", "The continuation token is invalid or has expired.",
                                   "RP_0.9")
        return mark

    def _progress(self, survey: str, progress: str) -> Response:
        if self.on_poll is not None:
            self.on_poll()
        with self._state_lock:
            export = self.exports.get(progress)
            if export is None or export.survey != survey:
                return qualtrics_error(404, "Not Found", f"Export {progress} was not found or has expired.",
                                       "RCE_2.0")
            if export.polls_left > 0:
                export.polls_left -= 1
                done = 100.0 * (self.polls_to_complete - export.polls_left) / (self.polls_to_complete + 1)
                return _ok({"fileId": None, "percentComplete": round(done, 1), "status": "inProgress"})
            if self.fail_exports > 0:
                self.fail_exports -= 1
                return _ok({"fileId": None, "percentComplete": 0.0, "status": "failed",
                            "error": {"errorCode": "EXPORT_FAILED", "errorMessage": "The export could not be "
                                      "generated. Try again later."}})
            self.files[export.file_id] = export
        result: dict[str, Any] = {"fileId": export.file_id, "percentComplete": 100.0, "status": "complete"}
        if export.continuation is not None:
            result["continuationToken"] = export.continuation
        return _ok(result)

    def _file(self, survey: str, file_id: str) -> Response:
        with self._state_lock:
            export = self.files.get(file_id)
            if export is not None and self.expire_files > 0:
                self.expire_files -= 1
                del self.files[file_id]
                export = None
        if export is None or export.survey != survey:
            return qualtrics_error(404, "Not Found", f"File {file_id} was not found or has expired.", "RCE_3.0")
        return Response(200, export.payload, {"Content-Disposition": f'attachment; filename="{survey}.zip"'},
                        content_type="application/zip")


def apis(world: World) -> list[Api]:
    return [QualtricsApi(world)]


def source_config(root: str, folder: Path) -> dict[str, Any]:
    """The `sources:` entry reading the simulated datacenter at `root` (the server's root URL)."""
    return {"type": "qualtrics", "base_url": root + PREFIX,
            "auth": {"type": "api_key", "header": "X-API-TOKEN", "token_env": TOKEN_ENV}}


ENV = {TOKEN_ENV: API_TOKEN}
