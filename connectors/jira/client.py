"""Reading Jira issues changed since a moment, oldest change first.

Jira Cloud answers `GET /rest/api/2/search/jql` (enhanced search: pages follow `nextPageToken` until
`isLast`, there is no `total`, and fields must be asked for) and has removed `GET /rest/api/2/search`; Jira
Data Center and Server have only the latter (`startAt` and `total`). `search_api: auto` asks the enhanced
search first and falls back when the site does not have it (HTTP 404).

JQL compares `updated` to the minute, so a read asks from the start of the stored minute (`>=`) and drops
issue versions it has already returned in this run; earlier runs' versions dedupe downstream by event id.
Each page re-runs the query from the minute of the last issue read instead of moving `startAt` on, so an
issue updated between two pages (which moves to the end of the order) cannot shift an unread issue past
the page boundary; `startAt` (or the page token) only steps within one minute that holds more than a page of
issues. Jira
returns at most 100 issues a page whatever `maxResults` asks, so progress is counted from what came back.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from connectors.core.http import HttpClient
from connectors.jira.settings import JQL_TIME_FORMAT, MAX_RESULTS, SEARCH_JQL_PATH, SEARCH_PATH, JiraOptions
from foundation.errors import SourceError
from foundation.source_config import SourceConfig


def jira_time(value: str) -> datetime:
    """`2026-11-20T10:15:30.000+0000` (Jira's form) as an aware datetime."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return parsed


def minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


class JiraClient:
    def __init__(self, source: str, config: SourceConfig, options: JiraOptions, fields: list[str]) -> None:
        self.source, self.options, self.fields = source, options, fields
        self.http = HttpClient(source, config)
        self.page_size = min(config.page_size, MAX_RESULTS)
        self.zone = ZoneInfo(options.jql_timezone)
        self.api: Literal["auto", "search_jql", "search"] = options.search_api  # auto: settled by the first answer

    def close(self) -> None:
        self.http.close()

    def jql(self, since: datetime | None) -> str:
        bound = f'updated >= "{since.astimezone(self.zone).strftime(JQL_TIME_FORMAT)}"' if since else ""
        where = " AND ".join(f"({c})" if " or " in c.lower() else c for c in (self.options.jql, bound) if c)
        return f"{where} ORDER BY updated ASC, key ASC".strip()

    def search(self, jql: str, position: int | str | None) -> tuple[list[dict[str, Any]], int | str | None]:
        """One page of the query from `position` (None: its start): the issues and the position after them,
        None on the last page."""
        params: dict[str, Any] = {"jql": jql, "maxResults": self.page_size, "fields": ",".join(self.fields)}
        if self.api != "search":
            if position is not None:
                params["nextPageToken"] = position
            response = self.http.request("GET", SEARCH_JQL_PATH, params=params,
                                         allow=(404,) if self.api == "auto" else ())
            if response.status_code != 404:
                self.api = "search_jql"
                body = self._checked(self.http.json_of(response))
                token = body.get("nextPageToken")
                return body["issues"], None if body.get("isLast", not token) or not token else str(token)
            self.api = "search"  # `auto` on a site without the enhanced search: Data Center or Server
            params.pop("nextPageToken", None)
        start = int(position or 0)
        response = self.http.request("GET", SEARCH_PATH, params={**params, "startAt": start}, allow=(410,))
        if response.status_code == 410:
            raise SourceError(f"source '{self.source}': this Jira site has removed {SEARCH_PATH} (Jira Cloud); set "
                              f"sources.{self.source}.options.search_api to search_jql or auto")
        body = self._checked(self.http.json_of(response))
        issues = body["issues"]
        following = start + len(issues)
        return issues, following if issues and following < int(body.get("total") or 0) else None

    def _checked(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("issues"), list):
            raise SourceError(f"source '{self.source}': the search answer has no 'issues' list; check "
                              f"sources.{self.source}.base_url is the site root (https://<site>.atlassian.net)")
        return body

    def issues(self, since: datetime | None) -> Iterator[list[dict[str, Any]]]:
        """Pages of issue versions not yet returned in this run, changed at or after `since`'s minute."""
        window = minute(since.astimezone(UTC)) if since else None
        position: int | str | None = None
        seen: set[tuple[str, str]] = set()
        while True:
            issues, following = self.search(self.jql(window), position)
            fresh = []
            for issue in issues:
                version = (str(issue.get("key")), str((issue.get("fields") or {}).get("updated")))
                if version not in seen:
                    seen.add(version)
                    fresh.append(issue)
            if fresh:
                yield fresh
            if not issues or following is None:
                return
            newest = max(jira_time(i["fields"]["updated"]) for i in issues if (i.get("fields") or {}).get("updated"))
            if window is None or minute(newest.astimezone(UTC)) > window:
                window, position = minute(newest.astimezone(UTC)), None
                seen = {v for v in seen if v[1] != "None" and jira_time(v[1]) >= window}
            else:  # a whole page within one minute: step through that minute
                position = following
