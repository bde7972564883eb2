"""Running configured sources against the configured (or embedded) broker and warehouse."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from connectors.core.pull import Puller, PullResult
from foundation import kafka
from foundation.config import Settings
from foundation.database import check_connection, warehouse_engine
from foundation.errors import SourceError, UserError
from foundation.privacy import load_key
from foundation.source_config import SourceConfig
from foundation.stack import resolve_endpoints


def source_config(settings: Settings, name: str) -> SourceConfig:
    try:
        return settings.sources[name]
    except KeyError:
        known = ", ".join(sorted(settings.sources)) or "none are configured"
        raise SourceError(f"no source named '{name}' under sources: in realise.yaml ({known})") from None


def ordered_sources(settings: Settings) -> list[str]:
    """Enabled sources, staff directories first so every other source resolves people against them."""
    enabled = [name for name, cfg in settings.sources.items() if cfg.enabled]
    return sorted(enabled, key=lambda name: settings.sources[name].type != "esr_csv")


def parse_since(value: str | None) -> datetime | None:
    """`--since 2026-11-01` (midnight UTC) or an ISO date-time with or without a zone (UTC assumed)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--since {value!r} is not a date: use YYYY-MM-DD or an ISO 8601 date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def pull_sources(settings: Settings, names: list[str], *, since: datetime | None = None, key: bytes | None = None,
                 warehouse_url: str | None = None, bootstrap: str | None = None,
                 progress: Callable[[str, int], None] | None = None) -> list[PullResult]:
    """Pull each named source in order (put the staff directory first); returns one result per source."""
    configs = [(name, source_config(settings, name)) for name in names]
    key = key if key is not None else load_key()
    if warehouse_url is None or bootstrap is None:
        ep = resolve_endpoints(settings, autostart=False, services={"postgres", "kafka"})
        warehouse_url, bootstrap = warehouse_url or ep.warehouse_url, bootstrap or ep.kafka_bootstrap
    engine = warehouse_engine(settings, warehouse_url)
    producer: Any = None
    try:
        check_connection(engine)
        kafka.ensure_topics(settings, bootstrap)
        producer = kafka.producer(settings, bootstrap)
        puller = Puller(engine, producer, key=key, topic_prefix=settings.kafka.topic_prefix, progress=progress)
        return [puller.pull(name, config, since=since) for name, config in configs]
    finally:
        if producer is not None:
            producer.close()
        engine.dispose()
