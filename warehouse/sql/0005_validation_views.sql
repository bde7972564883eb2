-- Data-quality results for analysts: one row per Great Expectations validation of a batch and kind, and
-- the same results one row per expectation. Counts and rule texts only: no record content.

create or replace view analytics.validation_results as
select v.id as validation_id, v.validated_at, v.batch_id, b.consumer_group, v.kind, v.suite,
       v.records, v.failed_records, v.records - v.failed_records as passed_records, v.success,
       jsonb_array_length(v.expectations) as expectations_evaluated,
       (select count(*) from jsonb_array_elements(v.expectations) e
        where not (e.value ->> 'success')::boolean)::int as expectations_failed,
       v.expectations
from ops.validation_results v
left join ops.ingest_batches b on b.id = v.batch_id;

create or replace view analytics.validation_expectations as
select v.id as validation_id, v.validated_at, v.batch_id, v.kind, v.suite,
       e.ordinality::int as rule_number,
       e.value ->> 'expectation' as expectation,
       e.value ->> 'column' as column_name,
       e.value ->> 'rule' as rule,
       (e.value ->> 'success')::boolean as success,
       (e.value ->> 'unexpected_count')::int as unexpected_count
from ops.validation_results v
cross join lateral jsonb_array_elements(v.expectations) with ordinality as e(value, ordinality);

comment on view analytics.validation_results is 'Data-quality checks: one row per ingest batch and event kind validated by the kind''s Great Expectations suite, written in the same transaction as the batch.';
comment on column analytics.validation_results.validation_id is 'Validation result identifier.';
comment on column analytics.validation_results.validated_at is 'When the batch was validated and committed.';
comment on column analytics.validation_results.batch_id is 'Ingest batch the records belong to (ops.ingest_batches).';
comment on column analytics.validation_results.consumer_group is 'Kafka consumer group that loaded the batch.';
comment on column analytics.validation_results.kind is 'Event kind: form_response, helpdesk_ticket, training_record or skills_assessment.';
comment on column analytics.validation_results.suite is 'Expectation suite that checked the records, e.g. realise.form_response.';
comment on column analytics.validation_results.records is 'Records of this kind in the batch that reached the quality checks (they had passed decoding and the event contract).';
comment on column analytics.validation_results.failed_records is 'Records that broke at least one expectation and were quarantined (stage quality).';
comment on column analytics.validation_results.passed_records is 'Records that met every expectation: records minus failed_records.';
comment on column analytics.validation_results.success is 'True when every expectation held for every record.';
comment on column analytics.validation_results.expectations_evaluated is 'Expectations in the suite that were evaluated.';
comment on column analytics.validation_results.expectations_failed is 'Expectations that at least one record broke.';
comment on column analytics.validation_results.expectations is 'Per expectation, in suite order: {expectation, column, rule, success, unexpected_count}; analytics.validation_expectations has one row per entry.';

comment on view analytics.validation_expectations is 'Each expectation of each validation: which rule, on which column, held or not, and how many records broke it.';
comment on column analytics.validation_expectations.validation_id is 'Validation result identifier (see analytics.validation_results).';
comment on column analytics.validation_expectations.validated_at is 'When the batch was validated and committed.';
comment on column analytics.validation_expectations.batch_id is 'Ingest batch the records belong to.';
comment on column analytics.validation_expectations.kind is 'Event kind checked.';
comment on column analytics.validation_expectations.suite is 'Expectation suite the rule belongs to.';
comment on column analytics.validation_expectations.rule_number is 'Position of the rule in the suite, from 1.';
comment on column analytics.validation_expectations.expectation is 'Great Expectations expectation type, e.g. expect_column_values_to_be_between.';
comment on column analytics.validation_expectations.column_name is 'Column (or comma-separated columns) the expectation checks.';
comment on column analytics.validation_expectations.rule is 'The rule in words, e.g. recommend is 0 to 10.';
comment on column analytics.validation_expectations.success is 'True when no record broke the rule.';
comment on column analytics.validation_expectations.unexpected_count is 'Records that broke the rule (0 when it held).';

grant select on all tables in schema analytics to realise_analyst;
