"""metric structure: each metric's declared measures and type in core.metric_definitions

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 10:00:00.000000

Metrics declare measures (aggregations over their base rows) and a type in dbt MetricFlow's vocabulary
(warehouse/metrics/metric.py), and their base SQL lives in templates (warehouse/metrics/sql/).
core.metric_definitions and analytics.metric_definitions gain the structure, written at every refresh;
empty until the next one.
"""
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    sa.Column('metric_type', sa.String(16), nullable=True),
    sa.Column('measures', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('expression', sa.Text(), nullable=True),
    sa.Column('numerator_measure', sa.String(64), nullable=True),
    sa.Column('denominator_measure', sa.String(64), nullable=True),
    sa.Column('decomposes', sa.Boolean(), nullable=True),
    sa.Column('base_sql_template', sa.Text(), nullable=True),
)


def upgrade() -> None:
    for column in _COLUMNS:
        op.add_column('metric_definitions', column.copy(), schema='core')
    op.execute((SQL_DIR / "0016_metric_structure.sql").read_text())  # analytics.metric_definitions


def downgrade() -> None:
    op.execute("drop view if exists analytics.metric_definitions")
    for column in _COLUMNS:
        op.drop_column('metric_definitions', column.name, schema='core')
    # analytics.metric_definitions as 0002_metric_views.sql made it (that file also makes views changed since).
    statements = [s.strip() for s in (SQL_DIR / "0002_metric_views.sql").read_text().split(";\n")]
    op.execute(";\n".join(s for s in statements if s.startswith((
        "create or replace view analytics.metric_definitions ", "comment on view analytics.metric_definitions ",
        "comment on column analytics.metric_definitions."))) + ";")
    op.execute("grant select on analytics.metric_definitions to realise_analyst")
