-- What did a metric show at an earlier moment, for example when the programme board last met?
-- For: data teams, benefits-realisation managers
-- Columns: week, value_then, computed_then, value_now, computed_now
--
-- Every refresh keeps its values, so the figures a report showed can be reproduced. Replace the `as_of`
-- subquery with the moment you need, e.g. `select timestamptz '2026-11-02 09:00 Europe/London' as t`; as
-- written it takes the moment of the refresh before the latest.
with as_of as (
    select max(computed_at) as t from analytics.metric_values
    where refresh_id < (select max(refresh_id) from analytics.metric_values)
),
then_ as (
    select distinct on (period) period, value, computed_at
    from analytics.metric_values, as_of
    where metric_id = 'net_experience_score' and grain = 'week' and segment_type = 'trust'
      and computed_at <= as_of.t
    order by period, computed_at desc
)
select l.period_start as week, round(t.value::numeric, 1) as value_then, t.computed_at as computed_then,
       round(l.value::numeric, 1) as value_now, l.computed_at as computed_now
from analytics.metric_latest l
join then_ t using (period)
where l.metric_id = 'net_experience_score' and l.grain = 'week' and l.segment_type = 'trust'
order by l.period_start;
