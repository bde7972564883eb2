"""A generated NHS trust, its staff feedback events and a corpus of malformed records.

The demo, the tests and the benchmarks need realistic feedback without real staff data. Staff identifiers
here are `staffNNNNNN@example.nhs.uk`, pseudonymised with the demo key before they reach an event, and every
value comes from a seeded `random.Random`, so one seed always gives the same trust and identical events
(event ids and `ingested_at` included).

The data carries the patterns the metrics are meant to find: help-desk demand spikes in the week after
each wave's go-live and then decays, shifting from how-to and access questions towards defects; confidence
grows with time since training; Ward 7B Acute Medicine struggles (lower scores, more tickets); digital
capability rises from baseline to follow-up, with a gap between staff groups; and a few free-text fields
hold fake identifiers (e-mail, phone, NHS number from the 999 test range, postcode) for the scrubber.

Where things are, one module per subject, with the tables of names, phrases and mixes in `data/`:
`people` (org hierarchy, go-live waves and staff: `generate_trust`), `profiles` (each person's latent state,
shared by every kind so the kinds tell one story), `forms`, `tickets`, `training`, `skills` (one kind of
event each), `events` (`generate_events`, `serialise`), `malformed` (the hostile corpus), `shared` (times,
the event envelope, fake identifiers) and `tables` (reads `data/`). Imports point one way only:
tables <- people <- shared <- profiles <- forms, tickets, training, skills <- events, malformed.
"""

from synthetic.events import generate_events, serialise
from synthetic.malformed import HTML_INJECTION, ONE_MIB, SQL_INJECTION, CaughtBy, Malformed, malformed_records
from synthetic.people import (
    EMAIL_DOMAIN,
    STAFF_GROUPS,
    STRUGGLING_UNIT,
    SYSTEMS,
    TRUST_CODE,
    OrgUnit,
    StaffMember,
    Trust,
    Wave,
    generate_trust,
)
from synthetic.shared import SOURCES

__all__ = [
    "EMAIL_DOMAIN", "HTML_INJECTION", "ONE_MIB", "SOURCES", "SQL_INJECTION", "STAFF_GROUPS", "STRUGGLING_UNIT",
    "SYSTEMS", "TRUST_CODE", "CaughtBy",
    "Malformed", "OrgUnit", "StaffMember", "Trust", "Wave",
    "generate_events", "generate_trust", "malformed_records", "serialise",
]
