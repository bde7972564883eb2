"""Kafka clients built from settings, so TLS/SASL are configuration and errors name the setting to change."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterable, Iterator
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    SaslAuthenticationFailedError,
    TopicAlreadyExistsError,
)

from foundation.config import Settings
from foundation.errors import ServiceUnavailable, UserError
from schemas.topics import DEAD_LETTER_TOPIC, TOPICS

BOOTSTRAP_SETTING = "REALISE_KAFKA_BOOTSTRAP (or kafka.bootstrap in realise.yaml)"
log = logging.getLogger(__name__)
# Fast group joins and failure detection; defaults made a join take ~23 s on the embedded broker.
REQUEST_TIMEOUT_MS = 30_000
GROUP_TIMEOUTS = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000, "max_poll_interval_ms": 120_000}


def client_config(settings: Settings, bootstrap: str) -> dict[str, Any]:
    """Connection options shared by producers, consumers and the admin client."""
    k = settings.kafka
    cfg: dict[str, Any] = {
        "bootstrap_servers": bootstrap.split(","),
        "security_protocol": k.security_protocol,
        "client_id": "realise",
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
    }
    if k.security_protocol in ("SSL", "SASL_SSL"):
        cfg.update({"ssl_cafile": k.ssl_cafile, "ssl_certfile": k.ssl_certfile, "ssl_keyfile": k.ssl_keyfile})
    if k.security_protocol.startswith("SASL"):
        password = os.environ.get(k.sasl_password_env)
        if not (k.sasl_mechanism and k.sasl_username and password):
            raise UserError(
                f"kafka.security_protocol is {k.security_protocol}: set kafka.sasl_mechanism, "
                f"kafka.sasl_username and the password in ${k.sasl_password_env}")
        cfg.update({"sasl_mechanism": k.sasl_mechanism, "sasl_plain_username": k.sasl_username,
                    "sasl_plain_password": password})
    return cfg


def check_reachable(bootstrap: str, timeout: float = 3.0) -> None:
    """Fail in seconds, not after the client's 30 s bootstrap timeout, when no broker address answers."""
    errors = []
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host or "localhost", int(port)), timeout=timeout):
                return
        except (OSError, ValueError) as exc:
            errors.append(exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc))
    raise ServiceUnavailable("Kafka broker", bootstrap, BOOTSTRAP_SETTING, "; ".join(dict.fromkeys(errors)))


@contextlib.contextmanager
def explained(bootstrap: str) -> Iterator[None]:
    """Turn client errors about reaching or authenticating to the broker into one readable line."""
    check_reachable(bootstrap)
    try:
        yield
    except KafkaTimeoutError as exc:
        raise ServiceUnavailable("Kafka broker", bootstrap, BOOTSTRAP_SETTING, str(exc)) from None
    except SaslAuthenticationFailedError:
        raise UserError(f"the Kafka broker at {bootstrap} rejected the SASL user name or password; "
                        "fix kafka.sasl_username or the password variable") from None


def admin(settings: Settings, bootstrap: str) -> KafkaAdminClient:
    with explained(bootstrap):
        return KafkaAdminClient(**client_config(settings, bootstrap))


def event_topics(settings: Settings) -> list[str]:
    return [settings.topic(t) for t in TOPICS.values()]


def ensure_topics(settings: Settings, bootstrap: str, names: Iterable[str] | None = None) -> None:
    """Create the event and dead-letter topics if missing (production may create them beforehand)."""
    wanted = list(names) if names is not None else [*event_topics(settings), settings.topic(DEAD_LETTER_TOPIC)]
    client = admin(settings, bootstrap)
    try:
        existing = set(client.list_topics())
        missing = [t for t in wanted if t not in existing]
        if not missing:
            return
        new = [NewTopic(t, num_partitions=settings.kafka.partitions,
                        replication_factor=settings.kafka.replication_factor) for t in missing]
        try:
            client.create_topics(new)
        except TopicAlreadyExistsError:
            pass
        except KafkaError as exc:
            raise UserError(f"could not create topics {', '.join(missing)} on {bootstrap}: {exc}; "
                            "create them or grant the client permission") from None
    finally:
        client.close()


def producer(settings: Settings, bootstrap: str, **overrides: Any) -> KafkaProducer:
    """`overrides` win over every default, connection timeouts included."""
    defaults = {"acks": "all", "linger_ms": 20, "batch_size": 256 * 1024, "retries": 5}
    with explained(bootstrap):
        return KafkaProducer(**{**client_config(settings, bootstrap), **defaults, **overrides})


def consumer(settings: Settings, bootstrap: str, *, group: str | None, **overrides: Any) -> KafkaConsumer:
    """A consumer that never auto-commits: the warehouse holds the offsets that count."""
    options: dict[str, Any] = {
        "group_id": group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": settings.ingest.batch_size,
        **GROUP_TIMEOUTS,
        **overrides,
    }
    with explained(bootstrap):
        return KafkaConsumer(**client_config(settings, bootstrap), **options)


def publish(settings: Settings, bootstrap: str, records: Iterable[tuple[str, bytes | None, bytes]],
            **overrides: Any) -> int:
    """Send (topic, key, value) records and wait until the broker acknowledged every one."""
    prod = producer(settings, bootstrap, **overrides)
    count = 0
    try:
        futures = []
        for topic, key, value in records:
            futures.append(prod.send(topic, key=key, value=value))
            count += 1
            if len(futures) >= 10_000:
                prod.flush()
                for f in futures:
                    f.get(timeout=60)
                futures.clear()
        prod.flush()
        for f in futures:
            f.get(timeout=60)
    finally:
        prod.close()
    return count
