"""Register dates written as days or counted from a wave's go-live, resolved when the register is stored."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from foundation.errors import ConfigError
from warehouse.benefits import BenefitSpec, Point, _row, load_register

ROOT = Path(__file__).resolve().parents[2]
GO_LIVE = {"wave-1": date(2026, 10, 7), "wave-3": date(2026, 12, 20)}


def spec(baseline: object, target: object) -> BenefitSpec:
    return BenefitSpec.model_validate({
        "id": "b", "title": "B", "metric": "net_experience_score", "owner": "o",
        "baseline": {"value": 0, "date": baseline}, "target": {"value": 10, "date": target}})


@pytest.mark.parametrize(("written", "day"), [
    ("wave-1", date(2026, 10, 7)),
    ("wave-1 + 12 weeks", date(2026, 12, 30)),
    ("wave-3 - 2 weeks", date(2026, 12, 6)),
    ("wave-3 -1 week", date(2026, 12, 13)),
    ("wave-1  +  1  weeks", date(2026, 10, 14)),
    (date(2026, 9, 1), date(2026, 9, 1)),
    ("2026-09-01", date(2026, 9, 1)),
])
def test_a_date_is_a_day_or_weeks_from_a_wave_go_live(written: object, day: date) -> None:
    assert Point(value=1, date=written).on(GO_LIVE) == day


@pytest.mark.parametrize("written", ["next tuesday", "wave-1 + 3 days", "wave-1 + weeks", "+ 2 weeks"])
def test_anything_else_is_refused_with_the_forms_allowed(written: str) -> None:
    with pytest.raises(ValidationError, match="wave-1 \\+ 12 weeks"):
        Point(value=1, date=written)


def test_order_is_checked_when_it_is_known_without_go_live_dates() -> None:
    with pytest.raises(ValidationError, match="must come after"):
        spec("wave-1 + 4 weeks", "wave-1 + 2 weeks")
    with pytest.raises(ValidationError, match="must come after"):
        spec(date(2026, 9, 1), date(2026, 8, 1))
    spec("wave-1", "wave-3")  # decided when the dates are known


def test_storing_resolves_dates_and_checks_their_order() -> None:
    row = _row(spec("wave-1 - 4 weeks", "wave-3"), GO_LIVE)
    assert (row["bd"], row["td"]) == (date(2026, 9, 9), date(2026, 12, 20))
    with pytest.raises(ConfigError, match="target.date 2026-10-07 .* must come after baseline.date 2026-12-20"):
        _row(spec("wave-3", "wave-1"), GO_LIVE)


def test_a_wave_without_a_go_live_date_stops_with_what_to_set() -> None:
    with pytest.raises(ConfigError, match="counts from the go-live of 'wave-2', which has no date .*"
                                          "metrics.go_live_dates"):
        _row(spec("wave-2", "wave-2 + 4 weeks"), GO_LIVE)


def test_the_example_register_follows_the_go_live_dates_it_is_given() -> None:
    specs = load_register(ROOT / "benefits.yaml")
    early = [_row(s, GO_LIVE) for s in specs]
    later = [_row(s, {w: d.replace(year=d.year + 1) for w, d in GO_LIVE.items()}) for s in specs]
    assert all(a["td"] > a["bd"] for a in early)
    assert all((b["td"] - a["td"]).days in (364, 365, 366) for a, b in zip(early, later, strict=True))
