"""The one call the demo, simulator, benches and tests make: all four kinds merged in time order, and serialised."""

from __future__ import annotations

import gc
import random
from datetime import UTC, datetime
from operator import attrgetter

from schemas.events import Event, Kind
from schemas.topics import TOPICS, partition_key
from synthetic.forms import form_responses
from synthetic.people import Trust
from synthetic.profiles import staff_profiles
from synthetic.shared import secs
from synthetic.skills import skills_assessments
from synthetic.tickets import ticket_updates
from synthetic.training import training_statements


def generate_events(trust: Trust, *, now: datetime, seed: int = 7, forms: int, tickets: int, training: int,
                    skills: int) -> list[Event]:
    """Validated events of all four kinds, in occurred_at order, none after `now`.

    The counts are numbers of events: a ticket contributes one event per observed version (new,
    in_progress, resolved), so `tickets` events cover fewer distinct tickets. Each kind draws from its own
    random stream, so changing one count leaves the other kinds' events unchanged.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if min(forms, tickets, training, skills) < 0:
        raise ValueError("event counts must not be negative")
    now = secs(now.astimezone(UTC))
    profiles = staff_profiles(trust, now, seed)

    def stream(name: str) -> random.Random:
        return random.Random(f"realise:{seed}:{name}")

    # Events hold no reference cycles; without the cyclic collector rescanning the growing list of
    # models, generation runs about twice as fast.
    collecting = gc.isenabled()
    gc.disable()
    try:
        events = (form_responses(profiles, trust.staff, now, stream("forms"), forms)
                  + ticket_updates(profiles, trust.staff, now, stream("tickets"), tickets)
                  + training_statements(profiles, now, stream("training"), training)
                  + skills_assessments(profiles, now, stream("skills"), skills))
    finally:
        if collecting:
            gc.enable()
    events.sort(key=attrgetter("occurred_at"))
    return events


def serialise(event: Event) -> tuple[str, bytes, bytes]:
    """(topic, key, value) as a producer sends it (connectors.core.pull.routed): keyed by org unit so one unit
    stays in one partition, a retraction by the record it retracts."""
    if event.kind == Kind.RETRACTION:
        return TOPICS[Kind.RETRACTION], partition_key(event.source_record_id), event.model_dump_json().encode()
    return (TOPICS[Kind(event.kind)], partition_key(event.payload.person.org_unit),
            event.model_dump_json().encode())
