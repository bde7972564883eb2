-- What are staff writing about in their comments?
-- For: programme teams, CCIO/CNIO offices
-- Columns: theme, share_of_comments_pct, comments, previous_weeks_pct
--
-- The share of comments mentioning each theme in the latest week, beside the mean of the four weeks
-- before it. Themes use a higher minimum group size (metrics.comment_min_group_size), because free text
-- can identify its author.
with weeks as (
    select max(period_start) as latest from analytics.metric_latest
    where grain = 'week' and metric_id like 'comment_theme_%' and segment_type = 'trust' and value is not null
)
select d.title as theme, round(l.value::numeric, 1) as share_of_comments_pct, l.denominator::int as comments,
       round((select avg(p.value) from analytics.metric_latest p
              where p.metric_id = l.metric_id and p.grain = 'week' and p.segment_type = 'trust'
                and p.period_start between w.latest - 28 and w.latest - 7)::numeric, 1) as previous_weeks_pct
from analytics.metric_latest l
join weeks w on l.period_start = w.latest
join analytics.metric_definitions d using (metric_id)
where l.metric_id like 'comment_theme_%' and l.grain = 'week' and l.segment_type = 'trust'
order by l.value desc nulls last;
