"""Training records from Moodle or Totara web services (REST): enrolments, course completions and activity
results (a quiz passed or failed, an activity completed, with its grade).

Moodle keeps current state only and has no change feed, so each pull takes a snapshot and compares it
with the last one, kept in the stream's state: per course, the learners already published as enrolled, the
completion time already published per learner, and a digest of each learner's activity results. A re-run
publishes nothing new; a new enrolment or a new (or, with `recheck_completed`, redone) completion publishes
one event, a new or changed activity result a new version of that result. Quirks handled:
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
- activity results (`activity_results`): `core_completion_get_activities_completion_status` is per course and
  learner too, so each pull asks every active learner once per course (a failed quiz can be retaken, so no
  learner is done). Each activity in state 1 (complete), 2 (complete pass) or 3 (complete fail) is one record
  per course, learner and activity, verb completed, passed or failed, dated by its `timecompleted` and
  versioned by verb, time and score. The state keeps a digest of each learner's results per course: a learner
  whose results are unchanged publishes nothing; when one changes, all of theirs are published again (the
  unchanged ones dedupe by their event ids). A learner completion does not track (a suspended enrolment) is
  answered with `istrackeduser: false` (Moodle 3.11 and later) or a not-enrolled error: skipped and counted;
- scores come from `gradereport_user_get_grade_items` asked for every learner of the course at once (userid
  0, which needs moodle/grade:viewall), one call per course, and only once a page of learners has a result:
  the activity's first grade item (itemnumber 0), its raw grade scaled by the item's range to 0..1, and its
  name is the record's module; an activity without a grade item (a page) has no score and its module type as
  module;
- a learner registered with a personal e-mail address is linked by username or idnumber instead
  (`identifier_fields`, the first the staff directory knows).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, ClassVar

from connectors.core.build import EventBuilder, parse_time
from connectors.core.http import HttpClient
from connectors.core.stream import MappingError, Page, PullContext, Schedule, Source, Stream
from connectors.moodle.client import FunctionRefused, MoodleClient, MoodleError
from connectors.moodle.mapping import (
    activity_verb,
    activity_version,
    completion_time,
    course_id,
    has_role,
    index_grades,
    results_digest,
    scaled_grade,
    unix_time,
)
from connectors.moodle.settings import (
    EXAMPLE_YAML,
    GET_ACTIVITIES_STATUS,
    GET_COMPLETION_STATUS,
    GET_COURSES_BY_FIELD,
    GET_ENROLLED_USERS,
    GET_GRADE_ITEMS,
    NO_COMPLETION_ERRORS,
    NOT_TRACKED_ERRORS,
    MoodleOptions,
)
from connectors.xapi.mapping import RequiredCourses, cursor_text
from foundation.errors import SourceError
from foundation.source_config import SourceConfig
from schemas.events import Event, Kind, Person

__all__ = ["EXAMPLE_YAML", "Moodle"]

log = logging.getLogger(__name__)
ENROLMENTS, COMPLETIONS, ACTIVITIES = "enrolments", "completions", "activities"
# What to grant the token's user when completion status refuses it (Moodle's completion_can_view_data and
# group checks, or a capability check).
_COMPLETION_FIXES = {
    "cannotviewreport": "; give the token's user report/completion:view in the course (Site administration > "
                        "Users > Permissions > Define roles), and check the course tracks completion",
    "accessdenied": "; the course uses separate groups: give the token's user moodle/site:accessallgroups there",
    "nopermissions": "; give the token's user, in the course, the capability the message names",
}
_GROUPS_FIX = "; the course uses separate groups: give the token's user moodle/site:accessallgroups there"
_ACTIVITY_FIXES = {"nopermissions": "; give the token's user report/progress:view in the course",
                   "accessdenied": _GROUPS_FIX}
_GRADE_FIXES = {"nopermissions": "; give the token's user gradereport/user:view and moodle/grade:viewall in the course",
                "nopermissiontoviewgrades": "; give the token's user moodle/grade:viewall in the course",
                "notingroup": _GROUPS_FIX}


def _grade_key(user: dict[str, Any], status: dict[str, Any]) -> tuple[int, str, int]:
    """Where an activity's grade is in `index_grades`: (user id, module, instance)."""
    try:
        return int(user["id"]), str(status.get("modname") or ""), int(status.get("instance") or 0)
    except (TypeError, ValueError):
        return int(user["id"]), "", 0


def _before(status: dict[str, Any], since: datetime) -> bool:
    """Whether an activity result is dated before `since` (an undated or unreadable one is not)."""
    try:
        when = unix_time(status.get("timecompleted"))
    except MappingError:
        return False
    return when is not None and when < since


class Moodle(Source):
    type: ClassVar[str] = "moodle"
    summary: ClassVar[str] = "Moodle/Totara enrolments and course completions (web services)."
    pull_schedule: ClassVar[Schedule] = Schedule(cron="15 * * * *")
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream(ENROLMENTS, Kind.TRAINING_RECORD, primary_key=("courseid", "userid"), cursor_field=None,
               sorted_by_cursor=False),
        Stream(COMPLETIONS, Kind.TRAINING_RECORD, primary_key=("courseid", "userid"), cursor_field=None,
               sorted_by_cursor=False),
        Stream(ACTIVITIES, Kind.TRAINING_RECORD, primary_key=("courseid", "userid", "cmid"), cursor_field=None,
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
        self.untracked_results: Counter[str] = Counter()  # activity-status answers skipped, by reason
        self._without_results = f", or set sources.{name}.options.activity_results: false to leave activity " \
                                "results out"

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
        elif stream.name == COMPLETIONS:
            yield from self._read_completions(state)
        elif self.options.activity_results:
            yield from self._read_activities(state)

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
                statuses = self._per_learner(GET_COMPLETION_STATUS, course, asked, _COMPLETION_FIXES)
                for user, status in zip(asked, statuses, strict=True):
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

    def _read_activities(self, state: dict[str, Any]) -> Iterator[Page]:
        since = self.context.since
        known_by_course: dict[str, dict[str, str]] = {k: dict(v) for k, v in (state.get("results") or {}).items()}
        for course in self.courses():
            if not course.get("enablecompletion"):
                continue
            known = known_by_course.setdefault(str(course["id"]), {})
            grades: tuple[dict[tuple[int, str, int], dict[str, Any]], dict[tuple[str, int], str]] | None = None
            for learners in self._learner_pages(course):
                records: list[dict[str, Any]] = []
                answers = self._per_learner(GET_ACTIVITIES_STATUS, course, learners, _ACTIVITY_FIXES,
                                            self._without_results)
                for user, answer in zip(learners, answers, strict=True):
                    if answer is None:
                        continue
                    base = {"courseid": course["id"], "userid": user["id"], "course": course, "user": user}
                    statuses = [s for s in answer.get("statuses") or [] if isinstance(s, dict)] \
                        if isinstance(answer, dict) else []
                    untracked = answer if isinstance(answer, str) else \
                        "istrackeduser" if any(s.get("istrackeduser") is False for s in statuses) else None
                    if untracked:
                        self.untracked_results[untracked] += 1
                        records.append({**base, "cmid": None, "not_tracked": untracked})
                        continue
                    results = [s for s in statuses if activity_verb(s.get("state")) is not None]
                    if results and grades is None:
                        grades = self._grades(course)
                    items, names = grades or ({}, {})
                    scored = [(s, items.get(_grade_key(user, s))) for s in results]
                    digest, uid = results_digest(scored), str(user["id"])
                    if since is None and known.get(uid, "") == digest:
                        continue
                    if digest:
                        known[uid] = digest
                    else:
                        known.pop(uid, None)
                    for status, grade in scored:
                        if since is not None and _before(status, since):
                            continue
                        records.append({**base, "cmid": status.get("cmid"), "activity": status, "grade": grade,
                                        "name": names.get(_grade_key(user, status)[1:]), "seen": self._snapshot})
                yield Page(records)
            yield Page([], {"cursor": self._snapshot, "results": known_by_course})

    def _grades(self, course: dict[str, Any]
                ) -> tuple[dict[tuple[int, str, int], dict[str, Any]], dict[tuple[str, int], str]]:
        """Every active learner's grade items in the course, in one call (userid 0, the default)."""
        try:
            body = self.moodle.call(GET_GRADE_ITEMS, courseid=course["id"])
        except FunctionRefused as exc:
            raise SourceError(f"{exc}{self._without_results}") from None
        except MoodleError as exc:
            raise SourceError(f"source '{self.name}': {GET_GRADE_ITEMS} failed for course {course['id']} ({exc})"
                              f"{_GRADE_FIXES.get(exc.errorcode, '')}{self._without_results}") from None
        return index_grades(body)

    def _per_learner(self, function: str, course: dict[str, Any], users: list[dict[str, Any]],
                     fixes: dict[str, str], otherwise: str = "") -> list[Any]:
        """`function`'s answer for each user in `course`, in order: the answer, None where the course has no
        completion, or the errorcode where completion does not track the user (a suspended enrolment).
        `otherwise` ends the message of an error that stops the pull (another way out than the fix)."""

        def one(user: dict[str, Any]) -> Any:
            try:
                return self.moodle.call(function, courseid=course["id"], userid=user["id"]) or {}
            except FunctionRefused as exc:
                raise SourceError(f"{exc}{otherwise}") from None
            except MoodleError as exc:
                if exc.errorcode in NOT_TRACKED_ERRORS:
                    return exc.errorcode
                if exc.errorcode in NO_COMPLETION_ERRORS:
                    return None
                raise SourceError(f"source '{self.name}': {function} failed for course {course['id']} "
                                  f"({exc}){fixes.get(exc.errorcode, '')}{otherwise}") from None

        if self.options.parallel_calls == 1 or len(users) < 2:
            return [one(u) for u in users]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.options.parallel_calls, thread_name_prefix=f"moodle-{self.name}")
        return list(self._pool.map(one, users))

    # -- mapping ------------------------------------------------------------------------------------

    def record_id(self, stream: Stream, record: dict[str, Any]) -> str:
        if stream.name == ACTIVITIES:
            what = f"activity/{record.get('cmid')}"
        else:
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
        if stream.name == ACTIVITIES:
            status = record["activity"]
            verb = activity_verb(status.get("state"))
            if verb is None:
                return None
            when = unix_time(status.get("timecompleted"))
            score = scaled_grade(record.get("grade"))
            module = str(record.get("name") or status.get("modname") or "")[:256] or None
            return build.event(Kind.TRAINING_RECORD, record_id=self.record_id(stream, record),
                               version=activity_version(verb, when, score),
                               occurred_at=when or parse_time(record["seen"], "seen"),
                               payload={**payload, "verb": verb, "module": module, "score": score})
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
        for code, count in sorted(self.untracked_results.items()):
            log.info("%s: activity results skipped for %d learner(s) completion does not track (%s)", self.name,
                     count, code)
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        self.client.close()
