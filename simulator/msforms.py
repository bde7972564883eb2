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

from schemas.events import Event, Kind
from simulator.world import World, assign
from synthetic import generate_trust

EXPORT_DIR = "msforms"
SHARES = {"msforms": 0.5, "csvdrop": 0.1, "googleforms": 0.25, "webhook": 0.15}
LONDON = ZoneInfo("Europe/London")
LABELS = {5: "Strongly agree", 4: "Agree", 3: "Neither agree nor disagree", 2: "Disagree", 1: "Strongly disagree"}
# "Open results in Excel" of a form's responses (Microsoft Support, "Check your form results", under
# https://support.microsoft.com/forms): the leading columns, then one column per question headed by the
# question's text. "Last modified time" is in exports made since respondents could edit their responses.
# Anonymous forms write "anonymous" in Email.
ID, START, COMPLETED, EMAIL, NAME, MODIFIED = ("ID", "Start time", "Completion time", "Email", "Name",
                                               "Last modified time")
ANONYMOUS = "anonymous"

# The trust's six Microsoft forms: title (the export's file name) -> form id, and the questions they ask.
TITLES = {"epr-pulse": "EPR pulse survey", "epr-readiness": "EPR go-live readiness survey",
          "epma-pulse": "ePMA pulse survey", "epma-readiness": "ePMA go-live readiness survey",
          "portal-pulse": "Patient Portal pulse survey", "portal-readiness": "Patient Portal go-live readiness survey"}
QUESTIONS = {
    "confidence": "I feel confident using the new system in my day-to-day work",
    "training_fit": "The training prepared me for the way I actually work",
    "system_speed": "The system responds quickly enough for my work",
    "patient_safety": "The system helps me keep patients safe",
    "would_not_go_back": "I would not want to go back to the old way of working",
    "support_available": "I can get help with the system when I need it",
    "login_reliable": "I can log in quickly and reliably at the start of a shift",
    "workflow_fit": "The system fits the way my team works",
    "login_ready": "My login and smartcard access are ready for go-live",
    "time_to_train": "I have been given enough time to complete my training",
}
RECOMMEND = "How likely are you to recommend the new system to a colleague?"
MINUTES_SAVED = "Roughly how many minutes per shift does the new system save you? (Use a minus sign for time lost.)"
COMMENT = "Is there anything else you would like to tell the programme team?"
UNIT = "Which ward or department do you work in?"
STAFF_GROUP = "Which staff group do you belong to?"
PULSE_ITEMS = ("confidence", "training_fit", "system_speed", "patient_safety", "would_not_go_back",
               "support_available", "login_reliable", "workflow_fit")
READINESS_ITEMS = ("confidence", "training_fit", "support_available", "patient_safety", "login_ready",
                   "time_to_train", "workflow_fit", "system_speed")
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
    it is the first occurrence, the reading a London time in that hour gets."""
    wall = moment.astimezone(LONDON).replace(tzinfo=None, microsecond=0, fold=0)
    return wall.replace(tzinfo=LONDON).astimezone(UTC)


def _local(moment: datetime, style: Style) -> datetime | str:
    local = moment.astimezone(LONDON).replace(tzinfo=None)
    if style == "xlsx_cells":
        return local
    if style == "csv_us":
        return f"{local.month}/{local.day}/{local.year} {local.hour}:{local.minute:02d}:{local.second:02d}"
    return local.strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class FormLayout:
    """The questions one form asks, in column order: ward and staff group first on anonymous forms."""

    likert: dict[str, str]  # question text -> item code
    minutes_saved: bool
    anonymous: bool

    @classmethod
    def of(cls, form_id: str) -> FormLayout:
        items = PULSE_ITEMS if form_id.endswith("-pulse") else READINESS_ITEMS
        return cls({QUESTIONS[c]: c for c in items}, form_id.endswith("-pulse"), form_id.startswith("portal-"))


def export(world: World, form_id: str, events: list[Event]) -> FormExport:
    mapping = FormLayout.of(form_id)
    style = STYLES[form_id]
    asked_where = [UNIT, STAFF_GROUP] if mapping.anonymous else []
    questions = [*asked_where, *mapping.likert, RECOMMEND, *([MINUTES_SAVED] if mapping.minutes_saved else []),
                 COMMENT]
    fixed = [ID, START, COMPLETED, EMAIL, NAME] + ([MODIFIED] if style == "xlsx_cells" else [])
    out = FormExport(TITLES[form_id], form_id, style, fixed + questions)
    codes = {text: code for text, code in mapping.likert.items()}
    gone = deleted(world, form_id)
    for number, event in enumerate(events, start=1):
        if number in gone:
            continue
        p = event.payload
        took = 60 + int.from_bytes(hashlib.sha1(event.source_record_id.encode()).digest()[:2], "big") % 540
        ident = world.identity(p.person.pseudonym)
        anonymous = mapping.anonymous
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
