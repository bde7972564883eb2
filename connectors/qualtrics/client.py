"""The Qualtrics response export: start an export, poll its progress, download the ZIP, read its JSON.

Qualtrics answers errors as `{"meta": {"httpStatus": "...", "error": {"errorMessage", "errorCode"}}}`; those
messages are passed on. A file or progress id that has expired (404 below export-responses) restarts the
export, as the documentation asks, instead of failing the pull. An export asked for with `allowContinuation`
or a `continuationToken` reports the token for the next export with its `complete` progress; a 400 to such a
request is ContinuationRefused, so the caller can export by date instead.
"""

from __future__ import annotations

import io
import json
import logging
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.core.errors import RetriableError
from connectors.core.http import HttpClient
from connectors.qualtrics.settings import API_ROOT, EXPORT_FILE, EXPORT_PROGRESS, START_EXPORT, TOKEN_HEADER
from foundation.errors import SourceError
from foundation.source_config import SourceConfig

log = logging.getLogger(__name__)
EXPORT_ATTEMPTS = 3


class ExportGone(SourceError):
    """The export's progress or file id is no longer known to Qualtrics (exports expire); start again."""


def qualtrics_message(response: httpx.Response) -> str:
    try:
        error = response.json()["meta"]["error"]
        return f"{error.get('errorMessage', '')} ({error.get('errorCode', '')})".strip()
    except (ValueError, KeyError, TypeError):
        return response.text[:200].replace("\n", " ")


class BrokenExport(RetriableError):
    """The downloaded export file is not a whole ZIP; a new export is worth a try."""


class ContinuationRefused(SourceError):
    """Qualtrics refused an export's continuation field: the account or survey cannot continue exports, or the
    token is no longer valid."""


@dataclass
class Export:
    responses: list[dict[str, Any]]
    continuation: str | None = None  # the token the next export continues from, when one was asked for


class QualtricsHttp(HttpClient):
    """HttpClient with Qualtrics' error bodies in its messages and expired exports told apart."""

    def _fatal(self, response: httpx.Response) -> SourceError:
        status, path = response.status_code, response.request.url.path
        detail = qualtrics_message(response)
        if status == 404 and "/export-responses/" in path:
            return ExportGone(f"source '{self.source}': export {path.rsplit('/', 2)[-2]} expired: {detail}")
        if status == 404 and path.endswith("/export-responses"):
            survey = path.rstrip("/").split("/")[-2]
            return SourceError(f"source '{self.source}': Qualtrics knows no survey {survey} ({detail}); check "
                               f"survey_id under sources.{self.source}.options and that base_url is your datacenter")
        if status == 400:
            return SourceError(f"source '{self.source}': Qualtrics refused the export request: {detail}")
        error = super()._fatal(response)
        return SourceError(f"{error} [{detail}]") if detail else error


def api_config(config: SourceConfig, source: str) -> SourceConfig:
    """The config with the datacenter root as base_url and the token in X-API-TOKEN."""
    if config.auth.type == "none":
        raise SourceError(f"source '{source}' (qualtrics) needs an API token: set sources.{source}.auth to "
                          "type: api_key, header: X-API-TOKEN, token_env: <variable holding the token>")
    base = (config.base_url or "").rstrip("/")
    base = base.removesuffix("/" + API_ROOT).removesuffix("/API")
    auth = config.auth
    if auth.type == "api_key" and auth.header == "Authorization":
        auth = auth.model_copy(update={"header": TOKEN_HEADER})
    return config.model_copy(update={"base_url": base or None, "auth": auth})


class QualtricsClient:
    def __init__(self, source: str, config: SourceConfig, *, poll_seconds: float, timeout_seconds: float,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.http = QualtricsHttp(source, api_config(config, source))
        self.source, self.poll_seconds, self.timeout_seconds, self._sleep = source, poll_seconds, timeout_seconds, sleep

    @property
    def requests(self) -> int:
        return self.http.requests

    @property
    def retries(self) -> int:
        return self.http.retries

    def close(self) -> None:
        self.http.close()

    def export(self, survey: str, start_date: str | None = None, *, continuation: str | None = None,
               allow_continuation: bool = False) -> Export:
        """One completed export: the responses recorded or edited since the export that issued `continuation`,
        else those recorded at or after `start_date` (all when None); with a continuation token for the next
        export when `continuation` or `allow_continuation` asked for one."""
        body: dict[str, Any] = {"format": "json", "useLabels": False}
        if continuation:
            body["continuationToken"] = continuation  # Qualtrics refuses startDate and endDate beside it
        else:
            if allow_continuation:
                body["allowContinuation"] = True
            if start_date:
                body["startDate"] = start_date
        for attempt in range(1, EXPORT_ATTEMPTS + 1):
            try:
                progress = self._start(survey, body)
                file_id, token = self._wait(survey, progress)
                return Export(self._download(survey, file_id), token)
            except (ExportGone, BrokenExport) as exc:
                if attempt == EXPORT_ATTEMPTS:
                    raise
                log.info("%s: %s; starting the export of %s again", self.source, exc, survey)
        raise AssertionError("unreachable")

    def _start(self, survey: str, body: dict[str, Any]) -> str:
        continued = "continuationToken" in body or "allowContinuation" in body
        response = self.http.request("POST", START_EXPORT.format(survey=survey), json=body,
                                     allow=(400,) if continued else ())
        if response.status_code == 400:
            field = "continuationToken" if "continuationToken" in body else "allowContinuation"
            raise ContinuationRefused(f"source '{self.source}': Qualtrics refused the export of {survey} with "
                                      f"{field}: {qualtrics_message(response)}")
        progress = self._result(response).get("progressId")
        if not progress:
            raise SourceError(f"source '{self.source}': Qualtrics started no export for {survey} (no progressId)")
        return str(progress)

    def _wait(self, survey: str, progress: str) -> tuple[str, str | None]:
        """The file id of the completed export and the continuation token reported with it."""
        deadline = time.monotonic() + self.timeout_seconds
        delay = min(0.1, self.poll_seconds)
        while True:
            result = self._result(self.http.request("GET", EXPORT_PROGRESS.format(survey=survey, progress=progress)))
            status = result.get("status")
            if status == "complete" and result.get("fileId"):
                token = result.get("continuationToken")
                return str(result["fileId"]), str(token) if token else None
            if status == "failed":
                raise SourceError(f"source '{self.source}': Qualtrics export {progress} of {survey} failed: "
                                  f"{json.dumps(result.get('error') or result)[:300]}")
            if time.monotonic() > deadline:
                raise SourceError(f"source '{self.source}': export {progress} of {survey} not complete after "
                                  f"{self.timeout_seconds:g} s ({result.get('percentComplete')}%); raise "
                                  f"sources.{self.source}.options.export_timeout_seconds")
            self._sleep(delay)
            delay = min(self.poll_seconds, delay * 2)

    def _download(self, survey: str, file_id: str) -> list[dict[str, Any]]:
        content = self.http.request("GET", EXPORT_FILE.format(survey=survey, file=file_id)).content
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = [n for n in archive.namelist() if n.lower().endswith(".json")]
                if len(names) != 1:
                    raise SourceError(f"source '{self.source}': the export of {survey} holds {len(names)} JSON "
                                      "files, not one")
                data = json.loads(archive.read(names[0]))
        except (zipfile.BadZipFile, EOFError) as exc:
            raise BrokenExport(f"source '{self.source}': the export file of {survey} is not a whole ZIP "
                               f"({exc})") from None
        responses = data.get("responses") if isinstance(data, dict) else None
        if not isinstance(responses, list):
            raise SourceError(f"source '{self.source}': the export of {survey} has no 'responses' list")
        return responses

    def _result(self, response: httpx.Response) -> dict[str, Any]:
        body = self.http.json_of(response)
        result = body.get("result") if isinstance(body, dict) else None
        if not isinstance(result, dict):
            raise SourceError(f"source '{self.source}': {response.request.url} answered without a 'result'")
        return result
