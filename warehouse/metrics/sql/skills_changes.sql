{# Skills change: one row per domain scored in both a follow-up (early-filtered) and the same person's latest
   baseline submitted before it (from any week), in the week of the follow-up; only `domain` when given.
   The pairs: one join on the person (indexed) and DISTINCT ON per follow-up, so each follow-up meets only its
   own person's baselines; ties on the baseline's time are broken by its version and id, so every refresh
   pairs alike. #}
select p.week_start, {{ weeks_since_go_live("p.date") }} as weeks_since_go_live,
       p.org_unit, p.staff_group, p.system, p.go_live_wave, p.pseudonym as subject,
       f.key as domain, (f.value)::int as follow_up_score,
       (p.baseline_scores ->> f.key)::int as baseline_score
from (
    select distinct on (fu.source, fu.source_record_id) fu.*, bl.scores as baseline_scores
    from ({{ latest_skills_assessments("follow_up") }}) fu
    join ({{ latest_skills_assessments("baseline", early=False) }}) bl
      on bl.pseudonym = fu.pseudonym and bl.occurred_at < fu.occurred_at
    order by fu.source, fu.source_record_id, bl.occurred_at desc, bl.record_version desc, bl.source desc,
             bl.source_record_id desc
) p
left join core.dim_wave w using (go_live_wave)
cross join lateral jsonb_each(p.scores) f
where jsonb_typeof(p.baseline_scores -> f.key) = 'number'{% if domain %} and f.key = '{{ domain }}'{% endif %}

