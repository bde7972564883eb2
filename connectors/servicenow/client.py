"""Reading a ServiceNow table in (sys_updated_on, sys_id) order, page by page, without losing moved records.

Plain offset paging skips a record whenever one already read is updated before the next page: the updated
record moves to the end and every later record shifts back one place. Paging by key instead (each page asks
for records after the last one's `sys_updated_on` and `sys_id`, through the encoded query
`sys_updated_on>T^NQsys_updated_on=T^sys_id>ID`) is immune: a moved record is simply read again at the end.
Rows an access rule hides are removed after the limit is applied, so a page can be short or empty before the
end; the end is the Link header without rel="next".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from connectors.core.config import SourceConfig
from connectors.core.errors import SourceError
from connectors.core.http import HttpClient
from connectors.servicenow.settings import MAX_PAGE_SIZE, TABLE_API, TIME_FORMAT, ServiceNowOptions

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
        self.zone = ZoneInfo(options.instance_timezone)

    def close(self) -> None:
        self.http.close()

    def updated(self, record: dict[str, Any]) -> str:
        """`sys_updated_on` as the instance stores it (UTC), even when the answer shows local display values."""
        field = record.get("sys_updated_on")
        if isinstance(field, dict) or self.options.display_value != "true":
            return str(value_of(field) or "")
        local = datetime.strptime(str(field), TIME_FORMAT).replace(tzinfo=self.zone)
        return local.astimezone(UTC).strftime(TIME_FORMAT)

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
            if not more:
                return
            last = rows[-1]
            at, ident = self.updated(last), value_of(last.get("sys_id"))
            query = (f"{self._filter(f'sys_updated_on>{at}')}^NQ"
                     f"{self._filter(f'sys_updated_on={at}^sys_id>{ident}')}^{ORDER}")
            offset = 0
