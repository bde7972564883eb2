"""metrics benefits alerts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:04:44.340697
"""
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('actions',
    sa.Column('action_id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.BigInteger(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
    sa.Column('action_date', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('action_id', name=op.f('pk_actions')),
    schema='core'
    )
    op.create_index(op.f('ix_actions_alert_id'), 'actions', ['alert_id'], unique=False, schema='core')
    op.create_table('alerts',
    sa.Column('alert_id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('rule_id', sa.String(length=64), nullable=False),
    sa.Column('metric_id', sa.String(length=64), nullable=False),
    sa.Column('segment_type', sa.String(length=32), nullable=False),
    sa.Column('segment_value', sa.String(length=128), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('threshold', sa.Float(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('alert_id', name=op.f('pk_alerts')),
    schema='core'
    )
    op.create_index('uq_alerts_open_rule_segment', 'alerts', ['rule_id', 'segment_type', 'segment_value'], unique=True, schema='core', postgresql_where=sa.text("status = 'open'"))
    op.create_table('benefits',
    sa.Column('benefit_id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=256), nullable=False),
    sa.Column('metric_id', sa.String(length=64), nullable=False),
    sa.Column('segment_type', sa.String(length=32), nullable=False),
    sa.Column('segment_value', sa.String(length=128), nullable=False),
    sa.Column('baseline_value', sa.Float(), nullable=False),
    sa.Column('baseline_date', sa.Date(), nullable=False),
    sa.Column('target_value', sa.Float(), nullable=False),
    sa.Column('target_date', sa.Date(), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('benefit_id', name=op.f('pk_benefits')),
    schema='core'
    )
    op.create_table('metric_definitions',
    sa.Column('metric_id', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=256), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('unit', sa.String(length=32), nullable=False),
    sa.Column('numerator', sa.Text(), nullable=False),
    sa.Column('denominator', sa.Text(), nullable=False),
    sa.Column('better', sa.String(length=8), nullable=False),
    sa.Column('min_group_size', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('metric_id', name=op.f('pk_metric_definitions')),
    schema='core'
    )
    op.create_table('metric_values',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('refresh_id', sa.BigInteger(), nullable=False),
    sa.Column('metric_id', sa.String(length=64), nullable=False),
    sa.Column('grain', sa.String(length=32), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_index', sa.Integer(), nullable=True),
    sa.Column('segment_type', sa.String(length=32), nullable=False),
    sa.Column('segment_value', sa.String(length=128), nullable=False),
    sa.Column('parent_segment_type', sa.String(length=32), nullable=True),
    sa.Column('parent_segment_value', sa.String(length=128), nullable=True),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('numerator', sa.Float(), nullable=True),
    sa.Column('denominator', sa.Float(), nullable=True),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('suppressed', sa.Boolean(), nullable=False),
    sa.Column('suppression_reason', sa.String(length=32), nullable=True),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_metric_values')),
    schema='core'
    )
    op.create_index('ix_metric_values_lookup', 'metric_values', ['metric_id', 'grain', 'segment_type', 'segment_value', 'period', 'computed_at'], unique=False, schema='core')
    op.create_index(op.f('ix_metric_values_refresh_id'), 'metric_values', ['refresh_id'], unique=False, schema='core')
    op.create_table('staff_directory',
    sa.Column('pseudonym', sa.String(length=32), nullable=False),
    sa.Column('org_unit', sa.String(length=64), nullable=False),
    sa.Column('staff_group', sa.String(length=64), nullable=False),
    sa.Column('band', sa.String(length=16), nullable=True),
    sa.Column('system', sa.String(length=64), nullable=False),
    sa.Column('go_live_wave', sa.String(length=64), nullable=True),
    sa.Column('in_scope', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('pseudonym', name=op.f('pk_staff_directory')),
    schema='core'
    )
    op.create_index(op.f('ix_staff_directory_org_unit'), 'staff_directory', ['org_unit'], unique=False, schema='core')
    op.create_table('metric_refreshes',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('metrics', sa.Integer(), server_default='0', nullable=False),
    sa.Column('cells', sa.Integer(), server_default='0', nullable=False),
    sa.Column('suppressed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('seconds', sa.Float(), nullable=True),
    sa.Column('min_group_size', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_metric_refreshes')),
    schema='ops'
    )
    op.create_index(op.f('ix_events_loaded_at'), 'events', ['loaded_at'], unique=False, schema='raw')
    op.execute((SQL_DIR / "0002_metric_views.sql").read_text())


def downgrade() -> None:
    for view in ("analytics.metric_latest", "analytics.metric_values", "analytics.metric_definitions",
                 "core.v_org_levels"):
        op.execute(f"drop view if exists {view}")
    op.drop_index(op.f('ix_events_loaded_at'), table_name='events', schema='raw')
    op.drop_table('metric_refreshes', schema='ops')
    op.drop_index(op.f('ix_staff_directory_org_unit'), table_name='staff_directory', schema='core')
    op.drop_table('staff_directory', schema='core')
    op.drop_index(op.f('ix_metric_values_refresh_id'), table_name='metric_values', schema='core')
    op.drop_index('ix_metric_values_lookup', table_name='metric_values', schema='core')
    op.drop_table('metric_values', schema='core')
    op.drop_table('metric_definitions', schema='core')
    op.drop_table('benefits', schema='core')
    op.drop_index('uq_alerts_open_rule_segment', table_name='alerts', schema='core', postgresql_where=sa.text("status = 'open'"))
    op.drop_table('alerts', schema='core')
    op.drop_index(op.f('ix_actions_alert_id'), table_name='actions', schema='core')
    op.drop_table('actions', schema='core')
