"""loop views: benefit status history and the analyst views of benefits, alerts and actions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:30:00.000000
"""
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('benefit_status',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('benefit_id', sa.String(length=64), nullable=False),
    sa.Column('refresh_id', sa.BigInteger(), nullable=True),
    sa.Column('computed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('current_value', sa.Float(), nullable=True),
    sa.Column('current_period', sa.Date(), nullable=True),
    sa.Column('projected_value', sa.Float(), nullable=True),
    sa.Column('slope_per_week', sa.Float(), nullable=True),
    sa.Column('points', sa.Integer(), server_default='0', nullable=False),
    sa.CheckConstraint("status in ('on track', 'at risk', 'off track', 'no data')", name='ck_benefit_status_status'),
    sa.ForeignKeyConstraint(['benefit_id'], ['core.benefits.benefit_id'], name='fk_benefit_status_benefit_id',
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_status')),
    schema='core'
    )
    op.create_index('ix_benefit_status_benefit_computed', 'benefit_status', ['benefit_id', 'computed_at'],
                    unique=False, schema='core')
    op.execute((SQL_DIR / "0003_loop_views.sql").read_text())


def downgrade() -> None:
    for view in ("analytics.actions", "analytics.alerts", "analytics.benefit_status", "analytics.benefits"):
        op.execute(f"drop view if exists {view}")
    op.drop_index('ix_benefit_status_benefit_computed', table_name='benefit_status', schema='core')
    op.drop_table('benefit_status', schema='core')
