"""Training records from Moodle or Totara web services (REST): enrolments and course completions.

Moodle keeps current state only and has no change feed, so each pull takes a snapshot and compares it
with the last one, kept in the stream's state: per course, the learners already published as enrolled and
the completion time already published per learner. A re-run publishes nothing new; a new enrolment or a
new (or, with `recheck_completed`, redone) completion publishes one event. Quirks handled:
- errors arrive as HTTP 200 with `{"exception", "errorcode", "message"}`; `invalidtoken` and
  `accessexception` stop the pull saying which token or service function to fix;
- `moodlewsrestformat=json` on every call (Moodle's default answer is XML);
- `core_course_get_courses` (or `core_course_get_courses_by_field`, `courses_function`) lists the site
  front page (id 1, format `site`), skipped; courses without
  completion tracking (sandboxes, forums) are skipped unless listed in `options.courses`;
- trainers are enrolled too: only `learner_roles` count;
- `core_enrol_get_enrolled_users` pages by `limitfrom`/`limitnumber` in user-id order and says nothing of
  when a user enrolled: an enrolment event is dated by the pull that first saw it (version `enrolled`);
- it lists suspended enrolments too, unless asked with `onlyactive` (`only_active_enrolments`, the default;
  it needs moodle/course:enrolreview); completion status then answers `usernotenroled` for that learner (HTTP
  200, an exception body): that learner has no completion to read, skipped and counted, and the stream goes
  on. Completion-status errors about the token's user (`cannotviewreport`, `accessdenied`, `nopermissions`)
  stop the pull naming the capability to grant;
- completion status is per course and learner, with only per-criterion `timecompleted` (unix seconds):
  the course's completion time is the last criterion met under aggregation "all", the first under "any"; it
  is the completion event's time and version;
- the completion-status calls of a page of learners are made `parallel_calls` at a time (results are used in
  the page's order, so state and events are as with one call at a time);
- a learner registered with a personal e-mail address is linked by username or idnumber instead
  (`identifier_fields`, the first the staff directory knows).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from connectors.core.build import EventBuilder, parse_time
from connectors.core.config import SourceConfig
from connectors.core.errors import SourceError
from connectors.core.http import HttpClient
from connectors.core.stream import MappingError, Page, PullContext, Source, Stream, register
from connectors.moodle.client import MoodleClient, MoodleError
from connectors.moodle.mapping import completion_time, course_id, has_role
from connectors.moodle.settings import (
    EXAMPLE_YAML,
    GET_COMPLETION_STATUS,
    GET_COURSES_BY_FIELD,
    GET_ENROLLED_USERS,
    NO_COMPLETION_ERRORS,
    NOT_TRACKED_ERRORS,
    MoodleOptions,
)
from connectors.xapi.mapping import RequiredCourses, cursor_text
from schemas.events import Event, Kind, Person

__all__ = ["EXAMPLE_YAML", "Moodle"]

log = logging.getLogger(__name__)
ENROLMENTS, COMPLETIONS = "enrolments", "completions"
# What to grant the token's user when completion status refuses it (Moodle's completion_can_view_data and
# group checks, or a capability check).
_COMPLETION_FIXES = {
    "cannotviewreport": "; give the token's user report/completion:view in the course (Site administration > "
                        "Users > Permissions > Define roles), and check the course tracks completion",
    "accessdenied": "; the course uses separate groups: give the token's user moodle/site:accessallgroups there",
    "nopermissions": "; give the token's user, in the course, the capability the message names",
}


@register
class Moodle(Source):
    type: ClassVar[str] = "moodle"
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream(ENROLMENTS, Kind.TRAINING_RECORD, primary_key=("courseid", "userid"), cursor_field=None,
               sorted_by_cursor=False),
        Stream(COMPLETIONS, Kind.TRAINING_RECORD, primary_key=("courseid", "userid"), cursor_field=None,
               sorted_by_cursor=False),
    )
    options_model = MoodleOptions
    identifier_fields = ("email", "username", "idnumber", "fullname", "firstname", "lastname")
    options: MoodleOptions

    def __init__(self, name: str, config: SourceConfig, context: PullContext) -> None:
        super().__init__(name, config, context)
        if not config.auth.token_env:
            raise SourceError(f"source '{name}' (moodle) needs a web service token: set sources.{name}.auth."
                              "token_env to the environment variable holding it (auth type api_key)")
        self.client = HttpClient(name, config)
        self.moodle = MoodleClient(self.client, config.auth.secret("token_env", name))
        self._required = RequiredCourses(self.options.required_courses)
        self._courses: list[dict[str, Any]] | None = None
        self._learners: dict[int, list[list[dict[str, Any]]]] = {}
        self._snapshot = cursor_text(context.run_started)
        self._pool: ThreadPoolExecutor | None = None
        self.not_tracked: Counter[str] = Counter()  # completion-status answers skipped, by errorcode

    # -- reading ------------------------------------------------------------------------------------

    def courses(self) -> list[dict[str, Any]]:
        """The courses to read: those listed in options, else every course with completion tracking."""
        if self._courses is None:
            function = self.options.courses_function
            found = self.moodle.call(function)
            if function == GET_COURSES_BY_FIELD and isinstance(found, dict):
                found = found.get("courses")
            if not isinstance(found, list):
                raise SourceError(f"source '{self.name}': {function} answered {type(found).__name__}, "
                                  "not a list of courses")
            real = [c for c in found if c.get("format") != "site" and c.get("id") != 1]
            field = self.options.course_id_field
            if self.options.courses:
                wanted = set(self.options.courses)
                chosen = [c for c in real if c.get("shortname") in wanted or c.get("idnumber") in wanted]
                missing = wanted - {c.get("shortname") for c in chosen} - {c.get("idnumber") for c in chosen}
                if missing:
                    raise SourceError(f"sources.{self.name}.options.courses lists {', '.join(sorted(missing))}, "
                                      "which the Moodle site does not have (or the token's user cannot see)")
            else:
                chosen = [c for c in real if c.get("enablecompletion")]
            blank = [str(c.get("shortname") or c.get("id")) for c in chosen if not str(c.get(field) or "").strip()]
            if blank:
                raise SourceError(f"source '{self.name}': Moodle courses {', '.join(blank)} have no {field}; set "
                                  f"sources.{self.name}.options.course_id_field to shortname or fill it in")
            self._courses = chosen
        return self._courses

    def _learner_pages(self, course: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """A course's learners, page by page; remembered so both streams of one pull see one snapshot."""
        cid = int(course["id"])
        if cid in self._learners:
            yield from self._learners[cid]
            return
        pages: list[list[dict[str, Any]]] = []
        only_active = self.options.only_active_enrolments
        try:
            for users in self.moodle.enrolled_users(cid, self.config.page_size, only_active=only_active):
                learners = [u for u in users if has_role(u, self.options.learner_roles)]
                pages.append(learners)
                yield learners
        except MoodleError as exc:
            if exc.errorcode != "nopermissions":
                raise SourceError(f"source '{self.name}': {GET_ENROLLED_USERS} failed for course {cid}: {exc}"
                                  ) from None
            active = (" and, to ask for active enrolments only, moodle/course:enrolreview" if only_active else "")
            option = (f", or set sources.{self.name}.options.only_active_enrolments: false to read suspended "
                      "enrolments as enrolled too" if only_active else "")
            raise SourceError(f"source '{self.name}': Moodle refused {GET_ENROLLED_USERS} in course {cid} ({exc}); "
                              f"the token's user needs moodle/course:viewparticipants{active} in the course "
                              f"(Site administration > Users > Permissions > Define roles){option}") from None
        self._learners[cid] = pages

    def read(self, stream: Stream, state: dict[str, Any]) -> Iterator[Page]:
        if stream.name == ENROLMENTS:
            yield from self._read_enrolments(state)
        else:
            yield from self._read_completions(state)

    def _read_enrolments(self, state: dict[str, Any]) -> Iterator[Page]:
        replay = self.context.since is not None
        seen: dict[str, list[int]] = dict(state.get("seen") or {})
        for course in self.courses():
            key = str(course["id"])
            before = set() if replay else set(seen.get(key, []))
            now: list[int] = []
            for learners in self._learner_pages(course):
                records = []
                for user in learners:
                    now.append(int(user["id"]))
                    if int(user["id"]) not in before:
                        records.append({"courseid": course["id"], "userid": user["id"], "course": course,
                                        "user": user, "first_seen": self._snapshot})
                yield Page(records)
            seen[key] = sorted(set(now))
            yield Page([], {"cursor": self._snapshot, "seen": seen})

    def _read_completions(self, state: dict[str, Any]) -> Iterator[Page]:
        since = self.context.since
        done: dict[str, dict[str, int]] = {k: dict(v) for k, v in (state.get("completed") or {}).items()}
        for course in self.courses():
            if not course.get("enablecompletion"):
                continue
            key = str(course["id"])
            known = done.setdefault(key, {})
            for learners in self._learner_pages(course):
                records = []
                asked = [u for u in learners
                         if not (str(u["id"]) in known and since is None and not self.options.recheck_completed)]
                for user, status in zip(asked, self._statuses(course, asked), strict=True):
                    uid = str(user["id"])
                    if status is None:
                        continue
                    if isinstance(status, str):  # completion does not track this learner: counted, skipped
                        self.not_tracked[status] += 1
                        records.append({"courseid": course["id"], "userid": user["id"], "course": course,
                                        "user": user, "not_tracked": status})
                        continue
                    completion = status.get("completionstatus") or {}
                    if not completion.get("completed"):
                        continue
                    try:
                        when = completion_time(completion)
                        stamp = int(when.timestamp()) if when else 0
                    except MappingError:
                        when, stamp = None, 0
                    if known.get(uid) == stamp and since is None:
                        continue
                    known[uid] = stamp
                    if since is not None and when is not None and when < since:
                        continue
                    records.append({"courseid": course["id"], "userid": user["id"], "course": course,
                                    "user": user, "completionstatus": completion})
                yield Page(records)
            yield Page([], {"cursor": self._snapshot, "completed": done})

    def _statuses(self, course: dict[str, Any], users: list[dict[str, Any]]) -> list[Any]:
        """Each user's completion status in `course`, in order: the answer, None where the course has no
        completion, or the errorcode where completion does not track the user (a suspended enrolment)."""

        def one(user: dict[str, Any]) -> Any:
            try:
                return self.moodle.call(GET_COMPLETION_STATUS, courseid=course["id"], userid=user["id"]) or {}
            except MoodleError as exc:
                if exc.errorcode in NOT_TRACKED_ERRORS:
                    return exc.errorcode
                if exc.errorcode in NO_COMPLETION_ERRORS:
                    return None
                raise SourceError(f"source '{self.name}': {GET_COMPLETION_STATUS} failed for course {course['id']} "
                                  f"({exc}){_COMPLETION_FIXES.get(exc.errorcode, '')}") from None

        if self.options.parallel_calls == 1 or len(users) < 2:
            return [one(u) for u in users]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.options.parallel_calls, thread_name_prefix=f"moodle-{self.name}")
        return list(self._pool.map(one, users))

    # -- mapping ------------------------------------------------------------------------------------

    def record_id(self, stream: Stream, record: dict[str, Any]) -> str:
        what = "enrolment" if stream.name == ENROLMENTS else "completion"
        return f"course/{record.get('courseid')}/user/{record.get('userid')}/{what}"

    def map(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> Event | None:
        if record.get("not_tracked"):
            return None
        course = record["course"]
        person = self._person(record.get("user") or {}, build)
        cid = course_id(course, self.options.course_id_field, self.options.course_map)
        payload: dict[str, Any] = {"person": person, "course_id": cid,
                                   "course_title": (course.get("fullname") or None),
                                   "required": self._required(cid, person.go_live_wave)}
        if stream.name == ENROLMENTS:
            return build.event(Kind.TRAINING_RECORD, record_id=self.record_id(stream, record), version="enrolled",
                               occurred_at=parse_time(record["first_seen"], "first_seen"),
                               payload={**payload, "verb": "enrolled"})
        when = completion_time(record["completionstatus"])
        if when is None:
            return None
        return build.event(Kind.TRAINING_RECORD, record_id=self.record_id(stream, record),
                           version=when.isoformat(), occurred_at=when, payload={**payload, "verb": "completed"})

    def _person(self, user: dict[str, Any], build: EventBuilder) -> Person:
        values = [text for f in self.options.identifier_fields
                  if user.get(f) is not None and (text := str(user[f]).strip())]
        if not values:
            fields = ", ".join(self.options.identifier_fields)
            raise MappingError(f"the Moodle user has none of {fields}: give the token's user "
                               "moodle/site:viewuseridentity or change options.identifier_fields")
        known = next((v for v in values if build.resolver.facts(build.pseudonym(v)) is not None), values[0])
        return build.person(known)

    def close(self) -> None:
        for code, count in sorted(self.not_tracked.items()):
            log.info("%s: completion status skipped for %d learner(s) not enrolled (%s): a suspended, ended or "
                     "not yet started enrolment, or a role completion does not track", self.name, count, code)
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        self.client.close()
