"""Options of a `type: webhook` source: how deliveries are signed and how their JSON maps to a form response.

The defaults match a Typeform-style `form_response` payload (answers as a list, each naming its field's
`ref`) signed with the Realise scheme: `X-Realise-Signature: sha256=<hex HMAC-SHA256>` over
`<X-Realise-Timestamp>.<body>`, the timestamp in Unix seconds. A tool that signs the body alone (Typeform,
Tally: base64) can be received with `timestamp_header: null` and `signature_encoding: base64`; the
replay window then rests on delivery ids only.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from connectors.core.stream import Options
from connectors.core.survey import LikertMappingOptions

ITEM_CODES = ("confidence", "training_fit", "system_speed", "patient_safety", "would_not_go_back",
              "support_available", "login_reliable", "workflow_fit", "login_ready", "time_to_train")
DEFAULT_LABELS = {"Strongly disagree": 1, "Disagree": 2, "Neither agree nor disagree": 3, "Neutral": 3,
                  "Agree": 4, "Strongly agree": 5}


class WebhookMapping(LikertMappingOptions):
    """Where each field is in a delivery: dotted paths into the JSON body (`form_response.hidden.email`)."""

    record_id: str = Field("form_response.token", description="The response's id in the form tool")
    form_id: str = Field("form_response.form_id", description="The form's id in the form tool")
    form_codes: dict[str, str] = Field(default_factory=dict,
                                       description="Form tool's form id → form_id on the events (default: as sent)")
    submitted_at: str = Field("form_response.submitted_at", description="ISO 8601 submission time")
    version: str | None = Field(None, description="Changes when a response is edited (default: submitted_at)")
    respondent: str = Field("form_response.hidden.email", description="Work e-mail address or username")
    answers: str = Field("form_response.answers",
                         description="A list of answers (each naming its question) or an object keyed by question")
    answer_key: str = Field("field.ref", description="In a list of answers: the path naming the question")
    likert_items: dict[str, str] = Field(default_factory=lambda: {code: code for code in ITEM_CODES},
                                         description="Question key → Likert item code")
    likert_labels: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_LABELS),
                                          description="Answer label → 1..5, for choice questions")
    recommend: str | None = Field("recommend", description="Question key of the 0-10 recommend question")
    minutes_saved: str | None = Field("minutes_saved", description="Question key of minutes saved per shift")
    comment: str | None = Field("comment", description="Question key of the free-text comment (scrubbed)")


class WebhookTransport(Options):
    """How deliveries reach the receiver: the shared secret, the signature scheme, delivery ids and limits."""

    secret_env: str = Field("REALISE_WEBHOOK_SECRET", description="Environment variable holding the shared secret")
    signature_header: str = Field("X-Realise-Signature", description="Header carrying the signature")
    signature_prefix: str = Field("sha256=", description="Text before the signature in the header")
    signature_encoding: Literal["hex", "base64"] = "hex"
    timestamp_header: str | None = Field(
        "X-Realise-Timestamp", description="Header with the signing time (Unix seconds), signed as "
                                           "`<timestamp>.<body>`; null: the signature covers the body alone")
    delivery_id_header: str | None = Field("X-Realise-Delivery", description="Header with the delivery's id")
    delivery_id_field: str | None = Field("event_id", description="Body path of the delivery id, if no header")
    max_body_bytes: int = Field(256 * 1024, ge=1024, le=16 * 1024 * 1024,
                                description="Larger bodies are refused (413) before they are read")
    replay_window_seconds: int = Field(300, ge=1, le=86_400,
                                       description="Deliveries signed longer ago (or ahead) than this are refused; "
                                                   "delivery ids are remembered this long")

    @model_validator(mode="after")
    def _header_names(self) -> WebhookTransport:
        for name in (self.signature_header, self.timestamp_header, self.delivery_id_header):
            if name is not None and not re.fullmatch(r"[A-Za-z0-9-]+", name):
                raise ValueError(f"header name {name!r} may hold only letters, digits and -")
        return self


class WebhookOptions(WebhookTransport):
    mapping: WebhookMapping = Field(default_factory=WebhookMapping)


EXAMPLE_YAML = """\
sources:
  forms_webhook:                     # senders POST to http(s)://<receiver>/webhooks/forms_webhook
    type: webhook
    system: EPR                      # for respondents the staff directory does not know
    options:
      secret_env: REALISE_WEBHOOK_SECRET
      signature_header: X-Realise-Signature       # value: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">
      timestamp_header: X-Realise-Timestamp       # Unix seconds; null for tools that sign the body only
      delivery_id_header: X-Realise-Delivery
      max_body_bytes: 262144
      replay_window_seconds: 300
      mapping:
        record_id: form_response.token
        form_id: form_response.form_id
        form_codes: {Xk3PqL9a: epr-pulse}         # the tool's form id -> form_id on the events
        submitted_at: form_response.submitted_at
        respondent: form_response.hidden.email
        answers: form_response.answers
        answer_key: field.ref
        likert_items: {confidence: confidence, system_speed: system_speed}
        recommend: recommend
        minutes_saved: minutes_saved
        comment: comment
"""
