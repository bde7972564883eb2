-- Staging: typed, renamed views over raw.events, one per kind. Facts can be rebuilt from these.
create or replace view staging.stg_events as
with source as (select * from raw.events),
renamed as (
    select event_id, kind, source, source_record_id, record_version, occurred_at, ingested_at,
           loaded_at, topic, partition, "offset",
           envelope -> 'payload' as payload,
           envelope -> 'payload' -> 'person' as person
    from source
)
select * from renamed;

-- Analytics: the documented interface for analysts. Tickets and form responses show the latest
-- version of each source record; training and skills show every statement.
create or replace view analytics.form_responses as
with latest as (
    select distinct on (source, source_record_id) *
    from core.fact_form_response
    order by source, source_record_id, occurred_at desc, record_version desc
),
final as (
    select event_id, source, source_record_id as response_id, occurred_at as submitted_at,
           d.date, d.iso_year, d.iso_week, d.week_start,
           org_unit, staff_group, system, go_live_wave, pseudonym as staff_pseudonym,
           form_id, likert, likert_count, recommend, minutes_saved_per_shift, comment, loaded_at
    from latest join core.dim_date d using (date_key)
)
select * from final;

create or replace view analytics.form_response_items as
select r.event_id, r.response_id, r.submitted_at, r.date, r.week_start, r.org_unit, r.staff_group,
       r.system, r.go_live_wave, r.staff_pseudonym, r.form_id,
       item.key as item_code, (item.value)::int as answer
from analytics.form_responses r, jsonb_each(r.likert) as item;

create or replace view analytics.helpdesk_tickets as
with latest as (
    select distinct on (source, source_record_id) *
    from core.fact_helpdesk_ticket
    order by source, source_record_id, updated_at desc, record_version desc
),
final as (
    select event_id, source, source_record_id as ticket_id, opened_at, updated_at, resolved_at,
           d.date as opened_date, d.week_start as opened_week_start,
           status, category, priority, reopen_count, satisfaction, summary,
           round((extract(epoch from (resolved_at - opened_at)) / 3600.0)::numeric, 2) as hours_to_resolve,
           org_unit, staff_group, system, go_live_wave, pseudonym as requester_pseudonym, loaded_at
    from latest join core.dim_date d on d.date_key = to_char(latest.opened_at at time zone 'UTC', 'YYYYMMDD')::int
)
select * from final;

create or replace view analytics.training_records as
select f.event_id, f.source, f.source_record_id as statement_id, f.occurred_at, d.date, d.week_start,
       f.course_id, f.course_title, f.module, f.verb, f.score, f.duration_seconds, f.required,
       f.org_unit, f.staff_group, f.system, f.go_live_wave, f.pseudonym as staff_pseudonym, f.loaded_at
from core.fact_training_record f join core.dim_date d using (date_key);

create or replace view analytics.skills_assessments as
select f.event_id, f.source, f.source_record_id as response_id, f.occurred_at, d.date,
       f.assessment_id, f.phase, s.key as domain, (s.value)::int as score,
       f.org_unit, f.staff_group, f.system, f.go_live_wave, f.pseudonym as staff_pseudonym, f.loaded_at
from core.fact_skills_assessment f
join core.dim_date d using (date_key)
cross join lateral jsonb_each(f.scores) as s;

-- Raw bytes stay in ops.quarantine for operators: a malformed record may hold an identifier.
create or replace view analytics.quarantine as
select id, topic, partition, "offset", kind, source, event_id, stage, reasons,
       array_length(reasons, 1) as reason_count, raw_size, quarantined_at
from ops.quarantine;

create or replace view analytics.org_units as
select org_unit, parent, level, path from core.dim_org_unit;

comment on view analytics.form_responses is 'Survey and form responses: the latest version of each response, one row per response.';
comment on column analytics.form_responses.event_id is 'Deterministic id of this version of the response (uuid5 of source, response id and version).';
comment on column analytics.form_responses.source is 'System the response came from, e.g. msforms, google_forms, qualtrics.';
comment on column analytics.form_responses.response_id is 'The response id in the source system.';
comment on column analytics.form_responses.submitted_at is 'When the response was submitted (UTC).';
comment on column analytics.form_responses.date is 'Calendar date of submission (UTC).';
comment on column analytics.form_responses.iso_year is 'ISO year of submission.';
comment on column analytics.form_responses.iso_week is 'ISO week number of submission.';
comment on column analytics.form_responses.week_start is 'Monday of the ISO week of submission.';
comment on column analytics.form_responses.org_unit is 'Respondent''s leaf org unit code (ward, team or department).';
comment on column analytics.form_responses.staff_group is 'Respondent''s staff group, e.g. Nursing and Midwifery.';
comment on column analytics.form_responses.system is 'System the feedback is about: EPR, ePMA, Patient Portal.';
comment on column analytics.form_responses.go_live_wave is 'Go-live wave of the respondent''s org unit.';
comment on column analytics.form_responses.staff_pseudonym is 'Keyed-hash pseudonym of the respondent; links across sources, never reversible without the key.';
comment on column analytics.form_responses.form_id is 'Form or survey identifier.';
comment on column analytics.form_responses.likert is 'Agree/disagree answers as {item_code: 1..5}; 1 strongly disagree, 3 neutral, 5 strongly agree.';
comment on column analytics.form_responses.likert_count is 'Number of agree/disagree items answered.';
comment on column analytics.form_responses.recommend is 'Answer to the 0-10 recommend item (promoters 9-10, detractors 0-6).';
comment on column analytics.form_responses.minutes_saved_per_shift is 'Self-reported minutes saved per shift; negative means time lost.';
comment on column analytics.form_responses.comment is 'Free-text comment, scrubbed of e-mail addresses, phone numbers, NHS numbers and postcodes.';
comment on column analytics.form_responses.loaded_at is 'When the warehouse stored this row.';

comment on view analytics.form_response_items is 'One row per agree/disagree answer: the long form of analytics.form_responses.likert.';
comment on column analytics.form_response_items.event_id is 'Id of the response version the answer belongs to.';
comment on column analytics.form_response_items.response_id is 'The response id in the source system.';
comment on column analytics.form_response_items.submitted_at is 'When the response was submitted (UTC).';
comment on column analytics.form_response_items.date is 'Calendar date of submission (UTC).';
comment on column analytics.form_response_items.week_start is 'Monday of the ISO week of submission.';
comment on column analytics.form_response_items.org_unit is 'Respondent''s leaf org unit code.';
comment on column analytics.form_response_items.staff_group is 'Respondent''s staff group.';
comment on column analytics.form_response_items.system is 'System the feedback is about.';
comment on column analytics.form_response_items.go_live_wave is 'Go-live wave of the respondent''s org unit.';
comment on column analytics.form_response_items.staff_pseudonym is 'Keyed-hash pseudonym of the respondent.';
comment on column analytics.form_response_items.form_id is 'Form or survey identifier.';
comment on column analytics.form_response_items.item_code is 'Question code, e.g. confidence, training_fit, system_speed.';
comment on column analytics.form_response_items.answer is 'Answer 1..5: 1 strongly disagree, 2 disagree, 3 neutral, 4 agree, 5 strongly agree.';

comment on view analytics.helpdesk_tickets is 'IT service desk tickets: the latest known state of each ticket.';
comment on column analytics.helpdesk_tickets.event_id is 'Id of the ticket version shown (uuid5 of source, ticket id and version).';
comment on column analytics.helpdesk_tickets.source is 'Service desk the ticket came from, e.g. servicenow, jira, zendesk.';
comment on column analytics.helpdesk_tickets.ticket_id is 'Ticket number or id in the source system.';
comment on column analytics.helpdesk_tickets.opened_at is 'When the ticket was opened (UTC).';
comment on column analytics.helpdesk_tickets.updated_at is 'When the ticket was last updated in the source (UTC).';
comment on column analytics.helpdesk_tickets.resolved_at is 'When the ticket was resolved (UTC); empty while open.';
comment on column analytics.helpdesk_tickets.opened_date is 'Calendar date the ticket was opened (UTC).';
comment on column analytics.helpdesk_tickets.opened_week_start is 'Monday of the ISO week the ticket was opened.';
comment on column analytics.helpdesk_tickets.status is 'new, open, in_progress, pending, resolved, closed or cancelled.';
comment on column analytics.helpdesk_tickets.category is 'Ticket category as the source names it.';
comment on column analytics.helpdesk_tickets.priority is 'Priority 1 (critical) .. 5 (planning).';
comment on column analytics.helpdesk_tickets.reopen_count is 'How many times the ticket was reopened.';
comment on column analytics.helpdesk_tickets.satisfaction is 'Requester satisfaction 1 (very dissatisfied) .. 5 (very satisfied), if rated.';
comment on column analytics.helpdesk_tickets.summary is 'Short description, scrubbed of e-mail addresses, phone numbers, NHS numbers and postcodes.';
comment on column analytics.helpdesk_tickets.hours_to_resolve is 'Hours from opened to resolved; empty while open.';
comment on column analytics.helpdesk_tickets.org_unit is 'Requester''s leaf org unit code.';
comment on column analytics.helpdesk_tickets.staff_group is 'Requester''s staff group.';
comment on column analytics.helpdesk_tickets.system is 'System the ticket is about.';
comment on column analytics.helpdesk_tickets.go_live_wave is 'Go-live wave of the requester''s org unit.';
comment on column analytics.helpdesk_tickets.requester_pseudonym is 'Keyed-hash pseudonym of the requester.';
comment on column analytics.helpdesk_tickets.loaded_at is 'When the warehouse stored this version.';

comment on view analytics.training_records is 'Training activity: one row per learning statement (enrolled, attempted, completed, passed, failed).';
comment on column analytics.training_records.event_id is 'Deterministic id of the statement.';
comment on column analytics.training_records.source is 'Learning platform, e.g. xapi, moodle, esr_csv.';
comment on column analytics.training_records.statement_id is 'Statement or completion id in the source.';
comment on column analytics.training_records.occurred_at is 'When the learning activity happened (UTC).';
comment on column analytics.training_records.date is 'Calendar date of the activity (UTC).';
comment on column analytics.training_records.week_start is 'Monday of the ISO week of the activity.';
comment on column analytics.training_records.course_id is 'Course identifier.';
comment on column analytics.training_records.course_title is 'Course title, if the source gives one.';
comment on column analytics.training_records.module is 'Module or activity within the course.';
comment on column analytics.training_records.verb is 'enrolled, attempted, completed, passed or failed.';
comment on column analytics.training_records.score is 'Scaled score 0..1, if assessed.';
comment on column analytics.training_records.duration_seconds is 'Time spent, in seconds, if reported.';
comment on column analytics.training_records.required is 'Whether the course is required for the person''s go-live, if the source says.';
comment on column analytics.training_records.org_unit is 'Learner''s leaf org unit code.';
comment on column analytics.training_records.staff_group is 'Learner''s staff group.';
comment on column analytics.training_records.system is 'System the training is for.';
comment on column analytics.training_records.go_live_wave is 'Go-live wave of the learner''s org unit.';
comment on column analytics.training_records.staff_pseudonym is 'Keyed-hash pseudonym of the learner.';
comment on column analytics.training_records.loaded_at is 'When the warehouse stored this row.';

comment on view analytics.skills_assessments is 'Digital capability self-assessments: one row per person, phase and domain.';
comment on column analytics.skills_assessments.event_id is 'Id of the assessment response.';
comment on column analytics.skills_assessments.source is 'Survey tool the assessment came from.';
comment on column analytics.skills_assessments.response_id is 'Response id in the source.';
comment on column analytics.skills_assessments.occurred_at is 'When the assessment was submitted (UTC).';
comment on column analytics.skills_assessments.date is 'Calendar date of submission (UTC).';
comment on column analytics.skills_assessments.assessment_id is 'Assessment (questionnaire) identifier.';
comment on column analytics.skills_assessments.phase is 'baseline (before go-live) or follow_up (after).';
comment on column analytics.skills_assessments.domain is 'Capability domain of the national digital capability framework (six domains).';
comment on column analytics.skills_assessments.score is 'Self-assessed capability 1 (none) .. 5 (expert).';
comment on column analytics.skills_assessments.org_unit is 'Respondent''s leaf org unit code.';
comment on column analytics.skills_assessments.staff_group is 'Respondent''s staff group.';
comment on column analytics.skills_assessments.system is 'System the assessment relates to.';
comment on column analytics.skills_assessments.go_live_wave is 'Go-live wave of the respondent''s org unit.';
comment on column analytics.skills_assessments.staff_pseudonym is 'Keyed-hash pseudonym of the respondent.';
comment on column analytics.skills_assessments.loaded_at is 'When the warehouse stored this row.';

comment on view analytics.quarantine is 'Records that failed validation and were not loaded, with every reason. Raw bytes are kept for operators only.';
comment on column analytics.quarantine.id is 'Quarantine row id.';
comment on column analytics.quarantine.topic is 'Kafka topic the record was read from.';
comment on column analytics.quarantine.partition is 'Kafka partition the record was read from.';
comment on column analytics.quarantine."offset" is 'Kafka offset of the record.';
comment on column analytics.quarantine.kind is 'Event kind the topic carries.';
comment on column analytics.quarantine.source is 'Source named by the record, if it could be read.';
comment on column analytics.quarantine.event_id is 'Event id named by the record, if it could be read.';
comment on column analytics.quarantine.stage is 'Check that rejected it: decode (bytes/JSON), contract (schema), quality (expectations).';
comment on column analytics.quarantine.reasons is 'Every reason the record was rejected, readable.';
comment on column analytics.quarantine.reason_count is 'Number of reasons.';
comment on column analytics.quarantine.raw_size is 'Size of the raw record in bytes.';
comment on column analytics.quarantine.quarantined_at is 'When the record was quarantined.';

comment on view analytics.org_units is 'Org unit hierarchy: each unit with its parent, depth and ancestors.';
comment on column analytics.org_units.org_unit is 'Org unit code.';
comment on column analytics.org_units.parent is 'Parent org unit code; empty at the top.';
comment on column analytics.org_units.level is 'Depth in the hierarchy, 0 at the top.';
comment on column analytics.org_units.path is 'Ancestor codes, top first.';

-- Analysts read analytics and nothing else.
do $$
begin
    if not exists (select from pg_roles where rolname = 'realise_analyst') then
        create role realise_analyst nologin;
    end if;
end
$$;
grant usage on schema analytics to realise_analyst;
grant select on all tables in schema analytics to realise_analyst;
alter default privileges in schema analytics grant select on tables to realise_analyst;
revoke all on schema raw, core, ops, staging from public;
