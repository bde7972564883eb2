"""ServiceNow incidents through the Table API (`GET /api/now/table/incident`, basic auth).

Quirks handled, each with its own test:
- every value arrives as a string ("2", "0", ""), an empty date is "" rather than null;
- `sysparm_display_value` changes the shape: codes (false), labels such as "2 - High" and "Resolved" with dates
  in the integration user's date format and time zone, e.g. "06/12/2026 14:05:09" (true: read with
  options.date_format and options.time_zone), or `{"display_value", "value"}` objects (all, the default here,
  dates from `value` in UTC); a date that does not read is a MappingError naming the field and the setting;
- reference fields come as `{"link", "value"}` objects unless `sysparm_exclude_reference_link=true`;
- the requester's e-mail is a dot-walked field (`caller_id.email`), and a field name the table does not have
  is silently left out of answers, so a mapping that names one is reported as a configuration error;
- offset paging skips a record updated between two pages, so pages are read by key (see `client`);
- rows hidden by access rules leave short or empty pages before the end: the Link header says when it ends;
- `sys_updated_on` has second precision: a resumed read starts at the stored second (`>=`) and re-reads it.

The record version is `sys_updated_on` plus `sys_mod_count`, so two changes within one second stay distinct.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from connectors.core.build import EventBuilder
from connectors.core.stream import MappingError, Page, Schedule, Source, Stream, cursor_after
from connectors.servicenow.client import ServiceNowClient, label_of, value_of
from connectors.servicenow.settings import STATE_CODES, STATE_LABELS, TIME_FORMAT, ServiceNowOptions
from foundation.errors import SourceError
from schemas.events import Event, Kind, TicketStatus

CURSOR_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
BASE_FIELDS = ("number", "sys_id", "sys_updated_on", "sys_mod_count", "opened_at", "resolved_at", "closed_at",
               "state", "priority")


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime(CURSOR_FORMAT)


def ticket_status(field: Any, extra: dict[str, TicketStatus] | None = None) -> TicketStatus:
    """A state as code ("6"), label ("Resolved") or both; unknown states are a MappingError."""
    code, label = str(value_of(field) or "").strip(), str(label_of(field) or "").strip()
    extra = extra or {}
    for key in (code, label):
        if key in extra:
            return extra[key]
    if code in STATE_CODES:
        return STATE_CODES[code]
    if label.lower() in STATE_LABELS:
        return STATE_LABELS[label.lower()]
    raise MappingError(f"state {label or code!r} is not a known incident state: add it to options.states")


def ticket_priority(field: Any) -> int:
    """Priority as "2" or "2 - High"; ServiceNow's 1 Critical .. 5 Planning is the contract's scale."""
    text = str(value_of(field) or label_of(field) or "").strip()
    head = text.split(" ", 1)[0]
    if head.isdigit() and 1 <= int(head) <= 5:
        return int(head)
    raise MappingError(f"priority {text!r} is not 1-5")


def whole_number(field: Any, what: str) -> int:
    text = str(value_of(field) or "").strip()
    if not text:
        return 0
    try:
        return int(float(text))
    except ValueError:
        raise MappingError(f"{what} {text!r} is not a number") from None


class ServiceNow(Source):
    """Incidents as help-desk tickets.

    ```yaml
    sources:
      servicenow:
        type: servicenow
        base_url: https://yourtrust.service-now.com
        auth: {type: basic, username_env: SERVICENOW_USER, password_env: SERVICENOW_PASSWORD}
        options: {requester_field: caller_id.email, satisfaction_field: u_satisfaction}
    ```
    """

    type: ClassVar[str] = "servicenow"
    summary: ClassVar[str] = "ServiceNow incidents (Table API), incremental by sys_updated_on."
    pull_schedule: ClassVar[Schedule] = Schedule(interval=300)
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream("incidents", Kind.HELPDESK_TICKET, primary_key=("number",), cursor_field="sys_updated_on",
               sorted_by_cursor=True),
    )
    options_model = ServiceNowOptions
    identifier_fields = ("caller_id", "caller_id.email", "caller_id.user_name", "caller_id.employee_number",
                         "sys_created_by", "opened_by")
    options: ServiceNowOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.api = ServiceNowClient(self.name, self.config, self.options)
        self.client = self.api.http  # the puller reports its request and retry counts

    @property
    def mapped_fields(self) -> dict[str, str]:
        """Setting name → the field it names, for every configurable field the mapping reads."""
        o = self.options
        named = {"requester_field": o.requester_field, "category_field": o.category_field,
                 "summary_field": o.summary_field, "reopen_count_field": o.reopen_count_field,
                 "satisfaction_field": o.satisfaction_field}
        return {k: v for k, v in named.items() if v}

    def _check_fields(self, record: dict[str, Any]) -> None:
        for setting, field in self.mapped_fields.items():
            if field not in record:
                raise SourceError(f"sources.{self.name}.options.{setting}: the {self.options.table} table has no "
                                  f"field '{field}' (ServiceNow leaves unknown fields out of its answers); "
                                  f"name a field of {self.options.table} or remove the setting")

    def read(self, stream: Stream, state: dict[str, Any]) -> Iterator[Page]:
        since = self.context.since
        stored = state.get("cursor")
        start_at = since if since is not None else (
            datetime.strptime(stored, CURSOR_FORMAT).replace(tzinfo=UTC) if stored else None)
        start = start_at.astimezone(UTC).strftime(TIME_FORMAT) if start_at else None
        fields = list(dict.fromkeys([*BASE_FIELDS, *self.mapped_fields.values()]))
        cap = iso(self.context.run_started)
        cursor = stored
        for rows in self.api.records(fields, start, on_first=self._check_fields):
            last = self.api.newest_change(rows)
            if last is not None:
                cursor = cursor_after(cursor, iso(last), cap)
            yield Page(rows, {"cursor": cursor} if cursor else None)

    def record_id(self, stream: Stream, record: dict[str, Any]) -> str:
        return str(value_of(record.get("number")) or "")

    def _time(self, record: dict[str, Any], field: str) -> datetime | None:
        return self.api.time_of(record, field)

    def map(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> Event | None:
        o = self.options
        number = self.record_id(stream, record)
        if not number:
            raise MappingError("number missing: the record has no incident number")
        updated = self._time(record, "sys_updated_on")
        if updated is None:
            raise MappingError("sys_updated_on missing")
        opened = self._time(record, "opened_at") or updated
        status = ticket_status(record.get("state"), o.states)
        resolved = None
        if status in ("resolved", "closed"):
            resolved = self._time(record, "resolved_at") or self._time(record, "closed_at") or updated
        category_field = record.get(o.category_field)
        category = str(label_of(category_field) or "").strip()
        category = o.category_labels.get(category, category) or "Uncategorised"
        satisfaction = None
        if o.satisfaction_field:
            score = str(value_of(record.get(o.satisfaction_field)) or "").strip()
            satisfaction = whole_number(score, o.satisfaction_field) if score else None
        requester = value_of(record.get(o.requester_field))
        mods = whole_number(record.get("sys_mod_count"), "sys_mod_count")
        return build.event(Kind.HELPDESK_TICKET, record_id=number, version=f"{iso(updated)}#{mods}",
                           occurred_at=updated, payload={
                               "person": build.person(requester),
                               "opened_at": opened, "updated_at": updated, "resolved_at": resolved,
                               "status": status, "category": category[:128],
                               "priority": ticket_priority(record.get("priority")),
                               "reopen_count": whole_number(record.get(o.reopen_count_field), "reopen_count")
                               if o.reopen_count_field else 0,
                               "satisfaction": satisfaction,
                               "summary": build.text(label_of(record.get(o.summary_field))),
                           })

    def close(self) -> None:
        self.api.close()
