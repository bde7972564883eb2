"""`realise doctor` finds and explains a wrong password, an unreachable broker and a missing key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.integration
REALISE = str(Path(sys.executable).with_name("realise"))


def _doctor(tmp_path: Path, **env: str) -> tuple[int, list[dict[str, str]]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REALISE_")}
    clean.update(REALISE_DATA_DIR=str(tmp_path / "data"), **env)
    result = subprocess.run([REALISE, "doctor", "--json"], env=clean, cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout)


def test_given_wrong_password_unreachable_broker_and_no_key_when_doctor_runs_then_each_is_explained(
        tmp_path, warehouse_url):
    wrong = make_url(warehouse_url).set(password="not-the-password").render_as_string(hide_password=False)
    code, checks = _doctor(tmp_path, REALISE_WAREHOUSE_URL=wrong,
                           REALISE_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    by_name = {c["name"]: c for c in checks}

    assert code == 1
    assert by_name["warehouse"]["status"] == "fail"
    assert "user name or password" in by_name["warehouse"]["detail"]
    assert "REALISE_WAREHOUSE_URL" in by_name["warehouse"]["fix"]
    assert by_name["kafka"]["status"] == "fail"
    assert "cannot reach the Kafka broker" in by_name["kafka"]["detail"]
    assert by_name["pseudonymisation key"]["status"] == "fail"
    assert "REALISE_PSEUDONYM_KEY" in by_name["pseudonymisation key"]["fix"]


def test_given_a_healthy_setup_when_doctor_runs_then_warehouse_broker_and_key_pass(
        tmp_path, warehouse_url, kafka_bootstrap):
    code, checks = _doctor(tmp_path, REALISE_WAREHOUSE_URL=warehouse_url, REALISE_KAFKA_BOOTSTRAP=kafka_bootstrap,
                           REALISE_PSEUDONYM_KEY="a-long-random-secret-for-tests")
    by_name = {c["name"]: c["status"] for c in checks}

    assert by_name["warehouse"] == "ok"
    assert by_name["kafka"] in ("ok", "warn")  # topics may not exist yet on a fresh broker
    assert by_name["pseudonymisation key"] == "ok"
    assert code == 0
