"""CSV drops of the simulated trust, as tools that only export CSV leave them in a shared folder.

- form responses (the csvdrop share of the world's responses, see msforms.SHARES): a survey tool's extract
  with ISO 8601 UTC times, Likert answers as numbers and item codes as headings;
- help-desk tickets: a service desk report, one row per ticket in its latest state, ServiceNow-style headings,
  UK day-first local times, priority as "3 - Moderate", the caller by username;
- training records: a learning hub extract keyed by ESR employee number, local ISO times, score in percent,
  time spent as H:MM:SS.
Each kind has its own folder under `csvdrop/`; each write replaces that kind's file with one holding every
record visible at the world's clock (a cumulative extract), so re-reads are exercised.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from schemas.events import Event, Kind
from simulator.msforms import SHARES
from simulator.world import World

EXPORT_DIR = "csvdrop"
FOLDERS = {Kind.FORM_RESPONSE: "forms", Kind.HELPDESK_TICKET: "tickets", Kind.TRAINING_RECORD: "training"}
FILES = {Kind.FORM_RESPONSE: "form_responses.csv", Kind.HELPDESK_TICKET: "service_desk_tickets.csv",
         Kind.TRAINING_RECORD: "learning_records.csv"}
LONDON = ZoneInfo("Europe/London")
# The survey tool's extract names one column per agree/disagree statement.
ITEM_COLUMNS = ("confidence", "training_fit", "system_speed", "patient_safety", "would_not_go_back",
                "support_available", "login_reliable", "workflow_fit", "login_ready", "time_to_train")
STATE_LABELS = {"new": "New", "open": "Open", "in_progress": "In Progress", "pending": "On Hold",
                "resolved": "Resolved", "closed": "Closed", "cancelled": "Cancelled"}
PRIORITY_LABELS = {1: "1 - Critical", 2: "2 - High", 3: "3 - Moderate", 4: "4 - Low", 5: "5 - Planning"}
VERB_LABELS = {"enrolled": "Enrolled", "attempted": "In Progress", "completed": "Completed", "passed": "Passed",
               "failed": "Failed"}


def folder_for(folder: Path, kind: Kind) -> Path:
    return folder / EXPORT_DIR / FOLDERS[kind]


def records(world: World, kind: Kind) -> list[Event]:
    """What the drop of `kind` holds at the world's clock: the csvdrop share of forms, all tickets and training."""
    if kind == Kind.FORM_RESPONSE:
        return world.latest(kind, "csvdrop", SHARES)
    if kind == Kind.HELPDESK_TICKET:
        return world.latest(kind)
    return world.visible(kind)


def record_ids(kind: Kind) -> Any:
    """A function of the world giving the record ids the csvdrop source of `kind` reads at its clock."""
    return lambda world: {e.source_record_id for e in records(world, kind)}


def _uk(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(LONDON).strftime("%d/%m/%Y %H:%M:%S")


def _local_iso(moment: datetime) -> str:
    return moment.astimezone(LONDON).strftime("%Y-%m-%d %H:%M:%S")


def _clock(seconds: int | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def form_rows(world: World, events: Iterable[Event]) -> tuple[list[str], list[list[Any]]]:
    header = ["response_id", "form_id", "submitted_at", "respondent_email", "org_unit", "staff_group",
              *ITEM_COLUMNS, "recommend", "minutes_saved_per_shift", "comment"]
    rows = []
    for e in events:
        p = e.payload
        rows.append([e.source_record_id, p.form_id, e.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     world.identity(p.person.pseudonym).email, p.person.org_unit, p.person.staff_group,
                     *(p.likert.get(code, "") for code in ITEM_COLUMNS),
                     "" if p.recommend is None else p.recommend,
                     "" if p.minutes_saved_per_shift is None else f"{p.minutes_saved_per_shift:g}", p.comment or ""])
    return header, rows


def ticket_rows(world: World, events: Iterable[Event]) -> tuple[list[str], list[list[Any]]]:
    header = ["Number", "Opened", "Updated", "Resolved", "State", "Category", "Priority", "Reopen count", "Caller",
              "Short description", "Satisfaction"]
    rows = []
    for e in events:
        p = e.payload
        rows.append([e.source_record_id, _uk(p.opened_at), _uk(p.updated_at), _uk(p.resolved_at),
                     STATE_LABELS[p.status], p.category, PRIORITY_LABELS[p.priority], p.reopen_count,
                     world.identity(p.person.pseudonym).username, p.summary or "",
                     "" if p.satisfaction is None else p.satisfaction])
    return header, rows


def training_rows(world: World, events: Iterable[Event]) -> tuple[list[str], list[list[Any]]]:
    header = ["Record ID", "Employee Number", "Course Code", "Course Title", "Module", "Status", "Score",
              "Time Spent", "Date"]
    rows = []
    for e in events:
        p = e.payload
        rows.append([e.source_record_id, world.identity(p.person.pseudonym).employee_number, p.course_id,
                     p.course_title or "", p.module or "", VERB_LABELS[p.verb],
                     "" if p.score is None else f"{p.score * 100:g}", _clock(p.duration_seconds),
                     _local_iso(e.occurred_at)])
    return header, rows


ROWS = {Kind.FORM_RESPONSE: form_rows, Kind.HELPDESK_TICKET: ticket_rows, Kind.TRAINING_RECORD: training_rows}


def write_rows(path: Path, header: list[str], rows: Iterable[list[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_drop(world: World, folder: Path, kind: Kind) -> Path:
    """The drop of `kind` at the world's clock, replacing the previous extract."""
    header, rows = ROWS[kind](world, records(world, kind))
    return write_rows(folder_for(folder, kind) / FILES[kind], header, rows)


def write_exports(world: World, folder: Path) -> list[Path]:
    """The form-response drop: in the simulated trust tickets and training come from their own systems."""
    return [write_drop(world, folder, Kind.FORM_RESPONSE)]


def source_config(root: str, folder: Path) -> dict[str, Any]:
    return {"type": "csvdrop", "path": str(folder_for(folder, Kind.FORM_RESPONSE)),
            "options": {"kind": "form_response"}}
