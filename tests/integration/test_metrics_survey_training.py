"""Survey and training metrics against hand-computed values.

Each test inserts a few rows straight into the core tables of a freshly migrated warehouse and computes one
metric with `compute_cells` (no suppression), then checks the trust and a segment for one week and for the
week since go-live. The arithmetic behind every expected value is written next to it.

The trust: T > directorate T-D1 > wards T-D1-W1 (Nursing N1..N6) and T-D1-W2 (Medical M1..M6), all on
EPR in wave-1, which goes live on Monday 2026-03-02. So the calendar weeks 2026-02-16, 02-23, 03-02 and
03-09 are weeks -2, -1, 0 and 1 since go-live.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from foundation.config import Settings
from foundation.database import create_engine
from warehouse.metrics.definitions.survey_training import THEMES
from warehouse.metrics.engine import compute_cells
from warehouse.metrics.registry import REGISTRY, all_metrics
from warehouse.metrics.service import metric_params

pytestmark = pytest.mark.integration

GO_LIVE = date(2026, 3, 2)  # a Monday
W_M2, W_M1, W0, W1 = (GO_LIVE + timedelta(weeks=k) for k in (-2, -1, 0, 1))
NURSING, MEDICAL, AHP = "Nursing and Midwifery", "Medical and Dental", "Allied Health Professionals"
WARD_1, WARD_2, WARD_3 = "T-D1-W1", "T-D1-W2", "T-D1-W3"
NURSES = [f"N{i}" for i in range(1, 7)]
DOCTORS = [f"M{i}" for i in range(1, 7)]
# pseudonym -> (org unit, staff group, wave)
PEOPLE: dict[str, tuple[str, str, str | None]] = {
    **{p: (WARD_1, NURSING, "wave-1") for p in NURSES},
    **{p: (WARD_2, MEDICAL, "wave-1") for p in DOCTORS},
    "O1": (WARD_1, NURSING, "wave-1"),  # in the directory but out of scope
    "X1": (WARD_1, NURSING, "wave-1"),  # never in the directory
    **{f"L{i}": (WARD_1, NURSING, "wave-2") for i in (1, 2)},  # wave-2 goes live later
    **{f"A{i}": (WARD_3, AHP, "wave-3") for i in range(1, 6)},
}
DEFAULTS = {**metric_params(Settings()), "readiness_target_pct": 90.0, "required_courses": [],
            "shifts_per_week": 4.0, "fte_hours_per_week": 37.5, "hourly_cost_gbp": 25.0}


@pytest.fixture
def conn(warehouse_url: str) -> Iterator[Connection]:
    all_metrics()
    engine = create_engine(warehouse_url)
    with engine.begin() as connection:
        for code, parent, path in (("T", None, []), ("T-D1", "T", ["T"]), (WARD_1, "T-D1", ["T", "T-D1"]),
                                   (WARD_2, "T-D1", ["T", "T-D1"]), (WARD_3, "T-D1", ["T", "T-D1"])):
            connection.execute(sa.text(
                "insert into core.dim_org_unit (org_unit, parent, level, path) values (:u, :p, :l, :path)"),
                {"u": code, "p": parent, "l": len(path), "path": path})
        connection.execute(sa.text(
            "insert into core.dim_wave (go_live_wave, go_live_date) values "
            "('wave-1', :g1), ('wave-2', :g2), ('wave-3', :g3)"),
            {"g1": GO_LIVE, "g2": date(2026, 6, 1), "g3": W1})
        yield connection
    engine.dispose()


def directory(conn: Connection, people: list[str], *, out_of_scope: tuple[str, ...] = ()) -> None:
    for p in people:
        unit, group, wave = PEOPLE[p]
        conn.execute(sa.text(
            "insert into core.staff_directory (pseudonym, org_unit, staff_group, band, system, go_live_wave, "
            "in_scope) values (:p, :u, :g, '5', 'EPR', :w, :s)"),
            {"p": p, "u": unit, "g": group, "w": wave, "s": p not in out_of_scope})


def _fact(person: str, day: date) -> dict[str, Any]:
    unit, group, wave = PEOPLE[person]
    return {"event_id": uuid.uuid4(), "source": "test", "record_id": uuid.uuid4().hex, "version": "1",
            "at": datetime.combine(day, time(10), tzinfo=UTC), "date_key": int(day.strftime("%Y%m%d")),
            "pseudonym": person, "org_unit": unit, "staff_group": group, "system": "EPR", "wave": wave}


def respond(conn: Connection, person: str, day: date, *, recommend: int | None = None,
            minutes: float | None = None, comment: str | None = None) -> None:
    conn.execute(sa.text(
        "insert into core.fact_form_response (event_id, source, source_record_id, record_version, occurred_at, "
        "date_key, pseudonym, org_unit, staff_group, system, go_live_wave, form_id, likert, likert_count, "
        "recommend, minutes_saved_per_shift, comment) values (:event_id, :source, :record_id, :version, :at, "
        ":date_key, :pseudonym, :org_unit, :staff_group, :system, :wave, 'epr-pulse', "
        "cast(:likert as jsonb), 1, :recommend, :minutes, :comment)"),
        {**_fact(person, day), "likert": json.dumps({"confidence": 4}), "recommend": recommend,
         "minutes": minutes, "comment": comment})


def train(conn: Connection, person: str, day: date, verb: str, *, course: str = "EPR-GL-101",
          required: bool | None = True) -> None:
    conn.execute(sa.text(
        "insert into core.fact_training_record (event_id, source, source_record_id, record_version, "
        "occurred_at, date_key, pseudonym, org_unit, staff_group, system, go_live_wave, course_id, verb, "
        "required) values (:event_id, :source, :record_id, :version, :at, :date_key, :pseudonym, :org_unit, "
        ":staff_group, :system, :wave, :course, :verb, :required)"),
        {**_fact(person, day), "course": course, "verb": verb, "required": required})


def cells(conn: Connection, metric_id: str, **params: Any) -> pd.DataFrame:
    return compute_cells(conn, REGISTRY[metric_id], {**DEFAULTS, **params})


def cell(frame: pd.DataFrame, period: date | int, segment_type: str = "trust",
         segment_value: str = "all") -> pd.Series:
    grain = "week" if isinstance(period, date) else "week_since_go_live"
    key = period.isoformat() if isinstance(period, date) else str(period)
    hit = frame[(frame.grain == grain) & (frame.period == key) & (frame.segment_type == segment_type)
                & (frame.segment_value == segment_value)]
    assert len(hit) == 1, f"expected one cell for {grain} {key} {segment_type}={segment_value}, got {len(hit)}"
    return hit.iloc[0]


def value(frame: pd.DataFrame, period: date | int, segment_type: str = "trust",
          segment_value: str = "all") -> float | None:
    v = cell(frame, period, segment_type, segment_value)["value"]
    return None if pd.isna(v) else float(v)


# --- eNPS ------------------------------------------------------------------------------------------------

def test_given_promoters_passives_and_detractors_when_enps_then_promoters_minus_detractors(conn: Connection):
    wednesday = W0 + timedelta(days=2)
    for person, answer in zip(NURSES, (10, 9, 9, 8, 6, 2), strict=True):
        respond(conn, person, wednesday, recommend=answer)
    for person, answer in zip(DOCTORS[:5], (7, 8, 7, 8, 7), strict=True):  # passives only
        respond(conn, person, wednesday, recommend=answer)
    respond(conn, "M6", wednesday, minutes=10)  # no answer to the recommend item: left out
    for i, answer in zip(range(1, 6), (10, 10, 0, 9, 9), strict=True):  # wave-3 goes live in week W1
        respond(conn, f"A{i}", W1 + timedelta(days=2), recommend=answer)

    frame = cells(conn, "enps")

    # Week W0 trust: promoters 3 (10, 9, 9), detractors 2 (6, 2), 11 answers -> 100 * (3 - 2) / 11.
    assert value(frame, W0) == pytest.approx(100 * 1 / 11)
    assert cell(frame, W0)["n"] == 11
    assert cell(frame, W0)["denominator"] == 11
    # Nursing: 100 * (3 - 2) / 6; Medical: only passives -> 0.
    assert value(frame, W0, "staff_group", NURSING) == pytest.approx(100 / 6)
    assert value(frame, W0, "staff_group", MEDICAL) == 0
    # Week W1 (AHP only): promoters 4, detractor 1, 5 answers -> 100 * 3 / 5 = 60.
    assert value(frame, W1) == pytest.approx(60.0)
    # Week 0 since go-live pools wave-1's week W0 and wave-3's week W1: (3 + 4 - 2 - 1) / (11 + 5) = 25.
    assert value(frame, 0) == pytest.approx(25.0)
    assert value(frame, 0, "staff_group", MEDICAL) == 0
    assert value(frame, 0, "go_live_wave", "wave-3") == pytest.approx(60.0)


# --- training coverage and readiness -----------------------------------------------------------------------

def _training_history(conn: Connection) -> None:
    directory(conn, NURSES + DOCTORS + ["O1"], out_of_scope=("O1",))
    train(conn, "N1", W_M2, "completed")
    train(conn, "N2", W_M2 + timedelta(days=1), "passed")
    train(conn, "M1", W_M2, "completed", course="EPR-TIPS-201", required=False)  # not a required course
    train(conn, "M2", W_M2, "enrolled")  # not a completion
    train(conn, "O1", W_M2, "completed")  # out of scope
    train(conn, "N3", W_M1 + timedelta(days=4), "completed")
    train(conn, "M3", W_M1, "failed")  # not a completion
    train(conn, "N1", W_M1, "passed")  # N1 again: still one person
    train(conn, "M4", W0 + timedelta(days=6), "completed")  # Sunday: still week W0
    respond(conn, "N6", W1, recommend=5)  # data runs to week W1; no training in it


def test_given_required_completions_when_training_coverage_then_cumulative_share_of_staff_in_scope(
        conn: Connection):
    _training_history(conn)
    frame = cells(conn, "training_coverage")

    # 12 staff in scope (O1 is out of scope). Required completions: N1, N2 in W-2; N3 in W-1; M4 in W0.
    # W-2: 2/12; W-1: 3/12; W0: 4/12; W1 (no new training): still 4/12, completions carry forward.
    assert value(frame, W_M2) == pytest.approx(100 * 2 / 12)
    assert value(frame, W_M1) == pytest.approx(25.0)
    assert value(frame, W0) == pytest.approx(100 * 4 / 12)
    assert value(frame, W1) == pytest.approx(100 * 4 / 12)
    assert cell(frame, W1)["numerator"] == 4
    assert cell(frame, W1)["denominator"] == 12
    assert cell(frame, W1)["n"] == 12
    # Nursing: W-2 2/6, W-1 3/6 (N1's second completion changes nothing); Medical: 0/6 until M4 in W0.
    assert value(frame, W_M2, "staff_group", NURSING) == pytest.approx(100 * 2 / 6)
    assert value(frame, W_M1, "staff_group", NURSING) == pytest.approx(50.0)
    assert value(frame, W_M1, "staff_group", MEDICAL) == 0
    assert value(frame, W0, "org_unit", WARD_2) == pytest.approx(100 / 6)
    # Every week of the data has a cell, weeks since go-live -2..1 mirror the calendar weeks.
    weeks = frame[(frame.grain == "week") & (frame.segment_type == "trust")].period.tolist()
    assert sorted(weeks) == [w.isoformat() for w in (W_M2, W_M1, W0, W1)]
    assert value(frame, -1) == pytest.approx(25.0)
    assert value(frame, 1, "staff_group", MEDICAL) == pytest.approx(100 / 6)


def test_given_required_course_list_when_training_coverage_then_list_replaces_record_flag(conn: Connection):
    _training_history(conn)
    frame = cells(conn, "training_coverage", required_courses=["EPR-TIPS-201"])

    # Only EPR-TIPS-201 counts now: M1 completed it in W-2 -> 1/12 from W-2 on; Medical 1/6.
    assert value(frame, W_M2) == pytest.approx(100 / 12)
    assert value(frame, W1) == pytest.approx(100 / 12)
    assert value(frame, W1, "staff_group", MEDICAL) == pytest.approx(100 / 6)
    assert value(frame, W1, "staff_group", NURSING) == 0


def test_given_target_90_when_training_readiness_gap_then_coverage_minus_target_by_week_before_go_live(
        conn: Connection):
    _training_history(conn)
    frame = cells(conn, "training_readiness_gap")

    # Coverage (see above) minus 90: week -2: 2/12 = 16.67 -> -73.33; week -1: 25 -> -65.
    assert value(frame, -2) == pytest.approx(100 * 2 / 12 - 90)
    assert value(frame, -1) == pytest.approx(-65.0)
    assert value(frame, W_M1) == pytest.approx(-65.0)
    # Nursing week -1: 3/6 = 50 -> -40; Medical week -1: 0 -> -90.
    assert value(frame, -1, "staff_group", NURSING) == pytest.approx(-40.0)
    assert value(frame, -1, "staff_group", MEDICAL) == pytest.approx(-90.0)
    # A lower target moves every value: target 20, week -1 -> 25 - 20 = +5.
    assert value(cells(conn, "training_readiness_gap", readiness_target_pct=20.0), -1) == pytest.approx(5.0)


def test_given_empty_directory_when_training_coverage_then_everyone_seen_is_the_denominator(conn: Connection):
    for p in NURSES[:5]:  # dim_staff: the people seen in any source
        unit, group, wave = PEOPLE[p]
        conn.execute(sa.text(
            "insert into core.dim_staff (pseudonym, org_unit, staff_group, system, go_live_wave, first_seen_at, "
            "last_seen_at) values (:p, :u, :g, 'EPR', :w, now(), now())"), {"p": p, "u": unit, "g": group, "w": wave})
    train(conn, "N1", W0, "completed")
    train(conn, "N2", W0, "passed")

    frame = cells(conn, "training_coverage")

    # No directory: the 5 people in dim_staff are in scope; 2 completed -> 40%.
    assert value(frame, W0) == pytest.approx(40.0)
    assert value(frame, W0, "staff_group", NURSING) == pytest.approx(40.0)
    assert cell(frame, W0)["n"] == 5


# --- participation ---------------------------------------------------------------------------------------

def test_given_some_respondents_when_participation_then_denominator_is_all_staff_in_scope(conn: Connection):
    directory(conn, NURSES + DOCTORS + ["O1"], out_of_scope=("O1",))
    for person in ("N1", "N1", "N2", "N3", "M1", "O1", "X1"):  # N1 twice; O1 out of scope; X1 not listed
        respond(conn, person, W0 + timedelta(days=1), recommend=8)
    respond(conn, "N1", W1, recommend=9)

    frame = cells(conn, "participation")

    # W0: respondents in scope N1, N2, N3, M1 = 4 of 12 staff in scope -> 33.33%.
    assert value(frame, W0) == pytest.approx(100 * 4 / 12)
    assert cell(frame, W0)["numerator"] == 4
    assert cell(frame, W0)["denominator"] == 12
    # Nursing 3/6 = 50%, Medical 1/6 (five non-respondents count), ward 2 the same as Medical.
    assert value(frame, W0, "staff_group", NURSING) == pytest.approx(50.0)
    assert value(frame, W0, "staff_group", MEDICAL) == pytest.approx(100 / 6)
    assert value(frame, W0, "org_unit", WARD_2) == pytest.approx(100 / 6)
    # W1: only N1 -> 1/12; Medical 0/6 = 0 (a value, not missing).
    assert value(frame, W1) == pytest.approx(100 / 12)
    assert value(frame, W1, "staff_group", MEDICAL) == 0
    assert cell(frame, W1, "staff_group", MEDICAL)["n"] == 6
    # Weeks since go-live 0 and 1 are W0 and W1.
    assert value(frame, 0) == pytest.approx(100 * 4 / 12)
    assert value(frame, 1, "staff_group", NURSING) == pytest.approx(100 / 6)


# --- time saved ------------------------------------------------------------------------------------------

def _time_saved_answers(conn: Connection) -> None:
    directory(conn, NURSES + DOCTORS + ["L1", "L2"])
    day = W0 + timedelta(days=2)
    respond(conn, "N1", day, minutes=30)
    respond(conn, "N1", day + timedelta(days=1), minutes=10)  # N1's mean this week: 20
    respond(conn, "N2", day, minutes=-10)  # time lost
    respond(conn, "N3", day, recommend=7)  # responded without a minutes answer: left out
    respond(conn, "M1", day, minutes=40)
    respond(conn, "M2", day, minutes=20)
    respond(conn, "L1", day, minutes=100)  # wave-2 is not live yet: left out, and not scaled up to
    respond(conn, "N1", W1, minutes=15)


def test_given_minutes_saved_when_time_saved_hours_then_mean_per_shift_scaled_to_live_staff(conn: Connection):
    _time_saved_answers(conn)
    frame = cells(conn, "time_saved_hours_per_week")

    # W0: respondent means 20, -10, 40, 20 -> mean 70/4 = 17.5 min/shift x 4 shifts / 60 = 7/6 h per person
    # per week x 12 live staff in scope (L1, L2 are not live) = 14 hours.
    assert value(frame, W0) == pytest.approx(14.0)
    assert cell(frame, W0)["numerator"] == pytest.approx(70.0)
    assert cell(frame, W0)["denominator"] == 4
    assert cell(frame, W0)["n"] == 4  # respondents
    # Nursing: (20 - 10) / 2 = 5 min x 4 / 60 x 6 = 2 h; Medical: 30 min x 4 / 60 x 6 = 12 h (2 + 12 = 14).
    assert value(frame, W0, "staff_group", NURSING) == pytest.approx(2.0)
    assert value(frame, W0, "staff_group", MEDICAL) == pytest.approx(12.0)
    # W1: only N1, 15 min x 4 / 60 = 1 h x 12 = 12 h; Medical has no respondents: no value.
    assert value(frame, W1) == pytest.approx(12.0)
    assert value(frame, W1, "staff_group", MEDICAL) is None
    assert value(frame, 0) == pytest.approx(14.0)
    # Assumptions are parameters: 5 shifts a week -> 17.5 x 5 / 60 x 12 = 17.5 h.
    assert value(cells(conn, "time_saved_hours_per_week", shifts_per_week=5.0), W0) == pytest.approx(17.5)


def test_given_minutes_saved_when_time_saved_fte_and_gbp_then_hours_over_fte_and_times_cost(conn: Connection):
    _time_saved_answers(conn)
    fte = cells(conn, "time_saved_fte")
    gbp = cells(conn, "time_saved_gbp_per_week")

    # 14 h / 37.5 h per FTE = 0.3733 FTE; 14 h x GBP 25 = GBP 350. Nursing: 2 h -> 0.0533 FTE, GBP 50.
    assert value(fte, W0) == pytest.approx(14 / 37.5)
    assert value(fte, W0, "staff_group", NURSING) == pytest.approx(2 / 37.5)
    assert value(fte, 0) == pytest.approx(14 / 37.5)
    assert value(gbp, W0) == pytest.approx(350.0)
    assert value(gbp, W0, "staff_group", NURSING) == pytest.approx(50.0)
    assert value(gbp, 0, "staff_group", MEDICAL) == pytest.approx(300.0)
    # GBP 30 an hour: 14 x 30 = 420.
    assert value(cells(conn, "time_saved_gbp_per_week", hourly_cost_gbp=30.0), W0) == pytest.approx(420.0)


# --- comment themes and sentiment --------------------------------------------------------------------------

COMMENTS: list[tuple[str, str | None]] = [
    # person, comment                                                              themes; sentiment
    ("N1", "Smartcard login takes several attempts and the system is very slow."),  # login, speed; -2
    ("N2", "The e-learning did not cover what we actually do on the ward."),        # training; -1
    ("N3", "Barcode scanners keep losing their connection."),                       # hardware; -1
    ("N4", "Not easy to find the allergy list."),                                   # safety; +1 - 2 = -1
    ("N5", "   "),                                                                  # empty: left out
    ("N6", None),                                                                   # no comment: left out
    ("M1", "Much easier to read prescriptions now."),                               # positive; +1
    ("M2", "Great support from the digital team."),                                 # support, positive; +1
    ("M3", "The canteen coffee is fine."),                                          # no theme; 0
    ("M4", "Discharge summaries take twice as long as before."),                    # workflow; -1
]


def _comments(conn: Connection) -> None:
    for person, text in COMMENTS:
        respond(conn, person, W0 + timedelta(days=3), recommend=7, comment=text)


def test_given_comments_when_comment_themes_then_share_of_non_empty_comments_per_theme(conn: Connection):
    _comments(conn)
    # 8 non-empty comments; N1 mentions two themes, M3 none. Nursing has 4 (N1-N4), Medical 4 (M1-M4).
    expected = {  # theme: (trust mentions, Nursing mentions, Medical mentions)
        "login_access": (1, 1, 0), "speed_performance": (1, 1, 0), "training": (1, 1, 0),
        "workflow": (1, 0, 1), "hardware_devices": (1, 1, 0), "support": (1, 0, 1),
        "patient_safety": (1, 1, 0), "positive": (2, 0, 2),
    }
    assert set(expected) == set(THEMES)
    for theme, (trust, nursing, medical) in expected.items():
        frame = cells(conn, f"comment_theme_{theme}")
        assert REGISTRY[f"comment_theme_{theme}"].comment_metric
        assert value(frame, W0) == pytest.approx(100 * trust / 8), theme
        assert cell(frame, W0)["denominator"] == 8
        assert value(frame, W0, "staff_group", NURSING) == pytest.approx(100 * nursing / 4), theme
        assert value(frame, W0, "staff_group", MEDICAL) == pytest.approx(100 * medical / 4), theme
        assert value(frame, 0) == pytest.approx(100 * trust / 8), theme
    # The comment with no theme is in every denominator but no numerator: mentions total 9 of 8 x 8 slots.
    total = sum(cell(cells(conn, f"comment_theme_{t}"), W0)["numerator"] for t in THEMES)
    assert total == 9


def test_given_comments_when_comment_sentiment_then_mean_of_positive_minus_negative_words(conn: Connection):
    _comments(conn)
    frame = cells(conn, "comment_sentiment")

    # Scores (positive - negative): N1 "several attempts", "slow" -> -2; N2 "did not cover" -> -1;
    # N3 "losing" -> -1; N4 "not easy" -> -1; M1 "easier" +1; M2 "great" +1; M3 0; M4 "twice as long" -1.
    # Trust: (-2 - 1 - 1 - 1 + 1 + 1 + 0 - 1) / 8 = -4/8 = -0.5; Nursing -5/4; Medical 1/4.
    assert value(frame, W0) == pytest.approx(-0.5)
    assert cell(frame, W0)["numerator"] == -4
    assert cell(frame, W0)["n"] == 8
    assert value(frame, W0, "staff_group", NURSING) == pytest.approx(-1.25)
    assert value(frame, W0, "staff_group", MEDICAL) == pytest.approx(0.25)
    assert value(frame, 0, "org_unit", WARD_2) == pytest.approx(0.25)
    assert REGISTRY["comment_sentiment"].comment_metric
