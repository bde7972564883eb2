"""metric refresh: fact date indexes and the reference hash of each metric

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 12:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FACTS = ('fact_form_response', 'fact_helpdesk_ticket', 'fact_training_record', 'fact_skills_assessment')


def upgrade() -> None:
    for table in FACTS:
        op.create_index(f'ix_{table}_occurred_at', table, ['occurred_at'], unique=False, schema='core')
    op.create_index('ix_fact_helpdesk_ticket_opened_at', 'fact_helpdesk_ticket', ['opened_at'], unique=False,
                    schema='core')
    op.create_index('ix_fact_skills_assessment_person', 'fact_skills_assessment', ['pseudonym', 'occurred_at'],
                    unique=False, schema='core')
    op.add_column('metric_definitions', sa.Column('reference_hash', sa.String(length=32), nullable=True),
                  schema='core')


def downgrade() -> None:
    op.drop_column('metric_definitions', 'reference_hash', schema='core')
    op.drop_index('ix_fact_skills_assessment_person', table_name='fact_skills_assessment', schema='core')
    op.drop_index('ix_fact_helpdesk_ticket_opened_at', table_name='fact_helpdesk_ticket', schema='core')
    for table in FACTS:
        op.drop_index(f'ix_{table}_occurred_at', table_name=table, schema='core')
