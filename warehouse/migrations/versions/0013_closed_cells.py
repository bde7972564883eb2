"""closed cells: a cell whose rows have all gone leaves the latest view, and history says so

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 18:40:00.000000

A refresh writes the cells that have rows; a cell whose records were all re-dated to another week, reopened
or retracted used to keep its last value in analytics.metric_latest. Refreshes now write such a cell once
more, closed (n = 0, no value), and the latest view leaves closed cells out. Every metric is recomputed
at the next refresh (its reference hash is cleared), which closes the cells left stale so far.
"""
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ('metric_values', 'metric_disclosure'):
        op.add_column(table, sa.Column('closed', sa.Boolean(), server_default=sa.false(), nullable=False),
                      schema='core')
    op.execute("update core.metric_definitions set reference_hash = null")
    op.execute((SQL_DIR / "0013_closed_cells.sql").read_text())
    op.execute((SQL_DIR / "0003_loop_views.sql").read_text())  # analytics.actions reads metric_latest


def downgrade() -> None:
    op.execute("drop view if exists analytics.metric_latest cascade")  # they read `closed`
    op.execute("drop view if exists analytics.metric_values cascade")
    for table in ('metric_disclosure', 'metric_values'):
        op.drop_column(table, 'closed', schema='core')
    op.execute((SQL_DIR / "0012_disclosure_views.sql").read_text())
    op.execute((SQL_DIR / "0003_loop_views.sql").read_text())
