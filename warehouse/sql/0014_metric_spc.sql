-- Statistical process control for analysts: every weekly series of every metric (except cumulative ones) as
-- an XmR chart, rewritten after each refresh from the values analytics.metric_latest shows (warehouse/spc.py,
-- warehouse/spc_store.py). A suppressed week has no value and takes no part in the limits or the runs.
create or replace view analytics.metric_spc as
select s.metric_id, d.title as metric_title, d.unit, d.better, s.segment_type, s.segment_value,
       s.period_start, s.value, s.suppressed, s.phase_start,
       s.mean, s.moving_range_mean, s.lower_limit, s.upper_limit, s.limit_points,
       s.beyond_limits, s.shift, s.trend, s.two_in_three, s.special_cause, s.variation, s.icon,
       s.target, s.assurance, s.refresh_id, s.computed_at
from core.metric_spc s
left join core.metric_definitions d using (metric_id);

comment on view analytics.metric_spc is 'Statistical process control (NHS England''s Making Data Count): each metric''s weekly values by segment with the XmR chart''s mean and process limits, the special-cause signals and the variation and assurance icons. Computed after each metrics refresh from the published values only; cumulative metrics (training coverage and readiness) are left out.';
comment on column analytics.metric_spc.metric_id is 'Metric identifier (see analytics.metric_definitions).';
comment on column analytics.metric_spc.metric_title is 'Metric title.';
comment on column analytics.metric_spc.unit is 'Unit of the value, mean and limits.';
comment on column analytics.metric_spc.better is 'higher or lower: which direction of the metric is an improvement; decides whether a special cause is improving or concerning.';
comment on column analytics.metric_spc.segment_type is 'trust, org_level_1, org_level_2, org_unit, staff_group, system or go_live_wave.';
comment on column analytics.metric_spc.segment_value is 'The segment, e.g. an org unit code or a staff group.';
comment on column analytics.metric_spc.period_start is 'Monday of the calendar week.';
comment on column analytics.metric_spc.value is 'The week''s value as analytics.metric_latest shows it; empty when suppressed.';
comment on column analytics.metric_spc.suppressed is 'True when the week''s value is withheld: it takes no part in the mean, the moving ranges or any run, and is never judged.';
comment on column analytics.metric_spc.phase_start is 'First week of the phase the limits belong to: a wave''s limits are recomputed from its go-live week; other segments have one phase from their first week.';
comment on column analytics.metric_spc.mean is 'Centre line: mean of the phase''s published values; empty while the phase has fewer than 12 of them.';
comment on column analytics.metric_spc.moving_range_mean is 'Mean moving range (differences between published values of consecutive weeks), after leaving out ranges of at least 3.267 times the mean range.';
comment on column analytics.metric_spc.lower_limit is 'Lower process limit: mean minus 2.66 times the mean moving range.';
comment on column analytics.metric_spc.upper_limit is 'Upper process limit: mean plus 2.66 times the mean moving range.';
comment on column analytics.metric_spc.limit_points is 'Published weekly values the mean and limits rest on (at least 12).';
comment on column analytics.metric_spc.beyond_limits is 'Special cause: the value is above the upper or below the lower process limit. Empty when the week is not judged (suppressed, or no limits yet).';
comment on column analytics.metric_spc.shift is 'Special cause: part of a run of 7 or more consecutive weeks on one side of the mean (a suppressed or missing week ends a run).';
comment on column analytics.metric_spc.trend is 'Special cause: part of a run of 7 or more consecutive weeks each higher than the last, or each lower.';
comment on column analytics.metric_spc.two_in_three is 'Special cause: one of 2 of 3 consecutive weeks beyond two thirds of the distance from the mean to a process limit (2 sigma), all 3 on the same side of the mean.';
comment on column analytics.metric_spc.special_cause is 'high or low: the direction of the special cause (by the first signal of: beyond limits, trend, two in three, shift); empty for common cause.';
comment on column analytics.metric_spc.variation is 'common cause, special cause improving or special cause concerning (the special cause read by better); empty when the week is not judged.';
comment on column analytics.metric_spc.icon is 'Making Data Count variation icon: common_cause, improving_high, improving_low, concerning_high or concerning_low; the latest week''s icon is the series'' icon.';
comment on column analytics.metric_spc.target is 'Target of the benefit measured by this metric and segment (analytics.benefits; the earliest target date when several are); empty when none.';
comment on column analytics.metric_spc.assurance is 'Making Data Count assurance icon against the target, from the phase''s limits: consistently passing (the target lies beyond the limit on the worse side), consistently failing (beyond the limit on the better side) or hit and miss (between the limits); empty without a target or limits.';
comment on column analytics.metric_spc.refresh_id is 'Metrics refresh after which the chart was computed.';
comment on column analytics.metric_spc.computed_at is 'When the chart was computed.';

grant select on all tables in schema analytics to realise_analyst;
