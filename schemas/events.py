"""Pydantic v2 models for the envelope and the four event kinds.

A person appears only as a keyed-hash pseudonym plus org unit, staff group, system and go-live wave:
the pattern on `pseudonym` makes an e-mail address or username fail validation, so a raw identifier
that slipped past a connector is quarantined instead of stored.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

SCHEMA_VERSION = 1
# Fixed namespace: event ids must be stable across processes, machines and releases.
EVENT_ID_NAMESPACE = uuid.UUID("5b0f6c1e-3f7a-4c55-9a59-2d1b7e0c9a41")

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _./&()'-]*$")]
FreeText = Annotated[str, Field(max_length=4000)]
# Identifiers from source systems: printable, no control characters (PostgreSQL text cannot hold NUL).
SourceId = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
ItemCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
Likert = Annotated[int, Field(ge=1, le=5)]


def _representable_in_utc(value: datetime) -> datetime:
    """Only the first and last years can leave 1..9999 once converted to UTC (e.g. 9999-12-31T23:00-12:00)."""
    if value.year in (1, 9999):
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("timestamp is outside years 1..9999 once converted to UTC") from None
    return value


# A timestamp with an offset that stays within years 1..9999 in UTC, where the warehouse stores it.
Timestamp = Annotated[AwareDatetime, AfterValidator(_representable_in_utc)]


class Kind(StrEnum):
    FORM_RESPONSE = "form_response"
    HELPDESK_TICKET = "helpdesk_ticket"
    TRAINING_RECORD = "training_record"
    SKILLS_ASSESSMENT = "skills_assessment"
    RETRACTION = "retraction"


# The kinds that carry feedback about a person; a retraction names a record of one of them.
RECORD_KINDS: tuple[Kind, ...] = (Kind.FORM_RESPONSE, Kind.HELPDESK_TICKET, Kind.TRAINING_RECORD,
                                  Kind.SKILLS_ASSESSMENT)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Strict):
    """Who gave the feedback, as far as analysis needs: never a name, e-mail or staff number."""

    pseudonym: str = Field(pattern=r"^[0-9a-f]{32}$", description="HMAC-SHA256 of the staff identifier, 32 hex")
    org_unit: Code = Field(description="Leaf org unit code (ward, team, department)")
    org_path: list[Code] = Field(default_factory=list, max_length=10,
                                 description="Ancestor org unit codes, top first, excluding org_unit")
    staff_group: Code = Field(description="e.g. Nursing and Midwifery, Medical and Dental, Admin and Clerical")
    system: Code = Field(description="System being adopted, e.g. EPR, ePMA, Patient Portal")
    go_live_wave: Code | None = Field(None, description="Go-live wave the person's unit belongs to")


class FormResponse(_Strict):
    form_id: Code
    person: Person
    likert: dict[ItemCode, Likert] = Field(
        default_factory=dict, max_length=60,
        description="Agree/disagree items keyed by item code: 1 strongly disagree .. 5 strongly agree")
    recommend: Annotated[int, Field(ge=0, le=10)] | None = Field(None, description="0-10 recommend item")
    minutes_saved_per_shift: Annotated[float, Field(ge=-720, le=720)] | None = Field(
        None, description="Self-reported minutes saved per shift; negative means time lost")
    comment: FreeText | None = Field(None, description="Free text, scrubbed of identifiers before storage")


TicketStatus = Literal["new", "open", "in_progress", "pending", "resolved", "closed", "cancelled"]


class HelpdeskTicket(_Strict):
    person: Person = Field(description="The requester")
    opened_at: Timestamp
    updated_at: Timestamp
    resolved_at: Timestamp | None = None
    status: TicketStatus
    category: Annotated[str, Field(min_length=1, max_length=128)]
    priority: Annotated[int, Field(ge=1, le=5)] = Field(description="1 critical .. 5 planning")
    reopen_count: Annotated[int, Field(ge=0, le=1000)] = 0
    satisfaction: Annotated[int, Field(ge=1, le=5)] | None = Field(None, description="1 very dissatisfied .. 5")
    summary: FreeText | None = Field(None, description="Short description, scrubbed of identifiers")


TrainingVerb = Literal["enrolled", "attempted", "completed", "passed", "failed"]


class TrainingRecord(_Strict):
    person: Person
    course_id: Code
    course_title: Annotated[str, Field(max_length=256)] | None = None
    module: Annotated[str, Field(max_length=256)] | None = None
    verb: TrainingVerb
    score: Annotated[float, Field(ge=0, le=1)] | None = Field(None, description="Scaled score 0..1")
    duration_seconds: Annotated[int, Field(ge=0, le=7 * 24 * 3600)] | None = None
    required: bool | None = Field(None, description="Required for the person's go-live, if the source says")


class SkillsDomain(StrEnum):
    """The six domains of the NHS digital capability framework."""

    IDENTITY_WELLBEING_SAFETY = "identity_wellbeing_safety"
    COMMUNICATION_COLLABORATION = "communication_collaboration"
    INFORMATION_DATA_CONTENT = "information_data_content"
    TEACHING_LEARNING = "teaching_learning"
    TECHNICAL_PROFICIENCY = "technical_proficiency"
    CREATION_INNOVATION_RESEARCH = "creation_innovation_research"


class SkillsAssessment(_Strict):
    person: Person
    assessment_id: Code
    phase: Literal["baseline", "follow_up"]
    scores: dict[SkillsDomain, Annotated[int, Field(ge=1, le=5)]] = Field(
        min_length=1, description="Self-assessed capability per domain: 1 none .. 5 expert")


class Retraction(_Strict):
    """The source record (`source`, `source_record_id` of the envelope) was voided or deleted at the source.

    It leaves the analytics views and metrics; every version stays in history. A version of the record dated
    after the retraction (`occurred_at`) brings it back.
    """

    kind: Literal["form_response", "helpdesk_ticket", "training_record", "skills_assessment"] = Field(
        description="Kind of the retracted record")
    reason: Literal["voided", "deleted", "removed"] = Field(
        description="voided (e.g. an xAPI voiding statement), deleted at the source, or removed: gone from a "
                    "full export")


class _Envelope(_Strict):
    event_id: uuid.UUID = Field(description=(
        f"uuid5 in namespace {EVENT_ID_NAMESPACE} of source, source_record_id and record_version joined by "
        "the unit separator U+001F, UTF-8 encoded; see schemas/EVENT_ID.md"))
    source: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    source_record_id: SourceId
    record_version: Annotated[SourceId, Field(max_length=128)] = Field(
        description="Changes when the source record changes, e.g. its updated time")
    schema_version: Literal[1] = SCHEMA_VERSION
    occurred_at: Timestamp
    ingested_at: Timestamp = Field(description="When the connector read the record")

    @model_validator(mode="after")
    def _event_id_is_derived(self) -> _Envelope:
        if self.event_id.bytes != _event_id_bytes(self.source, self.source_record_id, self.record_version):
            expected = make_event_id(self.source, self.source_record_id, self.record_version)
            raise ValueError(
                f"event_id {self.event_id} is not derived from source, source_record_id and "
                f"record_version (expected {expected})")
        return self


class FormResponseEvent(_Envelope):
    kind: Literal["form_response"] = "form_response"
    payload: FormResponse


class HelpdeskTicketEvent(_Envelope):
    kind: Literal["helpdesk_ticket"] = "helpdesk_ticket"
    payload: HelpdeskTicket


class TrainingRecordEvent(_Envelope):
    kind: Literal["training_record"] = "training_record"
    payload: TrainingRecord


class SkillsAssessmentEvent(_Envelope):
    kind: Literal["skills_assessment"] = "skills_assessment"
    payload: SkillsAssessment


class RetractionEvent(_Envelope):
    """Source record id and source are those of the retracted record; record_version is the retraction's own
    (e.g. the voiding statement's id, or the time of deletion), occurred_at when it was retracted."""

    kind: Literal["retraction"] = "retraction"
    payload: Retraction


Event = Annotated[
    FormResponseEvent | HelpdeskTicketEvent | TrainingRecordEvent | SkillsAssessmentEvent | RetractionEvent,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)
EVENT_MODELS: dict[Kind, type[_Envelope]] = {
    Kind.FORM_RESPONSE: FormResponseEvent,
    Kind.HELPDESK_TICKET: HelpdeskTicketEvent,
    Kind.TRAINING_RECORD: TrainingRecordEvent,
    Kind.SKILLS_ASSESSMENT: SkillsAssessmentEvent,
    Kind.RETRACTION: RetractionEvent,
}
PAYLOAD_MODELS: dict[Kind, type[_Strict]] = {
    Kind.FORM_RESPONSE: FormResponse,
    Kind.HELPDESK_TICKET: HelpdeskTicket,
    Kind.TRAINING_RECORD: TrainingRecord,
    Kind.SKILLS_ASSESSMENT: SkillsAssessment,
    Kind.RETRACTION: Retraction,
}


def make_event_id(source: str, source_record_id: str, record_version: str) -> uuid.UUID:
    """Deterministic id: the same version of the same source record always gets the same id (a uuid5)."""
    return uuid.UUID(bytes=_event_id_bytes(source, source_record_id, record_version))


_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes


def _event_id_bytes(source: str, source_record_id: str, record_version: str) -> bytes:
    """uuid5 as bytes, computed directly: ingest checks every event's id, and uuid.uuid5 is slow."""
    digest = bytearray(hashlib.sha1(
        _NAMESPACE_BYTES + f"{source}\x1f{source_record_id}\x1f{record_version}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    return bytes(digest)


def make_event(
    kind: Kind | str,
    *,
    source: str,
    source_record_id: str,
    record_version: str,
    occurred_at: datetime,
    payload: BaseModel | dict[str, Any],
    ingested_at: datetime | None = None,
) -> _Envelope:
    """Build a validated event of `kind`; connectors call this so every event id is derived the same way."""
    model = EVENT_MODELS[Kind(kind)]
    return model.model_validate({
        "event_id": make_event_id(source, source_record_id, record_version),
        "source": source,
        "source_record_id": source_record_id,
        "record_version": record_version,
        "occurred_at": occurred_at,
        "ingested_at": ingested_at or datetime.now(UTC),
        "payload": payload,
    })
