{# Net experience score: one row per form response with agree/disagree answers, its answers summed
   (direction: +1 per answer 4-5, -1 per answer 1-2; counted: answers other than 3). #}
select r.week_start, {{ weeks_since_go_live("r.date") }} as weeks_since_go_live,
       r.org_unit, r.staff_group, r.system, r.go_live_wave, r.staff_pseudonym as subject,
       r.source as _src, r.response_id as _rid, a.direction, a.counted
from ({{ latest_form_responses() }}) r
left join core.dim_wave w using (go_live_wave)
cross join lateral (
    select sum(case when (i.value)::int >= 4 then 1 when (i.value)::int <= 2 then -1 else 0 end)
               as direction,
           sum(((i.value)::int <> 3)::int) as counted
    from jsonb_each(r.likert) i
) a
where a.counted is not null  -- a response without agree/disagree answers has no row
