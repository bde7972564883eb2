"""Endpoints, defaults and options of the xAPI (Experience API 1.0.3) Learning Record Store source."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from connectors.core.stream import Options

XAPI_VERSION = "1.0.3"
STATEMENTS_PATH = "xapi/statements"
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
    base_url: https://lrs.example.nhs.uk/data      # the LRS root; statements are read from <base_url>/xapi/statements
    auth:
      type: basic                                  # LRS key and secret
      username_env: LRS_KEY
      password_env: LRS_SECRET
    page_size: 500                                 # the `limit` parameter; the LRS may cap it lower
    options:
      course_id_pattern: '/courses/([^/?#]+)/?$'    # activity IRI → course id (first group)
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

    def verb_map(self) -> dict[str, str]:
        merged = {**DEFAULT_VERBS, **self.verbs}
        return {iri: verb for iri, verb in merged.items() if verb != "skip"}
