"""disclosure control: complete partitions, linked cells and refresh history weighed by the suppression rules

Revision ID: 0012
Revises: 0011_tiered_access
Create Date: 2026-12-06 15:30:00.000000

Metric cells gain the partition of their parent they belong to and a fingerprint of their rows;
core.metric_disclosure keeps each cell's newest state and the statistics last shown for it. Every metric is
recomputed at the next refresh (its reference hash is cleared), since its cells gain residual members and
new parents.
"""
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"

revision: str = '0012'
down_revision: str | None = '0011_tiered_access'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('metric_values', sa.Column('partition', sa.String(32), nullable=True), schema='core')
    op.add_column('metric_values', sa.Column('fingerprint', sa.Text(), nullable=True), schema='core')
    op.create_table(
        'metric_disclosure',
        sa.Column('metric_id', sa.String(64), nullable=False),
        sa.Column('grain', sa.String(32), nullable=False),
        sa.Column('period', sa.String(16), nullable=False),
        sa.Column('segment_type', sa.String(32), nullable=False),
        sa.Column('segment_value', sa.String(128), nullable=False),
        sa.Column('refresh_id', sa.BigInteger(), nullable=False),
        sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('period_start', sa.Date(), nullable=True),
        sa.Column('period_index', sa.Integer(), nullable=True),
        sa.Column('parent_segment_type', sa.String(32), nullable=True),
        sa.Column('parent_segment_value', sa.String(128), nullable=True),
        sa.Column('partition', sa.String(32), nullable=True),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('fingerprint', sa.Text(), nullable=True),
        sa.Column('suppressed', sa.Boolean(), nullable=False),
        sa.Column('suppression_reason', sa.String(32), nullable=True),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('numerator', sa.Float(), nullable=True),
        sa.Column('denominator', sa.Float(), nullable=True),
        sa.Column('shown_refresh_id', sa.BigInteger(), nullable=True),
        sa.Column('shown_computed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('shown_value', sa.Float(), nullable=True),
        sa.Column('shown_numerator', sa.Float(), nullable=True),
        sa.Column('shown_denominator', sa.Float(), nullable=True),
        sa.Column('shown_n', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('metric_id', 'grain', 'period', 'segment_type', 'segment_value',
                                name=op.f('pk_metric_disclosure')),
        schema='core')
    # Each cell's newest row, and the newest row in which it was shown, from the history kept so far.
    op.execute("""
        insert into core.metric_disclosure
        select l.metric_id, l.grain, l.period, l.segment_type, l.segment_value, l.refresh_id, l.computed_at,
               l.period_start, l.period_index, l.parent_segment_type, l.parent_segment_value, null, l.n, null,
               l.suppressed, l.suppression_reason, l.value, l.numerator, l.denominator,
               s.refresh_id, s.computed_at, s.value, s.numerator, s.denominator, s.n
        from (select distinct on (metric_id, grain, period, segment_type, segment_value) *
              from core.metric_values
              order by metric_id, grain, period, segment_type, segment_value, computed_at desc, refresh_id desc) l
        left join (select distinct on (metric_id, grain, period, segment_type, segment_value) *
                   from core.metric_values where not suppressed
                   order by metric_id, grain, period, segment_type, segment_value, computed_at desc,
                            refresh_id desc) s
          using (metric_id, grain, period, segment_type, segment_value)
    """)
    op.execute("update core.metric_definitions set reference_hash = null")
    op.execute((SQL_DIR / "0012_disclosure_views.sql").read_text())
    op.execute((SQL_DIR / "0003_loop_views.sql").read_text())  # analytics.actions reads metric_latest


def downgrade() -> None:
    op.execute("drop view if exists analytics.metric_latest cascade")
    op.execute("drop view if exists analytics.metric_values cascade")
    op.execute((SQL_DIR / "0002_metric_views.sql").read_text())
    op.execute((SQL_DIR / "0003_loop_views.sql").read_text())
    op.drop_table('metric_disclosure', schema='core')
    op.drop_column('metric_values', 'fingerprint', schema='core')
    op.drop_column('metric_values', 'partition', schema='core')
