"""Jira Cloud webhooks at the receiver, running for real: HTTP from the simulated site, the broker, the warehouse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from kafka import TopicPartition

from connectors.webhook.receiver import WebhookReceiver, producer_options
from foundation import kafka
from foundation.kafka import consumer
from foundation.source_config import SourceConfig
from schemas.events import Kind
from schemas.topics import TOPICS
from simulator import jira as sim
from simulator.server import SimServer
from tests.contract.harness import KEY, read_events
from tests.integration import helpdesk
from tests.integration.helpdesk import Rig

rig = helpdesk.rig
_credentials = helpdesk.credentials({**sim.ENV, **sim.WEBHOOK_ENV})
_entry = partial(helpdesk.entry, sim)
PUSH = "jira_push"
REALISE = str(Path(sys.executable).with_name("realise"))


@contextmanager
def _receiver(rig: Rig) -> Iterator[WebhookReceiver]:
    sources = {PUSH: SourceConfig.model_validate(sim.webhook_source_config(pull_source="jira"))}
    receiver = WebhookReceiver(sources, engine=rig.engine, key=KEY,
                               producer_factory=lambda: kafka.producer(rig.settings, rig.bootstrap,
                                                                       **producer_options(10.0)),
                               topic_prefix=rig.settings.kafka.topic_prefix).start()
    try:
        yield receiver
    finally:
        receiver.stop()


def _pulled(rig: Rig) -> tuple[sim.JiraApi, dict[str, dict[str, Any]]]:
    """The site's issues pulled by the `jira` source: the API, and each issue key's published event."""
    api = sim.JiraApi(rig.world)
    with SimServer([api]) as server:
        rig.pull("jira", rig.config(_entry(server)))
    return api, {e["source_record_id"]: e for e in read_events(rig.settings, rig.bootstrap) if e["source"] == "jira"}


def _topic(rig: Rig, kind: Kind) -> list[dict[str, Any]]:
    c = consumer(rig.settings, rig.bootstrap, group=None, consumer_timeout_ms=1500)
    try:
        topic = rig.settings.topic(TOPICS[kind])
        parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or []]
        c.assign(parts)
        c.seek_to_beginning(*parts)
        return [json.loads(m.value) for m in c]
    finally:
        c.close()


def test_given_a_signed_issue_created_delivery_when_received_then_it_is_the_event_the_pull_published(
        rig: Rig) -> None:
    api, pulled = _pulled(rig)
    key = sorted(pulled)[0]
    before = len(read_events(rig.settings, rig.bootstrap))
    with _receiver(rig) as receiver, sim.JiraWebhookSender(receiver.url(PUSH)) as sender:
        delivery = sender.delivery(api.webhook_delivery(key, "jira:issue_created"))
        answer = sender.deliver(delivery)
        retried = sender.post(delivery, retry=1)  # Jira missed our answer: same identifier, retry header
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "accepted", "event_id": pulled[key]["event_id"]}
    assert (retried.status_code, retried.json()["status"]) == (200, "duplicate")
    events = read_events(rig.settings, rig.bootstrap)
    assert len(events) == before + 1
    pulled_event, pushed_event = (e for e in events if e["event_id"] == pulled[key]["event_id"])
    assert {k: v for k, v in pushed_event.items() if k != "ingested_at"} == \
        {k: v for k, v in pulled_event.items() if k != "ingested_at"}


@pytest.mark.parametrize("tamper", ["body", "secret", "no_signature", "realise_scheme"])
def test_given_a_bad_or_missing_x_hub_signature_when_received_then_401_and_nothing_published(
        rig: Rig, tamper: str) -> None:
    api = sim.JiraApi(rig.world)
    key = sorted(sim.expected_ids(rig.world))[0]
    with _receiver(rig) as receiver, sim.JiraWebhookSender(receiver.url(PUSH)) as sender:
        delivery = sender.delivery(api.webhook_delivery(key))
        headers = sender.headers(delivery)
        body = delivery.body
        if tamper == "body":
            body = body.replace(b'"webhookEvent":', b'"webhookEvent": ', 1)
        elif tamper == "secret":
            headers["X-Hub-Signature"] = sim.hub_signature(b"not-the-webhook-secret-at-all", body)
        elif tamper == "no_signature":
            del headers["X-Hub-Signature"]
        else:
            headers["X-Realise-Signature"] = headers.pop("X-Hub-Signature")
        answer = sender.post(delivery, headers=headers, body=body)
    assert answer.status_code == 401, answer.text
    assert "X-Hub-Signature" in answer.json()["error"]
    assert read_events(rig.settings, rig.bootstrap) == []


def test_given_an_issue_deleted_delivery_when_received_and_ingested_then_the_ticket_is_retracted(rig: Rig) -> None:
    api, pulled = _pulled(rig)
    rig.ingest()
    key = sorted(pulled)[0]
    assert key in rig.tickets("jira")
    deleted_at = rig.world.clock + timedelta(minutes=5)
    with _receiver(rig) as receiver, sim.JiraWebhookSender(receiver.url(PUSH)) as sender:
        answer = sender.deliver(sender.delivery(api.webhook_delivery(key, "jira:issue_deleted", at=deleted_at)))
    assert answer.status_code == 200 and answer.json()["status"] == "accepted", answer.text
    retractions = _topic(rig, Kind.RETRACTION)
    assert [(e["source"], e["source_record_id"], e["payload"]) for e in retractions] == \
        [("jira", key, {"kind": "helpdesk_ticket", "reason": "deleted"})]
    assert retractions[0]["event_id"] == answer.json()["event_id"]
    assert retractions[0]["record_version"] == f"deleted:{int(deleted_at.timestamp() * 1000)}"

    rig.ingest()
    assert key not in rig.tickets("jira") and len(rig.tickets("jira")) == len(pulled) - 1
    with rig.engine.connect() as conn:
        rows = conn.execute(sa.text("select source, source_record_id, retracted_kind, reason "
                                    "from analytics.retractions")).all()
    assert [tuple(r) for r in rows] == [("jira", key, "helpdesk_ticket", "deleted")]


def test_given_a_delivery_that_cannot_be_mapped_when_received_then_its_quarantined_copy_names_no_user(
        rig: Rig) -> None:
    api = sim.JiraApi(rig.world)
    keys = sorted(sim.expected_ids(rig.world))
    bodies = (api.webhook_delivery(k) for k in keys)
    body = next(b for b in bodies if "emailAddress" in b["issue"]["fields"]["reporter"])
    key = body["issue"]["key"]
    body["issue"]["fields"]["priority"]["name"] = "P0 - Drop everything"
    reporter, actor = body["issue"]["fields"]["reporter"], body["user"]
    with _receiver(rig) as receiver, sim.JiraWebhookSender(receiver.url(PUSH)) as sender:
        answer = sender.deliver(sender.delivery(body))
    assert answer.status_code == 422 and "priority 'P0 - Drop everything'" in answer.json()["reason"]
    with rig.engine.connect() as conn:
        rows = conn.execute(sa.text("select key, convert_from(raw, 'utf8') from ops.quarantine "
                                    "where source = :s"), {"s": PUSH}).all()
    assert len(rows) == 1 and bytes(rows[0][0]).decode() == key
    raw = rows[0][1]
    for user in (reporter, actor):
        for value in (user["displayName"], user["accountId"], user.get("emailAddress"), user["self"]):
            if value:
                assert value not in raw
    assert "avatarUrls" not in raw and "displayName" not in raw and "accountId" not in raw
    assert '"reporter": "[identifier]"' in raw and "P0 - Drop everything" in raw
    assert read_events(rig.settings, rig.bootstrap) == []


def test_given_realise_webhook_serve_when_pull_source_names_no_jira_source_then_it_exits_naming_the_setting(
        tmp_path: Path) -> None:
    config = tmp_path / "realise.yaml"
    config.write_text(yaml.safe_dump({"sources": {PUSH: sim.webhook_source_config(pull_source="servicedesk"),
                                                  "servicedesk": {"type": "servicenow",
                                                                  "base_url": "https://example.service-now.com"}}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REALISE_", "PREFECT_"))}
    result = subprocess.run([REALISE, "--config", str(config), "webhook", "serve", "--port", "0"], cwd=tmp_path,
                            env={**env, "REALISE_DATA_DIR": str(tmp_path)}, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2, result.stderr
    assert f"sources.{PUSH}.options.pull_source: 'servicedesk' is not a `type: jira` source" in result.stderr
