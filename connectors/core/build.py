"""Turning a source record into a canonical event: pseudonymise people, scrub text, derive the event id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from connectors.core.errors import MappingError
from connectors.core.identity import UNKNOWN_GROUP, UNMATCHED_UNIT, StaffResolver
from foundation.privacy import scrub
from schemas.events import Event, Kind, Person, make_event


class EventBuilder:
    """Shared by every mapper of one pull, so the same person gets the same pseudonym in every source."""

    def __init__(self, source: str, resolver: StaffResolver, *, system: str, ingested_at: datetime) -> None:
        self.source, self.resolver, self.system, self.ingested_at = source, resolver, system, ingested_at
        self.unmatched: set[str] = set()

    def pseudonym(self, identifier: str) -> str:
        return self.resolver.pseudonym(identifier)

    def person(self, identifier: Any, *, org_unit: str | None = None, staff_group: str | None = None,
               system: str | None = None) -> Person:
        """The directory's view of a person; the record's own unit and group when the directory has none."""
        if not isinstance(identifier, str) or not identifier.strip():
            raise MappingError("person missing: the record names no requester, respondent or learner")
        pseudonym = self.resolver.pseudonym(identifier)
        facts = self.resolver.facts(pseudonym)
        if facts is not None:
            return Person(pseudonym=pseudonym, org_unit=facts.org_unit, org_path=list(facts.org_path),
                          staff_group=facts.staff_group, system=system or facts.system,
                          go_live_wave=facts.go_live_wave)
        self.unmatched.add(pseudonym)
        return Person(pseudonym=pseudonym, org_unit=org_unit or UNMATCHED_UNIT, org_path=[],
                      staff_group=staff_group or UNKNOWN_GROUP, system=system or self.system)

    @staticmethod
    def text(value: Any, limit: int = 4000) -> str | None:
        """Free text, scrubbed of identifiers and cut to the contract's limit."""
        if value is None:
            return None
        cleaned = scrub(str(value).strip())
        return cleaned[:limit] if cleaned else None

    def event(self, kind: Kind, *, record_id: str, version: str, occurred_at: datetime,
              payload: BaseModel | dict[str, Any]) -> Event:
        """A validated event; a record the contract refuses becomes a MappingError with pydantic's reason."""
        try:
            return make_event(kind, source=self.source, source_record_id=record_id, record_version=version,
                              occurred_at=occurred_at, payload=payload, ingested_at=self.ingested_at)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise MappingError(f"{where}: {err['msg']}") from None


def retraction(builder: EventBuilder, kind: Kind, *, record_id: str, version: str, occurred_at: datetime,
               reason: str) -> Event:
    """A retraction of this source's record `record_id` of `kind` (voided or deleted at the source)."""
    return builder.event(Kind.RETRACTION, record_id=record_id, version=version, occurred_at=occurred_at,
                         payload={"kind": kind.value, "reason": reason})


def parse_time(value: Any, what: str = "timestamp") -> datetime:
    """ISO 8601 or `YYYY-MM-DD HH:MM:SS` (ServiceNow's form) as an aware datetime, UTC when no zone is given."""
    if isinstance(value, datetime):
        parsed = value
    else:
        if not isinstance(value, str) or not value.strip():
            raise MappingError(f"{what} missing")
        text = value.strip().replace("Z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise MappingError(f"{what} {value!r} is not a date and time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
