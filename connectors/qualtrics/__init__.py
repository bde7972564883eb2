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
- the cursor is `recordedDate` (milliseconds, UTC); the next export starts at that second, inclusive, so
  responses sharing it are read again and dedupe by event id;
- export and file ids expire: a 404 on them starts the export again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, ClassVar

from connectors.core.build import EventBuilder, parse_time
from connectors.core.errors import SourceError
from connectors.core.stream import MappingError, Page, PullContext, Source, Stream, register
from connectors.core.tabular import blank, number, whole
from connectors.qualtrics.client import QualtricsClient
from connectors.qualtrics.settings import RESPONSE_STATUSES, PulseSurvey, QualtricsOptions, SkillsSurvey
from schemas.events import Event, Kind

REAL_RESPONSE_STATUSES = frozenset({0, 4, 16})  # IP address, imported, offline app
SKILLS, PULSE = "skills_assessments", "survey_responses"
EXPORT_PAGE_SIZE = 1000  # responses per publish batch when sources.<name>.page_size is not set


def cursor_value(moment: datetime) -> str:
    """`2026-03-04T09:14:05.123Z`: the cursor's one format (UTC, milliseconds), so string order is time order."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def start_date(cursor: str) -> str:
    """The export's startDate for a cursor: its whole second, so the boundary second is read again (>=)."""
    return cursor[:19] + "Z"


@register
class Qualtrics(Source):
    """Qualtrics response exports; see the module docstring for the quirks and settings.EXAMPLE_YAML."""

    type: ClassVar[str] = "qualtrics"
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
        cursors: dict[str, str] = {} if since else dict(state.get("surveys") or {})
        cap = cursor_value(self.context.run_started)
        # One export file holds every response: page_size only sets how many are published per batch.
        size = self.config.page_size if "page_size" in self.config.model_fields_set else EXPORT_PAGE_SIZE
        for survey_id, survey in surveys.items():
            begin = cursor_value(since) if since else cursors.get(survey_id)
            responses = self.client.export(survey_id, start_date(begin) if begin else None)
            self._check_fields(survey_id, survey, responses)
            latest = begin or ""
            for response in responses:
                response["surveyId"] = survey_id
                recorded = (response.get("values") or {}).get("recordedDate")
                with suppress(MappingError):  # a response without a usable date is quarantined by the mapper
                    latest = max(latest, cursor_value(parse_time(recorded)))
            if latest:
                cursors[survey_id] = max(min(latest, cap), cursors.get(survey_id, ""))
            for start in range(0, max(len(responses), 1), size):
                last = start + size >= len(responses)
                # An export is not sorted by recordedDate: the survey's cursor is stored after its last page.
                state_now = {"cursor": max(cursors.values()), "surveys": dict(cursors)} if last and cursors else None
                yield Page(responses[start:start + size], state_now)

    def _check_fields(self, survey_id: str, survey: SkillsSurvey | PulseSurvey,
                      responses: list[dict[str, Any]]) -> None:
        """A mapped column that no exported response shows or answers is a mapping mistake, not an absence."""
        if not responses:
            return
        seen: set[str] = set()
        for response in responses:
            seen.update(response.get("values") or {})
            seen.update(response.get("displayedFields") or ())
        where = f"sources.{self.name}.options.{'skills_surveys' if survey_id in self.skills else 'pulse_surveys'}"
        if isinstance(survey, SkillsSurvey):
            wanted = {column: f"domains.{column}" for column in survey.domains}
            if survey.phase is None and survey.phase_field:
                wanted[survey.phase_field] = "phase_field"
        else:
            wanted = {column: f"likert.{column}" for column in survey.likert}
            wanted.update({getattr(survey, s): s for s in ("recommend", "minutes_saved", "comment")
                           if getattr(survey, s)})
        wanted[survey.person_field] = "person_field"
        for column, setting in wanted.items():
            if column not in seen:
                raise SourceError(f"source '{self.name}': no response of {survey_id} ({len(responses)} exported) "
                                  f"has {column!r}; fix {where}[survey_id={survey_id}].{setting}")

    def record_id(self, stream: Stream, record: dict[str, Any]) -> str:
        return str(record.get("responseId") or "")

    def map(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> Event | None:
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
        if stream.name == SKILLS:
            return self._skills(self.skills[survey_id], response_id, recorded, values, build)
        return self._pulse(self.pulses[survey_id], response_id, recorded, values, build)

    def _skills(self, survey: SkillsSurvey, response_id: str, recorded: datetime, values: dict[str, Any],
                build: EventBuilder) -> Event:
        person = build.person(values.get(survey.person_field))
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
        assessment = values.get(survey.assessment_field) if survey.assessment_field else None
        return build.event(Kind.SKILLS_ASSESSMENT, record_id=response_id, version=cursor_value(recorded),
                           occurred_at=recorded, payload={
                               "person": person, "assessment_id": str(assessment or survey.assessment_id).strip(),
                               "phase": phase, "scores": scores})

    def _pulse(self, survey: PulseSurvey, response_id: str, recorded: datetime, values: dict[str, Any],
               build: EventBuilder) -> Event:
        person = build.person(values.get(survey.person_field), system=survey.system)
        likert = {code: answer for column, code in survey.likert.items()
                  if (answer := whole(values.get(column), column, 1, 5)) is not None}
        comment = values.get(survey.comment) if survey.comment else None
        return build.event(Kind.FORM_RESPONSE, record_id=response_id, version=cursor_value(recorded),
                           occurred_at=recorded, payload={
                               "form_id": survey.form_id, "person": person, "likert": likert,
                               "recommend": whole(values.get(survey.recommend), "recommend", 0, 10)
                               if survey.recommend else None,
                               "minutes_saved_per_shift": number(values.get(survey.minutes_saved), "minutes_saved")
                               if survey.minutes_saved else None,
                               "comment": None if blank(comment) else build.text(comment)})


def _recode(value: Any) -> str:
    """A recode as the string the options use: 1, 1.0 and "1" are all "1"."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()
