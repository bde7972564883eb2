-- The alert → action loop for analysts: the benefits register with its latest status (and the status
-- history), alerts, and actions with the metric before and after each action.
-- Migration 0015 redefines analytics.actions with the change's interval (0015_metric_intervals.sql).

create or replace view analytics.benefits as
select b.benefit_id, b.title, b.metric_id, d.title as metric_title, d.unit, d.better,
       b.segment_type, b.segment_value, b.baseline_value, b.baseline_date, b.target_value, b.target_date,
       b.owner, coalesce(s.status, 'not evaluated') as status, s.reason as status_reason,
       s.current_value, s.current_period, s.projected_value, s.slope_per_week,
       s.computed_at as status_computed_at, b.loaded_at
from core.benefits b
left join core.metric_definitions d using (metric_id)
left join lateral (
    select * from core.benefit_status x where x.benefit_id = b.benefit_id
    order by x.computed_at desc, x.id desc limit 1
) s on true;

create or replace view analytics.benefit_status as
select s.benefit_id, b.title, s.computed_at, s.refresh_id, s.status, s.reason, s.current_value,
       s.current_period, s.projected_value, s.slope_per_week, s.points
from core.benefit_status s
join core.benefits b using (benefit_id);

create or replace view analytics.alerts as
select a.alert_id, a.rule_id, a.metric_id, d.title as metric_title, d.unit, a.segment_type, a.segment_value,
       a.period, a.value, a.threshold, a.message, a.status, a.opened_at, a.last_seen_at, a.resolved_at,
       (select count(*) from core.actions x where x.alert_id = a.alert_id) as actions,
       (select count(*) from core.actions x where x.alert_id = a.alert_id and x.status = 'open') as open_actions
from core.alerts a
left join core.metric_definitions d using (metric_id);

-- Before/after: the mean weekly value of the alert's metric and segment over the 4 weeks starting before
-- the action date versus the 4 weeks starting on or after it (latest values; suppressed weeks carry none).
create or replace view analytics.actions as
select x.action_id, x.alert_id, a.rule_id, a.metric_id, d.title as metric_title, d.unit, d.better,
       a.segment_type, a.segment_value, a.status as alert_status, x.description, x.owner, x.due_date,
       x.status, x.action_date, x.created_at,
       (x.status = 'open' and x.due_date < current_date) as overdue,
       bef.value as before_value, bef.weeks as before_weeks,
       aft.value as after_value, aft.weeks as after_weeks,
       aft.value - bef.value as change,
       case when d.better = 'higher' then aft.value > bef.value
            when d.better = 'lower' then aft.value < bef.value end as improved
from core.actions x
join core.alerts a using (alert_id)
left join core.metric_definitions d on d.metric_id = a.metric_id
left join lateral (
    select avg(m.value) as value, count(m.value)::int as weeks from analytics.metric_latest m
    where m.metric_id = a.metric_id and m.grain = 'week' and m.segment_type = a.segment_type
      and m.segment_value = a.segment_value
      and m.period_start >= x.action_date - 28 and m.period_start < x.action_date
) bef on true
left join lateral (
    select avg(m.value) as value, count(m.value)::int as weeks from analytics.metric_latest m
    where m.metric_id = a.metric_id and m.grain = 'week' and m.segment_type = a.segment_type
      and m.segment_value = a.segment_value
      and m.period_start >= x.action_date and m.period_start < x.action_date + 28
) aft on true;

comment on view analytics.benefits is 'The benefits register (loaded from benefits.yaml) with each benefit''s latest status from its measure''s trajectory.';
comment on column analytics.benefits.benefit_id is 'Benefit identifier from the register file.';
comment on column analytics.benefits.title is 'The benefit, as the programme board knows it.';
comment on column analytics.benefits.metric_id is 'Metric that measures the benefit (see analytics.metric_definitions).';
comment on column analytics.benefits.metric_title is 'Title of the measuring metric.';
comment on column analytics.benefits.unit is 'Unit of the metric, baseline and target.';
comment on column analytics.benefits.better is 'higher or lower: which direction of the metric is an improvement.';
comment on column analytics.benefits.segment_type is 'Segment type measured: trust, org_level_1, org_level_2, org_unit, staff_group, system or go_live_wave.';
comment on column analytics.benefits.segment_value is 'Segment measured, e.g. all (the trust), an org unit code or a wave.';
comment on column analytics.benefits.baseline_value is 'Value of the metric at the baseline.';
comment on column analytics.benefits.baseline_date is 'Date the baseline was measured.';
comment on column analytics.benefits.target_value is 'Value the benefit should reach by the target date.';
comment on column analytics.benefits.target_date is 'Date by which the target should be reached.';
comment on column analytics.benefits.owner is 'Who is accountable for the benefit.';
comment on column analytics.benefits.status is 'on track, at risk, off track or no data (from the latest evaluation); not evaluated before the first.';
comment on column analytics.benefits.status_reason is 'Why the benefit has its status, in words (values, projection, trend).';
comment on column analytics.benefits.current_value is 'Latest weekly value of the metric for the segment; empty when suppressed or missing.';
comment on column analytics.benefits.current_period is 'Monday of the week of the latest value.';
comment on column analytics.benefits.projected_value is 'Value projected at the target date by a least-squares line through the last 6 weeks (the latest value once the target date has passed).';
comment on column analytics.benefits.slope_per_week is 'Slope of the trend line, in metric units per week.';
comment on column analytics.benefits.status_computed_at is 'When the status was last evaluated (after each metrics refresh and each register load).';
comment on column analytics.benefits.loaded_at is 'When the benefit was last loaded from the register file.';

comment on view analytics.benefit_status is 'Every evaluation of every benefit''s status: how the status changed over time.';
comment on column analytics.benefit_status.benefit_id is 'Benefit identifier (see analytics.benefits).';
comment on column analytics.benefit_status.title is 'The benefit.';
comment on column analytics.benefit_status.computed_at is 'When the status was evaluated.';
comment on column analytics.benefit_status.refresh_id is 'Metrics refresh after which it was evaluated; empty when evaluated on loading the register.';
comment on column analytics.benefit_status.status is 'on track, at risk, off track or no data.';
comment on column analytics.benefit_status.reason is 'Why the benefit had this status.';
comment on column analytics.benefit_status.current_value is 'Latest weekly value at the time; empty when suppressed or missing.';
comment on column analytics.benefit_status.current_period is 'Monday of the week of that value.';
comment on column analytics.benefit_status.projected_value is 'Value projected at the target date at the time.';
comment on column analytics.benefit_status.slope_per_week is 'Slope of the trend line, in metric units per week.';
comment on column analytics.benefit_status.points is 'Weeks with a value the trend line was fitted through.';

comment on view analytics.alerts is 'Alerts raised by the rules in alerts.yaml: at most one open per rule and segment.';
comment on column analytics.alerts.alert_id is 'Alert identifier (used by `realise actions add`).';
comment on column analytics.alerts.rule_id is 'Rule that raised the alert (alerts.yaml).';
comment on column analytics.alerts.metric_id is 'Metric the rule watches.';
comment on column analytics.alerts.metric_title is 'Title of the metric.';
comment on column analytics.alerts.unit is 'Unit of the value and threshold.';
comment on column analytics.alerts.segment_type is 'Segment type the rule watches, e.g. org_unit.';
comment on column analytics.alerts.segment_value is 'Segment in breach, e.g. an org unit code.';
comment on column analytics.alerts.period is 'Monday of the week of the latest breaching value.';
comment on column analytics.alerts.value is 'Latest breaching value (never from a suppressed cell).';
comment on column analytics.alerts.threshold is 'Threshold of a below/above rule; empty for falling/rising rules.';
comment on column analytics.alerts.message is 'What the alert says, from the rule''s message template.';
comment on column analytics.alerts.status is 'open, or resolved once the latest value no longer breaches the rule.';
comment on column analytics.alerts.opened_at is 'When the breach was first seen.';
comment on column analytics.alerts.last_seen_at is 'When the breach was last seen by a refresh.';
comment on column analytics.alerts.resolved_at is 'When the alert was resolved; empty while open.';
comment on column analytics.alerts.actions is 'Actions recorded against the alert.';
comment on column analytics.alerts.open_actions is 'Actions still open.';

comment on view analytics.actions is 'Actions taken on alerts, and whether the metric moved: mean of the 4 weeks starting before the action date versus the 4 weeks starting on or after it.';
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

-- Default privileges cover new views for the role that ran 0001; grant explicitly for any other migrator.
grant select on all tables in schema analytics to realise_analyst;
