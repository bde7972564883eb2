"""loss is recorded: offsets publishers had acknowledged, losses found at ingest; quarantine safe to show

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 12:00:00.000000
"""
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'published_offsets',
        sa.Column('topic', sa.String(249), primary_key=True),
        sa.Column('partition', sa.Integer(), primary_key=True),
        sa.Column('topic_id', sa.String(36), primary_key=True, server_default=''),
        sa.Column('next_offset', sa.BigInteger(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        schema='ops')
    op.create_table(
        'ingest_losses',
        sa.Column('id', sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column('consumer_group', sa.String(255), nullable=False),
        sa.Column('topic', sa.String(249), nullable=False),
        sa.Column('partition', sa.Integer(), nullable=False),
        sa.Column('from_offset', sa.BigInteger(), nullable=False),
        sa.Column('lost', sa.BigInteger(), nullable=True),
        sa.Column('cause', sa.String(16), nullable=False),
        sa.Column('replay', postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column('detected_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('replayed_at', sa.DateTime(timezone=True), nullable=True),
        schema='ops')
    _clean_quarantine()
    op.execute((SQL_DIR / "0009_quarantine_view.sql").read_text())


def _clean_quarantine() -> None:
    """Rows written before reasons and claimed identifiers were cleaned get the same treatment."""
    from foundation.quarantine import bounded, claimed_event_id, claimed_source

    conn = op.get_bind()
    rows = conn.execute(sa.text("select id, source, event_id, reasons from ops.quarantine")).all()
    for row_id, source, event_id, reasons in rows:
        clean = (claimed_source(source), claimed_event_id(event_id), bounded(list(reasons or [])))
        if clean != (source, event_id, list(reasons or [])):
            conn.execute(sa.text("update ops.quarantine set source = :s, event_id = :e, reasons = :r where id = :i"),
                         {"s": clean[0], "e": clean[1], "r": clean[2], "i": row_id})


def downgrade() -> None:
    op.drop_table('ingest_losses', schema='ops')
    op.drop_table('published_offsets', schema='ops')
