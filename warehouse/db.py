"""Migrations: the warehouse schema brought up to a revision, and the revision in place.

Engines are made in foundation/database.py.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from foundation.database import check_connection

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _alembic_config(engine: Engine):  # noqa: ANN202 - alembic types are optional
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Apply migrations up to `revision`; safe to run again. Returns the revision now in place."""
    from alembic import command

    check_connection(engine)
    command.upgrade(_alembic_config(engine), revision)
    return current_revision(engine) or "base"


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table_schema": "ops"})
        return context.get_current_revision()
