"""`--json` everywhere: every command that prints a result accepts it, and each read command's output parses.

The command tree is read from the Typer app itself, so a new command without `--json` fails here. The read
commands then run as the installed console script against a warehouse of the test's own holding a
benefits register, a metric cell, an alert with an action and a validation result, with stdout captured
(not a terminal, so no progress bars can mix into it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from conftest import free_ports

from foundation.database import create_engine
from warehouse.metrics import published

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REALISE = str(Path(sys.executable).with_name("realise"))
# Commands exempt from --json, each with the reason.
WITHOUT_JSON = {
    "webhook serve": "a long-running receiver: it prints where it listens and serves until stopped",
}


def _leaves(command: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf commands by their full name; groups are recognised by their sub-commands (Typer's own click)."""
    if isinstance(getattr(command, "commands", None), dict):
        found: dict[str, Any] = {}
        for name, sub in command.commands.items():
            found.update(_leaves(sub, f"{prefix} {name}".strip()))
        return found
    return {prefix: command}


def test_every_command_that_prints_a_result_accepts_json():
    from realise.cli import app

    commands = _leaves(typer.main.get_command(app))
    assert {"status", "doctor", "metrics show", "validation show", "docs warehouse"} <= set(commands)
    missing = sorted(name for name, cmd in commands.items()
                     if name not in WITHOUT_JSON and not any("--json" in p.opts for p in cmd.params))
    assert missing == [], f"commands without --json: {missing}"
    assert set(WITHOUT_JSON) <= set(commands), "an exemption names a command that no longer exists"


@pytest.fixture
def populated(warehouse_url: str) -> str:
    """One of each thing the read commands show, written directly so the test controls it."""
    engine = create_engine(warehouse_url)
    monday = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday())
    with engine.begin() as conn:
        conn.execute(sa.text(
            "insert into core.metric_definitions (metric_id, title, description, unit, numerator, denominator, "
            "better, min_group_size) values ('net_experience_score', 'Net experience score', 'test', 'score', "
            "'n', 'd', 'higher', 5)"))
        refresh = conn.execute(sa.text(
            "insert into ops.metric_refreshes (started_at, finished_at, mode, min_group_size, cells) "
            "values (now(), now(), 'full', 5, 1) returning id")).scalar_one()
        conn.execute(sa.text(
            "insert into core.metric_values (refresh_id, metric_id, grain, period, period_start, segment_type, "
            "segment_value, value, n, suppressed, computed_at) values (:r, 'net_experience_score', 'week', :p, "
            ":ps, 'trust', 'all', 21.5, 40, false, now())"), {"r": refresh, "p": monday.isoformat(), "ps": monday})
        published.remember(conn, refresh)
        conn.execute(sa.text(  # the example register counts its dates from these waves' go-lives
            "insert into core.dim_wave (go_live_wave, go_live_date) values ('wave-1', :a), ('wave-3', :b)"),
            {"a": monday - timedelta(weeks=10), "b": monday + timedelta(weeks=2)})
        conn.execute(sa.text(
            "insert into core.alerts (rule_id, metric_id, segment_type, segment_value, period, value, threshold, "
            "message) values ('net-score-negative-unit', 'net_experience_score', 'org_unit', 'RXX-MED-AEM-W7B', "
            ":p, -12, 0, 'Net experience score -12 in RXX-MED-AEM-W7B')"), {"p": monday.isoformat()})
        batch = conn.execute(sa.text(
            "insert into ops.ingest_batches (consumer_group, records, loaded, duplicates, quarantined, "
            "loaded_by_kind) values ('g', 3, 3, 0, 0, '{}') returning id")).scalar_one()
        conn.execute(sa.text(
            "insert into ops.validation_results (batch_id, kind, suite, records, failed_records, success, "
            "expectations) values (:b, 'form_response', 'realise.form_response', 3, 0, true, :e)"),
            {"b": batch, "e": json.dumps([{"expectation": "expect_column_values_to_not_be_null",
                                           "column": "event_id", "rule": "event_id is present", "success": True,
                                           "unexpected_count": 0}])})
    engine.dispose()
    return warehouse_url


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REALISE_", "PREFECT_"))}
    postgres, kafka, prefect = free_ports(3)
    env.update({"REALISE_WAREHOUSE_URL": url, "REALISE_DATA_DIR": str(tmp_path / "realise"),
                "REALISE_POSTGRES_PORT": str(postgres), "REALISE_KAFKA_PORT": str(kafka),
                "REALISE_PREFECT_PORT": str(prefect), "REALISE_ANALYST_PASSWORD": "analyst-secret-for-test"})
    return env


def test_each_read_command_prints_json_that_parses(populated, tmp_path):
    env = _env(tmp_path, populated)

    def run(*args: str, codes: tuple[int, ...] = (0,)) -> Any:
        result = subprocess.run([REALISE, *args, "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode in codes, (args, result.returncode, result.stderr[-2000:])
        try:
            return json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"realise {' '.join(args)} --json printed no JSON: {result.stdout[:500]!r}") from exc

    assert run("db", "upgrade")["revision"]
    assert run("status")["configured"]["warehouse"] is True
    assert {c["name"] for c in run("doctor", codes=(0, 1))} >= {"configuration", "warehouse"}
    assert any(m["id"] == "net_experience_score" for m in run("metrics", "list"))
    assert run("metrics", "show", "net_experience_score")[0]["value"] == 21.5
    loaded = run("benefits", "load", str(ROOT / "benefits.yaml"))
    assert loaded["benefits"] == len(run("benefits", "status")) > 0
    assert [a["segment_value"] for a in run("alerts", "list")] == ["RXX-MED-AEM-W7B"]
    assert run("alerts", "rules", str(ROOT / "alerts.yaml"))
    alert_id = run("alerts", "list", "--all")[0]["alert_id"]
    action = run("actions", "add", str(alert_id), "--what", "Floor-walkers on Ward 7B", "--owner", "Matron",
                 "--due", (date.today() + timedelta(days=7)).isoformat())
    assert [a["action_id"] for a in run("actions", "list")] == [action["action_id"]]
    assert run("actions", "done", str(action["action_id"]))["changed"] is True
    assert run("validation", "show")["latest"][0]["suite"] == "realise.form_response"
    page = tmp_path / "quality.html"
    assert run("validation", "report", "--out", str(page))["file"] == str(page)
    assert run("docs", "warehouse", "--check")["up_to_date"] is True
    report = tmp_path / "report.html"
    assert Path(run("report", "--out", str(report))["file"]).resolve() == report.resolve() and report.is_file()
    assert isinstance(run("sources", "list"), list)
    assert run("db", "analyst-login")["role"] == "realise_analyst"
    assert run("down")["services"]
