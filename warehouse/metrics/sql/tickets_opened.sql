{# Help-desk tickets (latest state) in the week opened, with their request type (request_type_sql in
   definitions/helpdesk_skills.py). #}
select t.opened_week_start as week_start, {{ weeks_since_go_live("t.opened_date") }} as weeks_since_go_live,
       t.org_unit, t.staff_group, t.system, t.go_live_wave, t.requester_pseudonym as subject,
       t.source as _src, t.ticket_id as _rid,
       {{ request_type() }} as request_type
from ({{ latest_helpdesk_tickets() }}) t
left join core.dim_wave w using (go_live_wave)
