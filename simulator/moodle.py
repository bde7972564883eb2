"""Moodle (and Totara, which shares it) web services REST protocol, holding the trust's LMS courses.

Wire format as Moodle has it:
- one endpoint, `/webservice/rest/server.php`, GET or POST (form-encoded), with `wstoken`, `wsfunction` and
  `moodlewsrestformat=json` (without it the answer is XML, as Moodle's default);
- arrays as PHP-style keys: `options[0][name]=limitfrom&options[0][value]=0`;
- errors come back as HTTP 200 with `{"exception": ..., "errorcode": ..., "message": ...}`: `invalidtoken`
  for a wrong token, `accessexception` for a function the token's service does not include,
  `invalidparameter`, `invalidrecord` for an unknown function, `nopermissions` for a capability the token's
  user lacks (`capabilities` below);
- functions: `core_webservice_get_site_info`, `core_course_get_courses` (the site course, id 1 and format
  `site`, comes first), `core_course_get_courses_by_field`, `core_enrol_get_enrolled_users` (ordered by user
  id; `limitfrom`/`limitnumber`/`userfields`/`onlyactive` options; trainers are enrolled too, with role
  `editingteacher`), `core_completion_get_course_completion_status` (per course and user: `completed` and
  per-criterion `timecompleted`, unix seconds or null; `aggregation` 1 = all criteria, 2 = any);
- a suspended enrolment is listed by `core_enrol_get_enrolled_users` unless `onlyactive` is set (which needs
  moodle/course:enrolreview), and completion status answers it, as any user completion does not track (a
  trainer), with `usernotenroled`: Moodle's `is_tracked_user` counts active enrolments only;
- completion status answers `cannotviewreport` in a course without completion tracking, or to a token's user
  without report/completion:view, as `completion_can_view_data` decides;
- `core_completion_get_activities_completion_status` (per course and user, as Moodle 4.x answers it: each
  activity with completion tracking by `cmid`, `modname`, `instance`, `state` 0 incomplete, 1 complete,
  2 complete pass, 3 complete fail, `timecompleted`, `istrackeduser`; it needs report/progress:view and
  does not refuse an untracked learner, it says `istrackeduser: false`);
- `gradereport_user_get_grade_items` (per course; `userid` 0, the default, for every active learner, which
  needs moodle/grade:viewall besides gradereport/user:view): `usergrades`, each user's `gradeitems` with
  `itemtype` mod or course, `itemmodule`/`iteminstance`/`cmid`, `graderaw` (null when ungraded),
  `grademin`/`grademax`.

Courses here: the ePMA and Patient Portal go-live courses and the classroom smartcard session (the LRS has
the rest), plus an EPR practice sandbox without completion tracking. Enrolment time is the learner's first
training event in the course, completion time their first `completed` (else `passed`) event; Moodle's
web services do not expose enrolment times at all. One learner in twenty registered with a personal
e-mail address, so only their username links them to the staff directory. Token: `TOKEN` below.

The go-live courses each have a quick reference page (complete two hours after enrolment) and a competency
quiz graded out of 10, passed at 8 (`ACTIVITIES`): a learner's quiz shows their final outcome from the time
it happened, passed with the score of their `passed` event, else failed with that of their `failed` event
(the world's earlier failed attempts of learners who went on to pass are not shown). `attempt_quiz` adds an
attempt; the quiz keeps the highest grade, as Moodle's default grading method does.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import parse_qs

from schemas.events import Kind, TrainingRecord
from simulator.server import Api, Request, Response
from simulator.world import World

PREFIX = "/moodle"
ENDPOINT = "/webservice/rest/server.php"
TOKEN = "realise-moodle-token"
SITE_URL = "https://lms.example.nhs.uk"

# shortname → (course id, full name, aggregation, criteria types)
MOODLE_COURSES: dict[str, tuple[int, str, int, tuple[int, ...]]] = {
    "EPMA-GL-101": (2, "ePMA prescribing and administration", 1, (4, 6)),
    "PORTAL-GL-101": (3, "Patient Portal for staff", 2, (4, 6)),
    "SMARTCARD-101": (4, "Smartcard and login basics", 1, (7,)),
}
SANDBOX = ("EPR-SANDBOX", 5, "EPR practice environment (sandbox)")
FUNCTIONS = ("core_webservice_get_site_info", "core_course_get_courses", "core_course_get_courses_by_field",
             "core_enrol_get_enrolled_users", "core_completion_get_course_completion_status",
             "core_completion_get_activities_completion_status", "gradereport_user_get_grade_items")
_CRITERIA_TITLES = {4: "Activity completion", 6: "Course grade", 7: "Manual completion by others"}
_ROLES = {"student": (5, ""), "editingteacher": (3, "")}
_FIRST_USER_ID = 1000
# What the integration user's role allows in every course.
TOKEN_CAPABILITIES = frozenset({"moodle/course:viewparticipants", "moodle/site:viewuseridentity",
                                "moodle/course:enrolreview", "report/completion:view", "report/progress:view",
                                "gradereport/user:view", "moodle/grade:viewall"})
_CAPABILITY_NAMES = {"moodle/course:enrolreview": "Review course enrolments",
                     "moodle/course:viewparticipants": "View participants",
                     "report/progress:view": "View activity completion reports",
                     "gradereport/user:view": "View your own user report"}


@dataclass(frozen=True)
class Activity:
    cmid: int
    instance: int
    modname: str
    name: str
    grademax: float | None = None  # None: no grade item (a page)
    gradepass: float | None = None


# shortname → the activities with completion tracking
ACTIVITIES: dict[str, tuple[Activity, ...]] = {
    "EPMA-GL-101": (Activity(201, 11, "page", "ePMA quick reference"),
                    Activity(202, 21, "quiz", "ePMA competency quiz", 10.0, 8.0)),
    "PORTAL-GL-101": (Activity(301, 12, "page", "Patient Portal quick reference"),
                      Activity(302, 22, "quiz", "Patient Portal competency quiz", 10.0, 8.0)),
}
STATE_INCOMPLETE, STATE_COMPLETE, STATE_PASS, STATE_FAIL = 0, 1, 2, 3
_PAGE_READ_AFTER = timedelta(hours=2)


@dataclass
class QuizOutcome:
    grade: float  # out of the quiz's grademax
    at: datetime


@dataclass
class Enrolment:
    course: str  # shortname
    user_id: int
    pseudonym: str | None  # None: a trainer account, not in the staff directory
    enrolled_at: datetime
    completed_at: datetime | None
    role: str = "student"
    suspended: bool = False  # user_enrolments.status 1: kept, but not active
    quiz: QuizOutcome | None = None  # the go-live course's competency quiz, graded at its time


def _hash(value: str) -> int:
    return int.from_bytes(hashlib.sha1(value.encode()).digest()[:4], "big")


def personal_email(pseudonym: str) -> bool:
    """Whether this learner registered with a personal e-mail address (one in twenty)."""
    return _hash(pseudonym) % 20 == 0


def moodle_user_id(world: World, pseudonym: str) -> int:
    """The Moodle user id of a member of staff (accounts were bulk-created in staff order)."""
    return _FIRST_USER_ID + [s.pseudonym for s in world.trust.staff].index(pseudonym)


def enrolments(world: World) -> list[Enrolment]:
    """Every learner enrolment the LMS will ever hold, built from the world's training events."""
    firsts: dict[tuple[str, str], datetime] = {}
    done: dict[tuple[str, str], datetime] = {}
    passed: dict[tuple[str, str], datetime] = {}
    graded: dict[tuple[str, str], tuple[bool, datetime, float]] = {}  # passed?, when, score 0..1
    for event in sorted((e for e in world.events if e.kind == Kind.TRAINING_RECORD), key=lambda e: e.occurred_at):
        p = cast(TrainingRecord, event.payload)
        if p.course_id not in MOODLE_COURSES:
            continue
        key = (p.course_id, p.person.pseudonym)
        firsts[key] = min(firsts.get(key, event.occurred_at), event.occurred_at)
        target = done if p.verb == "completed" else passed if p.verb == "passed" else None
        if target is not None:
            target[key] = min(target.get(key, event.occurred_at), event.occurred_at)
        if p.verb in ("passed", "failed") and p.score is not None and not graded.get(key, (False,))[0]:
            graded[key] = (p.verb == "passed", event.occurred_at, p.score)
    ids = {s.pseudonym: _FIRST_USER_ID + i for i, s in enumerate(world.trust.staff)}
    out = []
    for (course, pseudonym), at in sorted(firsts.items()):
        quiz = next((a for a in ACTIVITIES.get(course, ()) if a.modname == "quiz"), None)
        outcome = graded.get((course, pseudonym))
        out.append(Enrolment(course, ids[pseudonym], pseudonym, at,
                             done.get((course, pseudonym)) or passed.get((course, pseudonym)),
                             quiz=QuizOutcome(round(outcome[2] * (quiz.grademax or 0), 2), outcome[1])
                             if quiz is not None and outcome is not None else None))
    return out


def enrolment_record_id(course_id: int, user_id: int) -> str:
    return f"course/{course_id}/user/{user_id}/enrolment"


def completion_record_id(course_id: int, user_id: int) -> str:
    return f"course/{course_id}/user/{user_id}/completion"


def activity_record_id(course_id: int, user_id: int, cmid: int) -> str:
    return f"course/{course_id}/user/{user_id}/activity/{cmid}"


def activity_state(world: World, e: Enrolment, activity: Activity) -> tuple[int, datetime | None, float | None]:
    """(state, timecompleted, graderaw) of one learner's activity at the world's clock."""
    if activity.modname == "page":
        read = min(e.enrolled_at + _PAGE_READ_AFTER, world.now)
        return (STATE_COMPLETE, read, None) if read <= world.clock else (STATE_INCOMPLETE, None, None)
    if e.quiz is None or e.quiz.at > world.clock:
        return STATE_INCOMPLETE, None, None
    return STATE_PASS if e.quiz.grade >= (activity.gradepass or 0) else STATE_FAIL, e.quiz.at, e.quiz.grade


def expected_record_ids(world: World, lms: list[Enrolment] | None = None) -> set[str]:
    """Record ids of the enrolments, completions and activity results the LMS shows at the world's clock
    (`lms`: its enrolments as an LmsApi holds them, after test hooks; default: as the world makes them)."""
    out: set[str] = set()
    for e in enrolments(world) if lms is None else [x for x in lms if x.course in MOODLE_COURSES and x.pseudonym]:
        course_id = MOODLE_COURSES[e.course][0]
        if e.enrolled_at > world.clock:
            continue
        out.add(enrolment_record_id(course_id, e.user_id))
        if e.completed_at is not None and e.completed_at <= world.clock:
            out.add(completion_record_id(course_id, e.user_id))
        for activity in ACTIVITIES.get(e.course, ()):
            if activity_state(world, e, activity)[0] != STATE_INCOMPLETE:
                out.add(activity_record_id(course_id, e.user_id, activity.cmid))
    return out


def _exception(errorcode: str, message: str, exception: str = "moodle_exception",
               debuginfo: str | None = None) -> Response:
    body: dict[str, Any] = {"exception": exception, "errorcode": errorcode, "message": message}
    if debuginfo:
        body["debuginfo"] = debuginfo
    return Response(200, body)


def _unix(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


class MoodleApi(Api):
    """The LMS. `disabled` holds functions removed from the token's service, `personal_emails` the learners
    registered with a personal address, `capabilities` what the token's user may do (tests change all three);
    `suspend` suspends an enrolment; `calls` counts the calls of each function."""

    prefix = PREFIX

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.disabled: set[str] = set()
        self.personal_emails = {s.pseudonym for s in world.trust.staff if personal_email(s.pseudonym)}
        self.capabilities = set(TOKEN_CAPABILITIES)
        self.enrolments = enrolments(world)
        trainer_since = world.now - timedelta(days=120)
        for n, course in enumerate(sorted(MOODLE_COURSES), start=1):
            self.enrolments.append(Enrolment(course, 900 + n, None, trainer_since, None, "editingteacher"))
        self.enrolments.append(Enrolment(SANDBOX[0], 900, None, trainer_since, None, "editingteacher"))
        for e in self.enrolments[: len(self.enrolments) // 4]:  # some learners also practise in the sandbox
            if e.pseudonym is not None:
                self.enrolments.append(Enrolment(SANDBOX[0], e.user_id, e.pseudonym, e.enrolled_at, None))
        self._by_pseudonym = {s.pseudonym: s for s in world.trust.staff}
        self._cache: dict[tuple[str, datetime], list[Enrolment]] = {}
        self._cache_lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    # -- test hooks ---------------------------------------------------------------------------------

    def suspend(self, course: str, user_id: int) -> None:
        """Suspend a user's enrolment in a course (by shortname), as a manager does when staff leave."""
        found = [e for e in self.enrolments if e.course == course and e.user_id == user_id]
        if not found:
            raise KeyError(f"user {user_id} is not enrolled in {course}")
        for e in found:
            e.suspended = True

    def attempt_quiz(self, course: str, user_id: int, grade: float, at: datetime) -> None:
        """A learner's graded attempt at the course's quiz (by shortname); the quiz keeps the highest grade."""
        found = [e for e in self.enrolments if e.course == course and e.user_id == user_id and e.role == "student"]
        if not found or not any(a.modname == "quiz" for a in ACTIVITIES.get(course, ())):
            raise KeyError(f"user {user_id} is not a learner in {course}, or it has no quiz")
        for e in found:
            if e.quiz is None or grade >= e.quiz.grade:
                e.quiz = QuizOutcome(grade, at)

    def delete_quiz_attempts(self, course: str, user_id: int) -> None:
        """A manager deletes a learner's quiz attempts in a course (by shortname): the quiz is not attempted."""
        for e in self.enrolments:
            if e.course == course and e.user_id == user_id:
                e.quiz = None

    def expected_record_ids(self) -> set[str]:
        """Record ids of what the LMS shows at the clock, test hooks included."""
        return expected_record_ids(self.world, self.enrolments)

    # -- data at the clock --------------------------------------------------------------------------

    def _enrolled(self, course: str) -> list[Enrolment]:
        clock = self.world.clock
        with self._cache_lock:
            key = (course, clock)
            if key not in self._cache:
                if len(self._cache) > 64:
                    self._cache.clear()
                self._cache[key] = sorted((e for e in self.enrolments if e.course == course
                                           and e.enrolled_at <= clock), key=lambda e: e.user_id)
            return self._cache[key]

    def _courses(self) -> list[dict[str, Any]]:
        site = {"id": 1, "shortname": "NHT Learning", "categoryid": 0, "fullname": "Northbridge Learning",
                "displayname": "Northbridge Learning", "idnumber": "", "summary": "", "summaryformat": 1,
                "format": "site", "startdate": 0, "enddate": 0, "visible": 1, "enablecompletion": 0}
        out = [site]
        rows = [(cid, short, name, 1) for short, (cid, name, _, _) in MOODLE_COURSES.items()]
        rows.append((SANDBOX[1], SANDBOX[0], SANDBOX[2], 0))
        created = int((self.world.now - timedelta(days=200)).timestamp())
        for cid, short, name, completion in sorted(rows):
            out.append({"id": cid, "shortname": short, "categoryid": 2, "categorysortorder": 10000 + cid,
                        "fullname": name, "displayname": name, "idnumber": short, "summary": f"<p>{name}</p>",
                        "summaryformat": 1, "format": "topics", "showgrades": 1, "newsitems": 0,
                        "startdate": created, "enddate": 0, "numsections": 4, "maxbytes": 0, "showreports": 0,
                        "visible": 1, "groupmode": 0, "groupmodeforce": 0, "defaultgroupingid": 0,
                        "timecreated": created, "timemodified": created, "enablecompletion": completion,
                        "completionnotify": 0, "lang": "", "forcetheme": "", "courseformatoptions": []})
        return out

    def _user(self, e: Enrolment, fields: set[str] | None) -> dict[str, Any]:
        if e.pseudonym is None:
            username, email, idnumber = f"trainer{e.user_id}", f"trainer{e.user_id}@training.example.nhs.uk", ""
            first, last, department = "Training", f"Team {e.user_id}", "Digital Training"
        else:
            ident = self.world.identity(e.pseudonym)
            username, idnumber = ident.username, ident.employee_number
            email = f"{ident.username}.home@personal.example.com" if e.pseudonym in self.personal_emails \
                else ident.email
            first, _, last = ident.display_name.partition(" ")
            department = self.world.unit_name(self._by_pseudonym[e.pseudonym].org_unit)
        courses = [{"id": MOODLE_COURSES[x.course][0] if x.course in MOODLE_COURSES else SANDBOX[1],
                    "fullname": MOODLE_COURSES[x.course][1] if x.course in MOODLE_COURSES else SANDBOX[2],
                    "shortname": x.course} for x in self.enrolments
                   if x.user_id == e.user_id and x.enrolled_at <= self.world.clock] if fields is None else []
        roleid, name = _ROLES[e.role]
        user: dict[str, Any] = {
            "id": e.user_id, "username": username, "firstname": first, "lastname": last,
            "fullname": f"{first} {last}", "email": email, "department": department, "idnumber": idnumber,
            "firstaccess": _unix(e.enrolled_at), "lastaccess": _unix(e.completed_at or e.enrolled_at),
            "lastcourseaccess": _unix(e.completed_at or e.enrolled_at), "description": "",
            "descriptionformat": 1, "profileimageurlsmall": f"{SITE_URL}/theme/image.php/boost/core/1/u/f2",
            "profileimageurl": f"{SITE_URL}/theme/image.php/boost/core/1/u/f1",
            "roles": [{"roleid": roleid, "name": name, "shortname": e.role, "sortorder": 0}],
            "enrolledcourses": courses,
        }
        if fields is not None:
            user = {k: v for k, v in user.items() if k in fields or k == "id"}
        return user

    # -- protocol -----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.path != ENDPOINT:
            return Response(404, b"<h1>Not Found</h1>", content_type="text/html")
        params = {k: v[0] for k, v in request.query.items()}
        if request.method == "POST" and request.body:
            params.update({k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()})
        if params.get("wstoken") != TOKEN:
            return self._answer(params, _exception("invalidtoken", "Invalid token - token not found"))
        function = params.get("wsfunction", "")
        with self._cache_lock:
            self.calls[function] += 1
        if function not in FUNCTIONS:
            return self._answer(params, _exception("invalidrecord", "Can't find data record in database table "
                                                   "external_functions.", "dml_missing_record_exception"))
        if function in self.disabled:
            return self._answer(params, _exception(
                "accessexception", "Access control exception", "webservice_access_exception",
                f"Access to the function {function}() is not allowed. There could be multiple reasons for this: "
                "1. The service linked to the user token does not contain the function. [...] These settings can "
                "be found in Administration > Site administration > Server > Web services > External services "
                "and Manage tokens."))
        return self._answer(params, getattr(self, "_" + function)(params))

    def _answer(self, params: dict[str, str], response: Response) -> Response:
        if params.get("moodlewsrestformat") == "json":
            return response
        return Response(200, b'<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n<MULTIPLE>\n</MULTIPLE>\n'
                             b"</RESPONSE>\n", content_type="application/xml; charset=utf-8")

    def _core_webservice_get_site_info(self, params: dict[str, str]) -> Response:
        return Response(200, {"sitename": "Northbridge Learning", "username": "realise-integration",
                              "firstname": "Realise", "lastname": "Integration", "fullname": "Realise Integration",
                              "lang": "en", "userid": 3, "siteurl": SITE_URL, "release": "4.3.3 (Build: 20240212)",
                              "version": "2023100903", "mobilecssurl": "",
                              "functions": [{"name": f, "version": "2023100903"} for f in FUNCTIONS
                                            if f not in self.disabled]})

    def _core_course_get_courses(self, params: dict[str, str]) -> Response:
        wanted = {int(v) for k, v in params.items() if k.startswith("options[ids]")}
        courses = self._courses()
        return Response(200, [c for c in courses if not wanted or c["id"] in wanted])

    def _core_course_get_courses_by_field(self, params: dict[str, str]) -> Response:
        field, value = params.get("field", ""), params.get("value", "")
        courses = [c for c in self._courses() if c["id"] != 1]
        if field:
            courses = [c for c in courses if str(c.get(field)) == value]
        return Response(200, {"courses": courses, "warnings": []})

    def _course_param(self, params: dict[str, str]) -> tuple[str, int] | Response:
        raw = params.get("courseid")
        if raw is None or not raw.lstrip("-").isdigit():
            return _exception("invalidparameter", "Invalid parameter value detected", "invalid_parameter_exception",
                              "courseid => Invalid parameter value detected: Missing required key in single "
                              "structure: courseid" if raw is None else f"courseid => Invalid parameter value "
                              f"detected: {raw} is not an integer")
        course_id = int(raw)
        short = next((s for s, v in MOODLE_COURSES.items() if v[0] == course_id),
                     SANDBOX[0] if course_id == SANDBOX[1] else None)
        if short is None:
            return _exception("invalidrecord", "Can't find data record in database table course.",
                              "dml_missing_record_exception")
        return short, course_id

    def _require(self, capability: str) -> Response | None:
        if capability in self.capabilities:
            return None
        name = _CAPABILITY_NAMES.get(capability, capability)
        return _exception("nopermissions", f"Sorry, but you do not currently have permissions to do that ({name}).",
                          "required_capability_exception")

    def _core_enrol_get_enrolled_users(self, params: dict[str, str]) -> Response:
        found = self._course_param(params)
        if isinstance(found, Response):
            return found
        short, _ = found
        options: dict[str, str] = {}
        for key, name in params.items():
            if key.startswith("options[") and key.endswith("][name]"):
                options[name] = params.get(key[: -len("[name]")] + "[value]", "")
        start = int(options.get("limitfrom") or 0)
        count = int(options.get("limitnumber") or 0)
        fields = {f.strip() for f in options["userfields"].split(",")} if options.get("userfields") else None
        only_active = options.get("onlyactive", "") not in ("", "0")  # PHP's !empty()
        if only_active:
            denied = self._require("moodle/course:enrolreview")
            if denied is not None:
                return denied
        rows = self._enrolled(short)
        if only_active:
            rows = [e for e in rows if not e.suspended]
        rows = rows[start: start + count] if count else rows[start:]
        return Response(200, [self._user(e, fields) for e in rows])

    def _core_completion_get_course_completion_status(self, params: dict[str, str]) -> Response:
        found = self._course_param(params)
        if isinstance(found, Response):
            return found
        short, _ = found
        if short not in MOODLE_COURSES or "report/completion:view" not in self.capabilities:
            return _exception("cannotviewreport", "You cannot view this report")
        user_id = int(params.get("userid") or 0)
        enrolment = self._tracked(short, user_id)
        if enrolment is None:  # not enrolled, suspended, or a role completion does not track
            return _exception("usernotenroled", "User is not enrolled in this course")
        _, _, aggregation, criteria = MOODLE_COURSES[short]
        done = enrolment.completed_at if enrolment.completed_at and enrolment.completed_at <= self.world.clock \
            else None
        rows = []
        for index, ctype in enumerate(criteria):
            when: datetime | None = None
            if done is not None:
                # Under "all" the last criterion met completes the course, under "any" the first.
                if aggregation == 1:  # all: the last criterion met (the final one) completes the course
                    when = done if index == len(criteria) - 1 else done - timedelta(minutes=5)
                elif index == 0:  # any: the first criterion met completes it; the others stay unmet
                    when = done
            title = _CRITERIA_TITLES[ctype]
            rows.append({"type": ctype, "title": title, "status": "Yes" if when else "No", "complete": when is not None,
                         "timecompleted": _unix(when),
                         "details": {"type": title, "criteria": title, "requirement": "", "status": ""}})
        return Response(200, {"completionstatus": {"completed": done is not None, "aggregation": aggregation,
                                                   "completions": rows}, "warnings": []})

    def _tracked(self, short: str, user_id: int) -> Enrolment | None:
        """The learner's enrolment if completion tracks them: an active learner (Moodle's is_tracked_user)."""
        return next((e for e in self._enrolled(short) if e.user_id == user_id and e.role == "student"
                     and not e.suspended), None)

    def _core_completion_get_activities_completion_status(self, params: dict[str, str]) -> Response:
        found = self._course_param(params)
        if isinstance(found, Response):
            return found
        short, _ = found
        denied = self._require("report/progress:view")
        if denied is not None:
            return denied
        user_id = int(params.get("userid") or 0)
        enrolment = self._tracked(short, user_id)
        statuses = []
        for activity in ACTIVITIES.get(short, ()) if short in MOODLE_COURSES else ():
            state, when, _ = activity_state(self.world, enrolment, activity) if enrolment else (0, None, None)
            rule = ("completionview", "View") if activity.modname == "page" else \
                ("completionpassgrade", "Receive a pass grade")
            statuses.append({"cmid": activity.cmid, "modname": activity.modname, "instance": activity.instance,
                             "state": state, "timecompleted": _unix(when) or 0, "tracking": 2, "overrideby": None,
                             "valueused": False, "hascompletion": True, "isautomatic": True,
                             "istrackeduser": enrolment is not None, "uservisible": True,
                             "details": [{"rulename": rule[0], "rulevalue": {"status": state,
                                                                             "description": rule[1]}}]})
        return Response(200, {"statuses": statuses, "warnings": []})

    def _gradereport_user_get_grade_items(self, params: dict[str, str]) -> Response:
        found = self._course_param(params)
        if isinstance(found, Response):
            return found
        short, course_id = found
        user_id = int(params.get("userid") or 0)
        denied = self._require("gradereport/user:view")
        if denied is not None:
            return denied
        if "moodle/grade:viewall" not in self.capabilities:
            return _exception("nopermissiontoviewgrades", "Can not view grades.")
        learners = [e for e in self._enrolled(short) if e.role == "student" and not e.suspended  # active only
                    and (user_id == 0 or e.user_id == user_id)]
        if user_id and not learners:
            return _exception("notingroup", "Sorry, but you need to be part of a group to see this page.")
        usergrades = []
        for e in learners:
            items: list[dict[str, Any]] = []
            total = 0.0
            for n, activity in enumerate(a for a in ACTIVITIES.get(short, ()) if a.grademax is not None):
                _, when, raw = activity_state(self.world, e, activity)
                total += raw or 0.0
                items.append(self._grade_item(course_id * 100 + n + 1, activity.name, "mod", activity, raw, when))
            items.append(self._grade_item(course_id * 100, None, "course", None, total if total else None, None))
            user = self._user(e, {"fullname", "idnumber"})
            usergrades.append({"courseid": course_id, "courseidnumber": short, "userid": e.user_id,
                               "userfullname": user["fullname"], "useridnumber": user["idnumber"], "maxdepth": 2,
                               "gradeitems": items})
        return Response(200, {"usergrades": usergrades, "warnings": []})

    @staticmethod
    def _grade_item(item_id: int, name: str | None, itemtype: str, activity: Activity | None, raw: float | None,
                    when: datetime | None) -> dict[str, Any]:
        top = activity.grademax if activity is not None and activity.grademax is not None else 100.0
        item: dict[str, Any] = {
            "id": item_id, "itemname": name, "itemtype": itemtype,
            "itemmodule": activity.modname if activity else None, "iteminstance": activity.instance if activity else 1,
            "itemnumber": 0, "idnumber": "", "categoryid": None if activity else 1, "outcomeid": None,
            "scaleid": None, "locked": False, "graderaw": raw, "gradedatesubmitted": _unix(when),
            "gradedategraded": _unix(when), "gradehiddenbydate": False, "gradeneedsupdate": False,
            "gradeishidden": False, "gradeislocked": False, "gradeisoverridden": False,
            "gradeformatted": f"{raw:.2f}" if raw is not None else "-", "grademin": 0.0, "grademax": top,
            "rangeformatted": f"0.00&ndash;{top:.2f}",
            "percentageformatted": f"{100 * raw / top:.2f} %" if raw is not None else "-",
            "feedback": "", "feedbackformat": 1}
        if activity is not None:
            item["cmid"] = activity.cmid
        return item


ENV = {"MOODLE_TOKEN": TOKEN}


def source_config(root: str) -> dict[str, Any]:
    """The `sources:` entry for this simulator served at `root` (http://127.0.0.1:PORT), with ENV exported."""
    return {"type": "moodle", "base_url": root + PREFIX, "page_size": 200,
            "auth": {"type": "api_key", "token_env": "MOODLE_TOKEN"}}


def expected_ids(world: World) -> set[str]:
    return expected_record_ids(world)


def apis(world: World) -> list[Api]:
    return [MoodleApi(world)]
