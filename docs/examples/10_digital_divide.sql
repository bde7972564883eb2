-- Has digital capability improved since go-live, and which staff groups are being left behind?
-- For: training leads, workforce and education teams
-- Columns: staff_group, domain, baseline_mean, follow_up_mean, change, respondents_baseline, respondents_follow_up
--
-- Self-assessed capability (1 to 5) by domain of the national digital capability framework, before
-- (baseline) and after (follow_up) go-live. Groups with fewer than five people in either phase are left
-- out. The metric skills_group_gap tracks the gap between groups over time.
select staff_group, domain,
       round(avg(score) filter (where phase = 'baseline'), 2) as baseline_mean,
       round(avg(score) filter (where phase = 'follow_up'), 2) as follow_up_mean,
       round(avg(score) filter (where phase = 'follow_up') - avg(score) filter (where phase = 'baseline'), 2)
           as change,
       count(distinct person_key) filter (where phase = 'baseline') as respondents_baseline,
       count(distinct person_key) filter (where phase = 'follow_up') as respondents_follow_up
from analytics.skills_assessments
group by staff_group, domain
having count(distinct person_key) filter (where phase = 'baseline') >= 5
   and count(distinct person_key) filter (where phase = 'follow_up') >= 5
order by change, staff_group, domain;
