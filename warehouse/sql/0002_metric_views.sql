-- Org levels for segmenting: the chain is the unit's ancestors (top first) then the unit itself.
create or replace view core.v_org_levels as
select org_unit,
       (path || org_unit)[1] as org_l0,
       (path || org_unit)[2] as org_l1,
       (path || org_unit)[3] as org_l2
from core.dim_org_unit;

create or replace view analytics.metric_definitions as
select metric_id, title, description, unit, numerator, denominator, better, min_group_size, updated_at
from core.metric_definitions;

-- Every refresh's values. A suppressed cell shows no value, numerator, denominator or group size.
create or replace view analytics.metric_values as
select v.refresh_id, v.computed_at, v.metric_id, d.title as metric_title, d.unit, v.grain, v.period,
       v.period_start, v.period_index, v.segment_type, v.segment_value,
       v.parent_segment_type, v.parent_segment_value,
       case when v.suppressed then null else v.value end as value,
       case when v.suppressed then null else v.numerator end as numerator,
       case when v.suppressed then null else v.denominator end as denominator,
       case when v.suppressed then null else v.n end as n,
       v.suppressed, v.suppression_reason
from core.metric_values v
left join core.metric_definitions d using (metric_id);

create or replace view analytics.metric_latest as
select distinct on (metric_id, grain, period, segment_type, segment_value) *
from analytics.metric_values
order by metric_id, grain, period, segment_type, segment_value, computed_at desc, refresh_id desc;

comment on view analytics.metric_definitions is 'Benefits-realisation and adoption metrics: what each measures and how.';
comment on column analytics.metric_definitions.metric_id is 'Metric identifier, e.g. net_experience_score.';
comment on column analytics.metric_definitions.title is 'Metric title as shown in reports.';
comment on column analytics.metric_definitions.description is 'What the metric measures and how it is computed.';
comment on column analytics.metric_definitions.unit is 'Unit of the value: %, score, per 100 staff, hours, FTE, GBP, ...';
comment on column analytics.metric_definitions.numerator is 'What is counted or summed above the line.';
comment on column analytics.metric_definitions.denominator is 'What it is divided by (empty for a plain count or median).';
comment on column analytics.metric_definitions.better is 'higher or lower: which direction is an improvement.';
comment on column analytics.metric_definitions.min_group_size is 'Smallest group size shown; smaller groups are suppressed.';
comment on column analytics.metric_definitions.updated_at is 'When the definition was last written by a refresh.';

comment on view analytics.metric_values is 'Every metric value of every refresh (history). Query as of a past refresh with computed_at <= a time.';
comment on column analytics.metric_values.refresh_id is 'Refresh that computed the value.';
comment on column analytics.metric_values.computed_at is 'When the value was computed.';
comment on column analytics.metric_values.metric_id is 'Metric identifier (see analytics.metric_definitions).';
comment on column analytics.metric_values.metric_title is 'Metric title.';
comment on column analytics.metric_values.unit is 'Unit of the value.';
comment on column analytics.metric_values.grain is 'week (calendar week) or week_since_go_live (weeks since the unit''s go-live).';
comment on column analytics.metric_values.period is 'The period as text: the week''s Monday (ISO date) or the week number since go-live.';
comment on column analytics.metric_values.period_start is 'Monday of the calendar week (grain week).';
comment on column analytics.metric_values.period_index is 'Weeks since go-live, negative before it (grain week_since_go_live).';
comment on column analytics.metric_values.segment_type is 'trust, org_level_1, org_level_2, org_unit, staff_group, system or go_live_wave.';
comment on column analytics.metric_values.segment_value is 'The segment, e.g. an org unit code or a staff group.';
comment on column analytics.metric_values.parent_segment_type is 'Segment type of the parent used for secondary suppression.';
comment on column analytics.metric_values.parent_segment_value is 'Parent segment value used for secondary suppression.';
comment on column analytics.metric_values.value is 'The metric value; empty when suppressed.';
comment on column analytics.metric_values.numerator is 'Numerator; empty when suppressed.';
comment on column analytics.metric_values.denominator is 'Denominator; empty when suppressed.';
comment on column analytics.metric_values.n is 'People behind the value; empty when suppressed.';
comment on column analytics.metric_values.suppressed is 'True when the group is too small to show (or hidden so a small group cannot be worked out).';
comment on column analytics.metric_values.suppression_reason is 'primary (group too small) or secondary (hidden to protect a suppressed sibling).';

comment on view analytics.metric_latest is 'The most recent value of every metric, grain, period and segment.';

-- metric_latest has the columns of metric_values: copy their documentation.
do $$
declare col record;
begin
    for col in
        select a.attname, col_description('analytics.metric_values'::regclass, a.attnum) as doc
        from pg_attribute a
        where a.attrelid = 'analytics.metric_values'::regclass and a.attnum > 0 and not a.attisdropped
    loop
        execute format('comment on column analytics.metric_latest.%I is %L', col.attname, col.doc);
    end loop;
end
$$;
