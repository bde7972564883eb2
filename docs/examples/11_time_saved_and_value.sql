-- How much staff time is the system saving, and what is it worth?
-- For: benefits-realisation managers, finance business partners
-- Columns: week, hours_per_week, fte, gbp_per_week, respondents
--
-- Reported minutes saved per shift scaled to the staff in scope, as hours per week, full-time equivalents
-- and pounds. The assumptions (shift length, shifts per week, FTE hours, hourly cost) are settings under
-- `metrics:` and are written into each metric's description in analytics.metric_definitions.
select h.period_start as week, round(h.value::numeric) as hours_per_week, round(f.value::numeric, 1) as fte,
       round(g.value::numeric) as gbp_per_week, h.n as respondents
from analytics.metric_latest h
join analytics.metric_latest f on f.metric_id = 'time_saved_fte' and f.grain = h.grain and f.period = h.period
     and f.segment_type = h.segment_type and f.segment_value = h.segment_value
join analytics.metric_latest g on g.metric_id = 'time_saved_gbp_per_week' and g.grain = h.grain
     and g.period = h.period and g.segment_type = h.segment_type and g.segment_value = h.segment_value
where h.metric_id = 'time_saved_hours_per_week' and h.grain = 'week' and h.segment_type = 'trust'
  and h.value is not null
order by h.period_start desc
limit 12;
