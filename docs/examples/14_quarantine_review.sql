-- What did ingest refuse, and why?
-- For: data teams, platform engineers
-- Columns: stage, kind, source, reason, records, first_seen, last_seen
--
-- Quarantined records grouped by the check that rejected them (decode, contract, quality, routing) and
-- each reason. Operators find the raw bytes in ops.quarantine by topic, partition and offset; analysts see
-- reasons and sizes only, because a malformed record may hold an identifier.
select stage, coalesce(kind, '(unknown)') as kind, coalesce(source, '(unknown)') as source, reason,
       count(*) as records, min(quarantined_at) as first_seen, max(quarantined_at) as last_seen
from analytics.quarantine, unnest(reasons) as reason
group by 1, 2, 3, 4
order by records desc, stage, kind, reason;
