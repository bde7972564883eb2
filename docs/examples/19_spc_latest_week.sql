-- Which measures show special-cause variation in the latest week, and can they meet their targets?
-- For: programme boards, benefits-realisation managers, data teams
-- Columns: metric_id, metric_title, week, value, mean, lower_limit, upper_limit, variation, special_cause, signals, assurance, target
--
-- The latest week of every trust-wide series read as an XmR chart (NHS England's Making Data Count):
-- variation is common cause, or special cause improving or concerning (by the metric's `better`), and
-- assurance compares the benefit's target with the process limits. Limits need 12 published weeks: until
-- then mean, limits and variation are empty. Swap `segment_type = 'trust'` for 'go_live_wave' or 'org_unit'
-- to read the segments, and drop `distinct on` to see every week of a chart.
select distinct on (metric_id) metric_id, metric_title, period_start as week,
       round(value::numeric, 1) as value, round(mean::numeric, 1) as mean,
       round(lower_limit::numeric, 1) as lower_limit, round(upper_limit::numeric, 1) as upper_limit,
       variation, special_cause,
       concat_ws(', ', case when beyond_limits then 'beyond limits' end, case when shift then 'shift' end,
                 case when trend then 'trend' end, case when two_in_three then 'two in three' end) as signals,
       assurance, target
from analytics.metric_spc
where segment_type = 'trust'
order by metric_id, period_start desc;
