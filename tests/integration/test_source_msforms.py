"""Microsoft Forms export quirks, each against simulated downloads in a folder, through broker and warehouse."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.core.stream import PullContext
from connectors.msforms import MsForms
from connectors.msforms.settings import MODIFIED, QUESTIONS, RECOMMEND
from foundation.errors import SourceError
from foundation.source_config import SourceConfig
from simulator import msforms as sim
from tests.integration import helpdesk
from tests.integration.helpdesk import Rig

rig = helpdesk.rig
SOURCE = "msforms"


def _config(rig: Rig, **options: Any) -> SourceConfig:
    return rig.config({"type": "msforms", "path": str(rig.folder / sim.EXPORT_DIR),
                       "options": {"unit_codes": sim.unit_codes(rig.world), **options}})


def _loaded(rig: Rig) -> dict[str, dict[str, Any]]:
    with rig.engine.connect() as conn:
        rows = conn.execute(sa.text("select * from research.form_responses where source = :s"),
                            {"s": SOURCE}).mappings().all()
    return {r["response_id"]: dict(r) for r in rows}


def _expected(rig: Rig) -> dict[str, Any]:
    """Response id -> the world's event, for every Microsoft Forms response exported at the clock."""
    return {f"{form}:{n}": e for form, events in sim.visible(rig.world).items() for n, e in enumerate(events, 1)
            if n not in sim.deleted(rig.world, form)}


def _assert_loaded_as_source(rig: Rig) -> None:
    expected, loaded = _expected(rig), _loaded(rig)
    assert set(loaded) == set(expected)
    for rid, event in expected.items():
        p, row = event.payload, loaded[rid]
        assert (row["form_id"], row["likert"], row["recommend"], row["minutes_saved_per_shift"]) == \
            (p.form_id, p.likert, p.recommend, p.minutes_saved_per_shift)
        assert row["submitted_at"] == sim.as_exported(event.occurred_at) and row["org_unit"] == p.person.org_unit
        assert row["staff_group"] == p.person.staff_group and row["system"] == p.person.system
        assert (row["comment"] is None) == (p.comment is None)
    versions = rig.raw_versions(SOURCE)
    assert len(versions) == len(set(versions)) == len(expected)


def test_given_xlsx_and_csv_exports_when_pulled_then_every_response_loads_as_the_form_recorded_it(rig: Rig) -> None:
    paths = sim.write_exports(rig.world, rig.folder)
    assert {p.suffix for p in paths} == {".xlsx", ".csv"}
    result = rig.pull(SOURCE, _config(rig))
    assert result.streams[0].rejected == 0
    assert rig.ingest().quarantined == 0
    _assert_loaded_as_source(rig)
    matched = {r["staff_pseudonym"] for r in _loaded(rig).values() if not r["form_id"].startswith("portal")}
    assert matched <= {p.pseudonym for p in rig.world.trust.staff}  # named respondents link to the directory


def test_given_a_later_export_of_the_same_forms_when_pulled_then_only_rows_above_each_forms_id_are_published(
        rig: Rig) -> None:
    sim.write_exports(rig.world, rig.folder)
    first = rig.pull(SOURCE, _config(rig))
    assert first.published == len(_expected(rig))
    rig.world.advance(timedelta(days=8))
    sim.write_exports(rig.world, rig.folder)  # "(1-N)" grows; the earlier downloads stay in the folder
    second = rig.pull(SOURCE, _config(rig))
    new = len(_expected(rig)) - first.published
    assert second.published == new  # earlier rows' answers are unchanged: their digests match, none is sent
    assert rig.state(SOURCE, "responses")["forms"]["epr-pulse"]["id"] == len(sim.visible(rig.world)["epr-pulse"])
    assert rig.ingest().duplicates == 0
    _assert_loaded_as_source(rig)


def test_given_a_renamed_copy_of_an_export_when_pulled_then_it_is_not_read_again(rig: Rig) -> None:
    paths = sim.write_exports(rig.world, rig.folder)
    rig.pull(SOURCE, _config(rig))
    copy = paths[0].with_name(paths[0].stem + " (1)" + paths[0].suffix)
    shutil.copy(paths[0], copy)
    again = rig.pull(SOURCE, _config(rig))
    assert again.records == 0 and again.published == 0


def test_given_a_response_edited_after_an_export_when_reexported_then_its_new_version_is_published(
        rig: Rig) -> None:
    form = next(f for f in sim.exports(rig.world) if f.form_id == "epr-pulse")
    path = sim.write_export(form, rig.folder / sim.EXPORT_DIR)
    rig.pull(SOURCE, _config(rig))
    modified = form.header.index(MODIFIED)
    confidence = form.header.index(QUESTIONS["confidence"])
    row = form.rows[2]
    row[modified] = max(r[modified] for r in form.rows) + timedelta(hours=1)  # edited after the first export
    row[confidence] = "Strongly disagree"
    path.unlink()
    sim.write_export(form, rig.folder / sim.EXPORT_DIR)
    again = rig.pull(SOURCE, _config(rig))
    assert again.published >= 1
    rig.ingest()
    loaded = _loaded(rig)[f"epr-pulse:{row[0]}"]
    assert loaded["likert"]["confidence"] == 1
    assert len({v for r, v in rig.raw_versions(SOURCE) if r == f"epr-pulse:{row[0]}"}) == 2


@pytest.mark.parametrize("form_id", ["epma-pulse", "portal-readiness", "epr-pulse"])  # csv, xlsx text, xlsx cells
def test_given_a_response_edited_in_forms_when_exported_again_then_only_the_edit_is_published_and_it_is_latest(
        rig: Rig, form_id: str) -> None:
    sim.write_exports(rig.world, rig.folder)
    first = rig.pull(SOURCE, _config(rig))
    number = next(n for n, e in enumerate(sim.visible(rig.world)[form_id], 1) if e.payload.likert)
    before = sim.likert_answers(rig.world, form_id, number)
    code = next(iter(before))
    rig.world.advance(timedelta(hours=1))
    sim.edit_response(rig.world, form_id, number, likert={code: 1 if before[code] != 1 else 5})
    sim.write_exports(rig.world, rig.folder)
    second = rig.pull(SOURCE, _config(rig))
    submitted = len(_expected(rig)) - first.published
    assert second.published == submitted + 1
    rig.world.advance(timedelta(days=1))
    sim.write_exports(rig.world, rig.folder)
    third = rig.pull(SOURCE, _config(rig))
    assert third.published == len(_expected(rig)) - first.published - submitted  # the edit is not sent again
    rig.ingest()
    response = f"{form_id}:{number}"
    assert _loaded(rig)[response]["likert"] == sim.likert_answers(rig.world, form_id, number) != before
    versions = sorted({v for r, v in rig.raw_versions(SOURCE) if r == response})
    assert len(versions) == 2
    # An export with "Last modified time" versions the edit by it; one without, by the answers' digest.
    assert ("~" in versions[1]) is (sim.STYLES[form_id] != "xlsx_cells")


def test_given_responses_deleted_in_forms_when_a_later_export_is_pulled_and_ingested_then_they_leave_the_views(
        rig: Rig) -> None:
    sim.write_exports(rig.world, rig.folder)
    rig.pull(SOURCE, _config(rig))
    rig.ingest()
    rig.world.advance(timedelta(hours=1))
    sim.delete_response(rig.world, "epr-pulse", 2)  # xlsx export
    cleared = sim.delete_all_responses(rig.world, "epma-pulse")  # CSV export: "Delete all responses"
    gone = {"epr-pulse:2"} | {f"epma-pulse:{n}" for n in cleared}
    assert gone <= set(_loaded(rig))
    rig.world.advance(timedelta(days=8))  # the next exports hold responses submitted since
    sim.write_exports(rig.world, rig.folder)
    rig.pull(SOURCE, _config(rig))
    summary = rig.ingest()
    assert summary.loaded.get("retraction") == len(gone) and summary.quarantined == 0
    assert set(_loaded(rig)) == sim.response_ids(rig.world) == set(_expected(rig))
    assert not gone & set(_loaded(rig))
    with rig.engine.connect() as conn:
        retracted = conn.execute(sa.text("select source_record_id, retracted_kind, reason from analytics.retractions "
                                         "where source = :s"), {"s": SOURCE}).all()
    assert sorted(retracted) == sorted((rid, "form_response", "removed") for rid in gone)
    rig.world.advance(timedelta(days=1))
    sim.write_exports(rig.world, rig.folder)
    rig.pull(SOURCE, _config(rig))
    assert rig.ingest().loaded.get("retraction", 0) == 0  # retracted once


def test_given_anonymous_form_when_pulled_then_ward_question_gives_the_unit_and_nobody_is_matched(rig: Rig) -> None:
    sim.write_exports(rig.world, rig.folder)
    result = rig.pull(SOURCE, _config(rig))
    assert result.streams[0].unmatched_staff == sum(len(v) for k, v in sim.visible(rig.world).items()
                                                    if k.startswith("portal"))
    rig.ingest()
    staff = {p.pseudonym for p in rig.world.trust.staff}
    for rid, event in _expected(rig).items():
        if rid.startswith("portal"):
            row = _loaded(rig)[rid]
            assert row["org_unit"] == event.payload.person.org_unit and row["staff_pseudonym"] not in staff


def test_given_day_first_csv_times_when_pulled_with_auto_format_then_dates_are_read_day_first(rig: Rig) -> None:
    form = next(f for f in sim.exports(rig.world) if f.form_id == "epma-pulse")
    for row in form.rows:  # as Excel on an en-GB machine saves the CSV: 25/09/2026 14:18:24
        for i in (1, 2):
            month, day, rest = row[i].split("/", 2)
            year, clock = rest.split(" ")
            row[i] = f"{int(day):02d}/{int(month):02d}/{year} {int(clock.split(':')[0]):02d}:{clock[-5:]}"
    assert any(int(r[2][:2]) > 12 for r in form.rows)
    sim.write_export(form, rig.folder / sim.EXPORT_DIR)
    rig.pull(SOURCE, _config(rig))
    rig.ingest()
    loaded = _loaded(rig)
    for n, event in enumerate(sim.visible(rig.world)["epma-pulse"], 1):
        assert loaded[f"epma-pulse:{n}"]["submitted_at"] == sim.as_exported(event.occurred_at)


def test_given_configured_question_missing_from_export_when_pulled_then_error_names_question_and_setting(
        rig: Rig) -> None:
    form = next(f for f in sim.exports(rig.world) if f.form_id == "epr-pulse")
    form.header[form.header.index(RECOMMEND)] = "How likely are you to recommend it?"
    sim.write_export(form, rig.folder / sim.EXPORT_DIR)
    with pytest.raises(SourceError, match=r"has no question 'How likely are you to recommend the new system to a "
                                          r"colleague\?'; fix sources\.msforms\.options\.forms\.'EPR pulse survey'"
                                          r"\.recommend"):
        rig.pull(SOURCE, _config(rig))


def test_given_export_of_an_unlisted_form_when_pulled_then_error_names_forms_unless_told_to_skip(rig: Rig) -> None:
    sim.write_exports(rig.world, rig.folder)
    stray = rig.folder / sim.EXPORT_DIR / "Canteen feedback(1-3).csv"
    stray.write_text("ID,Start time,Completion time,Email,Name,Food\n1,1/2/2026 9:00:00,1/2/2026 9:01:00,a,b,ok\n")
    with pytest.raises(SourceError, match="form 'Canteen feedback', which sources.msforms.options.forms does not "
                                          "list"):
        rig.pull(SOURCE, _config(rig))
    assert rig.state(SOURCE, "responses") == {}  # checked before any file is read
    result = rig.pull(SOURCE, _config(rig, on_unknown_form="skip"))
    assert result.published == len(_expected(rig))


def test_given_rows_with_bad_answers_when_pulled_then_each_is_quarantined_with_file_and_row(rig: Rig) -> None:
    form = next(f for f in sim.exports(rig.world) if f.form_id == "epma-pulse")
    recommend = form.header.index(RECOMMEND)
    form.rows[0][recommend] = "eleven"
    form.rows[1][2] = "2/30/2026 9:00:00"
    sim.write_export(form, rig.folder / sim.EXPORT_DIR)
    result = rig.pull(SOURCE, _config(rig))
    assert result.streams[0].rejected == 2 and result.published == len(form.rows) - 2
    reasons = sorted(result.streams[0].rejections)
    assert "epma-pulse:1 (ePMA pulse survey" in reasons[0] and "row 2): recommend: 'eleven' is not a number" \
        in reasons[0]
    assert "row 3): Completion time '2/30/2026 9:00:00' is not a valid month/day/year date" in reasons[1]
    with rig.engine.connect() as conn:
        raw = " ".join(r[0] for r in conn.execute(sa.text(
            "select convert_from(raw, 'utf8') from ops.quarantine where source = :s"), {"s": SOURCE}))
    assert "@" not in raw


def test_given_a_named_response_quarantined_when_its_copy_is_stored_then_it_holds_neither_email_nor_name(
        rig: Rig) -> None:
    form = next(f for f in sim.exports(rig.world) if f.form_id == "epr-pulse")
    form.rows[0][form.header.index(RECOMMEND)] = "eleven"
    form.rows[0][form.header.index("Is there anything else you would like to tell the programme team?")] = \
        "Ask Jo Bloggs on 07700 900123"
    sim.write_export(form, rig.folder / sim.EXPORT_DIR)
    assert rig.pull(SOURCE, _config(rig)).streams[0].rejected == 1
    with rig.engine.connect() as conn:
        raw = conn.execute(sa.text("select convert_from(raw, 'utf8') from ops.quarantine where source = :s"),
                           {"s": SOURCE}).scalar_one()
    email, name = form.rows[0][form.header.index("Email")], form.rows[0][form.header.index("Name")]
    assert email not in raw and name not in raw and "07700" not in raw
    assert '"email": "[identifier]"' in raw and '"recommend": "eleven"' in raw


def test_given_since_when_pulled_then_rows_from_that_date_are_read_again_and_state_stays(rig: Rig) -> None:
    sim.write_exports(rig.world, rig.folder)
    rig.pull(SOURCE, _config(rig))
    stored = rig.state(SOURCE, "responses")
    since = rig.world.clock - timedelta(days=5)
    replay = rig.pull(SOURCE, _config(rig), since=since)
    wanted = sum(1 for events in sim.visible(rig.world).values() for e in events if e.occurred_at >= since)
    assert replay.published == wanted > 0
    assert rig.state(SOURCE, "responses") == stored
    rig.ingest()
    _assert_loaded_as_source(rig)


def test_given_a_file_read_in_several_pages_when_a_page_is_published_then_the_file_counts_as_read_only_at_its_end(
        rig: Rig) -> None:
    sim.write_exports(rig.world, rig.folder)
    config = rig.config({"type": "msforms", "path": str(rig.folder / sim.EXPORT_DIR),
                         "options": {"unit_codes": sim.unit_codes()}}, page_size=10)
    source = MsForms(SOURCE, config, PullContext(run_started=datetime.now(UTC)))
    pages = list(source.read(source.streams[0], {}))
    epr = len(sim.visible(rig.world)["epr-pulse"])
    pulse_pages = [p for p in pages if p.records and p.records[0]["form_id"] == "epr-pulse"]
    assert len(pulse_pages) == -(-epr // 10)
    for page in pulse_pages[:-1]:
        assert len(page.state["files"]) == len(pulse_pages[-1].state["files"]) - 1
        assert page.state["forms"]["epr-pulse"]["id"] == page.records[-1]["id"]
    cursors = [p.state["cursor"] for p in pages]
    assert cursors == sorted(cursors)


def test_given_excel_lock_file_beside_the_exports_when_pulled_then_it_is_ignored(rig: Rig) -> None:
    paths = sim.write_exports(rig.world, rig.folder)
    (paths[0].parent / f"~${paths[0].name}").write_bytes(b"locked by someone")
    result = rig.pull(SOURCE, _config(rig))
    assert result.published == len(_expected(rig))


def test_given_missing_folder_when_pulled_then_error_names_the_path_setting(rig: Rig, tmp_path: Path) -> None:
    config = rig.config({"type": "msforms", "path": str(tmp_path / "nowhere")})
    with pytest.raises(SourceError, match=r"does not exist; fix sources\.msforms\.path"):
        rig.pull(SOURCE, config)


def test_given_path_to_one_export_file_when_pulled_then_only_that_form_is_read(rig: Rig) -> None:
    paths = sim.write_exports(rig.world, rig.folder)
    one = next(p for p in paths if p.name.startswith("EPR pulse survey"))
    result = rig.pull(SOURCE, rig.config({"type": "msforms", "path": str(one)}))
    assert result.published == len(sim.visible(rig.world)["epr-pulse"])
    assert set(rig.state(SOURCE, "responses")["forms"]) == {"epr-pulse"}
