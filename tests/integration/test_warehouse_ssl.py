"""PostgreSQL SSL is configuration only: warehouse.sslmode reaches every connection, ingest's own included.

The embedded server does not offer SSL, so `sslmode=require` must make each kind of connection fail with
libpq's SSL error; a connection that ignored the setting would succeed.
"""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from foundation.database import create_engine
from ingestion.load import WarehouseWriter

pytestmark = pytest.mark.integration


def test_sslmode_reaches_the_engine_and_the_ingest_writer(warehouse_url):
    plain = create_engine(warehouse_url, sslmode="disable")
    with plain.connect() as conn:
        assert conn.execute(sa.text("select 1")).scalar_one() == 1
    plain.dispose()

    engine = create_engine(warehouse_url, sslmode="require", sslrootcert="/nonexistent/ca.pem")
    assert engine.url.query == {"sslmode": "require", "sslrootcert": "/nonexistent/ca.pem"}
    with pytest.raises(sa.exc.OperationalError, match="SSL"), engine.connect():
        pass
    writer = WarehouseWriter(engine, "ssl-test")
    try:
        with pytest.raises(psycopg.OperationalError, match="SSL"):
            writer.stored_offsets([("t", 0)])
    finally:
        writer.close()
        engine.dispose()
