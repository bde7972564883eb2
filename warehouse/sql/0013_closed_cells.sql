-- Closed cells (every row gone: re-dated, reopened, retracted) stay in history, flagged, and leave the latest
-- view.
-- Metric values as the analyst role reads them: which rule withheld a cell is not said (knowing a cell is
-- hidden only to protect another, so holds at least the minimum, narrows that other cell down), and the
-- fingerprint of a cell's rows stays internal (its row count would give a hidden cell's size).
drop view if exists analytics.metric_latest cascade;
drop view if exists analytics.metric_values cascade;

create view analytics.metric_values as
select v.refresh_id, v.computed_at, v.metric_id, d.title as metric_title, d.unit, v.grain, v.period,
       v.period_start, v.period_index, v.segment_type, v.segment_value,
       v.parent_segment_type, v.parent_segment_value, v.partition,
       case when v.suppressed then null else v.value end as value,
       case when v.suppressed then null else v.numerator end as numerator,
       case when v.suppressed then null else v.denominator end as denominator,
       case when v.suppressed then null else v.n end as n,
       v.suppressed,
       v.closed,
       case when not v.suppressed then null
            when v.suppression_reason = 'revision' then 'revision pending'
            else 'suppressed' end::varchar(32) as suppression_reason
from core.metric_values v
left join core.metric_definitions d using (metric_id);

-- The newest state of every cell. A held revision shows the statistics last shown, which readers have seen.
create view analytics.metric_latest as
select case when held then s.shown_refresh_id else s.refresh_id end as refresh_id,
       case when held then s.shown_computed_at else s.computed_at end as computed_at,
       s.metric_id, d.title as metric_title, d.unit, s.grain, s.period, s.period_start, s.period_index,
       s.segment_type, s.segment_value, s.parent_segment_type, s.parent_segment_value, s.partition,
       case when held then s.shown_value when s.suppressed then null else s.value end as value,
       case when held then s.shown_numerator when s.suppressed then null else s.numerator end as numerator,
       case when held then s.shown_denominator when s.suppressed then null else s.denominator end as denominator,
       case when held then s.shown_n when s.suppressed then null else s.n end as n,
       s.suppressed and not held as suppressed,
       case when held then 'revision pending' when s.suppressed then 'suppressed' end::varchar(32)
           as suppression_reason,
       held as revision_pending
from (select m.*, (m.suppressed and m.suppression_reason = 'revision' and m.shown_n is not null) as held
      from core.metric_disclosure m where not m.closed) s
left join core.metric_definitions d using (metric_id);

comment on view analytics.metric_values is 'Every metric value of every refresh (history). Query as of a past refresh with computed_at <= a time.';
comment on column analytics.metric_values.refresh_id is 'Refresh that computed the value.';
comment on column analytics.metric_values.computed_at is 'When the value was computed.';
comment on column analytics.metric_values.metric_id is 'Metric identifier (see analytics.metric_definitions).';
comment on column analytics.metric_values.metric_title is 'Metric title.';
comment on column analytics.metric_values.unit is 'Unit of the value.';
comment on column analytics.metric_values.grain is 'week (calendar week) or week_since_go_live (weeks since the unit''s go-live).';
comment on column analytics.metric_values.period is 'The period as text: the week''s Monday (ISO date) or the week number since go-live.';
comment on column analytics.metric_values.period_start is 'Monday of the calendar week (grain week).';
comment on column analytics.metric_values.period_index is 'Weeks since go-live, negative before it (grain week_since_go_live).';
comment on column analytics.metric_values.segment_type is 'trust, org_level_1, org_level_2, org_unit, staff_group, system or go_live_wave.';
comment on column analytics.metric_values.segment_value is 'The segment, e.g. an org unit code or a staff group.';
comment on column analytics.metric_values.parent_segment_type is 'Segment type of the cell this one is part of (its parent).';
comment on column analytics.metric_values.parent_segment_value is 'Segment value of the parent cell.';
comment on column analytics.metric_values.value is 'The metric value; empty when suppressed.';
comment on column analytics.metric_values.numerator is 'Numerator; empty when suppressed.';
comment on column analytics.metric_values.denominator is 'Denominator; empty when suppressed.';
comment on column analytics.metric_values.n is 'People behind the value; empty when suppressed.';
comment on column analytics.metric_values.suppressed is 'True when the value is withheld: the group is too small, or showing it would let a small group be worked out from other cells, another grain or an earlier refresh.';
comment on column analytics.metric_values.suppression_reason is 'suppressed (withheld to protect a small group; which rule is not said, since that would narrow it down), or revision pending (the value changed by fewer people than the minimum since it was last shown: shown again once enough have changed).';
comment on column analytics.metric_values.partition is 'Which partition of the parent the cell belongs to: org (levels and units), staff_group, system or go_live_wave. The cells of one partition add up to their parent; (none) holds the people with no value.';

comment on column analytics.metric_values.closed is 'True when every record behind the cell has gone (re-dated to another period, reopened, retracted): the cell has no value from this refresh on and leaves analytics.metric_latest.';

comment on view analytics.metric_latest is 'The most recent value of every metric, grain, period and segment. A cell whose newest value is held back as a pending revision shows the value last shown, flagged revision_pending; a cell whose records have all gone is left out.';
comment on column analytics.metric_latest.revision_pending is 'True when a newer value is held back until at least the minimum group size of people have changed; the value shown is the one last shown (see computed_at).';

-- metric_latest has the columns of metric_values (but `closed`): copy their documentation.
do $$
declare col record;
begin
    for col in
        select a.attname, col_description('analytics.metric_values'::regclass, a.attnum) as doc
        from pg_attribute a
        where a.attrelid = 'analytics.metric_values'::regclass and a.attnum > 0 and not a.attisdropped
          and exists (select 1 from pg_attribute l where l.attrelid = 'analytics.metric_latest'::regclass
                      and l.attname = a.attname and not l.attisdropped)
    loop
        execute format('comment on column analytics.metric_latest.%I is %L', col.attname, col.doc);
    end loop;
end
$$;

grant select on all tables in schema analytics to realise_analyst;
