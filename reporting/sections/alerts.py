"""Open alerts, the actions taken on each, and the alert's metric before and after every action."""

from __future__ import annotations

from datetime import date
from typing import Any

from reporting.charts import action_chart
from reporting.data import ReportData
from reporting.format import UNIT_SUFFIX, esc, fmt_date, fmt_number, fmt_value, fmt_week, value_html
from reporting.markup import empty, figure, section, segment_text, small, table

MAX_CHARTS = 12


def _action_status(a: dict[str, Any]) -> str:
    if a.get("overdue"):
        return '<span class="badge off-track">overdue</span>'
    return esc(a.get("status") or "")


def _change(a: dict[str, Any]) -> str:
    if a.get("change") is None:
        return value_html(None, False, 0)
    if not fmt_number(abs(a["change"])).strip("0."):
        return "no change"
    verdict = {True: " better", False: " worse"}.get(a.get("improved"), "")
    css = {True: "better", False: "worse"}.get(a.get("improved"), "")
    text = esc(fmt_value(a["change"], a.get("unit"), signed=True) + verdict)
    # Whether the change's 95% interval leaves out no change (analytics.actions), when the weeks have intervals.
    noise = {True: "beyond noise", False: "within noise"}.get(a.get("beyond_noise"))
    return f'<span class="{css}">{text}</span>' + (f"<br>{small(noise)}" if noise else "")


def _side(value: float | None, weeks: int | None, unit: str | None) -> str:
    if value is None:
        return small("no published value")
    return f"{esc(fmt_value(value, unit))}<br>{small(f'{int(weeks or 0)} of 4 weeks')}"


def _alert_html(alert: dict[str, Any], actions: list[dict[str, Any]], chart_ids: list[int]) -> str:
    unit = alert.get("unit")
    threshold = (f", threshold {esc(fmt_value(alert['threshold'], unit))}"
                 if alert.get("threshold") is not None else "")
    facts = (f"{esc(alert.get('metric_title') or alert['metric_id'])} \u00b7 "
             f"{esc(segment_text(alert['segment_type'], alert['segment_value']))} \u00b7 latest "
             f"{esc(fmt_value(alert.get('value'), unit))}{esc(_unit_words(unit))}, "
             f"{esc(fmt_week(_as_date(alert.get('period'))))}{threshold} \u00b7 open since "
             f"{esc(fmt_date(alert['opened_at'].date() if alert.get('opened_at') else None))}")
    head = (f'<header><span class="alert-id">Alert {esc(alert["alert_id"])}</span> '
            f'<span class="rule">{esc(alert["rule_id"])}</span><p class="message">{esc(alert["message"])}</p>'
            f'<p class="facts">{facts}</p></header>')
    if not actions:
        return (f'<article class="alert">{head}'
                + empty(f"No action recorded yet: record one with `realise actions add {alert['alert_id']}`.")
                + "</article>")
    rows = [[f"{esc(a['description'])}<br>{small('action ' + esc(a['action_id']))}", esc(a.get("owner")),
             esc(fmt_date(a.get("due_date"))), _action_status(a), esc(fmt_date(a.get("action_date"))),
             _side(a.get("before_value"), a.get("before_weeks"), a.get("unit")),
             _side(a.get("after_value"), a.get("after_weeks"), a.get("unit")), _change(a)] for a in actions]
    headers = ["Action", "Owner", "Due", "Status", "Took effect", "Before (4 weeks)", "After (4 weeks)", "Change"]
    charts = []
    for a in actions:
        if len(chart_ids) >= MAX_CHARTS:
            break
        chart_ids.append(a["action_id"])
        caption = f"Action {esc(a['action_id'])}: {esc(a['description'])}"
        charts.append(figure(action_chart(a, f"chart-action-{a['action_id']}"), f"action-{a['action_id']}",
                             caption, css="tiny-chart"))
    grid = f'<div class="grid three">{"".join(charts)}</div>' if charts else ""
    return f'<article class="alert">{head}{table(headers, rows, numeric=(5, 6, 7))}{grid}</article>'


def _unit_words(unit: str | None) -> str:
    """A unit that is a word (score, hours) after a number; symbols (%, pp) are part of the number."""
    return "" if not unit or unit in UNIT_SUFFIX else f" {unit}"


def _as_date(period: Any) -> date | None:
    try:
        return date.fromisoformat(str(period))
    except ValueError:
        return None


def alerts_section(data: ReportData) -> str:
    title = "Open alerts and actions"
    if not data.alerts:
        return section("alerts", title, empty("No open alerts."))
    by_alert: dict[int, list[dict[str, Any]]] = {}
    for a in data.actions:
        by_alert.setdefault(a["alert_id"], []).append(a)
    chart_ids: list[int] = []
    articles = [_alert_html(alert, by_alert.get(alert["alert_id"], []), chart_ids) for alert in data.alerts]
    total = sum(len(v) for v in by_alert.values())
    if total > len(chart_ids):
        articles.append(empty(f"Charts show the first {MAX_CHARTS} actions; the tables list all {total}."))
    intro = (f"{len(data.alerts)} open alerts raised by the rules in alerts.yaml, with {total} actions. Before "
             "and after are the mean weekly value of the alert's metric and segment over the 4 weeks before "
             "the action took effect and the 4 weeks from then (suppressed weeks left out; fewer than 4 weeks "
             "while the after period is still running).")
    return section("alerts", title, articles, intro)
