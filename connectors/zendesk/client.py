"""Zendesk's cursor-based incremental ticket export: a start_time once, then the after_cursor of each page.

The export is walked with `include=users,metric_sets`, and each ticket leaves here carrying its requester
(from the side-loaded users) and its metric set (reopens, solved_at), so a page's records map on their own.
A cursor Zendesk no longer accepts (422 / 400 InvalidPaginationParameter) is not fatal: the walk restarts
from a start_time, the newest `updated_at` already read, and the tickets read twice dedupe downstream.

Satisfaction ratings are listed from a start_time with cursor pagination (`page[size]`, then `page[after]`
from `meta.after_cursor` while `meta.has_more`), and the rated tickets fetched by id (`show_many`, 100 at a
time) with the same side-loads, joined the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from connectors.core.http import HttpClient
from connectors.zendesk.settings import (
    EXPORT_PATH,
    MAX_PAGE_SIZE,
    MAX_PER_PAGE,
    RATED,
    SATISFACTION_PATH,
    SHOW_MANY_PATH,
    SIDELOADS,
    TICKET_FIELD_PATH,
    ZendeskOptions,
)
from foundation.errors import SourceError
from foundation.source_config import SourceConfig

log = logging.getLogger(__name__)
CURSOR_REFUSED = (400, 422)


def token_auth(source: str, config: SourceConfig) -> httpx.Auth | None:
    """API-token auth is basic auth as `{email}/token` with the token as password."""
    if config.auth.type != "basic":
        return None
    email = config.auth.secret("username_env", source)
    user = email if email.endswith("/token") else f"{email}/token"
    return httpx.BasicAuth(user, config.auth.secret("password_env", source))


@dataclass
class ExportPage:
    tickets: list[dict[str, Any]]
    after_cursor: str | None
    end_of_stream: bool


class ZendeskClient:
    def __init__(self, source: str, config: SourceConfig, options: ZendeskOptions) -> None:
        self.source, self.options = source, options
        self.http = HttpClient(source, config, auth=token_auth(source, config))
        self.per_page = min(config.page_size, MAX_PER_PAGE)
        self.page_size = min(config.page_size, MAX_PAGE_SIZE)
        self.cursor_restarts = 0

    def close(self) -> None:
        self.http.close()

    def field_labels(self, field_id: int) -> dict[str, str]:
        """A drop-down field's option tag → label (ticket values hold the tag)."""
        try:
            body = self.http.get_json(TICKET_FIELD_PATH.format(id=field_id))
        except SourceError as exc:
            raise SourceError(f"sources.{self.source}.options.category_field_id: ticket field {field_id} cannot be "
                              f"read ({exc})") from None
        options = (body.get("ticket_field") or {}).get("custom_field_options") or []
        return {str(o.get("value")): str(o.get("name")) for o in options if o.get("value")}

    def _get(self, params: dict[str, Any]) -> httpx.Response:
        return self.http.request("GET", EXPORT_PATH, params=params, allow=CURSOR_REFUSED)

    def pages(self, *, cursor: str | None, start_time: int, resume_at: dict[str, int]) -> Iterator[ExportPage]:
        """Export pages from `cursor` (or `start_time`); `resume_at["start_time"]` is where to restart if a
        cursor is refused, and callers move it on as they read."""
        base = {"per_page": self.per_page, "include": SIDELOADS}
        if self.options.exclude_deleted:
            base["exclude_deleted"] = "true"
        params = {**base, "cursor": cursor} if cursor else {**base, "start_time": start_time}
        while True:
            response = self._get(params)
            if response.status_code in CURSOR_REFUSED:
                text = response.text[:300]
                if "cursor" not in params:
                    raise SourceError(f"source '{self.source}': the export refused start_time "
                                      f"{params.get('start_time')} (HTTP {response.status_code}): {text}; check "
                                      f"sources.{self.source}.options.start_date")
                self.cursor_restarts += 1
                if self.cursor_restarts > 3:
                    raise SourceError(f"source '{self.source}': Zendesk keeps refusing export cursors: {text}")
                log.warning("%s: export cursor refused (%s); restarting from start_time %d", self.source,
                            text, resume_at["start_time"])
                params = {**base, "start_time": resume_at["start_time"]}
                continue
            body = response.json()
            if not isinstance(body, dict) or not isinstance(body.get("tickets"), list):
                raise SourceError(f"source '{self.source}': the export answer has no 'tickets' list; check "
                                  f"sources.{self.source}.base_url is the account root (https://<name>.zendesk.com)")
            yield ExportPage(self._joined(body), body.get("after_cursor"), bool(body.get("end_of_stream")))
            after = body.get("after_cursor")
            if body.get("end_of_stream") or not after:
                return
            params = {**base, "cursor": after}

    def ratings(self, *, start_time: int) -> Iterator[list[dict[str, Any]]]:
        """Answered satisfaction ratings (`score=received`: good or bad) updated from `start_time`, page by page.

        The list is not sorted by `updated_at`; comments and reasons are left behind (free text not needed)."""
        params: dict[str, Any] = {"score": RATED, "start_time": start_time, "page[size]": self.page_size}
        while True:
            response = self.http.request("GET", SATISFACTION_PATH, params=params, allow=(403,))
            if response.status_code == 403:
                raise SourceError(f"source '{self.source}': Zendesk refused the satisfaction ratings list (HTTP 403: "
                                  f"{response.text[:200]}); use an admin's API token, or set "
                                  f"sources.{self.source}.options.satisfaction_ratings: false")
            body = self.http.json_of(response)
            ratings = body.get("satisfaction_ratings") if isinstance(body, dict) else None
            if not isinstance(ratings, list):
                raise SourceError(f"source '{self.source}': the satisfaction ratings answer has no "
                                  f"'satisfaction_ratings' list; check sources.{self.source}.base_url is the account "
                                  "root (https://<name>.zendesk.com)")
            yield [{k: v for k, v in r.items() if k not in ("comment", "reason")} for r in ratings
                   if isinstance(r, dict)]
            meta = body.get("meta") or {}
            after = meta.get("after_cursor")
            if not meta.get("has_more") or not after:
                return
            params = {**params, "page[after]": after}

    def tickets(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Tickets by id, joined as the export's are; ids Zendesk does not answer (deleted tickets) are absent."""
        wanted = sorted(set(ids))
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(wanted), MAX_PAGE_SIZE):
            chunk = wanted[start:start + MAX_PAGE_SIZE]
            body = self.http.get_json(SHOW_MANY_PATH, {"ids": ",".join(map(str, chunk)), "include": SIDELOADS})
            if not isinstance(body, dict) or not isinstance(body.get("tickets"), list):
                raise SourceError(f"source '{self.source}': {SHOW_MANY_PATH} answered without a 'tickets' list")
            found.update({t["id"]: t for t in self._joined(body) if isinstance(t.get("id"), int)})
        return found

    @staticmethod
    def _joined(body: dict[str, Any]) -> list[dict[str, Any]]:
        users = {u.get("id"): u for u in body.get("users") or [] if isinstance(u, dict)}
        metrics = {m.get("ticket_id"): m for m in body.get("metric_sets") or [] if isinstance(m, dict)}
        out = []
        for ticket in body["tickets"]:
            user = users.get(ticket.get("requester_id")) or {}
            metric = metrics.get(ticket.get("id")) or {}
            out.append({**ticket,
                        "requester": {"id": user.get("id"), "email": user.get("email")} if user else None,
                        "metric_set": {"reopens": metric.get("reopens"), "solved_at": metric.get("solved_at")}
                        if metric else None})
        return out


def unix(value: datetime) -> int:
    return int(value.timestamp())
