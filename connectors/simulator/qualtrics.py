"""Qualtrics' response export API (v3) for the simulated trust's digital capability self-assessments.

Every skills assessment of the world is a response to survey SV_6FkDigCapSelfAx, distributed to a contact
list (so `recipientEmail` names the respondent). Implemented as Qualtrics documents it:
- `POST /API/v3/surveys/{surveyId}/export-responses` with a JSON body (`format`, `startDate` inclusive,
  `endDate` exclusive, `useLabels`, ...; unknown fields and bad dates are a 400) returns a progressId;
- `GET .../export-responses/{progressId}` reports `inProgress` (with `percentComplete`) for
  `polls_to_complete` polls, then `complete` with a `fileId`;
- `GET .../export-responses/{fileId}/file` returns a ZIP holding `<survey name>.json`;
- auth is the `X-API-TOKEN` header, which must be API_TOKEN; errors use Qualtrics' `meta.error` body.
The export is a snapshot of the responses recorded when it was started. `expire()` forgets every export
and file, as Qualtrics does after a while, so clients must start again; `expire_files` and `fail_exports`
plan expired downloads and failed exports for tests.
"""

from __future__ import annotations

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

from connectors.qualtrics.settings import DEFAULT_DOMAINS, SKILLS_SURVEY_ID
from connectors.simulator.server import Api, Request, Response
from connectors.simulator.world import World
from schemas.events import Event, Kind

PREFIX = "/qualtrics"
API_TOKEN = "sim-qualtrics-token-7f3a9c"
TOKEN_ENV = "QUALTRICS_API_TOKEN"
SKILLS_SURVEY_NAME = "Digital capability self-assessment"
PHASE_CODES = {"baseline": 1, "follow_up": 2}
PHASE_LABELS = {1: "Before go-live (baseline)", 2: "After go-live (follow-up)"}
SCALE_LABELS = {1: "Not yet", 2: "Beginner", 3: "Competent", 4: "Proficient", 5: "Expert"}
EXPORT_FIELDS = frozenset({"format", "startDate", "endDate", "limit", "useLabels", "compress", "includedQuestionIds",
                           "includeDisplayOrder", "seenUnansweredRecode", "multiselectSeenUnansweredRecode",
                           "exportResponsesInProgress", "formatDecimalAsComma", "timeZone", "newlineReplacement",
                           "breakoutSets", "filterId", "sortByLastModifiedDate", "questionIds", "embeddedDataIds",
                           "surveyMetadataIds"})
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
    scores = {column: p.scores[domain] for column, domain in DEFAULT_DOMAINS.items() if domain in p.scores}
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
        "displayedFields": ["QID1", *DEFAULT_DOMAINS],
        "displayedValues": {"QID1": [1, 2], **{c: [1, 2, 3, 4, 5] for c in DEFAULT_DOMAINS}},
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
        self._ids = itertools.count(1)
        self._state_lock = threading.Lock()

    def expire(self) -> None:
        """Forget every export and file, as Qualtrics does once they are old."""
        with self._state_lock:
            self.exports.clear()
            self.files.clear()

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
        self.started.append(body)
        chosen = []
        for response in self.surveys[survey].responses(self.world):
            recorded = datetime.fromisoformat(response["values"]["recordedDate"].replace("Z", "+00:00"))
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
        progress = f"ES_{number:015d}"
        with self._state_lock:
            self.exports[progress] = export
        return _ok({"progressId": progress, "percentComplete": 0.0, "status": "inProgress"})

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
        return _ok({"fileId": export.file_id, "percentComplete": 100.0, "status": "complete"})

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
