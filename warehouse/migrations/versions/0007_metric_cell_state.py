"""incremental metrics: stored base rows (schema metric_base) and cell components (core.metric_cell_state)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("create schema if not exists metric_base")
    op.create_table('metric_cell_state',
    sa.Column('metric_id', sa.String(length=64), nullable=False),
    sa.Column('grain', sa.String(length=32), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('segment_type', sa.String(length=32), nullable=False),
    sa.Column('segment_value', sa.String(length=128), nullable=False),
    sa.Column('component', sa.SmallInteger(), nullable=False),
    sa.Column('value', sa.Numeric(), nullable=False),
    sa.Column('counted', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('metric_id', 'grain', 'period', 'segment_type', 'segment_value', 'component',
                            name=op.f('pk_metric_cell_state')),
    schema='core'
    )
    # Every stored metric gets its base rows from a full recompute with this version.
    op.execute("update core.metric_definitions set reference_hash = null")


def downgrade() -> None:
    op.drop_table('metric_cell_state', schema='core')
    op.execute("drop schema if exists metric_base cascade")
