"""Errors a user can act on. The CLI prints them as one line and exits 2, never with a traceback."""


class UserError(Exception):
    """Something the user can fix: bad configuration, an unreachable service, bad credentials."""


class ConfigError(UserError):
    """realise.yaml or an environment variable holds a value Realise cannot use."""


class ServiceUnavailable(UserError):
    """A service (warehouse, broker, Prefect API) did not answer at the configured address."""

    def __init__(self, service: str, address: str, setting: str, detail: str = "") -> None:
        self.service, self.address, self.setting = service, address, setting
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"cannot reach the {service} at {address}{extra}; "
            f"check that it is running or change {setting}"
        )


class SourceError(UserError):
    """A source cannot be read until the user fixes something: credentials, permission, base URL, mapping."""
