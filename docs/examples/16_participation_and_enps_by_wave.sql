-- Are staff in each go-live wave responding, and would they recommend the system?
-- For: programme teams, communications leads
-- Columns: go_live_wave, week, participation_pct, enps, respondents
--
-- Survey participation (distinct respondents over staff in scope) and the employee net promoter score
-- (% scoring 9-10 minus % scoring 0-6 on the recommend item) for each wave over its last six weeks.
with recent as (
    select distinct period_start from analytics.metric_latest
    where grain = 'week' and metric_id = 'enps' and period_start is not null
    order by period_start desc limit 6
)
select p.segment_value as go_live_wave, p.period_start as week, round(p.value::numeric, 1) as participation_pct,
       round(e.value::numeric, 1) as enps, e.n as respondents
from analytics.metric_latest p
join recent using (period_start)
left join analytics.metric_latest e on e.metric_id = 'enps' and e.grain = p.grain and e.period = p.period
     and e.segment_type = p.segment_type and e.segment_value = p.segment_value
where p.metric_id = 'participation' and p.grain = 'week' and p.segment_type = 'go_live_wave'
order by 1, 2;
