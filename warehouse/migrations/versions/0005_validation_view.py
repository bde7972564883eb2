"""validation results for analysts: batch link and the analytics.validation_* views

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00.000000
"""
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('validation_results', sa.Column('batch_id', sa.BigInteger(), nullable=True), schema='ops')
    op.create_foreign_key('fk_validation_results_batch_id', 'validation_results', 'ingest_batches',
                          ['batch_id'], ['id'], source_schema='ops', referent_schema='ops', ondelete='CASCADE')
    op.execute((SQL_DIR / "0005_validation_views.sql").read_text())


def downgrade() -> None:
    for view in ("analytics.validation_expectations", "analytics.validation_results"):
        op.execute(f"drop view if exists {view}")
    op.drop_constraint('fk_validation_results_batch_id', 'validation_results', schema='ops', type_='foreignkey')
    op.drop_column('validation_results', 'batch_id', schema='ops')
