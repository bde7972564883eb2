"""Endpoints, defaults and options of the xAPI (Experience API 1.0.3) Learning Record Store source."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from connectors.core.stream import Options

XAPI_VERSION = "1.0.3"
STATEMENTS = "statements"  # the statements resource, directly below the LRS endpoint
# Where statements were read when base_url meant the LRS root: tried once if <base_url>/statements is not found.
LEGACY_STATEMENTS_PATH = "xapi/statements"
ADL = "http://adlnet.gov/expapi/verbs/"
VOIDED_VERB = ADL + "voided"

# Verb IRI → canonical verb. Anything else (experienced, launched, initialized, answered, ...) is skipped.
DEFAULT_VERBS: dict[str, str] = {
    ADL + "registered": "enrolled",
    ADL + "attempted": "attempted",
    ADL + "completed": "completed",
    ADL + "passed": "passed",
    ADL + "failed": "failed",
    "https://w3id.org/xapi/adl/verbs/satisfied": "completed",  # cmi5: the course's requirements are met
}

# The go-live courses of the demo trust; a trust lists its own.
DEFAULT_REQUIRED_COURSES = ["EPR-GL-101", "EPMA-GL-101", "PORTAL-GL-101"]

EXAMPLE_YAML = """\
sources:
  learning_hub:
    type: xapi
    base_url: https://lrs.example.nhs.uk/data/xAPI/  # the LRS endpoint (case-sensitive): <base_url>/statements
    auth:
      type: basic                                  # LRS key and secret
      username_env: LRS_KEY
      password_env: LRS_SECRET
    page_size: 500                                 # the `limit` parameter; the LRS may cap it lower
    options:
      # activity IRI → course id (first group): .../courses/<id>, .../activities/course/<id>,
      # .../activities/<id> (a module IRI of that form needs course_map), Moodle's .../course/view.php?id=<id>
      course_id_pattern: '/(?:courses/|activities/(?:course/)?|course/view\\.php\\?id=)([^/?#&]+)/?$'
      course_map:                                  # exact IRIs that do not follow the pattern
        https://elearning.example.org/package/8812: EPR-SU-301
      required_courses:                            # a list, or per go-live wave ("all" applies to everyone)
        all: [EPR-GL-101]
        wave-2: [EPMA-GL-101]
      verbs:                                       # extra or replacement verb IRIs → enrolled/attempted/...
        https://xapi.gamified.example/verbs/finished-course: completed
"""


class XapiOptions(Options):
    """How statements become training records; every default matches ADL's verbs and the demo LRS."""

    verbs: dict[str, str] = Field(
        default_factory=dict,
        description="Verb IRI → enrolled/attempted/completed/passed/failed, merged over the ADL defaults "
                    "(registered → enrolled, attempted, completed, passed, failed, cmi5 satisfied → completed); "
                    "map an IRI to 'skip' to ignore a default")
    course_id_pattern: str = Field(
        r"/courses/([^/?#]+)/?$",
        description="Regular expression on an activity IRI whose first group is the course id; tried on the "
                    "statement's object, then its context parent and grouping activities")
    course_map: dict[str, str] = Field(default_factory=dict,
                                       description="Exact activity IRI → course id, checked before the pattern")
    unmatched_activities: Literal["quarantine", "skip"] = Field(
        "quarantine",
        description="A statement about no recognisable course: quarantine it (so the pattern gets fixed) or skip")
    languages: list[str] = Field(default_factory=lambda: ["en-GB", "en-US", "en"],
                                 description="Preferred languages for course and module names (language maps)")
    required_courses: list[str] | dict[str, list[str]] = Field(
        default_factory=lambda: list(DEFAULT_REQUIRED_COURSES),
        description="Course ids required for go-live: a list for everyone, or per go-live wave with 'all' for "
                    "everyone; an empty list leaves `required` unknown")
    cursor_overlap_ms: int = Field(
        1, ge=0, le=60_000,
        description="`since` is exclusive in xAPI: resume this many milliseconds before the stored cursor so "
                    "statements sharing the last stored time are read again (they dedupe)")
    max_restarts: int = Field(3, ge=0, le=20,
                              description="Times a pull restarts from its last cursor when a `more` link expires")
    statements_path: str | None = Field(
        None,
        description="The statements resource's path below base_url, for a base_url that is not the LRS endpoint "
                    "(`xapi/statements` for the LRS root, as base_url was once documented); unset: "
                    "<base_url>/statements, trying <base_url>/xapi/statements once if that is not found")

    @field_validator("verbs")
    @classmethod
    def _known_verbs(cls, value: dict[str, str]) -> dict[str, str]:
        allowed = {"enrolled", "attempted", "completed", "passed", "failed", "skip"}
        wrong = {iri: verb for iri, verb in value.items() if verb not in allowed}
        if wrong:
            raise ValueError(f"verbs map to one of {', '.join(sorted(allowed))}; got {wrong}")
        return value

    @field_validator("course_id_pattern")
    @classmethod
    def _one_group(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if compiled.groups < 1:
            raise ValueError("needs one capturing group holding the course id")
        return value

    @field_validator("statements_path")
    @classmethod
    def _statements_resource(cls, value: str | None) -> str | None:
        if value is None:
            return None
        path = value.strip().strip("/")
        if "://" in path or "?" in path or not (path == STATEMENTS or path.endswith("/" + STATEMENTS)):
            raise ValueError(f"a path below base_url ending in /{STATEMENTS}, e.g. xapi/{STATEMENTS}; got {value!r}")
        return path

    def verb_map(self) -> dict[str, str]:
        merged = {**DEFAULT_VERBS, **self.verbs}
        return {iri: verb for iri, verb in merged.items() if verb != "skip"}
