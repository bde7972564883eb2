"""metric spc: XmR limits, special-cause signals and icons per metric, segment and week

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 19:30:00.000000

core.metric_spc is rewritten after every metrics refresh from the published weekly values
(warehouse/spc_store.py); analysts read analytics.metric_spc. It is empty until the next refresh.
"""
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'metric_spc',
        sa.Column('metric_id', sa.String(64), nullable=False),
        sa.Column('segment_type', sa.String(32), nullable=False),
        sa.Column('segment_value', sa.String(128), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=False),
        sa.Column('refresh_id', sa.BigInteger(), nullable=True),
        sa.Column('computed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('suppressed', sa.Boolean(), nullable=False),
        sa.Column('phase_start', sa.Date(), nullable=False),
        sa.Column('mean', sa.Float(), nullable=True),
        sa.Column('moving_range_mean', sa.Float(), nullable=True),
        sa.Column('lower_limit', sa.Float(), nullable=True),
        sa.Column('upper_limit', sa.Float(), nullable=True),
        sa.Column('limit_points', sa.Integer(), nullable=True),
        sa.Column('beyond_limits', sa.Boolean(), nullable=True),
        sa.Column('shift', sa.Boolean(), nullable=True),
        sa.Column('trend', sa.Boolean(), nullable=True),
        sa.Column('two_in_three', sa.Boolean(), nullable=True),
        sa.Column('special_cause', sa.String(8), nullable=True),
        sa.Column('variation', sa.String(32), nullable=True),
        sa.Column('icon', sa.String(32), nullable=True),
        sa.Column('target', sa.Float(), nullable=True),
        sa.Column('assurance', sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint('metric_id', 'segment_type', 'segment_value', 'period_start',
                                name=op.f('pk_metric_spc')),
        schema='core')
    op.execute((SQL_DIR / "0014_metric_spc.sql").read_text())


def downgrade() -> None:
    op.execute("drop view if exists analytics.metric_spc")
    op.drop_table('metric_spc', schema='core')
