"""Generic CSV drop folder: which kind a folder holds and which column holds which field, with defaults.

The defaults are the column headings of the simulator's drops: a survey tool's response extract, a service
desk report (ServiceNow-style headings) and a learning hub's completion extract keyed by ESR employee number.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from connectors.core.stream import Options
from connectors.core.tabular import LIKERT_LABELS, ExportOptions
from schemas.events import ItemCode, TicketStatus, TrainingVerb

DropKind = Literal["form_response", "helpdesk_ticket", "training_record"]
ITEM_CODES = ("confidence", "training_fit", "system_speed", "patient_safety", "would_not_go_back",
              "support_available", "login_reliable", "workflow_fit", "login_ready", "time_to_train")


class _Columns(Options):
    id: str | list[str] = Field(description="Column holding the record id, or several that together identify it")
    person: str = Field(description="Column identifying the person: e-mail, username or staff number")
    org_unit: str | None = Field(None, description="Unit for people the staff directory does not know")
    staff_group: str | None = Field(None, description="Staff group for people the directory does not know")

    def id_columns(self) -> list[str]:
        return [self.id] if isinstance(self.id, str) else list(self.id)


class FormColumns(_Columns):
    id: str | list[str] = "response_id"
    person: str = "respondent_email"
    time: str = Field("submitted_at", description="When the response was submitted")
    form_id: str | None = Field("form_id", description="Column naming the form; None to use form_id_value")
    form_id_value: str | None = Field(None, description="The form id when the file has no form column",
                                      pattern=r"^[A-Za-z0-9][A-Za-z0-9 _./&()'-]*$")
    org_unit: str | None = "org_unit"
    staff_group: str | None = "staff_group"
    likert: dict[str, ItemCode] = Field(default_factory=lambda: {c: c for c in ITEM_CODES},
                                        description="Column -> agree/disagree item code (numbers 1..5 or labels)")
    recommend: str | None = "recommend"
    minutes_saved: str | None = "minutes_saved_per_shift"
    comment: str | None = "comment"

    @model_validator(mode="after")
    def _form_named(self) -> FormColumns:
        if not self.form_id and not self.form_id_value:
            raise ValueError("set form_id (a column) or form_id_value (one form id for the whole drop)")
        return self


TICKET_STATUSES: dict[str, TicketStatus] = {
    "new": "new", "open": "open", "active": "open", "assigned": "open", "in progress": "in_progress",
    "work in progress": "in_progress", "on hold": "pending", "pending": "pending", "awaiting user": "pending",
    "awaiting caller": "pending", "resolved": "resolved", "closed": "closed", "closed complete": "closed",
    "cancelled": "cancelled", "canceled": "cancelled", "closed incomplete": "cancelled",
}
PRIORITY_NAMES = {"critical": 1, "high": 2, "moderate": 3, "medium": 3, "low": 4, "planning": 5}


class TicketColumns(_Columns):
    id: str | list[str] = "Number"
    person: str = "Caller"
    opened: str = "Opened"
    updated: str = "Updated"
    resolved: str | None = "Resolved"
    status: str = "State"
    category: str = "Category"
    priority: str = "Priority"
    reopen_count: str | None = "Reopen count"
    satisfaction: str | None = "Satisfaction"
    summary: str | None = "Short description"
    status_map: dict[str, TicketStatus] = Field(default_factory=lambda: dict(TICKET_STATUSES),
                                                description="State text (any case) -> canonical status")
    priority_names: dict[str, int] = Field(default_factory=lambda: dict(PRIORITY_NAMES),
                                           description="Priority word -> 1..5 when the value has no number")

    @field_validator("status_map", "priority_names")
    @classmethod
    def _lower(cls, value: dict[str, object]) -> dict[str, object]:
        return {k.strip().lower(): v for k, v in value.items()}


TRAINING_VERBS: dict[str, TrainingVerb] = {
    "enrolled": "enrolled", "registered": "enrolled", "booked": "enrolled", "not started": "enrolled",
    "in progress": "attempted", "started": "attempted", "attempted": "attempted", "completed": "completed",
    "complete": "completed", "passed": "passed", "pass": "passed", "competent": "passed", "failed": "failed",
    "fail": "failed",
}
GO_LIVE_COURSES = ["EPR-GL-101", "EPMA-GL-101", "PORTAL-GL-101"]


class TrainingColumns(_Columns):
    id: str | list[str] = "Record ID"
    person: str = "Employee Number"
    time: str = Field("Date", description="When the status was reached")
    course_id: str = "Course Code"
    course_title: str | None = "Course Title"
    module: str | None = "Module"
    status: str = "Status"
    score: str | None = "Score"
    duration: str | None = "Time Spent"
    required: str | None = Field(None, description="Column saying whether the course is required (yes/no); "
                                                   "default: required_courses decides")
    verb_map: dict[str, TrainingVerb] = Field(default_factory=lambda: dict(TRAINING_VERBS),
                                              description="Status text (any case) -> xAPI-style verb")
    score_scale: float = Field(100.0, gt=0, description="Score that means full marks (100 for percentages)")
    duration_unit: Literal["seconds", "minutes", "hours"] = Field(
        "minutes", description="Unit of plain numbers in the duration column (H:MM:SS and PT1H30M also read)")
    required_courses: list[str] = Field(default_factory=lambda: list(GO_LIVE_COURSES),
                                        description="Course codes required for go-live")

    @field_validator("verb_map")
    @classmethod
    def _lower(cls, value: dict[str, TrainingVerb]) -> dict[str, TrainingVerb]:
        return {k.strip().lower(): v for k, v in value.items()}


class CsvDropOptions(ExportOptions):
    kind: DropKind = Field(description="What every file in the folder holds")
    pattern: str = Field("*.csv", description="Which files of the folder to read")
    encoding: str = "utf-8-sig"
    delimiter: str = Field(",", min_length=1, max_length=1)
    timezone: str = Field("Europe/London", description="Zone of times written without one")
    date_format: str = Field("auto", description="strptime pattern, or auto: ISO 8601, or slash dates read "
                                                 "day first unless the file's values show month first")
    form: FormColumns = Field(default_factory=FormColumns)
    ticket: TicketColumns = Field(default_factory=TicketColumns)
    training: TrainingColumns = Field(default_factory=TrainingColumns)
    likert_labels: dict[str, int] = Field(default_factory=lambda: dict(LIKERT_LABELS))

    @model_validator(mode="after")
    def _one_kind(self) -> CsvDropOptions:
        section = {"form_response": "form", "helpdesk_ticket": "ticket", "training_record": "training"}[self.kind]
        stray = [s for s in ("form", "ticket", "training") if s != section and s in self.model_fields_set]
        if stray:
            raise ValueError(f"{stray[0]} columns are set but kind is {self.kind}: put the mapping under {section}")
        return self

    def columns(self) -> FormColumns | TicketColumns | TrainingColumns:
        return {"form_response": self.form, "helpdesk_ticket": self.ticket, "training_record": self.training}[
            self.kind]


EXAMPLE_YAML = """
sources:
  ward_feedback_drop:
    type: csvdrop
    path: /data/drops/feedback             # every *.csv here: a header row, one record per row
    options:
      kind: form_response
      timezone: Europe/London              # for times written without a zone
      form:
        id: response_id                    # or a list of columns that together identify a row
        time: submitted_at
        person: respondent_email
        form_id: form_id                   # or form_id_value: ward-feedback
        likert: {confidence: confidence, training_fit: training_fit}
        recommend: recommend
        minutes_saved: minutes_saved_per_shift
        comment: comment
  service_desk_report:
    type: csvdrop
    path: /data/drops/service-desk
    options:
      kind: helpdesk_ticket
      date_format: "%d/%m/%Y %H:%M:%S"
      ticket: {id: Number, person: Caller, opened: Opened, updated: Updated, resolved: Resolved, status: State,
               category: Category, priority: Priority, reopen_count: Reopen count, satisfaction: null,
               summary: Short description}
  learning_hub:
    type: csvdrop
    path: /data/drops/learning-hub
    options:
      kind: training_record
      training:
        id: [Employee Number, Course Code, Status, Date]   # no record id in the extract: these identify a row
        person: Employee Number
        time: Date
        course_id: Course Code
        status: Status
        score: Score                     # percentages (score_scale: 100)
        duration: Time Spent             # H:MM:SS, PT1H30M, or minutes
        required_courses: [EPR-GL-101, EPMA-GL-101, PORTAL-GL-101]
"""
