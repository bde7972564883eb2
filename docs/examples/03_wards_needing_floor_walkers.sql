-- Which wards need floor-walkers next week?
-- For: programme teams, matrons, go-live command centres
-- Columns: org_unit, directorate, net_experience_score, respondents, tickets_per_100_staff, how_to_share_pct, open_alerts
--
-- Units in the latest week with a negative net experience score, more than ten tickets per 100 staff, or
-- an open alert on the unit or its directorate, worst score first. How-to tickets are the ones
-- floor-walkers and quick-reference guides prevent.
with latest as (
    select max(period_start) as week from analytics.metric_latest
    where grain = 'week' and metric_id = 'tickets_per_100_staff'
),
unit as (
    select m.segment_value as org_unit,
           max(m.value) filter (where m.metric_id = 'net_experience_score') as net_score,
           max(m.n) filter (where m.metric_id = 'net_experience_score') as respondents,
           max(m.value) filter (where m.metric_id = 'tickets_per_100_staff') as tickets,
           max(m.value) filter (where m.metric_id = 'ticket_share_how_to') as how_to
    from analytics.metric_latest m join latest on m.period_start = latest.week
    where m.grain = 'week' and m.segment_type = 'org_unit'
      and m.metric_id in ('net_experience_score', 'tickets_per_100_staff', 'ticket_share_how_to')
    group by 1
),
alerts as (
    select segment_value, count(*) as open_alerts from analytics.alerts
    where status = 'open' and segment_type in ('org_unit', 'org_level_2')
    group by 1
)
select u.org_unit, o.parent as directorate, round(u.net_score::numeric, 1) as net_experience_score,
       u.respondents, round(u.tickets::numeric, 1) as tickets_per_100_staff,
       round(u.how_to::numeric, 1) as how_to_share_pct,
       coalesce(a.open_alerts, 0) + coalesce(d.open_alerts, 0) as open_alerts
from unit u
join analytics.org_units o using (org_unit)
left join alerts a on a.segment_value = u.org_unit
left join alerts d on d.segment_value = o.parent
where u.net_score < 0 or u.tickets > 10 or a.open_alerts > 0 or d.open_alerts > 0
order by u.net_score nulls last, u.tickets desc nulls last, u.org_unit;
