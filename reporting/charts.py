"""Plotly figures of the report, at fixed sizes that fit a laptop screen and an A4 landscape page.

A suppressed cell is drawn as a grey hatched band across the plot (never a bar or point with a value),
labelled "suppressed (n < k)" in its hover text and legend. Every label from the warehouse goes through
`plot_text`, since plotly.js renders a subset of HTML in text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from reporting.data import Cell
from reporting.format import fmt_number, fmt_value, fmt_week, plot_text, suppressed_label
from reporting.series import Pooled, value_range

FULL_WIDTH = 1000  # px: inside A4 landscape (277 mm printable at 96 dpi is 1047 px) and a 1280 px laptop
SMALL_WIDTH = 490
TINY_WIDTH = 320

NHS_BLUE, DARK_BLUE, LIGHT_BLUE = "#005EB8", "#003087", "#41B6E6"
GREEN, RED, ORANGE, GREY, DARK_GREY = "#009639", "#DA291C", "#ED8B00", "#768692", "#425563"
SERIES = (NHS_BLUE, ORANGE, "#00A499", "#330072", "#AE2573", LIGHT_BLUE, "#78BE20", DARK_GREY)
STATUS_COLOURS = {"on track": GREEN, "at risk": ORANGE, "off track": RED}
HATCH = {"shape": "/", "fgcolor": "#8a8f94", "bgcolor": "#eceef0", "size": 7, "solidity": 0.25}
CONFIG = {"displayModeBar": False, "responsive": False, "displaylogo": False, "scrollZoom": False}
FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Arial, sans-serif", "size": 12, "color": "#212b32"}
WEEK_MS = 7 * 24 * 3600 * 1000


def layout(width: int, height: int, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "width": width, "height": height, "autosize": False, "template": "plotly_white", "font": FONT,
        "margin": {"l": 60, "r": 20, "t": 30, "b": 50}, "paper_bgcolor": "white", "plot_bgcolor": "white",
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        "hoverlabel": {"font": {"family": FONT["family"]}}, "bargap": 0.25,
    }
    base.update(extra)
    return base


def to_div(fig: go.Figure, div_id: str) -> str:
    """The figure as a <div> and the script that draws it (plotly.js itself is in the page head once)."""
    return pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=div_id, config=CONFIG,
                       default_width=f"{fig.layout.width}px", default_height=f"{fig.layout.height}px",
                       validate=False)


def wrap(text: str, width: int = 16) -> str:
    """An escaped label broken over lines of about `width` characters (plotly does not wrap)."""
    lines: list[str] = []
    for word in str(text).split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(plot_text(line) for line in lines)


def suppressed_band(xs: Sequence[Any], low: float, high: float, min_n: int, *, horizontal: bool = False,
                    width: float | None = None, showlegend: bool = True, text: bool = False) -> go.Bar:
    """Hatched bands across the whole axis range at the suppressed positions: visible, with no value."""
    label = suppressed_label(min_n)
    span = [high - low] * len(xs)
    common: dict[str, Any] = {
        "name": label, "base": [low] * len(xs), "marker": {"color": "rgba(0,0,0,0)", "pattern": HATCH,
                                                            "line": {"width": 0}},
        "hovertemplate": f"%{{{'y' if horizontal else 'x'}}}: {plot_text(label)}<extra></extra>",
        "showlegend": showlegend, "legendgroup": "suppressed", "cliponaxis": True,
        "text": [plot_text(label)] * len(xs) if text else None, "textposition": "inside",
        "insidetextanchor": "middle", "textfont": {"color": DARK_GREY},
    }
    if width is not None:
        common["width"] = [width] * len(xs)
    if horizontal:
        return go.Bar(y=list(xs), x=span, orientation="h", **common)
    return go.Bar(x=list(xs), y=span, **common)


# --- benefits ----------------------------------------------------------------------------------------

def benefit_chart(benefit: dict[str, Any], series: list[Cell], min_n: int, div_id: str) -> str:
    """Weekly values of the benefit's measure against its planned path from baseline to target, with the
    projection its status rests on."""
    fig = go.Figure()
    unit = benefit.get("unit") or ""
    weeks = sorted(series, key=lambda c: c.period_start or date.min)
    values = [c.value for c in weeks]
    extra = [benefit.get("baseline_value"), benefit.get("target_value"), benefit.get("projected_value")]
    low, high = value_range([*values, *extra])
    hidden = [c.period_start for c in weeks if c.suppressed]
    if hidden:
        fig.add_trace(suppressed_band(hidden, low, high, min_n, width=5 * 24 * 3600 * 1000, showlegend=False))
    fig.add_trace(go.Scatter(
        x=[c.period_start for c in weeks], y=values, mode="lines+markers", name="weekly value",
        line={"color": NHS_BLUE, "width": 2}, marker={"size": 5}, connectgaps=False,
        hovertemplate="%{x|w/c %d %b %Y}: %{y:.1f}" + plot_text(f" {unit}") + "<extra></extra>"))
    if benefit.get("baseline_date") and benefit.get("target_date"):
        fig.add_trace(go.Scatter(
            x=[benefit["baseline_date"], benefit["target_date"]],
            y=[benefit["baseline_value"], benefit["target_value"]], mode="lines+markers", name="planned",
            line={"color": GREY, "dash": "dash", "width": 1.5}, marker={"symbol": ["diamond", "star"], "size": 11,
                                                                         "color": [GREY, GREEN]},
            hovertemplate="%{x|%d %b %Y}: %{y:.1f} (baseline, target)<extra></extra>"))
    if benefit.get("projected_value") is not None and benefit.get("current_value") is not None:
        fig.add_trace(go.Scatter(
            x=[benefit["current_period"], benefit["target_date"]],
            y=[benefit["current_value"], benefit["projected_value"]], mode="lines+markers", name="projection",
            line={"color": STATUS_COLOURS.get(benefit.get("status") or "", GREY), "dash": "dot", "width": 2},
            marker={"size": [0, 8]}, hovertemplate="projected %{y:.1f} by %{x|%d %b %Y}<extra></extra>"))
    days = [d for d in (*(c.period_start for c in weeks), benefit.get("baseline_date"), benefit.get("target_date"))
            if d is not None]
    x_range = [min(days) - timedelta(days=5), max(days) + timedelta(days=7)] if days else None
    fig.update_layout(**layout(SMALL_WIDTH, 230, showlegend=False, margin={"l": 50, "r": 15, "t": 10, "b": 35}))
    fig.update_xaxes(range=x_range, tickformat="%b %Y", showgrid=False)
    fig.update_yaxes(range=[low, high], title={"text": plot_text(unit), "font": {"size": 11}}, zeroline=False)
    return to_div(fig, div_id)


# --- training readiness ------------------------------------------------------------------------------

def readiness_chart(coverage: dict[str, list[Cell]], target: float | None, min_n: int, div_id: str,
                    first_week: int = -12) -> str:
    """Training coverage in the weeks up to each wave's go-live, against the readiness target."""
    fig = go.Figure()
    first = max(first_week, min((c.period_index for cells in coverage.values() for c in cells
                                 if c.period_index is not None), default=first_week))
    hidden: list[int] = []
    for colour, (wave, cells) in zip(SERIES, coverage.items(), strict=False):
        before = sorted((c for c in cells if c.period_index is not None and first <= c.period_index <= 0),
                        key=lambda c: c.period_index or 0)
        hidden += [c.period_index for c in before if c.suppressed and c.period_index is not None]
        fig.add_trace(go.Scatter(
            x=[c.period_index for c in before], y=[c.value for c in before], name=plot_text(wave),
            mode="lines+markers", line={"color": colour, "width": 2.5}, marker={"size": 6}, connectgaps=False,
            hovertemplate=plot_text(wave) + " week %{x}: %{y:.1f}% trained<extra></extra>"))
    if hidden:
        fig.add_trace(suppressed_band(sorted(set(hidden)), 0, 100, min_n, width=0.8))
    if target is not None:
        fig.add_hline(y=target, line={"color": RED, "dash": "dash", "width": 1.5},
                      annotation_text=plot_text(f"readiness target {fmt_value(target, '%', 0)}"),
                      annotation_position="top left", annotation_font={"color": RED})
    fig.update_layout(**layout(FULL_WIDTH, 330))
    fig.update_xaxes(title="weeks before go-live (0 = the go-live week)", dtick=1, zeroline=False,
                     range=[first - 0.5, 0.5])
    fig.update_yaxes(title="% of staff in scope trained", range=[0, 100], ticksuffix="%")
    return to_div(fig, div_id)


# --- help desk ---------------------------------------------------------------------------------------

def demand_chart(by_wave: dict[str, list[Cell]], trust: list[Cell], min_n: int, div_id: str,
                 first_week: int = -4) -> str:
    """Tickets per 100 staff per week since go-live, one line per wave (and all waves together)."""
    fig = go.Figure()
    lines = [(plot_text(w), cells, colour, "solid") for colour, (w, cells) in zip(SERIES, by_wave.items(),
                                                                                   strict=False)]
    if trust:
        lines.append(("all waves", trust, DARK_GREY, "dot"))
    values: list[float | None] = []
    hidden: set[int] = set()
    for name, cells, colour, dash in lines:
        shown = sorted((c for c in cells if c.period_index is not None and c.period_index >= first_week),
                       key=lambda c: c.period_index or 0)
        values += [c.value for c in shown]
        hidden |= {c.period_index for c in shown if c.suppressed and c.period_index is not None}
        fig.add_trace(go.Scatter(
            x=[c.period_index for c in shown], y=[c.value for c in shown], name=name, mode="lines+markers",
            line={"color": colour, "width": 2.5 if dash == "solid" else 2, "dash": dash}, marker={"size": 6},
            connectgaps=False, hovertemplate=name + " week %{x}: %{y:.1f} tickets per 100 staff<extra></extra>"))
    high = value_range(values, floor=0)[1]
    if hidden:
        fig.add_trace(suppressed_band(sorted(hidden), 0, high, min_n, width=0.8))
    fig.add_vline(x=0, line={"color": DARK_GREY, "dash": "dash", "width": 1}, annotation_text="go-live",
                  annotation_position="top right")
    fig.update_layout(**layout(FULL_WIDTH, 330))
    fig.update_xaxes(title="weeks since go-live (0 = the go-live week)", dtick=1, zeroline=False)
    fig.update_yaxes(title="tickets per 100 staff per week", range=[0, high])
    return to_div(fig, div_id)


# --- net experience score ----------------------------------------------------------------------------

def experience_chart(groups: dict[str, Cell], trust: Cell | None, min_n: int, div_id: str) -> str:
    """The latest week's net experience score by staff group (-100 to +100)."""
    names = list(groups)[::-1]  # first group at the top
    shown = [(plot_text(n), groups[n].value) for n in names if not groups[n].suppressed and groups[n].value is not None]
    hidden = [plot_text(n) for n in names if groups[n].suppressed]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        y=[n for n, _ in shown], x=[v for _, v in shown], orientation="h", name="net experience score",
        marker={"color": [NHS_BLUE if (v or 0) >= 0 else RED for _, v in shown]},
        text=[fmt_value(v, None, 0, signed=True) for _, v in shown], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:+.1f}<extra></extra>"))
    if hidden:
        fig.add_trace(suppressed_band(hidden, -100, 100, min_n, horizontal=True, text=True, width=0.6))
    if trust is not None and trust.value is not None:
        fig.add_vline(x=trust.value, line={"color": DARK_GREY, "dash": "dash", "width": 1.5}, layer="below",
                      annotation_text=plot_text(f"whole trust {fmt_value(trust.value, None, 0, signed=True)}"),
                      annotation_position="top")
    fig.update_layout(**layout(FULL_WIDTH, 70 + 42 * max(len(names), 1), barmode="overlay",
                               margin={"l": 230, "r": 40, "t": 40, "b": 45}))
    fig.update_xaxes(range=[-100, 100], title="net experience score (% agree minus % disagree)", dtick=25,
                     zeroline=True, zerolinecolor="#aeb7bd")
    fig.update_yaxes(categoryorder="array", categoryarray=[plot_text(n) for n in names], ticklabelstandoff=8)
    return to_div(fig, div_id)


# --- skills ------------------------------------------------------------------------------------------

def skills_groups_chart(rows: dict[str, tuple[Pooled, Pooled]], min_n: int, div_id: str) -> str:
    """Mean self-assessed capability (1-5) at baseline and follow-up, by staff group."""
    names = list(rows)
    fig = go.Figure()
    bands: list[go.Bar] = []
    for index, (phase, colour) in enumerate((("baseline", LIGHT_BLUE), ("follow-up", NHS_BLUE))):
        pooled = [rows[n][index] for n in names]
        fig.add_trace(go.Bar(
            x=[wrap(n) for n in names], y=[None if p.suppressed else p.value for p in pooled], name=phase,
            marker={"color": colour}, offsetgroup=phase, text=[fmt_value(p.value, None, 2) for p in pooled],
            textposition="outside", cliponaxis=False,
            hovertemplate=phase + " %{x}: %{y:.2f}<extra></extra>"))
        hidden = [wrap(n) for n, p in zip(names, pooled, strict=True) if p.suppressed]
        if hidden:
            band = suppressed_band(hidden, 0, 5, min_n, showlegend=not bands, text=True)
            band.update(offsetgroup=phase)
            bands.append(band)
    for band in bands:  # after the values, so the legend reads baseline, follow-up, suppressed
        fig.add_trace(band)
    fig.update_layout(**layout(FULL_WIDTH, 360, barmode="group", margin={"l": 60, "r": 20, "t": 40, "b": 80}))
    fig.update_yaxes(range=[0, 5.4], title="mean score (1 none \u2013 5 expert)", dtick=1)
    return to_div(fig, div_id)


def skills_domains_chart(domains: dict[str, Pooled], min_n: int, div_id: str) -> str:
    """Change from baseline to follow-up by capability domain, trust-wide, for the same people."""
    names = list(domains)
    values = [domains[n].value for n in names]
    low, high = value_range([0.0, *values], pad=0.2)
    fig = go.Figure()
    fig.add_trace(go.Bar(
        x=[wrap(n, 18) for n in names], y=[None if domains[n].suppressed else domains[n].value for n in names],
        name="change", marker={"color": [GREEN if (v or 0) >= 0 else RED for v in values]},
        text=[fmt_value(v, None, 2, signed=True) for v in values], textposition="outside", cliponaxis=False,
        hovertemplate="%{x}: %{y:+.2f} points<extra></extra>"))
    hidden = [wrap(n, 18) for n in names if domains[n].suppressed]
    if hidden:
        fig.add_trace(suppressed_band(hidden, low, high, min_n))
    fig.update_layout(**layout(FULL_WIDTH, 320, showlegend=bool(hidden),
                               margin={"l": 60, "r": 20, "t": 30, "b": 80}))
    fig.update_yaxes(range=[low, high], title="follow-up minus baseline (points)", zeroline=True,
                     zerolinecolor="#aeb7bd")
    return to_div(fig, div_id)


# --- comment themes ----------------------------------------------------------------------------------

def themes_chart(themes: dict[str, tuple[Cell | None, Pooled]], week: date | None, earlier_weeks: int, min_n: int,
                 div_id: str) -> str:
    """Share of comments mentioning each theme: the latest week against the weeks before it, pooled."""
    names = list(themes)[::-1]
    latest = [themes[n][0] for n in names]
    earlier = [themes[n][1] for n in names]
    values = [v for v in [*(c.value for c in latest if c is not None), *(p.value for p in earlier)] if v is not None]
    high = value_range([0.0, *values], floor=0, pad=0.15)[1] if values else 100.0
    before = "the week before" if earlier_weeks == 1 else f"the {earlier_weeks} weeks before"
    fig = go.Figure()
    fig.add_trace(go.Bar(
        y=[plot_text(n) for n in names], x=[None if p.suppressed else p.value for p in earlier], orientation="h",
        name=before, marker={"color": LIGHT_BLUE}, offsetgroup="before",
        hovertemplate=f"%{{y}}: %{{x:.1f}}% ({before})<extra></extra>",
        visible=True if earlier_weeks else "legendonly", showlegend=bool(earlier_weeks)))
    fig.add_trace(go.Bar(
        y=[plot_text(n) for n in names], x=[None if c is None or c.suppressed else c.value for c in latest],
        orientation="h", name=plot_text(fmt_week(week)), marker={"color": NHS_BLUE}, offsetgroup="latest",
        text=[fmt_value(None if c is None else c.value, "%", 0) for c in latest], textposition="outside",
        cliponaxis=False, hovertemplate="%{y}: %{x:.1f}% (" + plot_text(fmt_week(week)) + ")<extra></extra>"))
    hidden = [plot_text(n) for n, c in zip(names, latest, strict=True) if c is not None and c.suppressed]
    if hidden:
        band = suppressed_band(hidden, 0, high, min_n, horizontal=True, text=True)
        band.update(offsetgroup="latest")
        fig.add_trace(band)
    fig.update_layout(**layout(FULL_WIDTH, 80 + 46 * max(len(names), 1), barmode="group",
                               margin={"l": 190, "r": 40, "t": 40, "b": 45},
                               legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0,
                                       "traceorder": "reversed"}))
    fig.update_xaxes(range=[0, high], title="% of comments mentioning the theme", ticksuffix="%")
    fig.update_yaxes(categoryorder="array", categoryarray=[plot_text(n) for n in names], ticklabelstandoff=8)
    return to_div(fig, div_id)


# --- actions -----------------------------------------------------------------------------------------

def action_chart(action: dict[str, Any], div_id: str) -> str:
    """The alert's metric before and after the action: mean of the 4 weeks either side of its date."""
    unit = action.get("unit") or ""
    before, after = action.get("before_value"), action.get("after_value")
    improved = action.get("improved")
    moved = bool(fmt_number(abs(action.get("change") or 0.0)).strip("0."))  # a change that shows at 1 decimal
    after_colour = (GREEN if improved is True else RED if improved is False else NHS_BLUE) if moved else NHS_BLUE
    labels = [f"before ({action.get('before_weeks') or 0} wk)", f"after ({action.get('after_weeks') or 0} wk)"]
    low, high = value_range([0.0, before, after], pad=0.2)
    fig = go.Figure()
    fig.add_trace(go.Bar(
        x=labels, y=[before, after], marker={"color": [GREY, after_colour]}, width=0.55,
        text=[fmt_value(before, unit, 1), fmt_value(after, unit, 1)], textposition="outside", cliponaxis=False,
        hovertemplate="%{x}: %{y:.1f} " + plot_text(unit) + "<extra></extra>", name="mean weekly value"))
    missing = [label for label, v in zip(labels, (before, after), strict=True) if v is None]
    if missing:
        fig.add_trace(go.Bar(
            x=missing, y=[high - low] * len(missing), base=[low] * len(missing), width=0.55,
            marker={"color": "rgba(0,0,0,0)", "pattern": HATCH}, text=["no published value"] * len(missing),
            textposition="inside", insidetextanchor="middle", textfont={"color": DARK_GREY},
            hovertemplate="%{x}: no published value (weeks suppressed or not reached yet)<extra></extra>"))
    fig.update_layout(**layout(TINY_WIDTH, 210, showlegend=False, barmode="overlay",
                               margin={"l": 50, "r": 10, "t": 15, "b": 30}))
    fig.update_yaxes(range=[low, high], title={"text": plot_text(unit), "font": {"size": 11}}, zeroline=True,
                     zerolinecolor="#aeb7bd")
    return to_div(fig, div_id)


# --- statistical process control ---------------------------------------------------------------------

VARIATION_COLOURS = {"common cause": GREY, "special cause improving": NHS_BLUE, "special cause concerning": ORANGE}
TARGET_COLOUR = RED


def _phase_lines(rows: Sequence[dict[str, Any]], *keys: str) -> tuple[list[Any], list[float | None]]:
    """Each phase's level of `keys` (mean, limits) as flat segments across its weeks, broken between phases."""
    xs: list[Any] = []
    ys: list[float | None] = []
    phases: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        phases.setdefault(r["phase_start"], []).append(r)
    for key in keys:
        for weeks in phases.values():
            level = weeks[0].get(key)
            if level is None:
                continue
            xs += [weeks[0]["period_start"] - timedelta(days=3), weeks[-1]["period_start"] + timedelta(days=3), None]
            ys += [level, level, None]
    return xs, ys


def spc_chart(rows: Sequence[dict[str, Any]], unit: str, min_n: int, div_id: str) -> str:
    """An XmR chart: weekly values (special causes coloured by whether they improve or concern), each phase's
    mean and process limits, the benefit's target, and suppressed weeks as hatched bands with no value."""
    rows = sorted(rows, key=lambda r: r["period_start"])
    shown = [r for r in rows if not r["suppressed"] and r["value"] is not None]
    levels = [r.get(k) for r in rows for k in ("lower_limit", "upper_limit", "target")]
    low, high = value_range([*(r["value"] for r in shown), *levels])
    fig = go.Figure()
    hidden = [r["period_start"] for r in rows if r["suppressed"]]
    if hidden:
        fig.add_trace(suppressed_band(hidden, low, high, min_n, width=5 * 24 * 3600 * 1000, showlegend=False))
    xs, ys = _phase_lines(rows, "lower_limit", "upper_limit")
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="process limits", hoverinfo="skip",
                             line={"color": GREY, "dash": "dash", "width": 1.2}))
    xs, ys = _phase_lines(rows, "mean")
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="mean", hoverinfo="skip",
                             line={"color": DARK_GREY, "width": 1.5}))
    targets = {r["target"] for r in rows if r.get("target") is not None}
    if len(targets) == 1:
        fig.add_hline(y=targets.pop(), line={"color": TARGET_COLOUR, "dash": "dot", "width": 1.5})
    fig.add_trace(go.Scatter(
        x=[r["period_start"] for r in rows], y=[None if r["suppressed"] else r["value"] for r in rows],
        mode="lines+markers", name="weekly value", connectgaps=False, line={"color": "#aeb7bd", "width": 1.5},
        marker={"size": 6, "color": [VARIATION_COLOURS.get(r.get("variation") or "", "#aeb7bd") for r in rows]},
        hovertemplate="%{x|w/c %d %b %Y}: %{y:.1f}" + plot_text(f" {unit}") + "<extra></extra>"))
    for variation in ("special cause improving", "special cause concerning"):
        special = [r for r in shown if r.get("variation") == variation]
        if special:
            fig.add_trace(go.Scatter(
                x=[r["period_start"] for r in special], y=[r["value"] for r in special], mode="markers",
                name=variation, marker={"size": 9, "color": VARIATION_COLOURS[variation], "line": {"width": 0}},
                hovertemplate="%{x|w/c %d %b %Y}: %{y:.1f}" + plot_text(f" {unit}, {variation}") + "<extra></extra>"))
    fig.update_layout(**layout(SMALL_WIDTH, 240, showlegend=False, margin={"l": 50, "r": 15, "t": 10, "b": 35}))
    fig.update_xaxes(tickformat="%d %b", showgrid=False)
    fig.update_yaxes(range=[low, high], title={"text": plot_text(unit), "font": {"size": 11}}, zeroline=False)
    return to_div(fig, div_id)
