{# Backlog: +1 row per ticket in the week opened (opened = 1), +1 in the week closed (closed = 1): resolved,
   closed or cancelled, at its resolution time, else its last update. #}
{% set closed_day = "(coalesce(t.resolved_at, t.updated_at) at time zone 'UTC')::date" %}
select t.opened_week_start as week_start, {{ weeks_since_go_live("t.opened_date") }} as weeks_since_go_live,
       t.org_unit, t.staff_group, t.system, t.go_live_wave, t.requester_pseudonym as subject,
       t.source as _src, t.ticket_id as _rid,
       1 as opened, 0 as closed
from ({{ latest_helpdesk_tickets() }}) t
left join core.dim_wave w using (go_live_wave)
union all
select date_trunc('week', {{ closed_day }})::date, {{ weeks_since_go_live(closed_day) }},
       t.org_unit, t.staff_group, t.system, t.go_live_wave, t.requester_pseudonym, t.source, t.ticket_id, 0, 1
from ({{ latest_helpdesk_tickets() }}) t
left join core.dim_wave w using (go_live_wave)
where t.status in ('resolved', 'closed', 'cancelled')
