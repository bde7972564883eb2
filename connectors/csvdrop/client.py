"""Reading one dropped CSV file: its header and its rows, each with the line it starts on."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import SourceError

ROW_FIELD, FILE_FIELD = "__row__", "__file__"


@dataclass
class CsvFile:
    path: Path
    header: list[str]
    records: list[dict[str, str | None]]


def read_csv(path: Path, *, encoding: str, delimiter: str, source: str) -> CsvFile:
    """Rows as dicts keyed by heading. A row with too many or too few fields keeps them visible: extra values
    under `__extra__`, missing ones as None, so the mapper can quarantine it with its line number."""
    try:
        with path.open(newline="", encoding=encoding) as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                return CsvFile(path, [], [])
            if len(set(header)) != len(header):
                repeated = sorted({h for h in header if header.count(h) > 1})
                raise SourceError(f"source '{source}': {path.name} repeats the heading {repeated[0]!r}; give every "
                                  "column its own heading")
            records: list[dict[str, str | None]] = []
            width = len(header)
            line = reader.line_num
            for row in reader:
                start, line = line + 1, reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                record: dict[str, str | None] = dict(zip(header, row, strict=False))
                if len(row) < width:
                    record.update(dict.fromkeys(header[len(row):]))
                elif len(row) > width:
                    record["__extra__"] = delimiter.join(row[width:])
                record[FILE_FIELD], record[ROW_FIELD] = path.name, str(start)
                records.append(record)
    except UnicodeDecodeError:
        raise SourceError(f"source '{source}': {path.name} is not {encoding} text; set "
                          f"sources.{source}.options.encoding (e.g. cp1252 for CSVs saved by older Excel)") from None
    return CsvFile(path, header, records)
