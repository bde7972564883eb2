"""Google service-account login: a signed JWT exchanged for an access token (OAuth 2.0 JWT bearer grant).

Google APIs such as the Forms API take no client-credentials grant: a service account signs a JWT with the
private key from its JSON key file (RS256; `iss` the account's e-mail, `aud` the key's `token_uri`, `scope`,
one hour of validity, `sub` when domain-wide delegation acts for a user) and posts it to the token endpoint
as `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`. The key file comes from an environment
variable holding either its JSON or the path to it (as GOOGLE_APPLICATION_CREDENTIALS does).
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

from foundation.errors import SourceError

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
LIFETIME_SECONDS = 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_key(value: str, source: str, variable: str) -> dict[str, Any]:
    """The service-account key from an environment variable's value: the key's JSON, or a path to it."""
    fix = (f"put a service account's JSON key (Google Cloud console > IAM > Service accounts > Keys), or the "
           f"path to its file, in {variable}")
    text = value.strip()
    if not text.startswith("{"):
        path = Path(text).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SourceError(f"source '{source}': cannot read the key file {path} named by {variable} "
                              f"({exc.strerror}); {fix}") from None
    try:
        key = json.loads(text)
    except ValueError:
        raise SourceError(f"source '{source}': {variable} is not a JSON key; {fix}") from None
    missing = [f for f in ("client_email", "private_key") if not isinstance(key, dict) or not key.get(f)]
    if missing or key.get("type", "service_account") != "service_account":
        raise SourceError(f"source '{source}': the key in {variable} is not a service account key (it needs "
                          f"type service_account, client_email and private_key); {fix}")
    return key


def assertion(key: dict[str, Any], scope: str, *, subject: str | None = None, now: float | None = None,
              source: str = "", variable: str = "") -> str:
    """The signed JWT a token endpoint exchanges for an access token."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        private = serialization.load_pem_private_key(str(key["private_key"]).encode(), password=None)
    except (ValueError, TypeError):
        private = None
    if not isinstance(private, rsa.RSAPrivateKey):
        raise SourceError(f"source '{source}': the private_key in {variable} is not an RSA key in PEM form; "
                          "download a new JSON key for the service account")
    issued = int(now if now is not None else time.time())
    header = {"alg": "RS256", "typ": "JWT", **({"kid": key["private_key_id"]} if key.get("private_key_id") else {})}
    claims = {"iss": key["client_email"], "scope": scope, "aud": key.get("token_uri") or GOOGLE_TOKEN_URI,
              "iat": issued, "exp": issued + LIFETIME_SECONDS, **({"sub": subject} if subject else {})}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"
