"""Warehouse engines, with errors that name the address and the setting to change.

`warehouse_engine(settings)` is how a command, flow or service connects: the configured URL, else the embedded
PostgreSQL's, with the SSL settings of realise.yaml, which apply to every connection.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from foundation.config import Settings
from foundation.errors import ConfigError, ServiceUnavailable, UserError
from foundation.stack import resolve_endpoints

URL_SETTING = "REALISE_WAREHOUSE_URL (or warehouse.url in realise.yaml)"


def redact(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def create_engine(url: str, *, sslmode: str | None = None, sslrootcert: str | None = None,
                  pool_size: int = 5) -> Engine:
    """An engine for the warehouse; the psycopg 3 driver is used whatever driver the URL names."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"warehouse URL {url!r} is not a valid SQLAlchemy URL; fix {URL_SETTING}") from None
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(f"the warehouse must be PostgreSQL, not {parsed.get_backend_name()}; fix {URL_SETTING}")
    parsed = parsed.set(drivername="postgresql+psycopg")
    # SSL settings go into the URL, not connect_args: ingest's own psycopg connection is built from the
    # engine's URL, and must use the same SSL mode and CA as every other connection.
    ssl = {key: value for key, value in (("sslmode", sslmode), ("sslrootcert", sslrootcert)) if value}
    if ssl:
        parsed = parsed.update_query_dict(ssl)
    connect_args: dict[str, str | int] = {"connect_timeout": 5, "application_name": "realise"}
    return sa.create_engine(parsed, pool_size=pool_size, pool_pre_ping=True, connect_args=connect_args)


def warehouse_engine(settings: Settings, url: str | None = None) -> Engine:
    """An engine for the warehouse at `url` (resolved already), by default the configured one or else the
    embedded PostgreSQL, which must be running; with the SSL settings of `settings`."""
    if url is None:
        url = resolve_endpoints(settings, autostart=False, services={"postgres"}).warehouse_url
    return create_engine(url, sslmode=settings.warehouse.sslmode, sslrootcert=settings.warehouse.sslrootcert)


def explain_operational_error(exc: OperationalError, url: str) -> UserError:
    """Turn a driver error into one line that says what to fix."""
    text = str(exc.orig or exc).strip().splitlines()[0] if (exc.orig or exc) else ""
    lowered = text.lower()
    shown = redact(url)
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return UserError(f"the warehouse at {shown} rejected the user name or password; fix {URL_SETTING}")
    if "does not exist" in lowered and "database" in lowered:
        return UserError(f"{text} at {shown}: create it or fix {URL_SETTING}")
    if "permission denied" in lowered:
        return UserError(f"the warehouse user lacks a permission ({text}); grant it or use another user")
    return ServiceUnavailable("warehouse (PostgreSQL)", shown, URL_SETTING, text)


def check_connection(engine: Engine) -> None:
    """Fail fast with a readable error if the warehouse cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except OperationalError as exc:
        raise explain_operational_error(exc, engine.url.render_as_string(hide_password=False)) from None
