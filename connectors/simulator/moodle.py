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
  without report/completion:view, as `completion_can_view_data` decides.

Courses here: the ePMA and Patient Portal go-live courses and the classroom smartcard session (the LRS has
the rest), plus an EPR practice sandbox without completion tracking. Enrolment time is the learner's first
training event in the course, completion time their first `completed` (else `passed`) event; Moodle's
web services do not expose enrolment times at all. One learner in twenty registered with a personal
e-mail address, so only their username links them to the staff directory. Token: `TOKEN` below.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import parse_qs

from connectors.simulator.server import Api, Request, Response
from connectors.simulator.world import World
from schemas.events import Kind, TrainingRecord

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
             "core_enrol_get_enrolled_users", "core_completion_get_course_completion_status")
_CRITERIA_TITLES = {4: "Activity completion", 6: "Course grade", 7: "Manual completion by others"}
_ROLES = {"student": (5, ""), "editingteacher": (3, "")}
_FIRST_USER_ID = 1000
# What the integration user's role allows in every course.
TOKEN_CAPABILITIES = frozenset({"moodle/course:viewparticipants", "moodle/site:viewuseridentity",
                                "moodle/course:enrolreview", "report/completion:view"})
_CAPABILITY_NAMES = {"moodle/course:enrolreview": "Review course enrolments",
                     "moodle/course:viewparticipants": "View participants"}


@dataclass
class Enrolment:
    course: str  # shortname
    user_id: int
    pseudonym: str | None  # None: a trainer account, not in the staff directory
    enrolled_at: datetime
    completed_at: datetime | None
    role: str = "student"
    suspended: bool = False  # user_enrolments.status 1: kept, but not active


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
    for event in world.events:
        if event.kind != Kind.TRAINING_RECORD:
            continue
        p = cast(TrainingRecord, event.payload)
        if p.course_id not in MOODLE_COURSES:
            continue
        key = (p.course_id, p.person.pseudonym)
        firsts[key] = min(firsts.get(key, event.occurred_at), event.occurred_at)
        target = done if p.verb == "completed" else passed if p.verb == "passed" else None
        if target is not None:
            target[key] = min(target.get(key, event.occurred_at), event.occurred_at)
    ids = {s.pseudonym: _FIRST_USER_ID + i for i, s in enumerate(world.trust.staff)}
    return [Enrolment(course, ids[pseudonym], pseudonym, at, done.get((course, pseudonym)) or
                      passed.get((course, pseudonym))) for (course, pseudonym), at in sorted(firsts.items())]


def enrolment_record_id(course_id: int, user_id: int) -> str:
    return f"course/{course_id}/user/{user_id}/enrolment"


def completion_record_id(course_id: int, user_id: int) -> str:
    return f"course/{course_id}/user/{user_id}/completion"


def expected_record_ids(world: World) -> set[str]:
    """Record ids of the enrolments and completions the LMS shows at the world's clock."""
    out: set[str] = set()
    for e in enrolments(world):
        course_id = MOODLE_COURSES[e.course][0]
        if e.enrolled_at <= world.clock:
            out.add(enrolment_record_id(course_id, e.user_id))
        if e.completed_at is not None and e.completed_at <= world.clock:
            out.add(completion_record_id(course_id, e.user_id))
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
    `suspend` suspends an enrolment."""

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

    # -- test hooks ---------------------------------------------------------------------------------

    def suspend(self, course: str, user_id: int) -> None:
        """Suspend a user's enrolment in a course (by shortname), as a manager does when staff leave."""
        found = [e for e in self.enrolments if e.course == course and e.user_id == user_id]
        if not found:
            raise KeyError(f"user {user_id} is not enrolled in {course}")
        for e in found:
            e.suspended = True

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
        enrolment = next((e for e in self._enrolled(short) if e.user_id == user_id and e.role == "student"
                          and not e.suspended), None)
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


ENV = {"MOODLE_TOKEN": TOKEN}


def source_config(root: str) -> dict[str, Any]:
    """The `sources:` entry for this simulator served at `root` (http://127.0.0.1:PORT), with ENV exported."""
    return {"type": "moodle", "base_url": root + PREFIX, "page_size": 200,
            "auth": {"type": "api_key", "token_env": "MOODLE_TOKEN"}}


def expected_ids(world: World) -> set[str]:
    return expected_record_ids(world)


def apis(world: World) -> list[Api]:
    return [MoodleApi(world)]
