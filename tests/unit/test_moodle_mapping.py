"""Pure Moodle parsing: completion time from criteria under each aggregation, unix times, roles, parameters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.core.stream import MappingError
from connectors.moodle.client import form_params
from connectors.moodle.mapping import completion_time, course_id, has_role, unix_time

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

    from connectors.core.config import SourceConfig, parse_options
    from connectors.moodle.settings import EXAMPLE_YAML, MoodleOptions

    (name, entry), = yaml.safe_load(EXAMPLE_YAML)["sources"].items()
    config = SourceConfig.model_validate(entry)
    options = parse_options(MoodleOptions, config, name)
    assert config.type == "moodle" and config.auth.token_env == "MOODLE_TOKEN"
    assert options.identifier_fields == ["email", "username", "idnumber"]
