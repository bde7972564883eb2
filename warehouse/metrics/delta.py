"""Cells kept up to date from what changed: each decomposable metric's base rows and cell components are
stored, so an incremental refresh works on the changed rows rather than regrouping whole weeks. Regrouped
metrics whose rows each come from one record store their base rows too, and regroup the periods whose rows
changed from them.

Stored per metric
    `metric_base.<metric id>`: the metric's base rows as grouping.base_rows_sql gives them (its `base_sql`,
    with each org unit's level-1 and level-2 ancestors, `_h` (the row's hash, for fingerprints) and `_day`, the
    first day a row can be dated in: its week, or for a row on the week-since-go-live grain only, the last day
    of that week).
    The tables are unlogged: derived data, written without WAL (has_state sees one a crash emptied).
    `core.metric_cell_state`: per cell, the additive components of its value (see components.py), grouped
    as every cell is (grouping.grouping_sets_sql), unsuppressed; internal, not in `analytics`.
    A full recompute works out the rows of one base SQL once (metrics of the same base SQL copy them, and
    metrics whose rows are another query's rows renamed or filtered, `Metric.rows_of`, draw them from that
    query, worked out once) and groups the metrics that share rows and cells in one query, so the components
    they have in common (the rows, the people, the fingerprint's sums: the costly ones) are grouped once.

Which rows change
    `rows_per = "record"`: a row derives from one source record (`_src`, `_rid`), so the rows of the
    records with new events are replaced by their rows now. `rows_per = "subject"`: a row derives from its
    person's records (a person-week, a follow-up paired with the person's baseline), so the rows of the
    people with new events are replaced from the first week the new events can change (the engine's early
    filter, `_since`) on. A row replaced by an identical row changes nothing and is left out of what follows.

How a cell changes
    A cell's components are additive over disjoint sets of rows (a count of distinct people over disjoint
    sets of people). So a sum or count changes by the signed sum of the changed rows, -1 for a row replaced
    and gone, +1 for a new one, grouped straight into cells; a count of distinct people by +1 for a person
    who had no row in the cell and has one now, -1 the other way round, else 0, worked out per cell and
    changed person from their rows there, the changed ones and those kept (0) (components.signed). Those
    changes are added to the stored components; a cell left with no rows is removed. Every cell of a
    touched period is then re-read from the state, so secondary suppression sees complete sibling groups,
    as in a full refresh.

All of it runs in the refresh's transaction: a crash leaves base rows, state and values as they were.
"""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warehouse.metrics.cells import Levels, cells_of
from warehouse.metrics.components import Component, Decomposed, signed
from warehouse.metrics.definitions.common import changed_records, in_records
from warehouse.metrics.grouping import base_rows_sql, grouping_sets_sql, rows_sql
from warehouse.metrics.intervals import INTERVAL_COLUMNS
from warehouse.metrics.metric import substitute
from warehouse.metrics.registry import GRAINS, SEGMENTS, Metric, all_metrics

# Bind parameters every base SQL takes (see definitions/common.py): none restrict anything in a full refresh.
UNRESTRICTED = {"_since": None, "_subjects": None, "_rec_src": None, "_rec_id": None}
_NEW = "pg_temp.realise_delta_new"  # the changed records' or people's rows now
_OLD = "pg_temp.realise_delta_old"  # the rows they replace
_PLUS = "pg_temp.realise_delta_plus"  # rows of _NEW not among _OLD
_MINUS = "pg_temp.realise_delta_minus"  # rows of _OLD not among _NEW
_SAME = "pg_temp.realise_delta_same"  # rows in both: replaced by themselves
_TEMPS = ", ".join((_NEW, _OLD, _PLUS, _MINUS, _SAME))
_GROUPED = "realise_grouped_components"  # a full recompute's components per cell, before they are stored
_SHARED_ROWS = "realise shared rows "  # + a number: rows several metrics draw on, for one full refresh (store)


def array_literal(values: list[str]) -> str:
    """A text[] literal, for a bind parameter cast to text[]: thousands of record ids or people go to the
    server as one string, encoded once per refresh rather than as a list for every statement that reads it."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' if v is not None else "NULL" for v in values)
    return "{" + ",".join(quoted) + "}"


@functools.cache
def _shared_bases() -> frozenset[str]:
    """Base SQL whose rows more than one registered metric draws on (as its own base SQL or as `rows_of`)."""
    counts = Counter(_rows(m)[0] for m in all_metrics().values())
    return frozenset(sql for sql, n in counts.items() if n > 1)


@contextlib.contextmanager
def _setting(conn: Connection, name: str, value: str) -> Iterator[None]:
    """A server setting for the statements inside, in the refresh's transaction; the session's own after."""
    conn.execute(sa.text(f"set local {name} = {value}"))
    yield
    conn.execute(sa.text(f"reset {name}"))


def base_table(metric: Metric) -> str:
    return f'metric_base."{metric.id}"'


def _components_sql(metric: Metric, components: Sequence[Component], grain: str, source: str) -> str:
    """Components per cell of one grain, from the rows of `source`: one row per cell, c0/k0 its rows and
    c1.. the `components` in order."""
    aggregates = ["count(*)::numeric as c0, count(*) as k0"] + [
        f"coalesce({c.sql}, 0)::numeric as c{i}, {c.count_sql} as k{i}" for i, c in enumerate(components, start=1)]
    return grouping_sets_sql(metric, grain, source, aggregates)


def _changes_sql(metric: Metric, parts: Decomposed, grain: str) -> str:
    """What the replaced rows change per cell of one grain, as rows of a components query (see the module
    docstring): their sums per cell are the changes.

    The changed rows, those replaced and gone (`_sign` -1, _MINUS) and those new (+1, _PLUS), grouped
    straight into cells, give every sum's and count's change. A distinct count's change needs the rows of
    the same people in the same periods that stay as well (0: in the base table once the replaced rows are
    out of it, looked up by person and period, or replaced by an identical row, _SAME): those are folded
    per person and segment values, grouped per cell and person, then per cell, with only the few columns
    membership needs (components.signed)."""
    column = GRAINS[grain]
    table = base_table(metric)
    changes = [signed(c, f"s{i}") for i, c in enumerate(parts.components, start=1)]
    direct = ["sum(_sign)::numeric as c0, sum(_sign)::bigint as k0"] + [
        f"({ch.value or '0'})::numeric as c{i}, ({ch.rows})::bigint as k{i}" for i, ch in enumerate(changes, start=1)]
    rows = f"""
        r as (
            select n.*, 1 as _sign from {_PLUS} n where n.{column} is not null
            union all
            select o.*, -1 as _sign from {_MINUS} o where o.{column} is not null
        )"""
    changed = grouping_sets_sql(metric, grain, "r", direct)
    distinct = {i: ch for i, ch in enumerate(changes, start=1) if ch.flags}
    if not distinct:
        return f"with {rows} {changed}"
    keys = ", ".join([column, "subject"] + [SEGMENTS[s] for s in metric.segments if SEGMENTS[s]])
    # A row's _day is its week_start whenever it has one, so on the week grain the index finds it exactly.
    same_period = (f"t._day = k.{column} and t.{column} = k.{column}" if grain == "week"
                   else f"t.{column} = k.{column}")
    flags = ", ".join(f for ch in distinct.values() for f in ch.flags)
    members = grouping_sets_sql(metric, grain, "folded", [f"{ch.member} as m{i}" for i, ch in distinct.items()],
                                per=("subject",))
    per_cell = ", ".join(
        (f"sum(x.m{i})::numeric" if i in distinct else "0::numeric") + f" as c{i}, 0::bigint as k{i}"
        for i in range(len(changes) + 1))
    return f"""
        with {rows},
        k as (select distinct subject, {column} from r where subject is not null),
        signed_rows as (
            select * from r where subject is not null
            union all
            select t.*, 0 as _sign from k join {table} t on t.subject = k.subject and {same_period}
            union all
            select t.*, 0 as _sign from k join {_SAME} t on t.subject = k.subject and t.{column} = k.{column}
        ),
        folded as (select {keys}, {flags} from signed_rows group by {keys})
        {changed}
        union all
        select x.grain, x.period, x.segment_type, x.segment_value, {per_cell}
        from ({members}) x
        group by x.grain, x.period, x.segment_type, x.segment_value
    """


def _unpivoted(parts: Decomposed, rows_sql: str, sign: str) -> str:
    """(grain, period, segment, component, value, counted) rows of a components query, times `sign`."""
    values = ", ".join(f"({i}, x.c{i}, x.k{i})" for i in range(len(parts.components) + 1))
    return f"""
        select x.grain, x.period, x.segment_type, x.segment_value, v.component,
               {sign} * v.value as value, {sign} * v.counted as counted
        from ({rows_sql}) x cross join lateral (values {values}) v(component, value, counted)
    """


def _merge(conn: Connection, metric: Metric, parts: Decomposed, rows_sql: str, bind: dict[str, Any]) -> None:
    """Add signed component rows (`rows_sql`: grain, period, segment, component, value, counted) to the state;
    cells left with no rows are removed."""
    conn.execute(sa.text(f"""
        insert into core.metric_cell_state as s (metric_id, grain, period, segment_type, segment_value,
                                                 component, value, counted)
        select cast(:_metric as text), grain, period, segment_type, segment_value, component,
               sum(value), sum(counted)
        from ({rows_sql}) d
        group by grain, period, segment_type, segment_value, component
        on conflict (metric_id, grain, period, segment_type, segment_value, component) do update
        set value = s.value + excluded.value, counted = s.counted + excluded.counted
    """), {**bind, "_metric": metric.id})
    conn.execute(sa.text("""
        delete from core.metric_cell_state s using core.metric_cell_state e
        where e.metric_id = :_metric and e.component = 0 and e.value = 0
          and s.metric_id = e.metric_id and s.grain = e.grain and s.period = e.period
          and s.segment_type = e.segment_type and s.segment_value = e.segment_value
    """), {"_metric": metric.id})


def evaluate(conn: Connection, metric: Metric, parts: Decomposed, params: dict[str, Any],
             levels: Levels, cells: list[str] | None = None) -> pd.DataFrame:
    """Cells (unsuppressed) from the state: every cell, or those of the `grain|period` keys in `cells`."""
    pivot = ", ".join(f"max(value) filter (where component = {i}) as c{i}, "
                      f"max(counted) filter (where component = {i}) as k{i}"
                      for i in range(len(parts.components) + 1))
    only = "and grain || '|' || period = any(cast(:_cells as text[]))" if cells is not None else ""
    interval = ", ".join(f"{sql} as {c}" for sql, c in zip(
        parts.interval_sql or ("null",) * len(INTERVAL_COLUMNS), INTERVAL_COLUMNS, strict=True))
    rows = conn.execute(sa.text(f"""
        select grain, period, segment_type, segment_value, {parts.value_sql} as value,
               {parts.numerator_sql} as numerator, {parts.denominator_sql} as denominator, {parts.n_sql} as n,
               {parts.fingerprint_sql} as fingerprint, {interval}
        from (select grain, period, segment_type, segment_value, {pivot}
              from core.metric_cell_state where metric_id = :_metric {only}
              group by grain, period, segment_type, segment_value) s
    """), {**params, "_metric": metric.id, "_cells": cells}).mappings().all()
    return cells_of(metric, rows, levels)


def has_state(conn: Connection, metric: Metric) -> bool:
    """Whether the metric's base rows are stored (a full refresh with this engine has run for it) and still
    there. Base tables are unlogged (derived data, written without WAL): a crash restart empties them. The
    cell states and published cells are logged and committed with them, so an empty table beside a cell
    state or an open published cell is one a crash emptied; the metric is then recomputed."""
    table = base_table(metric)
    if not conn.execute(sa.text("select to_regclass(:t) is not null"), {"t": table}).scalar_one():
        return False
    return conn.execute(sa.text(f"""
        select exists (select from {table})
            or not (exists (select from core.metric_cell_state where metric_id = :m)
                    or exists (select from core.metric_disclosure where metric_id = :m and not closed))
    """), {"m": metric.id}).scalar_one()


def _drawn(conn: Connection, metric: Metric, source: str, params: dict[str, Any]) -> str:
    """The metric's rows from `source`, a table of the rows `_rows` names for it: all of them for a metric of
    that base SQL; for one drawing on them (`rows_of`), its own columns in its own order (base tables take
    rows by position), each from the source's column of that name or the one `columns` renames, and only the
    rows `where` holds for."""
    if metric.rows_of is None:
        return f"select * from {source}"
    renamed = dict(metric.rows_of.columns)
    mine = conn.execute(sa.text(f"select * from ({base_rows_sql(metric)}) b limit 0"),
                        {**params, **UNRESTRICTED}).keys()
    select = ", ".join(f'r."{renamed[c]}" as "{c}"' if c in renamed else f'r."{c}"' for c in mine)
    where = f" where {metric.rows_of.where}" if metric.rows_of.where else ""
    return f"select {select} from {source} r{where}"


def store(conn: Connection, metric: Metric, params: dict[str, Any], regrouped: bool = False,
          stored: dict[str, str] | None = None) -> None:
    """Every base row of the metric stored again (in a full refresh), with the indexes `update` looks by.

    `stored` (one per refresh) maps base SQL to a table holding its rows, as base_rows_sql gives them: the
    rows of a metric of the same base SQL stored earlier in this refresh are copied rather than worked out
    again, and a metric drawing on shared rows (`rows_of`) takes them from there (worked out on first use;
    `release` drops them). Without `stored`, shared rows last for this call only."""
    alone = stored is None
    stored = {} if stored is None else stored
    table = base_table(metric)
    bind = {**params, **UNRESTRICTED}
    conn.execute(sa.text(f"drop table if exists {table}"))
    source, _, _ = _rows(metric)
    if source not in stored and metric.rows_of is not None:
        # An unlogged table rather than a temporary one, so the queries that draw on it may run in parallel
        # (parallel workers cannot read a session's temporary tables); `release` drops it before the
        # refresh commits, and a refresh that fails takes it with its rollback.
        shared = f'metric_base."{_SHARED_ROWS}{len(stored)}"'
        # Shared rows carry every member's columns (all the comment themes' patterns and the sentiment
        # lexicon): a costly projection. Over a parallel hash anti join (the latest versions) PostgreSQL
        # returns every row from one worker, so the projection would run in one process; without parallel
        # hash each worker projects its share of the rows.
        conn.execute(sa.text(f"drop table if exists {shared}"))
        with _setting(conn, "enable_parallel_hash", "off"):
            conn.execute(sa.text(f"create unlogged table {shared} as {rows_sql(source)}"), bind)
        stored[source] = shared
    if source in stored:
        conn.execute(sa.text(f"create unlogged table {table} as {_drawn(conn, metric, stored[source], params)}"))
    else:
        conn.execute(sa.text(f"create unlogged table {table} as {base_rows_sql(metric)}"), bind)
    stored.setdefault(metric.base_sql, table)
    columns = {r[0] for r in conn.execute(sa.text(
        "select attname from pg_attribute where attrelid = to_regclass(:t) and attnum > 0"), {"t": table})}
    if metric.rows_per == "record" and not {"_src", "_rid"} <= columns:
        raise ValueError(f"metric {metric.id}: its base SQL must return _src and _rid (the source and source "
                         "record id of each row), or the metric must say rows_per='subject'")
    # A person's rows from a day on (replace), and in a period (see _changes_sql): in a week by `_day`; in a
    # week since go-live by the last column, read from the index itself, a person having few days.
    since_go_live = ", weeks_since_go_live" if "week_since_go_live" in metric.grains else ""
    conn.execute(sa.text(f"create index on {table} (subject, _day{since_go_live})"))
    if metric.rows_per == "record":
        conn.execute(sa.text(f"create index on {table} (_src, _rid)"))
    for grain in metric.grains if regrouped else ():  # the periods a regrouped metric reads again
        conn.execute(sa.text(f"create index on {table} ({GRAINS[grain]})"))
    # Statistics from a small sample: the refresh's lookups by person, day and record are index scans
    # whatever the figures, and grouping needs only rough counts of segment values. A tenth of the default
    # sample takes a tenth of the time.
    with _setting(conn, "default_statistics_target", "10"):
        conn.execute(sa.text(f"analyze {table}"))
    if alone:
        release(conn, stored)


def release(conn: Connection, stored: dict[str, str]) -> None:
    """Drop the shared rows `store` worked out in this refresh (`stored`, its map), before it commits."""
    for table in stored.values():
        if _SHARED_ROWS in table:
            conn.execute(sa.text(f"drop table if exists {table}"))


def _rows(metric: Metric) -> tuple[str, str | None, dict[str, str]]:
    """Where the metric's rows can be had in a full refresh: (base SQL, condition on its rows, the metric's
    columns renamed from it), from `rows_of` or the metric's own base SQL."""
    if metric.rows_of is not None:
        return metric.rows_of.sql, metric.rows_of.where, dict(metric.rows_of.columns)
    return metric.base_sql, None, {}


def shares_rows(a: Metric, b: Metric) -> bool:
    """Whether two metrics group the same base rows into the same cells (their own columns may have other
    names: `rows_of`): one grouping serves both."""
    return _rows(a)[:2] == _rows(b)[:2] and a.segments == b.segments and a.grains == b.grains


def _renamed(component: Component, columns: dict[str, str]) -> Component:
    """The component over the shared rows' columns (a metric's columns renamed from them: `rows_of`)."""
    if not columns:
        return component

    def rename(sql: str) -> str:
        return substitute(sql, columns.get)

    return Component(component.kind, rename(component.sql), rename(component.count_sql),
                     rename(component.argument), rename(component.tail))


def _one_row_per_person(conn: Connection, metric: Metric, components: list[Component], grain: str,
                        source: str) -> list[Component]:
    """The components, with each count of distinct people written as a count of people when the rows hold
    at most one row per person and period of the grain (a person-week): then no cell holds a person twice,
    so the two are equal, and the grouping needs no sort per grouping set (a distinct count forces one).
    Checked on the rows themselves, for metrics whose rows are per person (rows_per 'subject')."""
    if metric.rows_per != "subject" or not any(c.kind == "distinct" for c in components):
        return components
    column = GRAINS[grain]
    repeated = conn.execute(sa.text(
        f"select exists (select from {source} b where b.{column} is not null and b.subject is not null "
        f"group by b.subject, b.{column} having count(*) > 1)")).scalar_one()
    if repeated:
        return components
    return [Component(c.kind, f"count(subject){c.tail}", c.count_sql, c.argument, c.tail)
            if c.kind == "distinct" and c.argument == "distinct subject" else c for c in components]


def rebuild(conn: Connection, metric: Metric, parts: Decomposed,
            peers: Sequence[tuple[Metric, Decomposed]] = (), stored: dict[str, str] | None = None) -> list[str]:
    """Every cell's components again, from the base rows just stored (a full recompute, after `store`); with
    `peers` (metrics that share its rows, see `shares_rows`), theirs too, from the same grouping: what they
    have in common (the rows, the people, the fingerprint's sums) is worked out once. The rows are grouped
    where `stored` (store's map) has the rows they share, else from the metric's stored table. Returns the
    metrics rebuilt."""
    group = [(metric, parts), *((m, p) for m, p in peers if m.id != metric.id and shares_rows(metric, m))]
    sql, where, _ = _rows(metric)
    source = (stored or {}).get(sql)
    if source is None:  # the metric's own stored rows, under its own column names
        source, where, sql = base_table(metric), None, metric.base_sql
        if metric.rows_of is not None:
            group = group[:1]
    conn.execute(sa.text("delete from core.metric_cell_state where metric_id = any(:m)"),
                 {"m": [m.id for m, _ in group]})
    if where:
        source = f"(select * from {source} r where {where})"
    # Each metric's components over the grouped rows' columns: those of `sql` (a metric's own, where the
    # rows are its base SQL's).
    own = {m.id: _rows(m)[2] if _rows(m)[0] == sql else {} for m, _ in group}
    columns = {m.id: [_renamed(c, own[m.id]) for c in p.components] for m, p in group}
    union = list({c.sql: c for cs in columns.values() for c in cs}.values())
    position = {c.sql: i for i, c in enumerate(union, start=1)}
    values = ", ".join(f"(cast(:m{k} as text), {i}, x.c{g}, x.k{g})" for k, (m, _) in enumerate(group)
                       for i, g in enumerate([0, *(position[c.sql] for c in columns[m.id])]))
    cells = " union all ".join(
        _components_sql(metric, _one_row_per_person(conn, metric, union, g, source), g, source)
        for g in metric.grains)
    # Grouped first into a table of their own: a query that creates a table may run in parallel, and then
    # runs the grains' groupings side by side (GROUPING SETS run in one process each); an INSERT ... SELECT
    # runs them one after the other.
    conn.execute(sa.text(f"create temp table {_GROUPED} on commit drop as {cells}"))
    conn.execute(sa.text(f"""
        insert into core.metric_cell_state (metric_id, grain, period, segment_type, segment_value, component,
                                            value, counted)
        select v.metric_id, x.grain, x.period, x.segment_type, x.segment_value, v.component, v.value, v.counted
        from pg_temp.{_GROUPED} x cross join lateral (values {values}) v(metric_id, component, value, counted)
    """), {f"m{k}": m.id for k, (m, _) in enumerate(group)})
    conn.execute(sa.text(f"drop table pg_temp.{_GROUPED}"))
    return [m.id for m, _ in group]


def replace(conn: Connection, metric: Metric, since: datetime, params: dict[str, Any],
            first_week: Callable[[], date | None], cache: dict[Any, Any]) -> dict[str, list[Any]] | None:
    """Take the changed rows out of the base table and work out what replaces them (the temp tables _NEW,
    _OLD, _PLUS, _MINUS, _SAME); `finish` puts the new rows in. Returns the periods (per grain) whose rows
    changed, or None when no record changed (nothing to finish). `first_week` gives the earliest week the
    new data can change (for rows per subject)."""
    table = base_table(metric)
    key = ("records", metric.kinds, since)
    if key not in cache:
        cache[key] = [tuple(r) for r in conn.execute(sa.text(
            f"select distinct source, source_record_id from {changed_records('cast(:kinds as text[])')} c"),
            {"since": since, "kinds": list(metric.kinds)})]
    records = cache[key]
    if not records:
        return None
    lkey = ("record literals", metric.kinds, since)
    if lkey not in cache:
        cache[lkey] = {"_rec_src": array_literal([r[0] for r in records]),
                       "_rec_id": array_literal([r[1] for r in records])}
    rec = cache[lkey]
    if metric.rows_per == "record":
        old = in_records("b._src", "b._rid")
        bind: dict[str, Any] = dict(rec)
    else:
        skey = ("subjects", metric.kinds, since)
        if skey not in cache:
            facts = " union ".join(
                f"select f.pseudonym from core.fact_{kind} f where {in_records('f.source', 'f.source_record_id')}"
                for kind in metric.kinds)
            cache[skey] = array_literal([r[0] for r in conn.execute(sa.text(facts), rec)])
        bind = {"_subjects": cache[skey], "_since": first_week()}
        old = "b.subject = any(cast(:_subjects as text[])) and b._day >= cast(:_since as date)"
    conn.execute(sa.text(f"drop table if exists {_TEMPS}"))
    # Metrics drawing on the same rows (ticket shares; time saved in hours, FTE and pounds; the comment
    # metrics, the skills domains: `rows_of`) get them from one query: worked out once per refresh, kept
    # until its transaction ends.
    source, _, _ = _rows(metric)
    nkey = ("new rows", source, metric.rows_per, metric.kinds, since, bind.get("_since"))
    if nkey not in cache and source in _shared_bases():
        kept = f"realise_delta_kept_{len(cache)}"
        conn.execute(sa.text(f"create temp table {kept} on commit drop as select * from ({rows_sql(source)}) b "
                             f"where {old}"), {**params, **UNRESTRICTED, **bind})
        cache[nkey] = f"pg_temp.{kept}"
    if nkey in cache:
        conn.execute(sa.text(f"create temp table realise_delta_new as {_drawn(conn, metric, cache[nkey], params)}"))
    else:
        conn.execute(sa.text(f"create temp table realise_delta_new as select * from ({base_rows_sql(metric)}) b "
                             f"where {old}"), {**params, **UNRESTRICTED, **bind})
    # The replaced rows leave the base table for _OLD: what stays is every row left as it was.
    conn.execute(sa.text(f"create temp table realise_delta_old as select * from {table} limit 0"))
    conn.execute(sa.text(f"with d as (delete from {table} b where {old} returning b.*) "
                         f"insert into {_OLD} select * from d"), bind)
    # A row replaced by an identical one changes nothing: most of a person's later weeks, a record's event
    # that changed no column a metric reads. Only the rest are worked through.
    conn.execute(sa.text(f"create temp table realise_delta_plus as select * from {_NEW} except all "
                         f"select * from {_OLD}"))
    conn.execute(sa.text(f"create temp table realise_delta_minus as select * from {_OLD} except all "
                         f"select * from {_NEW}"))
    conn.execute(sa.text(f"create temp table realise_delta_same as select * from {_NEW} intersect all "
                         f"select * from {_OLD}"))
    columns = [GRAINS[g] for g in metric.grains]
    found = conn.execute(sa.text(
        f"select {', '.join(f'array_remove(array_agg(distinct {c}), null)' for c in columns)} from ("
        f"select {', '.join(columns)} from {_PLUS} union all select {', '.join(columns)} from {_MINUS}) r")).one()
    return {g: list(v or []) for g, v in zip(metric.grains, found, strict=True) if v}


def apply(conn: Connection, metric: Metric, parts: Decomposed, periods: dict[str, list[Any]]) -> None:
    """Add what the replaced rows change to the components of the cells of `periods` (the periods whose rows
    changed, from `replace`; before `finish` puts the new rows in)."""
    grains = [g for g in metric.grains if periods.get(g)]
    if grains:
        _merge(conn, metric, parts, " union all ".join(
            _unpivoted(parts, _changes_sql(metric, parts, g), "1") for g in grains), {})


def finish(conn: Connection, metric: Metric) -> None:
    """The new rows into the base table (after `replace`)."""
    conn.execute(sa.text(f"insert into {base_table(metric)} select * from {_NEW}"))
    conn.execute(sa.text(f"drop table {_TEMPS}"))
