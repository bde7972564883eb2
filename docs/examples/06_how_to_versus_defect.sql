-- How much of the ticket demand is how-to rather than defect?
-- For: service desk managers, training leads
-- Columns: weeks_since_go_live, tickets, how_to_pct, defect_pct, access_pct, other_pct
--
-- Each week's tickets since go-live split by kind of request (the four shares add up to 100). A high
-- how-to share points at training and floor-walking; a high defect share at the supplier and the system's
-- configuration; access at smartcards and accounts. How tickets are classified is in
-- analytics.metric_definitions.
select period_index as weeks_since_go_live,
       max(denominator) filter (where metric_id = 'ticket_share_how_to')::int as tickets,
       round(max(value) filter (where metric_id = 'ticket_share_how_to')::numeric, 1) as how_to_pct,
       round(max(value) filter (where metric_id = 'ticket_share_defect')::numeric, 1) as defect_pct,
       round(max(value) filter (where metric_id = 'ticket_share_access')::numeric, 1) as access_pct,
       round(max(value) filter (where metric_id = 'ticket_share_other')::numeric, 1) as other_pct
from analytics.metric_latest
where grain = 'week_since_go_live' and segment_type = 'trust' and period_index >= 0
  and metric_id in ('ticket_share_how_to', 'ticket_share_defect', 'ticket_share_access', 'ticket_share_other')
group by period_index
order by period_index;
