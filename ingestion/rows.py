"""Flatten validated events into the rows the quality suite checks and the warehouse stores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.events import Kind

COMMON = ("event_id", "source", "source_record_id", "record_version", "occurred_at", "date_key",
          "pseudonym", "org_unit", "staff_group", "system", "go_live_wave")

# Columns of each fact table, in COPY order (common columns first).
FACT_COLUMNS: dict[Kind, tuple[str, ...]] = {
    Kind.FORM_RESPONSE: (*COMMON, "form_id", "likert", "likert_count", "recommend", "minutes_saved_per_shift",
                         "comment"),
    Kind.HELPDESK_TICKET: (*COMMON, "opened_at", "updated_at", "resolved_at", "status", "category", "priority",
                           "reopen_count", "satisfaction", "summary"),
    Kind.TRAINING_RECORD: (*COMMON, "course_id", "course_title", "module", "verb", "score", "duration_seconds",
                           "required"),
    Kind.SKILLS_ASSESSMENT: (*COMMON, "assessment_id", "phase", "scores"),
    Kind.RETRACTION: ("event_id", "source", "source_record_id", "record_version", "occurred_at", "date_key",
                      "retracted_kind", "reason"),
}
FACT_TABLES: dict[Kind, str] = {kind: f"core.fact_{kind.value}" for kind in Kind}

# PostgreSQL types for binary COPY, per column (jsonb travels as bytes with its version prefix).
COPY_TYPES: dict[str, str] = {
    "event_id": "uuid", "source": "text", "source_record_id": "text", "record_version": "text",
    "occurred_at": "timestamptz", "ingested_at": "timestamptz", "date_key": "int4", "pseudonym": "text",
    "org_unit": "text", "staff_group": "text", "system": "text", "go_live_wave": "text",
    "form_id": "text", "likert": "jsonb", "likert_count": "int2", "recommend": "int2",
    "minutes_saved_per_shift": "float8", "comment": "text",
    "opened_at": "timestamptz", "updated_at": "timestamptz", "resolved_at": "timestamptz", "status": "text",
    "category": "text", "priority": "int2", "reopen_count": "int4", "satisfaction": "int2", "summary": "text",
    "course_id": "text", "course_title": "text", "module": "text", "verb": "text", "score": "float8",
    "duration_seconds": "int4", "required": "bool",
    "assessment_id": "text", "phase": "text", "scores": "jsonb", "retracted_kind": "text", "reason": "text",
    "kind": "text", "topic": "text", "partition": "int4", "offset": "int8", "envelope": "jsonb",
    "key": "bytea", "raw": "bytea", "raw_sha256": "text", "raw_size": "int4", "stage": "text",
    "reasons": "text[]",
}


def _utc(value: datetime | None) -> datetime | None:
    """Normalised to UTC so a batch's timestamps form one tz-aware column whatever offsets sources use."""
    return value.astimezone(UTC) if value is not None else None


def _common(e: Any) -> dict[str, Any]:
    p = e.payload.person
    return {
        "event_id": e.event_id, "source": e.source, "source_record_id": e.source_record_id,
        "record_version": e.record_version, "occurred_at": _utc(e.occurred_at), "ingested_at": _utc(e.ingested_at),
        "date_key": int(_utc(e.occurred_at).strftime("%Y%m%d")), "org_path": p.org_path,
        "pseudonym": p.pseudonym, "org_unit": p.org_unit, "staff_group": p.staff_group, "system": p.system,
        "go_live_wave": p.go_live_wave,
    }


def _form(e: Any) -> dict[str, Any]:
    pl = e.payload
    values = list(pl.likert.values())
    return {"form_id": pl.form_id, "likert": pl.likert, "likert_count": len(values),
            "likert_min": min(values) if values else None, "likert_max": max(values) if values else None,
            "recommend": pl.recommend, "minutes_saved_per_shift": pl.minutes_saved_per_shift, "comment": pl.comment}


def _ticket(e: Any) -> dict[str, Any]:
    pl = e.payload
    return {"opened_at": _utc(pl.opened_at), "updated_at": _utc(pl.updated_at), "resolved_at": _utc(pl.resolved_at),
            "status": pl.status, "category": pl.category, "priority": pl.priority,
            "reopen_count": pl.reopen_count, "satisfaction": pl.satisfaction, "summary": pl.summary}


def _training(e: Any) -> dict[str, Any]:
    pl = e.payload
    return {"course_id": pl.course_id, "course_title": pl.course_title, "module": pl.module, "verb": pl.verb,
            "score": pl.score, "duration_seconds": pl.duration_seconds, "required": pl.required}


def _skills(e: Any) -> dict[str, Any]:
    pl = e.payload
    values = list(pl.scores.values())
    return {"assessment_id": pl.assessment_id, "phase": pl.phase,
            "scores": {k.value: v for k, v in pl.scores.items()},
            "score_min": min(values), "score_max": max(values), "domain_count": len(values)}


_SPECIFIC = {Kind.FORM_RESPONSE: _form, Kind.HELPDESK_TICKET: _ticket, Kind.TRAINING_RECORD: _training,
             Kind.SKILLS_ASSESSMENT: _skills}


def _retraction(e: Any) -> dict[str, Any]:
    occurred = _utc(e.occurred_at)
    return {"event_id": e.event_id, "source": e.source, "source_record_id": e.source_record_id,
            "record_version": e.record_version, "occurred_at": occurred, "ingested_at": _utc(e.ingested_at),
            "date_key": int(occurred.strftime("%Y%m%d")), "retracted_kind": e.payload.kind,
            "reason": e.payload.reason}


def flatten(event: Any) -> dict[str, Any]:
    """Every column the quality suite and the fact table need, for one event."""
    if event.kind == Kind.RETRACTION:
        return _retraction(event)
    row = _common(event)
    row.update(_SPECIFIC[Kind(event.kind)](event))
    return row
