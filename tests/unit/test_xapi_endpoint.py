"""Where an LRS keeps its statements: the endpoint from base_url, `more` IRLs under it, and the documented
activity-id pattern."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connectors.xapi.client import more_url, statements_url
from connectors.xapi.settings import EXAMPLE_YAML, XapiOptions
from foundation.errors import SourceError
from foundation.source_config import SourceConfig, parse_options

README = Path(__file__).resolve().parents[2] / "README.md"
# The README's example, copied as it is written there.
README_COURSE_ID_PATTERN = r"/(?:courses/|activities/(?:course/)?|course/view\.php\?id=)([^/?#&]+)/?$"


@pytest.mark.parametrize(("base_url", "expected"), [
    ("https://lrs.example/data/xAPI/", "https://lrs.example/data/xAPI/statements"),
    ("https://lrs.example/data/xAPI", "https://lrs.example/data/xAPI/statements"),
    ("https://lrs.example/lrs/", "https://lrs.example/lrs/statements"),
    ("https://lrs.example/xapi", "https://lrs.example/xapi/statements"),
    ("https://lrs.example", "https://lrs.example/statements"),
])
def test_given_an_lrs_endpoint_with_or_without_a_trailing_slash_when_resolved_then_statements_is_under_it(
        base_url: str, expected: str) -> None:
    assert statements_url(base_url) == expected


def test_given_an_explicit_statements_path_when_resolved_then_it_is_taken_under_base_url_as_written() -> None:
    assert statements_url("https://lrs.example/data", "xapi/statements") == "https://lrs.example/data/xapi/statements"
    assert statements_url("https://lrs.example/data/", "/xAPI/statements") == "https://lrs.example/data/xAPI/statements"


@pytest.mark.parametrize(("more", "expected"), [
    ("/data/xAPI/statements/more/abc", "https://lrs.example/data/xAPI/statements/more/abc"),  # the spec's form
    ("/data/xAPI/statements?cursor=abc&limit=5", "https://lrs.example/data/xAPI/statements?cursor=abc&limit=5"),
    ("/statements/more/abc", "https://lrs.example/data/xAPI/statements/more/abc"),  # relative to the endpoint
    ("statements/more/abc", "https://lrs.example/data/xAPI/statements/more/abc"),
    ("https://lrs2.example/data/xAPI/statements/more/abc", "https://lrs2.example/data/xAPI/statements/more/abc"),
])
def test_given_more_irls_in_each_form_when_resolved_for_an_endpoint_with_a_path_then_they_stay_under_it(
        more: str, expected: str) -> None:
    assert more_url("https://lrs.example/data/xAPI/statements", more) == expected


def test_given_an_lrs_at_the_host_root_when_more_is_resolved_then_the_host_relative_path_is_used() -> None:
    assert more_url("https://lrs.example/statements", "/statements/more/abc") == \
        "https://lrs.example/statements/more/abc"


@pytest.mark.parametrize(("iri", "course"), [
    ("https://lms.example.nhs.uk/activities/course/EPMA-GL-101", "EPMA-GL-101"),
    ("https://lms.example.nhs.uk/course/view.php?id=42", "42"),
    ("http://example.com/xapi/activities/EPR-GL-101", "EPR-GL-101"),
    ("https://learning.example.nhs.uk/courses/EPR-GL-101", "EPR-GL-101"),
    ("https://learning.example.nhs.uk/courses/EPR-GL-101/", "EPR-GL-101"),
])
def test_given_common_activity_id_forms_when_the_readme_pattern_is_run_then_the_course_id_is_its_group(
        iri: str, course: str) -> None:
    match = re.search(README_COURSE_ID_PATTERN, iri)
    assert match is not None and match.group(1) == course


@pytest.mark.parametrize("iri", [
    "https://learning.example.nhs.uk/courses/EPR-GL-101/modules/observations",  # a module: its parent is the course
    "https://lms.example.nhs.uk/mod/scorm/view.php?id=17",  # a Moodle activity (course module id), not a course
    "https://lms.example.nhs.uk/course/view.php?id=42&section=3",
    "https://games.example.org/level/12",
])
def test_given_activity_ids_that_are_not_courses_when_the_readme_pattern_is_run_then_nothing_matches(
        iri: str) -> None:
    assert re.search(README_COURSE_ID_PATTERN, iri) is None


def test_given_the_readme_and_the_settings_example_when_read_then_both_show_the_tested_pattern() -> None:
    quoted = f"course_id_pattern: '{README_COURSE_ID_PATTERN}'"
    assert quoted in README.read_text(encoding="utf-8")
    assert quoted in EXAMPLE_YAML


def test_given_a_statements_path_naming_no_statements_resource_when_parsed_then_the_error_names_the_setting() -> None:
    def parse(path: str) -> XapiOptions:
        return parse_options(XapiOptions, SourceConfig(type="xapi", options={"statements_path": path}), "lrs")

    assert parse("/xapi/statements/").statements_path == "xapi/statements"
    for wrong in ("xapi", "https://lrs.example/xapi/statements", "xapi/statements?limit=5"):
        with pytest.raises(SourceError, match="sources.lrs.options.statements_path"):
            parse(wrong)
