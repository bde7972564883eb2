"""incremental metrics: each fact table indexed by person (skills assessments already were)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00.000000
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FACTS = ('fact_form_response', 'fact_helpdesk_ticket', 'fact_training_record')


def upgrade() -> None:
    for table in FACTS:
        op.create_index(f'ix_{table}_person', table, ['pseudonym', 'occurred_at'], unique=False, schema='core')


def downgrade() -> None:
    for table in FACTS:
        op.drop_index(f'ix_{table}_person', table_name=table, schema='core')
