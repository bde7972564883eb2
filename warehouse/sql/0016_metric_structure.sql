-- Each metric's declared structure (warehouse/metrics/metric.py): its type and measures in dbt MetricFlow's
-- vocabulary, the value over measure names, whether its cells decompose, and its base SQL template.
create or replace view analytics.metric_definitions as
select metric_id, title, description, unit, numerator, denominator, better, min_group_size, updated_at,
       metric_type, measures, expression, numerator_measure, denominator_measure, decomposes, base_sql_template
from core.metric_definitions;

comment on column analytics.metric_definitions.metric_type is 'How the value follows from the measures, in dbt MetricFlow''s terms: simple (one measure), ratio (scale x numerator measure / denominator measure, plus an offset if any) or derived (an expression over measures).';
comment on column analytics.metric_definitions.measures is 'The aggregations over the metric''s base rows, as a JSON array: name, agg (sum, count, count_distinct, average, median, percentile, min or max), expr (SQL over the base rows), filter (SQL, when only some rows count), description, and additive (whether it adds up over disjoint sets of rows).';
comment on column analytics.metric_definitions.expression is 'The value as an expression over measure names, e.g. 100.0 * net_answers / nullif(answers, 0); a setting appears as its name after a colon.';
comment on column analytics.metric_definitions.numerator_measure is 'Measure shown as the numerator (empty when there is none).';
comment on column analytics.metric_definitions.denominator_measure is 'Measure shown as the denominator (empty when there is none).';
comment on column analytics.metric_definitions.decomposes is 'True when every measure the metric reads adds up, so refreshes keep its cells up to date by adding what changed; false for medians and the staff-group gap, which are recomputed.';
comment on column analytics.metric_definitions.base_sql_template is 'The template of the metric''s base rows (warehouse/metrics/sql/ in the Realise source) and the variables it is rendered with.';
