"""Pure Moodle parsing: completion time from criteria under each aggregation, unix times, roles, parameters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.core.stream import MappingError
from connectors.moodle.client import form_params
from connectors.moodle.mapping import (
    activity_verb,
    activity_version,
    completion_time,
    course_id,
    has_role,
    index_grades,
    scaled_grade,
    unix_time,
)

T1, T2 = 1_777_000_000, 1_777_003_600


def _status(completed: bool, aggregation: int, *times: int | None) -> dict[str, object]:
    return {"completed": completed, "aggregation": aggregation,
            "completions": [{"type": 4, "title": "x", "status": "Yes" if t else "No", "complete": t is not None,
                             "timecompleted": t} for t in times]}


def test_given_aggregation_all_when_completed_then_the_last_criterion_dates_the_course() -> None:
    assert completion_time(_status(True, 1, T1, T2)) == datetime.fromtimestamp(T2, UTC)


def test_given_aggregation_any_when_completed_then_the_first_criterion_met_dates_the_course() -> None:
    assert completion_time(_status(True, 2, T2, None, T1)) == datetime.fromtimestamp(T1, UTC)


def test_given_an_incomplete_course_when_asked_then_no_completion_time() -> None:
    assert completion_time(_status(False, 1, T1, None)) is None


def test_given_complete_without_any_criterion_time_when_mapped_then_mapping_error() -> None:
    with pytest.raises(MappingError, match="no completion criterion has a time"):
        completion_time(_status(True, 1, None, None))


@pytest.mark.parametrize(("value", "expected"), [
    (T1, datetime.fromtimestamp(T1, UTC)), (str(T1), datetime.fromtimestamp(T1, UTC)), (0, None), (None, None),
    ("0", None), (-5, None),
])
def test_given_moodle_times_when_parsed_then_unix_seconds_or_never(value: object, expected: datetime | None) -> None:
    assert unix_time(value) == expected


def test_given_a_time_that_is_not_a_number_when_parsed_then_mapping_error() -> None:
    with pytest.raises(MappingError, match="not unix seconds"):
        unix_time("yesterday")


def test_given_roles_when_checked_then_only_learner_roles_count() -> None:
    trainer_and_learner = {"roles": [{"shortname": "editingteacher"}, {"shortname": "student"}]}
    assert has_role(trainer_and_learner, ["student"]) is True
    assert has_role({"roles": [{"shortname": "editingteacher"}]}, ["student"]) is False
    assert has_role({}, ["student"]) is False


def test_given_course_fields_when_mapped_then_shortname_or_idnumber_through_the_map() -> None:
    course = {"id": 2, "shortname": "EPMA GL", "idnumber": "EPMA-GL-101"}
    assert course_id(course, "idnumber", {}) == "EPMA-GL-101"
    assert course_id(course, "shortname", {"EPMA GL": "EPMA-GL-101"}) == "EPMA-GL-101"
    with pytest.raises(MappingError, match="has no idnumber"):
        course_id({"id": 3, "idnumber": ""}, "idnumber", {})


def test_given_nested_parameters_when_encoded_then_php_style_keys() -> None:
    encoded = form_params({"courseid": 2, "options": [{"name": "limitfrom", "value": 0}], "flag": True,
                           "skip": None})
    assert encoded == {"courseid": "2", "options[0][name]": "limitfrom", "options[0][value]": "0", "flag": "1"}


def test_given_the_readme_example_when_loaded_then_it_is_a_valid_moodle_source() -> None:
    import yaml

    from connectors.moodle.settings import EXAMPLE_YAML, MoodleOptions
    from foundation.source_config import SourceConfig, parse_options

    (name, entry), = yaml.safe_load(EXAMPLE_YAML)["sources"].items()
    config = SourceConfig.model_validate(entry)
    options = parse_options(MoodleOptions, config, name)
    assert config.type == "moodle" and config.auth.token_env == "MOODLE_TOKEN"
    assert options.identifier_fields == ["email", "username", "idnumber"]


def test_given_activity_completion_states_when_mapped_then_1_completed_2_passed_3_failed_and_0_nothing() -> None:
    states = (0, 1, 2, 3, "3", None, 4)
    assert [activity_verb(s) for s in states] == [None, "completed", "passed", "failed", "failed", None, None]


def test_given_a_raw_grade_when_scaled_then_it_is_its_place_in_the_grade_range_from_0_to_1() -> None:
    assert scaled_grade({"graderaw": 4.5, "grademin": 0.0, "grademax": 10.0}) == 0.45
    assert scaled_grade({"graderaw": 15, "grademin": 10, "grademax": 20}) == 0.5
    assert scaled_grade({"graderaw": 12.0, "grademax": 10.0}) == 1.0  # extra credit beyond the maximum
    assert scaled_grade({"graderaw": None, "grademin": 0.0, "grademax": 10.0}) is None  # not graded
    assert scaled_grade({"graderaw": 3.0, "grademin": 0.0, "grademax": 0.0}) is None
    assert scaled_grade(None) is None


def test_given_the_grade_report_of_a_course_when_indexed_then_each_learners_activity_grade_and_activity_names(
        ) -> None:
    quiz = {"itemtype": "mod", "itemmodule": "quiz", "iteminstance": 21, "itemnumber": 0, "cmid": 202,
            "itemname": "ePMA competency quiz", "graderaw": 9.0, "grademin": 0.0, "grademax": 10.0}
    second = {**quiz, "itemnumber": 1, "itemname": "Quiz outcome", "graderaw": 1.0}  # an activity's other item
    total = {"itemtype": "course", "itemmodule": None, "iteminstance": 1, "itemnumber": 0, "itemname": None,
             "graderaw": 90.0, "grademin": 0.0, "grademax": 100.0}
    body = {"usergrades": [{"courseid": 2, "userid": 1007, "gradeitems": [quiz, second, total]},
                           {"courseid": 2, "userid": 1008, "gradeitems": [{**quiz, "graderaw": None}, total]}],
            "warnings": []}
    grades, names = index_grades(body)
    assert grades == {(1007, "quiz", 21): quiz, (1008, "quiz", 21): {**quiz, "graderaw": None}}
    assert names == {("quiz", 21): "ePMA competency quiz"}


def test_given_a_new_state_or_grade_when_versioned_then_the_version_changes() -> None:
    when = datetime.fromtimestamp(T1, UTC)
    failed = activity_version("failed", when, 0.45)
    assert failed == activity_version("failed", when, 0.45)
    others = {activity_version("passed", when, 0.45), activity_version("failed", when, 0.5),
              activity_version("failed", datetime.fromtimestamp(T2, UTC), 0.45), activity_version("failed", when, None)}
    assert failed not in others and len(others) == 4
    assert activity_version("completed", None, None) == "completed@undated"


def test_given_an_activity_result_when_mapped_then_one_record_per_course_learner_and_activity(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.core.build import EventBuilder
    from connectors.core.identity import StaffResolver
    from connectors.core.stream import PullContext
    from connectors.moodle import Moodle
    from foundation.privacy import DEMO_KEY
    from foundation.source_config import SourceConfig

    monkeypatch.setenv("MOODLE_TOKEN", "t")
    source = Moodle("lms", SourceConfig(type="moodle", base_url="http://127.0.0.1:9",
                                        auth={"type": "api_key", "token_env": "MOODLE_TOKEN"}),
                    PullContext(run_started=datetime.fromtimestamp(T2, UTC)))
    build = EventBuilder("lms", StaffResolver(DEMO_KEY), system="EPR", ingested_at=datetime.now(UTC))
    stream = next(s for s in source.streams if s.name == "activities")
    course = {"id": 2, "shortname": "EPMA-GL-101", "fullname": "ePMA prescribing and administration"}
    user = {"id": 1007, "email": "staff000007@example.nhs.uk"}
    status = {"cmid": 202, "modname": "quiz", "instance": 21, "state": 3, "timecompleted": T1, "tracking": 2}
    grade = {"itemtype": "mod", "itemmodule": "quiz", "iteminstance": 21, "graderaw": 4.5, "grademin": 0.0,
             "grademax": 10.0}
    record = {"courseid": 2, "userid": 1007, "cmid": 202, "course": course, "user": user, "activity": status,
              "grade": grade, "name": "ePMA competency quiz"}
    failed = source.map(stream, record, build)
    passed = source.map(stream, {**record, "activity": {**status, "state": 2, "timecompleted": T2},
                                 "grade": {**grade, "graderaw": 9.0}}, build)
    assert failed is not None and passed is not None
    assert failed.source_record_id == passed.source_record_id == "course/2/user/1007/activity/202"
    assert failed.record_version != passed.record_version
    assert (failed.payload.verb, failed.payload.score, failed.payload.module) == \
        ("failed", 0.45, "ePMA competency quiz")
    assert (passed.payload.verb, passed.payload.score, passed.occurred_at) == \
        ("passed", 0.9, datetime.fromtimestamp(T2, UTC))
    page = source.map(stream, {**record, "cmid": 201, "activity": {**status, "cmid": 201, "modname": "page",
                                                                    "state": 1}, "grade": None, "name": None}, build)
    assert page is not None
    assert (page.payload.verb, page.payload.module, page.payload.score) == ("completed", "page", None)
