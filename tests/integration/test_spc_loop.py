"""SPC against a real warehouse: `type: spc` alert rules and analytics.metric_spc, written after a refresh.

Metric values are written directly (a refresh row and its cells in core.metric_values, remembered as
published), so each case controls exactly which weeks are shown, suppressed or too small. Most units start
with 12 weeks alternating 10, 12 (mean 11, every moving range 2).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import free_ports
from written_cells import NES, Warehouse, week

from foundation.config import Settings
from foundation.errors import ConfigError
from warehouse.alerts import load_rules
from warehouse.loop import after_refresh
from warehouse.metrics.engine import RefreshResult

pytestmark = pytest.mark.integration

COVERAGE = "training_coverage"
STABLE = [10.0, 12.0] * 6


def weekly(segment_type: str, segment_value: str, values: list[float | None], n: int = 20,
           last: int = 0) -> list[tuple[str, str, date, float | None, int]]:
    """Cells of consecutive weeks ending `last` weeks from now; None = suppressed."""
    first = last - len(values) + 1
    return [(segment_type, segment_value, week(first + i), v, n) for i, v in enumerate(values)]


@pytest.fixture
def wh(warehouse_url: str) -> Any:
    w = Warehouse(warehouse_url)
    yield w
    w.dispose()


def _settings(tmp_path: Path, rules: str) -> Settings:
    (tmp_path / "alerts.yaml").write_text(rules)
    postgres, kafka, prefect = free_ports(3)
    return Settings.model_validate({
        "data_dir": str(tmp_path / "realise"), "metrics": {"alert_rules_file": str(tmp_path / "alerts.yaml")},
        "stack": {"postgres_port": postgres, "kafka_port": kafka, "prefect_port": prefect}})


SPC_RULE = """
rules:
  - id: nes-spc-unit
    type: spc
    metric: net_experience_score
    segment_type: org_unit
    min_n: 10
"""


def test_given_an_spc_rule_when_a_unit_falls_below_its_lower_limit_then_only_that_unit_alerts_and_later_resolves(
        wh, tmp_path):
    settings = _settings(tmp_path, SPC_RULE)
    wh.refresh([
        *weekly("org_unit", "stable", [*STABLE, 11.0]),
        # 12 alternating, then 2: mean 134 / 13 = 10.308; ranges 2 (x11) and 10: 32 / 12 = 2.667, and
        # 10 >= 3.267 x 2.667 = 8.71 is screened out: mean range 2, limits 10.308 ± 5.32 = 4.988 .. 15.628.
        *weekly("org_unit", "drop", [*STABLE, 2.0]),
        # 20 at the end: mean 152 / 13 = 11.692; ranges 2 (x11) and 8: 30 / 12 = 2.5 (8 < 8.17 stays); upper
        # limit 11.692 + 6.65 = 18.342: 20 is beyond it, but improving for a higher-is-better metric.
        *weekly("org_unit", "rise", [*STABLE, 20.0]),
        *weekly("org_unit", "hidden-now", [*STABLE, None]),  # the latest week suppressed: not judged
        *weekly("org_unit", "small", [*STABLE, 2.0], n=8),  # every cell under min_n: not judged
        *weekly("org_unit", "short", [*STABLE[:10], 2.0]),  # 11 values: too few for limits
        ("trust", "all", week(0), 2.0, 500),  # another segment type
    ])

    counts = after_refresh(wh.engine, settings, RefreshResult(1, "full"))

    alerts = wh.alerts()
    assert counts["alerts_opened"] == 1
    assert [(a["rule_id"], a["segment_value"], a["value"], a["period"], a["threshold"]) for a in alerts] == [
        ("nes-spc-unit", "drop", 2.0, week(0).isoformat(), None)]
    assert alerts[0]["message"] == (
        f"Net experience score for org_unit drop shows special cause concerning variation in the week of {week(0)}: "
        "2.0, below the lower process limit (mean 10.3, process limits 5.0 to 15.6)")

    # Back inside the limits: common cause, resolved.
    wh.refresh([("org_unit", "drop", week(1), 11.0, 20)])
    counts = after_refresh(wh.engine, settings, RefreshResult(2, "incremental"))
    assert (counts["alerts_opened"], counts["alerts_resolved"], counts["alerts_open"]) == (0, 1, 0)


def test_given_a_shift_rule_with_a_baseline_when_a_suppressed_week_splits_the_run_then_no_alert_until_it_is_seen(
        wh, tmp_path):
    rules = """
rules:
  - id: nes-shift
    type: spc
    metric: net_experience_score
    segment_type: org_unit
    signals: [shift]
    baseline_weeks: 12
    message: "{segment_value}: {signal} ({variation}, mean {mean:.0f})"
"""
    settings = _settings(tmp_path, rules)
    low = [9.0, 10.0, 9.0, 10.0, 9.0, 10.0, 9.0]  # 7 weeks below the baseline mean 11, inside the near limits
    wh.refresh([*weekly("org_unit", "seen", [*STABLE, *low]),
                *weekly("org_unit", "gap", [*STABLE, 9.0, 10.0, 9.0, None, 9.0, 10.0, 9.0])])

    after_refresh(wh.engine, settings, RefreshResult(1, "full"))

    # Week 11 (12) is above the mean, so the run is the 7 low weeks; in "gap" the suppressed week splits it.
    assert [(a["segment_value"], a["message"]) for a in wh.alerts()] == [
        ("seen", "seen: 7 weeks running below the mean (special cause concerning, mean 11)")]


def test_given_go_live_phases_when_a_wave_settles_at_a_new_level_then_its_limits_are_its_own(wh, tmp_path):
    rules = """
rules:
  - {id: wave-spc, type: spc, metric: net_experience_score, segment_type: go_live_wave, phase_starts: go_live}
  - {id: wave-spc-one-phase, type: spc, metric: net_experience_score, segment_type: go_live_wave}
"""
    settings = _settings(tmp_path, rules)
    with wh.engine.begin() as conn:
        conn.execute(sa.text("insert into core.dim_wave (go_live_wave, go_live_date) values ('wave-1', :d)"),
                     {"d": week(-11) + timedelta(days=2)})  # a Wednesday: the phase starts with its week
    # Before go-live 10/12 (mean 11), after it 20/24 (mean 22): within each phase nothing special. As one
    # phase (mean 16.5) the 12 weeks after go-live are a shift above the mean: improving, so the rule for
    # concerning variation stays quiet too.
    wh.refresh(weekly("go_live_wave", "wave-1", [*STABLE, *[20.0, 24.0] * 6]))

    after_refresh(wh.engine, settings, RefreshResult(1, "full"))

    assert wh.alerts() == []
    rows = wh.spc("wave-1")
    assert {r["phase_start"] for r in rows} == {week(-23), week(-11)}
    assert {(r["mean"], r["moving_range_mean"]) for r in rows} == {(11.0, 2.0), (22.0, 4.0)}
    assert {r["variation"] for r in rows} == {"common cause"}

    rule = next(r for r in load_rules(tmp_path / "alerts.yaml") if r.id == "wave-spc-one-phase")
    assert rule.phase_starts is None and rule.describe().startswith("spc concerning")


def test_given_a_refresh_when_the_loop_runs_then_metric_spc_holds_every_published_week_with_limits_and_icons(
        wh, tmp_path):
    settings = _settings(tmp_path, "rules: []\n")
    with wh.engine.begin() as conn:
        conn.execute(sa.text(
            "insert into core.benefits (benefit_id, title, metric_id, segment_type, segment_value, baseline_value, "
            "baseline_date, target_value, target_date, owner) values "
            "('b-late', 'Later target', :m, 'org_unit', 'drop', 0, :b, 99, :t2, 'CNIO'), "
            "('b-first', 'Unit confidence', :m, 'org_unit', 'drop', 5, :b, 20, :t, 'CNIO')"),
            {"m": NES, "b": week(-20), "t": week(10), "t2": week(20)})
    wh.refresh([*weekly("org_unit", "drop", [*STABLE[:6], None, *STABLE[7:], 2.0]),
                *weekly("org_unit", "few", [12.0, 10.0, 12.0])])
    wh.refresh(weekly("org_unit", "drop", [50.0, 60.0, 70.0] * 4 + [80.0]), metric=COVERAGE)  # cumulative

    counts = after_refresh(wh.engine, settings, RefreshResult(7, "full"))

    rows = wh.spc("drop")
    assert [r["period_start"] for r in rows] == [week(k) for k in range(-12, 1)]
    hidden = rows[6]
    assert (hidden["suppressed"], hidden["value"], hidden["shift"], hidden["variation"]) == (True, None, None, None)
    # Published: 10, 12, 10, 12, 10, 12 | 12, 10, 12, 10, 12, 2 (the gap after the sixth): sum 66 + 56 + 2 = 124
    # over 12 values = 10.333. Ranges: five of 2 before the gap, four of 2 after it and |2 - 12| = 10, none
    # across the gap: mean 28 / 10 = 2.8, and 10 >= 3.267 x 2.8 = 9.15 is screened out: 18 / 9 = 2. Limits
    # 10.333 ± 5.32 = 5.013 .. 15.653: 2 is beyond the lower one.
    latest = rows[-1]
    assert latest["limit_points"] == 12 and latest["mean"] == pytest.approx(124 / 12)
    assert latest["moving_range_mean"] == pytest.approx(2.0)
    assert latest["lower_limit"] == pytest.approx(124 / 12 - 5.32)
    assert latest["upper_limit"] == pytest.approx(124 / 12 + 5.32)
    assert (latest["beyond_limits"], latest["special_cause"], latest["variation"], latest["icon"]) == (
        True, "low", "special cause concerning", "concerning_low")
    # The earliest target (20) is above the upper limit 15.65: higher is better, so it is consistently failed.
    assert (latest["target"], latest["assurance"]) == (20.0, "consistently failing")
    assert (latest["metric_title"], latest["better"], latest["refresh_id"]) == ("Net experience score", "higher", 7)
    assert all(r["variation"] is None and r["mean"] is None for r in wh.spc("few"))  # 3 weeks: no limits
    assert wh.spc("drop", COVERAGE) == []
    assert counts["spc_series"] == 2 and counts["spc_rows"] == 16 and counts["spc_special_cause"] == 1

    with wh.engine.connect() as conn:
        conn.execute(sa.text("set role realise_analyst"))
        assert conn.execute(sa.text("select count(*) from analytics.metric_spc")).scalar_one() == 16


@pytest.mark.parametrize("rule, expected", [
    ("{id: s, type: spc, metric: training_coverage, segment_type: org_unit}",
     "rule 's', field 'type': training_coverage is cumulative"),
    ("{id: s, type: spc, metric: net_experience_score, segment_type: org_unit, phase_starts: go_live}",
     "rule 's': phase_starts: go_live starts a phase at each wave's own go-live date, so it needs segment_type "
     "go_live_wave"),
    ("{id: s, type: spc, metric: net_experience_score, segment_type: org_unit, threshold: 0}",
     "rule 's': threshold is for threshold and trend rules"),
    ("{id: s, type: spc, metric: net_experience_score, segment_type: org_unit, signals: [shfit]}",
     "rule 's', field 'signals.0': Input should be 'beyond_limits', 'shift', 'trend' or 'two_in_three'"),
    ("{id: s, type: spc, metric: net_experience_score, segment_type: org_unit, variation: worse}",
     "rule 's', field 'variation': Input should be 'concerning', 'improving' or 'any'"),
    ("{id: s, type: spc, metric: net_experience_score, segment_type: org_unit, phase_starts: [2026-02-30]}",
     "has a date that does not exist"),
    ("{id: s, type: spc, metric: net_experience_score, segment_type: org_unit, phase_starts: soon}",
     "rule 's', field 'phase_starts': phase_starts is go_live or a list of dates"),
    ("{id: s, type: spc, metric: net_experience_score, segment_type: org_unit, baseline_weeks: 8}",
     "baseline_weeks (8) is shorter than min_points (12)"),
    ("{id: s, type: spc, metric: net_experience_score, segment_type: org_unit, trend_points: 3}",
     "rule 's', field 'trend_points': Input should be greater than or equal to 5"),
    ("{id: s, metric: net_experience_score, segment_type: org_unit, condition: below, threshold: 0, "
     "signals: [shift]}", "rule 's': signals is for type: spc rules; add type: spc or remove them"),
    ("{id: s, metric: net_experience_score, segment_type: org_unit}",
     "rule 's': condition is required: below or above (with a threshold), falling or rising (with weeks); or set "
     "type: spc"),
    ("{id: s, type: spc, metric: net_experience_score, segment_type: org_unit, message: '{value} vs {threshold:g}'}",
     "(threshold, weeks and start_value are empty for type: spc rules)"),
])
def test_given_a_bad_spc_rule_when_loaded_then_a_config_error_names_the_file_rule_and_field(tmp_path, rule, expected):
    path = tmp_path / "alerts.yaml"
    path.write_text(f"rules:\n  - {rule}\n")
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    assert str(path) in str(caught.value) and expected in str(caught.value), str(caught.value)
