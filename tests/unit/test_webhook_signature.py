"""Webhook signatures: HMAC-SHA256 over `<timestamp>.<body>`, the replay window, and the options that shape them."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
import yaml

from connectors.webhook.settings import EXAMPLE_YAML, WebhookOptions
from connectors.webhook.signature import Rejected, check_window, parse_timestamp, sign, verify
from foundation.config import Settings
from foundation.errors import SourceError
from foundation.source_config import SourceConfig, parse_options

SECRET = b"0123456789abcdef-secret"
BODY = b'{"form_response":{"token":"abc"}}'


def test_given_body_and_timestamp_when_signed_then_header_is_hex_hmac_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET, b"1767225600." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, "1767225600") == f"sha256={expected}"
    verify(SECRET, BODY, "1767225600", f"sha256={expected}")


def test_given_tampered_body_timestamp_or_secret_when_verified_then_401() -> None:
    header = sign(SECRET, BODY, "1767225600")
    for body, stamp, secret in ((BODY + b" ", "1767225600", SECRET), (BODY, "1767225601", SECRET),
                                (BODY, "1767225600", b"another-secret-value")):
        with pytest.raises(Rejected, match="does not match the body") as caught:
            verify(secret, body, stamp, header, header_name="X-Realise-Signature")
        assert caught.value.status == 401


def test_given_missing_or_blank_signature_when_verified_then_401_names_the_header() -> None:
    for header in (None, "", "   "):
        with pytest.raises(Rejected, match="missing X-Sig") as caught:
            verify(SECRET, BODY, "1", header, header_name="X-Sig")
        assert caught.value.status == 401


def test_given_signature_without_prefix_or_in_upper_case_when_verified_then_refused() -> None:
    digest = sign(SECRET, BODY, "5").removeprefix("sha256=")
    for header in (digest, f"sha256={digest.upper()}", f"sha1={digest}"):
        with pytest.raises(Rejected):
            verify(SECRET, BODY, "5", header)


def test_given_two_signatures_during_secret_rotation_when_verified_then_either_matches() -> None:
    old = sign(b"the-old-secret-123456", BODY, "7")
    new = sign(SECRET, BODY, "7")
    verify(SECRET, BODY, "7", f"{old}, {new}")
    verify(b"the-old-secret-123456", BODY, "7", f"{old},{new}")


def test_given_body_only_base64_signing_when_verified_then_it_matches_typeform_style() -> None:
    digest = base64.b64encode(hmac.new(SECRET, BODY, hashlib.sha256).digest()).decode()
    assert sign(SECRET, BODY, None, encoding="base64") == f"sha256={digest}"
    verify(SECRET, BODY, None, f"sha256={digest}", encoding="base64")
    with pytest.raises(Rejected):
        verify(SECRET, BODY, None, f"sha256={digest}", encoding="hex")


def test_given_timestamp_header_values_when_parsed_then_missing_is_401_and_garbage_400() -> None:
    assert parse_timestamp(" 1767225600 ") == 1767225600
    with pytest.raises(Rejected) as missing:
        parse_timestamp(None, "X-Realise-Timestamp")
    assert missing.value.status == 401 and "missing X-Realise-Timestamp" in missing.value.reason
    for bad in ("2026-01-01T00:00:00Z", "-5", "1.5"):
        with pytest.raises(Rejected, match="must be Unix seconds") as caught:
            parse_timestamp(bad)
        assert caught.value.status == 400


def test_given_timestamps_around_the_window_when_checked_then_only_inside_passes() -> None:
    now = 1_767_225_600.0
    check_window(int(now) - 300, now, 300)
    check_window(int(now) + 300, now, 300)
    with pytest.raises(Rejected, match="signed 301 s ago, outside the 300 s replay window") as old:
        check_window(int(now) - 301, now, 300)
    assert old.value.status == 401
    with pytest.raises(Rejected, match="301 s in the future"):
        check_window(int(now) + 301, now, 300)


def test_given_webhook_options_when_parsed_then_defaults_and_bad_values_name_the_setting() -> None:
    config = SourceConfig(type="webhook")
    options = parse_options(WebhookOptions, config, "hook")
    assert (options.signature_header, options.timestamp_header, options.max_body_bytes,
            options.replay_window_seconds) == ("X-Realise-Signature", "X-Realise-Timestamp", 262_144, 300)
    config.options = {"max_body_bytes": 10}
    with pytest.raises(SourceError, match="sources.hook.options.max_body_bytes"):
        parse_options(WebhookOptions, config, "hook")
    config.options = {"signature_header": "X Signature"}
    with pytest.raises(SourceError, match="may hold only letters, digits and -"):
        parse_options(WebhookOptions, config, "hook")
    config.options = {"mapping": {"likert_items": {"q1": "Q1"}}}
    with pytest.raises(SourceError, match="sources.hook.options.mapping.likert_items"):
        parse_options(WebhookOptions, config, "hook")
    config.options = {"mapping": {"respondnet": "x"}}
    with pytest.raises(SourceError, match="options.mapping.respondnet is not a setting"):
        parse_options(WebhookOptions, config, "hook")


def test_given_the_readme_example_when_loaded_then_it_is_a_valid_webhook_source() -> None:
    sources = Settings.model_validate(yaml.safe_load(EXAMPLE_YAML)).sources
    options = parse_options(WebhookOptions, sources["forms_webhook"], "forms_webhook")
    assert options.mapping.form_codes == {"Xk3PqL9a": "epr-pulse"}


def test_given_jira_webhook_options_when_a_body_signed_as_jira_cloud_signs_is_verified_then_only_it_passes() -> None:
    from connectors.jira.settings import WEBHOOK_EXAMPLE_YAML, JiraWebhookOptions

    sources = Settings.model_validate(yaml.safe_load(WEBHOOK_EXAMPLE_YAML)).sources
    options = parse_options(JiraWebhookOptions, sources["jira_push"], "jira_push")
    assert (options.signature_header, options.timestamp_header, options.delivery_id_header, options.pull_source,
            options.secret_env) == ("X-Hub-Signature", None, "X-Atlassian-Webhook-Identifier", "jira",
                                    "JIRA_WEBHOOK_SECRET")
    body = b'{"timestamp":1782900000123,"webhookEvent":"jira:issue_created","issue":{"key":"ITSD-1"}}'
    websub = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()  # WebSub: the raw body alone
    verify(SECRET, body, None, websub, encoding=options.signature_encoding, prefix=options.signature_prefix)
    with pytest.raises(Rejected, match="X-Hub-Signature does not match"):
        verify(SECRET, body, None, sign(SECRET, body, "1782900000"), header_name=options.signature_header)
