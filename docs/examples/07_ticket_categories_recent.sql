-- Which ticket categories drive demand in each directorate over the last two months?
-- For: service desk managers
-- Columns: directorate, category, tickets, requesters, still_open, median_hours_to_resolve
--
-- Straight from the tickets (the latest state of each), rolled up from wards to directorates through
-- analytics.org_units; tickets shown only for a division or the whole trust are left out. A category is empty
-- where too few people share the ticket's combination to show it. Groups with fewer than five requesters are
-- left out, as the metrics would (`person_key` counts a person once per combination, so
-- someone with tickets in two months counts twice).
select coalesce(o.path[3], o.org_unit) as directorate, t.category, count(*) as tickets,
       count(distinct t.person_key) as requesters,
       count(*) filter (where t.hours_to_resolve is null) as still_open,
       percentile_cont(0.5) within group (order by t.hours_to_resolve) as median_hours_to_resolve
from analytics.helpdesk_tickets t
join analytics.org_units o on o.org_unit = t.org_unit and o.level >= 2
where t.period_start >= date_trunc('month', (select max(period_start) from analytics.helpdesk_tickets)) - interval '1 month'
group by 1, 2
having count(distinct t.person_key) >= 5
order by 1, 3 desc, 2;
