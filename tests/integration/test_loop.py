"""The benefits register and the alert → action loop, against a real warehouse (and broker for publishing).

Metric values are written directly (a refresh row in ops.metric_refreshes and its cells in
core.metric_values), so each case controls exactly which cells breach, are suppressed or are too small.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import free_ports
from kafka import TopicPartition
from written_cells import NES, Warehouse, week

import foundation.kafka as rk
from foundation.config import Settings
from foundation.errors import ConfigError
from schemas.topics import ALERTS_TOPIC
from warehouse.alerts import AlertRule, Cell, judge, load_rules
from warehouse.benefits import load_register, store_register
from warehouse.loop import after_refresh
from warehouse.metrics.engine import RefreshResult

pytestmark = pytest.mark.integration

REALISE = str(Path(sys.executable).with_name("realise"))


@pytest.fixture
def wh(warehouse_url: str) -> Any:
    w = Warehouse(warehouse_url)
    yield w
    w.dispose()


def _settings(tmp_path: Path, rules: str | None = None, benefits: str | None = None, **extra: Any) -> Settings:
    metrics: dict[str, Any] = {}
    if rules is not None:
        (tmp_path / "alerts.yaml").write_text(rules)
        metrics["alert_rules_file"] = str(tmp_path / "alerts.yaml")
    if benefits is not None:
        (tmp_path / "benefits.yaml").write_text(benefits)
        metrics["benefits_file"] = str(tmp_path / "benefits.yaml")
    postgres, kafka, prefect = free_ports(3)  # no developer's embedded broker is found by accident
    return Settings.model_validate({
        "data_dir": str(tmp_path / "realise"), "metrics": metrics,
        "stack": {"postgres_port": postgres, "kafka_port": kafka, "prefect_port": prefect}, **extra})


def _with_rules(settings: Settings, tmp_path: Path, rules: str) -> Settings:
    (tmp_path / "alerts.yaml").write_text(rules)
    return settings.model_copy(update={"metrics": settings.metrics.model_copy(
        update={"alert_rules_file": str(tmp_path / "alerts.yaml")})})


def _realise(cwd: Path, *args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REALISE_", "PREFECT_"))}
    postgres, kafka, prefect = free_ports(3)
    env.update({"REALISE_WAREHOUSE_URL": url, "REALISE_DATA_DIR": str(cwd / "realise"),
                "REALISE_POSTGRES_PORT": str(postgres), "REALISE_KAFKA_PORT": str(kafka),
                "REALISE_PREFECT_PORT": str(prefect)})
    return subprocess.run([REALISE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


BELOW_ZERO = """
rules:
  - id: net-score-negative
    metric: net_experience_score
    segment_type: org_unit
    condition: below
    threshold: 0
    min_n: 10
    message: "Net score {value:+.0f} in {segment_value} (week of {period}, n={n}) is below {threshold:g}"
"""

REGISTER = f"""
benefits:
  - id: epr-confidence
    title: Staff confidence with the EPR
    metric: net_experience_score
    baseline: {{value: 10, date: {week(-20)}}}
    target: {{value: 30, date: {week(10)}}}
    owner: CNIO
  - id: w7b-confidence
    title: Ward 7B confidence recovers
    metric: net_experience_score
    segment_type: org_unit
    segment_value: RXX-MED-AEM-W7B
    baseline: {{value: -10, date: {week(-20)}}}
    target: {{value: 20, date: {week(10)}}}
    owner: Matron, Acute Medicine
"""


# --- benefits register ---------------------------------------------------------------------------

def test_given_a_register_file_when_loaded_then_core_benefits_matches_and_removed_benefits_go(wh, tmp_path):
    path = tmp_path / "benefits.yaml"
    path.write_text(REGISTER)
    assert store_register(wh.engine, load_register(path)) == {"benefits": 2, "added": 2, "updated": 0, "removed": 0}

    path.write_text(REGISTER.split("  - id: w7b-confidence")[0].replace("owner: CNIO", "owner: CCIO"))
    assert store_register(wh.engine, load_register(path)) == {"benefits": 1, "added": 0, "updated": 1, "removed": 1}
    with wh.engine.connect() as conn:
        rows = conn.execute(sa.text("select benefit_id, owner, segment_type, segment_value, baseline_value, "
                                    "target_date from core.benefits")).all()
    assert [tuple(r) for r in rows] == [("epr-confidence", "CCIO", "trust", "all", 10.0, week(10))]


def test_given_a_rising_measure_when_the_loop_runs_after_a_refresh_then_the_benefit_is_on_track(wh, tmp_path):
    store_register(wh.engine, load_register(_settings(tmp_path, benefits=REGISTER).metrics.benefits_file))
    # Trust: 14, 16, 18, 20 (slope 2 a week: 40 by week 10 >= 30). W7B: 0, suppressed, -1, -2, -3 (falling).
    wh.refresh([("trust", "all", week(k), 20 + 2 * k, 400) for k in range(-3, 1)]
               + [("org_unit", "RXX-MED-AEM-W7B", week(k), v, 12)
                  for k, v in zip(range(-4, 1), (0, None, -1, -2, -3), strict=True)])

    counts = after_refresh(wh.engine, _settings(tmp_path), RefreshResult(1, "full"))

    assert counts["benefits"] == 2
    assert counts["benefit_status"] == {"on track": 1, "off track": 1}
    with wh.engine.connect() as conn:
        rows = {r.benefit_id: r for r in conn.execute(sa.text("select * from analytics.benefits"))}
    assert rows["epr-confidence"].status == "on track"
    assert rows["epr-confidence"].current_value == 20
    assert rows["epr-confidence"].projected_value == pytest.approx(40)
    assert rows["epr-confidence"].metric_title == "Net experience score"
    assert rows["w7b-confidence"].status == "off track"
    assert "worse than the baseline" not in rows["w7b-confidence"].status_reason  # -3 is above -10: the trend
    assert "heads away" in rows["w7b-confidence"].status_reason


def test_given_the_latest_week_suppressed_when_the_loop_runs_then_the_benefit_has_no_data(wh, tmp_path):
    store_register(wh.engine, load_register(_settings(tmp_path, benefits=REGISTER).metrics.benefits_file))
    # Last week, which is over, hidden (a week still under way would be left out: its answers still come in).
    wh.refresh([("trust", "all", week(k), v, 400 if v else 3) for k, v in ((-3, 10.0), (-2, 12.0), (-1, None))])

    after_refresh(wh.engine, _settings(tmp_path), RefreshResult(1, "full"))

    with wh.engine.connect() as conn:
        rows = {r.benefit_id: r for r in conn.execute(sa.text("select * from analytics.benefits"))}
    assert rows["epr-confidence"].status == "no data"
    assert rows["epr-confidence"].current_value is None
    assert "suppressed" in rows["epr-confidence"].status_reason
    assert rows["w7b-confidence"].status == "no data"  # no values for the unit at all


@pytest.mark.parametrize("text, expected", [
    ("benefits:\n  - id: a\n    title: [unclosed\n", "not valid YAML at line"),
    (REGISTER.replace("metric: net_experience_score\n    baseline: {value: 10",
                      "metric: net_experience_scor\n    baseline: {value: 10"),
     "benefit 'epr-confidence', field 'metric': unknown metric 'net_experience_scor'; known metrics: "),
    (REGISTER.replace("    owner: CNIO\n", ""), "benefit 'epr-confidence', field 'owner': required field is missing"),
    (REGISTER.replace("segment_type: org_unit", "segment_type: ward"),
     "benefit 'w7b-confidence', field 'segment_type': unknown segment type 'ward'"),
    (REGISTER.replace("target: {value: 30", "target: {value: 5"),
     "benefit 'epr-confidence', field 'target.value': for net_experience_score higher is better"),
    (REGISTER.replace("title: Staff", "titel: Staff"), "field 'titel': unknown field"),
    (REGISTER.replace("w7b-confidence", "epr-confidence"), "the id is used twice"),
])
def test_given_a_bad_register_when_loaded_then_a_config_error_names_the_file_benefit_and_field(
        tmp_path, text, expected):
    path = tmp_path / "benefits.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_register(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)
    if "known metrics" in expected:
        assert NES in str(caught.value).split("known metrics: ")[1]


def test_given_a_bad_register_when_loaded_by_the_cli_then_it_exits_2_with_one_line(warehouse_url, tmp_path):
    (tmp_path / "benefits.yaml").write_text(REGISTER.replace("net_experience_score", "no_such_metric", 1))
    line = _one_line_error(_realise(tmp_path, "benefits", "load", url=warehouse_url))
    assert "benefits.yaml: benefit 'epr-confidence', field 'metric': unknown metric 'no_such_metric'" in line


def test_given_a_register_when_loaded_and_listed_by_the_cli_then_status_shows_every_benefit(warehouse_url, tmp_path):
    (tmp_path / "benefits.yaml").write_text(REGISTER)
    loaded = _realise(tmp_path, "benefits", "load", "--json", url=warehouse_url)
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["added"] == 2

    status = _realise(tmp_path, "benefits", "status", "--json", url=warehouse_url)
    assert status.returncode == 0, status.stderr
    rows = json.loads(status.stdout)
    assert [(r["benefit_id"], r["status"]) for r in rows] == [("epr-confidence", "no data"),
                                                               ("w7b-confidence", "no data")]
    table = _realise(tmp_path, "benefits", "status", url=warehouse_url)
    assert table.returncode == 0, table.stderr
    assert "Staff" in table.stdout and "epr-confidence (net_experience_score, trust; owner CNIO): no data" in \
        " ".join(table.stdout.split())


# --- alerts --------------------------------------------------------------------------------------

def test_given_breaching_units_when_evaluated_twice_and_then_recovered_then_one_alert_per_unit_opens_and_resolves(
        wh, tmp_path):
    settings = _settings(tmp_path, rules=BELOW_ZERO)
    wh.refresh([
        ("org_unit", "A", week(0), -5.0, 20),   # breaches
        ("org_unit", "B", week(0), 10.0, 20),   # fine
        ("org_unit", "C", week(0), -20.0, 8),   # breaches, but fewer people than min_n
        ("org_unit", "D", week(0), None, 3),    # suppressed
        ("org_unit", "E", week(-1), 5.0, 15),
        ("org_unit", "E", week(0), -1.0, 12),   # breaches
        ("trust", "all", week(0), -3.0, 500),   # another segment type: not watched by the rule
    ])

    first = after_refresh(wh.engine, settings, RefreshResult(1, "full"))
    assert (first["alerts_opened"], first["alerts_resolved"], first["alerts_open"]) == (2, 0, 2)
    opened = wh.alerts()
    assert [(a["segment_value"], a["value"], a["period"], a["status"]) for a in opened] == [
        ("A", -5.0, week(0).isoformat(), "open"), ("E", -1.0, week(0).isoformat(), "open")]
    assert opened[0]["message"] == f"Net score -5 in A (week of {week(0)}, n=20) is below 0"
    assert opened[0]["threshold"] == 0 and opened[0]["rule_id"] == "net-score-negative"

    second = after_refresh(wh.engine, settings, RefreshResult(2, "full"))
    assert (second["alerts_opened"], second["alerts_updated"], second["alerts_open"]) == (0, 2, 2)
    again = wh.alerts()
    assert [a["alert_id"] for a in again] == [a["alert_id"] for a in opened]
    assert again[0]["last_seen_at"] > opened[0]["last_seen_at"]

    wh.refresh([("org_unit", "A", week(0), 4.0, 21), ("org_unit", "E", week(0), -2.0, 12)])
    third = after_refresh(wh.engine, settings, RefreshResult(3, "incremental"))
    assert (third["alerts_opened"], third["alerts_resolved"], third["alerts_open"]) == (0, 1, 1)
    by_unit = {a["segment_value"]: a for a in wh.alerts()}
    assert by_unit["A"]["status"] == "resolved" and by_unit["A"]["resolved_at"] is not None
    assert by_unit["E"]["status"] == "open" and by_unit["E"]["value"] == -2.0

    wh.refresh([("org_unit", "A", week(1), -8.0, 30)])  # breaches again: a new alert, the old stays resolved
    fourth = after_refresh(wh.engine, settings, RefreshResult(4, "incremental"))
    assert fourth["alerts_opened"] == 1
    assert [(a["segment_value"], a["status"]) for a in wh.alerts() if a["segment_value"] == "A"] == [
        ("A", "resolved"), ("A", "open")]


def test_given_suppressed_cells_when_rules_match_everything_then_they_never_raise_or_resolve_alerts(wh, tmp_path):
    rules = """
rules:
  - {id: any-value, metric: net_experience_score, segment_type: org_unit, condition: above, threshold: -1000}
  - {id: any-fall, metric: net_experience_score, segment_type: org_unit, condition: falling, weeks: 2}
"""
    settings = _settings(tmp_path, rules=rules)
    wh.refresh([("org_unit", u, week(k), v, n) for u, n, values in (
        ("shown", 20, (3.0, 2.0, 1.0)),
        ("small", 4, (None, None, None)),           # primary suppression throughout
        ("hidden-now", 20, (3.0, 2.0, None)),       # the latest week suppressed
        ("gap", 20, (3.0, None, 1.0)),              # a suppressed week breaks the run of falls
    ) for k, v in zip((-2, -1, 0), values, strict=True)])

    counts = after_refresh(wh.engine, settings, RefreshResult(1, "full"))

    assert sorted((a["rule_id"], a["segment_value"]) for a in wh.alerts()) == [
        ("any-fall", "shown"), ("any-value", "gap"), ("any-value", "shown")]
    assert counts["alerts_opened"] == 3
    # The shown unit becomes suppressed: its alerts stay open (no evidence either way), none is added.
    wh.refresh([("org_unit", "shown", week(0), None, 2)])
    counts = after_refresh(wh.engine, settings, RefreshResult(2, "incremental"))
    assert (counts["alerts_opened"], counts["alerts_resolved"], counts["alerts_open"]) == (0, 0, 3)


def test_given_a_trend_rule_when_a_unit_falls_three_weeks_running_then_only_that_unit_alerts(wh, tmp_path):
    rules = """
rules:
  - id: net-score-falling
    metric: net_experience_score
    segment_type: org_unit
    condition: falling
    weeks: 3
    min_n: 10
"""
    settings = _settings(tmp_path, rules=rules)
    series = {"falls": (10.0, 8.0, 6.0, 4.0), "recovers": (10.0, 8.0, 9.0, 4.0), "flat": (5.0, 5.0, 5.0, 5.0),
              "small": (10.0, 8.0, 6.0, 4.0)}
    wh.refresh([("org_unit", u, week(k), v, 5 if u == "small" else 20)
                for u, values in series.items() for k, v in zip(range(-3, 1), values, strict=True)])

    counts = after_refresh(wh.engine, settings, RefreshResult(1, "full"))

    alerts = wh.alerts()
    assert counts["alerts_opened"] == 1
    assert [(a["segment_value"], a["value"], a["threshold"]) for a in alerts] == [("falls", 4.0, None)]
    assert "fallen 3 weeks running, from 10.0 to 4.0" in alerts[0]["message"]

    wh.refresh([("org_unit", "falls", week(1), 4.5, 20)])  # the run is broken
    assert after_refresh(wh.engine, settings, RefreshResult(2, "incremental"))["alerts_resolved"] == 1


def test_given_alert_rule_cells_when_judged_then_gaps_and_small_groups_are_unknown():
    rule = AlertRule(id="r", metric=NES, segment_type="org_unit", condition="rising", weeks=2, min_n=10)
    cells = [Cell(week(-2), 1.0, 20), Cell(week(-1), 2.0, 20), Cell(week(0), 3.0, 20)]
    assert judge(rule, cells).state == "breach"
    assert judge(rule, cells).start_value == 1.0
    assert judge(rule, [cells[0], cells[2]]).state == "unknown"  # week -1 missing
    assert judge(rule, [*cells[:2], Cell(week(0), 3.0, 9)]).state == "unknown"  # too few people
    assert judge(rule, [*cells[:2], Cell(week(0), 1.5, 20)]).state == "clear"
    assert judge(rule, []).state == "unknown"


@pytest.mark.parametrize("text, expected", [
    (BELOW_ZERO.replace("    threshold: 0\n", ""), "rule 'net-score-negative': condition below needs a "
                                                  "threshold"),
    (BELOW_ZERO.replace("{value:+.0f}", "{score}"), "field 'message': message uses unknown field score"),
    (BELOW_ZERO.replace("condition: below", "condition: under"), "field 'condition': Input should be"),
    (BELOW_ZERO.replace("metric: net_experience_score", "metric: nope"), "unknown metric 'nope'; known metrics:"),
    (BELOW_ZERO.replace("grain: week", "") + "    grain: month\n", "field 'grain'"),
    ("rules: {a: 1}", "'rules' must be a list of rules"),
])
def test_given_bad_alert_rules_when_loaded_then_a_config_error_names_the_file_rule_and_field(
        tmp_path, text, expected):
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    assert str(path) in str(caught.value) and expected in str(caught.value), str(caught.value)


def test_given_new_alerts_when_a_broker_is_configured_then_they_are_published_keyed_by_rule_and_segment(
        ingest_settings, tmp_path):
    settings = _with_rules(ingest_settings, tmp_path, BELOW_ZERO)
    w = Warehouse(ingest_settings.warehouse.url)
    try:
        w.refresh([("org_unit", "A", week(0), -5.0, 20), ("org_unit", "B", week(0), -7.0, 20)])
        counts = after_refresh(w.engine, settings, RefreshResult(1, "full"))
        assert (counts["alerts_opened"], counts["alerts_published"]) == (2, 2)
        assert after_refresh(w.engine, settings, RefreshResult(2, "full"))["alerts_published"] == 0
        ids = {a["segment_value"]: a["alert_id"] for a in w.alerts()}
    finally:
        w.dispose()

    topic = settings.topic(ALERTS_TOPIC)
    consumer = rk.consumer(settings, settings.kafka.bootstrap, group=None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        assert tps, f"{topic} was not created"
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(records) < 2:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        time.sleep(1)
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)  # a duplicate would show up here
    finally:
        consumer.close(autocommit=False)
    assert sorted(r.key for r in records) == [b"net-score-negative|org_unit|A", b"net-score-negative|org_unit|B"]
    sent = {json.loads(r.value)["segment_value"]: json.loads(r.value) for r in records}
    assert sent["A"]["alert_id"] == ids["A"] and sent["A"]["value"] == -5.0
    assert sent["A"]["rule_id"] == "net-score-negative" and sent["A"]["metric_id"] == NES
    assert sent["B"]["message"].startswith("Net score -7 in B")


def test_given_no_broker_when_alerts_open_then_they_are_kept_and_publishing_is_skipped(wh, tmp_path, caplog):
    settings = _settings(tmp_path, rules=BELOW_ZERO)  # no bootstrap and no embedded broker running
    wh.refresh([("org_unit", "A", week(0), -5.0, 20)])
    counts = after_refresh(wh.engine, settings, RefreshResult(1, "full"))
    assert (counts["alerts_opened"], counts["alerts_published"]) == (1, 0)
    assert "not published" in caplog.text


def test_given_an_empty_warehouse_when_metrics_refresh_then_the_loop_result_is_attached(wh, tmp_path):
    from warehouse.metrics.service import refresh_metrics

    result = refresh_metrics(wh.engine, _settings(tmp_path, rules=BELOW_ZERO), full=True)
    assert {"benefits": 0, "alerts_opened": 0, "alerts_resolved": 0, "alerts_open": 0}.items() <= result.loop.items()


# --- actions -------------------------------------------------------------------------------------

def test_given_an_alert_when_an_action_is_recorded_by_the_cli_then_analytics_actions_shows_before_and_after(
        wh, warehouse_url, tmp_path):
    action_day = week(-4)
    # Unit A: -10, -8, -6, -4 in the 4 weeks before the action; 0, 2, 4 and a suppressed week after it.
    values = [(-8, -10.0), (-7, -8.0), (-6, -6.0), (-5, -4.0), (-4, 0.0), (-3, 2.0), (-2, 4.0), (-1, None),
              (0, -1.0)]
    wh.refresh([("org_unit", "A", week(k), v, 20 if v is not None else 3) for k, v in values])
    after_refresh(wh.engine, _settings(tmp_path, rules=BELOW_ZERO), RefreshResult(1, "full"))
    (alert,) = wh.alerts()

    added = _realise(tmp_path, "actions", "add", str(alert["alert_id"]), "--what", "Floor-walkers on Ward A",
                     "--owner", "Matron A", "--due", str(week(2)), "--date", str(action_day), "--json",
                     url=warehouse_url)
    assert added.returncode == 0, added.stderr
    action_id = json.loads(added.stdout)["action_id"]

    listed = _realise(tmp_path, "actions", "list", "--json", url=warehouse_url)
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["action_id"] == action_id and row["alert_id"] == alert["alert_id"]
    assert (row["description"], row["owner"], row["status"]) == ("Floor-walkers on Ward A", "Matron A", "open")
    assert (row["before_value"], row["before_weeks"]) == (pytest.approx(-7.0), 4)
    assert (row["after_value"], row["after_weeks"]) == (pytest.approx(2.0), 3)
    assert row["change"] == pytest.approx(9.0) and row["improved"] is True

    done = _realise(tmp_path, "actions", "done", str(action_id), url=warehouse_url)
    assert done.returncode == 0, done.stderr
    with wh.engine.connect() as conn:
        view = conn.execute(sa.text("select status, overdue from analytics.actions")).one()
        counts = conn.execute(sa.text("select actions, open_actions from analytics.alerts")).one()
    assert tuple(view) == ("done", False)
    assert tuple(counts) == (1, 0)

    alerts = _realise(tmp_path, "alerts", "list", "--json", url=warehouse_url)
    assert alerts.returncode == 0, alerts.stderr
    assert [a["alert_id"] for a in json.loads(alerts.stdout)] == [alert["alert_id"]]


@pytest.mark.parametrize(("half_width", "beyond_noise", "margin"), [
    # Each week's standard error is its interval's width / 3.92: ±2 gives 1.0204, so the 4 weeks before have
    # 1.0204 / √4 = 0.5102 and the 3 after 1.0204 / √3 = 0.5891; the change's is √(0.5102² + 0.5891²) = 0.7794,
    # and 9 ± 1.96 × 0.7794 = 9 ± 1.528 leaves out 0.
    (2.0, True, 1.5275),
    # ±30: 15.306 a week, 7.653 before, 8.837 after, 11.690 the change: 9 ± 22.913 takes in 0.
    (30.0, False, 22.9129),
    (None, None, None),  # no intervals (a median, say): nothing to say
])
def test_given_an_action_when_its_change_is_compared_with_the_weekly_intervals_then_it_says_if_beyond_noise(
        wh, tmp_path, half_width, beyond_noise, margin):
    # As above: -10, -8, -6, -4 before the action; 0, 2, 4 and a suppressed week after; a breach this week.
    values = [(-8, -10.0), (-7, -8.0), (-6, -6.0), (-5, -4.0), (-4, 0.0), (-3, 2.0), (-2, 4.0), (-1, None),
              (0, -1.0)]
    wh.refresh([("org_unit", "A", week(k), v, 20 if v is not None else 3) for k, v in values],
               half_width=half_width)
    after_refresh(wh.engine, _settings(tmp_path, rules=BELOW_ZERO), RefreshResult(1, "full"))
    (alert,) = wh.alerts()
    with wh.engine.begin() as conn:
        conn.execute(sa.text(
            "insert into core.actions (alert_id, description, owner, due_date, action_date) "
            "values (:a, 'Floor-walkers', 'Matron A', :due, :day)"),
            {"a": alert["alert_id"], "due": week(2), "day": week(-4)})
        row = conn.execute(sa.text(
            "select change, change_ci_low, change_ci_high, beyond_noise from analytics.actions")).mappings().one()

    assert row["change"] == pytest.approx(9.0)
    assert row["beyond_noise"] is beyond_noise
    if margin is None:
        assert (row["change_ci_low"], row["change_ci_high"]) == (None, None)
    else:
        assert (row["change_ci_low"], row["change_ci_high"]) == (pytest.approx(9 - margin, abs=1e-3),
                                                                 pytest.approx(9 + margin, abs=1e-3))


def test_given_bad_input_when_an_action_is_added_then_the_cli_explains_in_one_line(wh, warehouse_url, tmp_path):
    wh.refresh([("org_unit", "A", week(0), -5.0, 20)])
    after_refresh(wh.engine, _settings(tmp_path, rules=BELOW_ZERO), RefreshResult(1, "full"))
    (alert,) = wh.alerts()
    common = ["--what", "Extra training", "--owner", "Lead"]

    due = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()  # a valid date: only the alert is wrong
    unknown = _one_line_error(_realise(tmp_path, "actions", "add", "999999", *common, "--due", due,
                                       url=warehouse_url))
    assert "no alert 999999" in unknown and "realise alerts list --all" in unknown
    bad_date = _one_line_error(_realise(tmp_path, "actions", "add", str(alert["alert_id"]), *common,
                                        "--due", "2026-13-01", url=warehouse_url))
    assert "--due '2026-13-01' is not a date" in bad_date and "YYYY-MM-DD" in bad_date
    backwards = _one_line_error(_realise(tmp_path, "actions", "add", str(alert["alert_id"]), *common,
                                         "--due", "2020-01-01", url=warehouse_url))
    assert "before the action date" in backwards
    missing = _one_line_error(_realise(tmp_path, "actions", "done", "424242", url=warehouse_url))
    assert "no action 424242" in missing


def test_given_a_warehouse_migrated_before_the_loop_when_a_refresh_ends_then_it_says_to_upgrade(wh, tmp_path):
    from alembic import command

    from foundation.errors import UserError
    from warehouse.db import _alembic_config, current_revision, upgrade

    command.downgrade(_alembic_config(wh.engine), "0002")
    assert current_revision(wh.engine) == "0002"
    store_register(wh.engine, load_register(_settings(tmp_path, benefits=REGISTER).metrics.benefits_file))
    with pytest.raises(UserError, match=r"out of date .*run `realise db upgrade`"):
        after_refresh(wh.engine, _settings(tmp_path, rules=BELOW_ZERO), RefreshResult(1, "full"))
    upgrade(wh.engine)
    assert after_refresh(wh.engine, _settings(tmp_path, rules=BELOW_ZERO), RefreshResult(1, "full"))["benefits"] == 2
