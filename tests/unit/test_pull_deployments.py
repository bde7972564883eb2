"""The `pull-<source>` deployments of prefect.yaml are generated from the connector registry, and kept so.

deploy/pull_deployments.py writes one deployment per connector type that declares a `pull_schedule`, or per
source a trust's realise.yaml configures. Here the
file is held against the generator (drift), and the deployments, read back as YAML, against the registry.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from connectors.core.stream import declared_types, source_type
from connectors.webhook import is_push_type

ROOT = Path(__file__).resolve().parents[2]
PREFECT_FILE = ROOT / "prefect.yaml"
GENERATOR = ROOT / "deploy" / "pull_deployments.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pull_deployments", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pull_deployments(text: str) -> dict[str, dict[str, Any]]:
    deployments = yaml.safe_load(text)["deployments"]
    return {d["name"]: d for d in deployments if d["entrypoint"] == "flows/pull.py:pull_flow"}


def test_prefect_yaml_holds_the_pull_deployments_the_generator_writes(capsys: pytest.CaptureFixture[str]) -> None:
    status = _generator().main(["--check"])
    assert status == 0, f"{capsys.readouterr().err.strip()} (its output is committed with the change)"


def test_given_the_registry_then_each_pulled_type_has_one_scheduled_deployment_and_no_pushed_type_has_any() -> None:
    deployments = _pull_deployments(PREFECT_FILE.read_text(encoding="utf-8"))
    expected = set()
    for type_name in declared_types():
        cls = source_type(type_name, type_name)
        if is_push_type(type_name):
            assert cls.pull_schedule is None, f"{type_name} is pushed to the webhook receiver: it has no pull schedule"
            continue
        assert cls.pull_schedule is not None and cls.summary, f"{type_name}: declare a summary and a pull_schedule"
        source = "directory" if type_name == "esr_csv" else type_name
        expected.add(f"pull-{source}")
        deployment = deployments.get(f"pull-{source}")
        assert deployment is not None, f"no deployment pull-{source} for connector type {type_name}"
        assert deployment["parameters"] == {"sources": [source]}
        assert deployment["description"] == cls.summary
        [schedule] = deployment["schedules"]
        wanted = {"interval": cls.pull_schedule.interval} if cls.pull_schedule.interval else \
            {"cron": cls.pull_schedule.cron}
        assert schedule == {**wanted, "timezone": "Europe/London", "active": True}
        assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
        assert deployment["work_pool"]["name"] == "realise-process"
    assert set(deployments) == expected
    assert next(iter(deployments)) == "pull-directory", "the staff directory is listed (and loads) first"


def test_given_a_hand_edit_in_the_generated_part_when_checked_then_it_is_drift_and_a_rewrite_undoes_only_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generator = _generator()
    original = PREFECT_FILE.read_text(encoding="utf-8")
    edited = original.replace("      sources: [zendesk]\n", "      sources: [zendesk]\n    paused: true\n")
    edited = edited.replace("name: report\n", "name: report\n    version: hand-written\n")
    assert edited.count("paused: true") == 1 and edited.count("hand-written") == 1
    path = tmp_path / "prefect.yaml"
    path.write_text(edited, encoding="utf-8")

    assert generator.main(["--check", "--file", str(path)]) == 1
    assert "out of date: run `python deploy/pull_deployments.py`" in capsys.readouterr().err
    assert generator.main(["--file", str(path)]) == 0
    assert generator.main(["--check", "--file", str(path)]) == 0
    rewritten = path.read_text(encoding="utf-8")
    assert "paused: true" not in rewritten and "version: hand-written" in rewritten, "only the generated part"
    assert rewritten == original.replace("name: report\n", "name: report\n    version: hand-written\n")


def test_given_a_file_without_the_marker_lines_when_generated_then_it_says_which_lines_to_add(tmp_path: Path) -> None:
    generator = _generator()
    path = tmp_path / "prefect.yaml"
    path.write_text(PREFECT_FILE.read_text(encoding="utf-8").replace(generator.END, ""), encoding="utf-8")
    with pytest.raises(SystemExit, match="needs the generated part's marker lines"):
        generator.main(["--check", "--file", str(path)])


def test_given_a_trust_config_then_each_enabled_pulled_source_gets_its_own_deployment(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "realise.yaml"
    config.write_text(yaml.safe_dump({"sources": {
        "itsm": {"type": "servicenow", "base_url": "https://trust.service-now.com"},
        "staff": {"type": "esr_csv", "path": "/data/esr"},
        "lms-old": {"type": "moodle", "base_url": "https://lms.example.nhs.uk", "enabled": False},
        "jira-hooks": {"type": "jira_webhook"},
    }}))
    project = tmp_path / "prefect.yaml"
    project.write_text(PREFECT_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    assert _generator().main(["--config", str(config), "--file", str(project)]) == 0
    text = project.read_text(encoding="utf-8")
    deployments = _pull_deployments(text)
    assert list(deployments) == ["pull-staff", "pull-itsm"]  # the staff directory first, pushed and disabled left out
    assert deployments["pull-itsm"]["parameters"] == {"sources": ["itsm"]}
    schedule = source_type("itsm", "servicenow").pull_schedule
    assert schedule is not None and deployments["pull-itsm"]["schedules"][0]["interval"] == schedule.interval
    hand_written = {d["name"] for d in yaml.safe_load(text)["deployments"]} - set(deployments)
    assert hand_written == {d["name"] for d in yaml.safe_load(PREFECT_FILE.read_text())["deployments"]
                            if d["entrypoint"] != "flows/pull.py:pull_flow"}
    config.write_text(yaml.safe_dump({"sources": {"x": {"type": "no_such_type"}}}))
    assert _generator().main(["--config", str(config), "--file", str(project), "--check"]) == 2
    assert "'no_such_type' is not a connector type" in capsys.readouterr().err
