"""SQL pieces shared by metric definitions and their base query templates (warehouse/metrics/sql/, which call
them by name: `template_globals` below), and the net experience score.

Early filter
    The engine binds `:_since` to the Monday of the earliest week a row it recomputes can be dated in (null
    in a full refresh: every week). Base SQL must keep every row dated on or after it and may drop any row
    before it. The builders here drop them as early as possible, inside the latest-version lookups and the
    staff-in-scope x week series, so an incremental refresh reads the recent weeks rather than all history;
    anything a recent row depends on from earlier weeks (a person's baseline, a first completion) is read
    without the filter.

Latest versions
    `latest_form_responses`, `latest_helpdesk_tickets` and `latest_skills_assessments` yield the rows of
    research.form_responses, research.helpdesk_tickets and the latest version of each skills assessment,
    limited to records whose latest version is dated on or after `_since` (for a ticket: updated or
    resolved then; it was opened before it was updated).
"""

from __future__ import annotations

from warehouse.metrics.metric import Measure, Metric, register, template
from warehouse.metrics.templates import template_globals

# The earliest day and instant (UTC) an early filter keeps.
SINCE_DAY = "coalesce(cast(:_since as date), '-infinity'::date)"
SINCE_TIME = f"({SINCE_DAY}::timestamp at time zone 'UTC')"


def weeks_since_go_live(date_sql: str) -> str:
    """Whole weeks from the wave's go-live to `date_sql` (negative before it); needs `left join core.dim_wave w`."""
    return f"floor(({date_sql} - w.go_live_date) / 7.0)::int"


def _is_latest(table: str, order: str, alias: str = "f") -> str:
    """`alias` is the latest version of its record (no version of it orders later, as DISTINCT ON ordered by
    `order` desc, record_version desc picks it) and the record is not retracted at or after it (as the
    analytics views)."""
    kind = table.removeprefix("core.fact_")
    return (f"not exists (select from {table} g where g.source = {alias}.source "
            f"and g.source_record_id = {alias}.source_record_id "
            f"and (g.{order}, g.record_version) > ({alias}.{order}, {alias}.record_version)) "
            f"and {not_retracted(kind, alias, order)}")


def not_retracted(kind: str, alias: str = "f", order: str = "occurred_at") -> str:
    """No retraction of `alias`'s record is dated at or after its `order` time."""
    return (f"not exists (select from core.fact_retraction r where r.retracted_kind = '{kind}' "
            f"and r.source = {alias}.source and r.source_record_id = {alias}.source_record_id "
            f"and r.occurred_at >= {alias}.{order})")


def changed_records(kinds: str) -> str:
    """Source records of `kinds` (a SQL text[] expression) with events or retractions loaded since `:since`."""
    return (f"(select source, source_record_id from raw.events where loaded_at >= :since and kind = any({kinds}) "
            f"union select source, source_record_id from core.fact_retraction "
            f"where loaded_at >= :since and retracted_kind = any({kinds}))")


# Restrictions an incremental refresh binds (see warehouse/metrics/delta.py); null in a full refresh, when
# the planner folds them away. `:_subjects`: only these people's records; `:_rec_src`/`:_rec_id`: only these
# source records. Each is written so that an index answers it (`= any` on the indexed columns, the exact pairs
# checked after): a pair `in (subquery)` is planned as a join, which the planner answered with a scan of the
# whole fact table.
SUBJECT_FILTER = "(cast(:_subjects as text[]) is null or {column} = any(cast(:_subjects as text[])))"


def in_records(source: str, record_id: str) -> str:
    """Whether (`source`, `record_id`) is one of the pairs `:_rec_src`/`:_rec_id` bind."""
    return (f"({source} = any(cast(:_rec_src as text[])) and {record_id} = any(cast(:_rec_id as text[])) "
            f"and ({source}, {record_id}) in "
            "(select u.s, u.r from unnest(cast(:_rec_src as text[]), cast(:_rec_id as text[])) u(s, r)))")


_RECORD_FILTER = f"(cast(:_rec_src as text[]) is null or {in_records('f.source', 'f.source_record_id')})"


def _latest(table: str, order: str, where: str) -> str:
    """The latest versions that satisfy `where` (and the refresh's restrictions). An anti-join rather than
    DISTINCT ON: `where` may then test any column of the latest version (not only a lower bound on `order`),
    and the planner estimates it from the table's statistics instead of guessing behind a DISTINCT ON, which
    led it into nested loops."""
    return (f"select f.* from {table} f where ({where}) and {SUBJECT_FILTER.format(column='f.pseudonym')} "
            f"and {_RECORD_FILTER} and {_is_latest(table, order)}")


def latest_form_responses() -> str:
    """research.form_responses (same columns), early-filtered."""
    return f"""
        select l.event_id, l.source, l.source_record_id as response_id, l.occurred_at as submitted_at,
               d.date, d.week_start, l.org_unit, l.staff_group, l.system, l.go_live_wave,
               l.pseudonym as staff_pseudonym, l.form_id, l.likert, l.likert_count, l.recommend,
               l.minutes_saved_per_shift, l.comment
        from ({_latest("core.fact_form_response", "occurred_at", f"f.occurred_at >= {SINCE_TIME}")}) l
        join core.dim_date d using (date_key)
    """


# A ticket counts in the weeks it was opened, resolved and closed (resolved, else last updated). The quality
# gate rejects a ticket updated before it was opened, but a resolution time may follow the last update.
_TICKET_TABLE = "core.fact_helpdesk_ticket"
_RECENT_TICKET = f"f.updated_at >= {SINCE_TIME} or f.resolved_at >= {SINCE_TIME}"


def latest_helpdesk_tickets() -> str:
    """research.helpdesk_tickets (same columns), early-filtered by the dates a ticket counts under. The
    day and week opened are worked out from opened_at rather than joined from core.dim_date by an
    expression, which the planner can only do row by row."""
    return f"""
        select l.event_id, l.source, l.source_record_id as ticket_id, l.opened_at, l.updated_at, l.resolved_at,
               l.opened_date, date_trunc('week', l.opened_date)::date as opened_week_start,
               l.status, l.category, l.priority, l.reopen_count, l.satisfaction, l.summary,
               round((extract(epoch from (l.resolved_at - l.opened_at)) / 3600.0)::numeric, 2) as hours_to_resolve,
               l.org_unit, l.staff_group, l.system, l.go_live_wave, l.pseudonym as requester_pseudonym
        from (select t.*, (t.opened_at at time zone 'UTC')::date as opened_date
              from ({_latest(_TICKET_TABLE, "updated_at", _RECENT_TICKET)}) t) l
    """


def latest_skills_assessments(phase: str, *, early: bool = True) -> str:
    """The latest version of each skills assessment response in `phase`, with its day and week;
    early-filtered unless `early` is false (a follow-up's baseline may be from any week)."""
    where = f"f.phase = '{phase}'" + (f" and f.occurred_at >= {SINCE_TIME}" if early else "")
    return f"""
        select l.*, d.date, d.week_start
        from ({_latest("core.fact_skills_assessment", "occurred_at", where)}) l
        join core.dim_date d using (date_key)
    """


# First and last week of the latest form responses. The last one is also the last week of any version (the
# latest version is the latest-dated); the first is found walking up from the earliest version.
FIRST_RESPONSE_WEEK = f"""(select d.week_start from core.fact_form_response f join core.dim_date d using (date_key)
        where {_is_latest("core.fact_form_response", "occurred_at")}
        order by f.occurred_at, f.record_version limit 1)"""
LAST_RESPONSE_WEEK = """(select d.week_start from core.fact_form_response f join core.dim_date d using (date_key)
        order by f.occurred_at desc limit 1)"""
# First and last day a ticket (latest version) was opened.
FIRST_TICKET_DAY = f"""(select (f.opened_at at time zone 'UTC')::date from {_TICKET_TABLE} f
        where {_is_latest(_TICKET_TABLE, "updated_at")} order by f.opened_at limit 1)"""
LAST_TICKET_DAY = f"""(select (f.opened_at at time zone 'UTC')::date from {_TICKET_TABLE} f
        where {_is_latest(_TICKET_TABLE, "updated_at")} order by f.opened_at desc limit 1)"""


def _week_of(instant_sql: str) -> str:
    return f"date_trunc('week', {instant_sql} at time zone 'UTC')::date"


FIRST_TRAINING_WEEK = _week_of("(select min(occurred_at) from core.fact_training_record)")
# The latest week holding any loaded fact: coverage to date runs up to it.
LAST_DATA_WEEK = _week_of("""greatest(
        (select max(occurred_at) from core.fact_form_response),
        (select max(occurred_at) from core.fact_training_record),
        (select max(occurred_at) from core.fact_helpdesk_ticket),
        (select max(occurred_at) from core.fact_skills_assessment))""")

# --- staff in scope ----------------------------------------------------------------------------------------

# The directory's staff in scope, or while it holds no rows at all everyone seen in any source.
STAFF_IN_SCOPE = """
    select pseudonym, org_unit, staff_group, system, go_live_wave
    from core.staff_directory where in_scope
    union all
    select pseudonym, org_unit, staff_group, system, go_live_wave
    from core.dim_staff where not exists (select from core.staff_directory)
"""


def subject_filter(column: str) -> str:
    """`SUBJECT_FILTER` on `column`."""
    return SUBJECT_FILTER.format(column=column)


# What base query templates (warehouse/metrics/sql/) call: `{{ latest_form_responses() }}`, ...
template_globals(
    weeks_since_go_live=weeks_since_go_live, subject_filter=subject_filter,
    latest_form_responses=latest_form_responses, latest_helpdesk_tickets=latest_helpdesk_tickets,
    latest_skills_assessments=latest_skills_assessments, STAFF_IN_SCOPE=STAFF_IN_SCOPE,
    FIRST_RESPONSE_WEEK=FIRST_RESPONSE_WEEK, LAST_RESPONSE_WEEK=LAST_RESPONSE_WEEK,
    FIRST_TICKET_DAY=FIRST_TICKET_DAY, LAST_TICKET_DAY=LAST_TICKET_DAY,
    FIRST_TRAINING_WEEK=FIRST_TRAINING_WEEK, LAST_DATA_WEEK=LAST_DATA_WEEK,
)

NET_EXPERIENCE_SCORE = register(Metric(
    id="net_experience_score",
    title="Net experience score",
    description=(
        "Share of agree/strongly agree answers minus share of disagree/strongly disagree answers over all "
        "agree/disagree items, neutral answers left out; -100 to +100 (as in the KLAS Arch Collaborative's "
        "Net EHR Experience Score)."),
    unit="score",
    numerator="answers 4-5 minus answers 1-2",
    denominator="answers 1, 2, 4 or 5 (neutral excluded)",
    better="higher",
    kinds=("form_response",),
    # One row per response (its answers summed) rather than per answer: the same sums from a seventh of
    # the rows to group.
    base=template("net_experience_responses.sql"),
    type="ratio",
    measures=(
        Measure("net_answers", "sum", "direction", description="answers 4-5 minus answers 1-2"),
        Measure("answers", "sum", "counted", description="answers 1, 2, 4 or 5"),
        Measure("net_answers_squared", "sum", "direction * direction"),
        Measure("net_answers_by_answers", "sum", "direction * counted"),
        Measure("answers_squared", "sum", "counted * counted"),
    ),
    numerator_measure="net_answers",
    denominator_measure="answers",
    # A row is a response: x its net answers, w its answers counted. Its items are answered by one person at
    # once, so the responses, not the answers, are the units sampled.
    interval="net",
    second_moment="net_answers_squared",
    row_weights=("net_answers_by_answers", "answers_squared"),
))
