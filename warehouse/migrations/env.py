"""Alembic environment: the engine comes from `warehouse.db.upgrade`, never from an ini file."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from warehouse.models import SCHEMAS, Base

config = context.config
target_metadata = Base.metadata


def _include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    if type_ == "schema":
        return name in SCHEMAS
    return True


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        engine = sa.create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as connection:
        # One migration run at a time, even when several ingest replicas start together.
        connection.execute(sa.text("select pg_advisory_xact_lock(7411001)"))
        connection.execute(sa.text("create schema if not exists ops"))
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_schemas=True,
            include_name=_include_name,
            version_table_schema="ops",
            transaction_per_migration=False,
        )
        context.run_migrations()


run_migrations_online()
