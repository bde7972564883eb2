"""Microsoft Forms export layout, the question wording of the programme's surveys, and the source's options.

The defaults describe the programme's six surveys (pulse and go-live readiness for EPR, ePMA and the Patient
Portal) as the simulator exports them; a trust with its own wording lists its forms under `forms`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from connectors.core.stream import Options
from connectors.core.tabular import LIKERT_LABELS, ExportOptions
from schemas.events import ItemCode

# Leading columns of every export; "Last modified time" only in exports made since editing responses arrived.
ID, START, COMPLETED, EMAIL, NAME, MODIFIED = ("ID", "Start time", "Completion time", "Email", "Name",
                                               "Last modified time")
FIXED_COLUMNS = (ID, START, COMPLETED, EMAIL, NAME)
ANONYMOUS = "anonymous"
PATTERNS = ("*.xlsx", "*.csv")
# "EPR pulse survey(1-123).xlsx", and a browser's second copy "EPR pulse survey(1-123) (1).xlsx".
EXPORT_NAME = re.compile(r"^(?P<title>.*?)\s*(?:\(\d+-\d+\))?(?:\s*\(\d+\))*$")

QUESTIONS: dict[str, str] = {
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


class FormMapping(Options):
    """One form: its id in events and which question (the column heading) holds which answer."""

    form_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _./&()'-]*$", max_length=64)
    system: str | None = Field(None, description="System the form asks about; default: the source's system")
    likert: dict[str, ItemCode] = Field(default_factory=dict,
                                        description="Agree/disagree question text -> item code")
    recommend: str | None = Field(None, description="The 0-10 recommend question")
    minutes_saved: str | None = Field(None, description="The minutes-saved-per-shift question")
    comment: str | None = Field(None, description="The free-text question")
    unit: str | None = Field(None, description="Question naming the respondent's ward (used when anonymous)")
    staff_group: str | None = Field(None, description="Question naming the staff group (used when anonymous)")

    def questions(self) -> dict[str, str]:
        """Every configured question text -> the setting that names it (for missing-column errors)."""
        named = {text: f"likert.{text!r}" for text in self.likert}
        for setting in ("recommend", "minutes_saved", "comment", "unit", "staff_group"):
            text = getattr(self, setting)
            if text:
                named[text] = setting
        return named


def _form(form_id: str, system: str, items: tuple[str, ...], *, minutes: bool, anonymous: bool) -> FormMapping:
    return FormMapping(form_id=form_id, system=system, likert={QUESTIONS[c]: c for c in items},
                       recommend=RECOMMEND, minutes_saved=MINUTES_SAVED if minutes else None, comment=COMMENT,
                       unit=UNIT if anonymous else None, staff_group=STAFF_GROUP if anonymous else None)


DEFAULT_FORMS: dict[str, FormMapping] = {
    "EPR pulse survey": _form("epr-pulse", "EPR", PULSE_ITEMS, minutes=True, anonymous=False),
    "EPR go-live readiness survey": _form("epr-readiness", "EPR", READINESS_ITEMS, minutes=False, anonymous=False),
    "ePMA pulse survey": _form("epma-pulse", "ePMA", PULSE_ITEMS, minutes=True, anonymous=False),
    "ePMA go-live readiness survey": _form("epma-readiness", "ePMA", READINESS_ITEMS, minutes=False,
                                           anonymous=False),
    "Patient Portal pulse survey": _form("portal-pulse", "Patient Portal", PULSE_ITEMS, minutes=True,
                                         anonymous=True),
    "Patient Portal go-live readiness survey": _form("portal-readiness", "Patient Portal", READINESS_ITEMS,
                                                     minutes=False, anonymous=True),
}


class MsFormsOptions(ExportOptions):
    timezone: str = Field("Europe/London", description="Zone of the export's times (they carry none)")
    date_format: str = Field("auto", description="strptime pattern of text times, or auto: ISO and m/d/yyyy "
                                                 "(day/month when the file's values show it)")
    forms: dict[str, FormMapping] = Field(
        default_factory=lambda: dict(DEFAULT_FORMS),
        description="Form title (the export's file name without '(1-N)') -> form id and question mapping")
    likert_labels: dict[str, int] = Field(default_factory=lambda: dict(LIKERT_LABELS),
                                          description="Answer label (any case) -> 1..5")
    unit_codes: dict[str, str] = Field(default_factory=dict,
                                       description="Ward answer (anonymous forms) -> org unit code")
    sheet: str | None = Field(None, description="Worksheet of an xlsx export; default: the first")
    encoding: str = Field("utf-8-sig", description="Encoding of CSV exports (Excel writes utf-8-sig or cp1252)")
    on_unknown_form: Literal["error", "skip"] = Field(
        "error", description="A file whose form title is not under forms: stop with an error, or leave it")

    def form(self, title: str) -> FormMapping | None:
        wanted = title.strip().lower()
        return next((m for t, m in self.forms.items() if t.strip().lower() == wanted), None)


EXAMPLE_YAML = """
sources:
  staff_surveys:
    type: msforms
    path: /data/exports/msforms          # a folder of "<Form title>(1-N).xlsx" or .csv exports, or one file
    system: EPR                          # for forms that do not name their system
    options:
      timezone: Europe/London            # export times are local wall-clock times without a zone
      date_format: auto                  # or a strptime pattern, e.g. "%d/%m/%Y %H:%M:%S" for UK CSVs
      forms:                             # form title -> how its questions map (defaults: the programme's surveys)
        "EPR pulse survey":
          form_id: epr-pulse
          system: EPR
          likert:                        # question text (column heading) -> item code
            "I feel confident using the new system in my day-to-day work": confidence
            "The training prepared me for the way I actually work": training_fit
          recommend: "How likely are you to recommend the new system to a colleague?"
          minutes_saved: "Roughly how many minutes per shift does the new system save you?
            (Use a minus sign for time lost.)"
          comment: "Is there anything else you would like to tell the programme team?"
        "Patient Portal pulse survey":   # an anonymous form: ward and staff group come from its questions
          form_id: portal-pulse
          system: Patient Portal
          likert: {"I feel confident using the new system in my day-to-day work": confidence}
          unit: "Which ward or department do you work in?"
          staff_group: "Which staff group do you belong to?"
      unit_codes:                        # ward answers -> org unit codes of the staff directory
        "Ward 7B Acute Medicine": RXX-MED-AEM-W7B
"""
