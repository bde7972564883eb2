"""`realise db analyst-login`: a long password, and limits on what the analyst role's sessions may take."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import free_ports
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from foundation.database import create_engine

pytestmark = pytest.mark.integration

REALISE = str(Path(sys.executable).with_name("realise"))
PASSWORD = "correct-horse-battery"


def _realise(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REALISE_", "PREFECT_"))}
    postgres, kafka, prefect = free_ports(3)
    clean.update({"REALISE_DATA_DIR": str(cwd / "realise"), "REALISE_POSTGRES_PORT": str(postgres),
                  "REALISE_KAFKA_PORT": str(kafka), "REALISE_PREFECT_PORT": str(prefect), **env})
    return subprocess.run([REALISE, *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=60)


def _role(engine: sa.Engine) -> tuple[bool, int, list[str] | None]:
    with engine.connect() as conn:
        row = conn.execute(sa.text("select rolcanlogin, rolconnlimit, rolconfig from pg_roles "
                                   "where rolname = 'realise_analyst'")).one()
    return row[0], row[1], row[2]


@pytest.fixture
def admin(warehouse_url: str) -> Iterator[sa.Engine]:
    """The warehouse as its owner; the analyst role (shared by the whole server) is locked again afterwards."""
    engine = create_engine(warehouse_url)
    yield engine
    with engine.begin() as conn:
        conn.execute(sa.text("alter role realise_analyst nologin password null connection limit -1"))
        conn.execute(sa.text("alter role realise_analyst reset statement_timeout"))
    engine.dispose()


def test_given_defaults_when_analyst_login_runs_then_the_role_logs_in_with_a_timeout_and_a_connection_limit(
        tmp_path: Path, warehouse_url: str, admin: sa.Engine) -> None:
    result = _realise(tmp_path, "db", "analyst-login", REALISE_WAREHOUSE_URL=warehouse_url,
                      REALISE_ANALYST_PASSWORD=PASSWORD)

    assert result.returncode == 0, result.stderr
    assert _role(admin) == (True, 10, ["statement_timeout=5min"])
    analyst = create_engine(make_url(warehouse_url).set(username="realise_analyst", password=PASSWORD)
                            .render_as_string(hide_password=False))
    try:
        with analyst.connect() as conn:
            assert conn.execute(sa.text("show statement_timeout")).scalar_one() == "5min"
    finally:
        analyst.dispose()


def test_given_a_timeout_and_limit_when_analyst_login_runs_then_the_role_gets_them(
        tmp_path: Path, warehouse_url: str, admin: sa.Engine) -> None:
    result = _realise(tmp_path, "db", "analyst-login", "--statement-timeout", "90s", "--connection-limit", "2",
                      "--json", REALISE_WAREHOUSE_URL=warehouse_url, REALISE_ANALYST_PASSWORD=PASSWORD)

    assert result.returncode == 0, result.stderr
    assert '"connection_limit": 2' in result.stdout
    assert _role(admin) == (True, 2, ["statement_timeout=90s"])
    url = make_url(warehouse_url).set(username="realise_analyst", password=PASSWORD)
    analyst = create_engine(url.render_as_string(hide_password=False), pool_size=3)
    held = [analyst.connect(), analyst.connect()]
    try:
        with pytest.raises(OperationalError, match="too many connections for role"):
            analyst.connect()
    finally:
        for conn in held:
            conn.close()
        analyst.dispose()


@pytest.mark.parametrize(("args", "env", "expected"), [
    ((), {"REALISE_ANALYST_PASSWORD": "x"},
     "error: the password in $REALISE_ANALYST_PASSWORD is shorter than 12 characters"),
    ((), {"REALISE_ANALYST_PASSWORD": "eleven-char"}, "is shorter than 12 characters"),
    (("--statement-timeout", "soon"), {"REALISE_ANALYST_PASSWORD": PASSWORD},
     "error: --statement-timeout 'soon' is not a positive PostgreSQL duration"),
    (("--statement-timeout", "0"), {"REALISE_ANALYST_PASSWORD": PASSWORD}, "is not a positive PostgreSQL duration"),
])
def test_given_a_short_password_or_bad_timeout_when_analyst_login_runs_then_one_line_and_exit_2(
        tmp_path: Path, warehouse_url: str, admin: sa.Engine, args: tuple[str, ...], env: dict[str, str],
        expected: str) -> None:
    result = _realise(tmp_path, "db", "analyst-login", *args, REALISE_WAREHOUSE_URL=warehouse_url, **env)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert _role(admin)[0] is False, "the role was changed although the command refused"
