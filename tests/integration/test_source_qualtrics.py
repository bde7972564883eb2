"""Qualtrics response export quirks and faults, against the simulated datacenter over real HTTP, through the
broker and the warehouse."""

from __future__ import annotations

import copy
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from foundation.errors import SourceError
from schemas.events import Kind
from simulator import qualtrics as sim
from simulator.server import Fault, SimServer
from tests.integration import helpdesk
from tests.integration.helpdesk import Rig

rig = helpdesk.rig
SOURCE = "qualtrics"


_credentials = helpdesk.credentials(sim.ENV)


def _entry(server: SimServer, **options: Any) -> dict[str, Any]:
    entry = sim.source_config(f"http://127.0.0.1:{server.port}", Path("."))
    return {**entry, "options": {"poll_seconds": 0.01, **options}}


def _loaded(rig: Rig) -> dict[str, dict[str, Any]]:
    """research.skills_assessments folded back to one row per response: its phase, round, scores, person."""
    with rig.engine.connect() as conn:
        rows = conn.execute(sa.text("select * from research.skills_assessments where source = :s"),
                            {"s": SOURCE}).mappings().all()
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {"scores": {}})
    for r in rows:
        row = out[r["response_id"]]
        row.update(phase=r["phase"], assessment_id=r["assessment_id"], occurred_at=r["occurred_at"],
                   org_unit=r["org_unit"], staff_pseudonym=r["staff_pseudonym"])
        row["scores"][r["domain"]] = r["score"]
    return dict(out)


def _assert_loaded_as_source(rig: Rig) -> None:
    """The warehouse holds exactly the survey's responses at the clock, each once, each as the world made it."""
    expected = {sim.response_id(e.source_record_id): e for e in rig.world.latest(Kind.SKILLS_ASSESSMENT)}
    loaded = _loaded(rig)
    assert set(loaded) == set(expected)
    for rid, event in expected.items():
        p, row = event.payload, loaded[rid]
        assert row["scores"] == {d.value: s for d, s in p.scores.items()}
        assert (row["phase"], row["assessment_id"], row["staff_pseudonym"], row["org_unit"]) == \
            (p.phase, p.assessment_id, p.person.pseudonym, p.person.org_unit)
        assert timedelta(0) <= row["occurred_at"] - event.occurred_at < timedelta(seconds=1)
    versions = rig.raw_versions(SOURCE)
    assert len(versions) == len(set(versions)) == len(expected)


def test_given_skills_survey_when_exported_then_every_response_loads_with_its_phase_round_and_domains(
        rig: Rig) -> None:
    api = sim.QualtricsApi(rig.world)
    with SimServer([api]) as server:
        result = rig.pull(SOURCE, rig.config(_entry(server)))
    assert result.streams[0].rejected == 0 and result.published == len(rig.world.latest(Kind.SKILLS_ASSESSMENT))
    assert api.started == [{"format": "json", "useLabels": False, "allowContinuation": True}]
    assert rig.ingest().quarantined == 0
    _assert_loaded_as_source(rig)


def test_given_export_still_in_progress_when_pulled_then_progress_is_polled_until_complete(rig: Rig) -> None:
    api = sim.QualtricsApi(rig.world, polls_to_complete=3)
    with SimServer([api]) as server:
        rig.pull(SOURCE, rig.config(_entry(server)))
        polls = [path for method, path, _ in server.log if method == "GET" and "/export-responses/ES_" in path]
    assert len(polls) == 4  # three answers of inProgress, then complete
    rig.ingest()
    _assert_loaded_as_source(rig)


def test_given_export_that_fails_when_pulled_then_error_says_so_and_state_stays(rig: Rig) -> None:
    api = sim.QualtricsApi(rig.world)
    api.fail_exports = 1
    with SimServer([api]) as server, pytest.raises(SourceError, match="export .* failed: .*EXPORT_FAILED"):
        rig.pull(SOURCE, rig.config(_entry(server)))
    assert rig.state(SOURCE, "skills_assessments") == {}


def test_given_nothing_changed_when_pulled_again_then_the_continuation_export_is_empty_and_publishes_nothing(
        rig: Rig) -> None:
    api = sim.QualtricsApi(rig.world)
    with SimServer([api]) as server:
        config = rig.config(_entry(server))
        first = rig.pull(SOURCE, config)
        stored = rig.state(SOURCE, "skills_assessments")
        again = rig.pull(SOURCE, config)
    token = stored["surveys"][sim.SKILLS_SURVEY_ID]["continuation"]
    assert api.started[1] == {"format": "json", "useLabels": False, "continuationToken": token}
    assert again.records == again.published == 0
    assert first.published == len(rig.world.latest(Kind.SKILLS_ASSESSMENT))
    assert stored["cursor"] == max(r["values"]["recordedDate"] for r in sim.skills_responses(rig.world))
    after = rig.state(SOURCE, "skills_assessments")
    assert after["cursor"] == stored["cursor"] and after["surveys"][sim.SKILLS_SURVEY_ID]["continuation"] != token
    rig.ingest()
    _assert_loaded_as_source(rig)


def _latest_scores(rig: Rig, response: str) -> dict[str, int]:
    """The scores of the version of a response that the warehouse treats as its latest."""
    with rig.engine.connect() as conn:
        return dict(conn.execute(sa.text(
            "select scores from core.fact_skills_assessment where source = :s and source_record_id = :r "
            "order by occurred_at desc, record_version desc limit 1"), {"s": SOURCE, "r": response}).scalar_one())


def test_given_response_edited_after_it_was_exported_when_pulled_again_then_the_edit_loads_as_the_latest_version(
        rig: Rig) -> None:
    api = sim.QualtricsApi(rig.world)
    oldest = min(sim.skills_responses(rig.world), key=lambda r: r["values"]["recordedDate"])
    rid, score = oldest["responseId"], oldest["values"]["QID2_1"]
    with SimServer([api]) as server:
        config = rig.config(_entry(server))
        rig.pull(SOURCE, config)
        api.edit(rid, QID2_1=score % 5 + 1)  # recordedDate stays: only a continuation export shows the edit
        again = rig.pull(SOURCE, config)
    rig.ingest()
    assert _latest_scores(rig, rid)["identity_wellbeing_safety"] == score % 5 + 1
    assert len({version for r, version in rig.raw_versions(SOURCE) if r == rid}) == 2
    assert again.records == again.published == 1
    assert "startDate" not in api.started[1] and api.started[1]["continuationToken"]
    first_recorded = datetime.fromisoformat(oldest["values"]["recordedDate"].replace("Z", "+00:00"))
    with SimServer([api]) as server:  # a replay of every response: the unchanged ones are duplicates
        replay = rig.pull(SOURCE, rig.config(_entry(server)), since=first_recorded - timedelta(days=1))
    assert replay.published == len(rig.world.latest(Kind.SKILLS_ASSESSMENT))
    assert rig.ingest().duplicates >= replay.published - 1
    assert _latest_scores(rig, rid)["identity_wellbeing_safety"] == score % 5 + 1


def _save_state(rig: Rig, state: dict[str, Any]) -> None:
    with rig.engine.begin() as conn:
        rig.puller.store.save(conn, SOURCE, "skills_assessments", state, 0)


def test_given_state_stored_as_a_date_cursor_when_pulled_then_continuation_starts_at_that_second_inclusive(
        rig: Rig) -> None:
    recorded = sorted(r["values"]["recordedDate"] for r in sim.skills_responses(rig.world))
    cursor = recorded[len(recorded) // 2]
    _save_state(rig, {"cursor": cursor, "surveys": {sim.SKILLS_SURVEY_ID: cursor}})
    api = sim.QualtricsApi(rig.world)
    with SimServer([api]) as server:
        result = rig.pull(SOURCE, rig.config(_entry(server)))
    assert api.started == [{"format": "json", "useLabels": False, "allowContinuation": True,
                            "startDate": cursor[:19] + "Z"}]
    assert result.records == sum(1 for r in recorded if r[:19] >= cursor[:19])
    assert rig.state(SOURCE, "skills_assessments")["surveys"][sim.SKILLS_SURVEY_ID]["continuation"]


def _posts(server: SimServer) -> list[int]:
    return [status for method, path, status in server.log if method == "POST"]


def test_given_survey_that_refuses_continuation_when_pulled_then_exports_fall_back_to_recorded_dates(
        rig: Rig) -> None:
    api = sim.QualtricsApi(rig.world)
    api.refuse_continuation.add(sim.SKILLS_SURVEY_ID)
    with SimServer([api]) as server:
        config = rig.config(_entry(server))
        rig.pull(SOURCE, config)
        cursor = rig.state(SOURCE, "skills_assessments")["cursor"]
        rig.world.advance(timedelta(days=8))
        rig.pull(SOURCE, config)
        posts = _posts(server)
    assert posts == [400, 200, 400, 200]  # each run asks for continuation again, then exports by date
    assert api.started == [{"format": "json", "useLabels": False},
                           {"format": "json", "useLabels": False, "startDate": cursor[:19] + "Z"}]
    assert rig.ingest().quarantined == 0
    _assert_loaded_as_source(rig)


def test_given_continuation_token_qualtrics_no_longer_knows_when_pulled_then_a_new_chain_starts_at_the_stored_date(
        rig: Rig) -> None:
    api = sim.QualtricsApi(rig.world)
    with SimServer([api]) as server:
        config = rig.config(_entry(server))
        rig.pull(SOURCE, config)
        cursor = rig.state(SOURCE, "skills_assessments")["cursor"]
        api.forget_continuations()
        rig.world.advance(timedelta(days=8))
        rig.pull(SOURCE, config)
        posts = _posts(server)
    assert posts == [200, 400, 200]
    assert api.started[-1] == {"format": "json", "useLabels": False, "allowContinuation": True,
                               "startDate": cursor[:19] + "Z"}
    assert rig.state(SOURCE, "skills_assessments")["surveys"][sim.SKILLS_SURVEY_ID]["continuation"]
    assert rig.ingest().quarantined == 0
    _assert_loaded_as_source(rig)


def _pulse_api(rig: Rig) -> sim.QualtricsApi:
    return sim.QualtricsApi(rig.world, {sim.PULSE_SURVEY_ID: sim.SimSurvey(sim.PULSE_SURVEY_NAME,
                                                                           sim.pulse_responses)})


def test_given_only_pulse_surveys_configured_when_pulled_then_the_default_skills_survey_is_not_exported(
        rig: Rig) -> None:
    survey = {k: v for k, v in sim.pulse_survey_options(rig.world).items() if k not in ("unit", "staff_group")}
    with SimServer([_pulse_api(rig)]) as server:
        result = rig.pull(SOURCE, rig.config(_entry(server, pulse_surveys=[survey])))
        paths = [path for _, path, _ in server.log]
    assert paths and not any(sim.SKILLS_SURVEY_ID in path for path in paths)
    pulse = next(s for s in result.streams if s.stream == "survey_responses")
    assert pulse.published == len(sim.pulse_responses(rig.world)) > 0 and pulse.rejected == 0


def test_given_anonymous_link_responses_when_pulled_then_they_load_with_the_ward_answer_and_nobody_is_matched(
        rig: Rig) -> None:
    options = {"pulse_surveys": [sim.pulse_survey_options(rig.world)], "unit_codes": sim.unit_codes(rig.world)}
    with SimServer([_pulse_api(rig)]) as server:
        result = rig.pull(SOURCE, rig.config(_entry(server, **options)))
    pulse = next(s for s in result.streams if s.stream == "survey_responses")
    expected = {sim.response_id(e.source_record_id): e for e in rig.world.latest(Kind.FORM_RESPONSE)
                if e.payload.form_id == sim.PULSE_FORM}
    assert pulse.rejected == 0 and pulse.unmatched_staff == len(expected) > 0
    assert rig.ingest().quarantined == 0
    with rig.engine.connect() as conn:
        rows = {r["response_id"]: r for r in conn.execute(sa.text(
            "select * from research.form_responses where source = :s"), {"s": SOURCE}).mappings()}
    staff = {p.pseudonym for p in rig.world.trust.staff}
    assert set(rows) == set(expected)
    for rid, event in expected.items():
        person, row = event.payload.person, rows[rid]
        assert (row["org_unit"], row["staff_group"]) == (person.org_unit, person.staff_group)
        assert row["staff_pseudonym"] not in staff and row["likert"] == event.payload.likert


def test_given_responses_recorded_while_an_export_runs_when_pulled_twice_then_each_arrives_once(rig: Rig) -> None:
    world = rig.world
    moved: list[bool] = []

    def record_more() -> None:  # new responses are recorded after the export's snapshot was taken
        if not moved:
            world.advance(timedelta(days=8))
            moved.append(True)

    api = sim.QualtricsApi(world, on_poll=record_more)
    before = len(world.latest(Kind.SKILLS_ASSESSMENT))
    with SimServer([api]) as server:
        config = rig.config(_entry(server))
        first = rig.pull(SOURCE, config)
        second = rig.pull(SOURCE, config)
    assert first.published == before < len(world.latest(Kind.SKILLS_ASSESSMENT))
    assert second.published >= len(world.latest(Kind.SKILLS_ASSESSMENT)) - before
    assert rig.ingest().quarantined == 0
    _assert_loaded_as_source(rig)


def test_given_export_file_expired_before_download_when_pulled_then_export_is_started_again(rig: Rig) -> None:
    api = sim.QualtricsApi(rig.world)
    api.expire_files = 1
    with SimServer([api]) as server:
        rig.pull(SOURCE, rig.config(_entry(server)))
    assert len(api.started) == 2
    rig.ingest()
    _assert_loaded_as_source(rig)


def test_given_progress_id_expired_while_polling_when_pulled_then_export_is_started_again(rig: Rig) -> None:
    polls: list[int] = []
    api = sim.QualtricsApi(rig.world, polls_to_complete=2)

    def expire_once() -> None:
        polls.append(1)
        if len(polls) == 2:
            api.expire()

    api.on_poll = expire_once
    with SimServer([api]) as server:
        rig.pull(SOURCE, rig.config(_entry(server)))
    assert len(api.started) == 2
    rig.ingest()
    _assert_loaded_as_source(rig)


def test_given_a_429_storm_when_pulled_then_retry_after_is_honoured_and_nothing_is_lost(rig: Rig) -> None:
    api = sim.QualtricsApi(rig.world)
    with SimServer([api]) as server:
        server.add_fault(sim.PREFIX, Fault(status=429, retry_after="0.05", times=6))
        result = rig.pull(SOURCE, rig.config(_entry(server)))
        throttled = [s for _, _, s in server.log if s == 429]
    assert len(throttled) == 6 and result.retries == 6
    assert rig.ingest().quarantined == 0
    _assert_loaded_as_source(rig)


def test_given_server_errors_when_pulled_then_requests_are_retried_and_nothing_is_lost(rig: Rig) -> None:
    api = sim.QualtricsApi(rig.world)
    with SimServer([api]) as server:
        server.add_fault(sim.PREFIX, Fault(status=503, times=2))
        server.add_fault(sim.PREFIX, Fault(status=500, times=2, when=lambda r: r.path.endswith("/file")))
        result = rig.pull(SOURCE, rig.config(_entry(server)))
    assert result.retries == 4
    rig.ingest()
    _assert_loaded_as_source(rig)


def test_given_connection_dropped_mid_download_when_pulled_then_file_is_fetched_again(rig: Rig) -> None:
    api = sim.QualtricsApi(rig.world)
    with SimServer([api]) as server:
        server.add_fault(sim.PREFIX, Fault(drop_after=200, times=2, when=lambda r: r.path.endswith("/file")))
        result = rig.pull(SOURCE, rig.config(_entry(server)))
        downloads = [s for _, path, s in server.log if path.endswith("/file")]
    assert len(downloads) == 3 and result.retries == 2 and len(api.started) == 1
    rig.ingest()
    _assert_loaded_as_source(rig)


def test_given_wrong_api_token_when_pulled_then_one_line_error_names_the_variable(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sim.TOKEN_ENV, "not-the-token")
    with SimServer([sim.QualtricsApi(rig.world)]) as server, \
            pytest.raises(SourceError, match=r"credentials were rejected \(HTTP 401\); check the credentials in "
                                             r"QUALTRICS_API_TOKEN.*AUTH_7\.0") as caught:
        rig.pull(SOURCE, rig.config(_entry(server)))
    assert "\n" not in str(caught.value)


def test_given_unknown_survey_id_when_pulled_then_error_names_the_survey_setting(rig: Rig) -> None:
    with SimServer([sim.QualtricsApi(rig.world)]) as server, \
            pytest.raises(SourceError, match="knows no survey SV_notOurSurvey1.*check survey_id"):
        rig.pull(SOURCE, rig.config(_entry(server, skills_surveys=[{"survey_id": "SV_notOurSurvey1"}])))


def test_given_domain_column_no_response_has_when_pulled_then_error_names_the_domains_setting(rig: Rig) -> None:
    domains = {"QID2_1": "identity_wellbeing_safety", "QID7_1": "technical_proficiency"}
    with SimServer([sim.QualtricsApi(rig.world)]) as server, \
            pytest.raises(SourceError, match=r"has 'QID7_1'; fix sources\.qualtrics\.options\.skills_surveys"
                                             r".*\.domains\.QID7_1"):
        rig.pull(SOURCE, rig.config(_entry(server, skills_surveys=[{"domains": domains}])))


def test_given_preview_partial_and_empty_responses_when_pulled_then_partial_loads_and_others_are_quarantined(
        rig: Rig) -> None:
    def responses(world: Any) -> list[dict[str, Any]]:
        real = [copy.deepcopy(r) for r in sim.skills_responses(world)]
        preview, empty = copy.deepcopy(real[0]), copy.deepcopy(real[2])
        preview["responseId"] = preview["values"]["_recordId"] = "R_surveyPreview01"
        preview["values"]["status"] = 1
        empty["responseId"] = empty["values"]["_recordId"] = "R_noDomainAnswer1"
        empty["values"] = {k: v for k, v in empty["values"].items() if not k.startswith("QID2_")}
        partial = real[1]  # stopped half way: recorded when the session closed, two domains unanswered
        partial["values"].update(finished=0, progress=50)
        for column in ("QID2_5", "QID2_6"):
            del partial["values"][column]
        return [preview, empty, *real]

    api = sim.QualtricsApi(rig.world, {sim.SKILLS_SURVEY_ID: sim.SimSurvey("Capability", responses)})
    with SimServer([api]) as server:
        result = rig.pull(SOURCE, rig.config(_entry(server)))
    assert result.streams[0].rejected == 2
    reasons = " | ".join(result.streams[0].rejections)
    assert "status 1 (survey preview) is not a staff response" in reasons
    assert "no capability domain answered" in reasons
    rig.ingest()
    partial_id = sim.skills_responses(rig.world)[1]["responseId"]
    loaded = _loaded(rig)
    assert set(loaded) == sim.response_ids(rig.world)
    assert set(loaded[partial_id]["scores"]) == {"identity_wellbeing_safety", "communication_collaboration",
                                                       "information_data_content", "teaching_learning"}
    with rig.engine.connect() as conn:
        raw = " ".join(r[0] for r in conn.execute(sa.text(
            "select convert_from(raw, 'utf8') from ops.quarantine where source = :s"), {"s": SOURCE}))
    assert "@" not in raw and "recipientEmail" in raw  # identifiers blanked in the quarantined copies


def test_given_base_url_with_api_path_when_pulled_then_paths_are_not_doubled(rig: Rig) -> None:
    api = sim.QualtricsApi(rig.world)
    with SimServer([api]) as server:
        entry = _entry(server)
        entry["base_url"] += "/API/v3/"
        result = rig.pull(SOURCE, rig.config(entry))
    assert result.published > 0 and all("/API/v3/API" not in path for _, path, _ in server.log)


def test_given_since_when_pulled_then_export_starts_there_and_stored_cursor_does_not_move_back(rig: Rig) -> None:
    api = sim.QualtricsApi(rig.world)
    with SimServer([api]) as server:
        config = rig.config(_entry(server))
        rig.pull(SOURCE, config)
        stored = rig.state(SOURCE, "skills_assessments")
        since = rig.world.clock - timedelta(days=10)
        replay = rig.pull(SOURCE, config, since=since)
    assert api.started[-1]["startDate"] == since.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert 0 < replay.records < len(rig.world.latest(Kind.SKILLS_ASSESSMENT))
    assert rig.state(SOURCE, "skills_assessments")["cursor"] == stored["cursor"]
    rig.ingest()
    _assert_loaded_as_source(rig)
