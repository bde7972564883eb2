"""`realise bench pull` runs end to end on a small trust: figures come from a real pull through the broker."""

from __future__ import annotations

import pytest

from foundation.config import Settings


def test_given_a_small_trust_when_benchmarked_then_each_source_reports_its_records_rate_and_ratio(
        ingest_settings: Settings) -> None:
    from bench.pull import GOAL_RECORDS_PER_SECOND, run_bench

    figures = run_bench(ingest_settings, staff=150, sources=["servicenow", "moodle"])

    assert figures["goal_records_per_s"] == GOAL_RECORDS_PER_SECOND
    rows = {row["source"]: row for row in figures["sources"]}
    assert set(rows) == {"servicenow", "moodle"}
    for row in rows.values():
        assert row["records"] > 0 and row["published"] > 0 and row["requests"] > 0
        assert row["pull_records_per_s"] > 0 and row["baseline_records_per_s"] > 0
        # the ratio is of the unrounded rates: allow for the rounding of the two printed ones
        assert row["ratio"] == pytest.approx(row["pull_records_per_s"] / row["baseline_records_per_s"], abs=0.02)
        assert row["meets_goal"] == (row["pull_records_per_s"] >= GOAL_RECORDS_PER_SECOND)
    assert rows["moodle"]["requests"] > rows["servicenow"]["requests"]  # a call per learner and course
