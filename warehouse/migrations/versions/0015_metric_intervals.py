"""metric intervals: each value's 95% confidence interval, and whether an action's change is beyond noise

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 10:00:00.000000

core.metric_values and core.metric_disclosure gain ci_low and ci_high (core.metric_disclosure also the
interval last shown), analytics.metric_values and analytics.metric_latest show them, hidden with the value,
and analytics.actions gains the interval of the change and beyond_noise. Every metric is recomputed at the
next refresh (its reference hash is cleared): the intervals of net scores and means need a component the
stored cell states do not have yet.
"""
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = {'metric_values': ('ci_low', 'ci_high'),
            'metric_disclosure': ('ci_low', 'ci_high', 'shown_ci_low', 'shown_ci_high')}


def upgrade() -> None:
    for table, columns in _COLUMNS.items():
        for column in columns:
            op.add_column(table, sa.Column(column, sa.Float(), nullable=True), schema='core')
    op.execute("update core.metric_definitions set reference_hash = null")
    op.execute((SQL_DIR / "0015_metric_intervals.sql").read_text())  # the metric views and analytics.actions


def downgrade() -> None:
    op.execute("drop view if exists analytics.metric_latest cascade")  # they read the intervals
    op.execute("drop view if exists analytics.metric_values cascade")
    for table, columns in _COLUMNS.items():
        for column in columns:
            op.drop_column(table, column, schema='core')
    op.execute((SQL_DIR / "0013_closed_cells.sql").read_text())
    op.execute((SQL_DIR / "0003_loop_views.sql").read_text())
