"""The benefits register: each benefit's status, why, and its measure's path against the plan."""

from __future__ import annotations

from collections import Counter
from typing import Any

from reporting.charts import benefit_chart
from reporting.data import ReportData
from reporting.format import (
    esc,
    fmt_date,
    fmt_value,
    fmt_week,
    status_badge,
    suppressed_html,
    value_html,
)
from reporting.markup import empty, figure, section, segment_text, small, table

STATUS_ORDER = ("off track", "at risk", "no data", "on track", "not evaluated")
MAX_CHARTS = 12
NBSP = "\u00a0"


def _since(data: ReportData, benefit: dict[str, Any]) -> str:
    """When the current status began, and what it was before (from analytics.benefit_status)."""
    changes = data.status_changes.get(benefit["benefit_id"]) or []
    if not changes or changes[-1]["status"] != benefit["status"]:
        return ""
    last = changes[-1]
    was = f", was {esc(last['previous'])}" if last.get("previous") else ""
    return small(f"since{NBSP}{esc(fmt_date(last['computed_at'].date()))}{was}")


def _now(data: ReportData, b: dict[str, Any]) -> str:
    unit = b.get("unit")
    if b.get("current_value") is not None:
        return f"{esc(fmt_value(b['current_value'], unit))}<br>{small(esc(fmt_week(b.get('current_period'))))}"
    series = data.benefit_series.get(b["benefit_id"]) or []
    latest = next((c for c in series if c.period_start == b.get("current_period")), None)
    if latest is not None and latest.suppressed:
        return suppressed_html(data.min_group(b["metric_id"])) + f"<br>{small(esc(fmt_week(latest.period_start)))}"
    return value_html(None, False, 0)


def _row(data: ReportData, b: dict[str, Any]) -> list[str]:
    unit = b.get("unit")
    measure = (f"{esc(b.get('metric_title') or b['metric_id'])}<br>"
               f"{small(esc(segment_text(b['segment_type'], b['segment_value'])))}")
    return [
        f"{esc(b['title'])}<br>{small(esc(b.get('owner') or ''))}",
        measure,
        f"{esc(fmt_value(b['baseline_value'], unit))}<br>{small(esc(fmt_date(b.get('baseline_date'))))}",
        _now(data, b),
        f"{esc(fmt_value(b['target_value'], unit))}<br>{small('by' + NBSP + esc(fmt_date(b.get('target_date'))))}",
        value_html(b.get("projected_value"), False, 0, unit),
        f"{status_badge(b['status'])}<br>{_since(data, b)}",
        esc(b.get("status_reason") or ""),
    ]


LEGEND = ('<p class="legend"><span class="key line"></span> weekly value '
          '<span class="key dash"></span> planned path: baseline &#9670; to target &#9733; '
          '<span class="key dot"></span> projection from the last 6 weeks '
          '<span class="key hatch"></span> week suppressed</p>')


def benefits_section(data: ReportData) -> str:
    if not data.benefits:
        body = empty("No benefits are registered: load the register with `realise benefits load`.")
        return section("benefits", "Benefits register", body)
    counts = Counter(b["status"] for b in data.benefits)
    summary = " ".join(f"{status_badge(s)} {counts[s]}" for s in STATUS_ORDER if counts[s])
    ordered = sorted(data.benefits, key=lambda b: (STATUS_ORDER.index(b["status"])
                                                   if b["status"] in STATUS_ORDER else 9, b["benefit_id"]))
    headers = ["Benefit", "Measure", "Baseline", "Now", "Target", "Projected at target date", "Status", "Why"]
    evaluated = max((b["status_computed_at"] for b in data.benefits if b.get("status_computed_at")), default=None)
    note = f" Statuses evaluated {esc(fmt_date(evaluated.date()))}." if evaluated else ""
    body = [f'<p class="summary">{len(data.benefits)} benefits: {summary}.{note}</p>',
            table(headers, [_row(data, b) for b in ordered], numeric=(2, 3, 4, 5), css="benefits")]
    charts = []
    for i, b in enumerate(ordered[:MAX_CHARTS]):
        series = data.benefit_series.get(b["benefit_id"])
        if not series:
            continue
        chart = benefit_chart(b, series, data.min_group(b["metric_id"]), f"chart-benefit-{i}")
        caption = f"{status_badge(b['status'])} {esc(b['title'])}"
        charts.append(figure(chart, f"benefit-{i}", caption, css="small-chart"))
    if charts:
        body += [LEGEND, f'<div class="grid two">{"".join(charts)}</div>']
    if len(ordered) > MAX_CHARTS:
        body.append(empty(f"Charts show the first {MAX_CHARTS} benefits in the order above; the table lists all."))
    intro = ("Each benefit's status comes from the trend of its measure over the last 6 weeks, projected to the "
             "target date (on track: the projection meets the target; at risk: no worse than the baseline but "
             "the projection misses; off track: worse than the baseline or heading away; no data: the latest "
             "week is suppressed or missing). A week still under way counts once it has a value.")
    return section("benefits", "Benefits register", body, intro)

