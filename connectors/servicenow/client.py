"""Reading a ServiceNow table in (sys_updated_on, sys_id) order, page by page, without losing moved records.

Plain offset paging skips a record whenever one already read is updated before the next page: the updated
record moves to the end and every later record shifts back one place. Paging by key instead (each page asks
for records after the last one's `sys_updated_on` and `sys_id`, through the encoded query
`sys_updated_on>T^NQsys_updated_on=T^sys_id>ID`) is immune: a moved record is simply read again at the end.
Rows an access rule hides are removed after the limit is applied, so a page can be short or empty before the
end; the end is the Link header without rel="next".

The key is the stored (UTC) `sys_updated_on`. Under `display_value: true` it is read back from the display value
(options.date_format in options.time_zone); in the hour the clocks go back that names two instants, and the key
takes the earlier one unless only the later one moves past the previous key. A page none of whose
`sys_updated_on` values can be read ends the read with a SourceError: it can neither be paged past nor
bookmarked, and its records have already been quarantined with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from connectors.core.http import HttpClient
from connectors.core.stream import MappingError
from connectors.servicenow.dates import DisplayFormat, shape, stored_time
from connectors.servicenow.settings import MAX_PAGE_SIZE, TABLE_API, TIME_FORMAT, ServiceNowOptions
from foundation.errors import SourceError
from foundation.source_config import SourceConfig

ORDER = "ORDERBYsys_updated_on^ORDERBYsys_id"


def value_of(field: Any) -> Any:
    """A field's stored value whatever `sysparm_display_value` asked for (objects carry it under `value`)."""
    if isinstance(field, dict):
        return field.get("value", field.get("display_value"))
    return field


def label_of(field: Any) -> Any:
    """A field's label (its display value) where the answer carries one, else its value."""
    if isinstance(field, dict):
        return field.get("display_value", field.get("value"))
    return field


class ServiceNowClient:
    """Table API reads for one source; `http` holds the shared retry and auth policy."""

    def __init__(self, source: str, config: SourceConfig, options: ServiceNowOptions) -> None:
        self.source, self.options = source, options
        self.http = HttpClient(source, config)
        self.page_size = min(config.page_size, MAX_PAGE_SIZE)
        self.path = TABLE_API.format(table=options.table)
        self.display = DisplayFormat(options.date_format, options.time_zone)

    def close(self) -> None:
        self.http.close()

    def readings(self, record: dict[str, Any], field: str) -> tuple[datetime, datetime] | None:
        """The UTC instants a date-time field can name, earliest first; None when it is empty.

        A stored value (an object's `value`, or a plain string unless display_value is 'true') names one; a
        display value is read with options.date_format in options.time_zone. A value that cannot be read is a
        MappingError naming the field, the value's shape and the setting to change."""
        raw = record.get(field)
        text = str(value_of(raw) or "").strip()
        if not text:
            return None
        if isinstance(raw, dict) or self.options.display_value != "true":
            try:
                when = stored_time(text)
            except ValueError:
                raise MappingError(f"{field} {text!r} (shape {shape(text)}) is not a stored date and time "
                                   "(yyyy-MM-dd HH:mm:ss, UTC)") from None
            return when, when
        try:
            return self.display.readings(text)
        except ValueError:
            raise MappingError(
                f"{field} {text!r} (shape {shape(text)}) does not match options.date_format "
                f"'{self.options.date_format}': set it and options.time_zone to the integration user's date format "
                "and time zone (e.g. 'dd/MM/yyyy HH:mm:ss'), or use display_value 'all'") from None

    def time_of(self, record: dict[str, Any], field: str) -> datetime | None:
        """A date-time field in UTC (the earlier reading of an ambiguous local time); None when empty."""
        found = self.readings(record, field)
        return found[0] if found else None

    def newest_change(self, rows: list[dict[str, Any]]) -> datetime | None:
        """The newest `sys_updated_on` on a page (oldest first) that can be read; None when none can."""
        for row in reversed(rows):
            try:
                found = self.readings(row, "sys_updated_on")
            except MappingError:
                continue
            if found:
                return found[0]
        return None

    def _next_key(self, rows: list[dict[str, Any]], after: tuple[str, str]) -> tuple[str, str]:
        """(stored sys_updated_on, sys_id) of the newest row that can be read, past `after`."""
        problem = "no record on it has a sys_updated_on"
        for row in reversed(rows):
            try:
                found = self.readings(row, "sys_updated_on")
            except MappingError as exc:
                problem = str(exc)
                continue
            if not found:
                continue
            ident = str(value_of(row.get("sys_id")) or "")
            for when in found:
                key = (when.strftime(TIME_FORMAT), ident)
                if key > after:
                    return key
            problem = (f"sys_updated_on {value_of(row.get('sys_updated_on'))!r} reads as {key[0]} UTC, not after "
                       f"{after[0]} UTC where the page starts: check options.time_zone "
                       f"('{self.options.time_zone}') is the integration user's time zone")
        raise SourceError(f"source '{self.source}': reading {self.options.table} stopped at a page whose "
                          f"sys_updated_on cannot be read, so it can be neither paged past nor bookmarked "
                          f"(its records are quarantined): {problem}")

    def _filter(self, condition: str) -> str:
        return f"{self.options.query}^{condition}" if self.options.query else condition

    def records(self, fields: list[str], start: str | None,
                on_first: Callable[[dict[str, Any]], None] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages of records changed at or after `start` (UTC, Table API format), oldest change first."""
        if start:
            query = f"{self._filter(f'sys_updated_on>={start}')}^{ORDER}"
        else:
            query = f"{self.options.query}^{ORDER}" if self.options.query else ORDER
        first, offset = True, 0
        after = (start or "", "")
        while True:
            params = {"sysparm_query": query, "sysparm_fields": ",".join(fields), "sysparm_limit": self.page_size,
                      "sysparm_offset": offset, "sysparm_display_value": self.options.display_value,
                      "sysparm_exclude_reference_link": "true"}
            response = self.http.request("GET", self.path, params=params)
            try:
                body = response.json()
            except ValueError:
                raise SourceError(f"source '{self.source}': {response.request.url} did not answer JSON; check "
                                  f"sources.{self.source}.base_url is the instance root") from None
            rows = body.get("result") if isinstance(body, dict) else None
            if not isinstance(rows, list):
                raise SourceError(f"source '{self.source}': the Table API answer has no 'result' list; check "
                                  f"sources.{self.source}.options.table")
            # Access rules remove rows after the limit is applied: a short or even empty page is not the end
            # while the Link header offers a next page.
            more = 'rel="next"' in response.headers.get("Link", "")
            if not rows:
                if not more:
                    return
                offset += self.page_size  # a page of hidden rows: step over it within the same key range
                continue
            if first and on_first is not None:
                on_first(rows[0])
            first = False
            yield rows
            after = self._next_key(rows, after)
            if not more:
                return
            at, ident = after
            query = (f"{self._filter(f'sys_updated_on>{at}')}^NQ"
                     f"{self._filter(f'sys_updated_on={at}^sys_id>{ident}')}^{ORDER}")
            offset = 0
