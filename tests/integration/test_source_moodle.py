"""The Moodle/Totara web services source against the simulated LMS over real HTTP, with the real broker and
warehouse: one test per quirk of the REST protocol."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from foundation.errors import SourceError
from foundation.source_config import SourceConfig
from simulator import moodle as sim
from tests.integration.test_source_xapi import Rig, RigFactory
from tests.integration.test_source_xapi import make_rig as make_rig  # noqa: F401 - the fixture, for `rig`


@pytest.fixture
def rig(make_rig: RigFactory) -> Rig:  # noqa: F811
    """The simulated LMS on a local server, its world's directory loaded."""
    return make_rig(sim.apis, sim.ENV)


def moodle_config(rig: Rig, **overrides: Any) -> SourceConfig:
    entry = sim.source_config(rig.root())
    options = overrides.pop("options", {})
    return SourceConfig.model_validate({**entry, "page_size": 10, "backoff_seconds": 0.01, **overrides,
                                        "options": options})


def lms(rig: Rig) -> sim.MoodleApi:
    api = rig.apis[0]
    assert isinstance(api, sim.MoodleApi)
    return api


def test_given_an_invalid_token_when_pulled_then_the_http_200_exception_becomes_an_error_saying_fix_the_token(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = httpx.post(rig.root() + sim.PREFIX + sim.ENDPOINT, data={
        "wstoken": "wrong", "wsfunction": "core_course_get_courses", "moodlewsrestformat": "json"})
    assert answer.status_code == 200 and answer.json()["errorcode"] == "invalidtoken"
    monkeypatch.setenv("MOODLE_TOKEN", "wrong")
    with pytest.raises(SourceError, match=r"rejected the web service token.*MOODLE_TOKEN.*Manage tokens") as caught:
        rig.pull("moodle", moodle_config(rig))
    assert "\n" not in str(caught.value)


def test_given_a_function_missing_from_the_service_when_pulled_then_the_error_names_function_and_service(
        rig: Rig) -> None:
    lms(rig).disabled.add("core_completion_get_course_completion_status")
    with pytest.raises(SourceError, match=r"refused core_completion_get_course_completion_status \(accessexception"
                                          r".*External services > Functions"):
        rig.pull("moodle", moodle_config(rig))


def test_given_no_json_format_parameter_when_called_then_moodle_answers_xml_and_the_connector_asks_for_json(
        rig: Rig) -> None:
    answer = httpx.post(rig.root() + sim.PREFIX + sim.ENDPOINT, data={
        "wstoken": sim.TOKEN, "wsfunction": "core_course_get_courses"})
    assert answer.headers["content-type"].startswith("application/xml")
    assert rig.pull("moodle", moodle_config(rig)).published > 0


def test_given_the_site_course_and_a_sandbox_without_completion_when_pulled_then_only_tracked_courses_are_read(
        rig: Rig) -> None:
    rig.pull("moodle", moodle_config(rig))
    courses = {e["payload"]["course_id"] for e in rig.events("moodle")}
    assert courses and courses <= set(sim.MOODLE_COURSES)
    assert {e["source_record_id"] for e in rig.events("moodle")} == sim.expected_record_ids(rig.world)
    listed = moodle_config(rig, options={"courses": [sim.SANDBOX[0]]})
    rig.pull("moodle_sandbox", listed)
    sandbox = rig.events("moodle_sandbox")
    assert sandbox and {e["payload"]["course_id"] for e in sandbox} == {sim.SANDBOX[0]}
    assert {e["payload"]["verb"] for e in sandbox} == {"enrolled"}


def test_given_a_listed_course_the_site_lacks_when_pulled_then_the_error_names_the_setting(
        rig: Rig) -> None:
    with pytest.raises(SourceError, match=r"sources.moodle.options.courses lists NOPE-101"):
        rig.pull("moodle", moodle_config(rig, options={"courses": ["EPMA-GL-101", "NOPE-101"]}))


def test_given_trainers_enrolled_in_courses_when_pulled_then_only_learners_become_records(
        rig: Rig) -> None:
    trainers = {e.user_id for e in lms(rig).enrolments if e.role == "editingteacher"}
    result = rig.pull("moodle", moodle_config(rig))
    users = {int(e["source_record_id"].split("/")[3]) for e in rig.events("moodle")}
    assert users and not users & trainers
    assert result.streams[0].unmatched_staff == 0 and result.streams[1].unmatched_staff == 0


def test_given_a_learner_registered_with_a_personal_email_when_pulled_then_the_username_links_them(
        rig: Rig) -> None:
    learners = [e for e in lms(rig).enrolments if e.pseudonym and e.course in sim.MOODLE_COURSES
                and e.enrolled_at <= rig.world.clock]
    lms(rig).personal_emails |= {e.pseudonym for e in learners[::3] if e.pseudonym}
    personal = [e for e in learners if e.pseudonym in lms(rig).personal_emails]
    rig.pull("moodle", moodle_config(rig))
    by_id = {e["source_record_id"]: e["payload"]["person"] for e in rig.events("moodle")}
    for e in personal:
        person = by_id[sim.enrolment_record_id(sim.MOODLE_COURSES[e.course][0], e.user_id)]
        assert person["pseudonym"] == e.pseudonym and person["org_unit"] == rig.world.member(e.pseudonym).org_unit


def test_given_no_change_when_pulled_again_then_completed_learners_are_not_asked_again_and_nothing_is_published(
        rig: Rig) -> None:
    config = moodle_config(rig)
    rig.pull("moodle", config)
    first_calls = lms(rig).requests
    again = rig.pull("moodle", config)
    completed = sum(1 for e in sim.expected_record_ids(rig.world) if e.endswith("/completion"))
    assert again.published == 0 and again.records == 0
    assert completed > 0 and lms(rig).requests - first_calls == first_calls - completed


def test_given_a_learner_who_completes_between_pulls_when_pulled_then_one_completion_dated_by_the_last_criterion(
        rig: Rig) -> None:
    config = moodle_config(rig)
    rig.pull("moodle", config)
    before = {e["source_record_id"] for e in rig.events("moodle")}
    rig.world.advance(timedelta(days=8))
    rig.pull("moodle", config)
    new = [e for e in rig.events("moodle") if e["source_record_id"] not in before]
    assert new and {e["source_record_id"] for e in new} == sim.expected_record_ids(rig.world) - before
    for event in (e for e in new if e["source_record_id"].endswith("/completion")):
        course, user = int(event["source_record_id"].split("/")[1]), int(event["source_record_id"].split("/")[3])
        expected = next(x.completed_at for x in lms(rig).enrolments
                        if x.user_id == user and sim.MOODLE_COURSES.get(x.course, (0,))[0] == course)
        assert expected is not None and event["record_version"] == expected.isoformat()
        assert datetime.fromisoformat(event["occurred_at"]) == expected
    enrolled = [e for e in new if e["payload"]["verb"] == "enrolled"]
    assert all(e["record_version"] == "enrolled" for e in enrolled)


def test_given_a_service_with_only_get_courses_by_field_when_configured_for_it_then_courses_are_listed(
        rig: Rig) -> None:
    lms(rig).disabled.add("core_course_get_courses")
    with pytest.raises(SourceError, match=r"refused core_course_get_courses \(accessexception"):
        rig.pull("moodle", moodle_config(rig))
    result = rig.pull("moodle", moodle_config(rig, options={"courses_function": "core_course_get_courses_by_field"}))
    assert result.published == len(sim.expected_record_ids(rig.world)) > 0


def test_given_parallel_completion_calls_when_pulled_then_the_events_are_those_of_one_call_at_a_time(
        rig: Rig) -> None:
    rig.pull("moodle_serial", moodle_config(rig, options={"parallel_calls": 1}))
    rig.pull("moodle_parallel", moodle_config(rig, options={"parallel_calls": 8}))

    def events(source: str) -> list[tuple[Any, ...]]:
        return [(e["source_record_id"], e["record_version"], e["occurred_at"] if e["payload"]["verb"] == "completed"
                 else None, e["payload"]["verb"]) for e in rig.events(source)]

    serial, parallel = events("moodle_serial"), events("moodle_parallel")
    assert any(verb == "completed" for *_, verb in serial)
    assert parallel == serial
    assert {record_id for record_id, *_ in parallel} == sim.expected_record_ids(rig.world)


def completed_learner(rig: Rig) -> sim.Enrolment:
    """A learner who has completed a tracked course by the world's clock."""
    return next(e for e in lms(rig).enrolments if e.pseudonym and e.course in sim.MOODLE_COURSES
                and e.completed_at is not None and e.completed_at <= rig.world.clock)


def learner_records(rig: Rig, course: int, user_id: int) -> set[str]:
    """Record ids of one learner in one course (by id): enrolment, completion and activity results."""
    return {i for i in sim.expected_record_ids(rig.world) if i.startswith(f"course/{course}/user/{user_id}/")}


def call(rig: Rig, function: str, **params: Any) -> Any:
    return httpx.post(rig.root() + sim.PREFIX + sim.ENDPOINT, data={
        "wstoken": sim.TOKEN, "wsfunction": function, "moodlewsrestformat": "json", **params}).json()


def test_given_a_suspended_enrolment_when_moodle_is_asked_then_listed_unless_onlyactive_and_completion_is_refused(
        rig: Rig) -> None:
    learner = completed_learner(rig)
    course = sim.MOODLE_COURSES[learner.course][0]
    lms(rig).suspend(learner.course, learner.user_id)
    listed = {u["id"] for u in call(rig, "core_enrol_get_enrolled_users", courseid=course)}
    active = {u["id"] for u in call(rig, "core_enrol_get_enrolled_users", courseid=course,
                                    **{"options[0][name]": "onlyactive", "options[0][value]": "1"})}
    assert learner.user_id in listed and active == listed - {learner.user_id}
    refused = call(rig, "core_completion_get_course_completion_status", courseid=course, userid=learner.user_id)
    assert refused == {"exception": "moodle_exception", "errorcode": "usernotenroled",
                       "message": "User is not enrolled in this course"}


def test_given_a_suspended_learner_when_pulled_then_only_active_enrolments_are_read_and_completions_finish(
        rig: Rig) -> None:
    learner = completed_learner(rig)
    course = sim.MOODLE_COURSES[learner.course][0]
    lms(rig).suspend(learner.course, learner.user_id)
    result = rig.pull("moodle", moodle_config(rig))
    left_out = learner_records(rig, course, learner.user_id)
    assert sim.completion_record_id(course, learner.user_id) in left_out
    assert {e["source_record_id"] for e in rig.events("moodle")} == sim.expected_record_ids(rig.world) - left_out
    assert result.streams[1].state["completed"] and result.streams[1].skipped == 0


def test_given_a_suspended_learner_and_only_active_off_when_pulled_then_the_completion_is_skipped_and_counted(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    learner = completed_learner(rig)
    course = sim.MOODLE_COURSES[learner.course][0]
    lms(rig).suspend(learner.course, learner.user_id)
    with caplog.at_level(logging.INFO, logger="connectors.moodle"):
        result = rig.pull("moodle", moodle_config(rig, options={"only_active_enrolments": False}))
    ids = {e["source_record_id"] for e in rig.events("moodle")}
    assert sim.enrolment_record_id(course, learner.user_id) in ids  # listed, as Moodle lists suspended learners
    untracked = learner_records(rig, course, learner.user_id) - {sim.enrolment_record_id(course, learner.user_id)}
    assert ids == sim.expected_record_ids(rig.world) - untracked
    assert result.streams[1].skipped == 1 and result.streams[1].state["completed"]
    assert result.streams[2].skipped == 1  # activity completion says istrackeduser: false for them too
    assert "1 learner(s) not enrolled (usernotenroled)" in caplog.text


def test_given_a_token_user_without_enrolreview_when_pulled_then_the_error_names_the_capability_and_the_option(
        rig: Rig) -> None:
    lms(rig).capabilities.discard("moodle/course:enrolreview")
    with pytest.raises(SourceError, match=r"nopermissions.*moodle/course:enrolreview.*"
                                          r"sources\.moodle\.options\.only_active_enrolments: false") as caught:
        rig.pull("moodle", moodle_config(rig))
    assert "\n" not in str(caught.value)
    result = rig.pull("moodle", moodle_config(rig, options={"only_active_enrolments": False}))
    assert result.published == len(sim.expected_record_ids(rig.world))


def test_given_a_token_user_who_cannot_view_completion_reports_when_pulled_then_the_error_names_the_capability(
        rig: Rig) -> None:
    lms(rig).capabilities.discard("report/completion:view")
    with pytest.raises(SourceError, match=r"cannotviewreport.*report/completion:view") as caught:
        rig.pull("moodle", moodle_config(rig))
    assert "\n" not in str(caught.value)


QUIZ = {short: next(a for a in activities if a.modname == "quiz") for short, activities in sim.ACTIVITIES.items()}


def learners_in(rig: Rig, course: str, count: int) -> list[sim.Enrolment]:
    """`count` active learners enrolled in `course` (a shortname) a day or more before the world's clock."""
    found = [e for e in lms(rig).enrolments if e.course == course and e.role == "student" and e.pseudonym
             and not e.suspended and e.enrolled_at <= rig.world.clock - timedelta(days=1)]
    assert len(found) >= count
    return found[:count]


def by_record(rig: Rig, source: str = "moodle") -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for event in rig.events(source):
        out.setdefault(event["source_record_id"], []).append(event)
    return out


def test_given_a_learner_who_failed_the_competency_quiz_when_pulled_then_a_failed_record_with_the_scaled_grade(
        rig: Rig) -> None:
    course = "EPMA-GL-101"
    cid, quiz = sim.MOODLE_COURSES[course][0], QUIZ[course]
    failer, passer = learners_in(rig, course, 2)
    at = rig.world.clock - timedelta(hours=3)
    for learner, grade in ((failer, 4.5), (passer, 9.0)):
        lms(rig).delete_quiz_attempts(course, learner.user_id)
        lms(rig).attempt_quiz(course, learner.user_id, grade, at)
    rig.pull("moodle", moodle_config(rig))
    events = by_record(rig)
    assert set(events) == lms(rig).expected_record_ids()
    failed, = events[sim.activity_record_id(cid, failer.user_id, quiz.cmid)]
    passed, = events[sim.activity_record_id(cid, passer.user_id, quiz.cmid)]
    assert (failed["payload"]["verb"], failed["payload"]["score"]) == ("failed", 0.45)
    assert (passed["payload"]["verb"], passed["payload"]["score"]) == ("passed", 0.9)
    for event in (failed, passed):
        assert (event["payload"]["course_id"], event["payload"]["module"]) == (course, quiz.name)
        assert datetime.fromisoformat(event["occurred_at"]) == at
        assert event["payload"]["person"]["pseudonym"] in (failer.pseudonym, passer.pseudonym)
    page = next(a for a in sim.ACTIVITIES[course] if a.modname == "page")
    read, = events[sim.activity_record_id(cid, failer.user_id, page.cmid)]
    assert (read["payload"]["verb"], read["payload"]["module"], read["payload"]["score"]) == ("completed", "page", None)


def test_given_a_failed_learner_who_retakes_and_passes_when_pulled_again_then_a_new_version_of_the_same_record(
        rig: Rig) -> None:
    course = "PORTAL-GL-101"
    cid, quiz = sim.MOODLE_COURSES[course][0], QUIZ[course]
    learner, = learners_in(rig, course, 1)
    lms(rig).delete_quiz_attempts(course, learner.user_id)
    lms(rig).attempt_quiz(course, learner.user_id, 6.0, rig.world.clock - timedelta(hours=5))
    config = moodle_config(rig)
    rig.pull("moodle", config)
    lms(rig).attempt_quiz(course, learner.user_id, 8.5, rig.world.clock + timedelta(hours=1))
    rig.world.advance(timedelta(hours=2))
    again = rig.pull("moodle", config)
    record = sim.activity_record_id(cid, learner.user_id, quiz.cmid)
    first, second = by_record(rig)[record]
    assert (first["payload"]["verb"], first["payload"]["score"]) == ("failed", 0.6)
    assert (second["payload"]["verb"], second["payload"]["score"]) == ("passed", 0.85)
    assert first["record_version"] != second["record_version"] and first["event_id"] != second["event_id"]
    assert again.streams[2].published >= 1
    unchanged = rig.pull("moodle", config)
    assert unchanged.streams[2].published == 0 and unchanged.streams[2].records == 0
    assert len(by_record(rig)[record]) == 2
    assert rig.ingest().quarantined == 0


def test_given_activity_results_when_pulled_then_one_activity_call_per_learner_and_course_and_one_grade_call_per_course(
        rig: Rig) -> None:
    result = rig.pull("moodle", moodle_config(rig))
    learners = sum(1 for e in lms(rig).enrolments if e.course in sim.MOODLE_COURSES and e.role == "student"
                   and e.enrolled_at <= rig.world.clock)
    calls = lms(rig).calls
    assert calls["core_completion_get_activities_completion_status"] == learners
    assert calls["gradereport_user_get_grade_items"] == len(sim.ACTIVITIES)  # courses with results to score
    assert result.streams[2].stream == "activities" and result.streams[2].published > 0


def test_given_a_token_user_who_cannot_view_grades_when_pulled_then_the_error_names_the_capability_and_the_option(
        rig: Rig) -> None:
    lms(rig).capabilities.discard("moodle/grade:viewall")
    with pytest.raises(SourceError, match=r"nopermissiontoviewgrades.*moodle/grade:viewall.*"
                                          r"sources\.moodle\.options\.activity_results: false") as caught:
        rig.pull("moodle", moodle_config(rig))
    assert "\n" not in str(caught.value)


def test_given_a_service_without_the_activity_functions_when_activity_results_are_off_then_the_rest_is_read(
        rig: Rig) -> None:
    lms(rig).disabled |= {"core_completion_get_activities_completion_status", "gradereport_user_get_grade_items"}
    with pytest.raises(SourceError, match=r"refused core_completion_get_activities_completion_status.*"
                                          r"External services > Functions.*options\.activity_results: false"):
        rig.pull("moodle", moodle_config(rig))
    rig.pull("moodle_core", moodle_config(rig, options={"activity_results": False}))
    ids = {e["source_record_id"] for e in rig.events("moodle_core")}
    assert ids == {i for i in sim.expected_record_ids(rig.world) if "/activity/" not in i}
