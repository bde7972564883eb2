"""Staff feedback: net experience score and comment themes by staff group, and digital skills baseline
against follow-up."""

from __future__ import annotations

from datetime import date

from reporting.charts import experience_chart, skills_domains_chart, skills_groups_chart, themes_chart
from reporting.data import DOMAIN_PREFIX, THEME_PREFIX, Cell, ReportData
from reporting.format import esc, fmt_week, humanise, value_html
from reporting.markup import empty, figure, section, small, table
from reporting.series import Pooled, at_week, latest_week, pick, pooled, recent_weeks, segment_values

NES = "net_experience_score"
TREND_WEEKS = 6
TRUST = "Whole trust"


def _cell_html(cell: Cell | None, min_n: int, unit: str | None = None, digits: int = 1, *,
               signed: bool = False) -> str:
    if cell is None:
        return value_html(None, False, min_n)
    return value_html(cell.value, cell.suppressed, min_n, unit, digits, signed=signed)


def _pooled_html(p: Pooled, min_n: int, digits: int = 2, *, signed: bool = False) -> str:
    return value_html(p.value, p.suppressed, min_n, None, digits, signed=signed)


# --- net experience score ----------------------------------------------------------------------------

def experience_section(data: ReportData) -> str:
    title = "Net experience score by staff group"
    cells = pick(data.experience, NES)
    trust = pick(cells, segment_type="trust")
    week = latest_week(trust)
    if week is None:
        return section("experience", title, empty("No survey responses yet: the net experience score needs "
                                                   "agree/disagree answers."))
    min_n = data.min_group(NES)
    groups = segment_values(cells, "staff_group")
    latest = at_week(pick(cells, segment_type="staff_group"), week)
    chart = experience_chart({g: latest[g] for g in groups if g in latest}, at_week(trust, week).get("all"),
                             min_n, "chart-experience")
    weeks = recent_weeks(trust, TREND_WEEKS)
    rows = [[esc(TRUST), *(_cell_html(at_week(trust, w).get("all"), min_n, None, 0, signed=True) for w in weeks)]]
    for g in groups:
        series = at_week_all(pick(cells, "net_experience_score", "staff_group", g), weeks)
        rows.append([esc(g), *(_cell_html(series[w], min_n, None, 0, signed=True) for w in weeks)])
    headers = ["Staff group", *(fmt_week(w) for w in weeks)]
    intro = ("Share of agree answers minus share of disagree answers over every agree/disagree item about the "
             "system (neutral left out), from \u2212100 to +100. The chart shows the latest week, "
             f"{esc(fmt_week(week))}; the table the last {len(weeks)} weeks.")
    body = [figure(chart, "experience", f"Net experience score, {esc(fmt_week(week))}"), table(headers, rows)]
    return section("experience", title, body, intro)


def at_week_all(cells: list[Cell], weeks: list[date]) -> dict[date, Cell | None]:
    by_week = {c.period_start: c for c in cells}
    return {w: by_week.get(w) for w in weeks}


# --- skills ------------------------------------------------------------------------------------------

def skills_section(data: ReportData) -> str:
    title = "Digital skills: baseline and follow-up"
    base, follow = pick(data.skills, "skills_mean_baseline"), pick(data.skills, "skills_mean_follow_up")
    if not base and not follow:
        return section("skills", title, empty("No skills assessments yet."))
    min_n = data.min_group("skills_mean_baseline")
    groups = segment_values(data.skills, "staff_group")
    segments = [("trust", "all", TRUST)] + [("staff_group", g, g) for g in groups]
    levels: dict[str, tuple[Pooled, Pooled]] = {}
    rows = []
    for segment_type, value, label in segments:
        b = pooled(pick(base, segment_type=segment_type, segment_value=value))
        f = pooled(pick(follow, segment_type=segment_type, segment_value=value))
        change = pooled(pick(data.skills, "skills_change", segment_type, value))
        levels[label] = (b, f)
        left_out = b.suppressed_weeks + f.suppressed_weeks
        rows.append([esc(label), _pooled_html(b, min_n), _pooled_html(f, min_n),
                     _pooled_html(change, min_n, signed=True),
                     f"{b.weeks + f.weeks}" + (small(f" ({left_out} suppressed, left out)") if left_out else "")])
    domains = sorted({c.metric_id for c in data.skills if c.metric_id.startswith(DOMAIN_PREFIX)})
    by_domain = {humanise(d.removeprefix(DOMAIN_PREFIX)): pick(data.skills, d) for d in domains}
    trust_change = {name: pooled(pick(cells, segment_type="trust")) for name, cells in by_domain.items()}
    matrix = [[esc(name), *(_pooled_html(pooled(pick(cells, segment_type=t, segment_value=v)), min_n, signed=True)
                            for t, v, _ in segments)] for name, cells in by_domain.items()]
    body = [figure(skills_groups_chart(levels, min_n, "chart-skills-groups"), "skills-groups",
                   "Mean self-assessed digital capability by staff group, baseline and follow-up"),
            table(["Staff group", "Baseline", "Follow-up", "Change, same people", "Weeks behind the means"],
                  rows)]
    if by_domain:
        body += [figure(skills_domains_chart(trust_change, min_n, "chart-skills-domains"), "skills-domains",
                        "Change from baseline to follow-up by capability domain, whole trust"),
                 table(["Domain", *(label for _, _, label in segments)], matrix, css="compact",
                       caption_html="Change from baseline to follow-up (points on the 1\u20135 scale) by domain "
                                    "and staff group, pooled over the published weeks")]
    intro = ("Self-assessed capability from 1 (none) to 5 (expert) in the six domains of the national digital "
             "capability framework, before go-live (baseline) and after it (follow-up). Each mean pools the "
             "published weekly values (sum of scores over number of scores); suppressed weeks are left out and "
             "counted. Change pairs each follow-up with the same person's baseline.")
    return section("skills", title, body, intro)


# --- comment themes ----------------------------------------------------------------------------------

def themes_section(data: ReportData) -> str:
    title = "Comment themes"
    trust = pick(data.themes, segment_type="trust")
    week = latest_week(trust)
    if week is None:
        return section("themes", title, empty("No comments yet."))
    metrics = sorted({c.metric_id for c in data.themes})
    min_n = max(data.min_group(m) for m in metrics)
    names = {m: _theme_name(data, m) for m in metrics}
    by_value = {c.metric_id: c.value for c in trust if c.period_start == week and c.value is not None}
    metrics.sort(key=lambda m: (-(by_value.get(m) or -1.0), names[m]))
    earlier = [w for w in recent_weeks(trust, 5) if w < week][-4:]
    themes = {}
    for m in metrics:
        cells = pick(trust, m)
        themes[names[m]] = (at_week(cells, week).get("all"),
                            pooled([c for c in cells if c.period_start in earlier]))
    groups = segment_values(data.themes, "staff_group")
    rows = []
    for m in metrics:
        by_group = at_week(pick(data.themes, m, "staff_group"), week)
        rows.append([esc(names[m]), _cell_html(themes[names[m]][0], min_n, "%", 0),
                     *(_cell_html(by_group.get(g), min_n, "%", 0) for g in groups)])
    chart = themes_chart(themes, week, len(earlier), min_n, "chart-themes")
    before = f" and the {len(earlier)} weeks before" if len(earlier) > 1 else " and the week before" if earlier else ""
    body = [figure(chart, "themes", f"Share of comments mentioning each theme, {esc(fmt_week(week))}{before}"),
            table(["Theme", TRUST, *groups], rows, css="compact",
                  caption_html=f"Share of comments mentioning each theme by staff group, {esc(fmt_week(week))}")]
    intro = ("Free-text comments matched against each theme's keyword patterns (a comment can mention several "
             "themes). Comments identify people more easily than scores, so the stricter minimum group size of "
             f"{min_n} applies. The comments themselves are not reproduced here.")
    return section("themes", title, body, intro)


def _theme_name(data: ReportData, metric_id: str) -> str:
    info = data.metrics.get(metric_id)
    title = info.title if info else ""
    prefix = "Comments mentioning "
    return title.removeprefix(prefix) if title.startswith(prefix) else humanise(metric_id.removeprefix(THEME_PREFIX))
