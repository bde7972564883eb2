"""Google Forms API quirks and faults, against the simulated API over real HTTP, through broker and warehouse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors.core.pull import Puller, PullResult
from foundation.config import Settings
from foundation.database import create_engine
from foundation.errors import SourceError
from foundation.kafka import ensure_topics, producer
from foundation.privacy import scrub
from foundation.source_config import SourceConfig
from ingestion.runner import IngestSummary
from ingestion.service import run_ingest
from simulator import googleforms as sim
from simulator.server import Fault, SimServer
from simulator.world import World
from tests.contract.harness import KEY, load_directory, read_events, small_world
from tests.integration import helpdesk

CONFIDENCE = "I feel confident using the system in my day-to-day work"


@dataclass
class Rig:
    settings: Settings
    warehouse_url: str
    bootstrap: str
    engine: Engine
    puller: Puller
    world: World

    def config(self, server: SimServer, **overrides: Any) -> SourceConfig:
        entry = sim.source_config(f"http://127.0.0.1:{server.port}")
        options = {**entry["options"], **overrides.pop("options", {})}
        return SourceConfig.model_validate({**entry, "page_size": 5, "backoff_seconds": 0.01,
                                            "max_backoff_seconds": 0.2, **overrides, "options": options})

    def pull(self, config: SourceConfig, name: str = "googleforms", since: datetime | None = None) -> PullResult:
        return self.puller.pull(name, config, since=since)

    def ingest(self) -> IngestSummary:
        return run_ingest(self.settings, self.warehouse_url, self.bootstrap, "drain")

    def raw(self, source: str = "googleforms") -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            return [(r[0], r[1]) for r in conn.execute(sa.text(
                "select source_record_id, record_version from raw.events where source = :s"), {"s": source})]

    def responses(self, source: str = "googleforms") -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("select * from research.form_responses where source = :s"),
                                {"s": source}).mappings().all()
        return {r["response_id"]: dict(r) for r in rows}


_credentials = helpdesk.credentials(sim.ENV)


@pytest.fixture
def rig(ingest_settings: Settings, warehouse_url: str, kafka_bootstrap: str, tmp_path: Path) -> Iterator[Rig]:
    ensure_topics(ingest_settings, kafka_bootstrap)
    engine = create_engine(warehouse_url)
    prod = producer(ingest_settings, kafka_bootstrap)
    puller = Puller(engine, prod, key=KEY, topic_prefix=ingest_settings.kafka.topic_prefix)
    world = small_world()
    load_directory(puller, world, tmp_path)
    try:
        yield Rig(ingest_settings, warehouse_url, kafka_bootstrap, engine, puller, world)
    finally:
        prod.close()
        engine.dispose()


def _assert_exactly_the_source(rig: Rig, edited: int = 0) -> None:
    """raw.events holds every response the API holds, each once; edited responses add one version each."""
    expected = sim.expected_ids(rig.world)
    raw = rig.raw()
    assert {record for record, _ in raw} == expected
    assert len(raw) == len(set(raw)) == len(expected) + edited
    assert set(rig.responses()) == expected


def _filters(server: SimServer) -> list[str]:
    return [parse_qs(urlsplit(path).query).get("filter", [""])[0] for _, path, _ in server.log
            if "/responses" in path]


# -- quirks -------------------------------------------------------------------------------------------------


def test_given_six_forms_with_their_own_question_ids_when_pulled_then_answers_match_the_trust_survey(
        rig: Rig) -> None:
    """Grid labels, 1-5 and 0-10 scales, minutes typed as text: all read back to the survey's values."""
    with SimServer(sim.apis(rig.world)) as server:
        result = rig.pull(rig.config(server))
    events = {e["source_record_id"]: e for e in read_events(rig.settings, rig.bootstrap)}
    assert result.streams[0].rejected == 0 and len(events) == result.published == len(sim.expected_ids(rig.world))
    for source_event in sim.google_events(rig.world):
        expected = source_event.payload
        got = events[sim.record_id(expected.form_id, source_event.source_record_id)]["payload"]
        assert got["form_id"] == expected.form_id and got["likert"] == expected.likert
        assert (got["recommend"], got["minutes_saved_per_shift"]) == (expected.recommend,
                                                                       expected.minutes_saved_per_shift)
        assert got["comment"] == scrub(expected.comment)
        assert got["person"] == expected.person.model_dump()
    forms = {e["payload"]["form_id"] for e in events.values()}
    assert forms == {e.payload.form_id for e in sim.google_events(rig.world)} and len(forms) >= 4


def test_given_questions_reordered_by_the_survey_team_when_pulled_then_answers_map_the_same(rig: Rig) -> None:
    api = sim.GoogleFormsApi(rig.world)
    with SimServer([api]) as server:
        rig.pull(rig.config(server), name="before")
        for code in ("epr-pulse", "epr-readiness", "epma-pulse"):
            api.reorder(code)
        rig.pull(rig.config(server), name="after")
    events = read_events(rig.settings, rig.bootstrap)
    before = {e["source_record_id"]: e["payload"] for e in events if e["source"] == "before"}
    after = {e["source_record_id"]: e["payload"] for e in events if e["source"] == "after"}
    assert before and before == after


def test_given_required_question_reworded_in_the_form_when_pulled_then_error_names_title_and_setting(
        rig: Rig) -> None:
    api = sim.GoogleFormsApi(rig.world)
    api.retitle("epr-pulse", "confidence", "I am confident with the new system")
    with SimServer([api]) as server:
        forms = [{"id": sim.form_id("epr-readiness"), "code": "epr-readiness", "require": [CONFIDENCE]},
                 {"id": sim.form_id("epr-pulse"), "code": "epr-pulse", "require": [CONFIDENCE]}]
        with pytest.raises(SourceError, match=r"form .* \(EPR post go-live pulse survey\) has no question "
                                              r"'I feel confident .*'; fix the title in "
                                              r"sources\.googleforms\.options\.forms\[1\]\.require"):
            rig.pull(rig.config(server, options={"forms": forms}))


def test_given_response_edited_after_a_pull_when_pulled_again_then_a_new_version_replaces_it(rig: Rig) -> None:
    api = sim.GoogleFormsApi(rig.world)
    target = sim.google_events(rig.world)[0]
    with SimServer([api]) as server:
        config = rig.config(server)
        rig.pull(config)
        api.edit(target.source_record_id, likert={"confidence": 1})
        second = rig.pull(config)
    assert second.published >= 1
    assert rig.ingest().quarantined == 0
    _assert_exactly_the_source(rig, edited=1)
    record = sim.record_id(target.payload.form_id, target.source_record_id)
    versions = sorted(v for r, v in rig.raw() if r == record)
    assert len(versions) == 2 and versions[1] > versions[0]
    assert rig.responses()[record]["likert"]["confidence"] == 1


def test_given_stored_cursor_when_pulled_again_then_filter_is_timestamp_at_or_after_it_and_nothing_new(
        rig: Rig) -> None:
    """`timestamp >= N` re-reads responses submitted at the cursor; their events have the same ids."""
    with SimServer(sim.apis(rig.world)) as server:
        config = rig.config(server)
        first = rig.pull(config)
        cursors = rig.puller.store.get("googleforms", "responses")["forms"]
        server.log.clear()
        second = rig.pull(config)
    assert set(_filters(server)) - {""} == {f"timestamp >= {c}" for c in cursors.values()}  # "": no responses yet
    assert all(c.endswith("Z") and len(c) == len("2026-11-03T09:14:05.000000Z") for c in cursors.values())
    events = read_events(rig.settings, rig.bootstrap)
    assert second.published >= len(cursors)  # each form's newest response is read again
    assert len(events) == first.published + second.published
    assert len({e["event_id"] for e in events}) == first.published


def test_given_since_date_when_pulled_then_filter_starts_there_and_stored_cursor_stays(rig: Rig) -> None:
    since = rig.world.clock - timedelta(days=20)
    with SimServer(sim.apis(rig.world)) as server:
        config = rig.config(server)
        rig.pull(config)
        stored = rig.puller.store.get("googleforms", "responses")
        server.log.clear()
        replay = rig.pull(config, since=since)
    assert set(_filters(server)) == {f"timestamp >= {since.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"}
    in_window = [e for e in sim.google_events(rig.world) if e.occurred_at >= since]
    assert replay.published == len(in_window) > 0
    assert rig.puller.store.get("googleforms", "responses")["cursor"] == stored["cursor"]


def test_given_access_token_revoked_mid_pull_when_next_page_requested_then_token_is_renewed(rig: Rig) -> None:
    api = sim.GoogleFormsApi(rig.world)
    revoked: list[int] = []

    def revoke(form: str, page: int) -> None:
        if not revoked:
            revoked.append(page)
            api.expire_tokens()

    api.after_page = revoke
    with SimServer([api]) as server:
        result = rig.pull(rig.config(server))
        statuses = [status for _, _, status in server.log]
    assert revoked and 401 in statuses and statuses.count(401) == 1
    assert sum(1 for _, path, _ in server.log if path.endswith("/token")) == 2
    assert result.published == len(sim.expected_ids(rig.world))


def test_given_another_service_accounts_key_or_unknown_form_when_pulled_then_one_line_error_says_what_to_fix(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with SimServer(sim.apis(rig.world)) as server:
        config = rig.config(server)
        monkeypatch.setenv(sim.KEY_ENV, json.dumps({**json.loads(sim.service_account_key()), "private_key": other}))
        with pytest.raises(SourceError, match=r"the token endpoint token refused the service account \(Invalid JWT "
                                              rf"Signature.\); check the key in {sim.KEY_ENV}") as bad_key:
            rig.pull(config)
        monkeypatch.setenv(sim.KEY_ENV, sim.service_account_key())
        with pytest.raises(SourceError, match="the form was not found \\(Requested entity was not found.\\); "
                                              "check the form id in sources.googleforms.options.forms"):
            rig.pull(rig.config(server, options={"forms": [{"id": "1NoSuchForm"}]}))
    assert "\n" not in str(bad_key.value)


def test_given_a_key_file_path_in_the_variable_when_pulled_then_the_file_is_read(
        rig: Rig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key_file = tmp_path / "realise-forms-reader.json"
    key_file.write_text(sim.service_account_key())
    monkeypatch.setenv(sim.KEY_ENV, str(key_file))
    with SimServer(sim.apis(rig.world)) as server:
        assert rig.pull(rig.config(server)).published == len(sim.expected_ids(rig.world))
    monkeypatch.setenv(sim.KEY_ENV, str(tmp_path / "missing.json"))
    with SimServer(sim.apis(rig.world)) as server, \
            pytest.raises(SourceError, match=rf"cannot read the key file .*missing.json named by {sim.KEY_ENV}"):
        rig.pull(rig.config(server))


# -- faults: each ends with the warehouse holding exactly the source's responses ----------------------------


def test_given_429_storm_when_pulled_then_retries_honour_retry_after_and_nothing_is_lost(rig: Rig) -> None:
    with SimServer(sim.apis(rig.world)) as server:
        server.add_fault(sim.PREFIX, Fault(status=429, retry_after="0.01", times=10,
                                           when=lambda r: "/responses" in r.path))
        result = rig.pull(rig.config(server, max_retries=12))
    assert result.retries >= 10
    assert rig.ingest().quarantined == 0
    _assert_exactly_the_source(rig)


def test_given_500s_and_503s_when_pulled_then_retried_and_nothing_is_lost(rig: Rig) -> None:
    with SimServer(sim.apis(rig.world)) as server:
        server.add_fault(sim.PREFIX, Fault(status=500, times=3))
        server.add_fault(sim.PREFIX, Fault(status=503, times=3, when=lambda r: "pageToken" in r.query))
        result = rig.pull(rig.config(server))
    assert result.retries >= 6
    assert rig.ingest().quarantined == 0
    _assert_exactly_the_source(rig)


def test_given_connection_dropped_mid_page_when_pulled_then_page_is_fetched_again_and_nothing_is_lost(
        rig: Rig) -> None:
    with SimServer(sim.apis(rig.world)) as server:
        server.add_fault(sim.PREFIX, Fault(drop_after=300, times=3, when=lambda r: "pageToken" in r.query))
        result = rig.pull(rig.config(server))
    assert result.retries >= 3
    assert rig.ingest().quarantined == 0
    _assert_exactly_the_source(rig)


def test_given_page_token_expired_mid_listing_when_pulled_then_form_is_listed_again_and_stored_once(
        rig: Rig) -> None:
    api = sim.GoogleFormsApi(rig.world)
    expired: list[str] = []

    def expire(form: str, page: int) -> None:
        if page == 2 and form not in expired:
            expired.append(form)
            api.expire_page_tokens()

    api.after_page = expire
    with SimServer([api]) as server:
        result = rig.pull(rig.config(server))
        refused = [status for _, path, status in server.log if "pageToken" in path and status == 400]
    assert len(refused) == len(expired) > 0
    assert result.published > len(sim.expected_ids(rig.world))  # pages before the refusal were read twice
    summary = rig.ingest()
    assert summary.quarantined == 0 and summary.duplicates > 0
    _assert_exactly_the_source(rig)


def test_given_responses_edited_between_pages_when_pulled_twice_then_every_version_is_stored_once(
        rig: Rig) -> None:
    """One edit lands on a page already read, one on a page still to come: the next pull picks up the first."""
    api = sim.GoogleFormsApi(rig.world)
    form = sim.form_id("epr-pulse")
    rows = api.responses("epr-pulse")
    assert len(rows) > 10, "the test needs several pages of one form"
    ids = {sim.response_id(e.source_record_id): e.source_record_id for e in sim.google_events(rig.world)}
    read_already, still_to_come = ids[rows[0]["responseId"]], ids[rows[-1]["responseId"]]

    def edit(form_read: str, page: int) -> None:
        if form_read == form and page == 1:
            api.edit(read_already, likert={"confidence": 5})
            api.edit(still_to_come, likert={"confidence": 5})

    api.after_page = edit
    with SimServer([api]) as server:
        config = rig.config(server)
        rig.pull(config)
        api.after_page = None
        rig.pull(config)
    assert rig.ingest().quarantined == 0
    _assert_exactly_the_source(rig, edited=1)  # the later page only ever showed the edited version
    latest = rig.responses()
    for record in (read_already, still_to_come):
        assert latest[sim.record_id("epr-pulse", record)]["likert"]["confidence"] == 5
