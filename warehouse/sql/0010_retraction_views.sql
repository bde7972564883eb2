-- Retracted records leave the analytics views: a record voided or deleted at its source (core.fact_retraction)
-- is shown again only if a version of it is dated after the retraction. Every version stays in core.
create or replace view analytics.form_responses as
with latest as (
    select distinct on (source, source_record_id) *
    from core.fact_form_response
    order by source, source_record_id, occurred_at desc, record_version desc
),
live as (
    select * from latest l
    where not exists (select from core.fact_retraction r
                      where r.retracted_kind = 'form_response' and r.source = l.source
                        and r.source_record_id = l.source_record_id and r.occurred_at >= l.occurred_at)
),
final as (
    select event_id, source, source_record_id as response_id, occurred_at as submitted_at,
           d.date, d.iso_year, d.iso_week, d.week_start,
           org_unit, staff_group, system, go_live_wave, pseudonym as staff_pseudonym,
           form_id, likert, likert_count, recommend, minutes_saved_per_shift, comment, loaded_at
    from live join core.dim_date d using (date_key)
)
select * from final;

create or replace view analytics.helpdesk_tickets as
with latest as (
    select distinct on (source, source_record_id) *
    from core.fact_helpdesk_ticket
    order by source, source_record_id, updated_at desc, record_version desc
),
live as (
    select * from latest l
    where not exists (select from core.fact_retraction r
                      where r.retracted_kind = 'helpdesk_ticket' and r.source = l.source
                        and r.source_record_id = l.source_record_id and r.occurred_at >= l.updated_at)
),
final as (
    select event_id, source, source_record_id as ticket_id, opened_at, updated_at, resolved_at,
           d.date as opened_date, d.week_start as opened_week_start,
           status, category, priority, reopen_count, satisfaction, summary,
           round((extract(epoch from (resolved_at - opened_at)) / 3600.0)::numeric, 2) as hours_to_resolve,
           org_unit, staff_group, system, go_live_wave, pseudonym as requester_pseudonym, loaded_at
    from live join core.dim_date d on d.date_key = to_char(live.opened_at at time zone 'UTC', 'YYYYMMDD')::int
)
select * from final;

create or replace view analytics.training_records as
select f.event_id, f.source, f.source_record_id as statement_id, f.occurred_at, d.date, d.week_start,
       f.course_id, f.course_title, f.module, f.verb, f.score, f.duration_seconds, f.required,
       f.org_unit, f.staff_group, f.system, f.go_live_wave, f.pseudonym as staff_pseudonym, f.loaded_at
from core.fact_training_record f join core.dim_date d using (date_key)
where not exists (select from core.fact_retraction r
                  where r.retracted_kind = 'training_record' and r.source = f.source
                    and r.source_record_id = f.source_record_id and r.occurred_at >= f.occurred_at);

create or replace view analytics.skills_assessments as
select f.event_id, f.source, f.source_record_id as response_id, f.occurred_at, d.date,
       f.assessment_id, f.phase, s.key as domain, (s.value)::int as score,
       f.org_unit, f.staff_group, f.system, f.go_live_wave, f.pseudonym as staff_pseudonym, f.loaded_at
from core.fact_skills_assessment f
join core.dim_date d using (date_key)
cross join lateral jsonb_each(f.scores) as s
where not exists (select from core.fact_retraction r
                  where r.retracted_kind = 'skills_assessment' and r.source = f.source
                    and r.source_record_id = f.source_record_id and r.occurred_at >= f.occurred_at);

create or replace view analytics.retractions as
select event_id, source, source_record_id, retracted_kind, reason, occurred_at as retracted_at, loaded_at
from core.fact_retraction;

comment on view analytics.retractions is 'Source records voided or deleted at their source. A retracted record is left out of the other views and of metrics unless a version of it is dated after the retraction.';
comment on column analytics.retractions.event_id is 'Event id of the retraction.';
comment on column analytics.retractions.source is 'Source of the retracted record.';
comment on column analytics.retractions.source_record_id is 'Id of the retracted record in its source (response_id, ticket_id, statement_id).';
comment on column analytics.retractions.retracted_kind is 'Kind of the retracted record: form_response, helpdesk_ticket, training_record or skills_assessment.';
comment on column analytics.retractions.reason is 'voided (e.g. an xAPI voiding statement), deleted at the source, or removed (gone from a full export).';
comment on column analytics.retractions.retracted_at is 'When the record was retracted.';
comment on column analytics.retractions.loaded_at is 'When the retraction was loaded into the warehouse.';

grant select on all tables in schema analytics to realise_analyst;
