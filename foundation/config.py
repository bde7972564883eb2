"""Settings from realise.yaml, overridden by REALISE_* environment variables.

Every address is configuration, so the same code runs against the embedded stack on a laptop and
against Apache Kafka and a PostgreSQL server in production. An unset warehouse URL or Kafka bootstrap
address means "use the embedded stack" started by `realise up`.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from foundation.errors import ConfigError
from foundation.privacy import FREE_TEXT_FIELDS
from foundation.source_config import SourceConfig
from schemas.events import Kind

CONFIG_ENV = "REALISE_CONFIG"
DEFAULT_CONFIG_FILE = "realise.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WarehouseSettings(_Section):
    url: str | None = Field(None, description="SQLAlchemy URL; unset means the embedded PostgreSQL")
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = None
    sslrootcert: str | None = None


class KafkaSettings(_Section):
    bootstrap: str | None = Field(None, description="host:port[,host:port]; unset means the embedded broker")
    topic_prefix: str = ""
    partitions: int = Field(3, ge=1, le=1000)
    replication_factor: int = Field(1, ge=1, le=10)
    consumer_group: str = "realise-ingest"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password_env: str = Field("REALISE_KAFKA_SASL_PASSWORD", description="env var holding the password")
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None


class PrefectSettings(_Section):
    api_url: str | None = Field(None, description="Prefect API; unset means the embedded Prefect server")
    emit_events: bool = True


class IngestSettings(_Section):
    batch_size: int = Field(10_000, ge=1, le=200_000)
    poll_timeout_ms: int = Field(500, ge=10, le=60_000)
    max_record_bytes: int = Field(1_048_576, ge=1024)
    future_tolerance_minutes: int = Field(10, ge=0, le=10_080)
    publish_dead_letters: bool = True
    scrub_fields: dict[Kind, list[str]] = Field(
        default_factory=lambda: {Kind(k): list(v) for k, v in FREE_TEXT_FIELDS.items()},
        description="Payload fields scrubbed of identifiers before storage, per kind; a kind left out keeps its "
                    "default (every free-text field), [] scrubs none of it")

    @field_validator("scrub_fields")
    @classmethod
    def _free_text_only(cls, value: dict[Kind, list[str]]) -> dict[Kind, list[str]]:
        merged = {Kind(k): list(v) for k, v in FREE_TEXT_FIELDS.items()} | value
        for kind, fields in merged.items():
            allowed = FREE_TEXT_FIELDS[kind.value]
            wrong = [f for f in fields if f not in allowed]
            if wrong:
                choices = ", ".join(allowed) or "none (the kind has no free text)"
                raise PydanticCustomError("free_text_field", "{field} is not a free-text field: choose from {choices}",
                                          {"field": f"{kind.value}.{wrong[0]}", "choices": choices})
        return merged


class MetricsSettings(_Section):
    """Confidentiality rules and the assumptions metrics use; printed with the results that depend on them."""

    min_group_size: int = Field(5, ge=2, le=1000, description="Smallest group shown (NHS Staff Survey uses 11)")
    comment_min_group_size: int = Field(10, ge=2, le=1000, description="Smallest group for comment themes")
    go_live_dates: dict[str, date] = Field(default_factory=dict, description="Go-live date per wave")
    readiness_target_pct: float = Field(90.0, ge=0, le=100, description="Training readiness target")
    required_courses: list[str] = Field(default_factory=list,
                                        description="Courses required for go-live; empty means records' own flag")
    shift_hours: float = Field(7.5, gt=0, le=24)
    shifts_per_week: float = Field(4.0, gt=0, le=7, description="Shifts a member of staff works per week")
    fte_hours_per_week: float = Field(37.5, gt=0, le=80)
    hourly_cost_gbp: float = Field(25.0, ge=0, description="Average loaded cost of an hour of staff time")
    benefits_file: str = Field("benefits.yaml", description="The benefits register (version-controlled YAML)")
    alert_rules_file: str = Field("alerts.yaml", description="Alert rules (version-controlled YAML)")


class StackSettings(_Section):
    postgres_port: int = Field(55432, ge=1024, le=65535)
    kafka_port: int = Field(59092, ge=1024, le=65535)
    prefect_port: int = Field(54200, ge=1024, le=65535)


class Settings(_Section):
    data_dir: Path = Path(".realise")
    warehouse: WarehouseSettings = WarehouseSettings()
    kafka: KafkaSettings = KafkaSettings()
    prefect: PrefectSettings = PrefectSettings()
    ingest: IngestSettings = IngestSettings()
    metrics: MetricsSettings = MetricsSettings()
    stack: StackSettings = StackSettings()
    sources: dict[str, SourceConfig] = Field(default_factory=dict,
                                             description="Connectors by name: `realise pull <name>` runs one")

    def topic(self, name: str) -> str:
        """Full topic name, e.g. `realise.form_response.v1` with the configured prefix in front."""
        return f"{self.kafka.topic_prefix}{name}"


# Environment variable → dotted setting. Documented in the README; the names are part of the interface.
ENV_OVERRIDES: dict[str, str] = {
    "REALISE_DATA_DIR": "data_dir",
    "REALISE_WAREHOUSE_URL": "warehouse.url",
    "REALISE_WAREHOUSE_SSLMODE": "warehouse.sslmode",
    "REALISE_KAFKA_BOOTSTRAP": "kafka.bootstrap",
    "REALISE_TOPIC_PREFIX": "kafka.topic_prefix",
    "REALISE_KAFKA_PARTITIONS": "kafka.partitions",
    "REALISE_CONSUMER_GROUP": "kafka.consumer_group",
    "REALISE_KAFKA_SECURITY_PROTOCOL": "kafka.security_protocol",
    "REALISE_KAFKA_SASL_MECHANISM": "kafka.sasl_mechanism",
    "REALISE_KAFKA_SASL_USERNAME": "kafka.sasl_username",
    "REALISE_KAFKA_SSL_CAFILE": "kafka.ssl_cafile",
    "REALISE_PREFECT_API_URL": "prefect.api_url",
    "REALISE_INGEST_BATCH_SIZE": "ingest.batch_size",
    "REALISE_MIN_GROUP_SIZE": "metrics.min_group_size",
    "REALISE_POSTGRES_PORT": "stack.postgres_port",
    "REALISE_KAFKA_PORT": "stack.kafka_port",
    "REALISE_PREFECT_PORT": "stack.prefect_port",
}


def _set_dotted(target: dict[str, Any], dotted: str, value: str) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {}) if isinstance(target.get(part, {}), dict) else {}
    target[leaf] = value


def _setting_source(dotted: str, config_path: Path | None, env: dict[str, str]) -> str:
    var = next((k for k, v in ENV_OVERRIDES.items() if v == dotted and env.get(k) not in (None, "")), None)
    if var:
        return f"environment variable {var}"
    return f"'{dotted}' in {config_path}" if config_path else f"setting '{dotted}'"


def load_settings(path: Path | str | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read settings: explicit path, else $REALISE_CONFIG, else ./realise.yaml if present, else defaults."""
    env = dict(os.environ if env is None else env)
    config_path: Path | None = None
    if path is not None:
        config_path = Path(path)
    elif env.get(CONFIG_ENV):
        config_path = Path(env[CONFIG_ENV])
    elif Path(DEFAULT_CONFIG_FILE).exists():
        config_path = Path(DEFAULT_CONFIG_FILE)

    raw: dict[str, Any] = {}
    if config_path is not None:
        named_by = f"--config {config_path}" if path is not None else f"{CONFIG_ENV}={config_path}"
        if not config_path.exists():
            raise ConfigError(f"configuration file {config_path} does not exist; create it or unset {CONFIG_ENV}")
        if config_path.is_dir():
            raise ConfigError(f"{named_by} is a directory; point it at a {DEFAULT_CONFIG_FILE} file")
        try:
            loaded = yaml.safe_load(config_path.read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read {named_by}: {exc.strerror or exc}; check the path and its "
                              "permissions") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{named_by} is not a UTF-8 text file; point it at a {DEFAULT_CONFIG_FILE} file") \
                from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError(f"{config_path} is not valid YAML{where}: fix the syntax") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{config_path} must be a mapping of settings, not {type(loaded).__name__}")
        # An empty section (every key commented out) means "defaults", not an error.
        raw = {key: value for key, value in loaded.items() if value is not None}

    for name, dotted in ENV_OVERRIDES.items():
        if env.get(name) not in (None, ""):
            _set_dotted(raw, dotted, env[name])

    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        dotted = ".".join(str(p) for p in err["loc"])
        source = _setting_source(dotted, config_path, env)
        if err["type"] == "extra_forbidden":
            raise ConfigError(f"unknown setting '{dotted}' in {config_path}: remove it or fix its spelling") from None
        raise ConfigError(f"{source}: {err['msg']} (got {err.get('input')!r})") from None
