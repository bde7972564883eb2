-- How many learners in the wave going live next have completed each course?
-- For: training leads
-- Columns: go_live_wave, course_id, learners_completed, first_period_start, last_period_start
--
-- Learners who completed or passed each course, for the wave that has not gone live yet (its weeks since
-- go-live are all negative). Coverage against the staff in scope is the metric training_coverage (example
-- 4); this counts learners, so courses with fewer than five are left out. Completions are dated by the week or
-- month shown (period_start).
with next_wave as (
    select segment_value as go_live_wave from analytics.metric_latest
    where metric_id = 'training_coverage' and grain = 'week_since_go_live' and segment_type = 'go_live_wave'
    group by segment_value
    having max(period_index) < 0
)
select r.go_live_wave, r.course_id, count(distinct r.person_key) as learners_completed,
       min(r.period_start) as first_period_start, max(r.period_start) as last_period_start
from analytics.training_records r
join next_wave using (go_live_wave)
where r.verb in ('completed', 'passed')
group by 1, 2
having count(distinct r.person_key) >= 5
order by 1, 3 desc, 2;
