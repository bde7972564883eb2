-- How is ePMA doing compared with the other systems, week by week?
-- For: programme teams, CCIO/CNIO offices
-- Columns: week, system, net_experience_score, respondents, tickets_per_100_staff, how_to_share_pct
--
-- Three measures side by side for the last eight weeks, one row per system and week. Suppressed cells
-- (fewer people than the minimum group size) show as empty.
with weeks as (
    select distinct period_start from analytics.metric_latest
    where grain = 'week' and segment_type = 'system' and period_start is not null
    order by period_start desc limit 8
)
select m.period_start as week, m.segment_value as system,
       round(max(m.value) filter (where m.metric_id = 'net_experience_score')::numeric, 1) as net_experience_score,
       max(m.n) filter (where m.metric_id = 'net_experience_score') as respondents,
       round(max(m.value) filter (where m.metric_id = 'tickets_per_100_staff')::numeric, 1) as tickets_per_100_staff,
       round(max(m.value) filter (where m.metric_id = 'ticket_share_how_to')::numeric, 1) as how_to_share_pct
from analytics.metric_latest m
join weeks using (period_start)
where m.grain = 'week' and m.segment_type = 'system'
  and m.metric_id in ('net_experience_score', 'tickets_per_100_staff', 'ticket_share_how_to')
group by 1, 2
order by 1 desc, 2;
