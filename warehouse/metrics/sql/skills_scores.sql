{# Skills assessments of `phase` (baseline or follow_up): one row per domain score of each response's latest
   version, in the week submitted. #}
select r.week_start, {{ weeks_since_go_live("r.date") }} as weeks_since_go_live,
       r.org_unit, r.staff_group, r.system, r.go_live_wave, r.pseudonym as subject,
       r.source as _src, r.source_record_id as _rid, s.key as domain, (s.value)::int as score
from ({{ latest_skills_assessments(phase) }}) r
left join core.dim_wave w using (go_live_wave)
cross join lateral jsonb_each(r.scores) s
