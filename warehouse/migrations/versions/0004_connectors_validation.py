"""connector state, staff identifier aliases and validation results

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 09:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('connector_state',
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('stream', sa.String(length=64), nullable=False),
    sa.Column('state', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('records_total', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('source', 'stream', name=op.f('pk_connector_state')),
    schema='ops'
    )
    op.create_table('staff_alias',
    sa.Column('alias', sa.String(length=32), nullable=False),
    sa.Column('pseudonym', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('alias', name=op.f('pk_staff_alias')),
    schema='core'
    )
    op.create_index(op.f('ix_staff_alias_pseudonym'), 'staff_alias', ['pseudonym'], unique=False, schema='core')
    op.create_table('validation_results',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('validated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('suite', sa.String(length=128), nullable=False),
    sa.Column('records', sa.Integer(), nullable=False),
    sa.Column('failed_records', sa.Integer(), nullable=False),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.Column('expectations', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_validation_results')),
    schema='ops'
    )
    op.create_index(op.f('ix_validation_results_kind_validated_at'), 'validation_results', ['kind', 'validated_at'],
                    unique=False, schema='ops')


def downgrade() -> None:
    op.drop_index(op.f('ix_validation_results_kind_validated_at'), table_name='validation_results', schema='ops')
    op.drop_table('validation_results', schema='ops')
    op.drop_table('connector_state', schema='ops')
    op.drop_index(op.f('ix_staff_alias_pseudonym'), table_name='staff_alias', schema='core')
    op.drop_table('staff_alias', schema='core')
