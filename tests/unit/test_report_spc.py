"""The report's SPC section from hand-made analytics.metric_spc rows: charts, icons, and suppressed weeks that
never show a value (no warehouse, no browser)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from reporting import render
from reporting.data import MetricInfo, ReportData, _spc_row
from reporting.sections.spc import spc_section

MONDAY = date(2026, 11, 16)
SECRET = 4321.987  # a value a suppressed row must never show, even if the view returned it


def spc_row(metric_id: str, k: int, value: float | None, *, suppressed: bool = False, icon: str | None = None,
            variation: str | None = "common cause", target: float | None = None,
            assurance: str | None = None) -> dict[str, Any]:
    return {"metric_id": metric_id, "metric_title": metric_id, "unit": "score", "better": "higher",
            "segment_type": "trust", "segment_value": "all", "period_start": MONDAY - timedelta(weeks=k),
            "value": value, "suppressed": suppressed, "phase_start": MONDAY - timedelta(weeks=13), "mean": 11.0,
            "moving_range_mean": 2.0, "lower_limit": 5.68, "upper_limit": 16.32, "limit_points": 12,
            "beyond_limits": False, "shift": False, "trend": False, "two_in_three": False,
            "special_cause": None, "variation": None if suppressed else variation,
            "icon": None if suppressed else icon or "common_cause", "target": target, "assurance": assurance}


def _data(spc: list[dict[str, Any]]) -> ReportData:
    now = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    metrics = {m: MetricInfo(m, t, "score", b, 5) for m, t, b in (
        ("net_experience_score", "Net experience score", "higher"),
        ("tickets_per_100_staff", "Help-desk tickets per 100 staff", "lower"))}
    return ReportData(generated_at=now, refreshed_at=now, metrics=metrics, spc=spc)


def _visible(page: str) -> str:
    return re.sub(r"<script>.*?</script>", "", page, flags=re.DOTALL)


def test_each_headline_measure_gets_a_chart_with_its_variation_and_assurance_icons():
    nes = [spc_row("net_experience_score", k, 10.0 + k % 2 * 2, target=50.0, assurance="consistently failing")
           for k in range(13, 0, -1)]
    nes.append(spc_row("net_experience_score", 0, 20.0, icon="improving_high", variation="special cause improving",
                       target=50.0, assurance="consistently failing"))
    tickets = [spc_row("tickets_per_100_staff", k, 4.0, target=2.0, assurance="hit and miss") for k in range(12, 0, -1)]
    tickets.append(spc_row("tickets_per_100_staff", 0, 9.0, icon="concerning_high",
                           variation="special cause concerning", target=2.0, assurance="hit and miss"))
    html = spc_section(_data(nes + tickets))
    assert html.count('data-chart="spc-') == 2
    assert 'data-chart="spc-net_experience_score"' in html and 'data-chart="spc-tickets_per_100_staff"' in html
    visible = _visible(html)
    assert "special cause improving variation (higher)" in visible
    assert "special cause concerning variation (higher)" in visible
    assert "consistently failing the target" in visible and "hit and miss" in visible
    assert "<img" not in html and visible.count('<svg class="spc-icon"') >= 6  # table and captions
    assert ">50.0<" in visible  # the target, under the assurance icon


def test_a_suppressed_week_shows_its_marker_and_never_a_value_in_the_table_or_the_chart():
    rows = [spc_row("net_experience_score", k, 10.0 + k % 2 * 2) for k in range(13, 0, -1)]
    rows.append(spc_row("net_experience_score", 0, SECRET, suppressed=True))
    page = render(_data(rows))
    section = spc_section(_data(rows))  # its text and chart data, without the plotly.js bundle
    assert section in page and "4321" not in section and "987" not in section
    visible = _visible(page)
    assert "suppressed (n &lt; 5)" in visible and "no variation icon" in visible
    assert 'data-chart="spc-net_experience_score"' in page and '"pattern"' in page  # the hatched band


def test_a_suppressed_row_from_the_view_loses_its_value_and_signals():
    row = _spc_row({**spc_row("net_experience_score", 0, SECRET), "suppressed": True, "shift": True,
                    "special_cause": "high", "variation": "special cause improving", "icon": "improving_high"})
    assert (row["value"], row["shift"], row["special_cause"], row["variation"], row["icon"]) == (
        None, None, None, None, None)
    assert row["mean"] == 11.0  # the limits rest on published weeks only and stay


def test_without_limits_yet_the_table_says_so_and_without_rows_the_section_says_what_to_run():
    rows = [{**spc_row("net_experience_score", k, 10.0, variation=None), "mean": None, "lower_limit": None,
             "upper_limit": None, "icon": None} for k in range(3, -1, -1)]
    visible = _visible(spc_section(_data(rows)))
    assert "not enough weeks yet" in visible and "no variation icon" in visible
    assert "No SPC charts yet" in spc_section(_data([]))
    assert "data-chart" not in spc_section(_data([]))
