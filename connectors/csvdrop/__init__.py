"""Generic CSV drop folder: form responses, help-desk tickets or training records from any tool that exports CSV.

Each source reads one folder of one kind; which column holds which field is configuration. Rules:
- a file is known by the sha256 of its bytes: a moved or renamed copy is not read again, and a file rewritten
  with more rows is read again in full, its earlier rows getting the same event ids (they dedupe downstream);
- a row that cannot be mapped (a bad date, an unknown status, too many fields) is quarantined with its file
  and line number; the rest of the file is published;
- a mapped column missing from a file's header stops the pull with an error naming the setting;
- a record id made of several columns, or one holding an e-mail address, is hashed, so no identifier
  travels as an id;
- a row is kept as its mapping reads it: mapped columns as they are; a column nobody mapped keeps its heading
  with its value blanked, or is left out when its heading names an identifier (IP address, location, job
  title, e-mail, name, ...); a row whose fields do not line up with the header keeps no values at all, as
  none can be trusted to be what its heading says. A quarantined copy then blanks the person column and any
  id column whose heading names an identifier, and scrubs the rest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar

from connectors.core.build import EventBuilder
from connectors.core.stream import MappingError, Page, PullContext, Schedule, Source, Stream
from connectors.core.tabular import (
    LocalTimes,
    blank,
    duration_seconds,
    file_sha256,
    find_files,
    identifying_heading,
    likert,
    number,
    utc_iso,
    whole,
)
from connectors.csvdrop.client import FILE_FIELD, ROW_FIELD, CsvFile, read_csv
from connectors.csvdrop.settings import CsvDropOptions, FormColumns, TicketColumns, TrainingColumns
from foundation.errors import SourceError
from foundation.source_config import SourceConfig
from schemas.events import Event, Kind

FILE_PAGE_SIZE = 1000  # rows per publish batch when sources.<name>.page_size is not set
_PRIORITY = re.compile(r"^\s*P?(\d)\b", re.IGNORECASE)
_YES = frozenset({"yes", "y", "true", "1", "required", "mandatory"})
_NO = frozenset({"no", "n", "false", "0", "optional", ""})
PROBLEM_FIELD = "__problem__"  # why a row's values were not kept (its fields do not line up with the header)
UNMAPPED = "[unmapped]"  # the value of a column the mapping does not read


class CsvDrop(Source):
    """A folder of CSV files of one kind; see the module docstring and settings.EXAMPLE_YAML."""

    type: ClassVar[str] = "csvdrop"
    summary: ClassVar[str] = "Generic CSV drop folder."
    pull_schedule: ClassVar[Schedule] = Schedule(interval=900)
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream("form_responses", Kind.FORM_RESPONSE, primary_key=("id",), cursor_field=None, sorted_by_cursor=False),
        Stream("helpdesk_tickets", Kind.HELPDESK_TICKET, primary_key=("id",), cursor_field=None,
               sorted_by_cursor=False),
        Stream("training_records", Kind.TRAINING_RECORD, primary_key=("id",), cursor_field=None,
               sorted_by_cursor=False),
    )
    options_model = CsvDropOptions
    options: CsvDropOptions

    def __init__(self, name: str, config: SourceConfig, context: PullContext) -> None:
        super().__init__(name, config, context)
        self.columns = self.options.columns()
        self._mapped = frozenset(column for _, column in self._mapped_columns())
        # Quarantined copies blank the person column and id columns named as identifiers, whatever the headings.
        ids = [column for column in self.columns.id_columns() if identifying_heading(column)]
        self.identifier_fields = tuple(dict.fromkeys([self.columns.person, *ids]))
        self._times: dict[str, LocalTimes] = {}

    # -- reading ------------------------------------------------------------------------------------

    def read(self, stream: Stream, state: dict[str, Any]) -> Iterator[Page]:
        if stream.kind != Kind(self.options.kind):
            return
        since = self.context.since
        done: list[str] = [] if since else list(state.get("files") or [])
        size = self.config.page_size if "page_size" in self.config.model_fields_set else FILE_PAGE_SIZE
        for path in find_files(self.config.path, (self.options.pattern,), self.name, "CSV drop"):
            sha = file_sha256(path)
            if sha in done:
                continue
            file = read_csv(path, encoding=self.options.encoding, delimiter=self.options.delimiter, source=self.name)
            records = self._prepare(file, since)
            done.append(sha)
            for start in range(0, max(len(records), 1), size):
                last = start + size >= len(records)
                # A file counts as read after its last page; a crash before that reads it again (same ids).
                yield Page(records[start:start + size],
                           {"cursor": f"{len(done):08d}", "files": list(done)} if last else None)

    def _prepare(self, file: CsvFile, since: datetime | None) -> list[dict[str, Any]]:
        if not file.header:
            return []
        missing = [(setting, column) for setting, column in self._mapped_columns() if column not in file.header]
        if missing:
            setting, column = missing[0]
            section = {"form_response": "form", "helpdesk_ticket": "ticket", "training_record": "training"}[
                self.options.kind]
            raise SourceError(f"source '{self.name}': {file.path.name} has no column {column!r}; fix "
                              f"sources.{self.name}.options.{section}.{setting} (or set it to null if the drop "
                              f"has no such field); its headings are: {', '.join(file.header)}")
        time_column = self._time_column()
        times = LocalTimes(self.options.timezone, self.options.date_format, day_first=True).learn(
            (r.get(time_column) for r in file.records), self.name, f"sources.{self.name}.options.date_format")
        self._times[file.path.name] = times
        kept = []
        for record in file.records:
            if since is not None:
                try:
                    if times.parse(record.get(time_column)) < since:
                        continue
                except MappingError:
                    pass  # kept: the mapper quarantines it with the reason
            kept.append(self._minimal(record))
        return kept

    def _minimal(self, record: dict[str, str | None]) -> dict[str, str | None]:
        """The row as the source keeps it (see the module docstring): what the mapping reads, nothing more."""
        out: dict[str, str | None] = {FILE_FIELD: record.get(FILE_FIELD), ROW_FIELD: record.get(ROW_FIELD)}
        short = [h for h, v in record.items() if v is None]
        if record.get("__extra__") is not None or short:
            out[PROBLEM_FIELD] = ("the row has more fields than the header" if not short
                                  else f"the row has fewer fields than the header (no {short[0]!r})")
            return out
        for heading, value in record.items():
            if heading in out:
                continue
            if heading in self._mapped:
                out[heading] = value
            elif not identifying_heading(heading):
                out[heading] = value if blank(value) else UNMAPPED
        return out

    def _mapped_columns(self) -> list[tuple[str, str]]:
        c = self.columns
        out = [("id", column) for column in c.id_columns()] + [("person", c.person)]
        out += [(s, getattr(c, s)) for s in ("org_unit", "staff_group") if getattr(c, s)]
        if isinstance(c, FormColumns):
            out += [(s, getattr(c, s)) for s in ("time", "form_id", "recommend", "minutes_saved", "comment")
                    if getattr(c, s)]
            out += [(f"likert.{column}", column) for column in c.likert]
        elif isinstance(c, TicketColumns):
            out += [(s, getattr(c, s)) for s in ("opened", "updated", "resolved", "status", "category", "priority",
                                                 "reopen_count", "satisfaction", "summary") if getattr(c, s)]
        else:
            out += [(s, getattr(c, s)) for s in ("time", "course_id", "course_title", "module", "status", "score",
                                                 "duration", "required") if getattr(c, s)]
        return out

    def _time_column(self) -> str:
        c = self.columns
        return c.updated if isinstance(c, TicketColumns) else c.time

    # -- mapping ------------------------------------------------------------------------------------

    def record_id(self, stream: Stream, record: dict[str, Any]) -> str:
        """The record id, or the file and row when there is none or its columns name an identifier."""
        try:
            if not set(self.columns.id_columns()) & set(self.identifier_fields):
                return self._id(record)
        except MappingError:
            pass
        return f"{record.get(FILE_FIELD)} row {record.get(ROW_FIELD)}"

    def map(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> Event | None:
        try:
            if record.get(PROBLEM_FIELD):
                raise MappingError(record[PROBLEM_FIELD])
            if record.get("__extra__") is not None:
                raise MappingError("the row has more fields than the header")
            short = [h for h, v in record.items() if v is None]
            if short:
                raise MappingError(f"the row has fewer fields than the header (no {short[0]!r})")
            times = self._times[record[FILE_FIELD]]
            c = self.columns
            if isinstance(c, FormColumns):
                return self._form(c, record, times, build)
            if isinstance(c, TicketColumns):
                return self._ticket(c, record, times, build)
            return self._training(c, record, times, build)
        except MappingError as exc:
            raise MappingError(f"row {record.get(ROW_FIELD)} of {record.get(FILE_FIELD)}: {exc}") from None

    def _id(self, record: dict[str, Any]) -> str:
        columns = self.columns.id_columns()
        values = [(record.get(column) or "").strip() for column in columns]
        if not all(values):
            raise MappingError(f"id missing: {' + '.join(repr(c) for c in columns)} must not be empty")
        if len(values) == 1 and "@" not in values[0] and len(values[0]) <= 256:
            return values[0]
        return "row-" + hashlib.sha256("\x1f".join(values).encode()).hexdigest()[:32]

    def _person(self, record: dict[str, Any], build: EventBuilder, system: str | None = None) -> Any:
        c = self.columns
        return build.person(record.get(c.person), system=system,
                            org_unit=(record.get(c.org_unit) or "").strip() or None if c.org_unit else None,
                            staff_group=(record.get(c.staff_group) or "").strip() or None if c.staff_group else None)

    def _form(self, c: FormColumns, record: dict[str, Any], times: LocalTimes, build: EventBuilder) -> Event:
        when = times.parse(record.get(c.time), c.time)
        labels = self.options.likert_labels
        answers = {code: value for column, code in c.likert.items()
                   if (value := likert(record.get(column), labels, column)) is not None}
        form_id = (record.get(c.form_id) or "").strip() if c.form_id else c.form_id_value
        if not form_id:
            raise MappingError(f"form id missing: '{c.form_id}' is empty")
        comment = record.get(c.comment) if c.comment else None
        return build.event(Kind.FORM_RESPONSE, record_id=self._id(record), version=utc_iso(when), occurred_at=when,
                           payload={
                               "form_id": form_id, "person": self._person(record, build), "likert": answers,
                               "recommend": whole(record.get(c.recommend), c.recommend, 0, 10) if c.recommend
                               else None,
                               "minutes_saved_per_shift": number(record.get(c.minutes_saved), c.minutes_saved)
                               if c.minutes_saved else None,
                               "comment": None if blank(comment) else build.text(comment)})

    def _ticket(self, c: TicketColumns, record: dict[str, Any], times: LocalTimes, build: EventBuilder) -> Event:
        opened = times.parse(record.get(c.opened), c.opened)
        updated = times.parse(record.get(c.updated), c.updated)
        resolved_raw = record.get(c.resolved) if c.resolved else None
        resolved = None if blank(resolved_raw) else times.parse(resolved_raw, c.resolved or "resolved")
        state = (record.get(c.status) or "").strip()
        status = c.status_map.get(state.lower())
        if status is None:
            raise MappingError(f"{c.status} {state!r} is not in status_map ({', '.join(sorted(c.status_map))})")
        category = (record.get(c.category) or "").strip()
        if not category:
            raise MappingError(f"{c.category} missing")
        summary = record.get(c.summary) if c.summary else None
        return build.event(Kind.HELPDESK_TICKET, record_id=self._id(record), version=utc_iso(updated),
                           occurred_at=updated, payload={
                               "person": self._person(record, build), "opened_at": opened, "updated_at": updated,
                               "resolved_at": resolved, "status": status, "category": category[:128],
                               "priority": self._priority(c, record.get(c.priority)),
                               "reopen_count": whole(record.get(c.reopen_count), c.reopen_count or "", 0, 1000) or 0
                               if c.reopen_count else 0,
                               "satisfaction": whole(record.get(c.satisfaction), c.satisfaction or "", 1, 5)
                               if c.satisfaction else None,
                               "summary": None if blank(summary) else build.text(summary)})

    @staticmethod
    def _priority(c: TicketColumns, value: Any) -> int:
        text = "" if value is None else str(value).strip()
        match = _PRIORITY.match(text)
        found = int(match.group(1)) if match else c.priority_names.get(text.lower())
        if found is None or not 1 <= found <= 5:
            raise MappingError(f"{c.priority} {text!r} is not a priority 1..5 nor one of "
                               f"{', '.join(sorted(c.priority_names))}")
        return found

    def _training(self, c: TrainingColumns, record: dict[str, Any], times: LocalTimes, build: EventBuilder) -> Event:
        when = times.parse(record.get(c.time), c.time)
        status = (record.get(c.status) or "").strip()
        verb = c.verb_map.get(status.lower())
        if verb is None:
            raise MappingError(f"{c.status} {status!r} is not in verb_map ({', '.join(sorted(c.verb_map))})")
        course = (record.get(c.course_id) or "").strip()
        if not course:
            raise MappingError(f"{c.course_id} missing")
        raw_score = number(record.get(c.score), c.score) if c.score else None
        score = None if raw_score is None else round(raw_score / c.score_scale, 4)
        if c.required:
            flag = (record.get(c.required) or "").strip().lower()
            if flag not in _YES | _NO:
                raise MappingError(f"{c.required} {flag!r} is not yes or no")
            required = flag in _YES
        else:
            required = course in c.required_courses
        title = (record.get(c.course_title) or "").strip() if c.course_title else ""
        module = (record.get(c.module) or "").strip() if c.module else ""
        return build.event(Kind.TRAINING_RECORD, record_id=self._id(record), version=utc_iso(when),
                           occurred_at=when, payload={
                               "person": self._person(record, build), "course_id": course,
                               "course_title": title[:256] or None, "module": module[:256] or None, "verb": verb,
                               "score": score,
                               "duration_seconds": duration_seconds(record.get(c.duration), c.duration,
                                                                    c.duration_unit) if c.duration else None,
                               "required": required})
