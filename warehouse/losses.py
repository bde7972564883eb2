"""Records the broker lost before ingest read them: found, counted, recorded, and how to publish them again.

The warehouse knows, per partition, the next offset ingest has read (`ops.ingest_offsets`, with the topic's
id) and the next offset publishers saw acknowledged (`ops.published_offsets`, per topic id). The broker knows
its topic ids and the first and next offsets it holds. Records go missing in three ways:

- recreated: the topic's id changed (deleted and created again, or the embedded broker restarted: it keeps
  no disk). What was published to the old topic beyond what was read is lost: published − read.
- emptied: a broker that reports no topic ids (or a topic that is gone) ends before what was read.
- truncated: the topic now starts after what was read (retention deleted records nobody had read):
  first − read, exactly.

Each loss is recorded once in `ops.ingest_losses` with the `realise pull --since` commands that publish the
records again (events keep their ids, so a replay only adds what is missing); it stays open in `status` and
`doctor` until those pulls have run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

# A replay starts this long before the newest event ingested from a source: source cursors (updated times)
# can run ahead of event times, and a replay that covers more only re-sends events that dedupe.
REPLAY_MARGIN = timedelta(days=1)
EVERYTHING = "2000-01-01"
_CAUSES = {
    "recreated": "the topic was recreated (deleted, or the broker restarted without its data) before they "
                 "were ingested",
    "emptied": "the broker no longer holds them (restarted without its data?)",
    "truncated": "the broker deleted them (retention) before they were ingested",
}


@dataclass(frozen=True, slots=True)
class BrokerPartition:
    topic_id: str | None
    begin: int | None = None  # first offset the broker holds; None where not asked
    end: int | None = None  # next offset it will write


@dataclass(slots=True)
class Loss:
    topic: str
    partition: int
    from_offset: int
    lost: int | None  # None: publishers recorded no offsets for the lost topic, so the count is unknown
    cause: str
    resume_at: int  # where ingest reads on: -1 for the start of the (new) topic
    topic_id: str | None = None
    replay: dict[str, str] = field(default_factory=dict)

    def message(self) -> str:
        if self.lost is None:
            what = f"events from offset {self.from_offset} on {self.topic}[{self.partition}] may have been lost " \
                   "(publishers recorded no offsets for it, so the count is unknown)"
        else:
            last = self.from_offset + self.lost - 1
            what = f"{self.lost:,} events were lost on {self.topic}[{self.partition}] (offsets " \
                   f"{self.from_offset}-{last})"
        return f"{what}: {_CAUSES.get(self.cause, self.cause)}; {replay_advice(self.replay)}"

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "from_offset": self.from_offset,
                "lost": self.lost, "cause": self.cause, "replay": self.replay, "message": self.message()}


def replay_advice(replay: Mapping[str, str]) -> str:
    if not replay:
        return "no pull source published to this topic: ask push senders (webhooks) to send again"
    commands = "; ".join(f"realise pull {src} --since {since}" for src, since in sorted(replay.items()))
    return f"publish them again with: {commands}; then realise ingest --drain"


def find_losses(stored: Mapping[tuple[str, int], tuple[int, str | None]],
                published: Mapping[tuple[str, int, str], int],
                broker: Mapping[tuple[str, int], BrokerPartition]) -> list[Loss]:
    """Losses per partition from what was read (`stored`: next offset, topic id), published and held now."""
    losses = []
    for (topic, partition), now in sorted(broker.items()):
        read, read_id = stored.get((topic, partition), (-1, None))
        if read < 0:
            continue
        if read_id and now.topic_id and read_id != now.topic_id:
            sent = published.get((topic, partition, read_id))
            if sent is not None and sent <= read:
                losses.append(Loss(topic, partition, read, 0, "recreated", -1, now.topic_id))
            else:
                losses.append(Loss(topic, partition, read, None if sent is None else sent - read, "recreated", -1,
                                   now.topic_id))
        elif now.topic_id is None and now.end is not None and now.end < read:
            # Only where the broker gives no topic ids (or the topic is gone): with ids a restart or
            # recreation shows as a new id, and some brokers (Tansu) answer ListOffsets(latest) with the
            # last batch's base offset, which can be below what was read.
            sent = published.get((topic, partition, read_id or now.topic_id or ""))
            # Publishers may already have written to the emptied topic under the same id: a count is only
            # sure when what they recorded is beyond both what was read and what the broker holds now.
            lost = sent - read if sent is not None and sent > read and now.end == 0 else None
            losses.append(Loss(topic, partition, read, lost, "emptied", -1, now.topic_id))
        elif now.begin is not None and now.begin > read:
            losses.append(Loss(topic, partition, read, now.begin - read, "truncated", now.begin, now.topic_id))
    return losses


def replay_sources(conn: sa.Connection, topic: str, pull_sources: Iterable[str]) -> dict[str, str]:
    """`--since` per pull source that published to `topic`: a day before the newest event ingested from it."""
    names = set(pull_sources)
    rows = conn.execute(sa.text("select source, max(occurred_at) from raw.events where topic = :t group by source"),
                        {"t": topic}).all()
    seen = {src: (newest - REPLAY_MARGIN).date().isoformat() for src, newest in rows if src in names}
    return seen or dict.fromkeys(sorted(names), EVERYTHING)


def record(conn: sa.Connection, group: str, losses: list[Loss], pull_sources: Iterable[str]) -> None:
    """Store losses and move each partition's read position past them, in the caller's transaction."""
    names = list(pull_sources)
    for loss in losses:
        conn.execute(sa.text(
            "update ops.ingest_offsets set next_offset = :n, topic_id = coalesce(:tid, topic_id), updated_at = now() "
            "where consumer_group = :g and topic = :t and partition = :p"),
            {"n": loss.resume_at, "tid": loss.topic_id, "g": group, "t": loss.topic, "p": loss.partition})
        if loss.lost == 0:
            continue
        loss.replay = replay_sources(conn, loss.topic, names)
        conn.execute(sa.text(
            "insert into ops.ingest_losses (consumer_group, topic, partition, from_offset, lost, cause, replay) "
            "values (:g, :t, :p, :f, :l, :c, cast(:r as jsonb))"),
            {"g": group, "t": loss.topic, "p": loss.partition, "f": loss.from_offset, "l": loss.lost,
             "c": loss.cause, "r": json.dumps(loss.replay)})


def stored_and_published(conn: sa.Connection, group: str, topics: list[str], *, lock: bool = True
                         ) -> tuple[dict[tuple[str, int], tuple[int, str | None]], dict[tuple[str, int, str], int]]:
    """What was read (next offset, topic id) and what publishers saw acknowledged, for `topics`."""
    stored = {(t, p): (o, tid) for t, p, o, tid in conn.execute(sa.text(
        "select topic, partition, next_offset, topic_id from ops.ingest_offsets "
        "where consumer_group = :g and topic = any(:ts)" + (" for update" if lock else "")),
        {"g": group, "ts": topics})}
    published = {(t, p, tid): o for t, p, tid, o in conn.execute(sa.text(
        "select topic, partition, topic_id, next_offset from ops.published_offsets where topic = any(:ts)"),
        {"ts": topics})}
    return stored, published


def open_losses(conn: sa.Connection) -> list[Loss]:
    """Recorded losses whose replay has not run yet."""
    rows = conn.execute(sa.text(
        "select topic, partition, from_offset, lost, cause, replay from ops.ingest_losses "
        "where replayed_at is null order by detected_at, topic, partition")).all()
    return [Loss(t, p, f, lost, cause, -1, None, dict(replay or {})) for t, p, f, lost, cause, replay in rows]


def mark_replayed(conn: sa.Connection, source: str, since_date: str) -> int:
    """A pull of `source` from `since_date` or earlier covers that source's part of each open loss."""
    return conn.execute(sa.text(
        "update ops.ingest_losses set replay = replay - :s, "
        "replayed_at = case when replay - :s = '{}'::jsonb then now() end "
        "where replayed_at is null and replay ? :s and (replay ->> :s) >= :d"),
        {"s": source, "d": since_date}).rowcount


def record_published(conn: sa.Connection, acked: Mapping[tuple[str, int, str], int]) -> None:
    """Publishers' acknowledged positions: (topic, partition, topic id) → next offset, only ever raised."""
    if not acked:
        return
    keys = sorted(acked)
    conn.execute(sa.text(
        "insert into ops.published_offsets (topic, partition, topic_id, next_offset) "
        "select * from unnest(cast(:t as text[]), cast(:p as int[]), cast(:i as text[]), cast(:o as bigint[])) "
        "order by 1, 2, 3 on conflict (topic, partition, topic_id) do update set "
        "next_offset = greatest(ops.published_offsets.next_offset, excluded.next_offset), updated_at = now()"),
        {"t": [k[0] for k in keys], "p": [k[1] for k in keys], "i": [k[2] for k in keys],
         "o": [acked[k] for k in keys]})
