-- Every value carries its 95% interval (warehouse/metrics/intervals.py), hidden with the value and, for a held
-- revision, the interval last shown with the value last shown. Actions say whether the change they saw is
-- bigger than noise. (As 0013_closed_cells.sql and analytics.actions of 0003_loop_views.sql, with the intervals.)
-- Closed cells (every row gone: re-dated, reopened, retracted) stay in history, flagged, and leave the latest
-- view.
-- Metric values as the analyst role reads them: which rule withheld a cell is not said (knowing a cell is
-- hidden only to protect another, so holds at least the minimum, narrows that other cell down), and the
-- fingerprint of a cell's rows stays internal (its row count would give a hidden cell's size).
drop view if exists analytics.metric_latest cascade;
drop view if exists analytics.metric_values cascade;

create view analytics.metric_values as
select v.refresh_id, v.computed_at, v.metric_id, d.title as metric_title, d.unit, v.grain, v.period,
       v.period_start, v.period_index, v.segment_type, v.segment_value,
       v.parent_segment_type, v.parent_segment_value, v.partition,
       case when v.suppressed then null else v.value end as value,
       case when v.suppressed then null else v.numerator end as numerator,
       case when v.suppressed then null else v.denominator end as denominator,
       case when v.suppressed then null else v.n end as n,
       case when v.suppressed then null else v.ci_low end as ci_low,
       case when v.suppressed then null else v.ci_high end as ci_high,
       v.suppressed,
       v.closed,
       case when not v.suppressed then null
            when v.suppression_reason = 'revision' then 'revision pending'
            else 'suppressed' end::varchar(32) as suppression_reason
from core.metric_values v
left join core.metric_definitions d using (metric_id);

-- The newest state of every cell. A held revision shows the statistics last shown, which readers have seen.
create view analytics.metric_latest as
select case when held then s.shown_refresh_id else s.refresh_id end as refresh_id,
       case when held then s.shown_computed_at else s.computed_at end as computed_at,
       s.metric_id, d.title as metric_title, d.unit, s.grain, s.period, s.period_start, s.period_index,
       s.segment_type, s.segment_value, s.parent_segment_type, s.parent_segment_value, s.partition,
       case when held then s.shown_value when s.suppressed then null else s.value end as value,
       case when held then s.shown_numerator when s.suppressed then null else s.numerator end as numerator,
       case when held then s.shown_denominator when s.suppressed then null else s.denominator end as denominator,
       case when held then s.shown_n when s.suppressed then null else s.n end as n,
       case when held then s.shown_ci_low when s.suppressed then null else s.ci_low end as ci_low,
       case when held then s.shown_ci_high when s.suppressed then null else s.ci_high end as ci_high,
       s.suppressed and not held as suppressed,
       case when held then 'revision pending' when s.suppressed then 'suppressed' end::varchar(32)
           as suppression_reason,
       held as revision_pending
from (select m.*, (m.suppressed and m.suppression_reason = 'revision' and m.shown_n is not null) as held
      from core.metric_disclosure m where not m.closed) s
left join core.metric_definitions d using (metric_id);

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
comment on column analytics.metric_values.parent_segment_type is 'Segment type of the cell this one is part of (its parent).';
comment on column analytics.metric_values.parent_segment_value is 'Segment value of the parent cell.';
comment on column analytics.metric_values.value is 'The metric value; empty when suppressed.';
comment on column analytics.metric_values.numerator is 'Numerator; empty when suppressed.';
comment on column analytics.metric_values.denominator is 'Denominator; empty when suppressed.';
comment on column analytics.metric_values.n is 'People behind the value; empty when suppressed.';
comment on column analytics.metric_values.ci_low is 'Lower bound of the value''s 95% confidence interval: Wilson score interval for percentages of counts, adjusted Wald (Rocks 2016) for net scores (eNPS, net experience score; a response''s answers counted as one unit), Student''s t for means, exact Poisson for tickets per 100 staff. Empty when suppressed, and for metrics with no interval (medians, backlog growth, pooled skills scores, the staff-group gap) or too little data (a mean of one).';
comment on column analytics.metric_values.ci_high is 'Upper bound of the value''s 95% confidence interval (see ci_low); empty when suppressed or when the metric has none.';
comment on column analytics.metric_values.suppressed is 'True when the value is withheld: the group is too small, or showing it would let a small group be worked out from other cells, another grain or an earlier refresh.';
comment on column analytics.metric_values.suppression_reason is 'suppressed (withheld to protect a small group; which rule is not said, since that would narrow it down), or revision pending (the value changed by fewer people than the minimum since it was last shown: shown again once enough have changed).';
comment on column analytics.metric_values.partition is 'Which partition of the parent the cell belongs to: org (levels and units), staff_group, system or go_live_wave. The cells of one partition add up to their parent; (none) holds the people with no value.';

comment on column analytics.metric_values.closed is 'True when every record behind the cell has gone (re-dated to another period, reopened, retracted): the cell has no value from this refresh on and leaves analytics.metric_latest.';

comment on view analytics.metric_latest is 'The most recent value of every metric, grain, period and segment. A cell whose newest value is held back as a pending revision shows the value last shown, flagged revision_pending; a cell whose records have all gone is left out.';
comment on column analytics.metric_latest.revision_pending is 'True when a newer value is held back until at least the minimum group size of people have changed; the value shown is the one last shown (see computed_at).';

-- metric_latest has the columns of metric_values (but `closed`): copy their documentation.
do $$
declare col record;
begin
    for col in
        select a.attname, col_description('analytics.metric_values'::regclass, a.attnum) as doc
        from pg_attribute a
        where a.attrelid = 'analytics.metric_values'::regclass and a.attnum > 0 and not a.attisdropped
          and exists (select 1 from pg_attribute l where l.attrelid = 'analytics.metric_latest'::regclass
                      and l.attname = a.attname and not l.attisdropped)
    loop
        execute format('comment on column analytics.metric_latest.%I is %L', col.attname, col.doc);
    end loop;
end
$$;

-- Before/after: the mean weekly value of the alert's metric and segment over the 4 weeks starting before
-- the action date versus the 4 weeks starting on or after it (latest values; suppressed weeks carry none), and
-- the 95% interval of the change: each week's standard error is its interval's width / (2 × 1.96), the weeks
-- are taken as independent, so a side's mean has standard error √(Σ se²) / weeks.
create or replace view analytics.actions as
select x.action_id, x.alert_id, a.rule_id, a.metric_id, d.title as metric_title, d.unit, d.better,
       a.segment_type, a.segment_value, a.status as alert_status, x.description, x.owner, x.due_date,
       x.status, x.action_date, x.created_at,
       (x.status = 'open' and x.due_date < current_date) as overdue,
       bef.value as before_value, bef.weeks as before_weeks,
       aft.value as after_value, aft.weeks as after_weeks,
       aft.value - bef.value as change,
       case when d.better = 'higher' then aft.value > bef.value
            when d.better = 'lower' then aft.value < bef.value end as improved,
       aft.value - bef.value - 1.959964 * sqrt(bef.se2 + aft.se2) as change_ci_low,
       aft.value - bef.value + 1.959964 * sqrt(bef.se2 + aft.se2) as change_ci_high,
       abs(aft.value - bef.value) > 1.959964 * sqrt(bef.se2 + aft.se2) as beyond_noise
from core.actions x
join core.alerts a using (alert_id)
left join core.metric_definitions d on d.metric_id = a.metric_id
left join lateral (
    select avg(m.value) as value, count(m.value)::int as weeks,
           case when count(m.ci_low) = count(m.value) and count(m.value) > 0
                then sum(((m.ci_high - m.ci_low) / (2 * 1.959964)) ^ 2) / count(m.value) ^ 2 end as se2
    from analytics.metric_latest m
    where m.metric_id = a.metric_id and m.grain = 'week' and m.segment_type = a.segment_type
      and m.segment_value = a.segment_value
      and m.period_start >= x.action_date - 28 and m.period_start < x.action_date
) bef on true
left join lateral (
    select avg(m.value) as value, count(m.value)::int as weeks,
           case when count(m.ci_low) = count(m.value) and count(m.value) > 0
                then sum(((m.ci_high - m.ci_low) / (2 * 1.959964)) ^ 2) / count(m.value) ^ 2 end as se2
    from analytics.metric_latest m
    where m.metric_id = a.metric_id and m.grain = 'week' and m.segment_type = a.segment_type
      and m.segment_value = a.segment_value
      and m.period_start >= x.action_date and m.period_start < x.action_date + 28
) aft on true;

comment on view analytics.actions is 'Actions taken on alerts, and whether the metric moved: mean of the 4 weeks starting before the action date versus the 4 weeks starting on or after it, and whether the change is bigger than noise.';
comment on column analytics.actions.action_id is 'Action identifier (used by `realise actions done`).';
comment on column analytics.actions.alert_id is 'Alert the action responds to (see analytics.alerts).';
comment on column analytics.actions.rule_id is 'Rule that raised the alert.';
comment on column analytics.actions.metric_id is 'Metric of the alert.';
comment on column analytics.actions.metric_title is 'Title of the metric.';
comment on column analytics.actions.unit is 'Unit of the before and after values.';
comment on column analytics.actions.better is 'higher or lower: which direction of the metric is an improvement.';
comment on column analytics.actions.segment_type is 'Segment type of the alert.';
comment on column analytics.actions.segment_value is 'Segment of the alert, e.g. an org unit code.';
comment on column analytics.actions.alert_status is 'Status of the alert now: open or resolved.';
comment on column analytics.actions.description is 'What was done or is planned.';
comment on column analytics.actions.owner is 'Who owns the action.';
comment on column analytics.actions.due_date is 'When the action is due.';
comment on column analytics.actions.status is 'open, done or dropped.';
comment on column analytics.actions.action_date is 'When the action took effect: the split between before and after.';
comment on column analytics.actions.created_at is 'When the action was recorded.';
comment on column analytics.actions.overdue is 'True when the action is open and past its due date.';
comment on column analytics.actions.before_value is 'Mean weekly value of the alert''s metric and segment over the 4 weeks starting in the 28 days before the action date; suppressed weeks are left out, empty when none has a value.';
comment on column analytics.actions.before_weeks is 'Weeks with a value behind before_value (0 to 4).';
comment on column analytics.actions.after_value is 'Mean weekly value over the 4 weeks starting in the 28 days from the action date; suppressed weeks are left out, empty when none has a value yet.';
comment on column analytics.actions.after_weeks is 'Weeks with a value behind after_value (0 to 4): fewer than 4 while the after period is still running.';
comment on column analytics.actions.change is 'after_value minus before_value.';
comment on column analytics.actions.improved is 'True when the change is in the better direction; empty when either side has no value.';
comment on column analytics.actions.change_ci_low is 'Lower bound of the 95% confidence interval of the change, from the weekly values'' 95% intervals (each week''s standard error taken as its interval''s width / 3.92, weeks independent); empty when either side has no value or a week has no interval (metrics without one: medians, backlog growth, pooled skills scores).';
comment on column analytics.actions.change_ci_high is 'Upper bound of the 95% confidence interval of the change (see change_ci_low).';
comment on column analytics.actions.beyond_noise is 'True when the change is bigger than noise: its 95% confidence interval leaves out zero (a test of no change at the 5% level); false when it is within noise; empty when there is no interval (see change_ci_low). Weeks of a cumulative metric (training coverage) share their people, so for those it overstates what is beyond noise.';

grant select on all tables in schema analytics to realise_analyst;
