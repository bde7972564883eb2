"""Tiered access to row-level data: `realise_analyst` reads coarsened rows in which every combination of the
quasi-identifiers shown holds at least the minimum group size of people and free text only shows in larger
combinations; `realise_researcher` reads the full pseudonymised rows in schema research.

The data set is a trust of many small units (3 to 8 people), a unit with no go-live wave, and people whose unit
is neither in the org hierarchy nor in the staff directory. People are counted through the analyst's own view
(distinct person_key per combination), and the same count on the full rows shows groups below the minimum, so
the check is one that can fail.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from foundation.database import create_engine
from warehouse.disclosure import read_disclosure_settings, write_disclosure_settings

pytestmark = pytest.mark.integration

QUASI = ("period", "period_start", "org_unit", "staff_group", "system", "go_live_wave")
ROW_VIEWS = ("form_responses", "form_response_items", "helpdesk_tickets", "training_records", "skills_assessments")
# Free-text columns per analytics view (foundation.privacy.FREE_TEXT_FIELDS).
FREE_TEXT = {"form_responses": ("comment",), "helpdesk_tickets": ("category", "summary"),
             "training_records": ("course_title", "module")}
# Today's identifying columns of the full rows: person and the quasi-identifiers at their finest.
FULL = {
    "form_responses": ("staff_pseudonym", ("org_unit", "staff_group", "system", "go_live_wave", "week_start")),
    "form_response_items": ("staff_pseudonym", ("org_unit", "staff_group", "system", "go_live_wave", "week_start")),
    "helpdesk_tickets": ("requester_pseudonym",
                         ("org_unit", "staff_group", "system", "go_live_wave", "opened_week_start")),
    "training_records": ("staff_pseudonym", ("org_unit", "staff_group", "system", "go_live_wave", "week_start")),
    "skills_assessments": ("staff_pseudonym", ("org_unit", "staff_group", "system", "go_live_wave", "date")),
}
GROUPS = ("Nursing and Midwifery", "Medical and Dental", "Allied Health Professionals", "Admin and Clerical")
SYSTEMS = ("EPR", "ePMA")
START = datetime(2026, 3, 2, 9, tzinfo=UTC)  # a Monday; data spans ten weeks


def _hierarchy() -> dict[str, tuple[str | None, list[str], str | None]]:
    """Unit → (parent, ancestors top first, wave): trust, two divisions, three directorates, 14 small units."""
    units: dict[str, tuple[str | None, list[str], str | None]] = {
        "T": (None, [], None), "T-D1": ("T", ["T"], None), "T-D2": ("T", ["T"], None),
        "T-D1-A": ("T-D1", ["T", "T-D1"], None), "T-D1-B": ("T-D1", ["T", "T-D1"], None),
        "T-D2-A": ("T-D2", ["T", "T-D2"], None)}
    waves = {"T-D1-A": "wave-1", "T-D1-B": "wave-2", "T-D2-A": "wave-3"}
    for directorate, count in (("T-D1-A", 5), ("T-D1-B", 5), ("T-D2-A", 4)):
        for i in range(count):
            units[f"{directorate}-U{i}"] = (directorate, [*units[directorate][1], directorate], waves[directorate])
    units["T-D2-A-U3"] = (units["T-D2-A-U3"][0], units["T-D2-A-U3"][1], None)  # a unit with no wave
    return units


def _load(engine: sa.Engine, seed: int = 11) -> dict[str, Any]:
    """Small units of 3-8 people each, plus two people in a unit the warehouse has never heard of."""
    rng = random.Random(seed)
    units = _hierarchy()
    people: list[tuple[str, str, str, str, str | None]] = []
    for unit, (_, path, wave) in units.items():
        if len(path) == 3:
            for _ in range(rng.randint(3, 8)):
                people.append((uuid.uuid4().hex, unit, rng.choice(GROUPS), rng.choice(SYSTEMS), wave))
    ghosts = [(uuid.uuid4().hex, "GHOST-UNIT", "Medical and Dental", "EPR", "wave-9") for _ in range(2)]
    common = ("event_id, source, source_record_id, record_version, occurred_at, date_key, pseudonym, org_unit, "
              "staff_group, system, go_live_wave")
    values = ":id, :src, :rid, 'v1', :at, :dk, :p, :u, :g, :s, :w"
    counts = {"people": len(people) + len(ghosts), "comments": 0}
    with engine.begin() as conn:
        for unit, (parent, path, _) in units.items():
            conn.execute(sa.text("insert into core.dim_org_unit (org_unit, parent, level, path) "
                                 "values (:u, :p, :l, :path)"), {"u": unit, "p": parent, "l": len(path), "path": path})
        for p, unit, group, system, wave in people:  # ghosts are not in the directory
            conn.execute(sa.text("insert into core.staff_directory (pseudonym, org_unit, staff_group, system, "
                                 "go_live_wave) values (:p, :u, :g, :s, :w)"),
                         {"p": p, "u": unit, "g": group, "s": system, "w": wave})
        for n, (p, unit, group, system, wave) in enumerate(people + ghosts):
            def row(kind: str, i: int, at: datetime, p: str = p, unit: str = unit, group: str = group,
                    system: str = system, wave: str | None = wave) -> dict[str, Any]:
                return {"id": uuid.uuid4(), "src": "test", "rid": f"{kind}-{p}-{i}", "at": at,
                        "dk": int(at.strftime("%Y%m%d")), "p": p, "u": unit, "g": group, "s": system, "w": wave}

            for i in range(rng.randint(1, 3)):
                at = START + timedelta(days=rng.randrange(70), hours=rng.randrange(8))
                likert = {} if rng.random() < 0.1 else {"confidence": rng.randint(1, 5), "speed": rng.randint(1, 5)}
                comment = f"comment {n}-{i} about the {unit} rota" if rng.random() < 0.6 else None
                counts["comments"] += comment is not None
                conn.execute(sa.text(
                    f"insert into core.fact_form_response ({common}, form_id, likert, likert_count, recommend, "
                    f"minutes_saved_per_shift, comment) values ({values}, 'pulse', cast(:l as jsonb), :lc, :r, 5, :c)"),
                    {**row("response", i, at), "l": json.dumps(likert), "lc": len(likert),
                     "r": rng.randint(0, 10), "c": comment})
            for i in range(rng.randint(0, 2)):
                at = START + timedelta(days=rng.randrange(70), hours=rng.randrange(8))
                conn.execute(sa.text(
                    f"insert into core.fact_helpdesk_ticket ({common}, opened_at, updated_at, resolved_at, status, "
                    "category, priority, reopen_count, satisfaction, summary) values "
                    f"({values}, :at, :at, :res, 'resolved', :cat, 3, 0, 4, :sum)"),
                    {**row("ticket", i, at), "res": at + timedelta(hours=3), "cat": rng.choice(["Access", "Printer"]),
                     "sum": f"smartcard fails at {unit}"})
            for i in range(rng.randint(1, 3)):
                at = START + timedelta(days=rng.randrange(70), hours=rng.randrange(8))
                conn.execute(sa.text(
                    f"insert into core.fact_training_record ({common}, course_id, course_title, module, verb, score, "
                    f"duration_seconds, required) values ({values}, 'EPR-101', 'EPR basics', :m, 'completed', 0.9, "
                    "600, true)"), {**row("statement", i, at), "m": f"module for {unit}"})
            at = START + timedelta(days=rng.randrange(70))
            conn.execute(sa.text(
                f"insert into core.fact_skills_assessment ({common}, assessment_id, phase, scores) values "
                f"({values}, 'dcf', :ph, cast(:sc as jsonb))"),
                {**row("skills", 0, at), "ph": rng.choice(["baseline", "follow_up"]),
                 "sc": '{"communication": 3, "data": 4, "creation": 2}'})
    return counts


@pytest.fixture
def warehouse(warehouse_url: str) -> Iterator[tuple[sa.Engine, dict[str, Any]]]:
    engine = create_engine(warehouse_url)
    counts = _load(engine)
    yield engine, counts
    engine.dispose()


def _as(conn: sa.Connection, role: str) -> None:
    conn.execute(sa.text(f"set role {role}"))


def _people_per_combination(conn: sa.Connection, view: str, person: str, quasi: tuple[str, ...],
                            where: str = "true") -> list[int]:
    cols = ", ".join(quasi)
    return list(conn.execute(sa.text(
        f"select count(distinct {person}) from {view} where {where} group by {cols}")).scalars())  # noqa: S608


def _settings(engine: sa.Engine, k: int, ck: int) -> None:
    with engine.begin() as conn:
        assert write_disclosure_settings(conn, k, ck)


# --- analysts: k-anonymous rows -----------------------------------------------------------------------

@pytest.mark.parametrize("view", ROW_VIEWS)
def test_every_combination_the_analyst_sees_holds_at_least_k_people(warehouse, view):
    engine, counts = warehouse
    with engine.connect() as conn:
        _as(conn, "realise_analyst")
        groups = _people_per_combination(conn, f"analytics.{view}", "person_key", QUASI)
        shown = conn.execute(sa.text(f"select count(*) from analytics.{view}")).scalar_one()  # noqa: S608
        conn.rollback()
        full = conn.execute(sa.text(f"select count(*) from research.{view}")).scalar_one()  # noqa: S608
    assert groups and min(groups) >= 5, sorted(groups)[:5]
    # Coarsening keeps most records: only a residual too small even for the whole trust is left out.
    assert shown >= 0.9 * full, (shown, full)


@pytest.mark.parametrize("view", ROW_VIEWS)
def test_the_same_count_on_the_full_rows_finds_groups_below_k(warehouse, view):
    """The check above can fail: today's full rows (now research) have many combinations under five people."""
    engine, _ = warehouse
    person, quasi = FULL[view]
    with engine.connect() as conn:
        groups = _people_per_combination(conn, f"research.{view}", person, quasi)
    assert min(groups) < 5


def test_person_key_counts_the_people_of_a_combination_exactly(warehouse):
    """The analyst's distinct person_key per combination equals the distinct pseudonyms behind it."""
    engine, _ = warehouse
    cols = ", ".join(QUASI)
    with engine.connect() as conn:
        truth = dict(conn.execute(sa.text(
            f"select concat_ws('|', {cols}), count(distinct pseudonym) from core.disclosure_rows "  # noqa: S608
            f"where kind = 'form_response' group by {cols}")).all())
        _as(conn, "realise_analyst")
        seen = dict(conn.execute(sa.text(
            f"select concat_ws('|', {cols}), count(distinct person_key) from analytics.form_responses "  # noqa: S608
            f"group by {cols}")).all())
        repeat = conn.execute(sa.text(
            "select count(*) > count(distinct person_key) from analytics.form_responses")).scalar_one()
    assert seen == truth
    assert repeat, "people answering more than once in a combination should share a key"


def test_the_analyst_rows_carry_no_identifier_or_exact_time(warehouse):
    engine, _ = warehouse
    with engine.connect() as conn:
        columns = conn.execute(sa.text(
            "select table_name, column_name from information_schema.columns where table_schema = 'analytics' "
            "and table_name = any(:v)"), {"v": list(ROW_VIEWS)}).all()
    names = {c for _, c in columns}
    assert not names & {"staff_pseudonym", "requester_pseudonym", "event_id", "response_id", "ticket_id",
                        "statement_id", "submitted_at", "opened_at", "updated_at", "resolved_at", "occurred_at",
                        "date", "week_start", "opened_date", "loaded_at"}
    assert {v for v, c in columns if c == "person_key"} == set(ROW_VIEWS)


@pytest.mark.parametrize("view", sorted(FREE_TEXT))
def test_free_text_shows_only_in_combinations_of_at_least_the_comment_minimum(warehouse, view):
    engine, _ = warehouse
    cols = ", ".join(QUASI)
    with engine.connect() as conn:
        _as(conn, "realise_analyst")
        for column in FREE_TEXT[view]:
            rows = conn.execute(sa.text(
                f"select count(distinct person_key), count({column}), count(*) from analytics.{view} "  # noqa: S608
                f"group by {cols}")).all()
            with_text = [people for people, texts, _ in rows if texts]
            assert with_text and min(with_text) >= 10, (column, sorted(with_text)[:5])
            assert any(people < 10 and texts == 0 for people, texts, _ in rows), column
            # Within a large enough combination every record keeps its text.
            assert all(texts == n for people, texts, n in rows if people >= 10 and view != "form_responses")


def test_responses_without_answers_do_not_shrink_an_items_combination_below_k(warehouse):
    engine, _ = warehouse
    with engine.connect() as conn:
        _as(conn, "realise_analyst")
        groups = _people_per_combination(conn, "analytics.form_response_items", "person_key", QUASI)
        linked = conn.execute(sa.text(
            "select count(*) from analytics.form_response_items i "
            "where not exists (select from analytics.form_responses r where r.response_key = i.response_key)"
        )).scalar_one()
    assert min(groups) >= 5 and linked == 0


def test_a_unit_without_a_wave_and_a_unit_outside_the_hierarchy_are_shown_only_in_large_combinations(warehouse):
    engine, _ = warehouse
    with engine.connect() as conn:
        _as(conn, "realise_analyst")
        ghost = conn.execute(sa.text(
            "select count(*) from analytics.form_responses where org_unit = 'GHOST-UNIT'")).scalar_one()
        units = set(conn.execute(sa.text("select distinct org_unit from analytics.training_records")).scalars())
    assert ghost == 0, "two people in an unknown unit must not be shown with it"
    assert units and units <= set(_hierarchy()) | {"all"}


# --- settings drive the coarsening --------------------------------------------------------------------

def test_changing_the_settings_changes_the_coarsening(warehouse):
    engine, _ = warehouse

    def observe() -> tuple[list[int], int, int]:
        """People per combination, responses shown with a unit or directorate, comments shown."""
        with engine.connect() as conn:
            _as(conn, "realise_analyst")
            groups = _people_per_combination(conn, "analytics.form_responses", "person_key", QUASI)
            leaf = conn.execute(sa.text(
                "select count(*) from analytics.form_responses r join analytics.org_units o using (org_unit) "
                "where o.level >= 2")).scalar_one()
            comments = conn.execute(sa.text("select count(comment) from analytics.form_responses")).scalar_one()
        return groups, leaf, comments

    with engine.connect() as conn:
        assert read_disclosure_settings(conn) == (5, 10)
    default_groups, default_leaf, default_comments = observe()
    _settings(engine, 3, 4)
    small_groups, small_leaf, small_comments = observe()
    _settings(engine, 12, 20)
    large_groups, large_leaf, large_comments = observe()

    assert min(default_groups) >= 5 and min(small_groups) >= 3 and min(large_groups) >= 12
    assert min(small_groups) < 5, "a smaller minimum shows smaller combinations"
    assert len(small_groups) > len(default_groups) > len(large_groups), "finer combinations, more of them"
    assert small_leaf >= default_leaf > large_leaf
    assert small_comments > default_comments >= large_comments
    with engine.connect() as conn:
        assert read_disclosure_settings(conn) == (12, 20)


def test_write_disclosure_settings_refuses_a_minimum_below_two(warehouse):
    engine, _ = warehouse
    with engine.begin() as conn:
        for k, ck in ((1, 10), (5, 0), (True, 10)):
            with pytest.raises(ValueError, match="at least 2"):
                write_disclosure_settings(conn, k, ck)
        assert read_disclosure_settings(conn) == (5, 10)


# --- who reads what -------------------------------------------------------------------------------------

@pytest.mark.parametrize("relation", ["research.form_responses", "research.helpdesk_tickets", "core.disclosure_rows",
                                      "core.disclosure_settings", "core.fact_form_response", "raw.events",
                                      "ops.quarantine"])
def test_the_analyst_cannot_read_research_core_raw_or_ops(warehouse, relation):
    engine, _ = warehouse
    with engine.connect() as conn:
        _as(conn, "realise_analyst")
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            conn.execute(sa.text(f"select 1 from {relation} limit 1"))  # noqa: S608


def test_the_researcher_reads_full_pseudonymised_rows_and_nothing_outside_research(warehouse):
    engine, counts = warehouse
    with engine.connect() as conn:
        role = conn.execute(sa.text(
            "select rolcanlogin, pg_has_role('realise_analyst', oid, 'member') from pg_roles "
            "where rolname = 'realise_researcher'")).one()
        _as(conn, "realise_researcher")
        people = conn.execute(sa.text(
            "select count(distinct staff_pseudonym) from research.form_responses")).scalar_one()
        comments = conn.execute(sa.text("select count(comment) from research.form_responses")).scalar_one()
        row = conn.execute(sa.text(
            "select * from research.helpdesk_tickets order by opened_at limit 1")).mappings().one()
        items = conn.execute(sa.text("select count(*) from research.form_response_items")).scalar_one()
        for relation in ("core.fact_form_response", "analytics.form_responses", "raw.events"):
            conn.rollback()
            _as(conn, "realise_researcher")
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                conn.execute(sa.text(f"select 1 from {relation} limit 1"))  # noqa: S608
    assert role == (False, False), "NOLOGIN, and analysts are not members"
    assert people == counts["people"] and comments == counts["comments"] and items > 0
    assert len(row["requester_pseudonym"]) == 32 and row["ticket_id"] and row["opened_at"] and row["summary"]


def test_the_research_views_have_the_columns_and_comments_the_analytics_views_had(warehouse):
    engine, _ = warehouse
    with engine.connect() as conn:
        columns = conn.execute(sa.text(
            "select c.relname, array_agg(a.attname::text order by a.attnum), "
            "bool_and(col_description(c.oid, a.attnum) is not null) "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
            "where n.nspname = 'research' group by c.relname")).all()
    by_view = {name: (cols, documented) for name, cols, documented in columns}
    assert set(by_view) == set(ROW_VIEWS)
    assert all(documented for _, documented in by_view.values())
    assert by_view["form_responses"][0][:4] == ["event_id", "source", "response_id", "submitted_at"]
    assert "staff_pseudonym" in by_view["form_response_items"][0]
    assert "requester_pseudonym" in by_view["helpdesk_tickets"][0]
