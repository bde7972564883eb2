"""Qualtrics survey responses through the response export API (v3), for capability self-assessments and pulses.

Qualtrics has no paged response list: `POST /API/v3/surveys/{surveyId}/export-responses` starts an export
(`startDate` keeps responses recorded at or after it), `GET .../export-responses/{progressId}` is polled
until `status` is `complete` and gives a `fileId`, and `GET .../export-responses/{fileId}/file` returns a
ZIP holding one JSON file `{"responses": [{"responseId", "values": {...}, "labels": {...}}]}`. Quirks:
- auth is the `X-API-TOKEN` header, against the account's datacenter (`https://fra1.qualtrics.com`);
- `values` holds recodes (`useLabels: false`): matrix rows as `QID2_1`, text as `QID5_TEXT`, embedded data
  under its own name; an unanswered question is absent, a partly finished response (`finished: 0`) keeps
  what was answered;
- `status` other than a real response (survey preview, test, spam) is quarantined, not counted;
- an edit in Data & Analysis changes `values` but no date (`recordedDate` stays), and Qualtrics gives no
  reliable modified time. So exports continue: the first asks for `allowContinuation`, each later one passes
  the stored `continuationToken` (no startDate beside it) and holds the responses recorded or edited since;
- the record version is `<when>.<digest>`: the digest of the mapped answers tells an edit from a re-export
  of the same answers, `<when>` orders versions for the warehouse's latest-version rule: `recordedDate`, or for
  a response exported through a token, the time that token was received (an edit came after it), when later;
- per survey, state keeps the token, when it was received, and the latest `recordedDate` read (milliseconds,
  UTC, the `cursor`). A refused token starts a new continuation at that date's second, inclusive (responses
  sharing it are read again and dedupe by event id); a survey or account that refuses continuation is
  exported by that date alone, which cannot see edits, and says so in the log. A `--since` replay exports
  by date and leaves the continuation as it was;
- an anonymous-link response (`distributionChannel` `anonymous`, no recipient) is nobody in the directory:
  its person is a pseudonym of the response alone, its unit and staff group come from the survey's `unit`
  and `staff_group` columns (ward answers through `unit_codes`), as for anonymous Microsoft Forms;
- export and file ids expire: a 404 on them starts the export again;
- a deleted response is left out of every later export, and Qualtrics has no feed of deletions (its event
  subscriptions announce new responses only). So every `deletion_check_hours` (default 24; 0 every pull, null
  never) each survey is exported once more in full, and the responses read before that this export no longer
  holds are retracted (reason `deleted`, version `deleted`, at the check's time), once: state keeps, per survey,
  the IDs read and not retracted (`seen`) and when they were last checked (`checked`). The first export of a
  survey is a full one and counts as its first check; state stored before checks existed starts the interval
  at its next pull, and its first check adopts the IDs that export holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from connectors.core.build import EventBuilder, parse_time, retraction
from connectors.core.stream import MappingError, Page, PullContext, Schedule, Source, Stream
from connectors.core.tabular import blank, number, whole
from connectors.qualtrics.client import ContinuationRefused, Export, QualtricsClient
from connectors.qualtrics.settings import (
    ANONYMOUS_CHANNEL,
    RESPONSE_STATUSES,
    PulseSurvey,
    QualtricsOptions,
    SkillsSurvey,
)
from foundation.errors import SourceError
from schemas.events import Event, Kind, Person

log = logging.getLogger(__name__)

REAL_RESPONSE_STATUSES = frozenset({0, 4, 16})  # IP address, imported, offline app
SKILLS, PULSE = "skills_assessments", "survey_responses"
EXPORT_PAGE_SIZE = 1000  # responses per publish batch when sources.<name>.page_size is not set
# Set on a response exported through a continuation token: when that token was received (cursor format).
CONTINUED_FROM = "continuedFrom"
# Set on the record of a response a full export no longer holds: when that export was received.
DELETED = "deletedAt"
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _./&()'-]{0,63}$")


def cursor_value(moment: datetime) -> str:
    """`2026-03-04T09:14:05.123Z`: the cursor's one format (UTC, milliseconds), so string order is time order."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def start_date(cursor: str) -> str:
    """The export's startDate for a cursor: its whole second, so the boundary second is read again (>=)."""
    return cursor[:19] + "Z"


@dataclass
class SurveyMark:
    """Where one survey's exports stand: the latest recordedDate read, and the continuation token with the time
    it was received."""

    recorded: str = ""
    continuation: str | None = None
    continued_from: str | None = None
    # Response IDs read and not retracted (None: unknown, state from before deletions were checked), and when
    # a full export last checked them (None: never).
    seen: frozenset[str] | None = None
    checked: str | None = None

    @classmethod
    def of(cls, stored: Any) -> SurveyMark:
        if isinstance(stored, str):  # state written before exports continued: the recordedDate cursor alone
            return cls(recorded=stored)
        stored = stored if isinstance(stored, dict) else {}
        return cls(str(stored.get("recorded") or ""), stored.get("continuation") or None,
                   stored.get("continued_from") or None,
                   None if stored.get("seen") is None else frozenset(stored["seen"]), stored.get("checked") or None)

    def as_dict(self) -> dict[str, Any]:
        return {"recorded": self.recorded, "continuation": self.continuation, "continued_from": self.continued_from,
                "seen": None if self.seen is None else sorted(self.seen), "checked": self.checked}


def version_digest(content: dict[str, Any]) -> str:
    """16 hex digits of the SHA-256 of the mapped answers, so equal answers give equal versions anywhere."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_anonymous(values: dict[str, Any]) -> bool:
    return str(values.get("distributionChannel") or "").strip().lower() == ANONYMOUS_CHANNEL


class Qualtrics(Source):
    """Qualtrics response exports; see the module docstring for the quirks and settings.EXAMPLE_YAML."""

    type: ClassVar[str] = "qualtrics"
    summary: ClassVar[str] = "Qualtrics response exports (skills assessment), incremental by recorded date."
    pull_schedule: ClassVar[Schedule] = Schedule(cron="45 * * * *")
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream(SKILLS, Kind.SKILLS_ASSESSMENT, primary_key=("responseId",), cursor_field="recordedDate",
               sorted_by_cursor=False),
        Stream(PULSE, Kind.FORM_RESPONSE, primary_key=("responseId",), cursor_field="recordedDate",
               sorted_by_cursor=False),
    )
    options_model = QualtricsOptions
    identifier_fields = ("recipientEmail", "recipientFirstName", "recipientLastName", "externalDataReference",
                         "ipAddress", "locationLatitude", "locationLongitude")
    options: QualtricsOptions

    def __init__(self, name: str, config: Any, context: PullContext) -> None:
        super().__init__(name, config, context)
        self.skills = {s.survey_id: s for s in self.options.skills_surveys}
        self.pulses = {s.survey_id: s for s in self.options.pulse_surveys}
        self.client = QualtricsClient(name, config, poll_seconds=self.options.poll_seconds,
                                      timeout_seconds=self.options.export_timeout_seconds)

    def close(self) -> None:
        self.client.close()

    def read(self, stream: Stream, state: dict[str, Any]) -> Iterator[Page]:
        surveys: dict[str, SkillsSurvey] | dict[str, PulseSurvey] = (self.skills if stream.name == SKILLS
                                                                    else self.pulses)
        since = self.context.since
        marks = {survey_id: SurveyMark.of(stored) for survey_id, stored in (state.get("surveys") or {}).items()}
        cap = cursor_value(self.context.run_started)
        # One export file holds every response: page_size only sets how many are published per batch.
        size = self.config.page_size if "page_size" in self.config.model_fields_set else EXPORT_PAGE_SIZE
        for survey_id, survey in surveys.items():
            mark = marks.get(survey_id) or SurveyMark()
            if since:  # a replay of a window: the continuation stays where it was
                export, continued_from = self.client.export(survey_id, start_date(cursor_value(since))), None
            else:
                export, continued_from = self._export(survey_id, mark)
            received = cursor_value(datetime.now(UTC))  # after the export completed: later than all it holds
            responses = export.responses
            self._check_fields(survey_id, survey, responses)
            latest = mark.recorded
            for response in responses:
                response["surveyId"] = survey_id
                if continued_from:
                    response[CONTINUED_FROM] = continued_from
                recorded = (response.get("values") or {}).get("recordedDate")
                with suppress(MappingError):  # a response without a usable date is quarantined by the mapper
                    latest = max(latest, min(cursor_value(parse_time(recorded)), cap))
            read = {str(r["responseId"]) for r in responses if r.get("responseId")}
            seen = None if mark.seen is None else mark.seen | read
            checked, gone = mark.checked, []
            if not since:
                if not mark.recorded and not mark.continuation:  # a survey's first export holds every response
                    seen, checked = read, received
                elif mark.checked is None:  # state from before deletions were checked: the interval starts now
                    checked = received
                elif self._check_due(mark.checked):
                    held = {str(r.get("responseId")) for r in self.client.export(survey_id).responses}
                    checked = cursor_value(datetime.now(UTC))
                    # IDs read before checks began are unknown: the first check adopts what is held.
                    gone = [] if seen is None else sorted(seen - held)
                    seen = (held | read) if seen is None else seen - set(gone)
                token = export.continuation
                marks[survey_id] = SurveyMark(latest, token, None if token is None else
                                              mark.continued_from if token == mark.continuation else received,
                                              None if seen is None else frozenset(seen), checked)
            elif survey_id not in marks:
                marks[survey_id] = SurveyMark(latest, seen=None if seen is None else frozenset(seen))
            responses = responses + [{"responseId": rid, "surveyId": survey_id, DELETED: checked} for rid in gone]
            for start in range(0, max(len(responses), 1), size):
                last = start + size >= len(responses)
                # An export is not sorted by recordedDate: the survey's mark is stored after its last page.
                state_now = {"cursor": max(m.recorded for m in marks.values()),
                             "surveys": {k: m.as_dict() for k, m in marks.items()}} if last else None
                yield Page(responses[start:start + size], state_now)

    def _check_due(self, checked: str | None) -> bool:
        """Whether the survey's responses are due a check for deletions (see deletion_check_hours)."""
        hours = self.options.deletion_check_hours
        if hours is None:
            return False
        if not checked:
            return True
        with suppress(MappingError):
            return (self.context.run_started - parse_time(checked)).total_seconds() >= hours * 3600
        return True

    def _export(self, survey_id: str, mark: SurveyMark) -> tuple[Export, str | None]:
        """The survey's export after `mark`, and when the token it continued was received (None when it continued
        none): through the stored token; else, or when that is refused, from the latest recordedDate read with
        a new continuation; without continuation when the survey refuses it."""
        if mark.continuation:
            try:
                export = self.client.export(survey_id, continuation=mark.continuation)
                # Without a newer token reported, the stored one still marks the place.
                export.continuation = export.continuation or mark.continuation
                return export, mark.continued_from
            except ContinuationRefused as exc:
                log.warning("%s; exporting %s again from %s with a new continuation", exc, survey_id,
                            mark.recorded or "its first response")
        begin = start_date(mark.recorded) if mark.recorded else None
        try:
            return self.client.export(survey_id, begin, allow_continuation=True), None
        except ContinuationRefused as exc:
            log.warning("%s; exporting %s by recordedDate, which cannot show responses edited after they were "
                        "read", exc, survey_id)
        return self.client.export(survey_id, begin), None

    def _check_fields(self, survey_id: str, survey: SkillsSurvey | PulseSurvey,
                      responses: list[dict[str, Any]]) -> None:
        """A mapped column that no exported response shows or answers is a mapping mistake, not an absence."""
        if not responses:
            return
        where = f"sources.{self.name}.options.{'skills_surveys' if survey_id in self.skills else 'pulse_surveys'}"
        if isinstance(survey, SkillsSurvey):
            wanted = {column: f"domains.{column}" for column in survey.domains}
            if survey.phase is None and survey.phase_field:
                wanted[survey.phase_field] = "phase_field"
        else:
            wanted = {column: f"likert.{column}" for column in survey.likert}
            wanted.update({getattr(survey, s): s for s in ("recommend", "minutes_saved", "comment")
                           if getattr(survey, s)})
        anonymous = [r for r in responses if is_anonymous(r.get("values") or {})]
        named = [r for r in responses if not is_anonymous(r.get("values") or {})]
        # Who answered is asked of named responses only; where they work, of anonymous ones only.
        checks = [(responses, "", wanted), (named, "", {survey.person_field: "person_field"}),
                  (anonymous, " anonymous", {getattr(survey, s): s for s in ("unit", "staff_group")
                                             if getattr(survey, s)})]
        for among, which, columns in checks:
            seen: set[str] = set()
            for response in among:
                seen.update(response.get("values") or {})
                seen.update(response.get("displayedFields") or ())
            for column, setting in columns.items():
                if among and column not in seen:
                    raise SourceError(f"source '{self.name}': no{which} response of {survey_id} ({len(among)} "
                                      f"exported) has {column!r}; fix {where}[survey_id={survey_id}].{setting}")

    def record_id(self, stream: Stream, record: dict[str, Any]) -> str:
        return str(record.get("responseId") or "")

    def map(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> Event | None:
        if record.get(DELETED):
            assert stream.kind is not None
            return retraction(build, stream.kind, record_id=self.require(record, "responseId"), version="deleted",
                              occurred_at=parse_time(record[DELETED], DELETED), reason="deleted")
        values = record.get("values")
        if not isinstance(values, dict):
            raise MappingError("response has no 'values'")
        status = _recode(values.get("status"))
        if status and (not status.isdigit() or int(status) not in REAL_RESPONSE_STATUSES):
            what = RESPONSE_STATUSES.get(int(status), "unknown") if status.isdigit() else "unknown"
            raise MappingError(f"status {status} ({what}) is not a staff response")
        response_id = self.require(record, "responseId")
        recorded = parse_time(values.get("recordedDate"), "recordedDate")
        survey_id = record.get("surveyId")
        # A response exported through a continuation token was recorded or edited after that token came.
        when = max(cursor_value(recorded), str(record.get(CONTINUED_FROM) or ""))
        if stream.name == SKILLS:
            return self._skills(self.skills[survey_id], response_id, recorded, when, values, build)
        return self._pulse(self.pulses[survey_id], response_id, recorded, when, values, build)

    def _person(self, survey: SkillsSurvey | PulseSurvey, response_id: str, values: dict[str, Any],
                build: EventBuilder, system: str | None = None) -> tuple[Person, dict[str, Any]]:
        """The respondent, and what of the response names them for the version digest. An anonymous-link
        response is a pseudonym of the response alone, in the unit and staff group its own columns give."""
        identifier = values.get(survey.person_field)
        if blank(identifier) and is_anonymous(values):
            unit = self._unit(values.get(survey.unit)) if survey.unit else None
            group = _code(_recode(values.get(survey.staff_group))) if survey.staff_group else None
            person = build.person(f"anonymous:{survey.survey_id}:{response_id}", org_unit=unit, staff_group=group,
                                  system=system)
            return person, {"person": person.pseudonym, "unit": unit, "staff_group": group}
        person = build.person(identifier, system=system)
        return person, {"person": person.pseudonym}

    def _unit(self, answer: Any) -> str | None:
        text = _recode(answer)
        if not text:
            return None
        codes = self.options.unit_codes
        mapped = codes.get(text) or next((code for name, code in codes.items() if name.lower() == text.lower()),
                                         None)
        return _code(mapped or text)

    def _skills(self, survey: SkillsSurvey, response_id: str, recorded: datetime, when: str,
                values: dict[str, Any], build: EventBuilder) -> Event:
        person, who = self._person(survey, response_id, values, build)
        phase = survey.phase
        if phase is None:
            raw = values.get(survey.phase_field) if survey.phase_field else None
            phase = survey.phase_values.get(_recode(raw))
            if phase is None:
                raise MappingError(f"{survey.phase_field} = {raw!r} is not one of the phase_values "
                                   f"({', '.join(survey.phase_values)})")
        scores = {domain.value: score for column, domain in survey.domains.items()
                  if (score := whole(values.get(column), column, 1, 5)) is not None}
        if not scores:
            raise MappingError("no capability domain answered")
        raw_assessment = values.get(survey.assessment_field) if survey.assessment_field else None
        assessment = str(raw_assessment or survey.assessment_id).strip()
        answers = {**who, "assessment_id": assessment, "phase": phase, "scores": scores}
        return build.event(Kind.SKILLS_ASSESSMENT, record_id=response_id,
                           version=f"{when}.{version_digest(answers)}", occurred_at=recorded, payload={
                               "person": person, "assessment_id": assessment, "phase": phase, "scores": scores})

    def _pulse(self, survey: PulseSurvey, response_id: str, recorded: datetime, when: str,
               values: dict[str, Any], build: EventBuilder) -> Event:
        person, who = self._person(survey, response_id, values, build, system=survey.system)
        likert = {code: answer for column, code in survey.likert.items()
                  if (answer := whole(values.get(column), column, 1, 5)) is not None}
        comment = values.get(survey.comment) if survey.comment else None
        recommend = whole(values.get(survey.recommend), "recommend", 0, 10) if survey.recommend else None
        minutes = number(values.get(survey.minutes_saved), "minutes_saved") if survey.minutes_saved else None
        # The comment as written: a change to the scrubbing rules is no edit of the response.
        answers = {**who, "form_id": survey.form_id, "likert": likert, "recommend": recommend,
                   "minutes_saved_per_shift": minutes, "comment": None if blank(comment) else str(comment)}
        return build.event(Kind.FORM_RESPONSE, record_id=response_id, version=f"{when}.{version_digest(answers)}",
                           occurred_at=recorded, payload={
                               "form_id": survey.form_id, "person": person, "likert": likert,
                               "recommend": recommend, "minutes_saved_per_shift": minutes,
                               "comment": None if blank(comment) else build.text(comment)})


def _recode(value: Any) -> str:
    """A recode as the string the options use: 1, 1.0 and "1" are all "1"."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()


def _code(value: str) -> str | None:
    """A value usable as an org unit or staff group code, else None (the person stays unmatched)."""
    text = value.strip()
    return text if text and _CODE.match(text) else None
