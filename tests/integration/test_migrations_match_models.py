"""The migrations build exactly the schema the SQLAlchemy models describe (no drift either way)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from foundation.database import create_engine
from warehouse.models import SCHEMAS, Base

pytestmark = pytest.mark.integration


def test_given_a_migrated_warehouse_when_compared_with_the_models_then_nothing_differs(warehouse_url):
    engine = create_engine(warehouse_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_schemas": True,
            "include_name": lambda name, kind, _: name in SCHEMAS if kind == "schema" else True,
            "version_table_schema": "ops",
        })
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []
