-- Which data-quality rules fail, and how often, over the last seven days?
-- For: data teams, platform engineers
-- Columns: kind, rule, column_name, batches_checked, batches_failed, records_failed, last_failed_at
--
-- Every Great Expectations rule each batch was checked against, from analytics.validation_expectations;
-- `realise validation report` shows the same as a web page.
select kind, rule, column_name, count(*) as batches_checked, count(*) filter (where not success) as batches_failed,
       sum(unexpected_count) as records_failed, max(validated_at) filter (where not success) as last_failed_at
from analytics.validation_expectations
where validated_at >= now() - interval '7 days'
group by kind, rule_number, rule, column_name
order by batches_failed desc, records_failed desc, kind, rule_number;
