"""Endpoint, functions, defaults and options of the Moodle/Totara web services source."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connectors.core.stream import Options
from connectors.xapi.settings import DEFAULT_REQUIRED_COURSES
from schemas.events import TrainingVerb

ENDPOINT = "webservice/rest/server.php"
GET_COURSES = "core_course_get_courses"
GET_COURSES_BY_FIELD = "core_course_get_courses_by_field"
GET_ENROLLED_USERS = "core_enrol_get_enrolled_users"
GET_COMPLETION_STATUS = "core_completion_get_course_completion_status"
GET_ACTIVITIES_STATUS = "core_completion_get_activities_completion_status"
GET_GRADE_ITEMS = "gradereport_user_get_grade_items"
# Activity completion states (COMPLETION_COMPLETE, _COMPLETE_PASS, _COMPLETE_FAIL); 0 is incomplete.
ACTIVITY_VERBS: dict[int, TrainingVerb] = {1: "completed", 2: "passed", 3: "failed"}
# Fields asked of core_enrol_get_enrolled_users: only what mapping needs (the default answer carries
# every profile field and every course each user is enrolled in).
USER_FIELDS = "id,username,email,idnumber,roles"
AGGREGATION_ALL, AGGREGATION_ANY = 1, 2
# Completion-status errors about one learner: completion does not track them in the course, because their
# enrolment is suspended, ended or not started, or their role is not tracked (Moodle's is_tracked_user).
# `notenroled` is the same answer when the learner is the token's own user; `nottracked` is its wording on
# some sites. Every other error (a capability, a group, the token) is about the token's user, not the learner.
NOT_TRACKED_ERRORS = frozenset({"usernotenroled", "notenroled", "nottracked"})
# Completion-status errors that mean the course has no completion to read.
NO_COMPLETION_ERRORS = frozenset({"nocriteriaset", "completionnotenabled"})

EXAMPLE_YAML = """\
sources:
  lms:
    type: moodle                          # Moodle or Totara web services (REST protocol)
    base_url: https://lms.example.nhs.uk  # the site root; calls go to <base_url>/webservice/rest/server.php
    auth:
      type: api_key                       # the web service token, sent as `wstoken`
      token_env: MOODLE_TOKEN
    page_size: 200                        # enrolled users per call (limitnumber)
    options:
      courses: []                         # shortnames to read; empty: every course with completion tracking
      course_id_field: shortname          # or idnumber: which Moodle field is the course id in the warehouse
      identifier_fields: [email, username, idnumber]   # tried in order; the first the staff directory knows
      learner_roles: [student]            # trainers (editingteacher) are enrolled too and are not learners
      required_courses: [EPMA-GL-101, PORTAL-GL-101]
      only_active_enrolments: true        # suspended learners are left out (needs moodle/course:enrolreview)
      activity_results: true              # quizzes passed or failed, activities completed, with their grades
# The token's external service needs core_course_get_courses (or, with options.courses_function,
# core_course_get_courses_by_field), core_enrol_get_enrolled_users,
# core_completion_get_course_completion_status and, for activity results,
# core_completion_get_activities_completion_status and gradereport_user_get_grade_items; its user needs
# moodle/course:viewparticipants, moodle/course:enrolreview (to ask for active enrolments only),
# moodle/site:viewuseridentity (for e-mail addresses), report/completion:view and, for activity results,
# report/progress:view, gradereport/user:view and moodle/grade:viewall in the courses.
"""


class MoodleOptions(Options):
    """Which courses, which identifiers and roles count; defaults suit a stock Moodle and the demo LMS."""

    courses: list[str] = Field(default_factory=list,
                               description="Course shortnames (or idnumbers) to read; empty: every course with "
                                           "completion tracking enabled, except the site front page")
    courses_function: Literal["core_course_get_courses", "core_course_get_courses_by_field"] = Field(
        "core_course_get_courses",
        description="How courses are listed: services built on the mobile app's often include only "
                    "core_course_get_courses_by_field")
    course_id_field: Literal["shortname", "idnumber"] = Field(
        "shortname", description="The Moodle course field used as course_id in the warehouse")
    course_map: dict[str, str] = Field(default_factory=dict,
                                       description="Moodle shortname/idnumber → course id, where they differ")
    identifier_fields: list[Literal["email", "username", "idnumber"]] = Field(
        default_factory=lambda: ["email", "username", "idnumber"], min_length=1,
        description="User fields tried in order; the first the staff directory knows identifies the learner "
                    "(a learner registered with a personal e-mail address still links by username)")
    learner_roles: list[str] = Field(default_factory=lambda: ["student"], min_length=1,
                                     description="Role shortnames whose enrolments are training records")
    only_active_enrolments: bool = Field(
        True,
        description="Ask core_enrol_get_enrolled_users for active enrolments only (`onlyactive`, which needs "
                    "moodle/course:enrolreview): suspended, ended and not yet started enrolments are left out. "
                    "Off, Moodle lists them as enrolled, and their completion status is skipped and counted")
    required_courses: list[str] | dict[str, list[str]] = Field(
        default_factory=lambda: list(DEFAULT_REQUIRED_COURSES),
        description="Course ids required for go-live: a list for everyone, or per go-live wave with 'all' for "
                    "everyone; an empty list leaves `required` unknown")
    activity_results: bool = Field(
        True,
        description="Read each learner's activity completion (a quiz passed or failed, an activity completed) "
                    "and the course's grades for their scores: one "
                    "core_completion_get_activities_completion_status call per learner and course each pull, "
                    "and one gradereport_user_get_grade_items call per course with results")
    recheck_completed: bool = Field(
        False, description="Ask again about learners already seen complete (finds reset and redone completions, "
                           "at one call per learner per pull)")
    parallel_calls: int = Field(
        4, ge=1, le=16,
        description="Completion-status calls in flight at once: Moodle has one call per learner and course, so "
                    "its round trips, not the data, bound a pull; 1 calls one at a time")
