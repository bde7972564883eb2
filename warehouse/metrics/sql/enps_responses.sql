{# eNPS: one row per form response answering the 0-10 recommend item; direction +1 for a promoter (9-10),
   -1 for a detractor (0-6), 0 for a passive. #}
select r.week_start, {{ weeks_since_go_live("r.date") }} as weeks_since_go_live,
       r.org_unit, r.staff_group, r.system, r.go_live_wave, r.staff_pseudonym as subject,
       r.source as _src, r.response_id as _rid,
       case when r.recommend >= 9 then 1 when r.recommend <= 6 then -1 else 0 end as direction
from ({{ latest_form_responses() }}) r
left join core.dim_wave w using (go_live_wave)
where r.recommend is not null
