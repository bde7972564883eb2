-- How do nurses, doctors and other staff groups rate the system, and how does that compare with KLAS?
-- For: CCIO/CNIO offices, programme teams
-- Columns: staff_group, net_experience_score, respondents, klas_average
--
-- The net experience score (% agree minus % disagree on the agree/disagree items, neutral left out,
-- -100 to +100) over the latest two months of responses, by staff group, beside the published KLAS Arch
-- Collaborative averages where there is one (nurses about 47, physicians about 23). Answers from small groups
-- are shown under the staff group other.
with recent as (
    select * from analytics.form_response_items
    where period_start >= date_trunc('month', (select max(period_start) from analytics.form_response_items))
                          - interval '1 month'
)
select staff_group,
       round(100.0 * (count(*) filter (where answer >= 4) - count(*) filter (where answer <= 2))
             / nullif(count(*), 0), 1) as net_experience_score,
       count(distinct person_key) as respondents,
       case staff_group when 'Nursing and Midwifery' then 47 when 'Medical and Dental' then 23 end as klas_average
from recent
group by staff_group
having count(distinct person_key) >= 5
order by net_experience_score desc;
