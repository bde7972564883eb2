"""The report's pure parts: escaping, number and suppression formatting, pooling cells, and a page rendered
from hand-made data (hostile text, suppressed cells, empty sections) without a warehouse or a browser."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from reporting import render
from reporting.data import Cell, MetricInfo, ReportData, _cell
from reporting.format import esc, fmt_number, fmt_value, plot_text, suppressed_html, value_html
from reporting.markup import segment_text, table
from reporting.sections.adoption import readiness_target
from reporting.series import pooled, ratio_scale

HOSTILE = '<img src=x onerror=alert(1)> "quoted" & <script>alert(2)</script>'
MONDAY = date(2026, 11, 16)


def cell(metric_id: str = "net_experience_score", *, value: float | None = 10.0, numerator: float | None = None,
         denominator: float | None = None, suppressed: bool = False, segment_type: str = "trust",
         segment_value: str = "all", week: date | None = MONDAY, index: int | None = None, n: int = 20) -> Cell:
    grain = "week" if index is None else "week_since_go_live"
    return Cell(metric_id, grain, str(index) if index is not None else str(week), week if index is None else None,
                index, segment_type, segment_value, None if suppressed else value,
                None if suppressed else numerator, None if suppressed else denominator,
                None if suppressed else n, suppressed)


# --- escaping and formatting -------------------------------------------------------------------------

def test_text_from_the_warehouse_is_escaped_for_html_and_for_plotly_labels():
    for escaped in (esc(HOSTILE), plot_text(HOSTILE)):
        assert "<" not in escaped and ">" not in escaped and '"' not in escaped
        assert "&lt;script&gt;" in escaped and "&amp;" in escaped
    assert esc(None) == ""


def test_a_suppressed_cell_shows_its_marker_and_never_its_value():
    shown = value_html(42.5, True, 5, "%")
    assert "suppressed (n &lt; 5)" in shown and "42" not in shown
    assert 'class="sup"' in suppressed_html(11) and "n &lt; 11" in suppressed_html(11)


def test_a_suppressed_row_from_the_view_loses_every_statistic_even_if_one_came_through():
    row = SimpleNamespace(metric_id="enps", grain="week", period="2026-11-16", period_start=MONDAY,
                          period_index=None, segment_type="staff_group", segment_value="Estates", value=3.0,
                          numerator=1.0, denominator=4.0, n=4, suppressed=True)
    c = _cell(row)
    assert c.suppressed and (c.value, c.numerator, c.denominator, c.n) == (None, None, None, None)


@pytest.mark.parametrize(("value", "kwargs", "expected"), [
    (12.345, {}, "12.3"),
    (-3.0, {}, "\u22123.0"),
    (-0.04, {}, "0.0"),
    (4.0, {"signed": True}, "+4.0"),
    (1234.5, {"digits": 0}, "1,234"),
    (None, {}, ""),
    (float("nan"), {}, ""),
])
def test_numbers_are_formatted_for_people(value: float | None, kwargs: dict[str, Any], expected: str):
    assert fmt_number(value, **kwargs) == expected


def test_units_that_are_symbols_follow_the_number():
    assert fmt_value(34.375, "%") == "34.4%"
    assert fmt_value(-17.3, "percentage points", signed=True) == "\u221217.3 pp"
    assert fmt_value(3.9, "per 100 staff") == "3.9"
    assert "\u2013" in value_html(None, False, 5)  # no value: a dash, not a zero


def test_segments_read_as_words():
    assert segment_text("trust", "all") == "whole trust"
    assert segment_text("org_level_2", "RXX-MED-AEM") == "directorate RXX-MED-AEM"
    assert segment_text("go_live_wave", "wave-3") == "wave-3"


def test_table_escapes_headers_and_right_aligns_only_the_numeric_columns():
    html = table(["<b>Name</b>", "Value", "Why"], [["a", "1", "b"]], numeric=(1,))
    assert "&lt;b&gt;Name&lt;/b&gt;" in html
    assert '<td class="num">1</td>' in html and "<td>b</td>" in html


# --- pooling -----------------------------------------------------------------------------------------

def test_pooling_percentages_adds_numerators_and_denominators_and_counts_suppressed_weeks():
    cells = [cell(value=50.0, numerator=5, denominator=10), cell(value=10.0, numerator=3, denominator=30),
             cell(suppressed=True)]
    p = pooled(cells)
    assert p.value == pytest.approx(100 * 8 / 40) and (p.weeks, p.suppressed_weeks) == (2, 1)
    assert not p.suppressed


def test_pooling_means_and_differences_of_means_uses_the_ratio_without_scaling():
    means = [cell(value=3.0, numerator=30, denominator=10), cell(value=2.0, numerator=10, denominator=5)]
    assert ratio_scale(means) == 1.0 and pooled(means).value == pytest.approx(40 / 15)


def test_a_value_that_is_not_a_ratio_is_pooled_as_a_mean_of_weeks():
    gaps = [cell(value=-40.0, numerator=5, denominator=10), cell(value=-30.0, numerator=6, denominator=10)]
    assert ratio_scale(gaps) is None and pooled(gaps).value == pytest.approx(-35.0)


def test_only_suppressed_weeks_pool_to_a_suppressed_value():
    p = pooled([cell(suppressed=True), cell(suppressed=True)])
    assert p.suppressed and p.value is None
    assert not pooled([]).suppressed


def test_the_readiness_target_is_coverage_minus_the_gap_of_the_same_cell():
    cells = [cell("training_coverage", value=66.5, index=-1, segment_type="go_live_wave", segment_value="wave-1"),
             cell("training_readiness_gap", value=-23.5, index=-1, segment_type="go_live_wave",
                  segment_value="wave-1"),
             cell("training_coverage", suppressed=True, index=-2, segment_type="go_live_wave",
                  segment_value="wave-1")]
    assert readiness_target(cells) == pytest.approx(90.0)
    assert readiness_target(cells[:1]) is None


# --- a whole page ------------------------------------------------------------------------------------

def _metrics() -> dict[str, MetricInfo]:
    rows = [("net_experience_score", "Net experience score", "score", 5),
            ("tickets_per_100_staff", "Help-desk tickets per 100 staff", "per 100 staff", 5),
            ("training_coverage", "Training coverage", "%", 5), ("training_readiness_gap", "Readiness", "pp", 5),
            ("skills_mean_baseline", "Skills baseline", "score 1-5", 5),
            ("skills_mean_follow_up", "Skills follow-up", "score 1-5", 5),
            ("skills_change_teaching_learning", "Change: teaching learning", "points", 5),
            ("comment_theme_training", "Comments mentioning training", "%", 10)]
    return {m: MetricInfo(m, t, u, "higher", k) for m, t, u, k in rows}


def _data(**extra: Any) -> ReportData:
    now = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    weeks = [MONDAY - timedelta(weeks=k) for k in range(3)]
    data = ReportData(generated_at=now, refreshed_at=now - timedelta(hours=2), metrics=_metrics())
    data.experience = [cell(value=40.0 + k, week=w) for k, w in enumerate(weeks)] + [
        cell(value=-12.0, segment_type="staff_group", segment_value=HOSTILE, week=MONDAY),
        cell(suppressed=True, segment_type="staff_group", segment_value="Estates and Ancillary", week=MONDAY)]
    data.themes = [cell("comment_theme_training", value=23.0, numerator=23, denominator=100, week=w, n=100)
                   for w in weeks] + [cell("comment_theme_training", suppressed=True, segment_type="staff_group",
                                           segment_value="Healthcare Scientists", week=MONDAY)]
    data.helpdesk = [cell("tickets_per_100_staff", value=v, numerator=v, denominator=100, index=k,
                          segment_type="go_live_wave", segment_value="wave-1") for k, v in ((-1, 1.0), (0, 30.0))]
    for key, value in extra.items():
        setattr(data, key, value)
    return data


def _visible_text(page: str) -> str:
    """The page without plotly.js and the chart scripts: what a reader sees."""
    return re.sub(r"<script>.*?</script>", "", page, flags=re.DOTALL)


def test_a_page_with_hostile_text_shows_it_escaped_everywhere():
    action = {"action_id": 7, "alert_id": 3, "description": HOSTILE, "owner": HOSTILE, "due_date": MONDAY,
              "status": "open", "overdue": False, "action_date": MONDAY - timedelta(weeks=2), "unit": "score",
              "better": "higher", "before_value": 10.0, "before_weeks": 4, "after_value": None, "after_weeks": 0,
              "change": None, "improved": None}
    alert = {"alert_id": 3, "rule_id": "rule", "metric_id": "net_experience_score", "metric_title": HOSTILE,
             "unit": "score", "segment_type": "org_unit", "segment_value": HOSTILE, "period": "2026-11-16",
             "value": -3.0, "threshold": 0.0, "message": HOSTILE, "opened_at": datetime(2026, 11, 20, tzinfo=UTC)}
    page = render(_data(alerts=[alert], actions=[action]))
    assert HOSTILE not in page
    assert "<img" not in page
    visible = _visible_text(page)
    assert esc(HOSTILE) in visible
    assert "<script>alert" not in page.replace("\\u003c", "<").replace(esc(HOSTILE), "")
    assert 'data-chart="action-7"' in page and "no published value" in visible


def test_a_page_marks_suppressed_cells_states_the_rule_and_when_the_data_was_refreshed():
    page = render(_data())
    visible = _visible_text(page)
    assert "groups of fewer than 5 people are never shown" in visible
    assert "fewer than 10 for comment themes" in visible
    assert "22 Nov 2026 07:30 UTC" in visible  # data last refreshed
    assert "suppressed (n &lt; 5)" in visible and "suppressed (n &lt; 10)" in visible
    assert "Estates and Ancillary" in visible


def test_a_page_with_little_data_says_what_is_missing_instead_of_failing():
    page = render(_data(experience=[], themes=[], helpdesk=[]))
    visible = _visible_text(page)
    for message in ("No benefits are registered", "No training coverage by wave yet", "No help-desk demand",
                    "No survey responses yet", "No skills assessments yet", "No comments yet", "No open alerts"):
        assert message in visible, message
    assert "data-chart=" not in page


def test_the_page_loads_nothing_from_the_network():
    page = render(_data())
    assert 'http-equiv="Content-Security-Policy"' in page and "default-src &#x27;none&#x27;" in page
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", page)
    assert page.count("* plotly.js v") == 1  # the bundle, inlined once for every chart


def test_a_page_where_every_value_is_suppressed_shows_markers_and_no_numbers():
    data = _data(experience=[cell(suppressed=True), cell(suppressed=True, segment_type="staff_group",
                                                         segment_value="Estates and Ancillary")],
                 themes=[cell("comment_theme_training", suppressed=True)], helpdesk=[])
    visible = _visible_text(render(data))
    tables = re.findall(r"<table.*?</table>", visible, flags=re.DOTALL)
    assert tables and all("suppressed (n &lt;" in t for t in tables)
    for t in tables:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", t, flags=re.DOTALL)
        assert all(not re.search(r"\d", re.sub(r"suppressed \(n &lt; \d+\)|title=\"[^\"]*\"", "", c))
                   for c in cells), t


def test_an_action_says_whether_its_change_is_beyond_noise():
    action = {"action_id": 8, "alert_id": 3, "description": "Floor-walkers", "owner": "Matron", "due_date": MONDAY,
              "status": "done", "overdue": False, "action_date": MONDAY - timedelta(weeks=6), "unit": "score",
              "better": "higher", "before_value": -7.0, "before_weeks": 4, "after_value": 2.0, "after_weeks": 4,
              "change": 9.0, "improved": True, "change_ci_low": -13.9, "change_ci_high": 31.9, "beyond_noise": False}
    alert = {"alert_id": 3, "rule_id": "rule", "metric_id": "net_experience_score", "metric_title": "Net score",
             "unit": "score", "segment_type": "org_unit", "segment_value": "A", "period": "2026-11-16",
             "value": -3.0, "threshold": 0.0, "message": "below zero", "opened_at": datetime(2026, 11, 20, tzinfo=UTC)}
    assert "within noise" in _visible_text(render(_data(alerts=[alert], actions=[action])))
    assert "beyond noise" in _visible_text(render(_data(alerts=[alert], actions=[{**action, "beyond_noise": True}])))
