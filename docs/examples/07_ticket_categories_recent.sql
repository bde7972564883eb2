-- Which ticket categories drive demand in each directorate over the last four weeks?
-- For: service desk managers
-- Columns: directorate, category, tickets, requesters, still_open, median_hours_to_resolve
--
-- Straight from the tickets (the latest state of each), rolled up from wards to directorates through
-- analytics.org_units. Groups with fewer than five requesters are left out, as the metrics would.
select o.parent as directorate, t.category, count(*) as tickets,
       count(distinct t.requester_pseudonym) as requesters,
       count(*) filter (where t.resolved_at is null) as still_open,
       percentile_cont(0.5) within group (order by t.hours_to_resolve) as median_hours_to_resolve
from analytics.helpdesk_tickets t
join analytics.org_units o using (org_unit)
where t.opened_date >= (select max(opened_date) from analytics.helpdesk_tickets) - 27
group by 1, 2
having count(distinct t.requester_pseudonym) >= 5
order by 1, 3 desc, 2;
