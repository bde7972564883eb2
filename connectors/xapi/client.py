"""Reading an LRS's statements resource: the version header, `since`/`limit`/`ascending`, and `more` links.

The `more` IRL is relative to the LRS *host* (it carries the full path, without scheme, host and port), not
to the endpoint: `/data/xapi/statements/more/abc` under base URL `https://lrs.example/data` is
`https://lrs.example/data/xapi/statements/more/abc`. An LRS may forget a `more` link after a while; the
reader then raises CursorExpired and the source restarts from its last cursor.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from connectors.core.build import parse_time
from connectors.core.errors import CursorExpired, SourceError
from connectors.core.http import HttpClient
from connectors.core.stream import MappingError
from connectors.xapi.settings import STATEMENTS_PATH


@dataclass
class StatementPage:
    statements: list[dict[str, Any]]
    consistent_through: datetime | None  # statements stored before this are all visible


class XapiClient:
    def __init__(self, http: HttpClient) -> None:
        self.http = http
        parts = urlsplit(http.base_url)
        self._origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))

    def more_url(self, more: str) -> str:
        """Absolute URL of a `more` IRL (host-relative per the spec; absolute IRLs are used as they are)."""
        if more.startswith(("http://", "https://")):
            return more
        return self._origin + (more if more.startswith("/") else "/" + more)

    def statements(self, since: str | None, limit: int) -> Iterator[StatementPage]:
        """Pages of statements stored after `since` (exclusive), oldest first, following `more` to the end."""
        params: dict[str, Any] | None = {"ascending": "true", "limit": limit}
        if since:
            assert params is not None
            params["since"] = since
        url, following = STATEMENTS_PATH, False
        while True:
            try:
                response = self.http.request("GET", url, params=params)
            except SourceError as exc:
                if following:  # the LRS no longer knows this `more` link
                    raise CursorExpired(str(exc)) from None
                raise
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("statements"), list):
                raise SourceError(f"source '{self.http.source}': {response.request.url} did not answer an xAPI "
                                  "StatementResult ({\"statements\": [...], \"more\": ...}); check "
                                  f"sources.{self.http.source}.base_url is the LRS root (without /xapi)")
            yield StatementPage(body["statements"], _consistent_through(response.headers))
            more = body.get("more")
            if not more:
                return
            url, params, following = self.more_url(str(more)), None, True


def _consistent_through(headers: Any) -> datetime | None:
    value = headers.get("X-Experience-API-Consistent-Through")
    if not value:
        return None
    try:
        return parse_time(value, "X-Experience-API-Consistent-Through")
    except MappingError:
        return None
