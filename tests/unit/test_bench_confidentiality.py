"""The confidentiality bench's arithmetic: hidden shares per metric and grain, and what each rule adds."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.confidentiality import cost_table, hidden_shares, render, rule_sets


def cells(hidden: list[bool], metric: str = "m", grain: str = "week") -> pd.DataFrame:
    return pd.DataFrame({"metric_id": metric, "grain": grain, "suppressed": hidden})


def test_each_rule_is_measured_alone_over_primary_and_all_together() -> None:
    sets = rule_sets(("secondary", "history"))

    assert sets == {"primary": {"primary"}, "+secondary": {"primary", "secondary"},
                    "+history": {"primary", "history"}, "all": {"primary", "secondary", "history"}}


def test_the_cost_of_a_rule_is_its_hidden_share_over_primary_alone() -> None:
    shares = {"primary": hidden_shares(cells([True, False, False, False])),
              "+secondary": hidden_shares(cells([True, True, False, False])),
              "all": hidden_shares(cells([True, True, True, False]))}

    table = cost_table(shares)

    row = table.loc[("m", "week")]
    assert row["primary"] == pytest.approx(0.25)
    assert row["all"] == pytest.approx(0.75)
    assert row["+secondary"] == pytest.approx(0.25)
    assert row["all - primary"] == pytest.approx(0.5)
    text = render(table, {"primary": {"residual": 3, "hidden_siblings": 0}, "all": {"residual": 0}})
    assert "25.0%" in text and "75.0%" in text
    assert "residual 3" in text and "all                0  none" in text
