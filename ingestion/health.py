"""Lost events as `status` and `doctor` show them: losses recorded by ingest and not yet replayed, and
losses the broker shows now that no ingest has seen yet (read-only: nothing is recorded or moved here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kafka import TopicPartition

from connectors.webhook import is_push_type
from foundation import kafka as rk
from foundation.config import Settings
from foundation.database import warehouse_engine
from warehouse.losses import BrokerPartition, Loss, find_losses, open_losses, replay_sources, stored_and_published


@dataclass
class LossReport:
    recorded: list[Loss] = field(default_factory=list)  # found by ingest, replay not run yet
    pending: list[Loss] = field(default_factory=list)  # visible on the broker now; the next ingest records them

    @property
    def all(self) -> list[Loss]:
        return [*self.recorded, *self.pending]

    def lines(self) -> list[str]:
        return [loss.message() for loss in self.recorded] + [
            f"{loss.message()} (found now; the next ingest records it)" for loss in self.pending]


def lost_events(settings: Settings, warehouse_url: str, bootstrap: str | None) -> LossReport:
    """What was lost for the configured consumer group; the broker part is skipped if `bootstrap` is None."""
    report = LossReport()
    engine = warehouse_engine(settings, warehouse_url)
    try:
        with engine.connect() as conn:
            report.recorded = open_losses(conn)
        if bootstrap is None:
            return report
        topics = rk.event_topics(settings)
        broker = broker_partitions(settings, bootstrap, topics)
        pull_sources = [n for n, c in settings.sources.items() if not is_push_type(c.type)]
        with engine.connect() as conn:
            stored, published = stored_and_published(conn, settings.kafka.consumer_group, topics, lock=False)
            on_broker = {t for t, _ in broker}
            for topic, partition in stored:
                if topic not in on_broker:  # the topic is gone: the broker holds none of it
                    broker[(topic, partition)] = BrokerPartition(None, 0, 0)
            report.pending = [loss for loss in find_losses(stored, published, broker) if loss.lost != 0]
            for loss in report.pending:
                loss.replay = replay_sources(conn, loss.topic, pull_sources)
            conn.rollback()
    finally:
        engine.dispose()
    return report


def broker_partitions(settings: Settings, bootstrap: str, topics: list[str]
                      ) -> dict[tuple[str, int], BrokerPartition]:
    """Topic id, first and next offset of every partition of `topics` the broker holds, from a fresh client."""
    consumer = rk.consumer(settings, bootstrap, group=None)
    try:
        existing = consumer.topics()
        partitions = [TopicPartition(t, p) for t in topics if t in existing
                      for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not partitions:
            return {}
        begins = consumer.beginning_offsets(partitions)
        ends = consumer.end_offsets(partitions)
        cluster = consumer._client.cluster  # kafka-python keeps topic ids from metadata responses here
        ids = {t: cluster.topic_id(t) for t in topics}
        return {(tp.topic, tp.partition): BrokerPartition(str(ids[tp.topic]) if ids.get(tp.topic) else None,
                                                          begins.get(tp), ends.get(tp)) for tp in partitions}
    finally:
        consumer.close()
