"""HTTP for the Google Forms API: the form's structure, then its responses page by page (`nextPageToken`).

Google's error bodies (`{"error": {"code", "message", "status"}}`) carry the useful reason, so fatal errors
quote it. A page token refused with 400 is raised as CursorExpired: a token is only valid with the filter it
was issued for, and the listing can restart from the stored timestamp.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from connectors.core.errors import CursorExpired
from connectors.core.http import HttpClient
from connectors.googleforms.settings import FORM_PATH, MAX_PAGE_SIZE, RESPONSES_PATH
from foundation.errors import SourceError


def google_error(response: httpx.Response) -> tuple[str, str]:
    """(status, message) from a Google API error body; empty strings when the body is something else."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return "", ""
    if isinstance(error, dict):
        return str(error.get("status") or ""), str(error.get("message") or "")
    return "", ""


class GoogleFormsClient(HttpClient):
    def _fatal(self, response: httpx.Response) -> SourceError:
        status, message = google_error(response)
        where = f"source '{self.source}' (googleforms) at {response.request.url.path}"
        if response.status_code == 404:
            return SourceError(f"{where}: the form was not found ({message or 'HTTP 404'}); check the form id in "
                               f"sources.{self.source}.options.forms and that the account can open the form")
        if response.status_code == 403:
            return SourceError(f"{where}: permission denied ({message or 'HTTP 403'}); share the form with the "
                               "integration account and grant the forms.responses.readonly and "
                               "forms.body.readonly scopes")
        if response.status_code == 400 and message:
            return SourceError(f"{where}: request refused ({status}: {message})")
        return super()._fatal(response)

    def form(self, form_id: str) -> dict[str, Any]:
        body = self.get_json(FORM_PATH.format(form_id=form_id))
        if not isinstance(body, dict) or "items" not in body and "info" not in body:
            raise SourceError(f"source '{self.source}': GET {FORM_PATH.format(form_id=form_id)} did not return a "
                              f"form; check sources.{self.source}.base_url points at https://forms.googleapis.com")
        return body

    def responses(self, form_id: str, filter_: str | None, page_size: int) -> Iterator[list[dict[str, Any]]]:
        """Pages of responses; the filter is repeated with every page token, as the API requires."""
        params: dict[str, Any] = {"pageSize": min(page_size, MAX_PAGE_SIZE)}
        if filter_:
            params["filter"] = filter_
        path = RESPONSES_PATH.format(form_id=form_id)
        token: str | None = None
        while True:
            if token:
                response = self.request("GET", path, params={**params, "pageToken": token}, allow={400})
                if response.status_code == 400:
                    raise CursorExpired(f"page token refused: {google_error(response)[1] or response.text[:200]}")
                body = self.json_of(response)
            else:
                body = self.get_json(path, params)
            if not isinstance(body, dict):
                raise SourceError(f"source '{self.source}': the responses listing of form {form_id} is not a "
                                  "JSON object")
            yield body.get("responses") or []
            token = body.get("nextPageToken")
            if not token:
                return
