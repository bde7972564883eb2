{# The staff-group gap: per period and grain, the highest minus the lowest staff group's mean follow-up score
   among groups with at least `min_group` people assessed, and the smallest such group; at least two groups. #}
with scores as (
    select r.week_start, {{ weeks_since_go_live("r.date") }} as weeks_since_go_live, r.staff_group,
           r.pseudonym, (s.value)::int as score
    from ({{ latest_skills_assessments("follow_up") }}) r
    left join core.dim_wave w using (go_live_wave)
    cross join lateral jsonb_each(r.scores) s
),
by_week as (
    select week_start, staff_group, avg(score) as mean, count(distinct pseudonym) as people
    from scores group by week_start, staff_group
    having count(distinct pseudonym) >= {{ min_group }}
),
by_since as (
    select weeks_since_go_live, staff_group, avg(score) as mean, count(distinct pseudonym) as people
    from scores where weeks_since_go_live is not null group by weeks_since_go_live, staff_group
    having count(distinct pseudonym) >= {{ min_group }}
)
-- one row per period and grain (the other grain's column is null, so each grain reads its own rows);
-- no org unit, staff group, system or wave: only trust cells come out
select week_start, null::int as weeks_since_go_live, null::text as org_unit, null::text as staff_group,
       null::text as system, null::text as go_live_wave, null::text as subject,
       max(mean) - min(mean) as gap, min(people) as smallest_group
from by_week group by week_start having count(*) >= 2
union all
select null::date, weeks_since_go_live, null, null, null, null, null,
       max(mean) - min(mean), min(people)
from by_since group by weeks_since_go_live having count(*) >= 2
