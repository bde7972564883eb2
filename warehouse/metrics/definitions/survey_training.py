"""Survey, training and free-text metrics: eNPS, training coverage and readiness, participation, time saved,
comment themes and comment sentiment.

Staff in scope
    The denominators of coverage, readiness, participation and the scaling of time saved are the staff in
    scope: `core.staff_directory` rows with `in_scope` true, segmented by the directory's org unit, staff
    group, system and wave. When the directory is empty (no export loaded yet) every person seen in any
    source (`core.dim_staff`, with the attributes most recently seen) stands in for it, so the metrics still
    work on a fresh install; load the directory for true denominators. Respondents and learners who are not in
    scope are left out of those metrics.

Person-week metrics and the week since go-live
    Coverage, readiness, participation and time saved have one base row per person in scope and week. The
    week since go-live of such a row is that of the week's last day (Sunday): the week in which the wave goes
    live is week 0 and the week before it is week -1, whatever the weekday of the go-live. Metrics with one row
    per response (eNPS, comments) use the response's own date, like the net experience score.

Comment themes (`THEMES`)
    Each theme is a list of PostgreSQL regular expressions (Advanced Regular Expression syntax: `\\m` and
    `\\M` mark the start and end of a word), matched case-insensitively with `~*` in the database; a comment
    mentions a theme when any of its patterns matches. A comment can mention several themes or none.

    - login_access: logging in or out, smartcards, passwords, locked accounts, access, single sign-on, roles.
    - speed_performance: slowness, freezing, crashes, time-outs, lag, loading, things taking ages.
    - training: training, e-learning, courses, modules, refreshers, classroom, floor-walkers, super users.
    - workflow: workflow, handover, discharge, clicks, double entry, duplicates, things taking longer,
      orders, alerts and pop-ups, documentation, medication and drug rounds, scanning, workarounds.
    - hardware_devices: computers and PCs, computers on wheels (COWs/WOWs), laptops, printers, scanners,
      barcodes, wristbands, batteries, devices, Wi-Fi, keyboards, docking stations.
    - support: support, service/help desk, digital/IT team, tickets, floor-walkers, super users,
      nobody to ask, on hold.
    - patient_safety: patient safety, (un)safe, allergies, incidents and Datix, near misses, missed doses,
      wrong patient/dose/drug, medication errors, clinical risk, harm, clicking through alerts.
    - positive: easier, quicker, faster, better, great, brilliant, excellent, helpful, improved, saves time,
      in one place, would not go back.

Comment sentiment (`SENTIMENT`)
    score = (#positive) - (#negative) per comment, counting every occurrence of a word or phrase in the
    lexicon. A positive word right after a negator ("not easy", "never quick", "isn't better") counts as
    negative instead. A comment without lexicon words scores 0. The score is a rough lexicon measure:
    compare it over time and between groups rather than reading one comment's score.

Only non-empty comments (after trimming spaces) count; free text was scrubbed of identifiers at the
connector. Comment metrics use the higher minimum group size (`metrics.comment_min_group_size`).
"""

from __future__ import annotations

from warehouse.metrics.definitions.common import (
    FIRST_RESPONSE_WEEK,
    FIRST_TRAINING_WEEK,
    LAST_DATA_WEEK,
    LAST_RESPONSE_WEEK,
)
from warehouse.metrics.metric import Measure, Metric, RowsOf, register, template
from warehouse.metrics.templates import template_globals

FORM = ("form_response",)
ALL_KINDS = ("form_response", "helpdesk_ticket", "training_record", "skills_assessment")

# --- eNPS ------------------------------------------------------------------------------------------------

ENPS = register(Metric(
    id="enps",
    title="Employee Net Promoter Score (eNPS)",
    description=(
        "Answers to the 0-10 'would you recommend' item in the week of the response: percentage of "
        "promoters (9-10) minus percentage of detractors (0-6); passives (7-8) count in the denominator "
        "only. Range -100 to +100. Responses without an answer to the item are left out. Each response "
        "counts once (the latest version of a response is used)."),
    unit="score",
    numerator="promoters (9-10) minus detractors (0-6)",
    denominator="responses answering the 0-10 recommend item",
    better="higher",
    kinds=FORM,
    base=template("enps_responses.sql"),
    type="ratio",
    measures=(
        Measure("net_promoters", "sum", "direction", description="promoters minus detractors"),
        Measure("responses", "count"),
        Measure("promoters_and_detractors", "sum", "direction * direction"),
    ),
    numerator_measure="net_promoters",
    denominator_measure="responses",
    interval="net",
    second_moment="promoters_and_detractors",
))

# --- training coverage and readiness ---------------------------------------------------------------------

_COVERAGE_MEASURES = (Measure("completed", "sum", "completed", description="staff with a required course done"),
                      Measure("staff", "count", description="staff in scope"))
_COVERAGE_SPAN = f"select {FIRST_TRAINING_WEEK}, {LAST_DATA_WEEK}"
_REQUIRED_TEXT = (
    "A required course is one listed in the setting metrics.required_courses, or, when that list is empty, "
    "one whose training record says required = true. Completed means a 'completed' or 'passed' statement; "
    "enrolled, attempted and failed do not count. Cumulative: a completion counts in its week and every "
    "week after. Staff in scope come from the staff directory (in_scope = true), segmented by the "
    "directory's org unit, staff group, system and wave; while no directory is loaded, every person seen "
    "in any source stands in for it. Weeks run from the first training record to the latest week with "
    "any data. Week since go-live: the week in which the wave goes live is week 0, negative before it.")

TRAINING_COVERAGE = register(Metric(
    id="training_coverage",
    title="Training coverage (required training completed)",
    description=(
        "Percentage of staff in scope who have completed at least one required course by the end of the "
        "week. " + _REQUIRED_TEXT),
    unit="%",
    numerator="staff in scope with a required course completed by the end of the week",
    denominator="staff in scope",
    better="higher",
    kinds=ALL_KINDS,
    cumulative=True,
    span_sql=_COVERAGE_SPAN,
    rows_per="subject",
    base=template("training_coverage.sql"),
    type="ratio",
    measures=_COVERAGE_MEASURES,
    numerator_measure="completed",
    denominator_measure="staff",
    interval="wilson",
))

TRAINING_READINESS_GAP = register(Metric(
    id="training_readiness_gap",
    title="Training readiness against target",
    description=(
        "Training coverage (percentage of staff in scope with a required course completed by the end of the "
        "week) minus the readiness target, the setting metrics.readiness_target_pct (default 90), in "
        "percentage points: negative means below target. By week since go-live it shows readiness in the "
        "weeks before each wave's go-live (negative weeks). " + _REQUIRED_TEXT),
    unit="percentage points",
    numerator="staff in scope with a required course completed by the end of the week",
    denominator="staff in scope (value = numerator / denominator x 100 - readiness target)",
    better="higher",
    kinds=ALL_KINDS,
    cumulative=True,
    span_sql=_COVERAGE_SPAN,
    rows_per="subject",
    base=template("training_coverage.sql"),
    type="ratio",
    measures=_COVERAGE_MEASURES,
    numerator_measure="completed",
    denominator_measure="staff",
    offset="-:readiness_target_pct",
    interval="wilson",  # coverage's, less the target
))

# --- participation ---------------------------------------------------------------------------------------

_FORM_SPAN = f"select {FIRST_RESPONSE_WEEK}, {LAST_RESPONSE_WEEK}"

PARTICIPATION = register(Metric(
    id="participation",
    title="Survey participation",
    description=(
        "Percentage of staff in scope who sent at least one form response in the week. Staff in scope come "
        "from the staff directory (in_scope = true), segmented by the directory's attributes, so every "
        "person in scope counts in the denominator whether or not they responded; responses from people "
        "not in scope are left out. While no directory is loaded, every person seen in any source stands "
        "in for it. Weeks run from the first to the last week with a form response."),
    unit="%",
    numerator="staff in scope with a form response in the week",
    denominator="staff in scope",
    better="higher",
    kinds=FORM,
    span_sql=_FORM_SPAN,
    rows_per="subject",
    base=template("survey_participation.sql"),
    type="ratio",
    measures=(Measure("responded", "sum", "responded"), Measure("staff", "count", description="staff in scope")),
    numerator_measure="responded",
    denominator_measure="staff",
    interval="wilson",
))

# --- time saved ------------------------------------------------------------------------------------------

# Hours saved: the respondents' mean minutes per shift, scaled up to the live staff in scope.
_HOURS = "mean_minutes * :shifts_per_week / 60.0 * live_staff"
# Hours per minute of the respondents' mean: the interval of the mean, scaled up to the live staff in scope
# (who are counted, not sampled; respondents are taken as a sample of them, with replacement).
_HOURS_SCALE = ":shifts_per_week / 60.0 * live_staff"
_TIME_SAVED_MEASURES = (
    Measure("mean_minutes", "average", "minutes", description="respondents' mean minutes saved per shift"),
    Measure("live_staff", "count", description="staff in scope whose wave is live"),
    Measure("minutes", "sum", "minutes"),
    Measure("answers", "count", "minutes", description="respondents' weekly means"),
    Measure("respondents", "count_distinct", "subject", filter="minutes is not null"),
    Measure("minutes_squared", "sum", "minutes * minutes"),
)
_TIME_SAVED_TEXT = (
    "Respondents report minutes saved per shift (negative = time lost). Each respondent's mean for the "
    "week counts once; the mean over respondents x shifts per week (setting metrics.shifts_per_week, "
    "default 4) / 60 gives hours saved per person per week, which is scaled up to every member of staff "
    "in scope in the segment whose wave has gone live by the end of the week (or whose wave has no go-live "
    "date): this assumes respondents are typical of their colleagues. Staff in scope come from the staff "
    "directory (all people seen while it is empty); answers from people not in scope are left out. The "
    "numerator and denominator columns hold the respondents' minutes and the number of respondents; the "
    "group size shown is the number of respondents.")

TIME_SAVED_HOURS = register(Metric(
    id="time_saved_hours_per_week",
    title="Staff time saved (hours per week)",
    description=(
        "Total staff hours saved per week in the segment. hours = mean minutes saved per shift among "
        "respondents x shifts_per_week / 60 x staff in scope who are live. " + _TIME_SAVED_TEXT),
    unit="hours",
    numerator="minutes saved per shift, summed over respondents (each respondent's mean for the week)",
    denominator="respondents answering the minutes-saved question (value = numerator / denominator x "
                "shifts_per_week / 60 x live staff in scope)",
    better="higher",
    kinds=FORM,
    span_sql=_FORM_SPAN,
    rows_per="subject",
    base=template("time_saved.sql"),
    type="derived",
    measures=_TIME_SAVED_MEASURES,
    expr=_HOURS,
    numerator_measure="minutes",
    denominator_measure="answers",
    n="respondents",
    interval="mean",
    second_moment="minutes_squared",
    interval_scale=_HOURS_SCALE,
))

TIME_SAVED_FTE = register(Metric(
    id="time_saved_fte",
    title="Staff time saved (FTE)",
    description=(
        "Staff time saved per week in the segment as whole-time equivalents: total hours saved per week / "
        "fte_hours_per_week (setting metrics.fte_hours_per_week, default 37.5), where total hours = mean "
        "minutes saved per shift among respondents x shifts_per_week / 60 x staff in scope who are live. "
        + _TIME_SAVED_TEXT),
    unit="FTE",
    numerator="minutes saved per shift, summed over respondents (each respondent's mean for the week)",
    denominator="respondents answering the minutes-saved question (value = numerator / denominator x "
                "shifts_per_week / 60 x live staff in scope / fte_hours_per_week)",
    better="higher",
    kinds=FORM,
    span_sql=_FORM_SPAN,
    rows_per="subject",
    base=template("time_saved.sql"),
    type="derived",
    measures=_TIME_SAVED_MEASURES,
    expr=f"{_HOURS} / :fte_hours_per_week",
    numerator_measure="minutes",
    denominator_measure="answers",
    n="respondents",
    interval="mean",
    second_moment="minutes_squared",
    interval_scale=f"{_HOURS_SCALE} / :fte_hours_per_week",
))

TIME_SAVED_GBP = register(Metric(
    id="time_saved_gbp_per_week",
    title="Value of staff time saved (GBP per week)",
    description=(
        "Value of the staff time saved per week in the segment, in pounds: total hours saved per week x "
        "hourly_cost_gbp (setting metrics.hourly_cost_gbp, default 25, an average loaded cost of an hour of "
        "staff time), where total hours = mean minutes saved per shift among respondents x shifts_per_week "
        "/ 60 x staff in scope who are live. Time released is not cash released. " + _TIME_SAVED_TEXT),
    unit="GBP",
    numerator="minutes saved per shift, summed over respondents (each respondent's mean for the week)",
    denominator="respondents answering the minutes-saved question (value = numerator / denominator x "
                "shifts_per_week / 60 x live staff in scope x hourly_cost_gbp)",
    better="higher",
    kinds=FORM,
    span_sql=_FORM_SPAN,
    rows_per="subject",
    base=template("time_saved.sql"),
    type="derived",
    measures=_TIME_SAVED_MEASURES,
    expr=f"{_HOURS} * :hourly_cost_gbp",
    numerator_measure="minutes",
    denominator_measure="answers",
    n="respondents",
    interval="mean",
    second_moment="minutes_squared",
    interval_scale=f"{_HOURS_SCALE} * :hourly_cost_gbp",
))

# --- comment themes and sentiment ------------------------------------------------------------------------

# PostgreSQL ARE patterns, matched case-insensitively (`~*`); `\m`/`\M` are the start/end of a word.
THEMES: dict[str, list[str]] = {
    "login_access": [
        r"\mlog(ged|ging|s)?[ -]?(in|on|off|out)\M", r"\mlogins?\M", r"\mlogs? (me|us|you|people) (out|off)\M",
        r"\msmart ?cards?\M", r"\mpass ?words?\M", r"\mlock(ed|s)? (me |us )?out\M", r"\maccess\M",
        r"\msingle sign[- ]?on\M", r"\msign(ed|ing)?[ -]?(in|on)\M", r"\msso\M", r"\maccounts?\M",
        r"\mpermissions?\M", r"\mroles?\M", r"\musernames?\M", r"\mauthenticat", r"\m(2fa|mfa)\M",
    ],
    "speed_performance": [
        r"\mslow(ly|er|ness)?\M", r"\mfreez(e|es|ing)\M", r"\mfroze(n)?\M", r"\mlag(s|gy|ging)?\M",
        r"\mtime[- ]?outs?\M", r"\mtim(es|ed|ing) out\M", r"\mcrash(es|ed|ing)?\M", r"\mhang(s|ing)\M",
        r"\mspinning\M", r"\mbuffering\M", r"\mtak(e|es|ing) (ages|forever)\M", r"\mover a minute\M",
        r"\mloading\M", r"\mperformance\M", r"\mspeed\M", r"\mresponse times?\M",
    ],
    "training": [
        r"\mtrain(ing|ed|er|ers)?\M", r"\me-?learning\M", r"\mcourses?\M", r"\mmodules?\M", r"\mrefresher",
        r"\mfloor[- ]?walk(ers?|ing)\M", r"\msuper[- ]?users?\M", r"\mclassroom", r"\mtutorials?\M",
        r"\mwebinars?\M", r"\mtaught\M", r"\mhow to use\M",
    ],
    "workflow": [
        r"\mwork ?flows?\M", r"\mhandovers?\M", r"\mdischarg", r"\mclicks?\M",
        r"\mdouble[- ]?(entry|documentation|documenting)\M", r"\mduplicat", r"\m(twice|three times) as long\M",
        r"\mtak(e|es|ing) longer\M", r"\mprocess(es)?\M", r"\morder(s|ing)?\M", r"\malerts?\M",
        r"\mpop[- ]?ups?\M", r"\mdocument(ation|ing)?\M", r"\m(medication|drug|ward) rounds?\M",
        r"\mscanning\M", r"\mwork[- ]?arounds?\M", r"\mtemplates?\M", r"\mpathways?\M",
    ],
    "hardware_devices": [
        r"\mcomputers?\M", r"\mpcs?\M", r"\mlaptops?\M", r"\mprinters?\M", r"\mprinting\M", r"\mscanners?\M",
        r"\mbar ?codes?\M", r"\mwristbands?\M", r"\m(cows|wows)\M", r"\mbatter(y|ies)\M", r"\mdevices?\M",
        r"\mipads?\M", r"\mwi-?fi\M", r"\mkeyboards?\M", r"\mmonitors?\M", r"\mmouse\M",
        r"\mdocking stations?\M", r"\mworkstations?\M", r"\mhardware\M",
    ],
    "support": [
        r"\msupport(ed|ive|ing)?\M", r"\mservice ?desk\M", r"\mhelp ?desk\M", r"\mhelpline\M",
        r"\m(it|ict|digital|epr|ehr) (team|department)\M", r"\mtickets?\M", r"\mfloor[- ]?walk(ers?|ing)\M",
        r"\msuper[- ]?users?\M", r"\m(nobody|no one|no-one) to (ask|help)\M", r"\mon hold\M",
    ],
    "patient_safety": [
        r"\mpatient safety\M", r"\msafe(ty|ly|r)?\M", r"\munsafe\M", r"\mallerg(y|ies|ic)\M", r"\mincidents?\M",
        r"\mdatix\M", r"\mnear[- ]?miss(es)?\M", r"\mmissed (doses?|medications?|meds)\M",
        r"\mwrong (patient|dose|drug|medication)s?\M", r"\m(medication|drug|prescribing) errors?\M",
        r"\mclinical risk\M", r"\mharm(ed|ful)?\M", r"\mclick(ing|s)? through\M", r"\malert fatigue\M",
    ],
    "positive": [
        r"\measier\M", r"\mquicker\M", r"\mfaster\M", r"\mbetter\M", r"\mgreat\M", r"\mbrilliant\M",
        r"\mexcellent\M", r"\mfantastic\M", r"\mhelpful\M", r"\mimprove(d|ment|ments)\M",
        r"\msav(e|es|ed|ing) (me |us )?(a lot of |so much |lots of )?time\M", r"\min one place\M",
        r"\mwould(n't|n’t| not) go back\M", r"\mlove\M", r"\mthank", r"\mwell done\M", r"\mworks well\M",
    ],
}
THEME_TITLES: dict[str, str] = {
    "login_access": "login and access", "speed_performance": "speed and performance", "training": "training",
    "workflow": "workflow", "hardware_devices": "hardware and devices", "support": "support",
    "patient_safety": "patient safety", "positive": "positive feedback",
}
# Lexicon for the sentiment score: single words (whole words) and phrases, case-insensitive.
SENTIMENT: dict[str, list[str]] = {
    "positive": [
        "easy", "easier", "quick", "quicker", "faster", "better", "best", "great", "good", "brilliant",
        "excellent", "fantastic", "helpful", "useful", "improved", "improvement", "intuitive", "love", "loved",
        "pleased", "happy", "reliable", "smooth", "simple", "safer", "efficient", "thanks", "thank",
        "saves", "saved", "would not go back", "wouldn't go back", "in one place",
    ],
    "negative": [
        "slow", "slower", "freeze", "freezes", "freezing", "froze", "frozen", "crash", "crashes", "crashed",
        "fail", "fails", "failed", "failing", "broken", "jam", "jams", "jammed", "error", "errors",
        "frustrating", "frustrated", "frustration", "difficult", "hard", "confusing", "confused", "annoying",
        "awful", "terrible", "poor", "worse", "worst", "unsafe", "dangerous", "locked", "lost", "losing",
        "missing", "forgot", "forgotten", "delay", "delays", "delayed", "ages", "longer", "problem",
        "problems", "issue", "issues", "bug", "bugs", "clunky", "cumbersome", "unusable", "nightmare",
        "struggle", "struggling", "stress", "stressful", "waste", "wasted", "useless", "impossible",
        "unreliable", "glitch", "glitchy", "does not work", "doesn't work", "not working", "did not cover",
        "too many", "too early", "too long", "twice as long", "wrong", "waited", "not enough", "never works",
        "do not last", "does not last", "does not show", "more clicks", "logs me out", "several attempts",
    ],
    # A positive word right after one of these counts as negative ("not easy", "isn't better").
    "negators": ["not", "never", "no", "hardly", "n't"],
}


def _alternation(words: list[str]) -> str:
    return "|".join(w.replace(" ", r"\s+").replace("'", "['’]") for w in words)


def _sql_literal(pattern: str) -> str:
    if ":" in pattern:  # SQLAlchemy text() would read `:word` as a bind parameter
        raise ValueError(f"pattern {pattern!r} must not contain ':'")
    return "'" + pattern.replace("'", "''") + "'"


def theme_pattern(theme: str) -> str:
    """One regular expression for a theme: any of its patterns."""
    return "|".join(f"({p})" for p in THEMES[theme])


_POSITIVE_WORDS = [w for w in SENTIMENT["positive"] if " " not in w]
SENTIMENT_PATTERNS: dict[str, str] = {
    "positive": rf"\m({_alternation(SENTIMENT['positive'])})\M",
    "negative": rf"\m({_alternation(SENTIMENT['negative'])})\M",
    "negated_positive": (
        r"(\m(" + "|".join(n for n in SENTIMENT["negators"] if "'" not in n) + r")|n['’]t)"
        r"\s+((very|so|that|any|too|at all)\s+)?(" + _alternation(_POSITIVE_WORDS) + r")\M"),
}


def _count(pattern: str) -> str:
    """Non-overlapping occurrences of `pattern` in the comment (regexp_count: PostgreSQL 15 or later)."""
    return f"regexp_count(r.comment, {_sql_literal(pattern)}, 1, 'i')"


# Each negated positive was counted once as positive: take it back, and count it as negative.
SENTIMENT_SCORE_SQL = (f"({_count(SENTIMENT_PATTERNS['positive'])} - {_count(SENTIMENT_PATTERNS['negative'])}"
                       f" - 2 * {_count(SENTIMENT_PATTERNS['negated_positive'])})")


# What comment_themes.sql and comment_sentiment.sql call.
template_globals(sql_literal=_sql_literal, theme_pattern=theme_pattern, SENTIMENT_SCORE_SQL=SENTIMENT_SCORE_SQL)


_COMMENT_TEXT = (
    "Only non-empty comments count, each response once, in the week of the response. Because free text "
    "is more identifying, the higher minimum group size for comments applies (metrics.comment_min_group_size).")

# Every comment metric's rows, with all of their columns: worked out once in a full refresh (Metric.rows_of).
COMMENTS = template("comment_family.sql", themes=tuple(THEMES))

COMMENT_THEMES: dict[str, Metric] = {}
for _theme, _patterns in THEMES.items():
    COMMENT_THEMES[_theme] = register(Metric(
        id=f"comment_theme_{_theme}",
        title=f"Comments mentioning {THEME_TITLES[_theme]}",
        description=(
            f"Percentage of comments mentioning the theme '{_theme}' ({THEME_TITLES[_theme]}): the comment "
            f"matches any of the theme's {len(_patterns)} case-insensitive keyword patterns (the lexicon "
            "THEMES in warehouse/metrics/definitions/survey_training.py). A comment can mention several "
            "themes. " + _COMMENT_TEXT),
        unit="%",
        numerator=f"comments mentioning {THEME_TITLES[_theme]}",
        denominator="non-empty comments",
        better="higher" if _theme == "positive" else "lower",
        kinds=FORM,
        comment_metric=True,
        base=template("comment_themes.sql", theme=_theme),
        rows_of=RowsOf(COMMENTS, columns=(("mentions", f"mentions_{_theme}"),)),
        type="ratio",
        measures=(Measure("mentions", "sum", "mentions"), Measure("comments", "count")),
        numerator_measure="mentions",
        denominator_measure="comments",
        interval="wilson",
    ))

COMMENT_SENTIMENT = register(Metric(
    id="comment_sentiment",
    title="Comment sentiment",
    description=(
        "Mean sentiment score per comment: score = number of positive words and phrases minus number of "
        "negative ones in the comment (lexicon SENTIMENT in warehouse/metrics/definitions/survey_training.py, "
        "case-insensitive, every occurrence counts); a positive word right after 'not', 'never', 'no', "
        "'hardly' or n't counts as negative. 0 is neutral. A rough lexicon measure: compare over time and "
        "between groups. " + _COMMENT_TEXT),
    unit="score",
    numerator="sum of comment sentiment scores",
    denominator="non-empty comments",
    better="higher",
    kinds=FORM,
    comment_metric=True,
    base=template("comment_sentiment.sql"),
    rows_of=RowsOf(COMMENTS),
    type="simple",
    measures=(
        Measure("mean_sentiment", "average", "sentiment"),
        Measure("sentiment", "sum", "sentiment"),
        Measure("comments", "count"),
        Measure("sentiment_squared", "sum", "sentiment * sentiment"),
    ),
    expr="mean_sentiment",
    numerator_measure="sentiment",
    denominator_measure="comments",
    interval="mean",
    second_moment="sentiment_squared",
))
