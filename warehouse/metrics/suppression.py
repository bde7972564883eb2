"""Small-number suppression: no value for a group under the minimum size, and no way to work one out.

Primary: a cell whose group has fewer than `minimum` people is hidden. Secondary: under a published
parent (the trust for staff groups, a directorate for its wards, ...), one hidden child could be recovered
by subtracting its visible siblings from the parent; so wherever exactly one sibling is hidden, the
smallest visible sibling is hidden too. Every statistic of a hidden cell (value, numerator, denominator, n)
is withheld, because each one is additive across siblings.
"""

from __future__ import annotations

import pandas as pd

SIBLING_KEYS = ["metric_id", "grain", "period", "segment_type", "parent_segment_type", "parent_segment_value"]
PARENT_KEYS = ["metric_id", "grain", "period", "segment_type", "segment_value"]


def suppress(cells: pd.DataFrame, minimum: int) -> pd.DataFrame:
    """`cells` with `suppressed` and `suppression_reason` columns added (a new frame)."""
    out = cells.copy()
    out["suppressed"] = out["n"].fillna(0).astype(int) < minimum
    out["suppression_reason"] = out["suppressed"].map({True: "primary", False: None})
    if out.empty:
        return out
    parents = out.set_index(PARENT_KEYS)["suppressed"].to_dict()
    children = out[out["parent_segment_type"].notna()]
    for _, group in children.groupby(SIBLING_KEYS, dropna=False, sort=False):
        hidden = group["suppressed"]
        if hidden.sum() != 1:
            continue  # none hidden, or two or more: their total is known but not each one
        first = group.iloc[0]
        parent_key = (first["metric_id"], first["grain"], first["period"], first["parent_segment_type"],
                      first["parent_segment_value"])
        if parents.get(parent_key, False):
            continue  # the parent is hidden itself: nothing to subtract from
        visible = group[~hidden]
        if visible.empty:
            continue
        victim = visible.sort_values(["n", "segment_value"]).index[0]
        out.loc[victim, "suppressed"] = True
        out.loc[victim, "suppression_reason"] = "secondary"
    return out
