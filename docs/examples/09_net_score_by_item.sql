-- Which parts of the experience (speed, training, confidence, ...) score worst in each division?
-- For: programme teams, training leads
-- Columns: division, item_code, net_score, answers, respondents
--
-- Net score per question and division over all responses, from the long form of the agree/disagree
-- answers. The division is level 1 of the org hierarchy (path[2]: path starts at the trust); answers shown
-- only for the whole trust are left out.
select coalesce(o.path[2], o.org_unit) as division, i.item_code,
       round(100.0 * (count(*) filter (where i.answer >= 4) - count(*) filter (where i.answer <= 2))
             / count(*), 1) as net_score,
       count(*) as answers, count(distinct i.person_key) as respondents
from analytics.form_response_items i
join analytics.org_units o on o.org_unit = i.org_unit and o.level >= 1
group by 1, 2
having count(distinct i.person_key) >= 5
order by 1, 3, 2;
