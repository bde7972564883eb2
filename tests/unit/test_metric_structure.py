"""Metrics declared as measures and a MetricFlow type (warehouse/metrics/metric.py), their base SQL from
templates (warehouse/metrics/templates.py), and the structure as `realise metrics` prints it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from warehouse.metrics.definitions.common import latest_form_responses, latest_skills_assessments, weeks_since_go_live
from warehouse.metrics.definitions.survey_training import THEMES
from warehouse.metrics.metric import REGISTRY, Measure, Metric, RowsOf, check, inline, register, template
from warehouse.metrics.registry import all_metrics
from warehouse.metrics.templates import SQL_DIR, template_names

REALISE = str(Path(sys.executable).with_name("realise"))


def words(sql: str) -> str:
    return " ".join(sql.split())


def metric(**fields: Any) -> Metric:
    base = {"id": "test_metric", "title": "Test", "description": "", "unit": "%", "numerator": "",
            "denominator": "", "better": "higher", "base": inline("select 1"), "type": "ratio",
            "measures": (Measure("done", "sum", "done"), Measure("rows", "count")),
            "numerator_measure": "done", "denominator_measure": "rows"}
    return Metric(**{**base, **fields})


# --------------------------------------------------------------------------------------------- measures

@pytest.mark.parametrize(("measure", "sql"), [
    (Measure("a", "sum", "x"), "sum(x)"),
    (Measure("a", "count"), "count(*)"),
    (Measure("a", "count", "*", filter="kind = 'a'"), "count(*) filter (where kind = 'a')"),
    (Measure("a", "count", "x"), "count(x)"),
    (Measure("a", "count_distinct", "subject", filter="staff = 1"),
     "count(distinct subject) filter (where staff = 1)"),
    (Measure("a", "average", "x"), "avg(x)"),
    (Measure("a", "median", "h"), "percentile_cont(0.5) within group (order by h)"),
    (Measure("a", "percentile", "h", percentile=0.9), "percentile_cont(0.9) within group (order by h)"),
    (Measure("a", "min", "x"), "min(x)"),
    (Measure("a", "max", "x"), "max(x)"),
])
def test_a_measure_renders_its_aggregate(measure: Measure, sql: str):
    assert measure.sql == sql


def test_whether_a_measure_adds_up_is_a_lookup_on_its_aggregation():
    assert [Measure("a", agg, "x").additive for agg in ("sum", "count", "average", "median", "min", "max")] == [
        True, True, True, False, False, False]
    assert Measure("a", "count_distinct", "subject").additive
    assert not Measure("a", "count_distinct", "ticket_id").additive


def test_expressions_name_measures_and_keep_bind_parameters_casts_and_literals():
    m = metric(type="derived", expr="(done::numeric / nullif(rows, 0)) * :k - coalesce(done, 0) || 'rows'",
               numerator_measure=None, denominator_measure=None)
    assert m.value_sql == ("(sum(done)::numeric / nullif(count(*), 0)) * :k - coalesce(sum(done), 0) || 'rows'")
    ratio = metric(offset="-:readiness_target_pct")
    assert ratio.value_sql == "100.0 * sum(done) / nullif(count(*), 0) + (-:readiness_target_pct)"
    assert (ratio.numerator_sql, ratio.denominator_sql, ratio.n_sql) == ("sum(done)", "count(*)",
                                                                         "count(distinct subject)")


# ------------------------------------------------------------------------------------------- validation

@pytest.mark.parametrize(("fields", "message"), [
    ({"measures": (Measure("done", "sum", "done"), Measure("done", "count"))}, "'done' is declared twice"),
    ({"denominator_measure": None}, "a ratio needs numerator_measure and denominator_measure"),
    ({"denominator_measure": "people"}, "denominator_measure 'people' is not a declared measure"),
    ({"type": "derived", "expr": "done / nulif(rowz, 0)"}, "names unknown measure(s) 'rowz'"),
    ({"type": "derived", "expr": "sum(done) / rows"}, "calls the aggregate sum()"),
    ({"type": "simple", "expr": "done / rows"}, "a simple metric's expr names one measure"),
    ({"type": "simple"}, "a simple metric needs expr"),
    ({"expr": "done"}, "a ratio's value is scale * numerator / denominator"),
    ({"measures": (Measure("done", "sum", "done"), Measure("rows", "count"), Measure("extra", "max", "x"))},
     "'extra' are declared but nothing reads them"),
    ({"measures": (Measure("done", "total", "done"), Measure("rows", "count"))}, "unknown agg 'total'"),
    ({"measures": (Measure("done", "percentile", "done"), Measure("rows", "count"))}, "percentile is given for"),
    ({"measures": (Measure("Done", "sum", "done"), Measure("rows", "count")), "numerator_measure": "Done"},
     "must be a lower-case SQL name"),
    ({"interval": "mean"}, "a mean interval needs second_moment"),
    ({"second_moment": "done"}, "read only by an interval"),
    ({"base": template("no_such_template.sql")}, "does not render: TemplateNotFound"),
    ({"base": template("skills_scores.sql")}, "does not render: UndefinedError: 'phase' is undefined"),
    ({"rows_of": RowsOf(template("comment_family.sql"))}, "its rows_of SQL (comment_family.sql) does not render"),
])
def test_register_says_what_is_wrong_with_a_declaration(fields: dict[str, Any], message: str):
    with pytest.raises(ValueError, match=re.escape(message)):
        register(metric(**fields))
    assert "test_metric" not in REGISTRY


def test_a_well_formed_declaration_has_no_problems():
    assert check(metric()) == []
    assert check(metric(type="derived", expr="done - rows", numerator_measure=None, denominator_measure=None)) == []


def test_every_registered_metric_declares_a_metricflow_type_and_only_known_aggregations():
    metrics = all_metrics()
    assert len(metrics) == 36
    assert {m.type for m in metrics.values()} == {"simple", "ratio", "derived"}
    for m in metrics.values():
        assert check(m) == ["it is registered twice"], m.id  # registered, and nothing else is wrong
        assert m.base.template in template_names(), m.id


# -------------------------------------------------------------------------------------------- templates

def test_a_template_renders_the_sql_its_fragments_give():
    """A small template with a variable and the shared fragments renders what writing the SQL out gives."""
    rendered = inline(
        "select r.week_start, {{ weeks_since_go_live('r.date') }} as weeks_since_go_live, r.staff_pseudonym\n"
        "from ({{ latest_form_responses() }}) r\n"
        "left join core.dim_wave w using (go_live_wave)\n"
        "{% if only_recommending %}where r.recommend is not null{% endif %}",
        only_recommending=True).sql
    expected = f"""
        select r.week_start, floor((r.date - w.go_live_date) / 7.0)::int as weeks_since_go_live, r.staff_pseudonym
        from ({latest_form_responses()}) r
        left join core.dim_wave w using (go_live_wave)
        where r.recommend is not null
    """
    assert words(rendered) == words(expected)
    assert rendered.endswith("\n")  # a trailing `--` comment cannot swallow what the engine wraps it in


def test_a_template_file_renders_the_base_sql_written_out():
    expected = f"""
        select r.week_start, {weeks_since_go_live("r.date")} as weeks_since_go_live,
               r.org_unit, r.staff_group, r.system, r.go_live_wave, r.pseudonym as subject,
               r.source as _src, r.source_record_id as _rid, s.key as domain, (s.value)::int as score
        from ({latest_skills_assessments("baseline")}) r
        left join core.dim_wave w using (go_live_wave)
        cross join lateral jsonb_each(r.scores) s
    """
    assert words(template("skills_scores.sql", phase="baseline").sql) == words(expected)
    assert words(all_metrics()["skills_mean_baseline"].base_sql) == words(expected)


def test_every_template_file_is_read_by_a_metric():
    used = {q.template for m in all_metrics().values() for q in (m.base, m.rows_of and m.rows_of.base) if q}
    assert set(template_names()) == used
    assert all(p.read_text().endswith("\n") for p in SQL_DIR.glob("*.sql"))


def test_the_templates_ship_with_the_package():
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert "sql/*.sql" in pyproject["tool"]["setuptools"]["package-data"]["warehouse.metrics"]


# -------------------------------------------------------------------------------------------------- CLI

def _realise(*args: str) -> subprocess.CompletedProcess[str]:
    # No warehouse runs: the settings name one on a port nothing listens on, and no data directory.
    env = {**os.environ, "REALISE_WAREHOUSE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
           "REALISE_DATA_DIR": "/nonexistent/realise", "COLUMNS": "200"}
    env.pop("REALISE_CONFIG", None)
    return subprocess.run([REALISE, *args], capture_output=True, text=True, env=env, timeout=120)


def test_metrics_show_definition_prints_the_structure_without_a_database():
    shown = _realise("metrics", "show", "time_saved_fte", "--definition")
    assert shown.returncode == 0, shown.stderr
    for text in ("type: derived", "mean_minutes", "average", "respondents", "count_distinct",
                 "minutes is not null", "value = mean_minutes * :shifts_per_week / 60.0 * live_staff / "
                 ":fte_hours_per_week", "numerator = minutes; denominator = answers", "time_saved.sql"):
        assert text in shown.stdout, text
    data = json.loads(_realise("metrics", "show", "median_hours_to_resolve", "--definition", "--json").stdout)
    assert data["type"] == "simple" and data["decomposes"] is False
    assert data["measures"][0] == {"name": "median_hours", "agg": "median", "expr": "hours_to_resolve",
                                   "additive": False}
    assert data["base"] == {"template": "tickets_resolved.sql", "variables": {}}
    shown = _realise("metrics", "show", "skills_change_teaching_learning", "--definition")
    assert "a full refresh draws them from: warehouse/metrics/sql/skills_changes.sql(domain=None) where domain = " \
           "'teaching_learning'" in shown.stdout
    data = json.loads(_realise("metrics", "show", "comment_theme_training", "--definition", "--json").stdout)
    assert data["base"]["rows_of"] == {"template": "comment_family.sql", "variables": {"themes": list(THEMES)},
                                       "where": None, "columns": {"mentions": "mentions_training"}}


def test_metrics_list_gives_each_metrics_type_and_whether_it_decomposes():
    rows = json.loads(_realise("metrics", "list", "--json").stdout)
    by_id = {r["id"]: r for r in rows}
    assert (by_id["backlog_growth"]["type"], by_id["backlog_growth"]["decomposes"]) == ("derived", True)
    assert (by_id["skills_group_gap"]["type"], by_id["skills_group_gap"]["decomposes"]) == ("simple", False)
    assert by_id["enps"]["structure"]["numerator"] == "net_promoters"
    assert by_id["enps"]["interval"] == "net"
