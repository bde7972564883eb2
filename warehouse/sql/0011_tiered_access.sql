-- Tiered access to row-level data.
--
-- research: the full pseudonymised rows (the analytics row views as they were up to revision 0010), read by
--           the role realise_researcher only, which a DBA grants to a login after a data-protection impact
--           assessment.
-- analytics: the same records for realise_analyst, coarsened so that every combination of the
--           quasi-identifiers a row shows (period, org unit, staff group, system, go-live wave) holds at least
--           core.disclosure_settings.min_group_size distinct people, free text only where the combination holds
--           comment_min_group_size people, and no stable person identifier.
--
-- Expects core.disclosure_settings (created by the migration) to exist.

create schema if not exists research;

do $$
begin
    if not exists (select from pg_roles where rolname = 'realise_researcher') then
        create role realise_researcher nologin;
    end if;
end
$$;

insert into core.disclosure_settings (id) values (true) on conflict (id) do nothing;

-- --- research: full rows ------------------------------------------------------------------------------

create or replace view research.form_responses as
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

create or replace view research.form_response_items as
select r.event_id, r.response_id, r.submitted_at, r.date, r.week_start, r.org_unit, r.staff_group,
       r.system, r.go_live_wave, r.staff_pseudonym, r.form_id,
       item.key as item_code, (item.value)::int as answer
from research.form_responses r, jsonb_each(r.likert) as item;

create or replace view research.helpdesk_tickets as
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

create or replace view research.training_records as
select f.event_id, f.source, f.source_record_id as statement_id, f.occurred_at, d.date, d.week_start,
       f.course_id, f.course_title, f.module, f.verb, f.score, f.duration_seconds, f.required,
       f.org_unit, f.staff_group, f.system, f.go_live_wave, f.pseudonym as staff_pseudonym, f.loaded_at
from core.fact_training_record f join core.dim_date d using (date_key)
where not exists (select from core.fact_retraction r
                  where r.retracted_kind = 'training_record' and r.source = f.source
                    and r.source_record_id = f.source_record_id and r.occurred_at >= f.occurred_at);

create or replace view research.skills_assessments as
select f.event_id, f.source, f.source_record_id as response_id, f.occurred_at, d.date,
       f.assessment_id, f.phase, s.key as domain, (s.value)::int as score,
       f.org_unit, f.staff_group, f.system, f.go_live_wave, f.pseudonym as staff_pseudonym, f.loaded_at
from core.fact_skills_assessment f
join core.dim_date d using (date_key)
cross join lateral jsonb_each(f.scores) as s
where not exists (select from core.fact_retraction r
                  where r.retracted_kind = 'skills_assessment' and r.source = f.source
                    and r.source_record_id = f.source_record_id and r.occurred_at >= f.occurred_at);

-- The research views describe their columns as the analytics views did until now.
do $$
declare
    r record;
begin
    for r in
        select c.relname, obj_description(c.oid, 'pg_class') as doc
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'analytics' and c.relname in ('form_responses', 'form_response_items', 'helpdesk_tickets',
                                                         'training_records', 'skills_assessments')
    loop
        execute format('comment on view research.%I is %L', r.relname,
                       r.doc || ' Full pseudonymised rows for approved research (role realise_researcher).');
    end loop;
    for r in
        select c.relname, a.attname, col_description(c.oid, a.attnum) as doc
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname = 'analytics' and c.relname in ('form_responses', 'form_response_items', 'helpdesk_tickets',
                                                         'training_records', 'skills_assessments')
          and col_description(c.oid, a.attnum) is not null
    loop
        execute format('comment on column research.%I.%I is %L', r.relname, r.attname, r.doc);
    end loop;
end
$$;

-- --- the generalisation ---------------------------------------------------------------------------------
-- One row per record (per response for skills assessments) of each kind, with the step of the generalisation
-- ladder it is shown at. A record starts at step 0; the records of every combination of step L that holds
-- at least min_group_size distinct people are shown at step L, the rest (the residual) are regrouped at step
-- L + 1. Residual records left after step 8 are not shown (step is null).
--
--   step  org unit   staff group  system  go-live wave  period
--   0     unit       group        system  wave          ISO week
--   1     unit       group        system  wave          month
--   2     level 2    group        system  wave          month
--   3     level 2    group        all     wave          month
--   4     level 2    other        all     wave          month
--   5     level 1    other        all     wave          month
--   6     level 1    other        all     all           month
--   7     all        other        all     all           month
--   8     all        other        all     all           all
--
-- Every combination shown is a union of groups that were each large enough, so it is large enough too.
-- Distinct people in a window: dense_rank ascending + dense_rank descending - 1. Every window is partitioned by
-- kind first, so a filter on kind reaches the source view and the other kinds are never read.
create or replace view core.disclosure_rows as
with settings as materialized (
    select coalesce(max(min_group_size), 5) as k, coalesce(max(comment_min_group_size), 10) as ck
    from core.disclosure_settings
)
select kind, event_id, pseudonym, step, org_unit, staff_group, system, go_live_wave, period, period_start,
       concat_ws('|', kind, period, period_start, org_unit, staff_group, system, coalesce(go_live_wave, '-'))
           as combination,
       people, people >= (select ck from settings) as text_shown
from (
    select s.*,
           dense_rank() over shown + dense_rank() over shown_desc - 1 as people
    from (
        select kind, event_id, pseudonym, step,
               case when step <= 1 then unit when step <= 4 then unit_l2 when step <= 6 then unit_l1 else 'all' end
                   as org_unit,
               case when step <= 3 then staff_group else 'other' end as staff_group,
               case when step <= 2 then system else 'all' end as system,
               case when step <= 5 then go_live_wave else 'all' end as go_live_wave,
               case step when 0 then 'week' when 8 then 'all' else 'month' end as period,
               case when step = 0 then week_start when step < 8 then month_start end as period_start
        from (
            select l7.*, coalesce(step7, case when dense_rank() over w8 + dense_rank() over w8d - 1
                                                   >= (select k from settings) then 8 end) as step
            from (
                select l6.*, coalesce(step6, case when dense_rank() over w7 + dense_rank() over w7d - 1
                                                       >= (select k from settings) then 7 end) as step7
                from (
                    select l5.*, coalesce(step5, case when dense_rank() over w6 + dense_rank() over w6d - 1
                                                           >= (select k from settings) then 6 end) as step6
                    from (
                        select l4.*, coalesce(step4, case when dense_rank() over w5 + dense_rank() over w5d - 1
                                                               >= (select k from settings) then 5 end) as step5
                        from (
                            select l3.*, coalesce(step3, case when dense_rank() over w4 + dense_rank() over w4d - 1
                                                                   >= (select k from settings) then 4 end) as step4
                            from (
                                select l2.*, coalesce(step2, case when dense_rank() over w3
                                                                       + dense_rank() over w3d - 1
                                                                       >= (select k from settings) then 3 end) as step3
                                from (
                                    select l1.*, coalesce(step1, case when dense_rank() over w2
                                                                           + dense_rank() over w2d - 1
                                                                           >= (select k from settings) then 2 end)
                                               as step2
                                    from (
                                        select l0.*, coalesce(step0, case when dense_rank() over w1
                                                                               + dense_rank() over w1d - 1
                                                                               >= (select k from settings) then 1 end)
                                                   as step1
                                        from (
                                            select b.*, case when dense_rank() over w0 + dense_rank() over w0d - 1
                                                                  >= (select k from settings) then 0 end as step0
                                            from (
                                                select r.kind, r.event_id, r.pseudonym, r.unit, r.staff_group,
                                                       r.system, r.go_live_wave,
                                                       r.date - (extract(isodow from r.date)::int - 1) as week_start,
                                                       date_trunc('month', r.date)::date as month_start,
                                                       case when o.org_unit is null then 'all'
                                                            when o.level <= 2 then o.org_unit
                                                            else o.path[3] end as unit_l2,
                                                       case when o.org_unit is null then 'all'
                                                            when o.level <= 1 then o.org_unit
                                                            else o.path[2] end as unit_l1
                                                from (
                                                    select 'form_response' as kind, event_id,
                                                           staff_pseudonym as pseudonym, org_unit as unit,
                                                           staff_group, system, go_live_wave, date
                                                    from research.form_responses
                                                    union all
                                                    select 'helpdesk_ticket', event_id, requester_pseudonym,
                                                           org_unit, staff_group, system, go_live_wave, opened_date
                                                    from research.helpdesk_tickets
                                                    union all
                                                    select 'training_record', event_id, staff_pseudonym, org_unit,
                                                           staff_group, system, go_live_wave, date
                                                    from research.training_records
                                                    union all
                                                    select distinct 'skills_assessment', event_id, staff_pseudonym,
                                                           org_unit, staff_group, system, go_live_wave, date
                                                    from research.skills_assessments
                                                ) r
                                                left join core.dim_org_unit o on o.org_unit = r.unit
                                            ) b
                                            window w0 as (partition by kind, unit, staff_group, system, go_live_wave,
                                                                       week_start order by pseudonym),
                                                   w0d as (partition by kind, unit, staff_group, system, go_live_wave,
                                                                        week_start order by pseudonym desc)
                                        ) l0
                                        window w1 as (partition by kind, step0 is null, unit, staff_group, system,
                                                                   go_live_wave, month_start order by pseudonym),
                                               w1d as (partition by kind, step0 is null, unit, staff_group, system,
                                                                    go_live_wave, month_start order by pseudonym desc)
                                    ) l1
                                    window w2 as (partition by kind, step1 is null, unit_l2, staff_group, system,
                                                               go_live_wave, month_start order by pseudonym),
                                           w2d as (partition by kind, step1 is null, unit_l2, staff_group, system,
                                                                go_live_wave, month_start order by pseudonym desc)
                                ) l2
                                window w3 as (partition by kind, step2 is null, unit_l2, staff_group, go_live_wave,
                                                           month_start order by pseudonym),
                                       w3d as (partition by kind, step2 is null, unit_l2, staff_group, go_live_wave,
                                                            month_start order by pseudonym desc)
                            ) l3
                            window w4 as (partition by kind, step3 is null, unit_l2, go_live_wave, month_start
                                          order by pseudonym),
                                   w4d as (partition by kind, step3 is null, unit_l2, go_live_wave, month_start
                                           order by pseudonym desc)
                        ) l4
                        window w5 as (partition by kind, step4 is null, unit_l1, go_live_wave, month_start
                                      order by pseudonym),
                               w5d as (partition by kind, step4 is null, unit_l1, go_live_wave, month_start
                                       order by pseudonym desc)
                    ) l5
                    window w6 as (partition by kind, step5 is null, unit_l1, month_start order by pseudonym),
                           w6d as (partition by kind, step5 is null, unit_l1, month_start order by pseudonym desc)
                ) l6
                window w7 as (partition by kind, step6 is null, month_start order by pseudonym),
                       w7d as (partition by kind, step6 is null, month_start order by pseudonym desc)
            ) l7
            window w8 as (partition by kind, step7 is null order by pseudonym),
                   w8d as (partition by kind, step7 is null order by pseudonym desc)
        ) c
        where step is not null
    ) s
    window shown as (partition by kind, period, period_start, org_unit, staff_group, system, go_live_wave
                     order by pseudonym),
           shown_desc as (partition by kind, period, period_start, org_unit, staff_group, system, go_live_wave
                          order by pseudonym desc)
) shown;

comment on view core.disclosure_rows is 'Each record of each kind with the generalisation step and the quasi-identifiers analytics shows it with, the distinct people in that combination and whether its free text may be shown. Read by the analytics row views; not granted to anyone.';

-- --- analytics: coarsened rows ---------------------------------------------------------------------------
-- Columns change (identifiers and exact times go), so the views are replaced rather than redefined.
drop view if exists analytics.form_response_items;
drop view if exists analytics.form_responses;
drop view if exists analytics.helpdesk_tickets;
drop view if exists analytics.training_records;
drop view if exists analytics.skills_assessments;

-- Keys are hashes of the pseudonym (a secret to analysts) with the combination shown: they count people and
-- group a response's rows within one combination, and match nothing outside it.
create view analytics.form_responses as
select c.period, c.period_start, c.org_unit, c.staff_group, c.system, c.go_live_wave,
       md5(concat_ws('|', 'response', r.event_id, c.pseudonym, c.combination)) as response_key,
       md5(concat_ws('|', 'form_responses', c.pseudonym, c.combination)) as person_key,
       r.source, r.form_id, r.likert, r.likert_count, r.recommend, r.minutes_saved_per_shift,
       case when c.text_shown then r.comment end as comment
from research.form_responses r
join core.disclosure_rows c on c.kind = 'form_response' and c.event_id = r.event_id;

-- Responses without agree/disagree answers have no rows here, so a combination is shown only while the people
-- with answers in it are still enough.
create view analytics.form_response_items as
select period, period_start, org_unit, staff_group, system, go_live_wave, response_key, person_key, source,
       form_id, item_code, answer
from (
    select c.period, c.period_start, c.org_unit, c.staff_group, c.system, c.go_live_wave,
           md5(concat_ws('|', 'response', r.event_id, c.pseudonym, c.combination)) as response_key,
           md5(concat_ws('|', 'form_response_items', c.pseudonym, c.combination)) as person_key,
           r.source, r.form_id, item.key as item_code, (item.value)::int as answer,
           dense_rank() over (partition by c.combination order by c.pseudonym)
               + dense_rank() over (partition by c.combination order by c.pseudonym desc) - 1 as people
    from research.form_responses r
    join core.disclosure_rows c on c.kind = 'form_response' and c.event_id = r.event_id
    cross join lateral jsonb_each(r.likert) as item
) i
where people >= (select coalesce(max(min_group_size), 5) from core.disclosure_settings);

create view analytics.helpdesk_tickets as
select c.period, c.period_start, c.org_unit, c.staff_group, c.system, c.go_live_wave,
       md5(concat_ws('|', 'helpdesk_tickets', c.pseudonym, c.combination)) as person_key,
       t.source, t.status, case when c.text_shown then t.category end as category, t.priority, t.reopen_count,
       t.satisfaction, case when c.text_shown then t.summary end as summary,
       round(t.hours_to_resolve, 1) as hours_to_resolve
from research.helpdesk_tickets t
join core.disclosure_rows c on c.kind = 'helpdesk_ticket' and c.event_id = t.event_id;

create view analytics.training_records as
select c.period, c.period_start, c.org_unit, c.staff_group, c.system, c.go_live_wave,
       md5(concat_ws('|', 'training_records', c.pseudonym, c.combination)) as person_key,
       t.source, t.course_id, case when c.text_shown then t.course_title end as course_title,
       case when c.text_shown then t.module end as module, t.verb, t.score, t.duration_seconds, t.required
from research.training_records t
join core.disclosure_rows c on c.kind = 'training_record' and c.event_id = t.event_id;

create view analytics.skills_assessments as
select c.period, c.period_start, c.org_unit, c.staff_group, c.system, c.go_live_wave,
       md5(concat_ws('|', 'response', s.event_id, c.pseudonym, c.combination)) as response_key,
       md5(concat_ws('|', 'skills_assessments', c.pseudonym, c.combination)) as person_key,
       s.source, s.assessment_id, s.phase, s.domain, s.score
from research.skills_assessments s
join core.disclosure_rows c on c.kind = 'skills_assessment' and c.event_id = s.event_id;

comment on view analytics.form_responses is 'Survey and form responses, one row per response (latest version), coarsened so that every combination of period, org unit, staff group, system and wave shown holds at least the minimum group size of people; comments only in combinations of at least the comment minimum.';
comment on view analytics.form_response_items is 'One row per agree/disagree answer: the long form of analytics.form_responses.likert, with the same coarsening.';
comment on view analytics.helpdesk_tickets is 'IT service desk tickets, the latest known state of each, coarsened by the requester''s combination; category and summary only in combinations of at least the comment minimum.';
comment on view analytics.training_records is 'Training activity, one row per learning statement, coarsened by the learner''s combination; course title and module only in combinations of at least the comment minimum.';
comment on view analytics.skills_assessments is 'Digital capability self-assessments, one row per response and domain, coarsened by the respondent''s combination.';

do $$
declare
    v text;
begin
    foreach v in array array['form_responses', 'form_response_items', 'helpdesk_tickets', 'training_records',
                             'skills_assessments']
    loop
        execute format('comment on column analytics.%I.period is %L', v,
            'Time grain of period_start: week (ISO week), month, or all (period_start empty). Coarser where a week held too few people.');
        execute format('comment on column analytics.%I.period_start is %L', v,
            'Monday of the ISO week or first day of the month the record is dated in (UTC; for tickets, opened); empty when period is all.');
        execute format('comment on column analytics.%I.org_unit is %L', v,
            'Leaf org unit code, or, where it held too few people, its level-2 or level-1 ancestor (see analytics.org_units), or all.');
        execute format('comment on column analytics.%I.staff_group is %L', v,
            'Staff group, e.g. Nursing and Midwifery; other where the group held too few people.');
        execute format('comment on column analytics.%I.system is %L', v,
            'System the record is about (EPR, ePMA, Patient Portal); all where it held too few people.');
        execute format('comment on column analytics.%I.go_live_wave is %L', v,
            'Go-live wave of the person''s org unit; empty for a unit with no wave; all where it held too few people.');
        execute format('comment on column analytics.%I.person_key is %L', v,
            'Stands for one person within this view and this row''s combination only: count(distinct person_key) counts people in a combination; the same person has another key in another combination or view.');
        execute format('comment on column analytics.%I.source is %L', v, 'System the record came from, e.g. msforms, servicenow, xapi.');
    end loop;
end
$$;

comment on column analytics.form_responses.response_key is 'Stands for one response within its combination; the same key marks its rows in analytics.form_response_items.';
comment on column analytics.form_responses.form_id is 'Form or survey identifier.';
comment on column analytics.form_responses.likert is 'Agree/disagree answers as {item_code: 1..5}; 1 strongly disagree, 3 neutral, 5 strongly agree.';
comment on column analytics.form_responses.likert_count is 'Number of agree/disagree items answered.';
comment on column analytics.form_responses.recommend is 'Answer to the 0-10 recommend item (promoters 9-10, detractors 0-6).';
comment on column analytics.form_responses.minutes_saved_per_shift is 'Self-reported minutes saved per shift; negative means time lost.';
comment on column analytics.form_responses.comment is 'Free-text comment, scrubbed of e-mail addresses, phone numbers, NHS numbers and postcodes; empty where the combination holds fewer people than the comment minimum.';

comment on column analytics.form_response_items.response_key is 'The response the answer belongs to (analytics.form_responses.response_key).';
comment on column analytics.form_response_items.form_id is 'Form or survey identifier.';
comment on column analytics.form_response_items.item_code is 'Question code, e.g. confidence, training_fit, system_speed.';
comment on column analytics.form_response_items.answer is 'Answer 1..5: 1 strongly disagree, 2 disagree, 3 neutral, 4 agree, 5 strongly agree.';

comment on column analytics.helpdesk_tickets.status is 'new, open, in_progress, pending, resolved, closed or cancelled.';
comment on column analytics.helpdesk_tickets.category is 'Ticket category as the source names it; empty where the combination holds fewer people than the comment minimum.';
comment on column analytics.helpdesk_tickets.priority is 'Priority 1 (critical) .. 5 (planning).';
comment on column analytics.helpdesk_tickets.reopen_count is 'How many times the ticket was reopened.';
comment on column analytics.helpdesk_tickets.satisfaction is 'Requester satisfaction 1 (very dissatisfied) .. 5 (very satisfied), if rated.';
comment on column analytics.helpdesk_tickets.summary is 'Short description, scrubbed of e-mail addresses, phone numbers, NHS numbers and postcodes; empty where the combination holds fewer people than the comment minimum.';
comment on column analytics.helpdesk_tickets.hours_to_resolve is 'Hours from opened to resolved, to 0.1 h; empty while open.';

comment on column analytics.training_records.course_id is 'Course identifier.';
comment on column analytics.training_records.course_title is 'Course title, if the source gives one; empty where the combination holds fewer people than the comment minimum.';
comment on column analytics.training_records.module is 'Module or activity within the course; empty where the combination holds fewer people than the comment minimum.';
comment on column analytics.training_records.verb is 'enrolled, attempted, completed, passed or failed.';
comment on column analytics.training_records.score is 'Scaled score 0..1, if assessed.';
comment on column analytics.training_records.duration_seconds is 'Time spent, in seconds, if reported.';
comment on column analytics.training_records.required is 'Whether the course is required for the person''s go-live, if the source says.';

comment on column analytics.skills_assessments.response_key is 'Stands for one assessment response within its combination: its domain rows share it.';
comment on column analytics.skills_assessments.assessment_id is 'Assessment (questionnaire) identifier.';
comment on column analytics.skills_assessments.phase is 'baseline (before go-live) or follow_up (after).';
comment on column analytics.skills_assessments.domain is 'Capability domain of the national digital capability framework (six domains).';
comment on column analytics.skills_assessments.score is 'Self-assessed capability 1 (none) .. 5 (expert).';

-- --- who reads what -------------------------------------------------------------------------------------
-- Analysts read analytics; researchers read research; neither reads raw, core, ops or staging. A DBA grants
-- realise_researcher to a login (GRANT realise_researcher TO some_login) once a DPIA covers it.
revoke all on schema research from public;
revoke all on all tables in schema research from public;
grant usage on schema research to realise_researcher;
grant select on all tables in schema research to realise_researcher;
alter default privileges in schema research grant select on tables to realise_researcher;
grant usage on schema analytics to realise_analyst;
grant select on all tables in schema analytics to realise_analyst;
