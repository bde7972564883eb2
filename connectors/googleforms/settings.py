"""Google Forms API v1: endpoints, limits and the question mapping, with defaults matching the Realise surveys.

Questions are mapped by their title, not by position or question id: every form has its own question ids,
and editors re-order questions, so a title is the one thing a survey team controls and recognises. Titles
are compared ignoring case and repeated spaces.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from connectors.core.stream import Options
from connectors.core.survey import LikertMappingOptions

FORM_PATH = "v1/forms/{form_id}"
RESPONSES_PATH = "v1/forms/{form_id}/responses"
MAX_PAGE_SIZE = 5000  # "If unspecified or zero, at most 5000 responses are returned"
# Google's page tokens are opaque and only valid with the same filter; a refused one restarts the form.
MAX_LISTING_RESTARTS = 3

# Agree/disagree statements → item codes used by the metrics (see synthetic/).
DEFAULT_LIKERT_ITEMS: dict[str, str] = {
    "I feel confident using the system in my day-to-day work": "confidence",
    "The training prepared me for how I actually work": "training_fit",
    "The system is fast enough for my work": "system_speed",
    "The system helps me keep patients safe": "patient_safety",
    "I would not want to go back to the old way of working": "would_not_go_back",
    "I can get help with the system when I need it": "support_available",
    "Logging in to the system is reliable": "login_reliable",
    "The system fits the way my team works": "workflow_fit",
    "My login and smartcard access are ready for go-live": "login_ready",
    "I have been given enough time to complete my training": "time_to_train",
}
DEFAULT_LIKERT_LABELS: dict[str, int] = {
    "Strongly disagree": 1, "Disagree": 2, "Neither agree nor disagree": 3, "Neutral": 3, "Agree": 4,
    "Strongly agree": 5,
}
DEFAULT_RECOMMEND = "How likely are you to recommend the system to a colleague?"
DEFAULT_MINUTES_SAVED = "About how many minutes does the system save you per shift? (negative if it costs you time)"
DEFAULT_COMMENT = "Is there anything else you would like to tell us?"

_FORM_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _./&()'-]*$")


def normalise_title(title: str) -> str:
    """`  I feel  Confident ` and `i feel confident` are the same question."""
    return " ".join(title.split()).casefold()


class FormOptions(Options):
    """One Google form: its id (from the form's edit URL) and the form id the events carry."""

    id: str = Field(min_length=1, description="The form id in https://docs.google.com/forms/d/<id>/edit")
    code: str | None = Field(None, max_length=64,
                             description="form_id on the events, e.g. epr-pulse (default: the Google form id)")
    require: list[str] = Field(default_factory=list,
                               description="Question titles this form must have; a missing one stops the pull")

    @field_validator("code")
    @classmethod
    def _code(cls, value: str | None) -> str | None:
        if value is not None and not _FORM_CODE.match(value):
            raise ValueError("must start with a letter or digit and hold letters, digits, spaces or _ . / & ( ) ' -")
        return value

    @property
    def form_code(self) -> str:
        return self.code or self.id


class GoogleFormsOptions(LikertMappingOptions):
    forms: list[FormOptions] = Field(min_length=1, description="The forms to read")
    likert_items: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_LIKERT_ITEMS),
        description="Agree/disagree question or grid-row title → item code; a form may ask any subset")
    likert_labels: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_LIKERT_LABELS),
        description="Answer label → 1..5, for multiple-choice questions and grids")
    recommend_question: str | None = Field(DEFAULT_RECOMMEND, description="The 0-10 linear scale question")
    minutes_saved_question: str | None = Field(DEFAULT_MINUTES_SAVED,
                                               description="Short-answer question: minutes saved per shift")
    comment_question: str | None = Field(DEFAULT_COMMENT, description="Free-text question (scrubbed)")
    respondent_question: str | None = Field(
        None, description="Question asking for the work e-mail, for forms that do not collect e-mail addresses")
    clock_skew_seconds: int = Field(
        300, ge=0, le=86_400,
        description="The cursor stays this far behind the run's start: responses are listed unsorted, so ones "
                    "submitted while a pull runs are read again next time rather than missed")




EXAMPLE_YAML = """\
sources:
  googleforms:
    type: googleforms
    base_url: https://forms.googleapis.com
    auth:                                    # or oauth2_client_credentials (a token broker), or bearer
      type: google_service_account           # a service account the forms are shared with
      key_env: GOOGLE_FORMS_SERVICE_ACCOUNT  # its JSON key, or the path to the key file
      scope: https://www.googleapis.com/auth/forms.responses.readonly https://www.googleapis.com/auth/forms.body.readonly
      # subject: forms-owner@yourtrust.nhs.uk   # with domain-wide delegation: the user it acts for
    page_size: 5000                          # the API's maximum
    options:
      forms:
        - id: 1hQwJd6cU3mQ0bS2N9yXgEXAMPLEformIdFromEditUrl
          code: epr-pulse                    # form_id on the events
          require:                           # titles that must exist, else the pull stops naming them
            - I feel confident using the system in my day-to-day work
        - id: 1Zr0s5b1T8wExampleReadinessFormId
          code: epr-readiness
      likert_items:                          # question or grid-row title -> item code
        I feel confident using the system in my day-to-day work: confidence
        The system is fast enough for my work: system_speed
      recommend_question: How likely are you to recommend the system to a colleague?
      minutes_saved_question: About how many minutes does the system save you per shift? (negative if it costs you time)
      comment_question: Is there anything else you would like to tell us?
"""
