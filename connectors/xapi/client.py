"""Reading an LRS's statements resource: where it is, the version header, `since`/`limit`/`ascending`, `more`.

`base_url` is the LRS endpoint, as the spec names it: the resources are directly below it, so statements are
`<endpoint>/statements` (`https://lrs.example/data/xAPI/statements` for Learning Locker; paths are
case-sensitive). A base_url written as the LRS root, as it once was documented, still works: when
`<base_url>/statements` is not found, `<base_url>/xapi/statements` is tried once and, if it is a statements
resource, used with a warning that says what to set. `options.statements_path` names the path outright.

A `more` IRL is relative to the LRS *host*: the full path without scheme, host and port
(`/data/xAPI/statements/more/abc`). Some LRSs behind a proxy that adds a path prefix answer relative to the
endpoint instead (`/statements/more/abc`, or without the slash); both are resolved below the endpoint, as
TinCanJS does. An LRS may forget a `more` link after a while; the reader then raises CursorExpired and the
source restarts from its last cursor.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from connectors.core.build import parse_time
from connectors.core.errors import CursorExpired
from connectors.core.http import HttpClient
from connectors.core.stream import MappingError
from connectors.xapi.settings import LEGACY_STATEMENTS_PATH, STATEMENTS
from foundation.errors import SourceError

log = logging.getLogger(__name__)
_ENDPOINT_RELATIVE = re.compile(rf"^/?{STATEMENTS}(?:[/?]|$)")


def statements_url(base_url: str, path: str | None = None) -> str:
    """The statements resource: `path` below base_url, else `statements` below the endpoint (slash or not)."""
    return urljoin(base_url.rstrip("/") + "/", (path or STATEMENTS).lstrip("/"))


def more_url(statements: str, more: str) -> str:
    """Absolute URL of a `more` IRL returned by the statements resource at `statements`."""
    if more.startswith(("http://", "https://")):
        return more
    parts = urlsplit(statements)
    origin = f"{parts.scheme}://{parts.netloc}"
    endpoint_path = parts.path[: -len(STATEMENTS)] if parts.path.endswith(STATEMENTS) else parts.path
    if _ENDPOINT_RELATIVE.match(more) and not more.startswith(endpoint_path):
        return origin + endpoint_path + more.lstrip("/")
    return origin + (more if more.startswith("/") else endpoint_path + more)


@dataclass
class StatementPage:
    statements: list[dict[str, Any]]
    consistent_through: datetime | None  # statements stored before this are all visible


class XapiClient:
    def __init__(self, http: HttpClient, statements_path: str | None = None) -> None:
        self.http = http
        self.statements_url = statements_url(http.base_url, statements_path)
        self._located = statements_path is not None  # else confirmed by the first answer

    def statements(self, since: str | None, limit: int) -> Iterator[StatementPage]:
        """Pages of statements stored after `since` (exclusive), oldest first, following `more` to the end."""
        params: dict[str, Any] | None = {"ascending": "true", "limit": limit}
        if since:
            assert params is not None
            params["since"] = since
        response = self._first(params)
        while True:
            body = _statement_result(response)
            if body is None:
                raise SourceError(f"source '{self.http.source}': {response.request.url} did not answer an xAPI "
                                  "StatementResult ({\"statements\": [...], \"more\": ...}); check "
                                  f"sources.{self.http.source}.base_url is the LRS endpoint (the URL before "
                                  "/statements)")
            yield StatementPage(body["statements"], _consistent_through(response.headers))
            more = body.get("more")
            if not more:
                return
            try:
                response = self.http.request("GET", more_url(self.statements_url, str(more)))
            except SourceError as exc:  # the LRS no longer knows this `more` link
                raise CursorExpired(str(exc)) from None

    def _first(self, params: dict[str, Any] | None) -> httpx.Response:
        """The first page, finding the statements resource on the first call of a run."""
        if self._located:
            return self.http.request("GET", self.statements_url, params=params)
        response = self.http.request("GET", self.statements_url, params=params, allow=(404,))
        if response.status_code != 404 and _statement_result(response) is not None:
            self._located = True
            return response
        legacy = statements_url(self.http.base_url, LEGACY_STATEMENTS_PATH)
        fallback = self.http.request("GET", legacy, params=params, allow=(404,))
        source = self.http.source
        if fallback.status_code == 404 or _statement_result(fallback) is None:
            raise SourceError(f"source '{source}': neither {self.statements_url} nor {legacy} is an xAPI "
                              f"statements resource; set sources.{source}.base_url to the LRS endpoint, the URL "
                              "before /statements (e.g. https://lrs.example/data/xAPI/ for Learning Locker; paths "
                              "are case-sensitive)")
        endpoint = legacy[: -len(STATEMENTS)]
        log.warning("source '%s': base_url %s is the LRS root, as once documented; statements were found at %s. "
                    "To read them without first asking %s, set sources.%s.base_url to %s (the LRS endpoint), or "
                    "options.statements_path: %s", source, self.http.base_url, legacy, self.statements_url, source,
                    endpoint, LEGACY_STATEMENTS_PATH)
        self.statements_url, self._located = legacy, True
        return fallback


def _statement_result(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("statements"), list):
        return None
    return body


def _consistent_through(headers: Any) -> datetime | None:
    value = headers.get("X-Experience-API-Consistent-Through")
    if not value:
        return None
    try:
        return parse_time(value, "X-Experience-API-Consistent-Through")
    except MappingError:
        return None
