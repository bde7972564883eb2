{# Tickets per staff in scope: one row per ticket in the week opened (tickets = 1), and one row per person in
   scope and week the ticket data spans (staff = 1), on each grain separately: calendar weeks, and weeks
   since their wave's go-live. #}
with staff as ({{ STAFF_IN_SCOPE }}),
span as (
    select first_day, last_day, date_trunc('week', first_day)::date as first_week,
           date_trunc('week', last_day)::date as last_week
    from (select {{ FIRST_TICKET_DAY }} as first_day, {{ LAST_TICKET_DAY }} as last_day) d
)
-- one row per ticket, in the week opened
select t.opened_week_start as week_start, {{ weeks_since_go_live("t.opened_date") }} as weeks_since_go_live,
       t.org_unit, t.staff_group, t.system, t.go_live_wave, t.requester_pseudonym as subject, 1 as tickets, 0 as staff,
       t.source as _src, t.ticket_id as _rid
from ({{ latest_helpdesk_tickets() }}) t
left join core.dim_wave w using (go_live_wave)
union all
-- grain week: each person in scope once per calendar week the ticket data spans
select wk::date, null::int, s.org_unit, s.staff_group, s.system, s.go_live_wave, s.pseudonym, 0, 1,
       null::text, null::text
from staff s cross join span
cross join generate_series(greatest(span.first_week, cast(:_since as date))::timestamp,
                           span.last_week::timestamp, interval '7 days') wk
union all
-- grain week_since_go_live: each person in scope once per week since their wave's go-live it spans
select null::date, k, s.org_unit, s.staff_group, s.system, s.go_live_wave, s.pseudonym, 0, 1,
       null::text, null::text
from staff s join core.dim_wave w using (go_live_wave) cross join span
cross join generate_series(greatest({{ weeks_since_go_live("span.first_day") }},
                                    {{ weeks_since_go_live("cast(:_since as date)") }}),
                           {{ weeks_since_go_live("span.last_day") }}) k
where w.go_live_date is not null
