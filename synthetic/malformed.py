"""Records the ingest must quarantine or store intact, each one change away from a valid generated event."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from schemas.events import Kind, SkillsDomain, make_event_id
from schemas.topics import TOPICS, partition_key
from synthetic.forms import form_responses
from synthetic.people import Trust
from synthetic.profiles import staff_profiles
from synthetic.shared import random_uuid, secs
from synthetic.skills import skills_assessments
from synthetic.tickets import ticket_updates
from synthetic.training import training_statements

CaughtBy = Literal["pydantic", "quality", "ingest", ""]
ONE_MIB = 1024 * 1024
SQL_INJECTION = "'; DROP TABLE core.fact_form_response; --"
HTML_INJECTION = "<script>alert(1)</script>"


@dataclass(frozen=True)
class Malformed:
    """A hostile record for the ingest: quarantine it (valid=False) or load it intact (valid=True).

    `expect` is a lowercase substring of the quarantine reason. `caught_by` names the stage that rejects it:
    "pydantic" (the event models, at decode), "ingest" (decode's checks around the models: record size,
    kind against topic) or "quality" (the data-quality gate, e.g. timestamps later than now). Valid records
    have expect="" and caught_by="". They include SQL and script injection, which must be stored as plain
    text, and NUL and control characters in a comment: PostgreSQL text cannot hold NUL, so the ingest must
    strip it before storing rather than reject the record.
    """

    topic: str
    key: bytes | None
    value: bytes
    why: str
    expect: str
    valid: bool = False
    caught_by: CaughtBy = "pydantic"
    name: str = ""


def _rebased(base: dict[str, Any], record_id: str) -> dict[str, Any]:
    """A deep copy of `base` under a new source record id, event id re-derived so only the change is wrong."""
    data = copy.deepcopy(base)
    data["source_record_id"] = record_id
    data["event_id"] = str(make_event_id(data["source"], record_id, data["record_version"]))
    return data


def malformed_records(trust: Trust, now: datetime, seed: int = 7) -> list[Malformed]:
    """Malformed and hostile records, each a valid event with one thing changed (or raw bytes)."""
    now = secs(now.astimezone(UTC))
    rng = random.Random(f"realise:{seed}:malformed")
    profiles = staff_profiles(trust, now, seed)
    bases: dict[Kind, dict[str, Any]] = {
        Kind.FORM_RESPONSE: form_responses(profiles, trust.staff, now, rng, 1, "edge-")[0].model_dump(mode="json"),
        Kind.HELPDESK_TICKET: ticket_updates(profiles, trust.staff, now, rng, 1, "EDGE")[0].model_dump(mode="json"),
        Kind.TRAINING_RECORD: training_statements(profiles, now, rng, 1)[0].model_dump(mode="json"),
        Kind.SKILLS_ASSESSMENT: skills_assessments(profiles, now, rng, 1, "EDGE-")[0].model_dump(mode="json"),
    }
    out: list[Malformed] = []

    def add(name: str, kind: Kind, why: str, expect: str, change: Callable[[dict[str, Any]], Any] | None = None,
            *, raw: bytes | None = None, topic: str | None = None, keyed: bool = True, valid: bool = False,
            caught_by: CaughtBy = "pydantic") -> None:
        data = _rebased(bases[kind], f"edge-{name}")
        if change is not None:
            replaced = change(data)
            data = data if replaced is None else replaced
        value = raw if raw is not None else json.dumps(data, ensure_ascii=False).encode()
        key = partition_key(bases[kind]["payload"]["person"]["org_unit"]) if keyed else None
        out.append(Malformed(topic or TOPICS[kind], key, value, why, expect, valid,
                             "" if valid else caught_by, name))

    def set_path(*path: str | int, value: Any) -> Callable[[dict[str, Any]], None]:
        def change(data: dict[str, Any]) -> None:
            target: Any = data
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value

        return change

    def delete(*path: str) -> Callable[[dict[str, Any]], None]:
        def change(data: dict[str, Any]) -> None:
            target: Any = data
            for part in path[:-1]:
                target = target[part]
            del target[path[-1]]

        return change

    form, ticket, training, skills = (Kind.FORM_RESPONSE, Kind.HELPDESK_TICKET, Kind.TRAINING_RECORD,
                                      Kind.SKILLS_ASSESSMENT)
    form_json = json.dumps(_rebased(bases[form], "edge-bytes")).encode()
    person = bases[form]["payload"]["person"]
    raw_email = next(s.identifier for s in trust.staff if s.pseudonym == person["pseudonym"])

    # Bytes that are not a JSON object.
    add("invalid_json", form, "Python repr instead of JSON (single quotes)", "json",
        raw=b"{'kind': 'form_response', 'payload': None}", keyed=False)
    add("truncated_json", form, "JSON cut off half way", "json", raw=form_json[: len(form_json) // 2])
    latin1 = _rebased(bases[form], "edge-invalid_utf8")
    latin1["payload"]["comment"] = "Café on level 2 is the only place with working Wi-Fi"
    add("invalid_utf8", form, "Latin-1 bytes in a comment, not UTF-8", "utf-8",
        raw=json.dumps(latin1, ensure_ascii=False).encode("latin-1"))
    add("empty_value", form, "empty value", "empty", raw=b"")
    add("json_array", form, "a JSON list holding an event, not an event", "object",
        raw=json.dumps([bases[form]]).encode())
    add("json_number", form, "a bare JSON number", "object", raw=b"42", keyed=False)

    # Shape: required fields, types, unknown fields, envelope rules.
    add("missing_person", form, "payload.person missing", "required", delete("payload", "person"))
    add("missing_occurred_at", ticket, "occurred_at missing", "required", delete("occurred_at"))
    add("missing_kind", form, "kind missing", "kind", delete("kind"))
    add("unknown_kind", form, "kind that no model carries", "kind", set_path("kind", value="feedback"))
    add("recommend_string", form, "recommend as a word", "recommend", set_path("payload", "recommend", value="ten"))
    add("likert_string", form, '"five" for a Likert value', "likert",
        set_path("payload", "likert", "confidence", value="five"))
    add("extra_field", form, "unknown top-level field", "unknown field",
        set_path("submitted_via", value="teams"))
    add("schema_version_2", skills, "schema version this release does not know", "schema_version",
        set_path("schema_version", value=2))
    add("naive_timestamp", form, "occurred_at without a timezone", "timezone",
        lambda d: set_path("occurred_at", value=d["occurred_at"].rstrip("Z").split("+")[0])(d))
    add("raw_email_pseudonym", form, "raw e-mail address where the pseudonym belongs", "pseudonym",
        set_path("payload", "person", "pseudonym", value=raw_email))
    add("event_id_not_derived", training, "event_id not derived from source, record id and version",
        "event_id", set_path("event_id", value=random_uuid(rng)))

    # Out of range.
    add("likert_7", form, "Likert value 7 on a 1-5 scale", "likert",
        set_path("payload", "likert", "confidence", value=7))
    add("recommend_14", form, "recommend 14 on a 0-10 scale", "recommend", set_path("payload", "recommend", value=14))
    add("score_1_5", training, "scaled score 1.5 (must be 0..1)", "score", set_path("payload", "score", value=1.5))
    add("priority_9", ticket, "ticket priority 9 (must be 1..5)", "priority",
        set_path("payload", "priority", value=9))
    add("skills_score_6", skills, "capability score 6 on a 1-5 scale", "scores",
        set_path("payload", "scores", SkillsDomain.TECHNICAL_PROFICIENCY.value, value=6))
    add("comment_5000", form, "comment of 5,000 characters (limit 4,000)", "comment",
        set_path("payload", "comment", value="The system is slow. " * 250))

    # Caught after the models: size and topic at decode, time rules at the quality gate.
    add("record_over_1mib", form, "whole record over 1 MiB (valid JSON padded with whitespace)", "too large",
        raw=form_json[:-1] + b" " * (ONE_MIB + 1024 - len(form_json)) + b"}", caught_by="ingest")
    add("kind_topic_mismatch", ticket, "helpdesk_ticket event on the form_response topic", "kind",
        topic=TOPICS[form], caught_by="ingest")
    add("occurred_2099", form, "occurred_at in 2099", "later than now",
        set_path("occurred_at", value="2099-01-01T09:00:00Z"), caught_by="quality")
    add("occurred_1999", training, "occurred_at in 1999", "earlier than",
        set_path("occurred_at", value="1999-12-31T09:00:00Z"), caught_by="quality")
    opened = datetime.fromisoformat(bases[ticket]["payload"]["opened_at"])
    add("resolved_before_opened", ticket, "ticket resolved before it was opened", "before opened_at",
        set_path("payload", "resolved_at", value=(opened - timedelta(days=2)).isoformat()),
        caught_by="quality")

    # Hostile but valid: must load, stored as plain text.
    add("sql_injection_comment", form, "SQL injection in a comment", "",
        set_path("payload", "comment", value=SQL_INJECTION), valid=True)
    add("sql_injection_ticket", ticket, "SQL injection in a ticket's category and summary", "",
        lambda d: d["payload"].update(category=SQL_INJECTION, summary=f"Robert{SQL_INJECTION}"), valid=True)
    add("html_injection_comment", form, "script tag in a comment", "",
        set_path("payload", "comment", value=f"Great system {HTML_INJECTION}"), valid=True)
    add("html_injection_course", training, "script tag in a course title", "",
        set_path("payload", "course_title", value=HTML_INJECTION), valid=True)
    add("nul_in_comment", form, "NUL character in a comment (ingest strips it before storing)", "",
        set_path("payload", "comment", value="Login fails\u0000 every morning"), valid=True)
    add("control_chars_in_comment", form, "bell, ANSI escape and right-to-left override in a comment", "",
        set_path("payload", "comment", value="Slow\u0007 \u001b[31mred\u001b[0m \u202egnp.exe"), valid=True)
    return out
