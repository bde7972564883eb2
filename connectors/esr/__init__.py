"""Staff directory from an ESR-like CSV export: org unit, staff group, band and go-live wave per person.

The e-mail address is the canonical identifier (its keyed hash is the pseudonym everywhere); the employee
number and username become aliases, so sources that only know those link to the same person. Each load is
a snapshot that replaces the directory. Column names are options, defaulting to the ESR export's headings.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from connectors.core.build import EventBuilder
from connectors.core.stream import MappingError, Options, Page, Schedule, Source, StaffRecord, Stream
from foundation.errors import SourceError
from warehouse.directory import DirectoryEntry


class EsrOptions(Options):
    email_column: str = "Email Address"
    alias_columns: list[str] = Field(default_factory=lambda: ["Employee Number", "Username"])
    org_unit_column: str = "Org Unit Code"
    hierarchy_column: str | None = Field("Org Hierarchy", description="Codes top first, separated by ' > '")
    hierarchy_separator: str = " > "
    staff_group_column: str = "Staff Group"
    band_column: str | None = "Pay Band"
    wave_column: str | None = "Go-Live Wave"
    system_column: str | None = "Primary System"
    status_column: str | None = "Assignment Status"
    in_scope_statuses: list[str] = Field(
        default_factory=lambda: ["Active Assignment", "Acting Up", "Secondment"],
        description="Assignment statuses counted as in scope; others are loaded but out of scope")
    encoding: str = "utf-8-sig"


class EsrCsv(Source):
    type: ClassVar[str] = "esr_csv"
    summary: ClassVar[str] = "Staff directory (ESR export): org unit, staff group, band and go-live wave per person."
    pull_schedule: ClassVar[Schedule] = Schedule(cron="0 5 * * *")
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream("staff", None, primary_key=("Email Address",), cursor_field=None, sorted_by_cursor=False),
    )
    options_model = EsrOptions
    identifier_fields = ("Email Address", "Employee Number", "Username", "Full Name", "Assignment Number")
    options: EsrOptions

    def _file(self) -> Path:
        if not self.config.path:
            raise SourceError(f"source '{self.name}' (esr_csv) needs path: set sources.{self.name}.path to the export")
        path = Path(self.config.path)
        if not path.is_file():
            raise SourceError(f"source '{self.name}': the staff directory export {path} does not exist; "
                              f"fix sources.{self.name}.path")
        return path

    def read(self, stream: Stream, state: dict[str, Any]) -> Iterator[Page]:
        path = self._file()
        with path.open(newline="", encoding=self.options.encoding) as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or [])
            o = self.options
            needed = [c for c in (o.email_column, o.org_unit_column, o.staff_group_column) if c not in columns]
            if needed:
                raise SourceError(f"source '{self.name}': {path} has no column {', '.join(map(repr, needed))}; "
                                  f"set sources.{self.name}.options to the export's headings "
                                  f"(found: {', '.join(sorted(columns))})")
            rows = list(reader)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        yield Page(rows, {"cursor": digest, "file": path.name})

    def record_id(self, stream: Stream, record: dict[str, Any]) -> str:
        return "row-" + hashlib.sha256(repr(sorted(record.items())).encode()).hexdigest()[:12]

    def map_staff(self, stream: Stream, record: dict[str, Any], build: EventBuilder) -> StaffRecord:
        o = self.options
        email = (record.get(o.email_column) or "").strip()
        if "@" not in email:
            raise MappingError(f"'{o.email_column}' is not an e-mail address")
        unit = (record.get(o.org_unit_column) or "").strip()
        group = (record.get(o.staff_group_column) or "").strip()
        if not unit or not group:
            raise MappingError(f"'{o.org_unit_column}' and '{o.staff_group_column}' are required")
        path: tuple[str, ...] = ()
        if o.hierarchy_column and record.get(o.hierarchy_column):
            chain = [p.strip() for p in record[o.hierarchy_column].split(o.hierarchy_separator) if p.strip()]
            path = tuple(chain[:-1] if chain and chain[-1] == unit else chain)
        status = (record.get(o.status_column) or "").strip() if o.status_column else ""
        pseudonym = build.pseudonym(email)
        entry = DirectoryEntry(
            pseudonym=pseudonym, org_unit=unit, org_path=path, staff_group=group,
            band=(record.get(o.band_column) or None) if o.band_column else None,
            system=((record.get(o.system_column) or "").strip() if o.system_column else "") or self.config.system,
            go_live_wave=((record.get(o.wave_column) or "").strip() or None) if o.wave_column else None,
            in_scope=not o.status_column or status in o.in_scope_statuses,
        )
        aliases = tuple(build.pseudonym(v) for c in o.alias_columns if (v := (record.get(c) or "").strip()))
        return StaffRecord(entry, aliases)
