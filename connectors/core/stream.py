"""What a source is: declared streams, a reader that yields pages with the state they complete, a mapper.

A stream is declared, not coded: its name, the event kind it produces, its primary key, its cursor field and
whether the API returns records sorted by that cursor. Bookmark rules (shared by every source):
- compare with `>=` when resuming, so records sharing the last cursor value are read again (events dedupe
  downstream by their deterministic id);
- a page's state is stored only after the broker acknowledged every event built from that page and before;
- a stream the API does not sort by its cursor yields `state=None` until its last page;
- a cursor never moves past the run's start time, nor backwards.

Connector types are declared, not imported: pyproject.toml names each `type:` and the class that reads it as
an entry point of the group `realise.connectors`, and `source_type` imports a connector only when a source of
its type is used. Nothing in connectors/core imports a concrete connector.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from connectors.core.errors import MappingError
from foundation.errors import SourceError
from foundation.source_config import SourceConfig, parse_options
from schemas.events import Kind

if TYPE_CHECKING:
    from connectors.core.build import EventBuilder
    from schemas.events import Event
    from warehouse.directory import DirectoryEntry


@dataclass(frozen=True)
class Stream:
    name: str
    kind: Kind | None  # None: the staff directory, which loads into the warehouse rather than the stream
    primary_key: tuple[str, ...]
    cursor_field: str | None
    sorted_by_cursor: bool


@dataclass
class Page:
    records: list[dict[str, Any]]
    state: dict[str, Any] | None = None  # None: keep the stored state until a later page says otherwise


@dataclass(frozen=True)
class StaffRecord:
    """A directory row: the entry to load and the other identifiers (username, staff number) that alias it."""

    entry: DirectoryEntry
    alias_pseudonyms: tuple[str, ...] = ()


class Options(BaseModel):
    """Base for a source type's options; unknown keys are errors, so typos are caught."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Schedule:
    """When a source is worth pulling: every `interval` seconds, or at the times of a `cron` expression."""

    interval: int | None = None
    cron: str | None = None

    def __post_init__(self) -> None:
        if (self.interval is None) == (self.cron is None):
            raise ValueError("a Schedule has an interval or a cron expression, not both and not neither")


@dataclass
class PullContext:
    run_started: datetime
    since: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Source(ABC):
    """Base for every connector. Subclasses declare `type`, `streams`, `options_model`; implement read and map."""

    type: ClassVar[str]
    streams: ClassVar[tuple[Stream, ...]]
    options_model: ClassVar[type[Options]] = Options
    # Record fields holding raw identifiers: dropped from quarantined copies of records.
    identifier_fields: ClassVar[tuple[str, ...]] = ()
    # What a source of this type holds (one line) and when to pull it: the scheduled deployment of each source
    # in prefect.yaml is written from these (deploy/pull_deployments.py). None: records are pushed, never pulled.
    summary: ClassVar[str] = ""
    pull_schedule: ClassVar[Schedule | None] = None

    def __init__(self, name: str, config: SourceConfig, context: PullContext) -> None:
        self.name, self.config, self.context = name, config, context
        self.options = parse_options(self.options_model, config, name)

    @abstractmethod
    def read(self, stream: Stream, state: dict[str, Any]) -> Iterator[Page]:
        """Pages of raw records after `state` (or from `self.context.since` when replaying a window)."""

    def map(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> Event | None:
        """One record as an event, None to skip it, or MappingError to quarantine it."""
        raise NotImplementedError(f"{self.type} stream {stream.name} produces events but has no mapper")

    def map_staff(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> StaffRecord:
        """One directory record; only for streams with `kind=None`."""
        raise NotImplementedError(f"{self.type} stream {stream.name} has no directory mapper")

    def record_id(self, stream: Stream, record: dict[str, Any]) -> str:
        """The primary key as one string, for quarantine rows and logs."""
        parts = [str(record.get(k, "")) for k in stream.primary_key]
        return "/".join(parts)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients; called once after every stream was read."""

    def require(self, record: dict[str, Any], field_name: str, what: str | None = None) -> Any:
        """A field the mapping needs; its absence is a MappingError naming the field."""
        value = record.get(field_name)
        if value in (None, ""):
            raise MappingError(f"{what or field_name} missing: the record has no '{field_name}'")
        return value


ENTRY_POINT_GROUP = "realise.connectors"
# Types registered in code (a test's own source), and the declared types loaded so far.
SOURCE_TYPES: dict[str, type[Source]] = {}


def register(cls: type[Source]) -> type[Source]:
    """Class decorator: make a Source available as `type:` without declaring an entry point (tests)."""
    SOURCE_TYPES[cls.type] = cls
    return cls


def _declared() -> dict[str, EntryPoint]:
    return {entry.name: entry for entry in entry_points(group=ENTRY_POINT_GROUP)}


def type_names() -> list[str]:
    """Every connector type, declared or registered, in alphabetical order."""
    return sorted(set(_declared()) | set(SOURCE_TYPES))


def declared_types() -> list[str]:
    """The connector types an installation declares (its entry points), in alphabetical order: what a
    deployment can name, whatever a test has registered in code."""
    return sorted(_declared())


def source_type(name: str, type_name: str) -> type[Source]:
    """The class that reads sources of `type: type_name` (`name` is the source, for the message)."""
    if type_name in SOURCE_TYPES:
        return SOURCE_TYPES[type_name]
    declared = _declared()
    if type_name not in declared:
        if not declared:
            raise SourceError(f"no connector types are installed (no entry points in group {ENTRY_POINT_GROUP}): "
                              "install Realise with `make install`, or `pip install -e .` in its source tree")
        known = ", ".join(type_names())
        raise SourceError(f"sources.{name}.type '{type_name}' is not a connector type; use one of: {known}")
    SOURCE_TYPES[type_name] = _load(declared[type_name])
    return SOURCE_TYPES[type_name]


def _load(entry: EntryPoint) -> type[Source]:
    declared = f"connector type '{entry.name}' (entry point {entry.name} = {entry.value!r} in {ENTRY_POINT_GROUP})"
    fix = "fix it under [project.entry-points] in pyproject.toml and reinstall (`make install`)"
    try:
        cls = entry.load()
    except (ImportError, AttributeError) as exc:
        raise SourceError(f"{declared} cannot be loaded ({type(exc).__name__}: {exc}): {fix}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Source) and getattr(cls, "type", None) == entry.name):
        raise SourceError(f"{declared} names {cls!r}, not a Source whose type is '{entry.name}': {fix}")
    return cls


def cursor_after(current: str | None, candidate: str | None, cap: str | None = None) -> str | None:
    """The later of two ISO-8601 cursor values (same format), never beyond `cap`."""
    values = [v for v in (current, candidate) if v]
    if not values:
        return current
    best = max(values)
    if cap and best > cap:
        best = max(cap, current or "")
    return best
