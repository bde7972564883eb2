"""Running configured sources against the configured (or embedded) broker and warehouse."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from connectors.core.config import SourceConfig
from connectors.core.errors import SourceError
from connectors.core.pull import Puller, PullResult
from realise.config import Settings


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


def pull_sources(settings: Settings, names: list[str], *, since: datetime | None = None, key: bytes | None = None,
                 warehouse_url: str | None = None, bootstrap: str | None = None,
                 progress: Callable[[str, int], None] | None = None) -> list[PullResult]:
    """Pull each named source in order (put the staff directory first); returns one result per source."""
    from realise import kafka
    from realise.privacy import load_key
    from realise.stack import resolve_endpoints
    from warehouse.db import check_connection, create_engine

    configs = [(name, source_config(settings, name)) for name in names]
    key = key if key is not None else load_key()
    if warehouse_url is None or bootstrap is None:
        ep = resolve_endpoints(settings, autostart=False, services={"postgres", "kafka"})
        warehouse_url, bootstrap = warehouse_url or ep.warehouse_url, bootstrap or ep.kafka_bootstrap
    engine = create_engine(warehouse_url, sslmode=settings.warehouse.sslmode,
                           sslrootcert=settings.warehouse.sslrootcert)
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
