"""Help-desk and digital-skills metrics over given rows, against values worked out by hand.

The scenario (two wards under one directorate, two waves):

    wave-1 goes live Mon 2026-11-02 (WARD-1), wave-2 goes live Mon 2026-11-09 (WARD-2)
    staff directory, in scope: WARD-1 N1..N5 (Nursing), WARD-2 A1..A5 (AHP); X1 in WARD-1 is out of scope

    ticket  by  ward    opened            closed                     h    reopens  rating  category / summary
    INC1    N1  WARD-1  Mon 11-02 09:00   resolved Mon 11-02 19:00   10   0        5       Access / login (2 versions)
    INC2    N2  WARD-1  Tue 11-03 09:00   resolved Wed 11-04 09:00   24   1        2       Software / Login error
                                          (3 versions; resolved 11-03 12:00 first, reopened, resolved again)
    INC3    A1  WARD-2  Tue 11-03 10:00   resolved Tue 11-10 10:00   168  2        3       Defect / error
    INC4    A2  WARD-2  Wed 11-04 10:00   resolved Wed 11-04 14:00   4    0        -       How do I ... in error?
    INC5    X1  WARD-1  Thu 11-05 08:00   cancelled Thu 11-05 12:00  -    1        1       Hardware / battery failed
    INC7    N5  WARD-1  Thu 11-05 09:00   resolved Fri 11-06 15:00   30   0        4       How do I / training
    INC6    N4  WARD-1  Mon 11-09 09:00   resolved Mon 11-09 21:00   12   0        4       Performance
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from foundation.database import create_engine
from warehouse.metrics.definitions.helpdesk_skills import request_type_sql
from warehouse.metrics.engine import compute_cells
from warehouse.metrics.registry import REGISTRY

pytestmark = pytest.mark.integration

W1, W2 = "2026-11-02", "2026-11-09"  # the two calendar weeks of the ticket scenario


def at(day: str, hour: int) -> datetime:
    return datetime.fromisoformat(f"2026-{day}T{hour:02d}:00:00").replace(tzinfo=UTC)


def _date_key(moment: datetime) -> int:
    return int(moment.strftime("%Y%m%d"))


def _insert_org(conn: sa.Connection) -> None:
    conn.execute(sa.text(
        "insert into core.dim_org_unit (org_unit, parent, level, path) values (:u, :p, :l, :path)"), [
        {"u": "TRUST", "p": None, "l": 0, "path": []},
        {"u": "DIR-A", "p": "TRUST", "l": 1, "path": ["TRUST"]},
        {"u": "WARD-1", "p": "DIR-A", "l": 2, "path": ["TRUST", "DIR-A"]},
        {"u": "WARD-2", "p": "DIR-A", "l": 2, "path": ["TRUST", "DIR-A"]},
    ])
    conn.execute(sa.text("insert into core.dim_wave (go_live_wave, go_live_date) values (:w, :d)"), [
        {"w": "wave-1", "d": date(2026, 11, 2)}, {"w": "wave-2", "d": date(2026, 11, 9)}])


_WARD = {"WARD-1": ("Nursing and Midwifery", "wave-1"), "WARD-2": ("Allied Health Professionals", "wave-2")}


def _insert_directory(conn: sa.Connection) -> None:
    rows = [{"p": f"N{i}", "u": "WARD-1", "in": True} for i in range(1, 6)]
    rows += [{"p": f"A{i}", "u": "WARD-2", "in": True} for i in range(1, 6)]
    rows.append({"p": "X1", "u": "WARD-1", "in": False})
    conn.execute(sa.text(
        "insert into core.staff_directory (pseudonym, org_unit, staff_group, system, go_live_wave, in_scope) "
        "values (:p, :u, :g, 'EPR', :w, :in)"),
        [{**r, "g": _WARD[r["u"]][0], "w": _WARD[r["u"]][1]} for r in rows])


def _ticket_version(conn: sa.Connection, ticket: str, who: str, ward: str, opened: datetime, updated: datetime,
                    status: str, *, resolved: datetime | None = None, category: str, summary: str | None,
                    reopens: int = 0, rating: int | None = None) -> None:
    group, wave = _WARD[ward]
    conn.execute(sa.text(
        "insert into core.fact_helpdesk_ticket (event_id, source, source_record_id, record_version, occurred_at, "
        "date_key, pseudonym, org_unit, staff_group, system, go_live_wave, opened_at, updated_at, resolved_at, "
        "status, category, priority, reopen_count, satisfaction, summary) values (:id, 'servicenow', :t, :v, "
        ":u, :dk, :p, :ward, :g, 'EPR', :w, :o, :u, :r, :s, :c, 3, :re, :sat, :sum)"),
        {"id": uuid.uuid4(), "t": ticket, "v": updated.isoformat(), "u": updated, "dk": _date_key(updated),
         "p": who, "ward": ward, "g": group, "w": wave, "o": opened, "r": resolved, "s": status, "c": category,
         "re": reopens, "sat": rating, "sum": summary})


def _insert_tickets(conn: sa.Connection) -> None:
    t = _ticket_version
    access, how_to = "Access / login", "How do I / training"
    # INC1: two versions, counted once.
    t(conn, "INC1", "N1", "WARD-1", at("11-02", 9), at("11-02", 9), "new", category=access,
      summary="Cannot log in with smartcard")
    t(conn, "INC1", "N1", "WARD-1", at("11-02", 9), at("11-02", 19), "resolved", resolved=at("11-02", 19),
      category=access, summary="Cannot log in with smartcard", rating=5)
    # INC2: resolved, reopened, resolved again; the latest state counts (24 h, 1 reopen, rated 2).
    t(conn, "INC2", "N2", "WARD-1", at("11-03", 9), at("11-03", 9), "new", category="Software",
      summary="Login error on ward PC")
    t(conn, "INC2", "N2", "WARD-1", at("11-03", 9), at("11-03", 12), "resolved", resolved=at("11-03", 12),
      category="Software", summary="Login error on ward PC")
    t(conn, "INC2", "N2", "WARD-1", at("11-03", 9), at("11-04", 9), "resolved", resolved=at("11-04", 9),
      category="Software", summary="Login error on ward PC", reopens=1, rating=2)
    t(conn, "INC3", "A1", "WARD-2", at("11-03", 10), at("11-03", 10), "in_progress", category="Defect / error",
      summary="Error message when saving observations")
    t(conn, "INC3", "A1", "WARD-2", at("11-03", 10), at("11-10", 10), "resolved", resolved=at("11-10", 10),
      category="Defect / error", summary="Error message when saving observations", reopens=2, rating=3)
    t(conn, "INC4", "A2", "WARD-2", at("11-04", 10), at("11-04", 14), "resolved", resolved=at("11-04", 14),
      category=how_to, summary="How do I cancel an order placed in error?")
    # INC5: cancelled, so not resolved (not in median, reopen rate or rating) but it leaves the backlog.
    t(conn, "INC5", "X1", "WARD-1", at("11-05", 8), at("11-05", 12), "cancelled", category="Hardware / printer",
      summary="Computer on wheels battery failed", reopens=1, rating=1)
    t(conn, "INC7", "N5", "WARD-1", at("11-05", 9), at("11-06", 15), "resolved", resolved=at("11-06", 15),
      category=how_to, summary="How do I record fluid balance?", rating=4)
    t(conn, "INC6", "N4", "WARD-1", at("11-09", 9), at("11-09", 21), "resolved", resolved=at("11-09", 21),
      category="Performance", summary="System very slow at handover", rating=4)


def _cells(url: str, metric_id: str, seed: Any) -> pd.DataFrame:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            seed(conn)
        with engine.connect() as conn:
            return compute_cells(conn, REGISTRY[metric_id], {})
    finally:
        engine.dispose()


def _ticket_scenario(conn: sa.Connection) -> None:
    _insert_org(conn)
    _insert_directory(conn)
    _insert_tickets(conn)


def cell(cells: pd.DataFrame, period: str | int, segment_type: str = "trust", segment_value: str = "all",
         grain: str | None = None) -> pd.Series:
    grain = grain or ("week" if isinstance(period, str) else "week_since_go_live")
    found = cells[(cells.grain == grain) & (cells.period == str(period)) & (cells.segment_type == segment_type)
                  & (cells.segment_value == segment_value)]
    assert len(found) == 1, f"{len(found)} cells for {grain} {period} {segment_type}={segment_value}"
    return found.iloc[0]


# ------------------------------------------------------------------------------------------------ help desk

def test_given_tickets_and_directory_when_tickets_per_100_staff_then_rate_per_week_and_demand_curve(
        warehouse_url):
    cells = _cells(warehouse_url, "tickets_per_100_staff", _ticket_scenario)

    # Week 11-02: 6 tickets (INC1,2,3,4,5,7; INC1 and INC2 have several versions but count once), 10 staff
    # in scope (X1 is out of scope, but X1's ticket INC5 still counts): 100 * 6 / 10 = 60.
    trust = cell(cells, W1)
    assert (trust.value, trust.numerator, trust.denominator, trust.n) == (60.0, 6, 10, 10)
    # Week 11-09: INC6 only: 100 * 1 / 10 = 10.
    assert cell(cells, W2).value == 10.0
    # WARD-1, week 11-02: INC1, INC2, INC5, INC7 over N1..N5: 100 * 4 / 5 = 80; n is the 5 staff in scope,
    # not the requesters or the tickets.
    ward = cell(cells, W1, "org_unit", "WARD-1")
    assert (ward.value, ward.numerator, ward.denominator, ward.n) == (80.0, 4, 5, 5)
    # WARD-2, week 11-02: INC3, INC4 over A1..A5: 100 * 2 / 5 = 40.
    assert cell(cells, W1, "org_unit", "WARD-2").value == 40.0
    # Demand curve. Tickets span 11-02..11-09. wave-1 (go-live 11-02) staff span weeks 0..1,
    # wave-2 (go-live 11-09) staff span weeks -1..0.
    # Week -1: INC3, INC4 (WARD-2, 6 and 5 days before go-live) over A1..A5: 100 * 2 / 5 = 40.
    assert cell(cells, -1).value == 40.0
    # Week 0: INC1, INC2, INC5, INC7 (WARD-1) over N1..N5 + A1..A5: 100 * 4 / 10 = 40.
    week0 = cell(cells, 0)
    assert (week0.value, week0.numerator, week0.denominator, week0.n) == (40.0, 4, 10, 10)
    # Week 1: INC6 over N1..N5 (WARD-2 is only in week 0 by then): 100 * 1 / 5 = 20.
    assert cell(cells, 1).value == 20.0
    # A week with no tickets for a group still has its staff, so the rate is 0, not missing.
    assert cell(cells, W2, "org_unit", "WARD-2").value == 0.0


def test_given_empty_directory_when_tickets_per_100_staff_then_staff_seen_stand_in(warehouse_url):
    def seed(conn: sa.Connection) -> None:
        _insert_org(conn)
        seen = at("11-01", 9)
        conn.execute(sa.text(
            "insert into core.dim_staff (pseudonym, org_unit, staff_group, system, go_live_wave, first_seen_at, "
            "last_seen_at) values (:p, 'WARD-1', 'Nursing and Midwifery', 'EPR', 'wave-1', :t, :t)"),
            [{"p": f"N{i}", "t": seen} for i in range(1, 5)])
        _ticket_version(conn, "INC1", "N1", "WARD-1", at("11-03", 9), at("11-03", 9), "new",
                        category="Access / login", summary=None)

    cells = _cells(warehouse_url, "tickets_per_100_staff", seed)

    # 1 ticket over the 4 people in core.dim_staff: 100 * 1 / 4 = 25.
    assert (cell(cells, W1).value, cell(cells, W1).n) == (25.0, 4)


@pytest.mark.parametrize(("category", "summary", "expected"), [
    ("Access / login error", None, "access"),  # access before defect within one text
    ("Software", "Login error on ward PC", "access"),  # a login error is access, not defect
    ("Software", "Crash when I follow the training guide", "defect"),  # defect before how-to
    ("Incident", "Where is the handover report?", "how_to"),
    ("How do I / training", "How do I cancel an order placed in error?", "how_to"),  # the category decides
    ("Defect / error", "Allergy not showing on prescription", "defect"),
    ("Hardware / printer", "Computer on wheels battery failed", "other"),  # hardware is not a system defect
    ("Performance", "System very slow at handover", "other"),
    ("Incident", None, "other"),
    ("'; DROP TABLE core.fact_form_response; --", "Robert'; --", "other"),
])
def test_given_category_and_summary_when_classified_then_precedence_access_defect_how_to_other(
        warehouse_url, category, summary, expected):
    engine = create_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            got = conn.execute(sa.text(
                f"select {request_type_sql('t.category', 't.summary')} from (select cast(:c as text) as category, "
                "cast(:s as text) as summary) t"), {"c": category, "s": summary}).scalar_one()
    finally:
        engine.dispose()
    assert got == expected


def test_given_tickets_when_request_type_shares_then_shares_of_tickets_opened_add_to_100(warehouse_url):
    engine = create_engine(warehouse_url)
    try:
        with engine.begin() as conn:
            _ticket_scenario(conn)
        with engine.connect() as conn:
            shares = {kind: compute_cells(conn, REGISTRY[f"ticket_share_{kind}"], {})
                      for kind in ("access", "defect", "how_to", "other")}
    finally:
        engine.dispose()

    # Week 11-02, 6 tickets: access INC1 + INC2 ("Login error" is access) = 2, defect INC3 = 1,
    # how-to INC4 ("...placed in error?" under a how-to category) + INC7 = 2, other INC5 (hardware) = 1.
    expected = {"access": 100 * 2 / 6, "defect": 100 * 1 / 6, "how_to": 100 * 2 / 6, "other": 100 * 1 / 6}
    for kind, value in expected.items():
        assert cell(shares[kind], W1).value == pytest.approx(value)
        assert cell(shares[kind], W1).denominator == 6
    # WARD-1, week 11-02: INC1, INC2 access, INC5 other, INC7 how-to: access 2 / 4 = 50 %; n = 4 requesters.
    ward = cell(shares["access"], W1, "org_unit", "WARD-1")
    assert (ward.value, ward.numerator, ward.denominator, ward.n) == (50.0, 2, 4, 4)
    # Week 11-09: INC6 (performance) only: other 100 %.
    assert cell(shares["other"], W2).value == 100.0
    # Week since go-live -1: INC3 defect, INC4 how-to (WARD-2, before its go-live): defect 1 / 2 = 50 %.
    assert cell(shares["defect"], -1).value == 50.0


def test_given_even_number_resolved_when_median_hours_to_resolve_then_mean_of_middle_two(warehouse_url):
    cells = _cells(warehouse_url, "median_hours_to_resolve", _ticket_scenario)

    # Resolved in week 11-02: INC4 4 h, INC1 10 h, INC2 24 h (latest state), INC7 30 h (INC5 was cancelled):
    # median of 4, 10, 24, 30 = (10 + 24) / 2 = 17.
    trust = cell(cells, W1)
    assert (trust.value, trust.n) == (17.0, 4)
    # Resolved in week 11-09: INC6 12 h, INC3 168 h (opened the week before): (12 + 168) / 2 = 90.
    assert cell(cells, W2).value == 90.0
    # WARD-1, week 11-02: 10, 24, 30 -> 24.
    assert cell(cells, W1, "org_unit", "WARD-1").value == 24.0
    # Weeks since go-live 0 (resolved 0-6 days after go-live): wave-1 INC1 10, INC2 24, INC7 30 and
    # wave-2 INC3 (resolved 1 day after 11-09) 168: (24 + 30) / 2 = 27.
    assert cell(cells, 0).value == 27.0


def test_given_resolved_and_unresolved_tickets_when_reopen_rate_then_denominator_is_resolved_only(
        warehouse_url):
    cells = _cells(warehouse_url, "reopen_rate", _ticket_scenario)

    # Resolved in week 11-02: INC1 (0 reopens), INC2 (1), INC4 (0), INC7 (0) -> 100 * 1 / 4 = 25.
    # INC5 was reopened once but cancelled: in neither numerator nor denominator (else 2 / 6).
    # INC2's earlier resolved version (0 reopens) does not count: its latest state has 1.
    trust = cell(cells, W1)
    assert (trust.value, trust.numerator, trust.denominator) == (25.0, 1, 4)
    # Resolved in week 11-09: INC6 (0), INC3 (2) -> 100 * 1 / 2 = 50.
    assert cell(cells, W2).value == 50.0
    # WARD-2, week 11-02: INC4 (0) -> 0; WARD-2, week 11-09: INC3 (2) -> 100.
    assert cell(cells, W1, "org_unit", "WARD-2").value == 0.0
    assert cell(cells, W2, "org_unit", "WARD-2").value == 100.0


def test_given_more_closed_than_opened_when_backlog_growth_then_negative(warehouse_url):
    cells = _cells(warehouse_url, "backlog_growth", _ticket_scenario)

    # Week 11-02: opened 6; closed INC1, INC2, INC4, INC7 (resolved) and INC5 (cancelled) = 5 -> 6 - 5 = +1.
    assert cell(cells, W1).value == 1.0
    # Week 11-09: opened INC6 = 1; closed INC6, INC3 = 2 -> 1 - 2 = -1.
    assert cell(cells, W2).value == -1.0
    # WARD-2, week 11-09: opened 0, closed INC3 -> -1; WARD-1: opened INC6, closed INC6 -> 0.
    assert cell(cells, W2, "org_unit", "WARD-2").value == -1.0
    assert cell(cells, W2, "org_unit", "WARD-1").value == 0.0
    # Weeks since go-live: -1: WARD-2 opened INC3, INC4, closed INC4 -> +1;
    # 0: WARD-1 opened INC1, INC2, INC5, INC7 and closed the same 4, WARD-2 closed INC3 -> -1;
    # 1: WARD-1 opened and closed INC6 -> 0.
    assert [cell(cells, k).value for k in (-1, 0, 1)] == [1.0, -1.0, 0.0]


def test_given_rated_tickets_when_helpdesk_satisfaction_then_mean_rating_of_resolved(warehouse_url):
    cells = _cells(warehouse_url, "helpdesk_satisfaction", _ticket_scenario)

    # Resolved and rated in week 11-02: INC1 5, INC2 2, INC7 4 (INC4 unrated, INC5 cancelled):
    # (5 + 2 + 4) / 3 = 11 / 3.
    trust = cell(cells, W1)
    assert trust.value == pytest.approx(11 / 3)
    assert (trust.numerator, trust.denominator, trust.n) == (11, 3, 3)
    # Week 11-09: INC6 4, INC3 3 -> 3.5.
    assert cell(cells, W2).value == 3.5


# ------------------------------------------------------------------------------------------------ skills

def _assessment(conn: sa.Connection, response: str, who: str, ward: str, group: str, when: datetime, phase: str,
                scores: dict[str, int], version: str = "1") -> None:
    conn.execute(sa.text(
        "insert into core.fact_skills_assessment (event_id, source, source_record_id, record_version, "
        "occurred_at, date_key, pseudonym, org_unit, staff_group, system, go_live_wave, assessment_id, phase, "
        "scores) values (:id, 'msforms', :r, :v, :t, :dk, :p, :u, :g, 'EPR', 'wave-1', 'DCSA-R1', :ph, "
        "cast(:s as jsonb))"),
        {"id": uuid.uuid4(), "r": response, "v": version, "t": when, "dk": _date_key(when), "p": who, "u": ward,
         "g": group, "ph": phase, "s": json.dumps(scores)})


TP, CC, TL = "technical_proficiency", "communication_collaboration", "teaching_learning"
NURSING, AHP = "Nursing and Midwifery", "Allied Health Professionals"


def _skills_scenario(conn: sa.Connection) -> None:
    """All wave-1 (go-live Mon 11-02).

    P1 (WARD-1): baseline Tue 10-06 {TP 1, CC 1} (older), baseline Tue 10-20 {TP 2, CC 3},
                 follow-up Tue 11-24 {TP 4, CC 3}
    P2 (WARD-2): baseline Wed 10-21 {TP 3, CC 2}, follow-up Wed 11-25 {TP 4, CC 4, TL 5}
    P3 (WARD-2): baseline Thu 10-22, two versions {TP 5, CC 5} then {TP 1, CC 1}; no follow-up
    P4 (WARD-1, AHP): follow-up Tue 11-24 {TP 5, CC 5}; no baseline
    """
    _insert_org(conn)
    a = _assessment
    a(conn, "R1", "P1", "WARD-1", NURSING, at("10-06", 10), "baseline", {TP: 1, CC: 1})
    a(conn, "R2", "P1", "WARD-1", NURSING, at("10-20", 10), "baseline", {TP: 2, CC: 3})
    a(conn, "R3", "P1", "WARD-1", NURSING, at("11-24", 10), "follow_up", {TP: 4, CC: 3})
    a(conn, "R4", "P2", "WARD-2", NURSING, at("10-21", 10), "baseline", {TP: 3, CC: 2})
    a(conn, "R5", "P2", "WARD-2", NURSING, at("11-25", 10), "follow_up", {TP: 4, CC: 4, TL: 5})
    a(conn, "R6", "P3", "WARD-2", NURSING, at("10-22", 9), "baseline", {TP: 5, CC: 5}, version="1")
    a(conn, "R6", "P3", "WARD-2", NURSING, at("10-22", 10), "baseline", {TP: 1, CC: 1}, version="2")
    a(conn, "R7", "P4", "WARD-1", AHP, at("11-24", 11), "follow_up", {TP: 5, CC: 5})


def test_given_assessments_when_skills_means_then_mean_of_domain_scores_in_week_submitted(warehouse_url):
    engine = create_engine(warehouse_url)
    try:
        with engine.begin() as conn:
            _skills_scenario(conn)
        with engine.connect() as conn:
            baseline = compute_cells(conn, REGISTRY["skills_mean_baseline"], {})
            follow_up = compute_cells(conn, REGISTRY["skills_mean_follow_up"], {})
    finally:
        engine.dispose()

    # Baselines in week 10-19: P1 2, 3; P2 3, 2; P3 1, 1 (latest version only; with both it would be 22 / 8):
    # 12 / 6 = 2.0. Week 10-05: P1 1, 1 -> 1.0.
    week = cell(baseline, "2026-10-19")
    assert (week.value, week.numerator, week.denominator, week.n) == (2.0, 12, 6, 3)
    assert cell(baseline, "2026-10-05").value == 1.0
    # Weeks since go-live: 10-20..10-22 are 11-13 days before 11-02 -> week -2.
    assert cell(baseline, -2).value == 2.0
    # Follow-ups in week 11-23: P1 4, 3; P2 4, 4, 5; P4 5, 5 -> 30 / 7.
    assert cell(follow_up, "2026-11-23").value == pytest.approx(30 / 7)
    # Per staff group: AHP is P4 alone -> 5.0; 22-23 days after go-live -> week 3.
    assert cell(follow_up, "2026-11-23", "staff_group", AHP).value == 5.0
    assert cell(follow_up, 3).value == pytest.approx(30 / 7)


def test_given_people_with_and_without_baseline_when_skills_change_then_only_pairs_count(warehouse_url):
    engine = create_engine(warehouse_url)
    try:
        with engine.begin() as conn:
            _skills_scenario(conn)
        with engine.connect() as conn:
            change = compute_cells(conn, REGISTRY["skills_change"], {})
            by_domain = {d: compute_cells(conn, REGISTRY[f"skills_change_{d}"], {}) for d in (TP, CC, TL)}
    finally:
        engine.dispose()

    # Pairs (follow-up vs the latest earlier baseline of the same person, same domain):
    #   P1: TP 4 - 2 = 2, CC 3 - 3 = 0 (the older 10-06 baseline is not used)
    #   P2: TP 4 - 3 = 1, CC 4 - 2 = 2 (TL has no baseline: left out)
    #   P3 has no follow-up, P4 no baseline: left out.
    # Change = (2 + 0 + 1 + 2) / 4 = 1.25 = follow-up mean (4+3+4+4)/4 = 3.75 minus baseline mean 10/4 = 2.5.
    week = cell(change, "2026-11-23")
    assert (week.value, week.numerator, week.denominator, week.n) == (1.25, 5, 4, 2)
    assert cell(change, 3).value == 1.25
    # WARD-1: P1 only: (2 + 0) / 2 = 1.0; WARD-2: P2 only: (1 + 2) / 2 = 1.5.
    assert cell(change, "2026-11-23", "org_unit", "WARD-1").value == 1.0
    assert cell(change, "2026-11-23", "org_unit", "WARD-2").value == 1.5
    # Per domain: TP (2 + 1) / 2 = 1.5; CC (0 + 2) / 2 = 1.0; TL: nobody has both -> no cells.
    assert cell(by_domain[TP], "2026-11-23").value == 1.5
    assert cell(by_domain[CC], "2026-11-23").value == 1.0
    assert by_domain[TL].empty


def test_given_staff_group_follow_ups_when_skills_group_gap_then_max_minus_min_of_group_means(warehouse_url):
    def seed(conn: sa.Connection) -> None:
        _insert_org(conn)
        groups = {NURSING: [2, 2, 3, 3, 2], AHP: [4, 4, 4, 3, 5], "Estates and Ancillary": [1, 1]}
        for group, scores in groups.items():
            for i, score in enumerate(scores):
                _assessment(conn, f"{group[:3]}{i}", f"{group[:3]}{i}", "WARD-1", group, at("11-24", 10),
                            "follow_up", {TP: score})
        # Week 11-30: only Nursing has 5 people -> fewer than two groups, no gap.
        for i in range(5):
            _assessment(conn, f"late{i}", f"Nur{i}", "WARD-1", NURSING, at("12-01", 10), "follow_up", {TP: 3})

    cells = _cells(warehouse_url, "skills_group_gap", seed)

    # Week 11-23: Nursing (2+2+3+3+2)/5 = 2.4, AHP (4+4+4+3+5)/5 = 4.0; Estates has 2 people (< 5), left out
    # (else the gap would be 4.0 - 1.0 = 3.0). Gap 4.0 - 2.4 = 1.6; n = smallest group used = 5.
    week = cell(cells, "2026-11-23")
    assert week.value == pytest.approx(1.6)
    assert week.n == 5
    assert cell(cells, 3).value == pytest.approx(1.6)  # 22 days after the 11-02 go-live
    assert set(cells.period) == {"2026-11-23", "3"}
    assert set(cells.segment_type) == {"trust"}
