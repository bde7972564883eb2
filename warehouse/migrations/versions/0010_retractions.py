"""retractions: records voided or deleted at the source leave the analytics views and metrics

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 13:00:00.000000
"""
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'fact_retraction',
        sa.Column('event_id', postgresql.UUID(), primary_key=True),
        sa.Column('source', sa.String(64), nullable=False),
        sa.Column('source_record_id', sa.String(256), nullable=False),
        sa.Column('record_version', sa.String(128), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('date_key', sa.Integer(), nullable=False),
        sa.Column('retracted_kind', sa.String(32), nullable=False),
        sa.Column('reason', sa.String(16), nullable=False),
        sa.Column('loaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        schema='core')
    op.create_index('ix_fact_retraction_record', 'fact_retraction',
                    ['retracted_kind', 'source', 'source_record_id', 'occurred_at'], schema='core')
    op.create_index('ix_fact_retraction_loaded_at', 'fact_retraction', ['loaded_at'], schema='core')
    op.execute((SQL_DIR / "0010_retraction_views.sql").read_text())


def downgrade() -> None:
    op.execute((SQL_DIR / "0001_views.sql").read_text())
    op.execute("drop view if exists analytics.retractions")
    op.drop_table('fact_retraction', schema='core')
