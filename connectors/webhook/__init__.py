"""Signed webhooks: push sources, and the `webhook` type for push-style form tools (one delivery, one response).

There is nothing to pull, so `read()` yields nothing and `realise pull` on a push source publishes nothing:
deliveries arrive at `realise webhook serve` (connectors/webhook/receiver.py), which serves every source
whose type is a `PushSource` (`webhook` here, `jira_webhook` in connectors/jira), verifies the signature,
maps the body with the source's `map()` and answers 2xx only once the broker has acknowledged the event.
The event id comes from the response id and its submission time, so a delivery the tool sends twice (after
a lost answer, or replayed) becomes the same event and is stored once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC
from typing import Any, ClassVar

from connectors.core.build import EventBuilder, parse_time
from connectors.core.stream import MappingError, Page, Source, Stream, source_type
from connectors.webhook.settings import EXAMPLE_YAML, WebhookMapping, WebhookOptions, WebhookTransport
from foundation.errors import SourceError
from schemas.events import Event, Kind

__all__ = ["EXAMPLE_YAML", "PushSource", "Webhook", "is_push_type", "lookup"]

_MISSING = object()


def lookup(body: Any, path: str) -> Any:
    """The value at a dotted path (`form_response.hidden.email`), or None."""
    value = body
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part, _MISSING)
        if value is _MISSING:
            return None
    return value


def answer_value(answer: dict[str, Any]) -> Any:
    """The value of one answer in a list of typed answers: `{"type": "number", "number": 4}` → 4.

    Choices arrive as `{"choice": {"label": "Agree"}}`, several as `{"choices": {"labels": [...]}}`.
    """
    kind = answer.get("type")
    value = answer.get(kind) if isinstance(kind, str) else answer.get("value")
    if isinstance(value, dict):
        if "label" in value:
            return value["label"]
        labels = value.get("labels")
        return labels[0] if isinstance(labels, list) and labels else None
    return value


def collect_answers(body: dict[str, Any], mapping: WebhookMapping) -> dict[str, Any]:
    """Answers keyed by question: from a list of typed answers, or an object already keyed by question."""
    raw = lookup(body, mapping.answers)
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, list):
        raise MappingError(f"'{mapping.answers}' is neither a list of answers nor an object (options.mapping.answers)")
    out: dict[str, Any] = {}
    for answer in raw:
        if isinstance(answer, dict):
            key = lookup(answer, mapping.answer_key)
            if isinstance(key, str) and key not in out:
                out[key] = answer_value(answer)
    return out


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise MappingError(f"{what} is {value!r}, not a number")
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+(\.\d+)?\s*", value):
        return float(value)
    raise MappingError(f"{what} is {value!r}, not a number")


def likert_value(value: Any, labels: dict[str, int], what: str) -> int:
    if isinstance(value, str) and not value.strip().lstrip("+-").isdigit():
        wanted = " ".join(value.split()).casefold()
        for label, score in labels.items():
            if " ".join(label.split()).casefold() == wanted:
                return score
        raise MappingError(f"{what} {value!r} is not a number or one of options.mapping.likert_labels")
    number = _number(value, what)
    if number != int(number) or not 1 <= number <= 5:
        raise MappingError(f"{what} is {value!r}, not a whole number from 1 to 5")
    return int(number)


def whole(value: Any, low: int, high: int, what: str) -> int:
    number = _number(value, what)
    if number != int(number) or not low <= number <= high:
        raise MappingError(f"{what} is {value!r}, not a whole number from {low} to {high}")
    return int(number)


class PushSource(Source):
    """A source whose records are pushed to `realise webhook serve` as signed deliveries, never pulled."""

    options: WebhookTransport

    @property
    def event_source(self) -> str:
        """The `source` its events carry (and so their ids are derived from)."""
        return self.name

    def read(self, stream: Stream, state: dict[str, Any]) -> Iterator[Page]:
        """Push-only: deliveries arrive at `realise webhook serve`, so a pull has nothing to read."""
        yield from ()

    def quarantine_copy(self, record: dict[str, Any]) -> dict[str, Any]:
        """The delivery as quarantine may keep it, before the usual redaction of `identifier_fields`."""
        return record


def is_push_type(type_name: str) -> bool:
    """Whether sources of this `type:` are served by the webhook receiver rather than pulled."""
    try:
        return issubclass(source_type("", type_name), PushSource)
    except SourceError:  # an unknown type is reported where sources are built
        return False


class Webhook(PushSource):
    type: ClassVar[str] = "webhook"
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream("deliveries", Kind.FORM_RESPONSE, primary_key=("form_id", "record_id"), cursor_field=None,
               sorted_by_cursor=False),
    )
    options_model = WebhookOptions
    options: WebhookOptions

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # Quarantined copies lose the respondent field wherever it sits in the body.
        self.identifier_fields = tuple(dict.fromkeys((self.options.mapping.respondent.rsplit(".", 1)[-1], "email")))

    def form_code(self, body: dict[str, Any]) -> str:
        form = lookup(body, self.options.mapping.form_id)
        if form in (None, ""):
            raise MappingError(f"form id missing: the body has no '{self.options.mapping.form_id}' "
                               "(options.mapping.form_id)")
        return self.options.mapping.form_codes.get(str(form), str(form))

    def record_id(self, stream: Stream, record: dict[str, Any]) -> str:
        m = self.options.mapping
        return f"{lookup(record, m.form_id) or ''}:{lookup(record, m.record_id) or ''}"

    def map(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> Event | None:
        m = self.options.mapping
        code = self.form_code(record)
        response = lookup(record, m.record_id)
        if response in (None, ""):
            raise MappingError(f"response id missing: the body has no '{m.record_id}' (options.mapping.record_id)")
        submitted = parse_time(lookup(record, m.submitted_at), f"'{m.submitted_at}'")
        version = parse_time(lookup(record, m.version), f"'{m.version}'") if m.version else submitted
        answers = collect_answers(record, m)
        likert = {code_: likert_value(answers[key], m.likert_labels, f"answer to '{key}'")
                  for key, code_ in m.likert_items.items() if answers.get(key) not in (None, "")}
        recommend = minutes = comment = None
        if m.recommend and answers.get(m.recommend) not in (None, ""):
            recommend = whole(answers[m.recommend], 0, 10, f"answer to '{m.recommend}'")
        if m.minutes_saved and answers.get(m.minutes_saved) not in (None, ""):
            minutes = _number(answers[m.minutes_saved], f"answer to '{m.minutes_saved}'")
        if m.comment and answers.get(m.comment) not in (None, ""):
            comment = build.text(answers[m.comment])
        if not likert and recommend is None and minutes is None and comment is None:
            raise MappingError("no answer to any mapped question (options.mapping.likert_items, recommend, "
                               "minutes_saved, comment)")
        respondent = lookup(record, m.respondent)
        return build.event(Kind.FORM_RESPONSE, record_id=f"{code}:{response}",
                           version=version.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                           occurred_at=submitted, payload={
                               "form_id": code, "person": build.person(respondent), "likert": likert,
                               "recommend": recommend, "minutes_saved_per_shift": minutes, "comment": comment})
