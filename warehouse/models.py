"""SQLAlchemy 2 models. Alembic migrations in warehouse/migrations are generated from these.

Schemas: `raw` keeps every valid event as received, `core` is the star schema (dimensions keyed by
their natural codes, one fact table per kind), `ops` holds ingest offsets, batches and quarantine, and
`analytics` holds the documented views analysts read (created in SQL, see warehouse/sql).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy import (
    text as sa_text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}
SCHEMAS = ("raw", "core", "ops", "staging", "analytics")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONB, list[dict[str, Any]]: JSONB, datetime: DateTime(timezone=True)}


def _ts() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


# --- raw ------------------------------------------------------------------------------------------

class RawEvent(Base):
    """Every valid event exactly once, as it was received (free text already scrubbed)."""

    __tablename__ = "events"
    __table_args__ = (Index(None, "kind", "occurred_at"), Index(None, "loaded_at"), {"schema": "raw"})

    event_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    source_record_id: Mapped[str] = mapped_column(String(256))
    record_version: Mapped[str] = mapped_column(String(128))
    occurred_at: Mapped[datetime]
    ingested_at: Mapped[datetime]
    loaded_at: Mapped[datetime] = _ts()
    topic: Mapped[str] = mapped_column(String(249))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    envelope: Mapped[dict[str, Any]]


# --- core: dimensions ----------------------------------------------------------------------------

class DimDate(Base):
    """One row per calendar day (key YYYYMMDD) with its ISO week, Monday, month, quarter and year."""

    __tablename__ = "dim_date"
    __table_args__ = {"schema": "core"}

    date_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    date: Mapped[date] = mapped_column(Date, unique=True)
    iso_year: Mapped[int] = mapped_column(SmallInteger)
    iso_week: Mapped[int] = mapped_column(SmallInteger)
    week_start: Mapped[date] = mapped_column(Date)
    month: Mapped[int] = mapped_column(SmallInteger)
    quarter: Mapped[int] = mapped_column(SmallInteger)
    year: Mapped[int] = mapped_column(SmallInteger)
    day_of_week: Mapped[int] = mapped_column(SmallInteger)
    is_weekend: Mapped[bool] = mapped_column(Boolean)


class DimOrgUnit(Base):
    """Org unit hierarchy: each unit names its parent; `path` is the ancestors top first."""

    __tablename__ = "dim_org_unit"
    __table_args__ = {"schema": "core"}

    org_unit: Mapped[str] = mapped_column(String(64), primary_key=True)
    parent: Mapped[str | None] = mapped_column(String(64), index=True)
    level: Mapped[int] = mapped_column(SmallInteger)
    path: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    first_seen_at: Mapped[datetime] = _ts()


class DimStaffGroup(Base):
    """Staff groups seen in any event, e.g. Nursing and Midwifery."""

    __tablename__ = "dim_staff_group"
    __table_args__ = {"schema": "core"}

    staff_group: Mapped[str] = mapped_column(String(64), primary_key=True)


class DimSystem(Base):
    """Systems the feedback is about, e.g. EPR, ePMA, Patient Portal."""

    __tablename__ = "dim_system"
    __table_args__ = {"schema": "core"}

    system: Mapped[str] = mapped_column(String(64), primary_key=True)


class DimWave(Base):
    """Go-live waves and their go-live dates (the week-since-go-live grain counts from these)."""

    __tablename__ = "dim_wave"
    __table_args__ = {"schema": "core"}

    go_live_wave: Mapped[str] = mapped_column(String(64), primary_key=True)
    go_live_date: Mapped[date | None] = mapped_column(Date)


class DimStaff(Base):
    """One row per pseudonymised person, with the attributes most recently seen."""

    __tablename__ = "dim_staff"
    __table_args__ = {"schema": "core"}

    pseudonym: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_unit: Mapped[str] = mapped_column(String(64))
    staff_group: Mapped[str] = mapped_column(String(64))
    system: Mapped[str] = mapped_column(String(64))
    go_live_wave: Mapped[str | None] = mapped_column(String(64))
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


# --- core: facts ---------------------------------------------------------------------------------

class _Fact:
    """Columns every fact table shares: the event identity and the person's conformed dimensions."""

    event_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    source_record_id: Mapped[str] = mapped_column(String(256))
    record_version: Mapped[str] = mapped_column(String(128))
    occurred_at: Mapped[datetime]
    date_key: Mapped[int] = mapped_column(Integer)
    pseudonym: Mapped[str] = mapped_column(String(32))
    org_unit: Mapped[str] = mapped_column(String(64))
    staff_group: Mapped[str] = mapped_column(String(64))
    system: Mapped[str] = mapped_column(String(64))
    go_live_wave: Mapped[str | None] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = _ts()


def _fact_indexes(name: str, *more: Index) -> tuple[Any, ...]:
    return (
        Index(f"ix_{name}_record", "source", "source_record_id", "occurred_at"),
        Index(f"ix_{name}_org_date", "org_unit", "date_key"),
        # Metrics find the first and last dated fact, and an incremental refresh the recent ones.
        Index(f"ix_{name}_occurred_at", "occurred_at"),
        # An incremental refresh reads the records of the people with new events.
        Index(f"ix_{name}_person", "pseudonym", "occurred_at"),
        *more,
        {"schema": "core"},
    )


class FactFormResponse(_Fact, Base):
    """Every version of every form or survey response."""

    __tablename__ = "fact_form_response"
    __table_args__ = _fact_indexes("fact_form_response")

    form_id: Mapped[str] = mapped_column(String(64))
    likert: Mapped[dict[str, Any]]
    likert_count: Mapped[int] = mapped_column(SmallInteger)
    recommend: Mapped[int | None] = mapped_column(SmallInteger)
    minutes_saved_per_shift: Mapped[float | None] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)


class FactHelpdeskTicket(_Fact, Base):
    """Every version of every help-desk ticket (a new version each time the source updates it)."""

    __tablename__ = "fact_helpdesk_ticket"
    # Demand per 100 staff spans the days from the first ticket opened to the last.
    __table_args__ = _fact_indexes("fact_helpdesk_ticket", Index("ix_fact_helpdesk_ticket_opened_at", "opened_at"))

    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(128))
    priority: Mapped[int] = mapped_column(SmallInteger)
    reopen_count: Mapped[int] = mapped_column(Integer)
    satisfaction: Mapped[int | None] = mapped_column(SmallInteger)
    summary: Mapped[str | None] = mapped_column(Text)


class FactTrainingRecord(_Fact, Base):
    """Every learning statement: enrolled, attempted, completed, passed or failed."""

    __tablename__ = "fact_training_record"
    __table_args__ = _fact_indexes("fact_training_record")

    course_id: Mapped[str] = mapped_column(String(64))
    course_title: Mapped[str | None] = mapped_column(String(256))
    module: Mapped[str | None] = mapped_column(String(256))
    verb: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    required: Mapped[bool | None] = mapped_column(Boolean)


class FactSkillsAssessment(_Fact, Base):
    """Every digital capability self-assessment, with a score per domain."""

    __tablename__ = "fact_skills_assessment"
    # A follow-up is paired with the same person's latest earlier baseline.
    __table_args__ = _fact_indexes("fact_skills_assessment")

    assessment_id: Mapped[str] = mapped_column(String(64))
    phase: Mapped[str] = mapped_column(String(16))
    scores: Mapped[dict[str, Any]]


class FactRetraction(Base):
    """A source record voided or deleted at its source: it leaves the analytics views and metrics, unless a
    version of it is dated after the retraction. Every version stays in its fact table."""

    __tablename__ = "fact_retraction"
    __table_args__ = (
        Index("ix_fact_retraction_record", "retracted_kind", "source", "source_record_id", "occurred_at"),
        Index("ix_fact_retraction_loaded_at", "loaded_at"),
        {"schema": "core"},
    )

    event_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    source_record_id: Mapped[str] = mapped_column(String(256))
    record_version: Mapped[str] = mapped_column(String(128))
    occurred_at: Mapped[datetime]
    date_key: Mapped[int] = mapped_column(Integer)
    retracted_kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(16))
    loaded_at: Mapped[datetime] = _ts()


# --- ops -----------------------------------------------------------------------------------------

class IngestOffset(Base):
    """The next offset to read per partition: written in the same transaction as the rows it covers."""

    __tablename__ = "ingest_offsets"
    __table_args__ = {"schema": "ops"}

    consumer_group: Mapped[str] = mapped_column(String(255), primary_key=True)
    topic: Mapped[str] = mapped_column(String(249), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    # The broker's id for the topic: a deleted and recreated topic restarts at offset 0 with a new id.
    topic_id: Mapped[str | None] = mapped_column(String(36))
    updated_at: Mapped[datetime] = _ts()


class Quarantine(Base):
    """Records that failed validation, with the raw bytes and every reason."""

    __tablename__ = "quarantine"
    __table_args__ = (
        UniqueConstraint("topic", "partition", "offset", "raw_sha256"),
        {"schema": "ops"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(249))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[bytes | None] = mapped_column(LargeBinary)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    raw_sha256: Mapped[str] = mapped_column(String(64))
    raw_size: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(ARRAY(Text))
    quarantined_at: Mapped[datetime] = _ts()


class PublishedOffset(Base):
    """The next offset after the last record a publisher saw acknowledged, per partition and topic incarnation.

    Written by connectors with their state; ingest compares it with what it read to count records the broker
    lost before they were ingested.
    """

    __tablename__ = "published_offsets"
    __table_args__ = {"schema": "ops"}

    topic: Mapped[str] = mapped_column(String(249), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic_id: Mapped[str] = mapped_column(String(36), primary_key=True, server_default="")
    next_offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class IngestLoss(Base):
    """Records the broker no longer held when ingest came to read them, and how to publish them again."""

    __tablename__ = "ingest_losses"
    __table_args__ = {"schema": "ops"}

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    consumer_group: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(249))
    partition: Mapped[int] = mapped_column(Integer)
    from_offset: Mapped[int] = mapped_column(BigInteger)
    lost: Mapped[int | None] = mapped_column(BigInteger)
    cause: Mapped[str] = mapped_column(String(16))
    # source -> the --since date that publishes the lost records again; emptied as those pulls run.
    replay: Mapped[dict[str, Any]] = mapped_column(server_default=sa_text("'{}'::jsonb"))
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IngestBatch(Base):
    """One row per committed ingest batch: what it read, loaded, deduplicated and quarantined."""

    __tablename__ = "ingest_batches"
    __table_args__ = {"schema": "ops"}

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    consumer_group: Mapped[str] = mapped_column(String(255))
    committed_at: Mapped[datetime] = _ts()
    records: Mapped[int] = mapped_column(Integer)
    loaded: Mapped[int] = mapped_column(Integer)
    duplicates: Mapped[int] = mapped_column(Integer)
    quarantined: Mapped[int] = mapped_column(Integer)
    loaded_by_kind: Mapped[dict[str, Any]]
    max_occurred_at: Mapped[datetime | None]


# --- disclosure control --------------------------------------------------------------------------

class DisclosureSettings(Base):
    """The minimum group sizes the coarsened analytics row views apply (one row, written from the settings by
    `realise db upgrade` and the metrics refresh; warehouse/disclosure.py)."""

    __tablename__ = "disclosure_settings"
    __table_args__ = (
        CheckConstraint("id", name="ck_disclosure_settings_single_row"),
        CheckConstraint("min_group_size >= 2 and comment_min_group_size >= 2", name="ck_disclosure_settings_minimums"),
        {"schema": "core"},
    )

    id: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default=sa_text("true"))
    min_group_size: Mapped[int] = mapped_column(Integer, server_default="5")
    comment_min_group_size: Mapped[int] = mapped_column(Integer, server_default="10")
    updated_at: Mapped[datetime] = _ts()


# --- metrics, benefits, alerts -------------------------------------------------------------------

class StaffDirectory(Base):
    """Staff in scope (from an ESR-like export): the denominators of coverage, participation and demand."""

    __tablename__ = "staff_directory"
    __table_args__ = {"schema": "core"}

    pseudonym: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_unit: Mapped[str] = mapped_column(String(64), index=True)
    staff_group: Mapped[str] = mapped_column(String(64))
    band: Mapped[str | None] = mapped_column(String(16))
    system: Mapped[str] = mapped_column(String(64))
    go_live_wave: Mapped[str | None] = mapped_column(String(64))
    in_scope: Mapped[bool] = mapped_column(Boolean, server_default="true")
    loaded_at: Mapped[datetime] = _ts()


class MetricRefresh(Base):
    """One row per metrics refresh: what it covered and how long it took."""

    __tablename__ = "metric_refreshes"
    __table_args__ = {"schema": "ops"}

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = _ts()
    finished_at: Mapped[datetime | None]
    mode: Mapped[str] = mapped_column(String(16))  # full | incremental
    metrics: Mapped[int] = mapped_column(Integer, server_default="0")
    cells: Mapped[int] = mapped_column(Integer, server_default="0")
    suppressed: Mapped[int] = mapped_column(Integer, server_default="0")
    seconds: Mapped[float | None] = mapped_column(Float)
    min_group_size: Mapped[int] = mapped_column(Integer)


class MetricValue(Base):
    """Every computed cell of every refresh, kept: history is queryable as of any past refresh."""

    __tablename__ = "metric_values"
    __table_args__ = (
        Index("ix_metric_values_lookup", "metric_id", "grain", "segment_type", "segment_value", "period",
              "computed_at"),
        {"schema": "core"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    refresh_id: Mapped[int] = mapped_column(BigInteger, index=True)
    metric_id: Mapped[str] = mapped_column(String(64))
    grain: Mapped[str] = mapped_column(String(32))  # week | week_since_go_live
    period: Mapped[str] = mapped_column(String(16))  # ISO date of the week start, or the week number
    period_start: Mapped[date | None] = mapped_column(Date)
    period_index: Mapped[int | None] = mapped_column(Integer)
    segment_type: Mapped[str] = mapped_column(String(32))
    segment_value: Mapped[str] = mapped_column(String(128))
    parent_segment_type: Mapped[str | None] = mapped_column(String(32))
    parent_segment_value: Mapped[str | None] = mapped_column(String(128))
    value: Mapped[float | None] = mapped_column(Float)
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    suppressed: Mapped[bool] = mapped_column(Boolean)
    suppression_reason: Mapped[str | None] = mapped_column(String(32))  # primary|secondary|linked|revision
    computed_at: Mapped[datetime]
    partition: Mapped[str | None] = mapped_column(String(32))  # which partition of its parent (cells.py)
    fingerprint: Mapped[str | None] = mapped_column(Text)  # identifies the cell's rows; internal
    # The cell's rows have all gone (re-dated, reopened, retracted): it leaves the latest view.
    closed: Mapped[bool] = mapped_column(Boolean, server_default="false")
    ci_low: Mapped[float | None] = mapped_column(Float)  # the value's 95% interval (warehouse/metrics/intervals.py)
    ci_high: Mapped[float | None] = mapped_column(Float)


class MetricDisclosure(Base):
    """Per cell, its newest stored state and the statistics last shown for it: what a reader already knows,
    which the suppression rules weigh (warehouse/metrics/suppression.py). Internal; analytics.metric_latest
    reads it."""

    __tablename__ = "metric_disclosure"
    __table_args__ = {"schema": "core"}

    metric_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    grain: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    segment_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    segment_value: Mapped[str] = mapped_column(String(128), primary_key=True)
    refresh_id: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[datetime]
    period_start: Mapped[date | None] = mapped_column(Date)
    period_index: Mapped[int | None] = mapped_column(Integer)
    parent_segment_type: Mapped[str | None] = mapped_column(String(32))
    parent_segment_value: Mapped[str | None] = mapped_column(String(128))
    partition: Mapped[str | None] = mapped_column(String(32))
    n: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str | None] = mapped_column(Text)
    suppressed: Mapped[bool] = mapped_column(Boolean)
    suppression_reason: Mapped[str | None] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float)  # the newest statistics, hidden or not
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    shown_refresh_id: Mapped[int | None] = mapped_column(BigInteger)  # the statistics last shown, if ever
    shown_computed_at: Mapped[datetime | None]
    shown_value: Mapped[float | None] = mapped_column(Float)
    shown_numerator: Mapped[float | None] = mapped_column(Float)
    shown_denominator: Mapped[float | None] = mapped_column(Float)
    shown_n: Mapped[int | None] = mapped_column(Integer)
    closed: Mapped[bool] = mapped_column(Boolean, server_default="false")  # no rows left: not in the latest view
    ci_low: Mapped[float | None] = mapped_column(Float)  # the newest 95% interval, hidden or not
    ci_high: Mapped[float | None] = mapped_column(Float)
    shown_ci_low: Mapped[float | None] = mapped_column(Float)  # the interval last shown
    shown_ci_high: Mapped[float | None] = mapped_column(Float)


class MetricCellState(Base):
    """Per cell of a decomposable metric, its additive components, unsuppressed (warehouse/metrics/delta.py).
    Internal: incremental refreshes add to it; readers see core.metric_values through analytics."""

    __tablename__ = "metric_cell_state"
    __table_args__ = {"schema": "core"}

    metric_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    grain: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    segment_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    segment_value: Mapped[str] = mapped_column(String(128), primary_key=True)
    component: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # 0: rows in the cell
    value: Mapped[Decimal] = mapped_column(Numeric)
    counted: Mapped[int] = mapped_column(BigInteger)


class MetricSpc(Base):
    """XmR limits, special-cause signals and icons of every weekly series, from the published values only;
    rewritten after each refresh (warehouse/spc_store.py). Analysts read analytics.metric_spc."""

    __tablename__ = "metric_spc"
    __table_args__ = {"schema": "core"}

    metric_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    segment_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    segment_value: Mapped[str] = mapped_column(String(128), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    refresh_id: Mapped[int | None] = mapped_column(BigInteger)
    computed_at: Mapped[datetime] = _ts()
    value: Mapped[float | None] = mapped_column(Float)  # None: the week is suppressed
    suppressed: Mapped[bool] = mapped_column(Boolean)
    phase_start: Mapped[date] = mapped_column(Date)
    mean: Mapped[float | None] = mapped_column(Float)  # limits: None while the phase has too few values
    moving_range_mean: Mapped[float | None] = mapped_column(Float)
    lower_limit: Mapped[float | None] = mapped_column(Float)
    upper_limit: Mapped[float | None] = mapped_column(Float)
    limit_points: Mapped[int | None] = mapped_column(Integer)
    beyond_limits: Mapped[bool | None] = mapped_column(Boolean)  # signals: None for a week that is not judged
    shift: Mapped[bool | None] = mapped_column(Boolean)
    trend: Mapped[bool | None] = mapped_column(Boolean)
    two_in_three: Mapped[bool | None] = mapped_column(Boolean)
    special_cause: Mapped[str | None] = mapped_column(String(8))  # high | low
    variation: Mapped[str | None] = mapped_column(String(32))
    icon: Mapped[str | None] = mapped_column(String(32))
    target: Mapped[float | None] = mapped_column(Float)
    assurance: Mapped[str | None] = mapped_column(String(32))


class Benefit(Base):
    """The benefits register, loaded from a version-controlled YAML file."""

    __tablename__ = "benefits"
    __table_args__ = {"schema": "core"}

    benefit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(256))
    metric_id: Mapped[str] = mapped_column(String(64))
    segment_type: Mapped[str] = mapped_column(String(32))
    segment_value: Mapped[str] = mapped_column(String(128))
    baseline_value: Mapped[float]
    baseline_date: Mapped[date] = mapped_column(Date)
    target_value: Mapped[float]
    target_date: Mapped[date] = mapped_column(Date)
    owner: Mapped[str] = mapped_column(String(128))
    loaded_at: Mapped[datetime] = _ts()


class Alert(Base):
    """A threshold or trend breach; at most one open alert per rule and segment."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("uq_alerts_open_rule_segment", "rule_id", "segment_type", "segment_value", unique=True,
              postgresql_where=sa_text("status = 'open'")),
        {"schema": "core"},
    )

    alert_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    metric_id: Mapped[str] = mapped_column(String(64))
    segment_type: Mapped[str] = mapped_column(String(32))
    segment_value: Mapped[str] = mapped_column(String(128))
    period: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="open")  # open | resolved
    opened_at: Mapped[datetime] = _ts()
    last_seen_at: Mapped[datetime] = _ts()
    resolved_at: Mapped[datetime | None]


class Action(Base):
    """What was done about an alert, by whom and by when."""

    __tablename__ = "actions"
    __table_args__ = {"schema": "core"}

    action_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(BigInteger, index=True)
    description: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(128))
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), server_default="open")  # open | done | dropped
    action_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = _ts()


class MetricDefinition(Base):
    """The metric registry as data (written at each refresh), so analysts see titles, units and rules in SQL."""

    __tablename__ = "metric_definitions"
    __table_args__ = {"schema": "core"}

    metric_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(String(32))
    numerator: Mapped[str] = mapped_column(Text)
    denominator: Mapped[str] = mapped_column(Text)
    better: Mapped[str] = mapped_column(String(8))  # higher | lower
    min_group_size: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = _ts()
    # Hash of the reference data every period reads (go-live dates, staff in scope, span of weeks) at the
    # last refresh: when it changes, the next incremental refresh recomputes every period.
    reference_hash: Mapped[str | None] = mapped_column(String(32))
    # The declared structure (warehouse/metrics/metric.py): MetricFlow's metric type, the measures, the value
    # over measure names, the numerator and denominator measures, whether cells decompose into additive
    # components, and the base SQL template with its variables. Empty until the metric's next refresh.
    metric_type: Mapped[str | None] = mapped_column(String(16))
    measures: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    expression: Mapped[str | None] = mapped_column(Text)
    numerator_measure: Mapped[str | None] = mapped_column(String(64))
    denominator_measure: Mapped[str | None] = mapped_column(String(64))
    decomposes: Mapped[bool | None] = mapped_column(Boolean)
    base_sql_template: Mapped[str | None] = mapped_column(Text)


class BenefitStatus(Base):
    """Each refresh's judgement of each benefit: on track, at risk, off track or no data, and why."""

    __tablename__ = "benefit_status"
    __table_args__ = (
        CheckConstraint("status in ('on track', 'at risk', 'off track', 'no data')", name="ck_benefit_status_status"),
        Index("ix_benefit_status_benefit_computed", "benefit_id", "computed_at"),
        {"schema": "core"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    benefit_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("core.benefits.benefit_id", ondelete="CASCADE", name="fk_benefit_status_benefit_id"))
    refresh_id: Mapped[int | None] = mapped_column(BigInteger)
    computed_at: Mapped[datetime] = _ts()
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    current_value: Mapped[float | None] = mapped_column(Float)
    current_period: Mapped[date | None] = mapped_column(Date)
    projected_value: Mapped[float | None] = mapped_column(Float)
    slope_per_week: Mapped[float | None] = mapped_column(Float)
    points: Mapped[int] = mapped_column(Integer, server_default="0")


# --- connectors and validation results -----------------------------------------------------------

class ConnectorState(Base):
    """Incremental state per source stream, advanced only after the broker acknowledged the page's events."""

    __tablename__ = "connector_state"
    __table_args__ = {"schema": "ops"}

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[dict[str, Any]]
    records_total: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated_at: Mapped[datetime] = _ts()


class StaffAlias(Base):
    """Keyed hashes of a person's other identifiers (username, staff number) → their canonical pseudonym."""

    __tablename__ = "staff_alias"
    __table_args__ = {"schema": "core"}

    alias: Mapped[str] = mapped_column(String(32), primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(32), index=True)


class ValidationResult(Base):
    """A summary of one Great Expectations validation of one ingest batch and kind."""

    __tablename__ = "validation_results"
    __table_args__ = (Index(None, "kind", "validated_at"), {"schema": "ops"})

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    validated_at: Mapped[datetime] = _ts()
    kind: Mapped[str] = mapped_column(String(32))
    suite: Mapped[str] = mapped_column(String(128))
    records: Mapped[int] = mapped_column(Integer)
    failed_records: Mapped[int] = mapped_column(Integer)
    success: Mapped[bool] = mapped_column(Boolean)
    # Per expectation: type, column, success, unexpected count; the page `realise validation` renders.
    expectations: Mapped[list[dict[str, Any]]]
    # The committed batch these results belong to (written in its transaction).
    batch_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("ops.ingest_batches.id", ondelete="CASCADE", name="fk_validation_results_batch_id"))
