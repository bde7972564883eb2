-- Is post-go-live ticket demand falling?
-- For: service desk managers
-- Columns: weeks_since_go_live, tickets_per_100_staff, change_from_previous_week, backlog_growth, median_hours_to_resolve, reopen_rate_pct
--
-- Tickets per 100 staff in each week since the requester's go-live (week 0 is go-live week), with the
-- week-on-week change, backlog growth (new minus closed), median time to resolve and reopen rate.
select t.period_index as weeks_since_go_live, round(t.value::numeric, 1) as tickets_per_100_staff,
       round((t.value - lag(t.value) over (order by t.period_index))::numeric, 1) as change_from_previous_week,
       round(b.value::numeric) as backlog_growth, round(h.value::numeric, 1) as median_hours_to_resolve,
       round(r.value::numeric, 1) as reopen_rate_pct
from analytics.metric_latest t
left join analytics.metric_latest b on b.metric_id = 'backlog_growth' and b.grain = t.grain
     and b.period = t.period and b.segment_type = 'trust'
left join analytics.metric_latest h on h.metric_id = 'median_hours_to_resolve' and h.grain = t.grain
     and h.period = t.period and h.segment_type = 'trust'
left join analytics.metric_latest r on r.metric_id = 'reopen_rate' and r.grain = t.grain
     and r.period = t.period and r.segment_type = 'trust'
where t.metric_id = 'tickets_per_100_staff' and t.grain = 'week_since_go_live' and t.segment_type = 'trust'
  and t.period_index >= 0
order by t.period_index;
