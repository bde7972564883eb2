"""Microsoft Forms response exports (xlsx, or CSV saved from Excel) dropped in a folder.

Forms has no response API an NHS tenant can open to a service account, so the programme exports results
("Open results in Excel") to a shared folder. Quirks handled here:
- the form is known only by the file name, "<Form title>(1-N).xlsx"; the title selects the question mapping;
- columns are "ID", "Start time", "Completion time", "Email", "Name" (newer exports add "Last modified
  time"), then one column per question headed by the question's text;
- times are local wall-clock times without a zone: datetime cells in xlsx, text in the CSV's locale format
  (`11/3/2026 9:14:05` month first, or `2026-11-03 09:14:05`), read with `timezone` and `date_format`;
- anonymous forms put "anonymous" in Email: the respondent is matched to nobody, and the form's own ward and
  staff-group questions give the unit and group;
- `ID` counts responses of one form upwards, so a later export of the same form repeats every earlier row:
  state keeps each form's highest ID (and latest "Last modified time", so an edited response is read again)
  and the sha256 of every file already read, so a copy or renamed file is not read twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from connectors.core.build import EventBuilder
from connectors.core.errors import SourceError
from connectors.core.identity import UNKNOWN_GROUP
from connectors.core.stream import MappingError, Page, Source, Stream, register
from connectors.core.tabular import LocalTimes, blank, file_sha256, find_files, likert, number, utc_iso, whole
from connectors.msforms.client import Export, form_title, read_export
from connectors.msforms.settings import (
    ANONYMOUS,
    COMPLETED,
    EMAIL,
    ID,
    MODIFIED,
    PATTERNS,
    START,
    FormMapping,
    MsFormsOptions,
)
from schemas.events import Event, Kind

log = logging.getLogger(__name__)
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _./&()'-]{0,63}$")
FILE_PAGE_SIZE = 1000  # rows per publish batch when sources.<name>.page_size is not set


@dataclass
class _Layout:
    """Where each mapped answer sits in one export."""

    id: int
    completed: int
    start: int
    email: int
    modified: int | None
    likert: dict[str, int]
    fields: dict[str, int]  # recommend, minutes_saved, comment, unit, staff_group


class MsFormsState:
    """Per form the highest ID and latest modified time read; the files already read; an ordered cursor."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.files: list[str] = list(state.get("files") or [])
        self.forms: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (state.get("forms") or {}).items()}

    def mark(self, form_id: str) -> tuple[int, str]:
        got = self.forms.get(form_id) or {}
        return int(got.get("id") or 0), str(got.get("modified") or "")

    def advance(self, form_id: str, last_id: int, modified: str) -> None:
        old_id, old_modified = self.mark(form_id)
        self.forms[form_id] = {"id": max(old_id, last_id), "modified": max(old_modified, modified)}

    def as_dict(self) -> dict[str, Any]:
        # The cursor only grows: IDs only rise and files are only added. Fixed widths keep string order.
        total = sum(int(v.get("id") or 0) for v in self.forms.values())
        return {"cursor": f"{total:012d}.{len(self.files):06d}", "files": list(self.files),
                "forms": {k: dict(v) for k, v in self.forms.items()}}


@register
class MsForms(Source):
    """Microsoft Forms exports; see the module docstring for the quirks and settings.EXAMPLE_YAML for config."""

    type: ClassVar[str] = "msforms"
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream("responses", Kind.FORM_RESPONSE, primary_key=("form_id", "id"), cursor_field="ID",
               sorted_by_cursor=True),
    )
    options_model = MsFormsOptions
    identifier_fields = ("email",)
    options: MsFormsOptions

    def read(self, stream: Stream, state: dict[str, Any]) -> Iterator[Page]:
        since = self.context.since
        st = MsFormsState({} if since else state)
        size = self.config.page_size if "page_size" in self.config.model_fields_set else FILE_PAGE_SIZE
        for path in self._files():
            sha = file_sha256(path)
            if sha in st.files:
                continue
            export = read_export(path, source=self.name, sheet=self.options.sheet, encoding=self.options.encoding)
            mapping = self.options.form(export.title)
            assert mapping is not None
            records, last_id, modified = self._records(export, mapping, st, since)
            for start in range(0, max(len(records), 1), size):
                page = records[start:start + size]
                if start + size >= len(records):  # the file counts as read after its last page
                    st.advance(mapping.form_id, last_id, modified)
                    st.files.append(sha)
                elif isinstance(page[-1]["id"], int):  # rows are in ID order: a crash resumes above this page
                    st.advance(mapping.form_id, page[-1]["id"], "")
                yield Page(page, st.as_dict())

    def _files(self) -> list[Path]:
        """The exports of listed forms; an unlisted form stops the pull before anything is read."""
        files = []
        for path in find_files(self.config.path, PATTERNS, self.name, "Microsoft Forms export"):
            title = form_title(path)
            if self.options.form(title) is not None:
                files.append(path)
            elif self.options.on_unknown_form == "skip":
                log.warning("%s: %s is an export of form %r, which options.forms does not list; left unread",
                            self.name, path.name, title)
            else:
                raise SourceError(f"source '{self.name}': {path.name} is an export of form '{title}', which "
                                  f"sources.{self.name}.options.forms does not list; add it with its form_id and "
                                  "question mapping (or set options.on_unknown_form: skip)")
        return files

    def _layout(self, export: Export, mapping: FormMapping) -> _Layout:
        def where(text: str, setting: str) -> int:
            index = export.column(text)
            if index is None:
                raise SourceError(
                    f"source '{self.name}': {export.path.name} (form '{export.title}') has no question {text!r}; "
                    f"fix sources.{self.name}.options.forms.'{export.title}'.{setting} to the column heading")
            return index

        fixed = {c: export.column(c) for c in (ID, START, COMPLETED, EMAIL)}
        fields = {s: where(t, s) for s in ("recommend", "minutes_saved", "comment", "unit", "staff_group")
                  if (t := getattr(mapping, s))}
        return _Layout(id=fixed[ID] or 0, start=fixed[START] or 0, completed=fixed[COMPLETED] or 0,
                       email=fixed[EMAIL] or 0, modified=export.column(MODIFIED),
                       likert={code: where(text, f"likert.{text!r}") for text, code in mapping.likert.items()},
                       fields=fields)

    def _records(self, export: Export, mapping: FormMapping, st: MsFormsState,
                 since: datetime | None) -> tuple[list[dict[str, Any]], int, str]:
        """Rows not read before (ID above the form's mark, or modified since), as records; the new marks."""
        layout = self._layout(export, mapping)
        time_columns = [layout.completed, layout.start] + ([layout.modified] if layout.modified is not None else [])
        times = LocalTimes(self.options.timezone, self.options.date_format, day_first=False).learn(
            (row[i] for row in export.rows for i in time_columns if i < len(row)), self.name,
            f"sources.{self.name}.options.date_format")
        mark_id, mark_modified = st.mark(mapping.form_id)
        records: list[dict[str, Any]] = []
        top_id, top_modified = mark_id, mark_modified
        width = len(export.header)
        for number_in_file, raw in enumerate(export.rows, start=2):
            row = tuple(raw) + (None,) * (width - len(raw))
            record = self._record(export, mapping, layout, row, number_in_file, times)
            row_id, changed = record["id"], record["modified_at"] or ""
            if isinstance(row_id, int):
                top_id = max(top_id, row_id)
            top_modified = max(top_modified, changed)
            if since is not None:
                when = record["modified_at"] or record["completed_at"]
                if when is None or when >= utc_iso(since):
                    records.append(record)
            elif not isinstance(row_id, int) or row_id > mark_id or (mark_modified and changed >= mark_modified):
                records.append(record)
        records.sort(key=lambda r: r["id"] if isinstance(r["id"], int) else -1)
        return records, top_id, top_modified

    def _record(self, export: Export, mapping: FormMapping, layout: _Layout, row: tuple[Any, ...], line: int,
                times: LocalTimes) -> dict[str, Any]:
        problems: list[str] = []
        raw_id = row[layout.id]
        row_id: int | str | None = raw_id
        try:
            row_id = int(str(raw_id).strip())
            if row_id < 1:
                raise ValueError
        except (TypeError, ValueError):
            problems.append(f"ID {raw_id!r} is not a positive whole number")

        def when(index: int | None, what: str) -> str | None:
            if index is None or blank(row[index]):
                return None
            try:
                return utc_iso(times.parse(row[index], what))
            except MappingError as exc:
                problems.append(str(exc))
                return None

        completed = when(layout.completed, COMPLETED)
        if completed is None and not problems:
            problems.append(f"{COMPLETED} missing")
        return {
            "form_id": mapping.form_id, "system": mapping.system or self.config.system, "id": row_id,
            "completed_at": completed, "modified_at": when(layout.modified, MODIFIED),
            "email": row[layout.email], "likert": {code: row[i] for code, i in layout.likert.items()},
            **{field: row[i] for field, i in layout.fields.items()},
            "file": export.path.name, "row": line, "problem": "; ".join(problems) or None,
        }

    def record_id(self, stream: Stream, record: dict[str, Any]) -> str:
        return f"{record.get('form_id')}:{record.get('id')} ({record.get('file')} row {record.get('row')})"

    def map(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> Event | None:
        if record["problem"]:
            raise MappingError(record["problem"])
        labels = self.options.likert_labels
        answers = {code: value for code, raw in record["likert"].items()
                   if (value := likert(raw, labels, code)) is not None}
        form_id, response_id, system = record["form_id"], record["id"], record["system"]
        email = record["email"]
        if blank(email) or str(email).strip().lower() == ANONYMOUS:
            unit = self._unit(record.get("unit"))
            group = _code(record.get("staff_group")) or UNKNOWN_GROUP
            # Anonymous: a pseudonym of this response alone, linked to nobody in the directory.
            person = build.person(f"anonymous:{form_id}:{response_id}", org_unit=unit, staff_group=group,
                                  system=system)
        else:
            person = build.person(str(email), system=system)
        completed, modified = record["completed_at"], record["modified_at"]
        version = modified if modified and modified != completed else completed
        comment = record.get("comment")
        return build.event(Kind.FORM_RESPONSE, record_id=f"{form_id}:{response_id}", version=version,
                           occurred_at=datetime.fromisoformat(completed.replace("Z", "+00:00")), payload={
                               "form_id": form_id, "person": person, "likert": answers,
                               "recommend": whole(record.get("recommend"), "recommend", 0, 10),
                               "minutes_saved_per_shift": number(record.get("minutes_saved"), "minutes_saved"),
                               "comment": None if blank(comment) else build.text(comment)})

    def _unit(self, answer: Any) -> str | None:
        if blank(answer):
            return None
        text = str(answer).strip()
        mapped = self.options.unit_codes.get(text) or next(
            (code for name, code in self.options.unit_codes.items() if name.lower() == text.lower()), None)
        return _code(mapped or text)


def _code(value: Any) -> str | None:
    """A value usable as an org unit or staff group code, else None (the person stays unmatched)."""
    if blank(value):
        return None
    text = str(value).strip()
    return text if _CODE.match(text) else None
