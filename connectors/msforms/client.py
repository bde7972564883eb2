"""Reading one Microsoft Forms export: an xlsx workbook ("Open results in Excel") or a CSV saved from it.

Both hold one header row ("ID", "Start time", "Completion time", "Email", "Name", newer exports also "Last
modified time", then one column per question headed by its text) and one row per response, oldest first.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.msforms.settings import EXPORT_NAME, FIXED_COLUMNS
from foundation.errors import SourceError


@dataclass
class Export:
    path: Path
    title: str  # the form's title, from the file name
    header: list[str]
    rows: list[tuple[Any, ...]]

    def column(self, name: str) -> int | None:
        wanted = name.strip().lower()
        return next((i for i, h in enumerate(self.header) if h.strip().lower() == wanted), None)


def form_title(path: Path) -> str:
    match = EXPORT_NAME.match(path.stem)
    return (match.group("title") if match else path.stem).strip() or path.stem


def read_export(path: Path, *, source: str, sheet: str | None, encoding: str) -> Export:
    """The export's header and rows; a file that is not a Forms export is a SourceError saying why."""
    rows = _xlsx_rows(path, sheet, source) if path.suffix.lower() == ".xlsx" else _csv_rows(path, encoding, source)
    try:
        first = next(rows)
    except StopIteration:
        raise SourceError(f"source '{source}': {path.name} is empty, not a Microsoft Forms export") from None
    header = ["" if h is None else str(h).strip() for h in first]
    missing = [c for c in FIXED_COLUMNS if c.lower() not in {h.lower() for h in header}]
    if missing:
        raise SourceError(f"source '{source}': {path.name} is not a Microsoft Forms export: it has no "
                          f"{', '.join(map(repr, missing))} column (found: {', '.join(header[:8])})")
    body = [row for row in rows if any(v not in (None, "") for v in row)]
    return Export(path, form_title(path), header, body)


def _xlsx_rows(path: Path, sheet: str | None, source: str) -> Iterator[tuple[Any, ...]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, OSError, KeyError, ValueError) as exc:
        raise SourceError(f"source '{source}': {path.name} cannot be opened as an xlsx workbook ({exc})") from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise SourceError(f"source '{source}': {path.name} has no worksheet {sheet!r} "
                              f"(it has {', '.join(book.sheetnames)}); fix sources.{source}.options.sheet")
        yield from (book[sheet] if sheet else book.worksheets[0]).iter_rows(values_only=True)
    finally:
        book.close()


def _csv_rows(path: Path, encoding: str, source: str) -> Iterator[tuple[Any, ...]]:
    try:
        with path.open(newline="", encoding=encoding) as handle:
            for row in csv.reader(handle):
                yield tuple(row)
    except UnicodeDecodeError:
        raise SourceError(f"source '{source}': {path.name} is not {encoding} text; set "
                          f"sources.{source}.options.encoding (Excel's 'CSV' is often cp1252)") from None
