"""Microsoft Forms exports of the simulated trust's survey responses, written as the real downloads are.

Half of the world's form responses are collected with Microsoft Forms (the others through Google Forms, a
CSV drop and webhooks: see SHARES). Each form is exported to "<Form title>(1-N).xlsx" (or a CSV saved from
Excel): IDs count each form's responses from 1 in submission order, times are Europe/London wall-clock
times without a zone, answers are the Likert labels. The six forms use three export styles:
- EPR forms: xlsx with datetime cells and the newer "Last modified time" column;
- ePMA forms: CSV with US-style text times (`11/3/2026 9:14:05`), as Excel on an en-US machine saves them;
- Patient Portal forms: anonymous ("anonymous" in Email), xlsx with ISO text times, ward and staff group
  asked as questions.
A respondent can edit a submitted response (`edit_response`): later exports show it under the same ID with the
new answers and the same start and completion times; only the EPR style's "Last modified time" moves.
The form's owner can delete a response or all of them (`delete_response`, `delete_all_responses`): later
exports leave them out, and the remaining and later responses keep their IDs.
"""

from __future__ import annotations

import csv
import hashlib
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from connectors.msforms.settings import (
    ANONYMOUS,
    COMPLETED,
    DEFAULT_FORMS,
    EMAIL,
    ID,
    MODIFIED,
    NAME,
    START,
    FormMapping,
)
from connectors.simulator.world import World, assign
from connectors.synthetic import generate_trust
from schemas.events import Event, Kind

EXPORT_DIR = "msforms"
SHARES = {"msforms": 0.5, "csvdrop": 0.1, "googleforms": 0.25, "webhook": 0.15}
LONDON = ZoneInfo("Europe/London")
LABELS = {5: "Strongly agree", 4: "Agree", 3: "Neither agree nor disagree", 2: "Disagree", 1: "Strongly disagree"}
TITLES = {m.form_id: title for title, m in DEFAULT_FORMS.items()}
Style = Literal["xlsx_cells", "csv_us", "xlsx_iso"]
STYLES: dict[str, Style] = {"epr-pulse": "xlsx_cells", "epr-readiness": "xlsx_cells", "epma-pulse": "csv_us",
                            "epma-readiness": "csv_us", "portal-pulse": "xlsx_iso", "portal-readiness": "xlsx_iso"}

_BY_FORM: weakref.WeakKeyDictionary[World, dict[str, list[Event]]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Edit:
    """A respondent's change to a submitted response: the answers that change (item code -> 1..5, recommend)."""

    at: datetime
    likert: dict[str, int] = field(default_factory=dict)
    recommend: int | None = None  # None: unchanged


_EDITS: weakref.WeakKeyDictionary[World, dict[tuple[str, int], list[Edit]]] = weakref.WeakKeyDictionary()
_DELETIONS: weakref.WeakKeyDictionary[World, dict[tuple[str, int], datetime]] = weakref.WeakKeyDictionary()


def responses(world: World) -> dict[str, list[Event]]:
    """Every Microsoft Forms response of each form (visible or not yet), in submission order: index + 1 is ID."""
    cached = _BY_FORM.get(world)
    if cached is None:
        cached = {}
        for event in world.events:
            if event.kind == Kind.FORM_RESPONSE and assign(event.source_record_id, SHARES) == "msforms":
                cached.setdefault(event.payload.form_id, []).append(event)
        for events in cached.values():
            events.sort(key=lambda e: (e.occurred_at, e.source_record_id))
        _BY_FORM[world] = cached
    return cached


def visible(world: World) -> dict[str, list[Event]]:
    return {form: [e for e in events if e.occurred_at <= world.clock] for form, events in responses(world).items()}


def response_ids(world: World) -> set[str]:
    """What the msforms connector calls the responses exported at the world's clock: `<form_id>:<ID>`."""
    return {f"{form}:{index}" for form, events in visible(world).items() for index in range(1, len(events) + 1)
            if index not in deleted(world, form)}


def delete_response(world: World, form_id: str, number: int, *, at: datetime | None = None) -> None:
    """The form's owner deletes response `number` (its ID) of `form_id` at `at` (default: the world's clock);
    exports made once the clock reaches `at` leave it out."""
    if not 1 <= number <= len(responses(world).get(form_id, [])):
        raise ValueError(f"form {form_id} has no response {number}")
    when = at or world.clock
    made = _DELETIONS.setdefault(world, {})
    made[(form_id, number)] = min(made.get((form_id, number), when), when)


def delete_all_responses(world: World, form_id: str, *, at: datetime | None = None) -> list[int]:
    """"Delete all responses": every response of `form_id` submitted by `at` (default: the world's clock);
    the IDs deleted."""
    when = at or world.clock
    numbers = [n for n, e in enumerate(responses(world).get(form_id, []), 1) if e.occurred_at <= when]
    for number in numbers:
        delete_response(world, form_id, number, at=when)
    return numbers


def deleted(world: World, form_id: str) -> set[int]:
    """The IDs of `form_id`'s responses deleted by the world's clock."""
    return {n for (form, n), at in _DELETIONS.get(world, {}).items() if form == form_id and at <= world.clock}


def edit_response(world: World, form_id: str, number: int, *, likert: dict[str, int] | None = None,
                  recommend: int | None = None, at: datetime | None = None) -> None:
    """The respondent edits response `number` (its ID) of `form_id` at `at` (default: the world's clock);
    exports made once the clock reaches `at` show the new answers."""
    if not 1 <= number <= len(responses(world).get(form_id, [])):
        raise ValueError(f"form {form_id} has no response {number}")
    edit = Edit(at or world.clock, dict(likert or {}), recommend)
    _EDITS.setdefault(world, {}).setdefault((form_id, number), []).append(edit)


def edits(world: World, form_id: str, number: int) -> list[Edit]:
    """The edits of one response made by the world's clock, oldest first."""
    made = _EDITS.get(world, {}).get((form_id, number), [])
    return sorted((e for e in made if e.at <= world.clock), key=lambda e: e.at)


def likert_answers(world: World, form_id: str, number: int) -> dict[str, int]:
    """Response `number`'s agree/disagree answers as an export at the world's clock shows them (edits applied)."""
    answers = dict(responses(world)[form_id][number - 1].payload.likert)
    for edit in edits(world, form_id, number):
        answers.update(edit.likert)
    return answers


def unit_codes(world: World | None = None) -> dict[str, str]:
    """The anonymous forms' ward answers (unit names) -> org unit codes, as `options.unit_codes`.

    Every generated trust has the same units, so a trust of one member of staff gives them without a world.
    """
    trust = world.trust if world is not None else generate_trust(1, 0)
    return {u.name: u.code for u in trust.leaves()}


@dataclass
class FormExport:
    title: str
    form_id: str
    style: Style
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    @property
    def file_name(self) -> str:
        suffix = "csv" if self.style == "csv_us" else "xlsx"
        return f"{self.title}({1 if self.rows else 0}-{len(self.rows)}).{suffix}"


def as_exported(moment: datetime) -> datetime:
    """The UTC instant an export's London wall-clock time for `moment` reads back as. It is `moment` itself
    except in the hour repeated when the clocks go back, which a wall-clock time cannot tell apart: there
    it is the first occurrence (see connectors.core.tabular)."""
    wall = moment.astimezone(LONDON).replace(tzinfo=None, microsecond=0, fold=0)
    return wall.replace(tzinfo=LONDON).astimezone(UTC)


def _local(moment: datetime, style: Style) -> datetime | str:
    local = moment.astimezone(LONDON).replace(tzinfo=None)
    if style == "xlsx_cells":
        return local
    if style == "csv_us":
        return f"{local.month}/{local.day}/{local.year} {local.hour}:{local.minute:02d}:{local.second:02d}"
    return local.strftime("%Y-%m-%d %H:%M:%S")


def export(world: World, form_id: str, events: list[Event]) -> FormExport:
    mapping: FormMapping = DEFAULT_FORMS[TITLES[form_id]]
    style = STYLES[form_id]
    asked_where = [mapping.unit, mapping.staff_group] if mapping.unit and mapping.staff_group else []
    questions = [*asked_where, *mapping.likert, mapping.recommend,
                 *([mapping.minutes_saved] if mapping.minutes_saved else []), mapping.comment]
    fixed = [ID, START, COMPLETED, EMAIL, NAME] + ([MODIFIED] if style == "xlsx_cells" else [])
    out = FormExport(TITLES[form_id], form_id, style, fixed + [q for q in questions if q])
    codes = {text: code for text, code in mapping.likert.items()}
    gone = deleted(world, form_id)
    for number, event in enumerate(events, start=1):
        if number in gone:
            continue
        p = event.payload
        took = 60 + int.from_bytes(hashlib.sha1(event.source_record_id.encode()).digest()[:2], "big") % 540
        ident = world.identity(p.person.pseudonym)
        anonymous = mapping.unit is not None
        changes = edits(world, form_id, number)
        answers = likert_answers(world, form_id, number) if changes else p.likert
        recommend = next((e.recommend for e in reversed(changes) if e.recommend is not None), p.recommend)
        row: list[Any] = [number, _local(event.occurred_at - timedelta(seconds=took), style),
                          _local(event.occurred_at, style),
                          ANONYMOUS if anonymous else ident.email, "" if anonymous else ident.display_name]
        if style == "xlsx_cells":
            row.append(_local(changes[-1].at if changes else event.occurred_at, style))
        if anonymous:
            row += [world.unit_name(p.person.org_unit), p.person.staff_group]
        row += [LABELS[answers[codes[q]]] if codes[q] in answers else "" for q in mapping.likert]
        row.append("" if recommend is None else recommend)
        if mapping.minutes_saved:
            row.append("" if p.minutes_saved_per_shift is None else int(p.minutes_saved_per_shift))
        row.append(p.comment or "")
        out.rows.append(row)
    return out


def exports(world: World) -> list[FormExport]:
    return [export(world, form, events) for form, events in sorted(visible(world).items()) if events]


def write_export(form: FormExport, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / form.file_name
    if form.style == "csv_us":
        with path.open("w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.writer(handle)
            writer.writerow(form.header)
            writer.writerows(form.rows)
        return path
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Sheet1")
    sheet.append(form.header)
    for row in form.rows:
        sheet.append(row)
    book.save(path)
    return path


def write_exports(world: World, folder: Path) -> list[Path]:
    """Every form's export at the world's clock, downloaded into `folder`/msforms (earlier downloads stay)."""
    return [write_export(form, folder / EXPORT_DIR) for form in exports(world)]


def source_config(root: str, folder: Path) -> dict[str, Any]:
    """The `sources:` entry reading what write_exports wrote (the simulator's server root is not needed)."""
    return {"type": "msforms", "path": str(folder / EXPORT_DIR), "options": {"unit_codes": unit_codes()}}
