"""baseline warehouse

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 02:10:29.204230
"""
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
SCHEMAS = ("raw", "core", "ops", "staging", "analytics")

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for schema in SCHEMAS:
        op.execute(f"create schema if not exists {schema}")
    op.create_table('dim_date',
    sa.Column('date_key', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('iso_year', sa.SmallInteger(), nullable=False),
    sa.Column('iso_week', sa.SmallInteger(), nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('month', sa.SmallInteger(), nullable=False),
    sa.Column('quarter', sa.SmallInteger(), nullable=False),
    sa.Column('year', sa.SmallInteger(), nullable=False),
    sa.Column('day_of_week', sa.SmallInteger(), nullable=False),
    sa.Column('is_weekend', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('date_key', name=op.f('pk_dim_date')),
    sa.UniqueConstraint('date', name=op.f('uq_dim_date_date')),
    schema='core'
    )
    op.create_table('dim_org_unit',
    sa.Column('org_unit', sa.String(length=64), nullable=False),
    sa.Column('parent', sa.String(length=64), nullable=True),
    sa.Column('level', sa.SmallInteger(), nullable=False),
    sa.Column('path', postgresql.ARRAY(sa.String(length=64)), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('org_unit', name=op.f('pk_dim_org_unit')),
    schema='core'
    )
    op.create_index(op.f('ix_dim_org_unit_parent'), 'dim_org_unit', ['parent'], unique=False, schema='core')
    op.create_table('dim_staff',
    sa.Column('pseudonym', sa.String(length=32), nullable=False),
    sa.Column('org_unit', sa.String(length=64), nullable=False),
    sa.Column('staff_group', sa.String(length=64), nullable=False),
    sa.Column('system', sa.String(length=64), nullable=False),
    sa.Column('go_live_wave', sa.String(length=64), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('pseudonym', name=op.f('pk_dim_staff')),
    schema='core'
    )
    op.create_table('dim_staff_group',
    sa.Column('staff_group', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('staff_group', name=op.f('pk_dim_staff_group')),
    schema='core'
    )
    op.create_table('dim_system',
    sa.Column('system', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('system', name=op.f('pk_dim_system')),
    schema='core'
    )
    op.create_table('dim_wave',
    sa.Column('go_live_wave', sa.String(length=64), nullable=False),
    sa.Column('go_live_date', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('go_live_wave', name=op.f('pk_dim_wave')),
    schema='core'
    )
    op.create_table('fact_form_response',
    sa.Column('form_id', sa.String(length=64), nullable=False),
    sa.Column('likert', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('likert_count', sa.SmallInteger(), nullable=False),
    sa.Column('recommend', sa.SmallInteger(), nullable=True),
    sa.Column('minutes_saved_per_shift', sa.Float(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('event_id', sa.UUID(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('source_record_id', sa.String(length=256), nullable=False),
    sa.Column('record_version', sa.String(length=128), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('date_key', sa.Integer(), nullable=False),
    sa.Column('pseudonym', sa.String(length=32), nullable=False),
    sa.Column('org_unit', sa.String(length=64), nullable=False),
    sa.Column('staff_group', sa.String(length=64), nullable=False),
    sa.Column('system', sa.String(length=64), nullable=False),
    sa.Column('go_live_wave', sa.String(length=64), nullable=True),
    sa.Column('loaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_fact_form_response')),
    schema='core'
    )
    op.create_index('ix_fact_form_response_org_date', 'fact_form_response', ['org_unit', 'date_key'], unique=False, schema='core')
    op.create_index('ix_fact_form_response_record', 'fact_form_response', ['source', 'source_record_id', 'occurred_at'], unique=False, schema='core')
    op.create_table('fact_helpdesk_ticket',
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=128), nullable=False),
    sa.Column('priority', sa.SmallInteger(), nullable=False),
    sa.Column('reopen_count', sa.Integer(), nullable=False),
    sa.Column('satisfaction', sa.SmallInteger(), nullable=True),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('event_id', sa.UUID(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('source_record_id', sa.String(length=256), nullable=False),
    sa.Column('record_version', sa.String(length=128), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('date_key', sa.Integer(), nullable=False),
    sa.Column('pseudonym', sa.String(length=32), nullable=False),
    sa.Column('org_unit', sa.String(length=64), nullable=False),
    sa.Column('staff_group', sa.String(length=64), nullable=False),
    sa.Column('system', sa.String(length=64), nullable=False),
    sa.Column('go_live_wave', sa.String(length=64), nullable=True),
    sa.Column('loaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_fact_helpdesk_ticket')),
    schema='core'
    )
    op.create_index('ix_fact_helpdesk_ticket_org_date', 'fact_helpdesk_ticket', ['org_unit', 'date_key'], unique=False, schema='core')
    op.create_index('ix_fact_helpdesk_ticket_record', 'fact_helpdesk_ticket', ['source', 'source_record_id', 'occurred_at'], unique=False, schema='core')
    op.create_table('fact_skills_assessment',
    sa.Column('assessment_id', sa.String(length=64), nullable=False),
    sa.Column('phase', sa.String(length=16), nullable=False),
    sa.Column('scores', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('event_id', sa.UUID(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('source_record_id', sa.String(length=256), nullable=False),
    sa.Column('record_version', sa.String(length=128), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('date_key', sa.Integer(), nullable=False),
    sa.Column('pseudonym', sa.String(length=32), nullable=False),
    sa.Column('org_unit', sa.String(length=64), nullable=False),
    sa.Column('staff_group', sa.String(length=64), nullable=False),
    sa.Column('system', sa.String(length=64), nullable=False),
    sa.Column('go_live_wave', sa.String(length=64), nullable=True),
    sa.Column('loaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_fact_skills_assessment')),
    schema='core'
    )
    op.create_index('ix_fact_skills_assessment_org_date', 'fact_skills_assessment', ['org_unit', 'date_key'], unique=False, schema='core')
    op.create_index('ix_fact_skills_assessment_record', 'fact_skills_assessment', ['source', 'source_record_id', 'occurred_at'], unique=False, schema='core')
    op.create_table('fact_training_record',
    sa.Column('course_id', sa.String(length=64), nullable=False),
    sa.Column('course_title', sa.String(length=256), nullable=True),
    sa.Column('module', sa.String(length=256), nullable=True),
    sa.Column('verb', sa.String(length=16), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('duration_seconds', sa.Integer(), nullable=True),
    sa.Column('required', sa.Boolean(), nullable=True),
    sa.Column('event_id', sa.UUID(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('source_record_id', sa.String(length=256), nullable=False),
    sa.Column('record_version', sa.String(length=128), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('date_key', sa.Integer(), nullable=False),
    sa.Column('pseudonym', sa.String(length=32), nullable=False),
    sa.Column('org_unit', sa.String(length=64), nullable=False),
    sa.Column('staff_group', sa.String(length=64), nullable=False),
    sa.Column('system', sa.String(length=64), nullable=False),
    sa.Column('go_live_wave', sa.String(length=64), nullable=True),
    sa.Column('loaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_fact_training_record')),
    schema='core'
    )
    op.create_index('ix_fact_training_record_org_date', 'fact_training_record', ['org_unit', 'date_key'], unique=False, schema='core')
    op.create_index('ix_fact_training_record_record', 'fact_training_record', ['source', 'source_record_id', 'occurred_at'], unique=False, schema='core')
    op.create_table('ingest_batches',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('consumer_group', sa.String(length=255), nullable=False),
    sa.Column('committed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('records', sa.Integer(), nullable=False),
    sa.Column('loaded', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.Column('quarantined', sa.Integer(), nullable=False),
    sa.Column('loaded_by_kind', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('max_occurred_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_batches')),
    schema='ops'
    )
    op.create_table('ingest_offsets',
    sa.Column('consumer_group', sa.String(length=255), nullable=False),
    sa.Column('topic', sa.String(length=249), nullable=False),
    sa.Column('partition', sa.Integer(), nullable=False),
    sa.Column('next_offset', sa.BigInteger(), nullable=False),
    sa.Column('topic_id', sa.String(length=36), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('consumer_group', 'topic', 'partition', name=op.f('pk_ingest_offsets')),
    schema='ops'
    )
    op.create_table('quarantine',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('topic', sa.String(length=249), nullable=False),
    sa.Column('partition', sa.Integer(), nullable=False),
    sa.Column('offset', sa.BigInteger(), nullable=False),
    sa.Column('key', sa.LargeBinary(), nullable=True),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('raw_sha256', sa.String(length=64), nullable=False),
    sa.Column('raw_size', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('event_id', sa.String(length=64), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('reasons', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('quarantined_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine')),
    sa.UniqueConstraint('topic', 'partition', 'offset', 'raw_sha256', name=op.f('uq_quarantine_topic_partition_offset_raw_sha256')),
    schema='ops'
    )
    op.create_table('events',
    sa.Column('event_id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('source_record_id', sa.String(length=256), nullable=False),
    sa.Column('record_version', sa.String(length=128), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ingested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('topic', sa.String(length=249), nullable=False),
    sa.Column('partition', sa.Integer(), nullable=False),
    sa.Column('offset', sa.BigInteger(), nullable=False),
    sa.Column('envelope', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_events')),
    schema='raw'
    )
    op.create_index(op.f('ix_events_kind_occurred_at'), 'events', ['kind', 'occurred_at'], unique=False, schema='raw')
    op.execute("""
        insert into core.dim_date
        select to_char(d, 'YYYYMMDD')::int, d::date, extract(isoyear from d)::int, extract(week from d)::int,
               date_trunc('week', d)::date, extract(month from d)::int, extract(quarter from d)::int,
               extract(year from d)::int, extract(isodow from d)::int, extract(isodow from d) >= 6
        from generate_series('2000-01-01'::date, '2045-12-31'::date, interval '1 day') as d
    """)
    op.execute((SQL_DIR / "0001_views.sql").read_text())


def downgrade() -> None:
    op.execute("drop schema if exists analytics cascade")
    op.execute("drop schema if exists staging cascade")
    op.drop_index(op.f('ix_events_kind_occurred_at'), table_name='events', schema='raw')
    op.drop_table('events', schema='raw')
    op.drop_table('quarantine', schema='ops')
    op.drop_table('ingest_offsets', schema='ops')
    op.drop_table('ingest_batches', schema='ops')
    op.drop_index('ix_fact_training_record_record', table_name='fact_training_record', schema='core')
    op.drop_index('ix_fact_training_record_org_date', table_name='fact_training_record', schema='core')
    op.drop_table('fact_training_record', schema='core')
    op.drop_index('ix_fact_skills_assessment_record', table_name='fact_skills_assessment', schema='core')
    op.drop_index('ix_fact_skills_assessment_org_date', table_name='fact_skills_assessment', schema='core')
    op.drop_table('fact_skills_assessment', schema='core')
    op.drop_index('ix_fact_helpdesk_ticket_record', table_name='fact_helpdesk_ticket', schema='core')
    op.drop_index('ix_fact_helpdesk_ticket_org_date', table_name='fact_helpdesk_ticket', schema='core')
    op.drop_table('fact_helpdesk_ticket', schema='core')
    op.drop_index('ix_fact_form_response_record', table_name='fact_form_response', schema='core')
    op.drop_index('ix_fact_form_response_org_date', table_name='fact_form_response', schema='core')
    op.drop_table('fact_form_response', schema='core')
    op.drop_table('dim_wave', schema='core')
    op.drop_table('dim_system', schema='core')
    op.drop_table('dim_staff_group', schema='core')
    op.drop_table('dim_staff', schema='core')
    op.drop_index(op.f('ix_dim_org_unit_parent'), table_name='dim_org_unit', schema='core')
    op.drop_table('dim_org_unit', schema='core')
    op.drop_table('dim_date', schema='core')
