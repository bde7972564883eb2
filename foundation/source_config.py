"""How a source is declared in realise.yaml: type, where it is, how to authenticate, how fields map.

Secrets are never in the file: auth names the environment variables that hold them. Options specific to a
source type (table name, question ids, category rules) are validated by that type's own options model.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from foundation.errors import SourceError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthConfig(_Section):
    """Credentials by environment variable name, e.g. `password_env: SERVICENOW_PASSWORD`."""

    type: Literal["none", "basic", "bearer", "oauth2_client_credentials", "google_service_account", "api_key"] = "none"
    username_env: str | None = None
    password_env: str | None = None
    token_env: str | None = None
    client_id_env: str | None = None
    client_secret_env: str | None = None
    token_url: str | None = Field(None, description="OAuth2 token endpoint (absolute, or relative to base_url); for "
                                                    "google_service_account the key's token_uri by default")
    scope: str | None = None
    key_env: str | None = Field(None, description="google_service_account: variable holding the service account's "
                                                  "JSON key, or the path to its file")
    subject: str | None = Field(None, description="google_service_account: the user a domain-wide delegated "
                                                  "account acts for (optional)")
    header: str = Field("Authorization", description="Header for api_key auth, e.g. X-API-TOKEN")

    @model_validator(mode="after")
    def _names_what_it_needs(self) -> AuthConfig:
        needed = {
            "basic": ("username_env", "password_env"),
            "bearer": ("token_env",),
            "api_key": ("token_env",),
            "oauth2_client_credentials": ("client_id_env", "client_secret_env", "token_url"),
            "google_service_account": ("key_env", "scope"),
        }.get(self.type, ())
        missing = [name for name in needed if not getattr(self, name)]
        if missing:
            raise ValueError(f"auth type {self.type} needs {', '.join(missing)}")
        return self

    def secret(self, field: str, source: str) -> str:
        """The value of the environment variable named by `field`; a clear error when it is unset."""
        var = getattr(self, field)
        value = os.environ.get(var or "", "")
        if not value:
            raise SourceError(f"source '{source}': environment variable {var} ({field[:-4]}) is not set; "
                              f"export it before `realise pull {source}`")
        return value


class SourceConfig(_Section):
    """One entry under `sources:` in realise.yaml."""

    type: str = Field(description="Connector type, e.g. servicenow, jira, zendesk, xapi, msforms, esr_csv")
    base_url: str | None = Field(None, description="API root for HTTP sources")
    path: str | None = Field(None, description="File or folder for file sources")
    auth: AuthConfig = AuthConfig()
    system: str = Field("EPR", description="System being adopted, for records that do not say")
    page_size: int = Field(100, ge=1, le=10_000)
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    max_retries: int = Field(6, ge=0, le=20)
    backoff_seconds: float = Field(0.5, ge=0, le=60, description="First retry delay; doubles each retry")
    max_backoff_seconds: float = Field(30.0, ge=0, le=600)
    options: dict[str, Any] = Field(default_factory=dict, description="Type-specific options and field mapping")
    enabled: bool = True

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


def parse_options(model: type[BaseModel], config: SourceConfig, source: str) -> Any:
    """Validate a source's `options` with its type's model; errors name the setting to fix."""
    from pydantic import ValidationError

    try:
        return model.model_validate(config.options)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            raise SourceError(f"sources.{source}.options.{where} is not a setting of a {config.type} source: "
                              "remove it or fix its spelling") from None
        raise SourceError(f"sources.{source}.options.{where}: {err['msg']} (got {err.get('input')!r})") from None
