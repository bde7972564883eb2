"""Event contracts: one envelope, four kinds of staff feedback, and the topics that carry them."""

from schemas.events import (
    EVENT_MODELS,
    SCHEMA_VERSION,
    Event,
    FormResponse,
    FormResponseEvent,
    HelpdeskTicket,
    HelpdeskTicketEvent,
    Kind,
    Person,
    SkillsAssessment,
    SkillsAssessmentEvent,
    TrainingRecord,
    TrainingRecordEvent,
    make_event,
    make_event_id,
)
from schemas.topics import DEAD_LETTER_TOPIC, TOPICS, kind_for_topic, partition_key

__all__ = [
    "DEAD_LETTER_TOPIC",
    "EVENT_MODELS",
    "SCHEMA_VERSION",
    "TOPICS",
    "Event",
    "FormResponse",
    "FormResponseEvent",
    "HelpdeskTicket",
    "HelpdeskTicketEvent",
    "Kind",
    "Person",
    "SkillsAssessment",
    "SkillsAssessmentEvent",
    "TrainingRecord",
    "TrainingRecordEvent",
    "kind_for_topic",
    "make_event",
    "make_event_id",
    "partition_key",
]
