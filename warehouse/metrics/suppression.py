"""Small-number suppression: no value for a group under the minimum size, and no way to work one out.

Primary: a cell whose group has fewer than `minimum` people is hidden. Secondary: under a published
parent (the trust for staff groups, a directorate for its wards, ...), one hidden child could be recovered
by subtracting its visible siblings from the parent; so wherever exactly one sibling is hidden, the
smallest visible sibling is hidden too. The same holds one level down: a parent hidden by secondary
suppression whose children are all visible would be their sum (and then its tiny sibling would follow by
subtraction), so such a parent gets its smallest child hidden too. Families are visited top-down (trust,
then divisions, directorates, wards), so a child family always sees its parent's final state, and ties
on size are broken by segment value: the result does not depend on row order. Every statistic of a hidden
cell (value, numerator, denominator, n) is withheld, because each one is additive across siblings.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

SIBLING_KEYS = ["metric_id", "grain", "period", "segment_type", "parent_segment_type", "parent_segment_value"]
PARENT_KEYS = ["metric_id", "grain", "period", "segment_type", "segment_value"]


def suppress(cells: pd.DataFrame, minimum: int) -> pd.DataFrame:
    """`cells` with `suppressed` and `suppression_reason` columns added (a new frame)."""
    out = cells.copy()
    sizes = out["n"].fillna(0).astype(int).tolist()
    hidden = [n < minimum for n in sizes]
    reasons: list[str | None] = ["primary" if h else None for h in hidden]
    if hidden:
        _secondary(out, sizes, hidden, reasons)
    out["suppressed"] = pd.Series(hidden, index=out.index, dtype=bool)
    out["suppression_reason"] = pd.Series(reasons, index=out.index, dtype=object)
    return out


def _secondary(cells: pd.DataFrame, sizes: list[int], hidden: list[bool], reasons: list[str | None]) -> None:
    """Hide further cells in place (positional lists) until no hidden cell can be derived by +/-."""
    own = list(zip(*(cells[c].tolist() for c in PARENT_KEYS), strict=True))
    position = {k: i for i, k in enumerate(own)}
    labels = [str(v) for v in cells["segment_value"].tolist()]
    families: dict[tuple[Any, ...], list[int]] = {}
    for i, (metric, grain, period, segment, parent_type, parent_value) in enumerate(
            zip(*(cells[c].tolist() for c in SIBLING_KEYS), strict=True)):
        if parent_type is None or pd.isna(parent_type):
            continue
        families.setdefault((metric, grain, period, parent_type, parent_value, segment), []).append(i)

    depth: dict[int, int] = {}

    def depth_of(i: int | None, seen: int = 0) -> int:
        if i is None or seen > 32:
            return -1
        if i not in depth:
            metric, grain, period, parent_type, parent_value = (
                cells.iat[i, cells.columns.get_loc(c)] for c in
                ("metric_id", "grain", "period", "parent_segment_type", "parent_segment_value"))
            parent = None if parent_type is None or pd.isna(parent_type) else position.get(
                (metric, grain, period, parent_type, parent_value))
            depth[i] = depth_of(parent, seen + 1) + 1
        return depth[i]

    parents = {f: position.get(f[:5]) for f in families}
    order = sorted(families, key=lambda f: (depth_of(parents[f]), tuple(map(str, f))))
    changed = True
    while changed:
        changed = False
        for family in order:
            children = families[family]
            visible = [c for c in children if not hidden[c]]
            if not visible:
                continue
            parent = parents[family]
            parent_hidden = parent is not None and hidden[parent]
            hidden_children = len(children) - len(visible)
            # One hidden child under a published parent: parent minus visible siblings would give it.
            # A hidden parent with every child visible: the children would add up to it.
            if (hidden_children == 1 and not parent_hidden) or (hidden_children == 0 and parent_hidden):
                victim = min(visible, key=lambda c: (sizes[c], labels[c]))
                hidden[victim] = True
                reasons[victim] = "secondary"
                changed = True
