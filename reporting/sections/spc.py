"""Headline measures as statistical process control charts, with NHS England's "Making Data Count" icons.

Rows come from analytics.metric_spc (trust-wide, weekly): the limits and signals are the warehouse's, so
the board sees what analysts query. A suppressed week is a hatched band and carries no value or icon.
"""

from __future__ import annotations

from typing import Any

from reporting.charts import DARK_GREY, GREY, NHS_BLUE, ORANGE, RED, spc_chart
from reporting.data import SPC_METRICS, ReportData
from reporting.format import esc, fmt_value, fmt_week, suppressed_html
from reporting.markup import empty, figure, section, small, table

GREY_ICON = "#768692"
# icon: (colour, letter, words). The variation icon is the latest week's; H and L say which way it moved.
VARIATION_ICONS = {
    "common_cause": (GREY_ICON, "~", "common cause variation"),
    "improving_high": (NHS_BLUE, "H", "special cause improving variation (higher)"),
    "improving_low": (NHS_BLUE, "L", "special cause improving variation (lower)"),
    "concerning_high": (ORANGE, "H", "special cause concerning variation (higher)"),
    "concerning_low": (ORANGE, "L", "special cause concerning variation (lower)"),
}
ASSURANCE_ICONS = {
    "consistently passing": (NHS_BLUE, "P", "consistently passing the target"),
    "consistently failing": (ORANGE, "F", "consistently failing the target"),
    "hit and miss": (GREY_ICON, "?", "hit and miss: the target lies within the process limits"),
}
LEGEND = ('<p class="legend"><span class="key" style="border-top-color: #aeb7bd"></span> weekly value, '
          f'<span style="color: {NHS_BLUE}">&#9679;</span> special cause improving, '
          f'<span style="color: {ORANGE}">&#9679;</span> special cause concerning '
          f'<span class="key" style="border-top-color: {DARK_GREY}"></span> mean '
          f'<span class="key" style="border-top: 2px dashed {GREY}"></span> process limits '
          f'<span class="key" style="border-top: 3px dotted {RED}"></span> target '
          '<span class="key hatch"></span> week suppressed</p>')


def icon_svg(kind: tuple[str, str, str], size: int = 22) -> str:
    """A round Making Data Count style icon as inline SVG (no image request), labelled for screen readers."""
    colour, letter, words = kind
    return (f'<svg class="spc-icon" width="{size}" height="{size}" viewBox="0 0 24 24" role="img" '
            f'aria-label="{esc(words)}" style="vertical-align: middle"><title>{esc(words)}</title>'
            f'<circle cx="12" cy="12" r="11" fill="{esc(colour)}"/><text x="12" y="16.5" text-anchor="middle" '
            f'font-size="13" font-weight="700" fill="white">{esc(letter)}</text></svg>')


def icon_html(kind: tuple[str, str, str] | None, what: str) -> str:
    """The icon with its meaning as text, or a note that there is none."""
    if kind is None:
        return small(esc(f"no {what} icon"))
    return f'<span class="spc-{esc(what)}">{icon_svg(kind)}&nbsp;{esc(kind[2])}</span>'


def _by_metric(data: ReportData) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in data.spc:
        out.setdefault(r["metric_id"], []).append(r)
    return {m: sorted(out[m], key=lambda r: r["period_start"]) for m in SPC_METRICS if m in out}


def _latest_html(data: ReportData, metric_id: str, latest: dict[str, Any], unit: str) -> str:
    if latest["suppressed"]:
        return suppressed_html(data.min_group(metric_id))
    return esc(fmt_value(latest["value"], unit))


def _limits_html(latest: dict[str, Any], unit: str) -> str:
    if latest.get("mean") is None:
        return small("not enough weeks yet (limits need 12 published weeks in the phase)")
    limits = f"{fmt_value(latest['lower_limit'], unit)} to {fmt_value(latest['upper_limit'], unit)}"
    return f"{esc(fmt_value(latest['mean'], unit))}<br>{small(esc(limits))}"


def spc_section(data: ReportData) -> str:
    title = "Statistical process control"
    series = _by_metric(data)
    if not series:
        return section("spc", title, empty("No SPC charts yet: run `realise metrics refresh` (the charts are "
                                           "computed after each refresh)."))
    rows, charts = [], []
    for i, (metric_id, weeks) in enumerate(series.items()):
        info = data.metrics.get(metric_id)
        name, unit = (info.title, info.unit) if info else (weeks[-1].get("metric_title") or metric_id, "")
        latest = weeks[-1]
        variation = icon_html(VARIATION_ICONS.get(latest.get("icon") or ""), "variation")
        assurance = (small("no target in the benefits register") if latest.get("target") is None
                     else small("no limits yet to hold the target against") if latest.get("mean") is None
                     else icon_html(ASSURANCE_ICONS.get(latest.get("assurance") or ""), "assurance"))
        target = esc(fmt_value(latest["target"], unit)) if latest.get("target") is not None else ""
        rows.append([f"{esc(name)}<br>{small(esc(unit))}", f"{_latest_html(data, metric_id, latest, unit)}<br>"
                     f"{small(esc(fmt_week(latest['period_start'])))}", _limits_html(latest, unit), variation,
                     f"{assurance}<br>{small(target)}" if target else assurance])
        chart = spc_chart(weeks, unit, data.min_group(metric_id), f"chart-spc-{i}")
        kind = VARIATION_ICONS.get(latest.get("icon") or "")
        caption = f"{icon_svg(kind, 16)} {esc(name)}" if kind else esc(name)
        charts.append(figure(chart, f"spc-{metric_id}", caption, css="small-chart"))
    headers = ["Measure (whole trust)", "Latest week", "Mean and process limits", "Variation", "Assurance"]
    body = [table(headers, rows, numeric=(1, 2), css="spc"), LEGEND, f'<div class="grid two">{"".join(charts)}</div>']
    intro = ("Each headline measure as an XmR chart, the way NHS England's Making Data Count reads it: the mean of "
             "the weekly values and process limits at 2.66 mean moving ranges either side. A special cause is a "
             "week beyond a limit, 7 or more weeks running on one side of the mean, 7 or more weeks each higher "
             "(or lower) than the last, or 2 of 3 weeks close to a limit on one side; it is improving or concerning "
             "by the direction that is better for the measure. Assurance compares the benefit's target with the "
             "limits: a target outside them is consistently met or missed, one inside them hit and miss. Limits "
             "need 12 published weeks, and suppressed weeks are left out of the limits and break every run.")
    return section("spc", title, body, intro)

