"""The shape of a metric cell as the engine suppresses and stores it, whichever way it was computed.

Every cell names the parent it is part of (`parent_segment_type`, `parent_segment_value`) and the partition
of that parent it belongs to (`partition`): the cells of one partition add up to their parent, because
people outside every child have a residual cell of their own (`RESIDUAL`: no unit, no staff group, no
system, no wave). The org tree nests: a level-1 node is its level-2 nodes plus the staff assigned to it
directly (its own unit cell); a level-2 node is the units under it (itself included); the trust is its
level-1 nodes plus the root and unknown units and the staff with no unit. Suppression (suppression.py)
sees every equation a reader could write.

`fingerprint` identifies a cell's rows (their count and a sum of hashes of each row's person and calendar
week): two cells with the same fingerprint hold the same person-weeks, in whichever grain or segment, and
must share one suppression decision.

`ci_low` and `ci_high` are the value's 95% interval (intervals.py), from the same sums as the value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import pandas as pd

from warehouse.metrics.intervals import for_cell
from warehouse.metrics.registry import RESIDUAL, TRUST, Metric, partition_of

CELL_COLUMNS = ["metric_id", "grain", "period", "period_start", "period_index", "segment_type", "segment_value",
                "parent_segment_type", "parent_segment_value", "partition", "value", "numerator", "denominator",
                "ci_low", "ci_high", "n", "fingerprint"]
# Each base row's hash by its person and calendar week (`_day`: the row's week, or for a row of the week-since-
# go-live grain only, the last day of that week); summed once per cell the row falls in, with the row count, it
# identifies the cell's rows. A wave going live on a Monday gives the same person-weeks in a calendar week and
# in a week since go-live, even where the base SQL writes each grain's rows separately. grouping.base_rows_sql
# works it out once per row as `_h` (stored with the rows, so a grouping of stored rows sums a column instead
# of hashing every row once per grouping set); summed as numeric, so a signed change (-_h) cannot overflow.
ROW_HASH_COLUMN_SQL = "hashtextextended(concat_ws('|', {subject}::text, date_trunc('week', {day})::date::text), 0)"
ROW_HASH_SQL = "_h::numeric"
FINGERPRINT_SQL = f"(count(*)::text || ':' || coalesce(sum({ROW_HASH_SQL})::text, ''))"

Levels = dict[str, tuple[str | None, str | None]]


def period_text(key: date | int) -> str:
    """How a period is stored: the ISO date of its week's Monday, or the week since go-live."""
    return key.isoformat() if isinstance(key, date) else str(key)


def period_key(grain: str, text: str) -> date | int:
    """A stored period back as its key: the week's Monday, or the week since go-live."""
    return date.fromisoformat(text) if grain == "week" else int(text)


def cell(metric: Metric, grain: str, key: date | int, segment: str, value: str, row: Any,
         levels: Levels) -> dict[str, Any]:
    """One cell as CELL_COLUMNS, from a row with value, numerator, denominator, n, fingerprint and the
    interval's sums (intervals.INTERVAL_COLUMNS)."""
    parent_type, parent_value = parent_of(segment, value, levels, metric.segments)
    ci_low, ci_high = for_cell(metric, row)
    return {
        "metric_id": metric.id, "grain": grain, "period": period_text(key),
        "period_start": key if isinstance(key, date) else None,
        "period_index": key if not isinstance(key, date) else None,
        "segment_type": segment, "segment_value": value,
        "parent_segment_type": parent_type, "parent_segment_value": parent_value,
        "partition": partition_of(segment),
        "value": _num(row["value"]), "numerator": _num(row["numerator"]),
        "denominator": _num(row["denominator"]), "ci_low": ci_low, "ci_high": ci_high, "n": int(row["n"] or 0),
        "fingerprint": row["fingerprint"],
    }


def cells_of(metric: Metric, rows: Iterable[Mapping[str, Any]], levels: Levels) -> pd.DataFrame:
    """Cells from grouped rows (grouping.grouping_sets_sql, or a cell's stored components evaluated): grain,
    period as stored, segment_type, segment_value and what `cell` reads."""
    return pd.DataFrame([cell(metric, row["grain"], period_key(row["grain"], row["period"]), row["segment_type"],
                              row["segment_value"], row, levels) for row in rows], columns=CELL_COLUMNS)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def parent_of(segment: str, value: str, levels: Levels,
              segments: tuple[str, ...]) -> tuple[str | None, str | None]:
    """The published cell a cell is part of: its nearest published ancestor in the org tree, else the trust.

    `levels` maps each org unit (every node of the tree is one) to its level-1 and level-2 ancestors, or
    itself at that level."""
    if segment == "trust":
        return None, None
    if segment == "org_level_2":
        l1 = levels.get(value, (None, None))[0]
        return ("org_level_1", l1) if l1 and l1 != value and "org_level_1" in segments else ("trust", TRUST)
    if segment == "org_unit" and value != RESIDUAL:
        l1, l2 = levels.get(value, (None, None))
        if l2 and "org_level_2" in segments:
            return "org_level_2", l2
        if l1 and "org_level_1" in segments:
            return "org_level_1", l1
    return "trust", TRUST


def drop_lone_residuals(cells: pd.DataFrame) -> pd.DataFrame:
    """Without the residual cells that are a partition's only child: they would repeat their parent (a
    metric whose rows carry no system, say)."""
    if cells.empty:
        return cells
    residual = cells["segment_value"] == RESIDUAL
    if not residual.any():
        return cells
    family = ["grain", "period", "parent_segment_type", "parent_segment_value", "partition"]
    members = cells.groupby(family, dropna=False)["segment_value"].transform("size")
    return cells[~(residual & (members == 1))].reset_index(drop=True)
