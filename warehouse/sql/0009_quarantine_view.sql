-- What analysts may see of a quarantined record: raw bytes never; a claimed source or event id only in the
-- shape the contract allows (a source code, a UUID), otherwise a digest operators can match to the raw bytes.
create or replace view analytics.quarantine as
select id, topic, partition, "offset", kind,
       case when source ~ '^[a-z0-9][a-z0-9_.-]{0,63}$' and source !~ '\d{6}' then source
            when source is null or source ~ '^sha256:[0-9a-f]{16}$' then source
            else 'sha256:' || left(encode(sha256(convert_to(source, 'UTF8')), 'hex'), 16) end::varchar(64) as source,
       case when event_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then lower(event_id)
            when event_id is null then null
            when event_id ~ '^sha256:[0-9a-f]{16}$' then event_id
            else 'sha256:' || left(encode(sha256(convert_to(event_id, 'UTF8')), 'hex'), 16) end::varchar(64) as event_id,
       stage, reasons, array_length(reasons, 1) as reason_count, raw_size, quarantined_at
from ops.quarantine;

comment on column analytics.quarantine.source is 'Source named by the record, if it could be read and has the shape of a source code; otherwise a digest (sha256:...).';
comment on column analytics.quarantine.event_id is 'Event id named by the record, if it is a UUID; otherwise a digest (sha256:...).';
comment on column analytics.quarantine.reasons is 'Every reason the record was rejected, readable: field names from the contract, quoted values scrubbed, at most 20 reasons.';
comment on column analytics.quarantine.stage is 'Check that rejected it: decode (bytes/JSON), contract (schema), flatten or load (a value the warehouse cannot hold), quality (expectations), skipped (an operator''s --skip), connector.';
