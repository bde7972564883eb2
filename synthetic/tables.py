"""Reads the literal tables in synthetic/data/, so names, phrases and mixes are edited as data, not code."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from importlib.resources import files
from typing import Any


def _text(name: str) -> str:
    return (files(__package__) / "data" / name).read_text(encoding="utf-8")


def json_table(name: str) -> dict[str, Any]:
    """The JSON object in data/`name`."""
    return json.loads(_text(name))


def csv_rows(name: str) -> list[dict[str, str]]:
    """The rows of data/`name` (a CSV with a header line), every value a string."""
    return list(csv.DictReader(io.StringIO(_text(name), newline="")))


def keyed(table: dict[str, Any], names: Iterable[str], what: str) -> dict[str, Any]:
    """`table` in the order of `names`; a data file that names other things fails at import, not mid-run."""
    names = tuple(names)
    if set(table) != set(names):
        raise ValueError(f"{what}: expected {sorted(names)}, got {sorted(table)}")
    return {name: table[name] for name in names}
