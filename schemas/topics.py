"""Topic names and the partitioning rule: records are keyed by org unit so one unit stays in one partition."""

from __future__ import annotations

from schemas.events import Kind

TOPICS: dict[Kind, str] = {kind: f"realise.{kind.value}.v1" for kind in Kind}
DEAD_LETTER_TOPIC = "realise.dead_letter.v1"
ALERTS_TOPIC = "realise.alerts.v1"


def kind_for_topic(topic: str, prefix: str = "") -> Kind | None:
    """The event kind a topic carries, or None for a topic that is not an event topic."""
    if prefix and not topic.startswith(prefix):
        return None
    name = topic[len(prefix):]
    return next((kind for kind, t in TOPICS.items() if t == name), None)


def partition_key(org_unit: str) -> bytes:
    return org_unit.encode("utf-8")
