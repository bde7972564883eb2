"""Google service-account login: the JWT a token endpoint exchanges, and reading the key."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from connectors.core.google import GOOGLE_TOKEN_URI, assertion, load_key
from foundation.errors import SourceError
from foundation.source_config import AuthConfig
from simulator.googleforms import SERVICE_ACCOUNT, service_account_key

SCOPE = "https://www.googleapis.com/auth/forms.responses.readonly"


def _part(text: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def test_given_a_service_account_key_when_asserted_then_the_jwt_is_rs256_signed_with_googles_claims() -> None:
    key = json.loads(service_account_key())
    jwt = assertion(key, SCOPE, subject="lead@trust.nhs.uk", now=1_800_000_000)
    header, claims, signature = jwt.split(".")
    assert _part(header) == {"alg": "RS256", "typ": "JWT", "kid": key["private_key_id"]}
    assert _part(claims) == {"iss": SERVICE_ACCOUNT, "scope": SCOPE, "aud": GOOGLE_TOKEN_URI,
                             "iat": 1_800_000_000, "exp": 1_800_003_600, "sub": "lead@trust.nhs.uk"}
    public = serialization.load_pem_private_key(key["private_key"].encode(), password=None).public_key()
    public.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
                  f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())


def test_given_a_key_with_its_own_token_uri_and_no_subject_when_asserted_then_those_claims_follow() -> None:
    key = {**json.loads(service_account_key()), "token_uri": "https://oauth2.example.test/token"}
    claims = _part(assertion(key, SCOPE, now=0).split(".")[1])
    assert claims["aud"] == "https://oauth2.example.test/token" and "sub" not in claims


def test_given_the_key_as_json_or_as_a_path_when_loaded_then_both_give_the_key(tmp_path: Path) -> None:
    text = service_account_key()
    path = tmp_path / "key.json"
    path.write_text(text)
    assert load_key(text, "forms", "KEY") == load_key(str(path), "forms", "KEY") == json.loads(text)


@pytest.mark.parametrize(("value", "says"), [
    ("{not json", "KEY is not a JSON key"),
    ('{"type": "authorized_user", "client_id": "x"}', "is not a service account key"),
    ('{"type": "service_account", "client_email": "a@b"}', "needs type service_account, client_email and "
                                                           "private_key"),
    ("/nowhere/key.json", "cannot read the key file /nowhere/key.json named by KEY"),
])
def test_given_something_else_in_the_variable_when_loaded_then_the_error_says_how_to_get_a_key(
        value: str, says: str) -> None:
    with pytest.raises(SourceError, match="IAM > Service accounts > Keys") as caught:
        load_key(value, "forms", "KEY")
    assert says in str(caught.value)


def test_given_a_private_key_that_is_not_pem_when_asserted_then_the_error_says_download_a_new_key() -> None:
    key = {**json.loads(service_account_key()), "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n"}
    with pytest.raises(SourceError, match="not an RSA key in PEM form; download a new JSON key"):
        assertion(key, SCOPE, source="forms", variable="KEY")


def test_given_google_service_account_auth_without_key_or_scope_when_configured_then_both_are_named() -> None:
    with pytest.raises(ValueError, match="google_service_account needs key_env, scope"):
        AuthConfig(type="google_service_account")
