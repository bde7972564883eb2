"""Calling Moodle's REST web services: one endpoint, the function by name, PHP-style array parameters.

Moodle answers errors with HTTP 200 and `{"exception", "errorcode", "message"}`. A wrong token or a function
missing from the token's service stops the pull with what to fix; other errors are raised to the caller as
MoodleError (e.g. `usernotenroled` for a learner completion does not track, `nopermissions` for a capability
the token's user lacks), which knows what they mean for its call.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connectors.core.http import HttpClient
from connectors.moodle.settings import ENDPOINT, GET_ENROLLED_USERS, USER_FIELDS
from foundation.errors import SourceError


class FunctionRefused(SourceError):
    """The token's external service does not include the function called (accessexception)."""


class MoodleError(Exception):
    def __init__(self, errorcode: str, message: str) -> None:
        super().__init__(f"{errorcode}: {message}")
        self.errorcode = errorcode


def form_params(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested lists and dicts as Moodle's PHP-style keys: {"options": [{"name": "a"}]} → options[0][name]=a."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            out.update(form_params(value, name))
        elif isinstance(value, list | tuple):
            out.update(form_params(dict(enumerate(value)), name))
        elif isinstance(value, bool):
            out[name] = "1" if value else "0"
        elif value is not None:
            out[name] = str(value)
    return out


class MoodleClient:
    def __init__(self, http: HttpClient, token: str) -> None:
        self.http, self.token = http, token

    def call(self, function: str, **params: Any) -> Any:
        data = {"wstoken": self.token, "wsfunction": function, "moodlewsrestformat": "json", **form_params(params)}
        response = self.http.request("POST", ENDPOINT, data=data)
        try:
            body = response.json()
        except ValueError:
            kind = response.headers.get("content-type", "unknown content type")
            raise SourceError(f"source '{self.http.source}': {response.request.url} answered {kind}, not JSON; "
                              f"check sources.{self.http.source}.base_url is the Moodle site root and the REST "
                              "protocol is enabled (Site administration > Server > Web services > Manage "
                              "protocols)") from None
        if isinstance(body, dict) and "exception" in body:
            raise self._error(function, str(body.get("errorcode", "")), str(body.get("message", "")))
        return body

    def _error(self, function: str, code: str, message: str) -> Exception:
        source, env = self.http.source, self.http.config.auth.token_env
        if code == "invalidtoken":
            return SourceError(f"source '{source}': Moodle rejected the web service token ({code}: {message}); "
                               f"put a valid token in {env} (Site administration > Server > Web services > "
                               "Manage tokens)")
        if code == "accessexception":
            return FunctionRefused(f"source '{source}': Moodle refused {function} ({code}: {message}); add "
                                   f"{function} to the token's external service (Site administration > Server > "
                                   "Web services > External services > Functions) and check the token's user may "
                                   "use it")
        if code == "invalidrecord" and "external_functions" in message:
            return SourceError(f"source '{source}': this Moodle site has no web service function {function}; "
                               "it needs Moodle 3.x or later (or Totara with the same function)")
        return MoodleError(code, message)

    def enrolled_users(self, course_id: int, page_size: int, *, only_active: bool = True
                       ) -> Iterator[list[dict[str, Any]]]:
        """A course's enrolled users in pages of `page_size`, ordered by user id (limitfrom/limitnumber).

        Moodle lists suspended enrolments too unless asked for active ones only (`onlyactive`)."""
        start = 0
        while True:
            options: list[dict[str, Any]] = [
                {"name": "limitfrom", "value": start}, {"name": "limitnumber", "value": page_size},
                {"name": "userfields", "value": USER_FIELDS}]
            if only_active:
                options.append({"name": "onlyactive", "value": 1})
            users = self.call(GET_ENROLLED_USERS, courseid=course_id, options=options)
            if not isinstance(users, list):
                raise SourceError(f"source '{self.http.source}': {GET_ENROLLED_USERS} answered "
                                  f"{type(users).__name__}, not a list of users")
            if users:
                yield users
            if len(users) < page_size:
                return
            start += len(users)
