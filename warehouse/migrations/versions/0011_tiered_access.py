"""tiered access: coarsened row-level analytics views for analysts, full rows in research for researchers

Revision ID: 0011_tiered_access
Revises: 0010
Create Date: 2026-12-07 10:00:00.000000
"""
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"

revision: str = '0011_tiered_access'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Dependants first: the items view reads the responses view.
ROW_VIEWS = ("form_response_items", "form_responses", "helpdesk_tickets", "training_records", "skills_assessments")
RESEARCH_SUFFIX = " Full pseudonymised rows for approved research (role realise_researcher)."

# The analytics row views as revision 0010 left them: 0010's SQL has all but the items view, which 0001 made.
_ITEMS_VIEW = """
create view analytics.form_response_items as
select r.event_id, r.response_id, r.submitted_at, r.date, r.week_start, r.org_unit, r.staff_group,
       r.system, r.go_live_wave, r.staff_pseudonym, r.form_id,
       item.key as item_code, (item.value)::int as answer
from analytics.form_responses r, jsonb_each(r.likert) as item
"""

# The research views kept the analytics views' comments; they go back with the views.
_COMMENTS_BACK = f"""
do $$
declare
    r record;
begin
    for r in
        select c.relname, obj_description(c.oid, 'pg_class') as doc
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'research' and obj_description(c.oid, 'pg_class') is not null
    loop
        execute format('comment on view analytics.%I is %L', r.relname, replace(r.doc, '{RESEARCH_SUFFIX}', ''));
    end loop;
    for r in
        select c.relname, a.attname, col_description(c.oid, a.attnum) as doc
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname = 'research' and col_description(c.oid, a.attnum) is not null
    loop
        execute format('comment on column analytics.%I.%I is %L', r.relname, r.attname, r.doc);
    end loop;
end
$$
"""


def upgrade() -> None:
    op.create_table(
        'disclosure_settings',
        sa.Column('id', sa.Boolean(), server_default=sa.text('true'), primary_key=True),
        sa.Column('min_group_size', sa.Integer(), server_default=sa.text('5'), nullable=False),
        sa.Column('comment_min_group_size', sa.Integer(), server_default=sa.text('10'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint('id', name='ck_disclosure_settings_single_row'),
        sa.CheckConstraint('min_group_size >= 2 and comment_min_group_size >= 2',
                           name='ck_disclosure_settings_minimums'),
        schema='core')
    op.execute((SQL_DIR / "0011_tiered_access.sql").read_text())


def downgrade() -> None:
    for view in ROW_VIEWS:
        op.execute(f"drop view if exists analytics.{view}")
    op.execute((SQL_DIR / "0010_retraction_views.sql").read_text())
    op.execute(_ITEMS_VIEW)
    op.execute(_COMMENTS_BACK)
    op.execute("grant select on all tables in schema analytics to realise_analyst")
    op.execute("drop view if exists core.disclosure_rows")
    op.execute("drop schema if exists research cascade")
    op.drop_table('disclosure_settings', schema='core')
