"""The xAPI LRS source against the simulated LRS over real HTTP, with the real broker and warehouse: one test
per quirk of the statements API."""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from connectors.core.pull import Puller, PullResult
from foundation.config import Settings
from foundation.database import create_engine
from foundation.errors import SourceError
from foundation.kafka import ensure_topics, producer
from foundation.source_config import SourceConfig
from ingestion.service import run_ingest
from simulator import xapi as sim
from simulator.server import Api, Fault, Request, SimServer
from simulator.world import World
from tests.contract.harness import KEY, load_directory, read_events, small_world


class Rig:
    """A world, its simulated APIs on a local server, and a Puller on the real broker and warehouse."""

    def __init__(self, world: World, apis: list[Api], settings: Settings, warehouse_url: str, bootstrap: str,
                 folder: Path) -> None:
        self.world, self.apis, self.settings, self.url, self.bootstrap = world, apis, settings, warehouse_url, bootstrap
        ensure_topics(settings, bootstrap)
        self.engine = create_engine(warehouse_url)
        self.producer = producer(settings, bootstrap)
        self.server = SimServer(apis).start()
        self.puller = Puller(self.engine, self.producer, key=KEY, topic_prefix=settings.kafka.topic_prefix)
        load_directory(self.puller, world, folder)

    def root(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def pull(self, name: str, config: SourceConfig, since: datetime | None = None) -> PullResult:
        return self.puller.pull(name, config, since=since)

    def events(self, source: str) -> list[dict[str, Any]]:
        return [e for e in read_events(self.settings, self.bootstrap) if e["source"] == source]

    def ingest(self) -> Any:
        return run_ingest(self.settings, self.url, self.bootstrap, "drain")

    def loaded(self, source: str) -> list[str]:
        """source_record_id of every row ingest stored for `source` (one per record version)."""
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text("select source_record_id from raw.events where source = :s"),
                                     {"s": source}).scalars())

    def quarantine(self, source: str) -> list[tuple[list[str], bytes]]:
        with self.engine.connect() as conn:
            return [(list(r[0]), bytes(r[1])) for r in conn.execute(sa.text(
                "select reasons, raw from ops.quarantine where source = :s and stage = 'connector' order by id"),
                {"s": source})]

    def close(self) -> None:
        self.producer.close()
        self.server.stop()
        self.engine.dispose()


RigFactory = Callable[..., Rig]


@pytest.fixture
def make_rig(warehouse_url: str, kafka_bootstrap: str, ingest_settings: Settings, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[RigFactory]:
    """`make_rig(lambda world: [apis...], env)` → a started Rig; closed after the test."""
    made: list[Rig] = []

    def make(apis: Callable[[World], list[Api]], env: dict[str, str], world: World | None = None) -> Rig:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        world = world or small_world()
        rig = Rig(world, apis(world), ingest_settings, warehouse_url, kafka_bootstrap, tmp_path)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.close()


def xapi_config(rig: Rig, **overrides: Any) -> SourceConfig:
    entry = sim.source_config(rig.root())
    options = overrides.pop("options", {})
    return SourceConfig.model_validate({**entry, "page_size": 50, "backoff_seconds": 0.01, **overrides,
                                        "options": options})


def lrs(rig: Rig) -> sim.LrsApi:
    api = rig.apis[0]
    assert isinstance(api, sim.LrsApi)
    return api


def statement(world: World, index: int, verb: str, *, stored: datetime, timestamp: datetime | None = None,
              course: str = "DCS-101", actor: dict[str, Any] | None = None, result: dict[str, Any] | None = None,
              **extra: Any) -> dict[str, Any]:
    """A statement by the `index`-th member of staff (by mbox unless `actor` is given)."""
    member = world.trust.staff[index]
    ident = world.identity(member.pseudonym)
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "actor": actor or {"objectType": "Agent", "mbox": f"mailto:{ident.email}", "name": ident.display_name},
        "verb": {"id": verb if verb.startswith("http") else sim.ADL + verb, "display": {"en-GB": verb}},
        "object": {"objectType": "Activity", "id": sim.course_iri(course),
                   "definition": {"name": {"en-US": f"{course} (US)", "en-GB": f"{course} title"}}},
        "timestamp": sim.stored_text(timestamp or stored), "stored": sim.stored_text(stored),
        **extra,
    }
    if result is not None:
        body["result"] = result
    return body


def test_given_a_request_without_the_version_header_when_sent_then_lrs_refuses_and_the_connector_sends_it(
        make_rig: RigFactory) -> None:
    rig = make_rig(sim.apis, sim.ENV)
    auth = "Basic " + base64.b64encode(f"{sim.LRS_KEY}:{sim.LRS_SECRET}".encode()).decode()
    bare = httpx.get(rig.root() + "/lrs/xapi/statements", headers={"Authorization": auth})
    assert bare.status_code == 400 and "X-Experience-API-Version" in bare.json()["message"]
    logged = len(rig.server.log)
    result = rig.pull("xapi", xapi_config(rig))
    assert result.published == len(sim.expected_statement_ids(rig.world)) > 0
    statuses = [status for _, path, status in rig.server.log[logged:] if "/xapi/statements" in path]
    assert statuses and set(statuses) == {200}


def test_given_host_relative_more_links_when_paging_then_every_page_is_read_oldest_first(make_rig: RigFactory) -> None:
    rig = make_rig(sim.apis, sim.ENV)
    result = rig.pull("xapi", xapi_config(rig, page_size=40))
    paths = [path for _, path, _ in rig.server.log if "/xapi/statements" in path]
    assert "ascending=true" in paths[0] and "limit=40" in paths[0]
    assert sum(p.startswith("/lrs/xapi/statements/more/") for p in paths) == len(paths) - 1 >= 5
    assert {e["source_record_id"] for e in rig.events("xapi")} == sim.expected_statement_ids(rig.world)
    assert result.streams[0].state["cursor"].endswith("Z")


def test_given_a_statement_stored_late_with_an_old_timestamp_when_pulled_again_then_it_is_published(
        make_rig: RigFactory) -> None:
    rig = make_rig(sim.apis, sim.ENV)
    config = xapi_config(rig, page_size=200)
    rig.pull("xapi", config)
    then = rig.world.clock
    rig.world.advance(timedelta(hours=1))
    offline = statement(rig.world, 5, "completed", stored=then + timedelta(minutes=30),
                        timestamp=then - timedelta(days=20))
    lrs(rig).add_statements([offline])
    again = rig.pull("xapi", config)
    assert again.published >= 1
    late = [e for e in rig.events("xapi") if e["source_record_id"] == offline["id"]]
    assert len(late) == 1
    assert datetime.fromisoformat(late[0]["occurred_at"]) == then - timedelta(days=20)


def test_given_consistent_through_behind_the_newest_statements_when_pulled_then_the_cursor_waits_for_them(
        make_rig: RigFactory) -> None:
    lag = 2 * 3600.0
    rig = make_rig(lambda world: sim.apis(world, consistency_lag=lag), sim.ENV)
    recent = [statement(rig.world, 20 + i, "completed", stored=rig.world.clock - timedelta(minutes=30 + i))
              for i in range(6)]
    for i, s in enumerate(recent):  # the simulated LRS is still indexing statements whose id starts odd
        s["id"] = f"{'13579bdf'[i % 3] if i % 2 else '02468ace'[i % 3]}{s['id'][1:]}"
    lrs(rig).add_statements(recent)
    still_indexing = {s["id"] for s in recent if int(s["id"][0], 16) % 2}
    config = xapi_config(rig, page_size=200)
    first = rig.pull("xapi", config)
    consistent = sim.stored_text(rig.world.clock - timedelta(seconds=lag))
    assert first.streams[0].state["cursor"] <= consistent.replace("Z", "000Z")
    seen = {e["source_record_id"] for e in rig.events("xapi")}
    assert not seen & still_indexing and {s["id"] for s in recent} - still_indexing <= seen
    lrs(rig).consistency_lag = 0.0  # indexing has caught up
    rig.pull("xapi", config)
    assert {e["source_record_id"] for e in rig.events("xapi")} == \
        sim.expected_statement_ids(rig.world) | {s["id"] for s in recent}


def test_given_unknown_and_voiding_verbs_when_pulled_then_they_are_skipped_and_the_voided_one_is_retracted(
        make_rig: RigFactory) -> None:
    rig = make_rig(sim.apis, sim.ENV)
    at = rig.world.clock - timedelta(hours=2)
    doomed = statement(rig.world, 3, "passed", stored=at - timedelta(minutes=1), result={"score": {"scaled": 0.9}})
    noise = [statement(rig.world, 4, "experienced", stored=at), statement(rig.world, 4, "launched", stored=at),
             statement(rig.world, 3, "voided", stored=at,
                       object={"objectType": "StatementRef", "id": doomed["id"]})]
    lrs(rig).add_statements([doomed, *noise])
    result = rig.pull("xapi", xapi_config(rig, page_size=500))
    launched = sum(1 for s in lrs(rig).visible_statements() if s["verb"]["id"] == sim.ADL + "launched")
    assert result.streams[0].skipped == launched + 1  # the world's launches, plus experienced
    events = rig.events("xapi")
    ids = {e["source_record_id"] for e in events if e["kind"] == "training_record"}
    assert doomed["id"] not in ids and not ids & {n["id"] for n in noise}
    assert ids == sim.expected_statement_ids(rig.world)
    assert [(e["source_record_id"], e["record_version"], e["payload"]) for e in events if e["kind"] == "retraction"] \
        == [(doomed["id"], noise[2]["id"], {"kind": "training_record", "reason": "voided"})]


def test_given_a_statement_voided_after_it_was_loaded_when_pulled_and_ingested_then_it_leaves_the_views(
        make_rig: RigFactory) -> None:
    rig = make_rig(sim.apis, sim.ENV)
    config = xapi_config(rig, page_size=500)
    passed = statement(rig.world, 3, "passed", stored=rig.world.clock - timedelta(hours=3),
                       result={"score": {"scaled": 0.9}})
    lrs(rig).add_statements([passed])
    rig.pull("xapi", config)
    rig.ingest()

    def shown() -> set[str]:
        with rig.engine.connect() as conn:
            return set(conn.execute(sa.text("select statement_id from research.training_records "
                                            "where source = 'xapi'")).scalars())

    assert passed["id"] in shown()
    rig.world.advance(timedelta(hours=1))
    voiding = statement(rig.world, 3, "voided", stored=rig.world.clock - timedelta(minutes=5),
                        object={"objectType": "StatementRef", "id": passed["id"]})
    lrs(rig).add_statements([voiding])
    rig.pull("xapi", config)
    summary = rig.ingest()
    assert summary.loaded.get("retraction") == 1
    assert passed["id"] not in shown()
    assert shown() == sim.expected_statement_ids(rig.world)
    with rig.engine.connect() as conn:
        kept = conn.execute(sa.text("select count(*) from core.fact_training_record where source_record_id = :i"),
                            {"i": passed["id"]}).scalar_one()
        retracted = conn.execute(sa.text("select source_record_id, retracted_kind, reason from analytics.retractions"
                                         )).all()
    assert kept == 1  # history keeps the statement
    assert [tuple(r) for r in retracted] == [(passed["id"], "training_record", "voided")]


def test_given_an_actor_known_only_by_mbox_sha1sum_when_pulled_then_it_is_quarantined_without_the_hash(
        make_rig: RigFactory) -> None:
    rig = make_rig(sim.apis, sim.ENV)
    sha = "ebd31e95054c018b10727ccffd2ef2ec3a016ee9"
    hidden = statement(rig.world, 2, "completed", stored=rig.world.clock - timedelta(hours=1),
                       actor={"objectType": "Agent", "mbox_sha1sum": sha, "name": "Someone"})
    group = statement(rig.world, 2, "completed", stored=rig.world.clock - timedelta(hours=1),
                      actor={"objectType": "Group", "member": [], "name": "Ward 7B team"})
    lrs(rig).add_statements([hidden, group])
    result = rig.pull("xapi", xapi_config(rig, page_size=500))
    assert result.streams[0].rejected == 2
    rows = {reasons[0].split(":")[0].removeprefix("record "): (reasons[0], raw)
            for reasons, raw in rig.quarantine("xapi")}
    assert "mbox_sha1sum" in rows[hidden["id"]][0] and "Group" in rows[group["id"]][0]
    assert sha.encode() not in rows[hidden["id"]][1] and b"Someone" not in rows[hidden["id"]][1]


def test_given_an_account_actor_when_pulled_then_the_username_links_to_the_directory_person(
        make_rig: RigFactory) -> None:
    rig = make_rig(sim.apis, sim.ENV)
    member = rig.world.trust.staff[7]
    ident = rig.world.identity(member.pseudonym)
    by_account = statement(rig.world, 7, "completed", stored=rig.world.clock - timedelta(hours=1),
                           actor={"objectType": "Agent", "account": {"homePage": sim.HOME_PAGE,
                                                                       "name": ident.username}})
    lrs(rig).add_statements([by_account])
    rig.pull("xapi", xapi_config(rig, page_size=500))
    event = next(e for e in rig.events("xapi") if e["source_record_id"] == by_account["id"])
    person = event["payload"]["person"]
    assert person["pseudonym"] == member.pseudonym and person["org_unit"] == member.org_unit
    assert person["go_live_wave"] == member.go_live_wave
    assert ident.username not in str(event)


def test_given_negative_scores_and_iso_durations_when_pulled_then_score_is_clamped_and_duration_in_seconds(
        make_rig: RigFactory) -> None:
    rig = make_rig(sim.apis, sim.ENV)
    at = rig.world.clock - timedelta(hours=1)
    penalised = statement(rig.world, 1, "failed", stored=at,
                          result={"score": {"scaled": -0.25}, "success": False, "duration": "P1DT2H"})
    raw_only = statement(rig.world, 1, "passed", stored=at,
                         result={"score": {"raw": 45, "min": 0, "max": 60}, "duration": "PT1H12M30S"})
    garbled = statement(rig.world, 1, "completed", stored=at, result={"duration": "1h 12m"})
    lrs(rig).add_statements([penalised, raw_only, garbled])
    rig.pull("xapi", xapi_config(rig, page_size=500))
    got = {e["source_record_id"]: e["payload"] for e in rig.events("xapi")}
    assert (got[penalised["id"]]["score"], got[penalised["id"]]["duration_seconds"]) == (0.0, 93600)
    assert (got[raw_only["id"]]["score"], got[raw_only["id"]]["duration_seconds"]) == (0.75, 4350)
    assert got[garbled["id"]]["duration_seconds"] is None and got[garbled["id"]]["verb"] == "completed"


def test_given_module_statements_when_pulled_then_the_course_comes_from_the_context_parent(
        make_rig: RigFactory) -> None:
    rig = make_rig(sim.apis, sim.ENV)
    rig.pull("xapi", xapi_config(rig, page_size=500))
    modules = [e["payload"] for e in rig.events("xapi") if e["payload"]["module"]]
    assert modules and {p["course_id"] for p in modules} == {"EPR-GL-101"}
    assert {p["course_title"] for p in modules} == {"EPR go-live essentials"}
    assert all("/" not in p["module"] for p in modules)  # the module's name, not its IRI


def test_given_required_courses_per_wave_when_pulled_then_required_follows_the_learners_wave(
        make_rig: RigFactory) -> None:
    rig = make_rig(sim.apis, sim.ENV)
    lrs(rig).add_statements([statement(rig.world, 30, "completed", stored=rig.world.clock - timedelta(hours=1))])
    rig.pull("xapi", xapi_config(rig, page_size=500, options={
        "required_courses": {"all": ["DCS-101"], "wave-2": ["EPR-GL-101"]}}))
    payloads = [e["payload"] for e in rig.events("xapi")]
    epr = [p for p in payloads if p["course_id"] == "EPR-GL-101"]
    assert {p["required"] for p in epr if p["person"]["go_live_wave"] == "wave-2"} == {True}
    assert {p["required"] for p in epr if p["person"]["go_live_wave"] != "wave-2"} == {False}
    assert {p["required"] for p in payloads if p["course_id"] == "DCS-101"} == {True}


def test_given_an_activity_that_names_no_course_when_pulled_then_quarantined_naming_the_setting(
        make_rig: RigFactory) -> None:
    rig = make_rig(sim.apis, sim.ENV)
    odd = statement(rig.world, 9, "completed", stored=rig.world.clock - timedelta(hours=1),
                    object={"objectType": "Activity", "id": "https://games.example.org/level/12"})
    lrs(rig).add_statements([odd])
    result = rig.pull("xapi", xapi_config(rig, page_size=500))
    assert result.streams[0].rejected == 1
    assert "options.course_id_pattern or course_map" in rig.quarantine("xapi")[0][0][0]
    mapped = xapi_config(rig, page_size=500, options={"course_map": {"https://games.example.org/level/12": "GAME"}})
    rig.pull("xapi", mapped, since=rig.world.clock - timedelta(hours=2))
    assert any(e["payload"]["course_id"] == "GAME" for e in rig.events("xapi"))


def test_given_wrong_lrs_credentials_when_pulled_then_one_line_error_names_the_variables(
        make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = make_rig(sim.apis, sim.ENV)
    monkeypatch.setenv("LRS_SECRET", "not-the-secret")
    with pytest.raises(SourceError, match=r"HTTP 401.*LRS_KEY, LRS_SECRET") as caught:
        rig.pull("xapi", xapi_config(rig))
    assert "\n" not in str(caught.value)


def test_given_statements_sharing_the_last_stored_time_when_a_pull_stops_between_pages_then_the_next_loses_none(
        make_rig: RigFactory) -> None:
    rig = make_rig(sim.apis, sim.ENV)
    at = rig.world.clock + timedelta(seconds=1)
    rig.world.advance(timedelta(seconds=1))
    burst = [statement(rig.world, 10 + i, "completed", stored=at) for i in range(7)]  # one bulk import
    lrs(rig).add_statements(burst)
    before = sum(1 for s in lrs(rig).visible_statements() if s["stored"] < sim.stored_text(at))
    stop_at = before // 5 + 1  # the `more` request after the first page holding part of the burst
    more_requests = 0

    def nth_more(request: Request) -> bool:
        nonlocal more_requests
        if request.path.startswith("/xapi/statements/more/"):
            more_requests += 1
            return more_requests == stop_at
        return False

    rig.server.add_fault(sim.PREFIX, Fault(status=404, when=nth_more))
    config = xapi_config(rig, page_size=5, options={"max_restarts": 0})
    with pytest.raises(SourceError, match="expiring its `more` links"):
        rig.pull("xapi", config)
    burst_ids = {s["id"] for s in burst}
    published_first = {e["source_record_id"] for e in rig.events("xapi")} & burst_ids
    assert 0 < len(published_first) < len(burst)
    second = rig.pull("xapi", config)
    assert second.published == len(burst) - len(published_first)
    ids = [e["source_record_id"] for e in rig.events("xapi")]
    assert set(ids) == sim.expected_statement_ids(rig.world) | burst_ids
    assert len(ids) == len(set(ids)), "a statement at the cursor was published twice"
    assert rig.pull("xapi", config).published == 0


def test_given_a_since_replay_when_pulled_then_the_window_is_republished_and_the_cursor_stays(
        make_rig: RigFactory) -> None:
    rig = make_rig(sim.apis, sim.ENV)
    config = xapi_config(rig, page_size=500)
    first = rig.pull("xapi", config)
    replay = rig.pull("xapi", config, since=rig.world.clock - timedelta(days=3))
    assert 0 < replay.published < first.published
    assert replay.streams[0].state["cursor"] == first.streams[0].state["cursor"]
    rig.ingest()
    loaded = rig.loaded("xapi")
    assert len(loaded) == len(set(loaded)) == len(sim.expected_statement_ids(rig.world))



def _headers() -> dict[str, str]:
    auth = "Basic " + base64.b64encode(f"{sim.LRS_KEY}:{sim.LRS_SECRET}".encode()).decode()
    return {"Authorization": auth, "X-Experience-API-Version": sim.VERSION}


def test_given_an_lrs_endpoint_with_a_path_prefix_when_pulled_then_statements_and_more_links_are_read_under_it(
        make_rig: RigFactory) -> None:
    rig = make_rig(lambda world: sim.apis(world, endpoint="/data/xAPI/"), sim.ENV)  # Learning Locker's layout
    assert httpx.get(rig.root() + "/data/xAPI/statements", headers=_headers()).status_code == 200
    assert httpx.get(rig.root() + "/data/xapi/statements", headers=_headers()).status_code == 404  # case-sensitive
    logged = len(rig.server.log)
    result = rig.pull("xapi", xapi_config(rig, base_url=rig.root() + "/data/xAPI/", page_size=40))
    asked = [(path, status) for _, path, status in rig.server.log[logged:]]
    assert asked and all(path.startswith("/data/xAPI/statements") and status == 200 for path, status in asked)
    assert sum(path.startswith("/data/xAPI/statements/more/") for path, _ in asked) == len(asked) - 1 >= 5
    expected = sim.expected_statement_ids(rig.world)
    assert result.published == len(expected) and {e["source_record_id"] for e in rig.events("xapi")} == expected
    without_slash = rig.pull("lrs_no_slash", xapi_config(rig, base_url=rig.root() + "/data/xAPI", page_size=500))
    assert without_slash.published == len(expected)


def test_given_a_base_url_that_is_the_lrs_root_as_before_when_pulled_then_statements_are_found_and_the_fix_logged(
        make_rig: RigFactory, caplog: pytest.LogCaptureFixture) -> None:
    rig = make_rig(sim.apis, sim.ENV)  # statements at /lrs/xapi/statements; older configurations say base_url /lrs
    expected = sim.expected_statement_ids(rig.world)
    with caplog.at_level(logging.WARNING, logger="connectors.xapi"):
        result = rig.pull("xapi", xapi_config(rig, base_url=rig.root() + sim.PREFIX))
    assert result.published == len(expected)
    assert f"set sources.xapi.base_url to {rig.root()}/lrs/xapi/" in caplog.text
    assert "options.statements_path: xapi/statements" in caplog.text
    logged = len(rig.server.log)
    explicit = rig.pull("lrs_explicit", xapi_config(rig, base_url=rig.root() + sim.PREFIX, page_size=500,
                                                    options={"statements_path": "xapi/statements"}))
    assert explicit.published == len(expected)
    assert {status for _, _, status in rig.server.log[logged:]} == {200}  # no probing with the path given


def test_given_a_base_url_that_is_no_lrs_endpoint_when_pulled_then_the_error_names_the_urls_tried_and_the_setting(
        make_rig: RigFactory) -> None:
    rig = make_rig(lambda world: sim.apis(world, endpoint="/data/xAPI/"), sim.ENV)
    with pytest.raises(SourceError, match=r"/data/xapi/statements.*/data/xapi/xapi/statements.*sources\.xapi\."
                                          r"base_url to the LRS endpoint.*case-sensitive") as caught:
        rig.pull("xapi", xapi_config(rig, base_url=rig.root() + "/data/xapi/"))
    assert "\n" not in str(caught.value)
