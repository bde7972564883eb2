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
- `ID` counts responses of one form upwards, so a later export of the same form repeats every earlier row;
  the sha256 of every file already read is kept, so a copy or renamed file is not read twice;
- a respondent can edit a response when the form allows it: a later export shows the same ID with new answers
  and the same start and completion times. State keeps per form the highest ID and per response the digests
  of its mapped answers (`row_digest`, 16 hex characters; the Email and Name columns are not part of it), so a
  row is read again only when its answers changed. A row at or below the form's highest ID without a digest
  (state kept before digests were) counts as read with its current answers, unless its "Last modified time"
  is at or after the latest one read;
- a response's version is its "Last modified time" when the export has one that differs from the completion
  time, else its completion time; its n-th content after the first is `<completion time>~<n, 4 digits>.<digest>`,
  so an edit gets a new event id and sorts after the versions before it (the analytics views show the latest),
  while the same answers read again, or replayed with `since`, keep the id they were published with;
- an export holds every response of its form not deleted in Forms ("Delete all responses" or deleting one):
  a response read before and missing from a later export is retracted (reason `removed`, version
  `removed:<first 16 hex characters of the export's sha256>`, at the export's time) once, and its ID moves from
  the form's `rows` to `removed`, so later exports, and older downloads still holding it, send nothing for it.
  Only an export whose highest ID reaches the form's highest ID read counts: an older download read late lacks
  newer responses without their being deleted. So a deleted newest response is retracted with the first export
  that holds a response submitted after it, which relies on Forms numbering new responses on from its highest ID.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from connectors.core.build import EventBuilder, retraction
from connectors.core.identity import UNKNOWN_GROUP
from connectors.core.stream import MappingError, Page, Schedule, Source, Stream
from connectors.core.tabular import (
    LocalTimes,
    blank,
    file_sha256,
    find_files,
    likert,
    number,
    row_digest,
    utc_iso,
    whole,
)
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
from foundation.errors import SourceError
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


@dataclass
class ExportRead:
    """One export as the pull sees it: the rows to publish, and what reading every row found."""

    records: list[dict[str, Any]]
    top_id: int
    modified: str
    present: set[int] = field(default_factory=set)  # every response ID in the export (not deleted in Forms)
    latest: str = ""  # the latest completion or modified time in the export
    unsent: dict[int, str] = field(default_factory=dict)  # rows read before digests were kept: their digests


class MsFormsState:
    """Per form the highest ID and latest modified time read, and per response the digests of its answers
    (`rows`: ID -> digests joined by commas, the first content first) or, once deleted in Forms, its ID in
    `removed`; the files already read; a cursor."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.files: list[str] = list(state.get("files") or [])
        self.forms: dict[str, dict[str, Any]] = {k: _copy(v) for k, v in (state.get("forms") or {}).items()}

    def mark(self, form_id: str) -> tuple[int, str]:
        got = self.forms.get(form_id) or {}
        return int(got.get("id") or 0), str(got.get("modified") or "")

    def advance(self, form_id: str, last_id: int, modified: str) -> None:
        old_id, old_modified = self.mark(form_id)
        self.forms.setdefault(form_id, {}).update(id=max(old_id, last_id), modified=max(old_modified, modified))

    def history(self, form_id: str, row_id: int) -> list[str]:
        """The digests of one response's contents read so far, oldest first."""
        value = ((self.forms.get(form_id) or {}).get("rows") or {}).get(str(row_id))
        return value.split(",") if value else []

    def remember(self, form_id: str, row_id: int, digest: str) -> None:
        """`digest` is the response's current content (appended unless it is already the latest)."""
        history = self.history(form_id, row_id)
        if history[-1:] != [digest]:
            form = self.forms.setdefault(form_id, {"id": 0, "modified": ""})
            form.setdefault("rows", {})[str(row_id)] = ",".join([*history, digest])

    def known_ids(self, form_id: str) -> set[int]:
        """Every response ID of the form read so far."""
        return {int(k) for k in (self.forms.get(form_id) or {}).get("rows") or {}}

    def removed(self, form_id: str) -> set[int]:
        """The response IDs of the form retracted because Forms deleted them."""
        return set((self.forms.get(form_id) or {}).get("removed") or [])

    def remove(self, form_id: str, row_id: int) -> None:
        form = self.forms.setdefault(form_id, {"id": 0, "modified": ""})
        (form.get("rows") or {}).pop(str(row_id), None)
        form["removed"] = sorted({*form.get("removed", []), row_id})

    def as_dict(self) -> dict[str, Any]:
        # The cursor only grows: IDs only rise and files are only added. Fixed widths keep string order.
        total = sum(int(v.get("id") or 0) for v in self.forms.values())
        return {"cursor": f"{total:012d}.{len(self.files):06d}", "files": list(self.files),
                "forms": {k: _copy(v) for k, v in self.forms.items()}}


def _copy(form: dict[str, Any]) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v for k, v in form.items()}


class MsForms(Source):
    """Microsoft Forms exports; see the module docstring for the quirks and settings.EXAMPLE_YAML for config."""

    type: ClassVar[str] = "msforms"
    summary: ClassVar[str] = "Microsoft Forms exports (xlsx/csv) dropped in the exports folder."
    pull_schedule: ClassVar[Schedule] = Schedule(interval=900)
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream("responses", Kind.FORM_RESPONSE, primary_key=("form_id", "id"), cursor_field="ID",
               sorted_by_cursor=True),
    )
    options_model = MsFormsOptions
    identifier_fields = ("email",)
    options: MsFormsOptions

    def read(self, stream: Stream, state: dict[str, Any]) -> Iterator[Page]:
        since = self.context.since
        # A replay (`since`) reads every file again and looks versions up in the stored digests, adding none.
        known = MsFormsState(state)
        st = known if since is None else MsFormsState({**state, "files": []})
        size = self.config.page_size if "page_size" in self.config.model_fields_set else FILE_PAGE_SIZE
        for path in self._files():
            sha = file_sha256(path)
            if sha in st.files:
                continue
            export = read_export(path, source=self.name, sheet=self.options.sheet, encoding=self.options.encoding)
            mapping = self.options.form(export.title)
            assert mapping is not None
            found = self._records(export, mapping, known, since)
            records = found.records
            mark_id = st.mark(mapping.form_id)[0]
            for start in range(0, max(len(records), 1), size):
                page = records[start:start + size]
                if since is None:  # a page's digests are stored with it, once its events are acknowledged
                    for record in page:
                        if isinstance(record["id"], int):
                            st.remember(mapping.form_id, record["id"], record["digest"])
                if start + size >= len(records):  # the file counts as read after its last page
                    if since is None:
                        for row_id, digest in found.unsent.items():
                            st.remember(mapping.form_id, row_id, digest)
                        page = page + self._removals(st, mapping.form_id, found, mark_id, path, sha)
                    st.advance(mapping.form_id, found.top_id, found.modified)
                    st.files.append(sha)
                elif isinstance(page[-1]["id"], int):  # rows are in ID order: a crash resumes above this page
                    st.advance(mapping.form_id, page[-1]["id"], "")
                yield Page(page, st.as_dict())

    def _removals(self, st: MsFormsState, form_id: str, found: ExportRead, mark_id: int, path: Path,
                  sha: str) -> list[dict[str, Any]]:
        """Retraction records of the responses read before and missing from this export, taken out of `st`;
        none when the export is older than the form's highest ID read."""
        if max(found.present, default=0) < mark_id:
            return []
        # The export's time: its file's, unless a copy or sync kept an earlier one than its latest response's.
        at = max(utc_iso(datetime.fromtimestamp(path.stat().st_mtime, UTC)), found.latest)
        gone = sorted(st.known_ids(form_id) - found.present)
        for row_id in gone:
            st.remove(form_id, row_id)
        return [{"form_id": form_id, "id": row_id, "removed": f"removed:{sha[:16]}", "removed_at": at,
                 "file": path.name, "row": None, "problem": None} for row_id in gone]

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

    def _records(self, export: Export, mapping: FormMapping, known: MsFormsState,
                 since: datetime | None) -> ExportRead:
        """Rows to publish, in ID order: new IDs and changed answers (with `since`: every row of the window),
        each with its digest and revision (how many other contents of the response were read before it)."""
        layout = self._layout(export, mapping)
        time_columns = [layout.completed, layout.start] + ([layout.modified] if layout.modified is not None else [])
        times = LocalTimes(self.options.timezone, self.options.date_format, day_first=False).learn(
            (row[i] for row in export.rows for i in time_columns if i < len(row)), self.name,
            f"sources.{self.name}.options.date_format")
        mark_id, mark_modified = known.mark(mapping.form_id)
        removed = known.removed(mapping.form_id)
        found = ExportRead([], mark_id, mark_modified)
        width = len(export.header)
        for number_in_file, raw in enumerate(export.rows, start=2):
            row = tuple(raw) + (None,) * (width - len(raw))
            record = self._record(export, mapping, layout, row, number_in_file, times)
            row_id, changed = record["id"], record["modified_at"] or ""
            found.modified = max(found.modified, changed)
            found.latest = max(found.latest, changed, record["completed_at"] or "")
            when = record["modified_at"] or record["completed_at"]
            in_window = since is None or when is None or when >= utc_iso(since)
            if not isinstance(row_id, int):  # quarantined: its ID is not a number
                if in_window:
                    found.records.append(record)
                continue
            found.top_id = max(found.top_id, row_id)
            found.present.add(row_id)
            if row_id in removed:
                continue  # deleted in Forms and retracted: an older download still holds it
            history, digest = known.history(mapping.form_id, row_id), record["digest"]
            if since is not None:
                record["revision"] = _last_index(history, digest)
                if in_window:
                    found.records.append(record)
            elif history[-1:] == [digest]:
                continue  # answers unchanged since they were read
            elif not history and row_id <= mark_id and not (mark_modified and changed >= mark_modified):
                found.unsent[row_id] = digest  # read before digests were kept, and not modified since
            else:
                record["revision"] = len(history)
                found.records.append(record)
        found.records.sort(key=lambda r: r["id"] if isinstance(r["id"], int) else -1)
        return found

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
        answers = {f"likert.{code}": row[i] for code, i in layout.likert.items()} | {
            name: row[i] for name, i in layout.fields.items()}
        return {
            "form_id": mapping.form_id, "system": mapping.system or self.config.system, "id": row_id,
            "completed_at": completed, "modified_at": when(layout.modified, MODIFIED),
            "email": row[layout.email], "likert": {code: row[i] for code, i in layout.likert.items()},
            **{name: row[i] for name, i in layout.fields.items()},
            "digest": row_digest(answers), "revision": 0,
            "file": export.path.name, "row": line, "problem": "; ".join(problems) or None,
        }

    def record_id(self, stream: Stream, record: dict[str, Any]) -> str:
        return f"{record.get('form_id')}:{record.get('id')} ({record.get('file')} row {record.get('row')})"

    def map(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> Event | None:
        if record["problem"]:
            raise MappingError(record["problem"])
        if record.get("removed"):
            return retraction(build, Kind.FORM_RESPONSE, record_id=f"{record['form_id']}:{record['id']}",
                              version=record["removed"], reason="removed",
                              occurred_at=datetime.fromisoformat(record["removed_at"].replace("Z", "+00:00")))
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
        completed, modified, revision = record["completed_at"], record["modified_at"], record.get("revision") or 0
        if modified and modified != completed:
            version = modified
        elif revision:  # an edit the export gives no time for
            version = f"{completed}~{revision:04d}.{record['digest']}"
        else:
            version = completed
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


def _last_index(history: list[str], digest: str) -> int:
    """Which content of a response `digest` is (its latest reading), or the next one when it is new."""
    return len(history) - 1 - history[::-1].index(digest) if digest in history else len(history)


def _code(value: Any) -> str | None:
    """A value usable as an org unit or staff group code, else None (the person stays unmatched)."""
    if blank(value):
        return None
    text = str(value).strip()
    return text if _CODE.match(text) else None
