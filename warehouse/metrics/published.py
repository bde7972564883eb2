"""What each metric cell has published so far, read before a refresh suppresses its cells and written after.

The suppression rules weigh what a reader already knows (suppression.py): the statistics each cell last
showed, whether it was hidden at the previous refresh, and which stored cells share rows with the cells being
recomputed. `core.metric_disclosure` keeps that per cell (its newest state and its last shown statistics), so
a refresh reads one row per cell rather than the whole history in `core.metric_values`.

A cell's 95% interval (`ci_low`, `ci_high`) is one more statistic: hidden with the cell, held with a held
revision, and kept as last shown while the cell's other statistics are (`hold_intervals`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warehouse.metrics.cells import CELL_COLUMNS
from warehouse.metrics.suppression import KEY

_STATE_SQL = """
    select grain, period, segment_type, segment_value, period_start, period_index, parent_segment_type,
           parent_segment_value, partition, n as last_n, fingerprint, suppressed as last_hidden,
           suppression_reason as last_reason, value, numerator, denominator, ci_low, ci_high,
           shown_value, shown_numerator, shown_denominator, shown_n, shown_ci_low, shown_ci_high, closed
    from core.metric_disclosure where metric_id = :m
"""


def previous_state(conn: Connection, metric_id: str) -> pd.DataFrame:
    """Each stored cell of the metric, indexed by KEY (empty before its first refresh)."""
    result = conn.execute(sa.text(_STATE_SQL), {"m": metric_id})
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    if frame.empty:
        return frame
    return frame.set_index(KEY)


def with_linked(cells: pd.DataFrame, previous: pd.DataFrame, metric_id: str) -> pd.DataFrame:
    """`cells` and, as stored, every stored cell of the periods not recomputed now that hold a cell with the
    same rows as a recomputed one (a week since go-live recomputed for one wave is the calendar week of
    another), and of their twins in turn: decisions are taken afresh over all of them, as a full refresh
    takes them, so a decision taken now reaches every twin and the twins' partitions. Their statistics are
    the stored ones (core.metric_disclosure keeps them for hidden cells too); a cell stored hidden before
    they were kept stays hidden (`frozen_forced`)."""
    if previous.empty or cells.empty:
        return cells
    stored = previous.reset_index()
    stored = stored[~stored["closed"].astype(bool)]  # closed cells are not published: no equation holds them
    period = stored["grain"].astype(str) + "|" + stored["period"].astype(str)
    recomputed = period.isin(set(cells["grain"].astype(str) + "|" + cells["period"].astype(str)))
    elsewhere, elsewhere_period = stored[~recomputed], period[~recomputed]
    # The recomputed cells' rows now, and their rows before: a stored cell hidden only because it had the
    # same rows as one of them may no longer need hiding.
    fingerprints = set(cells["fingerprint"].dropna()) | set(stored.loc[recomputed, "fingerprint"].dropna())
    periods: set[str] = set()
    while True:  # twins of twins: until no stored period outside the set shares rows with one inside
        more = set(elsewhere_period[elsewhere["fingerprint"].isin(fingerprints)]) - periods
        if not more:
            break
        periods |= more
        fingerprints |= set(elsewhere.loc[elsewhere_period.isin(more), "fingerprint"].dropna())
    if not periods:
        return cells
    frozen = elsewhere[elsewhere_period.isin(periods)].copy()
    frozen["metric_id"] = metric_id
    frozen["n"] = frozen["last_n"]
    frozen["frozen"] = True
    frozen["frozen_hidden"] = frozen["last_hidden"].astype(bool)
    frozen["frozen_reason"] = frozen["last_reason"]
    frozen["frozen_forced"] = frozen["frozen_hidden"] & frozen[["value", "numerator", "denominator"]].isna().all(axis=1)
    out = cells.copy()
    out["frozen"] = False
    out["frozen_hidden"] = False
    out["frozen_reason"] = None
    out["frozen_forced"] = False
    extra = ["frozen", "frozen_hidden", "frozen_reason", "frozen_forced"]
    return pd.concat([out, frozen[CELL_COLUMNS + extra]], ignore_index=True)


def closing(previous: pd.DataFrame, cells: pd.DataFrame, scope: set[str] | None, metric_id: str) -> pd.DataFrame:
    """Stored cells of the recomputed periods (`grain|period`; None: every period) that no longer have any
    rows, as cells to write closed: a response re-dated to another week, a ticket reopened, a retracted
    record take their cell with them, and the latest view must not keep its last value. A closed cell is
    known to be empty, so it hides no one and is not weighed by suppression; its neighbours' changes are
    (the history rule holds a parent whose change is too small)."""
    columns = [*CELL_COLUMNS, "suppressed", "suppression_reason", "closed"]
    if previous.empty:
        return pd.DataFrame(columns=columns)
    stored = previous.reset_index()
    stored = stored[~stored["closed"].astype(bool)]
    if scope is not None:
        stored = stored[(stored["grain"].astype(str) + "|" + stored["period"].astype(str)).isin(scope)]
    if not cells.empty:
        present = pd.MultiIndex.from_frame(cells[KEY].astype(str))
        stored = stored[~pd.MultiIndex.from_frame(stored[KEY].astype(str)).isin(present)]
    if stored.empty:
        return pd.DataFrame(columns=columns)
    gone = stored.assign(metric_id=metric_id, n=0, value=None, numerator=None, denominator=None, ci_low=None,
                         ci_high=None, fingerprint=None, suppressed=False, suppression_reason=None, closed=True)
    return gone[columns].reset_index(drop=True)


def to_write(cells: pd.DataFrame) -> pd.DataFrame:
    """The recomputed cells, and the stored ones whose decision changed."""
    if "frozen" not in cells:
        return cells
    frozen = cells["frozen"].astype(bool)
    changed = frozen & ((cells["suppressed"] != cells["frozen_hidden"].astype(bool))
                        | (cells["suppressed"] & (cells["suppression_reason"] != cells["frozen_reason"])))
    return cells[~frozen | changed]


def hold_intervals(cells: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Cells shown with the value, numerator, denominator and n they last showed keep the interval they last
    showed. The history rule lets such a cell through as unchanged (suppression.py), but the interval of a
    net score or a mean also reads the rows' sum of squares, which a few people's changed answers can move
    while the other statistics stay: a new interval would give those few away. A cell shown before it had an
    interval shows its interval now (no earlier one to compare it with)."""
    if previous.empty or cells.empty or "shown_ci_low" not in previous:
        return cells
    before = previous.reindex(pd.MultiIndex.from_frame(cells[KEY]))
    held = (~cells["suppressed"].astype(bool).to_numpy()) & before["shown_ci_low"].notna().to_numpy()
    for stat in ("value", "numerator", "denominator", "n"):
        now = pd.to_numeric(cells[stat], errors="coerce").to_numpy(dtype=float)
        shown = pd.to_numeric(before[f"shown_{stat}"], errors="coerce").to_numpy(dtype=float)
        held &= (np.isnan(now) & np.isnan(shown)) | np.isclose(now, shown, rtol=1e-9, atol=1e-9)
    if not held.any():
        return cells
    out = cells.copy()
    out.loc[held, "ci_low"] = before["shown_ci_low"].to_numpy()[held]
    out.loc[held, "ci_high"] = before["shown_ci_high"].to_numpy()[held]
    return out


_COLUMNS = ("refresh_id", "metric_id", "grain", "period", "period_start", "period_index", "segment_type",
            "segment_value", "parent_segment_type", "parent_segment_value", "partition", "value", "numerator",
            "denominator", "n", "suppressed", "suppression_reason", "computed_at", "fingerprint", "closed",
            "ci_low", "ci_high")
_CELLS = "pg_temp.realise_cells"  # this refresh's cells of one metric, statistics included when hidden

# History gets no statistic of a hidden cell; the internal state keeps them (so a later refresh can show a
# cell that no longer needs hiding) with the statistics last shown.
_HISTORY_SQL = f"""
    insert into core.metric_values ({", ".join(_COLUMNS)})
    select {", ".join(f"case when suppressed then null else {c} end"
                      if c in ("value", "numerator", "denominator", "ci_low", "ci_high") else c for c in _COLUMNS)}
    from {_CELLS}
"""
_REMEMBER_SQL = """
    insert into core.metric_disclosure as m (
        metric_id, grain, period, segment_type, segment_value, refresh_id, computed_at, period_start,
        period_index, parent_segment_type, parent_segment_value, partition, n, fingerprint, suppressed,
        suppression_reason, value, numerator, denominator, shown_refresh_id, shown_computed_at, shown_value,
        shown_numerator, shown_denominator, shown_n, closed, ci_low, ci_high, shown_ci_low, shown_ci_high)
    select metric_id, grain, period, segment_type, segment_value, refresh_id, computed_at, period_start,
           period_index, parent_segment_type, parent_segment_value, partition, n, fingerprint, suppressed,
           suppression_reason, value, numerator, denominator,
           case when not (suppressed or closed) then refresh_id end,
           case when not (suppressed or closed) then computed_at end,
           case when not (suppressed or closed) then value end,
           case when not (suppressed or closed) then numerator end,
           case when not (suppressed or closed) then denominator end,
           case when not (suppressed or closed) then n end, closed, ci_low, ci_high,
           case when not (suppressed or closed) then ci_low end,
           case when not (suppressed or closed) then ci_high end
    from {source}
    on conflict (metric_id, grain, period, segment_type, segment_value) do update set
        refresh_id = excluded.refresh_id, computed_at = excluded.computed_at,
        period_start = excluded.period_start, period_index = excluded.period_index,
        parent_segment_type = excluded.parent_segment_type, parent_segment_value = excluded.parent_segment_value,
        partition = excluded.partition, n = excluded.n, fingerprint = excluded.fingerprint,
        suppressed = excluded.suppressed, suppression_reason = excluded.suppression_reason,
        value = excluded.value, numerator = excluded.numerator, denominator = excluded.denominator,
        ci_low = excluded.ci_low, ci_high = excluded.ci_high, closed = excluded.closed,
        shown_refresh_id = case when excluded.suppressed or excluded.closed then m.shown_refresh_id
                                else excluded.refresh_id end,
        shown_computed_at = case when excluded.suppressed or excluded.closed then m.shown_computed_at
                                 else excluded.computed_at end,
        shown_value = case when excluded.suppressed or excluded.closed then m.shown_value else excluded.value end,
        shown_numerator = case when excluded.suppressed or excluded.closed then m.shown_numerator
                               else excluded.numerator end,
        shown_denominator = case when excluded.suppressed or excluded.closed then m.shown_denominator
                                 else excluded.denominator end,
        shown_n = case when excluded.suppressed or excluded.closed then m.shown_n else excluded.n end,
        shown_ci_low = case when excluded.suppressed or excluded.closed then m.shown_ci_low else excluded.ci_low end,
        shown_ci_high = case when excluded.suppressed or excluded.closed then m.shown_ci_high
                             else excluded.ci_high end
"""


def _text(value: Any) -> str | None:
    """Text or NULL: pandas' string columns hold a missing value as NaN, which would be stored as 'NaN'."""
    return None if value is None or pd.isna(value) else str(value)


def _flag(value: Any) -> bool:
    """A boolean column that concatenation may have left missing (NaN) for rows without it."""
    return value is not None and not pd.isna(value) and bool(value)


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def write(conn: Connection, cells: pd.DataFrame, metric_id: str, refresh_id: int, computed_at: datetime) -> None:
    """Cells appended to history and remembered per cell. Hidden cells go to history without value,
    numerator, denominator or interval: nothing to leak later. Copied in, in the refresh's transaction (an insert per
    cell costs more than its computing)."""
    conn.execute(sa.text(f"create temporary table if not exists {_CELLS.split('.')[1]} "
                         "(like core.metric_values including defaults) on commit drop"))
    conn.execute(sa.text(f"truncate {_CELLS}"))
    cursor = conn.connection.cursor()
    try:
        with cursor.copy(f"copy {_CELLS} ({', '.join(_COLUMNS)}) from stdin") as copy:
            for row in cells.itertuples(index=False):
                hidden = bool(row.suppressed)
                copy.write_row((
                    refresh_id, row.metric_id, row.grain, row.period,
                    row.period_start if isinstance(row.period_start, date) else None,
                    None if pd.isna(row.period_index) else int(row.period_index),
                    row.segment_type, row.segment_value, _text(row.parent_segment_type),
                    _text(row.parent_segment_value), _text(row.partition),
                    _number(row.value), _number(row.numerator), _number(row.denominator),
                    int(row.n), hidden, row.suppression_reason if hidden else None, computed_at,
                    _text(row.fingerprint), _flag(getattr(row, "closed", False)),
                    _number(row.ci_low), _number(row.ci_high)))
    finally:
        cursor.close()
    conn.execute(sa.text(_HISTORY_SQL))
    conn.execute(sa.text(_REMEMBER_SQL.format(source=_CELLS)))


def remember(conn: Connection, refresh_id: int, metric_id: str | None = None) -> None:
    """Each cell a refresh wrote to history (of one metric, or all) as its newest state in
    core.metric_disclosure: for history written by other means than `write`."""
    source = ("(select * from core.metric_values where refresh_id = :r "
              "and (cast(:m as text) is null or metric_id = :m)) v")
    conn.execute(sa.text(_REMEMBER_SQL.format(source=source)), {"r": refresh_id, "m": metric_id})
