"""`realise doctor`: check configuration, services and credentials, and say how to fix each problem."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from foundation.config import Settings
from foundation.errors import UserError

Status = Literal["ok", "warn", "fail"]


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


def _guard(name: str, fn: Callable[[], Check]) -> Check:
    try:
        return fn()
    except UserError as exc:
        return Check(name, "fail", str(exc).splitlines()[0], _fix_for(str(exc)))
    except Exception as exc:  # doctor reports, it never crashes
        return Check(name, "fail", f"{type(exc).__name__}: {exc}".splitlines()[0])


def _fix_for(message: str) -> str:
    lowered = message.lower()
    if "user name or password" in lowered:
        return "put the right user and password in REALISE_WAREHOUSE_URL"
    if "realise up" in lowered:
        return "run `realise up`, or set the service's address in realise.yaml"
    if "cannot reach" in lowered:
        return "start the service or correct its address (the setting is named above)"
    return ""


def run_checks(settings: Settings, env: dict[str, str]) -> list[Check]:
    from foundation.stack import Stack

    stack = Stack(settings)
    checks = [Check("configuration", "ok", f"data dir {settings.data_dir}; topic prefix "
                    f"{settings.kafka.topic_prefix or '(none)'}; consumer group {settings.kafka.consumer_group}")]

    warehouse_url = settings.warehouse.url or stack.postgres.url
    bootstrap = settings.kafka.bootstrap or stack.kafka.bootstrap

    def warehouse() -> Check:
        from alembic.script import ScriptDirectory

        from foundation.database import check_connection, warehouse_engine
        from warehouse.db import _alembic_config, current_revision

        if not settings.warehouse.url and not stack.postgres.is_running():
            return Check("warehouse", "fail", "the embedded PostgreSQL is not running",
                         "run `realise up`, or set REALISE_WAREHOUSE_URL")
        engine = warehouse_engine(settings, warehouse_url)
        try:
            check_connection(engine)
            head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
            current = current_revision(engine)
        finally:
            engine.dispose()
        if current != head:
            return Check("warehouse", "fail", f"schema at revision {current or 'none'}, code expects {head}",
                         "run `realise db upgrade`")
        return Check("warehouse", "ok", f"reachable, schema at revision {head}")

    def kafka() -> Check:
        from foundation import kafka as rk

        if not settings.kafka.bootstrap and not stack.kafka.is_running():
            return Check("kafka", "fail", "the embedded broker is not running",
                         "run `realise up`, or set REALISE_KAFKA_BOOTSTRAP")
        client = rk.admin(settings, bootstrap)
        try:
            topics = set(client.list_topics())
        finally:
            client.close()
        missing = [t for t in rk.event_topics(settings) if t not in topics]
        if missing:
            return Check("kafka", "warn", f"reachable at {bootstrap}; missing topics: {', '.join(missing)}",
                         "ingest creates them on start, or create them with the partitions you want")
        return Check("kafka", "ok", f"reachable at {bootstrap}; event topics present")

    def prefect() -> Check:
        import httpx

        url = settings.prefect.api_url or (stack.prefect.api_url if stack.prefect.is_running() else None)
        if url is None:
            return Check("prefect", "warn", "no Prefect API configured and the embedded server is not running",
                         "run `realise up` or set REALISE_PREFECT_API_URL; ingest still works without it")
        try:
            healthy = httpx.get(f"{url}/health", timeout=5).status_code == 200
        except httpx.HTTPError as exc:
            return Check("prefect", "fail", f"cannot reach {url} ({type(exc).__name__})",
                         "start the Prefect server or correct REALISE_PREFECT_API_URL")
        return Check("prefect", "ok" if healthy else "fail", f"{url} {'healthy' if healthy else 'unhealthy'}")

    def pseudonym_key() -> Check:
        from foundation.privacy import PSEUDONYM_KEY_ENV, load_key

        if not env.get(PSEUDONYM_KEY_ENV):
            return Check("pseudonymisation key", "fail", f"{PSEUDONYM_KEY_ENV} is not set; connectors will refuse "
                         "to run (the demo uses a built-in key)",
                         f"set {PSEUDONYM_KEY_ENV} to a long random secret, e.g. `openssl rand -hex 32`, and keep "
                         "it the same for every run")
        load_key(env)
        return Check("pseudonymisation key", "ok", f"{PSEUDONYM_KEY_ENV} is set")

    def lost_events() -> Check:
        from ingestion.health import lost_events as find
        from warehouse.losses import replay_advice

        if not settings.warehouse.url and not stack.postgres.is_running():
            return Check("lost events", "warn", "not checked: the warehouse is not running")
        kafka_up = bool(settings.kafka.bootstrap) or stack.kafka.is_running()
        report = find(settings, warehouse_url, bootstrap if kafka_up else None)
        if not report.all:
            return Check("lost events", "ok", "every published event the broker was asked for is ingested or held"
                         if kafka_up else "none recorded (broker not running: not compared)")
        counted = [loss for loss in report.all if loss.lost]
        status: Status = "fail" if counted else "warn"
        first = report.all[0]
        detail = "; ".join(report.lines()[:3]) + (f" (and {len(report.all) - 3} more)" if len(report.all) > 3 else "")
        return Check("lost events", status, detail, replay_advice(first.replay))

    checks += [_guard("warehouse", warehouse), _guard("kafka", kafka), _guard("prefect", prefect),
               _guard("pseudonymisation key", pseudonym_key), _guard("lost events", lost_events)]
    return checks
