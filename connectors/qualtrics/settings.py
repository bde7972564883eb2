"""Qualtrics response export API endpoints, defaults and the source's options.

The defaults describe the programme's digital capability self-assessment as the simulator serves it: survey
SV_6FkDigCapSelfAx, the phase asked in QID1 (1 baseline, 2 follow-up), the six framework domains as the rows
of matrix QID2 (QID2_1 .. QID2_6, recoded 1..5) and the assessment round in embedded data field `round`. That
survey is read only when no survey of either kind is listed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from connectors.core.stream import Options
from schemas.events import ItemCode, SkillsDomain

API_ROOT = "API/v3"
ANONYMOUS_CHANNEL = "anonymous"  # values.distributionChannel of a response through an anonymous link
START_EXPORT = API_ROOT + "/surveys/{survey}/export-responses"
EXPORT_PROGRESS = API_ROOT + "/surveys/{survey}/export-responses/{progress}"
EXPORT_FILE = API_ROOT + "/surveys/{survey}/export-responses/{file}/file"
TOKEN_HEADER = "X-API-TOKEN"

SKILLS_SURVEY_ID = "SV_6FkDigCapSelfAx"
DEFAULT_DOMAINS: dict[str, SkillsDomain] = {f"QID2_{n}": d for n, d in enumerate(SkillsDomain, start=1)}
# Qualtrics `status`: 0 a real response, 1 survey preview, 2 survey test, 4 imported, 8 spam, 16 offline app.
RESPONSE_STATUSES = {0: "IP address", 1: "survey preview", 2: "survey test", 4: "imported", 8: "spam",
                     9: "survey preview spam", 12: "imported spam", 16: "offline", 17: "offline survey preview"}


class SkillsSurvey(Options):
    """A survey whose responses are digital capability self-assessments."""

    survey_id: str = Field(SKILLS_SURVEY_ID, pattern=r"^SV_[A-Za-z0-9]+$")
    person_field: str = Field("recipientEmail", description="Value naming the respondent: recipientEmail "
                                                            "(contact-list distributions) or externalDataReference")
    phase_field: str | None = Field("QID1", description="Question (or embedded data) holding the phase")
    phase_values: dict[str, Literal["baseline", "follow_up"]] = Field(
        default_factory=lambda: {"1": "baseline", "2": "follow_up"},
        description="Recode value of phase_field -> baseline or follow_up")
    phase: Literal["baseline", "follow_up"] | None = Field(
        None, description="Fixed phase for a survey that is only a baseline or only a follow-up")
    assessment_field: str | None = Field("round", description="Embedded data naming the assessment round")
    assessment_id: str = Field("DCSA", description="Assessment id when assessment_field is absent or empty",
                               pattern=r"^[A-Za-z0-9][A-Za-z0-9 _./&()'-]*$", max_length=64)
    domains: dict[str, SkillsDomain] = Field(default_factory=lambda: dict(DEFAULT_DOMAINS),
                                             description="Export column (QID or QID_row) -> capability domain")
    unit: str | None = Field(None, description="Column (question or embedded data) naming the respondent's ward "
                                               "(used when anonymous)")
    staff_group: str | None = Field(None, description="Column naming the respondent's staff group (used when "
                                                      "anonymous)")


class PulseSurvey(Options):
    """A survey whose responses are form responses (agree/disagree items, recommend, minutes saved, comment)."""

    survey_id: str = Field(pattern=r"^SV_[A-Za-z0-9]+$")
    form_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _./&()'-]*$", max_length=64)
    system: str | None = None
    person_field: str = "recipientEmail"
    likert: dict[str, ItemCode] = Field(default_factory=dict, description="Export column -> item code (1..5)")
    recommend: str | None = Field(None, description="Export column of the 0-10 recommend item")
    minutes_saved: str | None = None
    comment: str | None = Field(None, description="Export column of the comment, e.g. QID9_TEXT")
    unit: str | None = Field(None, description="Column (question or embedded data) naming the respondent's ward "
                                               "(used when anonymous)")
    staff_group: str | None = Field(None, description="Column naming the respondent's staff group (used when "
                                                      "anonymous)")


class QualtricsOptions(Options):
    skills_surveys: list[SkillsSurvey] = Field(
        default_factory=list, description="Default: the programme's self-assessment, when pulse_surveys is empty")
    pulse_surveys: list[PulseSurvey] = Field(default_factory=list)
    unit_codes: dict[str, str] = Field(default_factory=dict,
                                       description="Ward answer (anonymous responses) -> org unit code")
    poll_seconds: float = Field(2.0, gt=0, le=60, description="Longest wait between export progress checks")
    export_timeout_seconds: float = Field(900.0, gt=0, description="Give up on an export that takes longer")
    deletion_check_hours: float | None = Field(
        24.0, ge=0,
        description="Every this many hours, export each survey in full and retract the responses read before "
                    "that it no longer holds (deleted in Data & Analysis or through the API): exports never list "
                    "deleted responses and Qualtrics offers no deletion feed. 0 checks on every pull; null never "
                    "(deleted responses then stay in the warehouse)")

    @model_validator(mode="after")
    def _default_survey(self) -> QualtricsOptions:
        """A source that lists no survey reads the default self-assessment; one that lists only pulse surveys
        reads only those."""
        if "skills_surveys" not in self.model_fields_set and not self.pulse_surveys:
            self.skills_surveys = [SkillsSurvey()]
        return self


EXAMPLE_YAML = """
sources:
  capability_survey:
    type: qualtrics
    base_url: https://fra1.qualtrics.com        # your datacenter (Account Settings > Qualtrics IDs)
    auth:
      type: api_key
      header: X-API-TOKEN
      token_env: QUALTRICS_API_TOKEN
    options:
      skills_surveys:
        - survey_id: SV_6FkDigCapSelfAx
          person_field: recipientEmail           # or externalDataReference holding the e-mail / staff number
          phase_field: QID1                      # recode 1 = baseline, 2 = follow-up
          phase_values: {"1": baseline, "2": follow_up}
          assessment_field: round                # embedded data with the assessment round
          domains:                               # matrix rows -> the six capability domains
            QID2_1: identity_wellbeing_safety
            QID2_2: communication_collaboration
            QID2_3: information_data_content
            QID2_4: teaching_learning
            QID2_5: technical_proficiency
            QID2_6: creation_innovation_research
      pulse_surveys:                             # optional: pulse surveys run in Qualtrics
        - survey_id: SV_0uPulseEprStaff1
          form_id: epr-pulse-qualtrics
          likert: {QID3_1: confidence, QID3_2: training_fit}
          recommend: QID4
          comment: QID5_TEXT
          unit: ward                             # anonymous-link responses: embedded data naming the ward
          staff_group: staffGroup                # ... and the staff group
      unit_codes:                                # ward answers -> org unit codes of the staff directory
        "Ward 7B Acute Medicine": RXX-MED-AEM-W7B
"""
