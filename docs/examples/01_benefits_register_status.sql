-- Is the go-live on track against the benefits register?
-- For: programme teams, CCIO/CNIO offices, benefits-realisation managers
-- Columns: benefit_id, title, measured_on, baseline_value, target_value, target_date, current_value, current_period, projected_value, status, status_reason, owner
--
-- Each benefit in benefits.yaml with its latest status: on track, at risk or off track from a trend line
-- through the last six weekly values of its measure, projected to the target date. Worst first. To see
-- one system's benefits (e.g. ePMA), add `where segment_type = 'system' and segment_value = 'ePMA'`.
select benefit_id, title,
       metric_title || case when segment_type = 'trust' then '' else ', ' || segment_type || ' ' || segment_value end
           as measured_on,
       round(baseline_value::numeric, 1) as baseline_value, round(target_value::numeric, 1) as target_value,
       target_date, round(current_value::numeric, 1) as current_value, current_period,
       round(projected_value::numeric, 1) as projected_value, status, status_reason, owner
from analytics.benefits
order by case status when 'off track' then 0 when 'at risk' then 1 when 'no data' then 2 when 'on track' then 3
         else 4 end, target_date, benefit_id;
