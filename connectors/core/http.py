"""One HTTP client for every API source: auth, timeouts, retries with backoff and one error taxonomy.

Retriable: 429 (honouring Retry-After), 5xx, timeouts and dropped connections, retried up to `max_retries`.
Fatal: every other 4xx, raised as a SourceError that says what to fix.

How long to wait before a retry:
- the server's Retry-After (delta-seconds or an HTTP date, RFC 9110 §10.2.3), in full: rate limits such as
  Zendesk's incremental export (10 requests a minute, `Retry-After: 47`) count every early retry against
  the budget. `max_backoff_seconds` does not shorten it;
- a Retry-After beyond `max_retry_after_seconds` (default 600 s) is a SourceError saying how long the source
  asked to wait, rather than a pull that sleeps for hours;
- without Retry-After, exponential backoff with jitter from `backoff_seconds`, capped at `max_backoff_seconds`.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import httpx

from connectors.core import google
from connectors.core.errors import RetriableError
from foundation.errors import SourceError
from foundation.source_config import SourceConfig

log = logging.getLogger(__name__)
RETRIABLE_STATUS = frozenset({429, 500, 502, 503, 504})
TOKEN_GRANTS = frozenset({"oauth2_client_credentials", "google_service_account"})  # auth that fetches tokens
MAX_RETRY_AFTER_SECONDS = 600.0  # longest Retry-After a pull waits out; longer asks fail with a SourceError


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent or unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class HttpClient:
    """A source's HTTP session. `get_json` is what streams call; everything else is policy."""

    def __init__(self, source: str, config: SourceConfig, *, headers: Mapping[str, str] | None = None,
                 sleep: Callable[[float], None] = time.sleep, auth: httpx.Auth | None = None,
                 max_retry_after_seconds: float = MAX_RETRY_AFTER_SECONDS) -> None:
        """`auth` replaces the scheme built from `config.auth`, for APIs that shape credentials their own way
        (Zendesk's `{email}/token` user name); errors still name the configured environment variables.
        `sleep` waits between attempts; `max_retry_after_seconds` bounds how long a Retry-After may ask for."""
        if not config.base_url:
            raise SourceError(f"source '{source}' ({config.type}) needs base_url: set sources.{source}.base_url")
        self.source, self.config, self._sleep = source, config, sleep
        self.max_retry_after_seconds = max_retry_after_seconds
        self.base_url = config.base_url.rstrip("/") + "/"
        self._token: tuple[str, float] | None = None
        self.requests = 0
        self.retries = 0
        self._counting = threading.Lock()  # a connector may send from several threads (Moodle's per-learner calls)
        if auth is None and config.auth.type == "basic":
            auth = httpx.BasicAuth(config.auth.secret("username_env", source),
                                   config.auth.secret("password_env", source))
        self._client = httpx.Client(timeout=httpx.Timeout(config.timeout_seconds), auth=auth,
                                    headers={"Accept": "application/json", "User-Agent": "realise-connector",
                                             **(headers or {})},
                                    follow_redirects=True)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return urljoin(self.base_url, path_or_url.lstrip("/"))

    # -- auth ---------------------------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        auth = self.config.auth
        if auth.type == "bearer":
            return {"Authorization": f"Bearer {auth.secret('token_env', self.source)}"}
        if auth.type == "api_key":
            token = auth.secret("token_env", self.source)
            return {auth.header: token}
        if auth.type in TOKEN_GRANTS:
            return {"Authorization": f"Bearer {self._oauth_token()}"}
        return {}

    def _oauth_token(self) -> str:
        """An access token from the token endpoint, kept until 30 s before it expires."""
        if self._token and self._token[1] > time.monotonic():
            return self._token[0]
        auth = self.config.auth
        if auth.type == "google_service_account":
            key = google.load_key(auth.secret("key_env", self.source), self.source, auth.key_env or "")
            token_url = auth.token_url or key.get("token_uri") or google.GOOGLE_TOKEN_URI
            data = {"grant_type": google.JWT_BEARER_GRANT,
                    "assertion": google.assertion(key, auth.scope or "", subject=auth.subject, source=self.source,
                                                  variable=auth.key_env or "")}
        else:
            token_url = auth.token_url or ""
            data = {"grant_type": "client_credentials", "client_id": auth.secret("client_id_env", self.source),
                    "client_secret": auth.secret("client_secret_env", self.source)}
            if auth.scope:
                data["scope"] = auth.scope
        response = self._send("POST", self.url(token_url), data=data, authenticate=False,
                              allow=(400,) if auth.type == "google_service_account" else ())
        body = self.json_of(response)
        if response.status_code == 400:  # Google's token endpoint refuses a bad grant with 400 invalid_grant
            error = body.get("error_description") or body.get("error") if isinstance(body, dict) else body
            raise SourceError(f"source '{self.source}': the token endpoint {token_url} refused the service "
                              f"account ({error}); check the key in {auth.key_env} and that scope "
                              f"'{auth.scope}' is allowed for it")
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise SourceError(f"source '{self.source}': the token endpoint {token_url} returned no access_token")
        lifetime = float(body.get("expires_in") or 3600)
        self._token = (token, time.monotonic() + max(0.0, lifetime - 30))
        return token

    # -- requests -----------------------------------------------------------------------------------

    def get_json(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.json_of(self.request("GET", path_or_url, params=params))

    def request(self, method: str, path_or_url: str, *, allow: Collection[int] = (), **kwargs: Any) -> httpx.Response:
        """One request with the retry policy; statuses in `allow` are returned rather than raised, for APIs
        whose 4xx answers a connector handles itself (an expired cursor)."""
        return self._send(method, self.url(path_or_url), allow=allow, **kwargs)

    def _send(self, method: str, url: str, *, authenticate: bool = True, allow: Collection[int] = (),
              **kwargs: Any) -> httpx.Response:
        attempt = 0
        refreshed = False
        extra_headers = kwargs.pop("headers", {})
        while True:
            with self._counting:
                self.requests += 1
            headers = {**extra_headers, **(self._auth_headers() if authenticate else {})}
            try:
                response = self._client.request(method, url, headers=headers, **kwargs)
            except httpx.TimeoutException as exc:
                problem, wait = f"timed out after {self.config.timeout_seconds:g} s ({type(exc).__name__})", None
            except httpx.TransportError as exc:
                problem, wait = f"connection failed ({type(exc).__name__}: {exc})", None
                if isinstance(exc, httpx.ConnectError) and attempt >= min(2, self.config.max_retries):
                    raise SourceError(f"source '{self.source}': cannot connect to {self.base_url} ({exc}); "
                                      f"check sources.{self.source}.base_url and that the service is up") from None
            else:
                if response.status_code < 400 or response.status_code in allow:
                    return response
                if (response.status_code == 401 and self.config.auth.type in TOKEN_GRANTS
                        and authenticate and not refreshed):
                    self._token, refreshed = None, True
                    continue
                if response.status_code not in RETRIABLE_STATUS:
                    raise self._fatal(response)
                problem = f"HTTP {response.status_code}"
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if wait is not None and wait > self.max_retry_after_seconds:
                    raise SourceError(
                        f"source '{self.source}' asked to wait {wait:.0f} s ({problem}, Retry-After: "
                        f"{response.headers['Retry-After']}) before {method} {url} is retried, longer than the "
                        f"{self.max_retry_after_seconds:g} s a pull waits out: pull again once that time has passed")
            if attempt >= self.config.max_retries:
                raise RetriableError(f"source '{self.source}': {method} {url} still failing after "
                                     f"{attempt + 1} attempts: {problem}")
            if wait is not None:
                delay = wait  # the server's own figure, in full: retrying earlier spends its rate limit
            else:
                backoff = min(self.config.max_backoff_seconds, self.config.backoff_seconds * 2 ** attempt)
                delay = backoff * (0.5 + random.random() / 2)
            log.info("%s: %s on %s %s; retry %d in %.2f s", self.source, problem, method, url, attempt + 1, delay)
            with self._counting:
                self.retries += 1
            attempt += 1
            self._sleep(delay)

    def _fatal(self, response: httpx.Response) -> SourceError:
        status = response.status_code
        where = f"source '{self.source}' ({self.config.type}) at {response.request.url}"
        auth = self.config.auth
        names = [getattr(auth, f) for f in ("username_env", "password_env", "token_env", "client_id_env",
                                             "client_secret_env", "key_env") if getattr(auth, f)]
        creds = f"check the credentials in {', '.join(names)}" if names else \
            f"set sources.{self.source}.auth (type and the environment variables holding the secrets)"
        if status == 401:
            return SourceError(f"{where}: credentials were rejected (HTTP 401); {creds}")
        if status == 403:
            return SourceError(f"{where}: permission denied (HTTP 403); give the integration user read access "
                               "to this resource")
        if status == 404:
            return SourceError(f"{where}: not found (HTTP 404); check sources.{self.source}.base_url and options")
        detail = response.text[:300].replace("\n", " ")
        return SourceError(f"{where}: request refused (HTTP {status}): {detail}")

    def json_of(self, response: httpx.Response) -> Any:
        """The JSON body of an answer, or an error saying the base URL points somewhere else."""
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("content-type", "unknown content type")
            raise SourceError(f"source '{self.source}': {response.request.url} answered {kind}, not JSON; "
                              f"check sources.{self.source}.base_url points at the API") from None
