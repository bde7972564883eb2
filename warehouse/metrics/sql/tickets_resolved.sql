{# Resolved help-desk tickets (status resolved or closed with a resolution time, latest state) in the week
   resolved; with `rated`, only those with a satisfaction rating. #}
{% set resolved_day = "(t.resolved_at at time zone 'UTC')::date" %}
select date_trunc('week', {{ resolved_day }})::date as week_start,
       {{ weeks_since_go_live(resolved_day) }} as weeks_since_go_live,
       t.org_unit, t.staff_group, t.system, t.go_live_wave, t.requester_pseudonym as subject,
       t.source as _src, t.ticket_id as _rid,
       t.hours_to_resolve, (t.reopen_count > 0)::int as reopened, t.satisfaction
from ({{ latest_helpdesk_tickets() }}) t
left join core.dim_wave w using (go_live_wave)
where t.resolved_at is not null and t.status in ('resolved', 'closed')
{% if rated | default(false) %}
  and t.satisfaction is not null
{% endif %}
