-- Which staff groups are below the training-readiness target two weeks before their wave?
-- For: training leads
-- Columns: staff_group, coverage_pct, target_gap_points, staff_in_scope
--
-- By week since go-live, each person counts in the week two weeks before their own wave's go-live, so
-- one query covers every wave. The gap is coverage minus the readiness target (metrics.readiness_target_pct,
-- default 90): negative is below target. Suppressed groups are left out.
select cov.segment_value as staff_group, round(cov.value::numeric, 1) as coverage_pct,
       round(gap.value::numeric, 1) as target_gap_points, cov.n as staff_in_scope
from analytics.metric_latest cov
join analytics.metric_latest gap
  on gap.metric_id = 'training_readiness_gap' and gap.grain = cov.grain and gap.period = cov.period
 and gap.segment_type = cov.segment_type and gap.segment_value = cov.segment_value
where cov.metric_id = 'training_coverage' and cov.grain = 'week_since_go_live' and cov.period_index = -2
  and cov.segment_type = 'staff_group' and gap.value < 0
order by gap.value, cov.segment_value;
