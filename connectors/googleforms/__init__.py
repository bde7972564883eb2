"""Google Forms: survey responses from the Forms API v1 (`forms.get` and `forms.responses.list`).

Quirks of the API this connector deals with:
- answers are keyed by question id, which differs per form; questions are mapped by title (settings.py), so
  six copies of a survey, or a re-ordered form, map with one configuration;
- Likert statements come as 1-5 linear scales or as rows of a grid (`questionGroupItem`), whose answers are
  the column labels ("Agree"); every answer value is text, numbers included;
- the listing is not sorted and `formId` is missing from listed responses; the only filter is
  `timestamp >= N` on the last submission time, and a page token is only valid with the filter it came with;
- an edited response keeps its id and gets a new `lastSubmittedTime`, so it is read again as a new version;
- timestamps carry 0 to 9 fractional digits, so cursors and versions are rewritten in one fixed format;
- unanswered questions are simply absent from `answers`.

State per form: the latest `lastSubmittedTime` read, kept `clock_skew_seconds` behind the run's start,
because responses submitted during an unsorted listing can land on pages already read.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, ClassVar

from connectors.core.build import EventBuilder
from connectors.core.errors import CursorExpired
from connectors.core.stream import MappingError, Page, Schedule, Source, Stream, cursor_after
from connectors.googleforms.answers import (
    FormIndex,
    answer_values,
    format_cursor,
    index_form,
    label_scores,
    parse_likert,
    parse_minutes,
    parse_recommend,
    parse_timestamp,
    timestamp_filter,
)
from connectors.googleforms.client import GoogleFormsClient
from connectors.googleforms.settings import EXAMPLE_YAML, MAX_LISTING_RESTARTS, GoogleFormsOptions
from foundation.errors import SourceError
from schemas.events import Event, Kind

log = logging.getLogger(__name__)
__all__ = ["EXAMPLE_YAML", "GoogleForms"]


class GoogleForms(Source):
    type: ClassVar[str] = "googleforms"
    summary: ClassVar[str] = "Google Forms responses (Forms API), incremental by last submitted time."
    pull_schedule: ClassVar[Schedule] = Schedule(interval=900)
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream("responses", Kind.FORM_RESPONSE, primary_key=("formId", "responseId"),
               cursor_field="lastSubmittedTime", sorted_by_cursor=False),
    )
    options_model = GoogleFormsOptions
    identifier_fields = ("respondentEmail",)
    options: GoogleFormsOptions

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.client = GoogleFormsClient(self.name, self.config)
        self.forms: dict[str, FormIndex] = {}
        self.scores = label_scores(self.options.likert_labels)

    def close(self) -> None:
        self.client.close()

    def record_id(self, stream: Stream, record: dict[str, Any]) -> str:
        form = self.forms.get(record.get("formId", ""))
        return f"{form.code if form else record.get('formId', '')}:{record.get('responseId', '')}"

    # -- reading --------------------------------------------------------------------------------------

    def read(self, stream: Stream, state: dict[str, Any]) -> Iterator[Page]:
        cursors: dict[str, str] = dict(state.get("forms") or {})
        cap = format_cursor(self.context.run_started - timedelta(seconds=self.options.clock_skew_seconds))
        since = format_cursor(self.context.since) if self.context.since else None
        for position, spec in enumerate(self.options.forms):
            self.forms[spec.id] = index_form(self.client.form(spec.id), spec, position, self.options, self.name)
            start = since or cursors.get(spec.id)
            latest: str | None = None
            for records in self._listing(spec.id, start):
                for record in records:
                    record["formId"] = spec.id  # listed responses leave it out
                    submitted = record.get("lastSubmittedTime")
                    # A record with a bad time is quarantined by map() and does not move the cursor.
                    with contextlib.suppress(MappingError):
                        latest = max(latest or "", format_cursor(parse_timestamp(submitted)))
                yield Page(records, None)
            cursors[spec.id] = cursor_after(cursors.get(spec.id), latest, cap) or ""
            if not cursors[spec.id]:
                del cursors[spec.id]
            yield Page([], {"cursor": max(cursors.values(), default=""), "forms": dict(cursors)})

    def _listing(self, form_id: str, start: str | None) -> Iterator[list[dict[str, Any]]]:
        """Every page of one form's responses from `start`; a refused page token restarts the listing."""
        filter_ = timestamp_filter(start) if start else None
        for attempt in range(MAX_LISTING_RESTARTS + 1):
            try:
                yield from self.client.responses(form_id, filter_, self.config.page_size)
                return
            except CursorExpired as exc:
                if attempt == MAX_LISTING_RESTARTS:
                    raise SourceError(f"source '{self.name}': form {form_id} kept refusing its page tokens "
                                      f"({exc}); try again later") from None
                log.info("%s: %s; listing form %s again from %s", self.name, exc, form_id, start or "the start")

    # -- mapping --------------------------------------------------------------------------------------

    def map(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> Event | None:
        form = self.forms[record["formId"]]
        response_id = self.require(record, "responseId", "response id")
        submitted = parse_timestamp(self.require(record, "lastSubmittedTime"))
        likert: dict[str, int] = {}
        recommend: int | None = None
        minutes: float | None = None
        comment: str | None = None
        respondent = record.get("respondentEmail")
        scores = self.scores
        for question_id, answer in (record.get("answers") or {}).items():
            question = form.questions.get(question_id)
            values = answer_values(answer) if question is not None else []
            if question is None or not values:
                continue
            value = values[0]
            if question.role == "likert":
                likert[question.code or ""] = parse_likert(question, value, scores)
            elif question.role == "recommend":
                recommend = parse_recommend(question, value)
            elif question.role == "minutes":
                minutes = parse_minutes(question, value)
            elif question.role == "comment":
                comment = build.text(value)
            elif question.role == "respondent" and not respondent:
                respondent = value
        if not respondent:
            raise MappingError("person missing: the response has no respondentEmail (the form does not collect "
                               "e-mail addresses) and no answer to options.respondent_question")
        if not likert and recommend is None and minutes is None and comment is None:
            raise MappingError("no answer to any mapped question")
        version = format_cursor(submitted)
        return build.event(Kind.FORM_RESPONSE, record_id=f"{form.code}:{response_id}", version=version,
                           occurred_at=submitted, payload={
                               "form_id": form.code, "person": build.person(respondent), "likert": likert,
                               "recommend": recommend, "minutes_saved_per_shift": minutes, "comment": comment})
