"""Reading Jira issues changed since a moment, through `GET /rest/api/2/search`, oldest change first.

JQL compares `updated` to the minute, so a read asks from the start of the stored minute (`>=`) and drops
issue versions it has already returned in this run; earlier runs' versions dedupe downstream by event id.
Each page re-runs the query from the minute of the last issue read instead of moving `startAt` on, so an
issue updated between two pages (which moves to the end of the order) cannot shift an unread issue past
the page boundary; `startAt` only steps within one minute that holds more than a page of issues. Jira
returns at most 100 issues a page whatever `maxResults` asks, so progress is counted from what came back.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from connectors.core.config import SourceConfig
from connectors.core.errors import SourceError
from connectors.core.http import HttpClient
from connectors.jira.settings import JQL_TIME_FORMAT, MAX_RESULTS, SEARCH_PATH, JiraOptions


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

    def close(self) -> None:
        self.http.close()

    def jql(self, since: datetime | None) -> str:
        bound = f'updated >= "{since.astimezone(self.zone).strftime(JQL_TIME_FORMAT)}"' if since else ""
        where = " AND ".join(f"({c})" if " or " in c.lower() else c for c in (self.options.jql, bound) if c)
        return f"{where} ORDER BY updated ASC, key ASC".strip()

    def search(self, jql: str, start_at: int) -> dict[str, Any]:
        body = self.http.get_json(SEARCH_PATH, {"jql": jql, "startAt": start_at, "maxResults": self.page_size,
                                                "fields": ",".join(self.fields)})
        if not isinstance(body, dict) or not isinstance(body.get("issues"), list):
            raise SourceError(f"source '{self.source}': the search answer has no 'issues' list; check "
                              f"sources.{self.source}.base_url is the site root (https://<site>.atlassian.net)")
        return body

    def issues(self, since: datetime | None) -> Iterator[list[dict[str, Any]]]:
        """Pages of issue versions not yet returned in this run, changed at or after `since`'s minute."""
        window = minute(since.astimezone(UTC)) if since else None
        start_at = 0
        seen: set[tuple[str, str]] = set()
        while True:
            body = self.search(self.jql(window), start_at)
            issues = body["issues"]
            fresh = []
            for issue in issues:
                version = (str(issue.get("key")), str((issue.get("fields") or {}).get("updated")))
                if version not in seen:
                    seen.add(version)
                    fresh.append(issue)
            if fresh:
                yield fresh
            total = int(body.get("total") or 0)
            if not issues or start_at + len(issues) >= total:
                return
            newest = max(jira_time(i["fields"]["updated"]) for i in issues if (i.get("fields") or {}).get("updated"))
            if window is None or minute(newest.astimezone(UTC)) > window:
                window, start_at = minute(newest.astimezone(UTC)), 0
                seen = {v for v in seen if v[1] != "None" and jira_time(v[1]) >= window}
            else:  # a whole page within one minute: step through that minute
                start_at += len(issues)
