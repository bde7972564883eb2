"""Training records from an xAPI 1.0.3 Learning Record Store: `GET <LRS endpoint>/statements`.

Gamified training platforms and most modern LMSs emit xAPI statements; the LRS stores them. Quirks handled:
- base_url is the LRS endpoint (`https://lrs.example/data/xAPI/`, `/lrs/`, `/xapi/`; case-sensitive), with or
  without the trailing slash; a base_url that is the LRS root, as it was once documented, is recognised by
  `<base_url>/xapi/statements` answering when `<base_url>/statements` is not found (see client.py);
- every request carries `X-Experience-API-Version: 1.0.3` (an LRS answers 400 without it); basic auth with
  the LRS key and secret;
- `ascending=true`, or the LRS returns newest first; `since` is exclusive, so a pull resumes a millisecond
  before its cursor and drops the statements it already published at that instant;
- the cursor is `stored` (when the LRS received the statement), not `timestamp`: a statement recorded
  offline arrives late with an old timestamp, and still sorts after the cursor by `stored`;
- the cursor never passes `X-Experience-API-Consistent-Through`: statements stored after it may not be
  visible yet;
- `more` is a host-relative IRL (an endpoint-relative one is taken below the endpoint); an expired `more`
  link restarts the stream from its last cursor;
- verbs are IRIs (registered → enrolled, attempted, completed, passed, failed, cmi5 satisfied → completed);
  other verbs (experienced, launched, initialized, answered, ...) are skipped and counted;
- a voiding statement (verb `voided`, object a `StatementRef`) becomes a retraction of the statement it
  names, so a statement voided after it was published leaves the views and metrics (the LRS itself hides
  voided statements from later reads);
- actors by `mbox` or `account` (its name is a username, which the directory's aliases resolve); an actor
  known only by `mbox_sha1sum` or `openid`, or a Group, is quarantined with the reason;
- `result.score.scaled` is −1..1: negative scores count as 0; `result.duration` is an ISO 8601 duration
  (`PT1H12M30S`, `P1DT2H`), dropped when malformed or longer than a week;
- the course is the object's activity IRI (`.../courses/EPR-GL-101`), or for a module the context's parent
  or grouping activity, by `course_id_pattern` or `course_map`; its name comes from the language map.

The statement id is the record id and statements are immutable, so the version is the `stored` time.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, ClassVar

from connectors.core.build import EventBuilder, parse_time, retraction
from connectors.core.errors import CursorExpired
from connectors.core.http import HttpClient
from connectors.core.stream import MappingError, Page, PullContext, Schedule, Source, Stream, cursor_after
from connectors.xapi.client import XapiClient
from connectors.xapi.mapping import (
    RequiredCourses,
    actor_identifier,
    cursor_text,
    duration_seconds,
    resolve_course,
    scaled_score,
)
from connectors.xapi.settings import EXAMPLE_YAML, VOIDED_VERB, XAPI_VERSION, XapiOptions
from foundation.errors import SourceError
from foundation.source_config import SourceConfig
from schemas.events import Event, Kind

__all__ = ["EXAMPLE_YAML", "Xapi"]

log = logging.getLogger(__name__)


class Xapi(Source):
    type: ClassVar[str] = "xapi"
    summary: ClassVar[str] = "xAPI statements from the Learning Record Store, incremental by stored time."
    pull_schedule: ClassVar[Schedule] = Schedule(interval=900)
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream("statements", Kind.TRAINING_RECORD, primary_key=("id",), cursor_field="stored",
               sorted_by_cursor=True),
    )
    options_model = XapiOptions
    identifier_fields = ("mbox", "mbox_sha1sum", "openid", "name", "homePage")
    options: XapiOptions

    def __init__(self, name: str, config: SourceConfig, context: PullContext) -> None:
        super().__init__(name, config, context)
        self.client = HttpClient(name, config, headers={"X-Experience-API-Version": XAPI_VERSION})
        self.lrs = XapiClient(self.client, self.options.statements_path)
        self._verbs = self.options.verb_map()
        self._pattern = re.compile(self.options.course_id_pattern)
        self._required = RequiredCourses(self.options.required_courses)
        self.skipped_verbs: Counter[str] = Counter()
        self.dropped_durations = 0
        self.restarts = 0

    # -- reading ------------------------------------------------------------------------------------

    def read(self, stream: Stream, state: dict[str, Any]) -> Iterator[Page]:
        if self.context.since is not None:
            cursor, at_cursor = cursor_text(self.context.since), set()
        else:
            cursor, at_cursor = state.get("cursor"), set(state.get("ids_at_cursor") or [])
        run_cap = cursor_text(self.context.run_started)
        while True:
            try:
                for page in self._pages(cursor, at_cursor, run_cap):
                    yield page
                    cursor, at_cursor = page.state["cursor"], set(page.state["ids_at_cursor"])  # type: ignore[index]
                return
            except CursorExpired as exc:
                if self.restarts >= self.options.max_restarts:
                    raise SourceError(f"source '{self.name}': the LRS kept expiring its `more` links ({exc}); "
                                      f"lower sources.{self.name}.page_size or raise the LRS's cursor lifetime"
                                      ) from None
                self.restarts += 1
                log.warning("%s: `more` link expired; restarting from cursor %s", self.name, cursor)

    def _pages(self, cursor: str | None, at_cursor: set[str], run_cap: str) -> Iterator[Page]:
        since = None
        if cursor:
            since = cursor_text(parse_time(cursor) - timedelta(milliseconds=self.options.cursor_overlap_ms))
        last = since or ""
        for result in self.lrs.statements(since, self.config.page_size):
            cap = run_cap
            if result.consistent_through is not None:
                cap = min(cap, cursor_text(result.consistent_through))
            records: list[dict[str, Any]] = []
            stored_of: list[str] = []
            for statement in result.statements:
                try:
                    stored = cursor_text(parse_time(statement.get("stored"), "stored"))
                except MappingError:
                    raise SourceError(f"source '{self.name}': statement {statement.get('id')} has no valid "
                                      "`stored` time, which an LRS must set; is base_url an LRS?") from None
                if stored < last:
                    raise SourceError(f"source '{self.name}': the LRS returned statements out of `stored` order "
                                      "although ascending=true was asked; it cannot be read incrementally")
                last = stored
                if stored == cursor and statement.get("id") in at_cursor:
                    continue  # published by the pull that stored this cursor
                statement["stored"] = stored
                records.append(statement)
                stored_of.append(stored)
            new_cursor = cursor_after(cursor, stored_of[-1] if stored_of else None, cap)
            if new_cursor != cursor:
                at_cursor = set()
            at_cursor |= {r.get("id") for r, s in zip(records, stored_of, strict=True) if s == new_cursor}
            cursor = new_cursor
            yield Page(records, {"cursor": cursor, "ids_at_cursor": sorted(i for i in at_cursor if i)})

    # -- mapping ------------------------------------------------------------------------------------

    def map(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> Event | None:
        verb_iri = (record.get("verb") or {}).get("id")
        if verb_iri == VOIDED_VERB:
            return self._voiding(record, build)
        verb = self._verbs.get(verb_iri) if isinstance(verb_iri, str) else None
        if verb is None:
            self.skipped_verbs["voided" if verb_iri == VOIDED_VERB else str(verb_iri)] += 1
            return None
        statement_id = self.require(record, "id", "statement id")
        activity = resolve_course(record, self._pattern, self.options.course_map, self.options.languages)
        if activity is None:
            if self.options.unmatched_activities == "skip":
                self.skipped_verbs["no course"] += 1
                return None
            iri = (record.get("object") or {}).get("id")
            raise MappingError(f"activity {iri!r} names no course: set sources.{self.name}.options."
                               "course_id_pattern or course_map")
        person = build.person(actor_identifier(record.get("actor")))
        result = record.get("result") or {}
        if not isinstance(result, dict):
            result = {}
        try:
            duration = duration_seconds(result)
        except MappingError:
            duration = None
            self.dropped_durations += 1
        stored = parse_time(record.get("stored"), "stored")
        occurred = parse_time(record["timestamp"], "timestamp") if record.get("timestamp") else stored
        return build.event(Kind.TRAINING_RECORD, record_id=str(statement_id), version=record["stored"],
                           occurred_at=min(occurred, stored), payload={
                               "person": person, "course_id": activity.course_id,
                               "course_title": activity.course_title, "module": activity.module,
                               "verb": verb, "score": scaled_score(result), "duration_seconds": duration,
                               "required": self._required(activity.course_id, person.go_live_wave)})

    def _voiding(self, record: dict[str, Any], build: EventBuilder) -> Event:
        """The retraction of the statement a voiding statement names (xAPI 1.0.3, 2.3.2 Voided)."""
        target = record.get("object") or {}
        if not isinstance(target, dict) or target.get("objectType") != "StatementRef" or not target.get("id"):
            raise MappingError("voiding statement: object must be a StatementRef with the voided statement's id")
        voiding_id = self.require(record, "id", "statement id")
        stored = parse_time(record.get("stored"), "stored")
        return retraction(build, Kind.TRAINING_RECORD, record_id=str(target["id"]), version=str(voiding_id),
                          occurred_at=stored, reason="voided")

    def close(self) -> None:
        if self.skipped_verbs:
            log.info("%s: skipped statements by verb: %s", self.name, dict(self.skipped_verbs))
        if self.dropped_durations:
            log.warning("%s: %d statements had a malformed result.duration (dropped)", self.name,
                        self.dropped_durations)
        self.client.close()
