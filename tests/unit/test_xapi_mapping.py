"""Pure xAPI parsing: ISO 8601 durations, scaled scores, language maps, actors, course activities, options."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from connectors.core.stream import MappingError
from connectors.xapi.mapping import (
    RequiredCourses,
    actor_identifier,
    cursor_text,
    duration_seconds,
    parse_duration,
    pick_language,
    resolve_course,
    scaled_score,
)
from connectors.xapi.settings import ADL, XapiOptions
from foundation.errors import SourceError
from foundation.source_config import SourceConfig, parse_options

PATTERN = re.compile(XapiOptions().course_id_pattern)


@pytest.mark.parametrize(("text", "seconds"), [
    ("PT1H12M30S", 4350), ("P1DT2H", 93600), ("PT4350S", 4350), ("P0DT1H12M30.00S", 4350), ("PT0.5S", 0.5),
    ("PT1,5M", 90), ("P2W", 1_209_600), ("PT0S", 0), ("P1M", 30 * 86400), ("pt10m", 600),
])
def test_given_iso_8601_durations_when_parsed_then_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["P", "PT", "1h 12m", "PT1H12M30", "P1DT", "-PT5M", "", 90])
def test_given_malformed_durations_when_parsed_then_mapping_error(text: object) -> None:
    with pytest.raises(MappingError, match="not an ISO 8601 duration"):
        parse_duration(text)


def test_given_a_duration_over_a_week_when_mapped_then_dropped_as_a_session_left_open() -> None:
    assert duration_seconds({"duration": "P8D"}) is None
    assert duration_seconds({"duration": "P7D"}) == 7 * 86400
    assert duration_seconds({}) is None


@pytest.mark.parametrize(("score", "expected"), [
    ({"scaled": 0.85}, 0.85), ({"scaled": -0.4}, 0.0), ({"scaled": 1}, 1.0), ({"scaled": 0}, 0.0),
    ({"raw": 45, "max": 60}, 0.75), ({"raw": 15, "min": 10, "max": 30}, 0.25), ({"raw": 70, "max": 60}, 1.0),
    ({"raw": 5}, None), ({"raw": 5, "min": 5, "max": 5}, None), ({"scaled": True}, None), (None, None),
])
def test_given_result_scores_when_scaled_then_zero_to_one(score: object, expected: float | None) -> None:
    assert scaled_score({"score": score}) == expected


def test_given_a_scaled_score_outside_the_spec_when_mapped_then_mapping_error() -> None:
    with pytest.raises(MappingError, match="outside -1..1"):
        scaled_score({"score": {"scaled": 1.5}})


def test_given_language_maps_when_picked_then_preferred_language_else_first() -> None:
    assert pick_language({"en-US": "Color", "en-GB": "Colour"}, ["en-GB", "en-US"]) == "Colour"
    assert pick_language({"EN-gb": " Colour "}, ["en-GB"]) == "Colour"
    assert pick_language({"cy-GB": "Lliw"}, ["en-GB"]) == "Lliw"
    assert pick_language({}, ["en-GB"]) is None and pick_language(None, ["en-GB"]) is None


def test_given_actors_when_identified_then_mbox_or_account_name_else_reason() -> None:
    assert actor_identifier({"mbox": "mailto:a@example.nhs.uk", "account": {"name": "u1"}}) == "mailto:a@example.nhs.uk"
    assert actor_identifier({"account": {"homePage": "https://lms", "name": "u1"}}) == "u1"
    with pytest.raises(MappingError, match="mbox_sha1sum"):
        actor_identifier({"mbox_sha1sum": "ab" * 20})
    with pytest.raises(MappingError, match="openid"):
        actor_identifier({"openid": "https://id.example.org/u1"})
    with pytest.raises(MappingError, match="Group"):
        actor_identifier({"objectType": "Group", "mbox": "mailto:team@example.nhs.uk"})
    with pytest.raises(MappingError, match="actor missing"):
        actor_identifier(None)


def test_given_course_and_module_activities_when_resolved_then_course_from_object_or_parent() -> None:
    course = {"id": "https://learn.example/courses/EPR-GL-101", "definition": {"name": {"en-GB": "EPR essentials"}}}
    direct = resolve_course({"object": course}, PATTERN, {}, ["en-GB"])
    assert direct is not None and (direct.course_id, direct.course_title, direct.module) == \
        ("EPR-GL-101", "EPR essentials", None)
    module = {"object": {"id": course["id"] + "/modules/obs", "definition": {"name": {"en-GB": "Observations"}}},
              "context": {"contextActivities": {"parent": course}}}  # a single object, as xAPI 1.0.0 allowed
    found = resolve_course(module, PATTERN, {}, ["en-GB"])
    assert found is not None and (found.course_id, found.course_title, found.module) == \
        ("EPR-GL-101", "EPR essentials", "Observations")
    mapped = resolve_course({"object": {"id": "https://x.example/pkg/8812"}}, PATTERN,
                            {"https://x.example/pkg/8812": "EPR-SU-301"}, ["en-GB"])
    assert mapped is not None and mapped.course_id == "EPR-SU-301"
    assert resolve_course({"object": {"id": "https://games.example/level/3"}}, PATTERN, {}, ["en-GB"]) is None


def test_given_required_courses_as_list_or_per_wave_when_asked_then_required_flag() -> None:
    everyone = RequiredCourses(["EPR-GL-101"])
    assert everyone("EPR-GL-101", None) is True and everyone("DCS-101", "wave-1") is False
    waves = RequiredCourses({"all": ["SMARTCARD-101"], "wave-2": ["EPMA-GL-101"]})
    assert waves("EPMA-GL-101", "wave-2") is True and waves("EPMA-GL-101", "wave-1") is False
    assert waves("SMARTCARD-101", None) is True and waves("EPMA-GL-101", None) is False
    assert RequiredCourses([])("EPR-GL-101", "wave-1") is None


def test_given_times_in_any_offset_when_made_cursors_then_one_format_that_sorts_by_time() -> None:
    bst = datetime(2026, 5, 1, 11, 0, tzinfo=timezone(timedelta(hours=1)))
    utc = datetime(2026, 5, 1, 10, 0, 0, 1, tzinfo=UTC)
    assert cursor_text(bst) == "2026-05-01T10:00:00.000000Z" < cursor_text(utc) == "2026-05-01T10:00:00.000001Z"


def test_given_bad_options_when_parsed_then_error_names_the_setting() -> None:
    def parse(options: dict[str, object]) -> XapiOptions:
        return parse_options(XapiOptions, SourceConfig(type="xapi", options=options), "lrs")

    assert parse({"verbs": {ADL + "launched": "attempted"}}).verb_map()[ADL + "launched"] == "attempted"
    assert ADL + "registered" not in parse({"verbs": {ADL + "registered": "skip"}}).verb_map()
    with pytest.raises(SourceError, match="sources.lrs.options.verbs"):
        parse({"verbs": {ADL + "launched": "started"}})
    with pytest.raises(SourceError, match="course_id_pattern.*capturing group"):
        parse({"course_id_pattern": "/courses/.+"})
    with pytest.raises(SourceError, match="sources.lrs.options.course_pattern is not a setting"):
        parse({"course_pattern": "x"})


def test_given_the_readme_example_when_loaded_then_it_is_a_valid_xapi_source() -> None:
    import yaml

    from connectors.xapi.settings import EXAMPLE_YAML

    (name, entry), = yaml.safe_load(EXAMPLE_YAML)["sources"].items()
    config = SourceConfig.model_validate(entry)
    options = parse_options(XapiOptions, config, name)
    assert config.type == "xapi" and options.course_map and isinstance(options.required_courses, dict)
