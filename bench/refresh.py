"""`realise bench refresh`: full vs incremental metric refresh on a warehouse of N events.

The warehouse is a fresh database loaded through the real writer: each batch goes through `plan_batch`
(decode, pydantic contracts, scrubbing, Great Expectations) and `WarehouseWriter.commit` (one transaction
with offsets), exactly as ingest stores it, but the records are handed over in memory rather than read
from Kafka: the broker has nothing to do with refresh cost. Events come from `synthetic` in
chunks of all four kinds, so memory stays bounded whatever N is.

Measured in one run on the same data: a full refresh, then 1% new events in the last two calendar weeks
and an incremental refresh, then a second full refresh, of the same data the incremental one saw (the
baseline). The incremental refresh must leave `analytics.metric_latest` identical to the full one (same
cells, values and suppression). Beside them, a plain recompute of every metric (base SQL and GROUPING SETS,
no stored components, nothing suppressed or written) gives a baseline that does not move with the refresh's
own design: at 1,000,000 events the goals are a full refresh of at most 0.6 times it and an incremental
refresh after 1% new events of at most 0.05 times it. Incremental / second full is printed too.
The staff-group gap, regrouped from its base SQL in the touched periods, costs in proportion to the share
of all events dated in the new events' weeks, which is reported beside it; every other metric works on the
changed records' and people's stored rows (warehouse/metrics/delta.py): medians regroup only the periods
whose rows changed, from those rows.

`--reuse` keeps the loaded warehouse as a template database (`realise_bench_refresh_<N>`) and runs on a
copy, so later runs skip the build and always start from the same data.
"""

from __future__ import annotations

import gc
import json
import math
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from foundation.config import Settings

KIND_SHARES = {"forms": 0.40, "tickets": 0.30, "training": 0.20, "skills": 0.10}
CHUNK_EVENTS = 50_000
BENCH_GROUP = "realise-bench-refresh"
NEW_SHARE = 0.01
# Goals against the plain recompute measured in the same run (at 1,000,000 events).
FULL_TO_PLAIN_GOAL = 0.6
INCREMENTAL_TO_PLAIN_GOAL = 0.05
_MARKER = "realise bench refresh"
LATEST_COLUMNS = ("metric_id", "grain", "period", "segment_type", "segment_value", "parent_segment_type",
                  "parent_segment_value", "value", "numerator", "denominator", "n", "suppressed",
                  "suppression_reason", "ci_low", "ci_high")


# ------------------------------------------------------------------------------------- generated events


def kind_counts(total: int) -> dict[str, int]:
    """Events per kind for `total` events (the shares of KIND_SHARES; forms take the rounding)."""
    counts = {k: int(total * share) for k, share in KIND_SHARES.items()}
    counts["forms"] += total - sum(counts.values())
    return counts


def staff_for(events: int) -> int:
    """A trust size that fits the volume: about 50 events per member of staff, at least 2,000 staff."""
    return max(2000, events // 50)


def records(events: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, bytes, bytes]]:
    """(topic, key, value) as a producer sends them; `prefix` renames each source record (new event ids).

    Seeded chunks number their records from 1 again, so without a prefix per chunk a later chunk's events
    would be new versions of the earlier chunk's records rather than new records. The rename edits the
    serialised JSON (two ids) instead of rebuilding the model, which would cost as much as generating it.
    """
    from schemas.events import make_event_id
    from synthetic import serialise

    for event in events:
        topic, key, value = serialise(event)
        if prefix:
            old_id, old_record = str(event.event_id), event.source_record_id
            new_record = prefix + old_record
            new_id = str(make_event_id(event.source, new_record, event.record_version))
            value = (value.replace(f'"event_id":"{old_id}"'.encode(), f'"event_id":"{new_id}"'.encode(), 1)
                     .replace(f'"source_record_id":{json.dumps(old_record)}'.encode(),
                              f'"source_record_id":{json.dumps(new_record)}'.encode(), 1))
        yield topic, key, value


def generated(trust: Any, now: datetime, total: int, *, seed: int, prefix: str, since: datetime | None = None,
              chunk: int = CHUNK_EVENTS) -> Iterator[list[tuple[str, bytes, bytes]]]:
    """`total` serialised events of all four kinds in chunks; only those at or after `since` if given."""
    from synthetic import generate_events

    produced, round_ = 0, 0
    while produced < total:
        if round_ > 200:
            raise RuntimeError(f"generated events never reach {total:,} after {since}")
        # Only a fraction of events falls in recent weeks: generate more than needed, keep those.
        size = min(chunk, total - produced) if since is None else min(chunk, max(2000, 8 * (total - produced)))
        events = generate_events(trust, now=now, seed=seed * 1000 + round_, **kind_counts(size))
        if since is not None:
            events = [e for e in events if e.occurred_at >= since]
        events = events[: total - produced]
        out = list(records(events, f"{prefix}{round_}:"))
        del events
        produced += len(out)
        round_ += 1
        if out:
            yield out


def load_records(engine: Engine, settings: Settings, gate: Any, chunks: Iterable[list[tuple[str, bytes, bytes]]],
                 *, group: str = BENCH_GROUP, batch_size: int | None = None) -> dict[str, Any]:
    """Store serialised events as ingest does (plan_batch + WarehouseWriter), without a broker.

    Each base topic gets the prefixed name ingest would read and partition 0; offsets carry on from those
    the warehouse holds for `group`, so repeated loads append.
    """
    from ingestion.batch import SourceRecord
    from ingestion.load import WarehouseWriter

    size = batch_size or settings.ingest.batch_size
    writer = WarehouseWriter(engine, group)
    offsets: dict[str, int] = {}
    totals = {"records": 0, "loaded": 0, "quarantined": 0, "duplicates": 0, "batches": 0, "seconds": 0.0}
    # As the ingest runner does: a batch holds many small objects, and the default collector thresholds
    # rescan them (and everything imported) far too often.
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    started = time.perf_counter()
    try:
        for chunk in chunks:
            topics = {settings.topic(t) for t, _, _ in chunk} - set(offsets)
            if topics:
                stored = writer.stored_offsets((t, 0) for t in topics)
                offsets.update({t: stored.get((t, 0), 0) for t in topics})
            batch: list[SourceRecord] = []
            for topic, key, value in chunk:
                name = settings.topic(topic)
                batch.append(SourceRecord(name, 0, offsets[name], key, value))
                offsets[name] += 1
                if len(batch) >= size:
                    _commit(writer, settings, gate, batch, totals)
                    batch = []
            if batch:
                _commit(writer, settings, gate, batch, totals)
    finally:
        writer.close()
        gc.set_threshold(*threshold)
        gc.unfreeze()
    totals["seconds"] = time.perf_counter() - started
    return totals


def _commit(writer: Any, settings: Settings, gate: Any, batch: list[Any], totals: dict[str, Any]) -> None:
    from ingestion.batch import plan_batch

    plan = plan_batch(batch, gate, topic_prefix=settings.kafka.topic_prefix,
                      max_record_bytes=settings.ingest.max_record_bytes, now=datetime.now(UTC))
    result = writer.commit(plan)
    totals["records"] += plan.records
    totals["loaded"] += result.loaded_total
    totals["quarantined"] += result.quarantined
    totals["duplicates"] += result.duplicates
    totals["batches"] += 1


def set_go_live_dates(engine: Engine, trust: Any, now: datetime) -> dict[str, str]:
    """The generated waves' go-live dates into core.dim_wave (the week_since_go_live grain needs them)."""
    dates = {name: trust.go_live(name, now).date() for name in trust.waves}
    with engine.begin() as conn:
        for wave, day in dates.items():
            conn.execute(sa.text(
                "insert into core.dim_wave (go_live_wave, go_live_date) values (:w, :d) "
                "on conflict (go_live_wave) do update set go_live_date = excluded.go_live_date"),
                {"w": wave, "d": day})
    return {w: d.isoformat() for w, d in dates.items()}


def recent_since(now: datetime) -> datetime:
    """Monday 00:00 UTC of last week: "new events in the last two calendar weeks" start here."""
    monday = (now - timedelta(days=now.weekday() + 7)).date()
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


# ------------------------------------------------------------------------------------------- databases


def _upgrade(url: str) -> None:
    from foundation.database import create_engine
    from warehouse.db import upgrade

    engine = create_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def admin_engine(url: str) -> Engine:
    """An engine on the server's `postgres` database, to create and drop the benches' databases."""
    from foundation.database import create_engine

    base = sa.engine.make_url(url)
    return create_engine(base.set(database="postgres").render_as_string(hide_password=False))


def with_database(url: str, name: str) -> str:
    """`url` naming database `name` instead."""
    return sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False)


def _database_comment(admin: Engine, name: str) -> str | None:
    with admin.connect() as conn:
        return conn.execute(sa.text(
            "select shobj_description(oid, 'pg_database') from pg_database where datname = :n"),
            {"n": name}).scalar()


def create_database(admin: Engine, name: str, template: str | None = None) -> None:
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'create database "{name}"' + (f' template "{template}"' if template else "")))


def drop_database(admin: Engine, name: str) -> None:
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))


def build_warehouse(url: str, settings: Settings, events: int, *, seed: int = 11, say: Any = print
                    ) -> dict[str, Any]:
    """Migrate the (empty) database at `url` and load `events` generated events into it."""
    from foundation.database import create_engine
    from ingestion.service import quality_gate
    from synthetic import generate_trust
    from warehouse.db import upgrade

    engine = create_engine(url)
    try:
        upgrade(engine)
        now = datetime.now(UTC).replace(microsecond=0)
        trust = generate_trust(staff_for(events), seed=seed)
        say(f"loading {events:,} events ({', '.join(f'{v:,} {k}' for k, v in kind_counts(events).items())}; "
            f"{len(trust.staff):,} staff) through plan_batch + WarehouseWriter, without Kafka")
        started = time.perf_counter()
        totals = load_records(engine, settings, quality_gate(settings),
                              generated(trust, now, events, seed=seed, prefix="b"))
        build_seconds = time.perf_counter() - started
        waves = set_go_live_dates(engine, trust, now)
        with engine.begin() as conn:  # committed: statistics gathered in a rolled-back transaction are lost
            conn.execute(sa.text("analyze"))
    finally:
        engine.dispose()
    return {"now": now.isoformat(), "seed": seed, "staff": len(trust.staff), "events": events,
            "loaded": totals["loaded"], "quarantined": totals["quarantined"], "go_live": waves,
            "build_seconds": round(build_seconds, 1), "load_seconds": round(totals["seconds"], 1)}


def prepare(settings: Settings, events: int, *, reuse: bool, say: Any = print) -> tuple[str, dict[str, Any], str]:
    """(URL of a fresh database holding the warehouse, what was built, the server's base URL)."""
    from foundation.stack import resolve_endpoints

    base_url = resolve_endpoints(settings, autostart=True, services={"postgres"}).warehouse_url
    admin = admin_engine(base_url)
    run_name = f"realise_bench_{uuid.uuid4().hex[:8]}"
    try:
        if not reuse:
            create_database(admin, run_name)
            try:
                built = build_warehouse(with_database(base_url, run_name), settings, events, say=say)
            except BaseException:
                drop_database(admin, run_name)
                raise
            return with_database(base_url, run_name), {**built, "reused": False}, base_url
        template = f"realise_bench_refresh_{events}"
        comment = _database_comment(admin, template)
        reused = bool(comment and comment.startswith(_MARKER))
        if reused:
            built = json.loads((comment or "")[len(_MARKER):])
            say(f"reusing {template} (built {built['now']})")
        else:
            drop_database(admin, template)
            create_database(admin, template)
            built = build_warehouse(with_database(base_url, template), settings, events, say=say)
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                literal = (_MARKER + json.dumps(built)).replace("'", "''")
                conn.execute(sa.text(f"comment on database \"{template}\" is '{literal}'"))
        create_database(admin, run_name, template=template)
        url = with_database(base_url, run_name)
        _upgrade(url)  # a template built by an older version gets this version's schema
        return url, {**built, "reused": reused}, base_url
    finally:
        admin.dispose()


# -------------------------------------------------------------------------------------------- the bench


def snapshot(engine: Engine, metric_ids: list[str] | None = None) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """analytics.metric_latest keyed by cell: what a reader sees."""
    where = "where metric_id = any(:m)" if metric_ids else ""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"select {', '.join(LATEST_COLUMNS)} from analytics.metric_latest {where}"),
                            {"m": metric_ids} if metric_ids else {}).all()
    return {tuple(r[:5]): tuple(r[5:]) for r in rows}


def _close(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Equal, numbers to 1e-9 relative: PostgreSQL may add floats in another order in another run (even
    two full refreshes of the same data differ in the last bit of float sums and averages)."""
    return len(a) == len(b) and all(
        x == y or (isinstance(x, float) and isinstance(y, float) and math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9))
        for x, y in zip(a, b, strict=True))


def compare(incremental: dict[tuple[Any, ...], tuple[Any, ...]], full: dict[tuple[Any, ...], tuple[Any, ...]]
            ) -> dict[str, Any]:
    """Cells only one side has, and cells whose values or suppression differ (beyond float rounding)."""
    only_incremental = set(incremental) - set(full)
    only_full = set(full) - set(incremental)
    common = set(incremental) & set(full)
    differ = [k for k in common if not _close(incremental[k], full[k])]
    rounding = sum(1 for k in common if incremental[k] != full[k]) - len(differ)
    return {"cells": len(full), "identical": not (only_incremental or only_full or differ),
            "only_in_incremental": len(only_incremental), "only_in_full": len(only_full),
            "different": len(differ), "float_rounding_only": rounding,
            "examples": [f"{k}: {incremental[k]} vs {full[k]}" for k in sorted(differ, key=str)[:3]]
            + [str(k) for k in sorted(only_incremental | only_full, key=str)[:3]]}


def run_bench(settings: Settings, events: int, *, reuse: bool = False, metric_ids: list[str] | None = None,
              keep: bool = False, progress: Any = None) -> dict[str, Any]:
    from foundation.database import create_engine
    from ingestion.service import quality_gate
    from synthetic import generate_trust
    from warehouse.metrics.engine import SuppressionPolicy, compute_cells, org_levels, refresh
    from warehouse.metrics.registry import all_metrics
    from warehouse.metrics.service import metric_params
    from warehouse.metrics.suppression import WITHOUT_HISTORY

    def say(message: str) -> None:
        if progress is not None:
            progress.print(message)

    metrics = metric_ids or list(all_metrics())
    url, built, base_url = prepare(settings, events, reuse=reuse, say=say)
    engine = create_engine(url)
    # Decisions that depend on earlier refreshes (the history rule) would differ between the incremental and
    # the second full refresh by design: the identical-results check compares what each computes on its own.
    policy = SuppressionPolicy(settings.metrics.min_group_size, settings.metrics.comment_min_group_size,
                               WITHOUT_HISTORY)
    params = metric_params(settings)

    def timed_refresh(full: bool) -> tuple[float, Any]:
        started = time.perf_counter()
        result = refresh(engine, full=full, policy=policy, params=params, metric_ids=metrics)
        return time.perf_counter() - started, result

    def plain_recompute() -> float:
        """The fixed baseline: every cell of every metric grouped afresh from its base SQL (GROUPING SETS per
        grain), with no stored components, no suppression and nothing written."""
        registry = all_metrics()
        started = time.perf_counter()
        with engine.connect() as conn:
            levels = org_levels(conn)
            for metric_id in metrics:
                compute_cells(conn, registry[metric_id], params, levels=levels)
            conn.rollback()
        return time.perf_counter() - started

    try:
        say(f"full refresh of {len(metrics)} metrics")
        full1_s, full1 = timed_refresh(True)
        say("plain recompute of every metric (the fixed baseline)")
        plain_s = plain_recompute()

        now = datetime.fromisoformat(built["now"])
        trust = generate_trust(built["staff"], seed=built["seed"])
        new = max(1, round(events * NEW_SHARE))
        since = recent_since(now)
        say(f"loading {new:,} new events dated {since.date()} to {now.date()}")
        added = load_records(engine, settings, quality_gate(settings),
                             generated(trust, now, new, seed=built["seed"] + 7919, prefix="n", since=since))

        say("incremental refresh")
        inc_s, inc = timed_refresh(False)
        after_incremental = snapshot(engine, metrics)
        say("full refresh again, to compare")
        full2_s, full2 = timed_refresh(True)
        after_full = snapshot(engine, metrics)
        same = compare(after_incremental, after_full)
        with engine.connect() as conn:
            raw, recent = conn.execute(sa.text(
                "select count(*), count(*) filter (where occurred_at >= :since) from raw.events"),
                {"since": since}).one()
    finally:
        engine.dispose()
        if not keep:
            admin = admin_engine(base_url)
            drop_database(admin, sa.engine.make_url(url).database or "")
            admin.dispose()

    ratio = inc_s / full2_s if full2_s else 0.0
    full_to_plain = full1_s / plain_s if plain_s else 0.0
    incremental_to_plain = inc_s / plain_s if plain_s else 0.0
    return {
        "events": events,
        "loaded_through": "plan_batch + WarehouseWriter (no Kafka: the broker plays no part in refresh cost)",
        "warehouse_reused": bool(built.get("reused")),
        "staff": built["staff"],
        "raw_events_after": raw,
        "build_seconds": built["build_seconds"],
        "metrics": len(metrics),
        "full_refresh_s": round(full1_s, 3),
        "full_refresh_cells": full1.cells,
        "new_events": added["loaded"],
        "new_events_since": since.date().isoformat(),
        "incremental_refresh_s": round(inc_s, 3),
        "incremental_cells": inc.cells,
        "incremental_periods": sum(inc.periods.values()),
        "full_refresh_again_s": round(full2_s, 3),
        "full_refresh_again_cells": full2.cells,
        # What metrics that regroup touched periods must read again (more on the week-since-go-live grain,
        # which mixes waves).
        "events_in_new_events_weeks_share": round(recent / raw, 4) if raw else 0.0,
        "incremental_to_full_ratio": round(ratio, 4),
        # Against a baseline measured in the same run that does not move with the refresh's own design.
        "plain_recompute_s": round(plain_s, 3),
        "full_to_plain_ratio": round(full_to_plain, 4),
        "full_to_plain_goal": FULL_TO_PLAIN_GOAL,
        "full_meets_goal": full_to_plain <= FULL_TO_PLAIN_GOAL,
        "incremental_to_plain_ratio": round(incremental_to_plain, 4),
        "incremental_to_plain_goal": INCREMENTAL_TO_PLAIN_GOAL,
        "incremental_meets_goal": incremental_to_plain <= INCREMENTAL_TO_PLAIN_GOAL,
        "latest_identical": same["identical"],
        "latest_cells_compared": same["cells"],
        "latest_differences": same["only_in_incremental"] + same["only_in_full"] + same["different"],
        "latest_float_rounding_only": same["float_rounding_only"],
        "difference_examples": same["examples"],
    }
