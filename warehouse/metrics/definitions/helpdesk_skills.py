r"""Help-desk demand and digital-skills metrics.

Help desk (source: `research.helpdesk_tickets`, the latest known state of each ticket, so a ticket with
several versions counts once):

* Which week a ticket counts in: demand metrics (tickets per 100 staff, request-type shares) use the week
  the ticket was *opened*; outcome metrics (median hours to resolve, reopen rate, satisfaction) use the week
  it was *resolved*. Backlog growth uses both: +1 in the week opened, -1 in the week closed.
* Resolved means status `resolved` or `closed` with a resolution time (`resolved_at`), in the latest state:
  a ticket reopened since has left the resolved set until it is resolved again. Cancelled tickets are not
  resolved, but they do leave the backlog (closed = resolved, closed or cancelled; when it closed is
  `resolved_at`, else the time of its last update).
* Weeks since go-live count from the go-live date of the requester's wave to the day the ticket was opened
  (or resolved), as everywhere else (`weeks_since_go_live`): week 0 is the first seven days of go-live.
* Staff in scope (the denominator of tickets per 100 staff) come from `core.staff_directory` rows with
  `in_scope`; only while the directory holds no rows at all, everyone the warehouse has seen in any source
  (`core.dim_staff`) stands in, which undercounts staff (people who never filled a form or raised a
  ticket are missing) and so overstates the rate. Every ticket opened counts in the numerator, whoever
  raised it (also requesters missing from the directory).

Request-type classification (`REQUEST_TYPE_PATTERNS`, PostgreSQL regular expressions matched
case-insensitively with `~*`; `\m` and `\M` are the start and end of a word). The service desk's own
category decides when it names a type; the summary is read only when the category names none:

1. category matches access > defect > how_to (the first that matches wins), else
2. category names a type that is neither (`OTHER_CATEGORY_PATTERN`: hardware, printers, performance,
   network, ...) -> other, else
3. summary matches access > defect > how_to (first match wins), else other.

Access comes first because a login or smartcard problem often reads as an error ("login error" is access,
not defect); defect comes before how-to because "how do I get round this error" reports a fault. Reading the
category first keeps "How do I / training" tickets whose summary mentions an error ("How do I cancel an
order placed in error?") as how-to, and hardware faults ("Computer on wheels battery failed") as other
rather than defects of the system. With the synthetic categories: "Access / login" -> access,
"Defect / error" -> defect, "How do I / training" -> how_to, "Hardware / printer" and "Performance" ->
other. Anything unrecognised falls to other, so the four shares add up to 100.

Digital skills (source: `core.fact_skills_assessment`, the latest version of each response, one score 1-5
per domain of the six-domain national digital capability framework, `SkillsDomain`):

* Skills are not weekly phenomena: an assessment counts in the week it was submitted (baselines fall
  before go-live, follow-ups after it, so on the week-since-go-live grain baselines sit at negative weeks).
* Change pairs each follow-up response with the same person's latest baseline submitted before it, and
  compares domain by domain (only domains scored in both); people without a baseline are left out.
  A change counts in the week of the follow-up.
* The staff-group gap ("digital divide") is max - min of the staff groups' mean follow-up scores in the
  period. It is not an aggregate over base rows (it needs a mean per group, then a spread over groups), so
  the base query computes it in a subquery, one row per period, and the aggregates just pick it up. It is
  only meaningful trust-wide: the rows carry no org unit, staff group, system or wave, so only trust cells
  come out. Staff groups with fewer than `GAP_MIN_GROUP` people assessed in the period are left out of
  the gap, and n is the smallest group used, so suppression hides the gap if any group behind it is
  smaller than the configured minimum.
"""

from __future__ import annotations

from warehouse.metrics.definitions.common import (
    FIRST_TICKET_DAY,
    LAST_TICKET_DAY,
    STAFF_IN_SCOPE,
    latest_helpdesk_tickets,
    latest_skills_assessments,
    weeks_since_go_live,
)
from warehouse.metrics.metric import Metric, register

# ------------------------------------------------------------------------------------------ classification

# Ordered by precedence. PostgreSQL ARE syntax (not Python's): \m / \M are word boundaries; no colons
# (they would read as bind parameters) and no single quotes (the patterns are inlined as SQL literals).
REQUEST_TYPE_PATTERNS: dict[str, str] = {
    "access": (r"\m(log(ged|ging)? ?(in|on)|logins?|logons?|sign(ed)? ?(in|on)|single sign|sso|passwords?"
               r"|smart ?cards?|accounts?|locked|unlock|permissions?|access (request|denied|rights)"
               r"|(no|needs?|request|requesting) access)\M"),
    "defect": (r"\m(errors?|bugs?|crash(es|ed|ing)?|fail(s|ed|ing|ure|ures)?|broken|not working"
               r"|does ?n.?t work|defects?)\M"),
    "how_to": (r"\m(how (do|can|should) (i|we|you)|how to|training|guidance|advice|questions?"
               r"|where (is|are|do i find|can i find)|can.?t find|cannot find|unable to find)\M"),
}
# Categories that name a kind of request that is none of the three (checked on the category only).
OTHER_CATEGORY_PATTERN = (r"\m(hardware|printers?|printing|scanners?|devices?|peripherals?|network|wi-?fi"
                          r"|telephony|phones?|performance|slow|speed)\M")
REQUEST_TYPES = (*REQUEST_TYPE_PATTERNS, "other")


def _literal(pattern: str) -> str:
    if "'" in pattern or ":" in pattern:
        raise ValueError(f"pattern {pattern!r} must not contain quotes or colons")
    return f"'{pattern}'"


def request_type_sql(category: str = "t.category", summary: str = "t.summary") -> str:
    """SQL CASE classifying a ticket as access, defect, how_to or other (see the module docstring)."""
    whens = [f"when {category} ~* {_literal(p)} then '{kind}'" for kind, p in REQUEST_TYPE_PATTERNS.items()]
    whens.append(f"when {category} ~* {_literal(OTHER_CATEGORY_PATTERN)} then 'other'")
    whens += [f"when {summary} ~* {_literal(p)} then '{kind}'" for kind, p in REQUEST_TYPE_PATTERNS.items()]
    return "case " + " ".join(whens) + " else 'other' end"


# ------------------------------------------------------------------------------------------ SQL pieces

_DIMS = "t.org_unit, t.staff_group, t.system, t.go_live_wave"
_RESOLVED = "t.resolved_at is not null and t.status in ('resolved', 'closed')"
_RESOLVED_DAY = "(t.resolved_at at time zone 'UTC')::date"
_CLOSED_DAY = "(coalesce(t.resolved_at, t.updated_at) at time zone 'UTC')::date"
_TICKETS = latest_helpdesk_tickets()

# Ticket rows in the week opened.
_OPENED_BASE = f"""
    select t.opened_week_start as week_start, {weeks_since_go_live("t.opened_date")} as weeks_since_go_live,
           {_DIMS}, t.requester_pseudonym as subject, t.source as _src, t.ticket_id as _rid,
           {request_type_sql()} as request_type
    from ({_TICKETS}) t
    left join core.dim_wave w using (go_live_wave)
"""

# Resolved tickets in the week resolved.
_RESOLVED_BASE = f"""
    select date_trunc('week', {_RESOLVED_DAY})::date as week_start,
           {weeks_since_go_live(_RESOLVED_DAY)} as weeks_since_go_live,
           {_DIMS}, t.requester_pseudonym as subject, t.source as _src, t.ticket_id as _rid,
           t.hours_to_resolve, (t.reopen_count > 0)::int as reopened, t.satisfaction
    from ({_TICKETS}) t
    left join core.dim_wave w using (go_live_wave)
    where {_RESOLVED}
"""

_TICKET_SPAN = f"select {FIRST_TICKET_DAY} as first_day, {LAST_TICKET_DAY} as last_day"
_TICKETS_AND_STAFF_BASE = f"""
    with staff as ({STAFF_IN_SCOPE}),
    span as (
        select first_day, last_day, date_trunc('week', first_day)::date as first_week,
               date_trunc('week', last_day)::date as last_week
        from ({_TICKET_SPAN}) d
    )
    -- one row per ticket, in the week opened
    select t.opened_week_start as week_start, {weeks_since_go_live("t.opened_date")} as weeks_since_go_live,
           {_DIMS}, t.requester_pseudonym as subject, 1 as tickets, 0 as staff,
           t.source as _src, t.ticket_id as _rid
    from ({_TICKETS}) t
    left join core.dim_wave w using (go_live_wave)
    union all
    -- grain week: each person in scope once per calendar week the ticket data spans
    select wk::date, null::int, s.org_unit, s.staff_group, s.system, s.go_live_wave, s.pseudonym, 0, 1,
           null::text, null::text
    from staff s cross join span
    cross join generate_series(greatest(span.first_week, cast(:_since as date))::timestamp,
                               span.last_week::timestamp, interval '7 days') wk
    union all
    -- grain week_since_go_live: each person in scope once per week since their wave's go-live it spans
    select null::date, k, s.org_unit, s.staff_group, s.system, s.go_live_wave, s.pseudonym, 0, 1,
           null::text, null::text
    from staff s join core.dim_wave w using (go_live_wave) cross join span
    cross join generate_series(greatest({weeks_since_go_live("span.first_day")},
                                        {weeks_since_go_live("cast(:_since as date)")}),
                               {weeks_since_go_live("span.last_day")}) k
    where w.go_live_date is not null
"""

# ------------------------------------------------------------------------------------------ help desk

TICKETS_PER_100_STAFF = register(Metric(
    id="tickets_per_100_staff",
    title="Help-desk tickets per 100 staff",
    description=(
        "Help-desk tickets opened in the week per 100 staff in scope; on the week-since-go-live grain this is "
        "the post-go-live demand curve. Every ticket opened counts once (its latest state), whoever raised it. "
        "Staff in scope come from the staff directory (in_scope); while the directory is empty, everyone seen "
        "in any source stands in, which undercounts staff and overstates the rate. Staff are counted in every "
        "week the ticket data spans (on the week-since-go-live grain, every week since their wave's go-live it "
        "spans). n is the staff in scope in the segment, so the rate of a small team is hidden."),
    unit="per 100 staff",
    numerator="tickets opened in the week",
    denominator="staff in scope",
    better="lower",
    kinds=("helpdesk_ticket",),
    span_sql=_TICKET_SPAN,
    base_sql=_TICKETS_AND_STAFF_BASE,
    value_sql="100.0 * sum(tickets) / nullif(sum(staff), 0)",
    numerator_sql="sum(tickets)",
    denominator_sql="sum(staff)",
    interval="poisson",  # tickets over staff-weeks
    # The group the rate is about is the staff in scope, not the requesters or the tickets.
    n_sql="count(distinct subject) filter (where staff = 1)",
))

_SHARE_TITLES = {"access": "access (login, password, smartcard, account, permission)",
                 "defect": "defects (errors, faults, crashes)",
                 "how_to": "how-to questions (how do I, training, guidance)",
                 "other": "other requests (hardware, performance, anything unclassified)"}


def _share(kind: str) -> Metric:
    return register(Metric(
        id=f"ticket_share_{kind}",
        title=f"Share of tickets: {_SHARE_TITLES[kind]}",
        description=(
            f"Percentage of the help-desk tickets opened in the week classified as {kind}. Classification by "
            "regular expressions (precedence access > defect > how-to > other): the ticket's category decides "
            "when it names a type (a category naming hardware, printers, performance or the network is other); "
            "otherwise its summary text is read the same way; unmatched tickets are other. "
            "The four shares add up to 100. Patterns: warehouse/metrics/definitions/helpdesk_skills.py. "
            "n is the people who raised the tickets."),
        unit="%",
        numerator=f"tickets opened in the week classified {kind}",
        denominator="tickets opened in the week",
        better="lower",
        kinds=("helpdesk_ticket",),
        base_sql=_OPENED_BASE,
        value_sql=f"100.0 * count(*) filter (where request_type = '{kind}') / nullif(count(*), 0)",
        numerator_sql=f"count(*) filter (where request_type = '{kind}')",
        denominator_sql="count(*)",
        interval="wilson",
    ))


TICKET_SHARES = {kind: _share(kind) for kind in REQUEST_TYPES}

MEDIAN_HOURS_TO_RESOLVE = register(Metric(
    id="median_hours_to_resolve",
    title="Median hours to resolve a ticket",
    description=(
        "Median hours from opened to resolved over the help-desk tickets resolved in the week (status resolved "
        "or closed with a resolution time, latest state; cancelled tickets are left out). Calendar hours, not "
        "service hours. n is the people who raised those tickets."),
    unit="hours",
    numerator="hours from opened to resolved (median) of tickets resolved in the week",
    denominator="",
    better="lower",
    kinds=("helpdesk_ticket",),
    base_sql=_RESOLVED_BASE,
    value_sql="percentile_cont(0.5) within group (order by hours_to_resolve)",
))

REOPEN_RATE = register(Metric(
    id="reopen_rate",
    title="Ticket reopen rate",
    description=(
        "Percentage of the help-desk tickets resolved in the week that were reopened at least once "
        "(reopen_count > 0). Only resolved tickets count in the denominator (status resolved or closed with a "
        "resolution time, latest state). n is the people who raised those tickets."),
    unit="%",
    numerator="tickets resolved in the week that were reopened at least once",
    denominator="tickets resolved in the week",
    better="lower",
    kinds=("helpdesk_ticket",),
    base_sql=_RESOLVED_BASE,
    value_sql="100.0 * sum(reopened) / nullif(count(*), 0)",
    numerator_sql="sum(reopened)",
    denominator_sql="count(*)",
    interval="wilson",
))

BACKLOG_GROWTH = register(Metric(
    id="backlog_growth",
    title="Help-desk backlog growth",
    description=(
        "Tickets opened in the week minus tickets closed in the week (resolved, closed or cancelled: a "
        "cancelled ticket leaves the backlog too); negative when the backlog shrinks. Summed over weeks it "
        "gives the open backlog. A ticket closes when resolved, or at its last update if it has no "
        "resolution time. n is the people who raised the tickets opened or closed."),
    unit="tickets",
    numerator="tickets opened in the week minus tickets closed in the week",
    denominator="",
    better="lower",
    kinds=("helpdesk_ticket",),
    base_sql=f"""
        select t.opened_week_start as week_start, {weeks_since_go_live("t.opened_date")} as weeks_since_go_live,
               {_DIMS}, t.requester_pseudonym as subject, t.source as _src, t.ticket_id as _rid,
               1 as opened, 0 as closed
        from ({_TICKETS}) t
        left join core.dim_wave w using (go_live_wave)
        union all
        select date_trunc('week', {_CLOSED_DAY})::date, {weeks_since_go_live(_CLOSED_DAY)},
               {_DIMS}, t.requester_pseudonym, t.source, t.ticket_id, 0, 1
        from ({_TICKETS}) t
        left join core.dim_wave w using (go_live_wave)
        where t.status in ('resolved', 'closed', 'cancelled')
    """,
    value_sql="sum(opened) - sum(closed)",
))

HELPDESK_SATISFACTION = register(Metric(
    id="helpdesk_satisfaction",
    title="Help-desk satisfaction",
    description=(
        "Mean requester satisfaction (1 very dissatisfied .. 5 very satisfied) over the help-desk tickets "
        "resolved in the week that have a rating (unrated tickets are left out; a mean, not % satisfied, so "
        "a shift from 1 to 3 shows). n is the people who gave those ratings."),
    unit="score 1-5",
    numerator="sum of satisfaction ratings of rated tickets resolved in the week",
    denominator="rated tickets resolved in the week",
    better="higher",
    kinds=("helpdesk_ticket",),
    base_sql=_RESOLVED_BASE + "      and t.satisfaction is not null\n",
    value_sql="avg(satisfaction)",
    numerator_sql="sum(satisfaction)",
    denominator_sql="count(*)",
    interval="mean",
    second_moment_sql="sum(satisfaction * satisfaction)",
))

# ------------------------------------------------------------------------------------------ skills

SKILLS_DOMAINS = ("identity_wellbeing_safety", "communication_collaboration", "information_data_content",
                  "teaching_learning", "technical_proficiency", "creation_innovation_research")
GAP_MIN_GROUP = 5  # people assessed in a staff group in the period for it to count in the gap

# Each follow-up (early-filtered) with the same person's latest baseline submitted before it, from any week.
# One join on the person (indexed) and DISTINCT ON per follow-up: each follow-up meets only its own person's
# baselines, rather than a lookup per follow-up through every response. Ties on the baseline's time are
# broken by its version and id, so every refresh pairs alike.
_PAIRS = f"""
    select distinct on (fu.source, fu.source_record_id) fu.*, bl.scores as baseline_scores
    from ({latest_skills_assessments("follow_up")}) fu
    join ({latest_skills_assessments("baseline", early=False)}) bl
      on bl.pseudonym = fu.pseudonym and bl.occurred_at < fu.occurred_at
    order by fu.source, fu.source_record_id, bl.occurred_at desc, bl.record_version desc, bl.source desc,
             bl.source_record_id desc
"""
# A follow-up pairs with an earlier baseline: events that change a person's assessment responses (any of
# their versions) can change the pairing of that person's follow-ups dated after them, in any later week.
_REPAIRED_FOLLOW_UPS = """
    with changed as (
        select f.pseudonym, min(f.occurred_at) as since
        from core.fact_skills_assessment f
        join (select distinct source, source_record_id from raw.events
              where loaded_at >= :since and kind = 'skills_assessment'
              union select source, source_record_id from core.fact_retraction
              where loaded_at >= :since and retracted_kind = 'skills_assessment') n using (source, source_record_id)
        group by f.pseudonym
    )
    select f.occurred_at as d
    from core.fact_skills_assessment f join changed c using (pseudonym)
    where f.phase = 'follow_up' and f.occurred_at > c.since
"""


def _scores_base(phase: str) -> str:
    return f"""
        select r.week_start, {weeks_since_go_live("r.date")} as weeks_since_go_live,
               r.org_unit, r.staff_group, r.system, r.go_live_wave, r.pseudonym as subject,
               r.source as _src, r.source_record_id as _rid, s.key as domain, (s.value)::int as score
        from ({latest_skills_assessments(phase)}) r
        left join core.dim_wave w using (go_live_wave)
        cross join lateral jsonb_each(r.scores) s
    """


def _change_base(domain: str | None) -> str:
    only = f"and f.key = '{domain}'" if domain else ""
    return f"""
        select p.week_start, {weeks_since_go_live("p.date")} as weeks_since_go_live,
               p.org_unit, p.staff_group, p.system, p.go_live_wave, p.pseudonym as subject,
               f.key as domain, (f.value)::int as follow_up_score,
               (p.baseline_scores ->> f.key)::int as baseline_score
        from ({_PAIRS}) p
        left join core.dim_wave w using (go_live_wave)
        cross join lateral jsonb_each(p.scores) f
        where jsonb_typeof(p.baseline_scores -> f.key) = 'number' {only}
    """


_PHASES = {"baseline": ("baseline", "before go-live"), "follow_up": ("follow-up", "after go-live")}


def _mean(phase: str) -> Metric:
    name, when = _PHASES[phase]
    return register(Metric(
        id=f"skills_mean_{phase}",
        title=f"Digital capability, {name} (mean self-assessment)",
        description=(
            f"Mean self-assessed digital capability (1 none .. 5 expert) over every domain score of the {name} "
            f"assessments ({when}) submitted in the week; all six domains of the national digital capability "
            "framework pooled, each response's latest version. Skills are not weekly: the week is when the "
            "assessment was submitted. Per staff group this shows the digital divide. n is the people assessed."),
        unit="score 1-5",
        numerator=f"sum of domain scores of {name} assessments submitted in the week",
        denominator=f"domain scores of {name} assessments submitted in the week",
        better="higher",
        kinds=("skills_assessment",),
        base_sql=_scores_base(phase),
        value_sql="avg(score)",
        numerator_sql="sum(score)",
        denominator_sql="count(*)",
        # No interval: an assessment gives a score per domain, correlated, and the rows are the scores.
    ))


SKILLS_MEAN_BASELINE = _mean("baseline")
SKILLS_MEAN_FOLLOW_UP = _mean("follow_up")


def _change(domain: str | None) -> Metric:
    scope = f"the {domain.replace('_', ' ')} domain" if domain else "every domain scored in both"
    return register(Metric(
        id=f"skills_change_{domain}" if domain else "skills_change",
        title=(f"Digital capability change: {domain.replace('_', ' ')}" if domain
               else "Digital capability change (follow-up minus baseline)"),
        description=(
            f"Mean follow-up score minus mean baseline score (1-5 scale) over {scope}, for the same people: "
            "each follow-up response is paired with the same person's latest baseline submitted before it, "
            "domain by domain; people without a baseline are left out. Counted in the week of the follow-up. "
            "n is the people with both."),
        unit="points (1-5 scale)",
        numerator="sum over paired domain scores of follow-up minus baseline",
        denominator="paired domain scores (follow-up with a baseline of the same person and domain)",
        better="higher",
        kinds=("skills_assessment",),
        touched_sql=_REPAIRED_FOLLOW_UPS,
        rows_per="subject",
        base_sql=_change_base(domain),
        value_sql="avg(follow_up_score) - avg(baseline_score)",
        numerator_sql="sum(follow_up_score - baseline_score)",
        denominator_sql="count(*)",
        # One domain: a mean of paired differences, one per follow-up. Pooled, a follow-up gives one difference
        # per domain, correlated, which an interval treating them as independent would understate: none.
        interval="mean" if domain else "none",
        second_moment_sql=("sum((follow_up_score - baseline_score) * (follow_up_score - baseline_score))"
                           if domain else None),
    ))


SKILLS_CHANGE = _change(None)
SKILLS_CHANGE_BY_DOMAIN = {domain: _change(domain) for domain in SKILLS_DOMAINS}

_GAP_BASE = f"""
    with scores as (
        select r.week_start, {weeks_since_go_live("r.date")} as weeks_since_go_live, r.staff_group,
               r.pseudonym, (s.value)::int as score
        from ({latest_skills_assessments("follow_up")}) r
        left join core.dim_wave w using (go_live_wave)
        cross join lateral jsonb_each(r.scores) s
    ),
    by_week as (
        select week_start, staff_group, avg(score) as mean, count(distinct pseudonym) as people
        from scores group by week_start, staff_group
        having count(distinct pseudonym) >= {GAP_MIN_GROUP}
    ),
    by_since as (
        select weeks_since_go_live, staff_group, avg(score) as mean, count(distinct pseudonym) as people
        from scores where weeks_since_go_live is not null group by weeks_since_go_live, staff_group
        having count(distinct pseudonym) >= {GAP_MIN_GROUP}
    )
    -- one row per period and grain (the other grain's column is null, so each grain reads its own rows);
    -- no org unit, staff group, system or wave: only trust cells come out
    select week_start, null::int as weeks_since_go_live, null::text as org_unit, null::text as staff_group,
           null::text as system, null::text as go_live_wave, null::text as subject,
           max(mean) - min(mean) as gap, min(people) as smallest_group
    from by_week group by week_start having count(*) >= 2
    union all
    select null::date, weeks_since_go_live, null, null, null, null, null,
           max(mean) - min(mean), min(people)
    from by_since group by weeks_since_go_live having count(*) >= 2
"""

SKILLS_GROUP_GAP = register(Metric(
    id="skills_group_gap",
    title="Digital divide: gap between staff groups' follow-up capability",
    description=(
        "Trust-wide only: the highest minus the lowest staff group's mean follow-up self-assessment score "
        "(1-5, all domains pooled) among the follow-up assessments submitted in the period. Staff groups with "
        f"fewer than {GAP_MIN_GROUP} people assessed in the period are left out; at least two groups are "
        "needed. Computed in a subquery of the base query (a spread of group means is not an aggregate over "
        "rows). n is the smallest staff group used, so the gap is hidden if any group behind it is small."),
    unit="points (1-5 scale)",
    numerator="highest staff group mean minus lowest staff group mean (follow-up)",
    denominator="",
    better="lower",
    kinds=("skills_assessment",),
    base_sql=_GAP_BASE,
    value_sql="max(gap)",
    n_sql="coalesce(min(smallest_group), 0)",
    segments=("trust",),  # a gap between groups exists only across the whole trust
    rows_per="period",  # one row per period, from all of its assessments
))
