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

from warehouse.metrics.definitions.common import FIRST_TICKET_DAY, LAST_TICKET_DAY
from warehouse.metrics.metric import Measure, Metric, RowsOf, register, template
from warehouse.metrics.templates import template_globals

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


template_globals(request_type=request_type_sql)  # {{ request_type() }} in tickets_opened.sql

_TICKET_SPAN = f"select {FIRST_TICKET_DAY} as first_day, {LAST_TICKET_DAY} as last_day"

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
    base=template("tickets_and_staff_weeks.sql"),
    type="ratio",
    measures=(
        Measure("tickets", "sum", "tickets", description="tickets opened"),
        Measure("staff_weeks", "sum", "staff", description="staff in scope, once per week"),
        # The group the rate is about is the staff in scope, not the requesters or the tickets.
        Measure("staff_in_scope", "count_distinct", "subject", filter="staff = 1"),
    ),
    numerator_measure="tickets",
    denominator_measure="staff_weeks",
    n="staff_in_scope",
    interval="poisson",  # tickets over staff-weeks
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
        base=template("tickets_opened.sql"),
        type="ratio",
        measures=(Measure(f"tickets_{kind}", "count", filter=f"request_type = '{kind}'"),
                  Measure("tickets", "count")),
        numerator_measure=f"tickets_{kind}",
        denominator_measure="tickets",
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
    base=template("tickets_resolved.sql"),
    type="simple",
    measures=(Measure("median_hours", "median", "hours_to_resolve"),),
    expr="median_hours",
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
    base=template("tickets_resolved.sql"),
    type="ratio",
    measures=(Measure("reopened", "sum", "reopened"), Measure("resolved", "count")),
    numerator_measure="reopened",
    denominator_measure="resolved",
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
    base=template("tickets_opened_and_closed.sql"),
    type="derived",
    measures=(Measure("opened", "sum", "opened"), Measure("closed", "sum", "closed")),
    expr="opened - closed",
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
    base=template("tickets_resolved.sql", rated=True),
    type="simple",
    measures=(
        Measure("mean_satisfaction", "average", "satisfaction"),
        Measure("satisfaction", "sum", "satisfaction"),
        Measure("rated", "count"),
        Measure("satisfaction_squared", "sum", "satisfaction * satisfaction"),
    ),
    expr="mean_satisfaction",
    numerator_measure="satisfaction",
    denominator_measure="rated",
    interval="mean",
    second_moment="satisfaction_squared",
))

# ------------------------------------------------------------------------------------------ skills

SKILLS_DOMAINS = ("identity_wellbeing_safety", "communication_collaboration", "information_data_content",
                  "teaching_learning", "technical_proficiency", "creation_innovation_research")
GAP_MIN_GROUP = 5  # people assessed in a staff group in the period for it to count in the gap

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
        base=template("skills_scores.sql", phase=phase),
        type="simple",
        measures=(Measure("mean_score", "average", "score"), Measure("score", "sum", "score"),
                  Measure("scores", "count")),
        expr="mean_score",
        numerator_measure="score",
        denominator_measure="scores",
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
        base=template("skills_changes.sql", domain=domain),
        rows_of=RowsOf(template("skills_changes.sql", domain=None), where=f"domain = '{domain}'") if domain else None,
        type="derived",
        measures=(
            Measure("mean_follow_up", "average", "follow_up_score"),
            Measure("mean_baseline", "average", "baseline_score"),
            Measure("change", "sum", "follow_up_score - baseline_score"),
            Measure("pairs", "count", description="paired domain scores"),
            *((Measure("change_squared", "sum",
                       "(follow_up_score - baseline_score) * (follow_up_score - baseline_score)"),)
              if domain else ()),
        ),
        expr="mean_follow_up - mean_baseline",
        numerator_measure="change",
        denominator_measure="pairs",
        # One domain: a mean of paired differences, one per follow-up. Pooled, a follow-up gives one difference
        # per domain, correlated, which an interval treating them as independent would understate: none.
        interval="mean" if domain else "none",
        second_moment="change_squared" if domain else None,
    ))


SKILLS_CHANGE = _change(None)
SKILLS_CHANGE_BY_DOMAIN = {domain: _change(domain) for domain in SKILLS_DOMAINS}

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
    base=template("skills_group_gap.sql", min_group=GAP_MIN_GROUP),
    # A spread of group means is not an aggregate over rows: the base query computes it, one row per period,
    # and the measures pick it up (max and min: not additive, so the gap is regrouped).
    type="simple",
    measures=(Measure("gap", "max", "gap"), Measure("smallest_group", "min", "smallest_group")),
    expr="gap",
    n="coalesce(smallest_group, 0)",
    segments=("trust",),  # a gap between groups exists only across the whole trust
    rows_per="period",  # one row per period, from all of its assessments
))
