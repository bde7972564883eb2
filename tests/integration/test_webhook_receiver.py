"""The signed webhook receiver, running for real: HTTP from the simulated form tool, the broker, the warehouse."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Engine

from connectors.core.pull import Puller
from connectors.webhook.receiver import WebhookReceiver, json_depth_over, producer_options
from connectors.webhook.signature import sign
from foundation import kafka
from foundation.config import Settings
from foundation.database import create_engine
from foundation.errors import SourceError
from foundation.privacy import DEMO_KEY
from foundation.source_config import SourceConfig
from foundation.stack import EmbeddedKafka
from ingestion.service import run_ingest
from simulator import webhook as sim
from simulator.world import World
from tests.conftest import free_port
from tests.contract.harness import KEY, load_directory, read_events, small_world

REALISE = str(Path(sys.executable).with_name("realise"))


@dataclass
class Rig:
    settings: Settings
    warehouse_url: str
    bootstrap: str
    engine: Engine
    world: World
    receiver: WebhookReceiver
    sender: sim.WebhookSender

    def events(self) -> list[dict[str, Any]]:
        return read_events(self.settings, self.bootstrap)

    def raw(self) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            return [(r[0], r[1]) for r in conn.execute(sa.text(
                "select source_record_id, record_version from raw.events where source = 'webhook'"))]


def _sources(**options: Any) -> dict[str, SourceConfig]:
    entry = sim.source_config()
    return {"webhook": SourceConfig.model_validate({**entry, "options": {**entry["options"], **options}})}


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in sim.ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def rig(ingest_settings: Settings, warehouse_url: str, kafka_bootstrap: str, tmp_path: Path) -> Iterator[Rig]:
    kafka.ensure_topics(ingest_settings, kafka_bootstrap)
    engine = create_engine(warehouse_url)
    world = small_world()
    load_directory(Puller(engine, None, key=KEY), world, tmp_path)
    receiver = WebhookReceiver(_sources(max_body_bytes=4096), engine=engine, key=KEY,
                               producer_factory=lambda: kafka.producer(ingest_settings, kafka_bootstrap,
                                                                       **producer_options(10.0)),
                               topic_prefix=ingest_settings.kafka.topic_prefix).start()
    sender = sim.WebhookSender(receiver.url("webhook"))
    try:
        yield Rig(ingest_settings, warehouse_url, kafka_bootstrap, engine, world, receiver, sender)
    finally:
        sender.close()
        receiver.stop()
        engine.dispose()


def test_given_signed_deliveries_and_retries_when_received_then_each_response_is_stored_exactly_once(
        rig: Rig) -> None:
    deliveries = sim.deliveries(rig.world)
    assert len(deliveries) > 20
    answers = [rig.sender.deliver(d) for d in deliveries]
    assert {a.status_code for a in answers} == {200} and {a.json()["status"] for a in answers} == {"accepted"}
    again = rig.sender.post(deliveries[0])  # the tool missed our answer and retries the same delivery
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    resent = sim.Delivery("01RESENT" + deliveries[1].delivery_id[8:], deliveries[1].record_id, deliveries[1].body)
    assert rig.sender.post(resent).json()["event_id"] == answers[1].json()["event_id"]  # same response: same id
    assert len(rig.events()) == len(deliveries) + 1
    with rig.engine.connect() as conn:  # what the broker acknowledged, for counting losses later
        published = conn.execute(sa.text("select coalesce(sum(next_offset), 0) from ops.published_offsets "
                                         "where topic like :p"), {"p": f"{rig.settings.kafka.topic_prefix}%"})
    assert published.scalar_one() == len(deliveries) + 1

    summary = run_ingest(rig.settings, rig.warehouse_url, rig.bootstrap, "drain")
    assert summary.quarantined == 0 and summary.duplicates == 1
    raw = rig.raw()
    assert {r for r, _ in raw} == sim.expected_ids(rig.world) and len(raw) == len(deliveries)
    with rig.engine.connect() as conn:
        rows = {r["response_id"]: r for r in conn.execute(sa.text(
            "select * from research.form_responses where source = 'webhook'")).mappings()}
    for event in sim.webhook_events(rig.world):
        p = event.payload
        row = rows[f"{p.form_id}:{sim.token(event.source_record_id)}"]
        assert (row["form_id"], row["likert"], row["recommend"], row["org_unit"], row["staff_pseudonym"]) == \
            (p.form_id, p.likert, p.recommend, p.person.org_unit, p.person.pseudonym)
        assert row["minutes_saved_per_shift"] == p.minutes_saved_per_shift
    assert rig.receiver.counts["accepted"] == len(deliveries) + 1 and rig.receiver.counts["duplicate"] == 1


def test_given_a_2xx_answer_when_the_topic_is_read_then_the_event_is_already_there(rig: Rig) -> None:
    delivery = sim.deliveries(rig.world)[0]
    answer = rig.sender.post(delivery)
    assert answer.status_code == 200
    assert [e["event_id"] for e in rig.events()] == [answer.json()["event_id"]]


@pytest.mark.parametrize("tamper", ["body", "secret", "no_signature", "no_timestamp", "timestamp_changed",
                                    "bare_hex"])
def test_given_bad_or_missing_signature_when_received_then_401_and_nothing_published(rig: Rig, tamper: str) -> None:
    delivery = sim.deliveries(rig.world)[0]
    headers = rig.sender.headers(delivery)
    body = delivery.body
    if tamper == "body":
        body = body.replace(b'"number":', b'"number": ', 1)
    elif tamper == "secret":
        headers["X-Realise-Signature"] = sign(b"not-the-shared-secret", body, headers["X-Realise-Timestamp"])
    elif tamper == "no_signature":
        del headers["X-Realise-Signature"]
    elif tamper == "no_timestamp":
        del headers["X-Realise-Timestamp"]
    elif tamper == "timestamp_changed":
        headers["X-Realise-Timestamp"] = str(int(headers["X-Realise-Timestamp"]) - 1)
    else:
        headers["X-Realise-Signature"] = headers["X-Realise-Signature"].removeprefix("sha256=")
    answer = rig.sender.post(delivery, headers=headers, body=body)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]
    assert rig.events() == []


@pytest.mark.parametrize("offset", [-301, 301, -86_400])
def test_given_timestamp_outside_the_replay_window_when_received_then_401(rig: Rig, offset: int) -> None:
    delivery = sim.deliveries(rig.world)[0]
    answer = rig.sender.post(delivery, headers=rig.sender.headers(delivery, int(time.time()) + offset))
    assert answer.status_code == 401 and "replay window" in answer.json()["error"]
    assert rig.events() == []


def test_given_body_over_the_limit_when_posted_then_413_answered_before_the_body_is_read(rig: Rig) -> None:
    port = rig.receiver.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /webhooks/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 50000000\r\n\r\n")  # headers only: 50 MB promised, none sent
        reply = b""
        while chunk := sock.recv(4096):  # the receiver answers and closes without waiting for the body
            reply += chunk
    reply_text = reply.decode()
    assert reply_text.startswith("HTTP/1.1 413") and "over the 4096-byte limit" in reply_text
    delivery = sim.deliveries(rig.world)[0]
    big = sim.Delivery(delivery.delivery_id, delivery.record_id, delivery.body[:-1] + b"," + b" " * 5000 + b"}")
    answer = rig.sender.post(big)
    assert answer.status_code == 413
    assert rig.events() == []


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"form_response": ', "body is not JSON: Expecting value at line 1 column 19"),
    (b'[{"form_response": {}}]', "body must be a JSON object, not list"),
    (b'{"comment": "caf\xe9"}', "not UTF-8 JSON"),
])
def test_given_malformed_json_signed_correctly_when_received_then_400_with_the_reason(
        rig: Rig, body: bytes, reason: str) -> None:
    delivery = sim.Delivery("01BAD", "none", body)
    answer = rig.sender.post(delivery)
    assert answer.status_code == 400 and reason in answer.json()["error"]


def test_given_a_signed_body_nested_2000_deep_when_received_then_400_and_the_receiver_still_serves(
        rig: Rig) -> None:
    nested = b'{"form_response": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    answer = rig.sender.post(sim.Delivery("01DEEP", "none", nested))
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("body nests arrays and objects more than 400 levels deep")
    delivery = sim.deliveries(rig.world)[0]
    assert rig.sender.deliver(delivery).json()["status"] == "accepted"
    assert len(rig.events()) == 1


@pytest.mark.parametrize(("body", "over"), [
    (b"[" * 400 + b"]" * 400, False),
    (b"[" * 401 + b"]" * 401, True),
    (b'{"a": "' + b"[" * 1000 + b'"}', False),  # brackets inside a string do not nest
    (b'{"a": "\\\\", "b": ' + b"[" * 401 + b"]" * 401 + b"}", True),  # an escaped backslash escapes no quote
    (b'{"a": "\\"[[[[", "b": [[]]}', False),  # an escaped quote does not end the string
    (b"[" * 1000, True),  # counted before parsing: unbalanced input is refused too
])
def test_given_json_when_its_depth_is_counted_then_only_structure_outside_strings_counts(
        body: bytes, over: bool) -> None:
    assert json_depth_over(body, 400) is over


@pytest.fixture
def impatient(rig: Rig) -> Iterator[WebhookReceiver]:
    """A receiver that gives each request one second to arrive."""
    receiver = WebhookReceiver(_sources(max_body_bytes=4096), engine=rig.engine, key=KEY, read_timeout_seconds=1.0,
                               producer_factory=lambda: kafka.producer(rig.settings, rig.bootstrap,
                                                                       **producer_options(10.0)),
                               topic_prefix=rig.settings.kafka.topic_prefix).start()
    try:
        yield receiver
    finally:
        receiver.stop()


def _until_closed(sock: socket.socket) -> bytes:
    reply = b""
    while chunk := sock.recv(4096):
        reply += chunk
    return reply


@pytest.mark.parametrize("stall", ["after_headers", "mid_headers", "trickle"])
def test_given_a_client_that_stalls_when_the_read_timeout_passes_then_it_is_cut_off_and_others_are_served(
        rig: Rig, impatient: WebhookReceiver, stall: str) -> None:
    delivery = sim.deliveries(rig.world)[0]
    head = (b"POST /webhooks/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n" % len(delivery.body))
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as stalled:
        if stall == "mid_headers":
            stalled.sendall(head)  # the blank line that ends the headers never comes
        elif stall == "after_headers":
            stalled.sendall(head + b"\r\n" + delivery.body[:10])  # then nothing more of the body
        else:
            stalled.sendall(head + b"\r\n")
            for byte in delivery.body[:8]:  # a byte every 0.3 s: each read is quick, the request never ends
                time.sleep(0.3)
                with contextlib.suppress(OSError):
                    stalled.sendall(bytes([byte]))
        with sim.WebhookSender(impatient.url("webhook")) as sender:  # served meanwhile, on its own thread
            assert sender.deliver(delivery).json()["status"] == "accepted"
        reply = _until_closed(stalled)
    elapsed = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408 "), reply
    assert b"not received within 1 s" in reply
    assert elapsed < 5, f"the stalled client was held for {elapsed:.1f} s"


def test_given_an_idle_keep_alive_connection_when_the_read_timeout_passes_then_it_is_closed_quietly(
        impatient: WebhookReceiver) -> None:
    with socket.create_connection(("127.0.0.1", impatient.port), timeout=10) as idle:
        started = time.monotonic()
        assert _until_closed(idle) == b""
        assert time.monotonic() - started < 5


def test_given_unknown_source_wrong_content_type_or_no_length_when_posted_then_404_415_411(rig: Rig) -> None:
    delivery = sim.deliveries(rig.world)[0]
    base = rig.receiver.url("webhook").rsplit("/", 1)[0]
    assert httpx.post(f"{base}/nope", content=delivery.body, headers=rig.sender.headers(delivery)).status_code == 404
    form = {**rig.sender.headers(delivery), "Content-Type": "application/x-www-form-urlencoded"}
    assert httpx.post(rig.receiver.url("webhook"), content=delivery.body, headers=form).status_code == 415
    chunked = httpx.post(rig.receiver.url("webhook"), content=iter([delivery.body]),
                         headers=rig.sender.headers(delivery))
    assert chunked.status_code == 411
    health = httpx.get(f"{base.rsplit('/', 1)[0]}/healthz").json()
    assert health == {"status": "ok", "sources": ["webhook"]}


def test_given_signed_delivery_that_cannot_be_mapped_when_retried_then_422_and_quarantined_once(
        rig: Rig) -> None:
    event = sim.webhook_events(rig.world)[0]
    body = sim.payload(rig.world, event)
    email = body["form_response"]["hidden"]["email"]
    del body["form_response"]["token"]
    delivery = sim.Delivery("01NOTOKEN", event.source_record_id, json.dumps(body).encode())
    first, second = rig.sender.post(delivery), rig.sender.post(delivery)
    assert first.status_code == second.status_code == 422
    assert "response id missing" in first.json()["reason"]
    with rig.engine.connect() as conn:
        rows = conn.execute(sa.text("select reasons, convert_from(raw, 'utf8') from ops.quarantine "
                                    "where source = 'webhook'")).all()
    assert len(rows) == 1 and "options.mapping.record_id" in rows[0][0][0]
    assert email not in rows[0][1] and "[identifier]" in rows[0][1]
    assert rig.events() == []


def test_given_new_starter_added_to_the_directory_when_next_delivery_arrives_then_they_are_matched(
        rig: Rig, tmp_path: Path) -> None:
    first = sim.webhook_events(rig.world)[0]
    newcomer = first.payload.person.pseudonym
    second = first.model_copy(update={"source_record_id": f"{first.source_record_id}-next"})  # their next response
    rows = [r for r in rig.world.directory_rows() if r["Email Address"] != rig.world.identity(newcomer).email]
    folder = tmp_path / "before"
    folder.mkdir()
    path = folder / "esr.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    puller = Puller(rig.engine, None, key=KEY)
    puller.pull("directory", SourceConfig(type="esr_csv", path=str(path)))
    receiver = WebhookReceiver(_sources(), engine=rig.engine, key=KEY, directory_refresh_seconds=0.0,
                               producer_factory=lambda: kafka.producer(rig.settings, rig.bootstrap,
                                                                       **producer_options(10.0)),
                               topic_prefix=rig.settings.kafka.topic_prefix).start()
    try:
        with sim.WebhookSender(receiver.url("webhook")) as sender:
            assert sender.deliver(sim.delivery(rig.world, first)).status_code == 200
            load_directory(puller, rig.world, tmp_path)  # the next directory export includes them
            assert sender.deliver(sim.delivery(rig.world, second)).status_code == 200
    finally:
        receiver.stop()
    units = {e["source_record_id"].split(":")[1]: e["payload"]["person"]["org_unit"] for e in rig.events()}
    assert units == {sim.token(first.source_record_id): "UNMATCHED",
                     sim.token(second.source_record_id): first.payload.person.org_unit}


def test_given_no_secret_in_the_environment_when_receiver_built_then_error_names_the_variable(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REALISE_WEBHOOK_SECRET")
    with pytest.raises(SourceError, match="environment variable REALISE_WEBHOOK_SECRET .* is not set"):
        WebhookReceiver(_sources(), engine=rig.engine, producer_factory=list, key=KEY)  # type: ignore[arg-type]
    with pytest.raises(SourceError, match="no enabled source of type webhook"):
        WebhookReceiver({}, engine=rig.engine, producer_factory=list, key=KEY)  # type: ignore[arg-type]


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedKafka]:
    """A broker of this test's own, which it stops and starts."""
    broker = EmbeddedKafka(tmp_path / "kafka", free_port())
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()


def test_given_broker_down_when_delivery_arrives_then_503_and_the_retry_after_recovery_is_stored_once(
        warehouse_url: str, tmp_path: Path, own_broker: EmbeddedKafka) -> None:
    broker = own_broker
    settings = Settings.model_validate({"warehouse": {"url": warehouse_url}, "prefect": {"emit_events": False},
                                        "kafka": {"bootstrap": broker.bootstrap, "topic_prefix": "down.",
                                                  "consumer_group": "down"}})
    kafka.ensure_topics(settings, broker.bootstrap)
    engine = create_engine(warehouse_url)
    world = small_world()
    load_directory(Puller(engine, None, key=KEY), world, tmp_path)
    receiver = WebhookReceiver(_sources(), engine=engine, key=KEY, topic_prefix="down.", ack_timeout_seconds=2.0,
                               producer_factory=lambda: kafka.producer(settings, broker.bootstrap,
                                                                       **producer_options(2.0)))
    delivery = sim.deliveries(world)[0]
    try:
        receiver.start()
        with sim.WebhookSender(receiver.url("webhook"), retries=0) as sender:
            sender.post(sim.deliveries(world)[1])  # the producer knows the topic before the broker goes
            broker.stop()
            down = sender.post(delivery)
            assert down.status_code == 503 and down.headers["Retry-After"] == "5"
            assert "broker did not acknowledge" in down.json()["error"]
            broker.start()  # an in-memory broker: it comes back empty
            kafka.ensure_topics(settings, broker.bootstrap)
            sender.retries, sender.backoff = 8, 0.25
            assert sender.deliver(delivery).json()["status"] == "accepted"
        summary = run_ingest(settings, warehouse_url, broker.bootstrap, "drain")
        assert summary.quarantined == 0
        with engine.connect() as conn:
            stored = conn.execute(sa.text("select count(*) from raw.events where source = 'webhook' and "
                                          "source_record_id like :id"), {"id": f"%:{sim.token(delivery.record_id)}"})
            assert stored.scalar() == 1
    finally:
        receiver.stop()
        engine.dispose()


def test_given_realise_webhook_serve_when_running_then_deliveries_are_published_until_sigterm(
        ingest_settings: Settings, warehouse_url: str, kafka_bootstrap: str, tmp_path: Path) -> None:
    kafka.ensure_topics(ingest_settings, kafka_bootstrap)
    engine = create_engine(warehouse_url)
    world = small_world()
    load_directory(Puller(engine, None, key=KEY), world, tmp_path)
    engine.dispose()
    config = tmp_path / "realise.yaml"
    config.write_text(yaml.safe_dump({
        "warehouse": {"url": warehouse_url}, "prefect": {"emit_events": False},
        "kafka": {"bootstrap": kafka_bootstrap, "topic_prefix": ingest_settings.kafka.topic_prefix},
        "sources": {"webhook": sim.source_config()}}))
    port = free_port()
    env = {**os.environ, **sim.ENV, "REALISE_PSEUDONYM_KEY": DEMO_KEY.decode(), "REALISE_DATA_DIR": str(tmp_path)}
    process = subprocess.Popen([REALISE, "--config", str(config), "webhook", "serve", "--port", str(port)],
                               env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.2)
        delivery = sim.deliveries(world)[0]
        with sim.WebhookSender(f"http://127.0.0.1:{port}/webhooks/webhook") as sender:
            answer = sender.deliver(delivery)
        assert answer.status_code == 200, answer.text
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"receiving webhook at http://127.0.0.1:{port}/webhooks/webhook" in err and "accepted 1" in err
    events = read_events(ingest_settings, kafka_bootstrap)
    assert [e["event_id"] for e in events] == [answer.json()["event_id"]]
