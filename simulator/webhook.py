"""A push-style form tool: it POSTs each new response to Realise as a signed webhook, retrying until a 2xx.

The body is Typeform's `form_response` payload (`event_id`, `event_type`, `form_response` with `form_id`,
`token`, `submitted_at`, `hidden`, `definition.fields` and typed `answers`, each naming its field's `ref`);
pulse surveys ask opinion scales (numbers), readiness surveys multiple choice (labels). Each attempt is
signed afresh with the Realise scheme: `X-Realise-Timestamp: <unix seconds>`,
`X-Realise-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`, and carries the delivery's id in
`X-Realise-Delivery` (the same id on every retry of one delivery). The shared secret is SECRET, exported
as REALISE_WEBHOOK_SECRET (ENV).

The trust's form responses are split between the form tools with `assign(record_id, SHARES)`; this tool
holds the "webhook" share.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from schemas.events import Event, Kind
from simulator.googleforms import (
    COMMENT_TITLE,
    LABELS,
    MINUTES_SAVED_TITLE,
    RECOMMEND_TITLE,
    SHARES,
    SYSTEM_NAMES,
    TITLES,
)
from simulator.world import World

SOURCE = "webhook"
SECRET = "realise-sim-webhook-secret-4f1c9a"
ENV = {"REALISE_WEBHOOK_SECRET": SECRET}


def signature(secret: bytes, body: bytes, timestamp: str) -> str:
    """`X-Realise-Signature` as the webhook source's documented scheme specifies it: `sha256=` and the lower-case hex
    HMAC-SHA256, keyed with the shared secret, of the timestamp header's value, a full stop and the raw body."""
    return "sha256=" + hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def _hex(text: str, length: int = 32) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def tool_form_id(code: str) -> str:
    """The form tool's own id for one of the trust's surveys (Typeform-style, 8 letters and digits)."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
    number = int(_hex(f"form:{code}"), 16)
    return "".join(alphabet[(number >> (6 * i)) % len(alphabet)] for i in range(8))


def token(record: str) -> str:
    return _hex(f"token:{record}")


def webhook_events(world: World) -> list[Event]:
    """The current version of every form response the trust collected with the push-style tool."""
    return world.latest(Kind.FORM_RESPONSE, SOURCE, SHARES)


def expected_ids(world: World) -> set[str]:
    """The source_record_id values the receiver gives these responses."""
    return {f"{e.payload.form_id}:{token(e.source_record_id)}" for e in webhook_events(world)}  # type: ignore[union-attr]


def form_codes() -> dict[str, str]:
    return {tool_form_id(f"{s}-{k}"): f"{s}-{k}" for s in SYSTEM_NAMES for k in ("pulse", "readiness")}


def _field(code: str, ref: str, kind: str, title: str) -> dict[str, Any]:
    return {"id": _hex(f"{code}:{ref}", 12), "ref": ref, "type": kind, "title": title}


def payload(world: World, event: Event) -> dict[str, Any]:
    """One response as the tool's `form_response` webhook body."""
    p = event.payload
    code = p.form_id  # type: ignore[union-attr]
    pulse = code.endswith("-pulse")
    fields: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    for item, value in p.likert.items():  # type: ignore[union-attr]
        field = _field(code, item, "opinion_scale" if pulse else "multiple_choice", TITLES[item])
        fields.append(field)
        short = {k: field[k] for k in ("id", "type", "ref")}
        answers.append({"type": "number", "number": value, "field": short} if pulse
                       else {"type": "choice", "choice": {"label": LABELS[value]}, "field": short})
    extras = (("recommend", "nps", RECOMMEND_TITLE, p.recommend, "number"),  # type: ignore[union-attr]
              ("minutes_saved", "number", MINUTES_SAVED_TITLE, p.minutes_saved_per_shift, "number"),  # type: ignore[union-attr]
              ("comment", "long_text", COMMENT_TITLE, p.comment, "text"))  # type: ignore[union-attr]
    for ref, kind, title, value, answer_type in extras:
        field = _field(code, ref, kind, title)
        fields.append(field)
        if value is not None:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            answers.append({"type": answer_type, answer_type: value,
                            "field": {k: field[k] for k in ("id", "type", "ref")}})
    system, survey = code.split("-", 1)
    title = f"{SYSTEM_NAMES.get(system, system)} {'post go-live pulse' if pulse else 'go-live readiness'} survey"
    submitted = event.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    form_id = tool_form_id(code)
    return {
        "event_id": "01" + _hex(f"event:{event.source_record_id}:{event.record_version}", 24).upper(),
        "event_type": "form_response",
        "form_response": {
            "form_id": form_id, "token": token(event.source_record_id),
            "landed_at": submitted, "submitted_at": submitted,
            "hidden": {"email": world.identity(p.person.pseudonym).email},  # type: ignore[union-attr]
            "definition": {"id": form_id, "title": title, "fields": fields},
            "answers": answers,
        },
    }


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    record_id: str  # the world's record id, for tests
    body: bytes


def delivery(world: World, event: Event) -> Delivery:
    body = payload(world, event)
    return Delivery(body["event_id"], event.source_record_id, json.dumps(body, separators=(",", ":")).encode())


def deliveries(world: World) -> list[Delivery]:
    return [delivery(world, e) for e in webhook_events(world)]


class WebhookSender:
    """Sends deliveries to one receiver URL, signing each attempt, retrying non-2xx answers like a form tool."""

    def __init__(self, url: str, secret: str = SECRET, *, retries: int = 3, backoff_seconds: float = 0.05,
                 clock: Callable[[], float] = time.time) -> None:
        self.url, self.secret, self.retries, self.backoff, self.clock = url, secret.encode(), retries, \
            backoff_seconds, clock
        self.client = httpx.Client(timeout=30.0)
        self.sent: set[str] = set()  # delivery ids answered with 2xx

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def headers(self, item: Delivery, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(self.clock()) if timestamp is None else timestamp)
        return {"Content-Type": "application/json", "User-Agent": "simulated-form-tool/1.0",
                "X-Realise-Delivery": item.delivery_id, "X-Realise-Timestamp": stamp,
                "X-Realise-Signature": signature(self.secret, item.body, stamp)}

    def post(self, item: Delivery, *, headers: dict[str, str] | None = None,
             body: bytes | None = None) -> httpx.Response:
        """One attempt, signed now unless `headers` are given (tests tamper with them)."""
        return self.client.post(self.url, content=item.body if body is None else body,
                                headers=headers if headers is not None else self.headers(item))

    def deliver(self, item: Delivery) -> httpx.Response:
        """Attempts until a 2xx, a 4xx other than 408/429 (the tool gives up), or retries run out."""
        for attempt in range(self.retries + 1):
            response = self.post(item)
            if response.is_success:
                self.sent.add(item.delivery_id)
                return response
            if response.status_code < 500 and response.status_code not in (408, 429) or attempt == self.retries:
                return response
            time.sleep(self.backoff * 2 ** attempt)
        return response

    def send_new(self, world: World) -> list[httpx.Response]:
        """Deliver every response submitted by the world's clock that was not delivered yet."""
        return [self.deliver(d) for d in deliveries(world) if d.delivery_id not in self.sent]


def source_config(root: str = "", folder: Path | None = None) -> dict[str, Any]:
    """The `sources:` entry for the receiver of this tool's webhooks (secret in ENV)."""
    return {"type": "webhook", "options": {"secret_env": "REALISE_WEBHOOK_SECRET",
                                           "mapping": {"form_codes": form_codes()}}}
