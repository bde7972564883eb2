"""The shared HTTP client against a tiny local server: Retry-After, retries, fatal 4xx advice and OAuth2 tokens."""

from __future__ import annotations

import base64
import email.utils
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connectors.core.errors import RetriableError
from connectors.core.http import HttpClient, retry_after_seconds
from foundation.errors import SourceError
from foundation.source_config import SourceConfig
from simulator.server import Api, Fault, Request, Response, SimServer


class TinyApi(Api):
    """`/things` answers JSON for a valid bearer token or basic login; `/oauth/token` issues tokens."""

    prefix = "/tiny"

    def __init__(self) -> None:
        super().__init__()
        self.tokens_issued: list[str] = []
        self.valid_tokens: set[str] = set()
        self.status_for: dict[str, int] = {}

    def authorise(self, request: Request) -> Response | None:
        if request.path == "/oauth/token":
            return None
        header = request.headers.get("authorization", "")
        basic = "Basic " + base64.b64encode(b"user:secret").decode()
        if header == basic or header.removeprefix("Bearer ") in self.valid_tokens:
            return None
        return Response(401, {"error": "invalid_token"})

    def handle(self, request: Request) -> Response:
        if request.path == "/oauth/token":
            form = parse_qs(request.body.decode())
            if form.get("client_id") != ["app"] or form.get("client_secret") != ["s3cret"]:
                return Response(401, {"error": "invalid_client"})
            token = f"token-{len(self.tokens_issued) + 1}"
            self.tokens_issued.append(token)
            self.valid_tokens.add(token)
            return Response(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})
        if request.path in self.status_for:
            return Response(self.status_for[request.path], {"message": "nope"})
        if request.path == "/html":
            return Response(200, b"<html>login page</html>", content_type="text/html")
        return Response(200, {"ok": True, "path": request.path})


@pytest.fixture(scope="module")
def tiny_server() -> Iterator[tuple[SimServer, TinyApi]]:
    api = TinyApi()
    with SimServer([api]) as server:
        yield server, api


@pytest.fixture
def tiny(tiny_server: tuple[SimServer, TinyApi]) -> tuple[SimServer, TinyApi]:
    """The module's server with no planned faults and a fresh API state."""
    server, api = tiny_server
    server.faults.clear()
    api.tokens_issued, api.valid_tokens, api.status_for = [], set(), {}
    return server, api


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINY_USER", "user")
    monkeypatch.setenv("TINY_PASSWORD", "secret")
    monkeypatch.setenv("TINY_CLIENT_ID", "app")
    monkeypatch.setenv("TINY_CLIENT_SECRET", "s3cret")


def _client(server: SimServer, auth: dict[str, Any] | None = None, **settings: Any) -> tuple[HttpClient, list[float]]:
    slept: list[float] = []
    config = SourceConfig(type="tiny", base_url=server.url("/tiny"),
                          auth=auth or {"type": "basic", "username_env": "TINY_USER", "password_env": "TINY_PASSWORD"},
                          **{"backoff_seconds": 0.01, "max_retries": 3, **settings})
    return HttpClient("tiny", config, sleep=slept.append), slept


def test_retry_after_in_seconds_is_waited_for(tiny: tuple[SimServer, TinyApi]) -> None:
    server, _ = tiny
    server.add_fault("/tiny", Fault(status=429, retry_after="1.5", times=2))
    client, slept = _client(server)
    assert client.get_json("things") == {"ok": True, "path": "/things"}
    assert slept == [1.5, 1.5] and client.retries == 2 and client.requests == 3


def test_retry_after_as_an_http_date_is_waited_for(tiny: tuple[SimServer, TinyApi]) -> None:
    server, _ = tiny
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=4), usegmt=True)
    server.add_fault("/tiny", Fault(status=503, retry_after=when, times=1))
    client, slept = _client(server)
    client.get_json("things")
    assert len(slept) == 1 and 2.0 <= slept[0] <= 4.0


def test_given_a_429_with_retry_after_47_when_retried_then_the_client_waits_the_full_47_seconds(
        tiny: tuple[SimServer, TinyApi]) -> None:
    server, _ = tiny
    server.add_fault("/tiny", Fault(status=429, retry_after="47", times=1))  # Zendesk's export at 10 a minute
    client, slept = _client(server)  # max_backoff_seconds stays at its default, 30
    assert client.get_json("things") == {"ok": True, "path": "/things"}
    assert slept == [47.0] and client.requests == 2


def test_given_retry_after_as_an_http_date_two_minutes_ahead_when_retried_then_the_client_waits_until_then(
        tiny: tuple[SimServer, TinyApi]) -> None:
    server, _ = tiny
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    server.add_fault("/tiny", Fault(status=503, retry_after=when, times=1))
    client, slept = _client(server)
    client.get_json("things")
    assert len(slept) == 1 and 115.0 <= slept[0] <= 120.0


@pytest.mark.parametrize(("http_date", "asked"), [(False, "3600"), (True, "3599|3600")],
                         ids=["delta-seconds", "http-date"])
def test_given_retry_after_beyond_the_sanity_cap_when_retried_then_a_source_error_says_how_long_it_asked_to_wait(
        tiny: tuple[SimServer, TinyApi], http_date: bool, asked: str) -> None:
    server, _ = tiny
    in_an_hour = email.utils.format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    server.add_fault("/tiny", Fault(status=429, retry_after=in_an_hour if http_date else "3600", times=1))
    client, slept = _client(server)
    with pytest.raises(SourceError, match=rf"source 'tiny' asked to wait ({asked}) s \(HTTP 429, Retry-After"):
        client.get_json("things")
    assert slept == [] and client.requests == 1


def test_given_no_retry_after_when_backing_off_then_max_backoff_seconds_caps_only_our_own_wait(
        tiny: tuple[SimServer, TinyApi]) -> None:
    server, _ = tiny
    server.add_fault("/tiny", Fault(status=503, times=3))
    server.add_fault("/tiny", Fault(status=429, retry_after="45", times=1))
    client, slept = _client(server, backoff_seconds=10, max_backoff_seconds=2, max_retries=4)
    client.get_json("things")
    assert len(slept) == 4 and all(1.0 <= s <= 2.0 for s in slept[:3]) and slept[3] == 45.0


def test_retry_after_parsing() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Sun, 22 Nov 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Sun, 22 Nov 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None) is None


def test_5xx_without_retry_after_backs_off_then_gives_up_with_a_retriable_error(
        tiny: tuple[SimServer, TinyApi]) -> None:
    server, _ = tiny
    server.add_fault("/tiny", Fault(status=502, times=10))
    client, slept = _client(server)
    with pytest.raises(RetriableError, match="still failing after 4 attempts: HTTP 502"):
        client.get_json("things")
    assert len(slept) == 3 and slept[0] <= slept[1] <= slept[2] * 2  # exponential, with jitter


def test_a_connection_dropped_mid_body_is_retried(tiny: tuple[SimServer, TinyApi]) -> None:
    server, _ = tiny
    server.add_fault("/tiny", Fault(drop_after=5, times=1))
    client, slept = _client(server)
    assert client.get_json("things")["ok"] is True and client.retries == 1


def test_401_names_the_environment_variables_holding_the_credentials(
        tiny: tuple[SimServer, TinyApi], monkeypatch: pytest.MonkeyPatch) -> None:
    server, _ = tiny
    monkeypatch.setenv("TINY_PASSWORD", "wrong")
    client, slept = _client(server)
    with pytest.raises(SourceError, match=r"credentials were rejected \(HTTP 401\); check the credentials in "
                                          r"TINY_USER, TINY_PASSWORD"):
        client.get_json("things")
    assert slept == []


def test_403_asks_for_read_access_and_404_points_at_base_url(tiny: tuple[SimServer, TinyApi]) -> None:
    server, api = tiny
    api.status_for = {"/secret": 403}
    client, _ = _client(server)
    with pytest.raises(SourceError, match=r"permission denied \(HTTP 403\); give the integration user read access"):
        client.get_json("secret")
    api.status_for = {"/gone": 404}
    with pytest.raises(SourceError, match=r"not found \(HTTP 404\); check sources\.tiny\.base_url"):
        client.get_json("gone")


def test_other_4xx_are_fatal_with_the_body_unless_allowed(tiny: tuple[SimServer, TinyApi]) -> None:
    server, api = tiny
    api.status_for = {"/bad": 422}
    client, slept = _client(server)
    with pytest.raises(SourceError, match=r"HTTP 422.*nope"):
        client.get_json("bad")
    assert client.request("GET", "bad", allow={422}).status_code == 422 and slept == []


def test_an_answer_that_is_not_json_says_to_check_base_url(tiny: tuple[SimServer, TinyApi]) -> None:
    server, _ = tiny
    client, _ = _client(server)
    with pytest.raises(SourceError, match="text/html, not JSON; check sources.tiny.base_url"):
        client.get_json("html")


def test_nothing_listening_is_a_source_error_naming_base_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = SourceConfig(type="tiny", base_url=f"http://127.0.0.1:{port}/", backoff_seconds=0, max_retries=5)
    client = HttpClient("tiny", config, sleep=lambda s: None)
    with pytest.raises(SourceError, match="cannot connect.*sources.tiny.base_url"):
        client.get_json("things")


def test_missing_secret_names_the_variable_to_export(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TINY_PASSWORD")
    config = SourceConfig(type="tiny", base_url="http://127.0.0.1:9/",
                          auth={"type": "basic", "username_env": "TINY_USER", "password_env": "TINY_PASSWORD"})
    with pytest.raises(SourceError, match="environment variable TINY_PASSWORD .* is not set"):
        HttpClient("tiny", config)


OAUTH = {"type": "oauth2_client_credentials", "client_id_env": "TINY_CLIENT_ID",
         "client_secret_env": "TINY_CLIENT_SECRET", "token_url": "oauth/token"}


def test_oauth2_client_credentials_fetches_one_token_and_reuses_it(tiny: tuple[SimServer, TinyApi]) -> None:
    server, api = tiny
    client, _ = _client(server, OAUTH)
    client.get_json("things")
    client.get_json("things")
    assert api.tokens_issued == ["token-1"]


def test_oauth2_token_rejected_with_401_is_refreshed_once(tiny: tuple[SimServer, TinyApi]) -> None:
    server, api = tiny
    client, _ = _client(server, OAUTH)
    client.get_json("things")
    api.valid_tokens.clear()  # the token was revoked before it expired
    assert client.get_json("things")["ok"] is True
    assert api.tokens_issued == ["token-1", "token-2"]


def test_oauth2_wrong_client_secret_names_the_variables(
        tiny: tuple[SimServer, TinyApi], monkeypatch: pytest.MonkeyPatch) -> None:
    server, _ = tiny
    monkeypatch.setenv("TINY_CLIENT_SECRET", "wrong")
    client, _ = _client(server, OAUTH)
    with pytest.raises(SourceError, match="HTTP 401.*TINY_CLIENT_ID, TINY_CLIENT_SECRET"):
        client.get_json("things")


def test_an_auth_scheme_given_by_the_connector_replaces_the_configured_one(tiny: tuple[SimServer, TinyApi]) -> None:
    server, _ = tiny
    config = SourceConfig(type="tiny", base_url=server.url("/tiny"),
                          auth={"type": "basic", "username_env": "TINY_USER", "password_env": "TINY_PASSWORD"})
    wrong = HttpClient("tiny", config, auth=httpx.BasicAuth("user/token", "secret"))
    with pytest.raises(SourceError, match="HTTP 401"):
        wrong.get_json("things")
