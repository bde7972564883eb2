"""Quarantine rows written before reasons and claimed ids were cleaned are cleaned by the migration, and the
analyst's view shows claimed ids only in the contract's shape whatever the table holds."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from foundation.database import create_engine
from foundation.quarantine import digest
from warehouse.db import upgrade

pytestmark = pytest.mark.integration
LEAKY = ["payload.likert.jane.doe@nhs.net: Input should be a valid integer (got 'x')",
         "comment: call 07700 900468"]


@pytest.fixture
def fresh_db(pg_server):  # noqa: ANN001, ANN201
    name = f"q_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server.admin_url("postgres"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"create database {name}"))
    yield pg_server.admin_url(name)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"drop database if exists {name} with (force)"))
    admin.dispose()


def _insert(conn: sa.Connection, offset: int, source: str, event_id: str, reasons: list[str]) -> None:
    conn.execute(sa.text(
        'insert into ops.quarantine (topic, partition, "offset", raw, raw_sha256, raw_size, source, event_id, '
        "stage, reasons) values ('t', 0, :o, 'x', :sha, 1, :s, :e, 'contract', :r)"),
        {"o": offset, "sha": f"{offset:064d}", "s": source, "e": event_id, "r": reasons})


def test_given_leaky_quarantine_rows_when_migrated_and_read_by_analysts_then_no_identifier_is_shown(fresh_db):
    engine = create_engine(fresh_db)
    upgrade(engine, "0008")
    known = str(uuid.uuid4())
    with engine.begin() as conn:
        _insert(conn, 1, "jane.doe@nhs.net", "07700900468", LEAKY)
        _insert(conn, 2, "msforms", known, ["kind: required field is missing"])
    upgrade(engine)
    with engine.begin() as conn:
        _insert(conn, 3, "jane doe", "not-a-uuid", ["written after the upgrade by something else"])
        rows = conn.execute(sa.text('select "offset", source, event_id, reasons from analytics.quarantine '
                                    'order by "offset"')).all()
    engine.dispose()
    by_offset = {o: (s, e, list(r)) for o, s, e, r in rows}
    assert by_offset[1][0] == digest("jane.doe@nhs.net") and by_offset[1][1] == digest("07700900468")
    assert "jane" not in " ".join(by_offset[1][2]) and "07700" not in " ".join(by_offset[1][2])
    assert by_offset[2] == ("msforms", known, ["kind: required field is missing"])
    assert by_offset[3][0] == digest("jane doe") and by_offset[3][1] == digest("not-a-uuid")
