"""Zendesk incremental export quirks against the simulated account over real HTTP, through broker and warehouse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from foundation.errors import SourceError
from simulator import zendesk as sim
from simulator.server import SimServer
from simulator.servicenow import current_tickets
from tests.integration import helpdesk
from tests.integration.helpdesk import Rig

rig = helpdesk.rig


_credentials = helpdesk.credentials(sim.ENV)


_entry = partial(helpdesk.entry, sim)


def _exports(server: SimServer) -> list[tuple[dict[str, list[str]], int]]:
    return [(parse_qs(urlsplit(path).query), status) for method, path, status in server.log
            if "/incremental/tickets/cursor" in path]


def _current(rig: Rig) -> dict[str, Any]:
    tickets = current_tickets(rig.world, "zendesk")
    return {str(sim.ticket_id(t.event.source_record_id)): t.event.payload for t in tickets}


def _assert_loaded_as_source(rig: Rig) -> None:
    loaded, current = rig.tickets("zendesk"), _current(rig)
    assert set(loaded) == set(current)
    for ticket, row in loaded.items():
        assert row["updated_at"] == current[ticket].updated_at
    versions = rig.raw_versions("zendesk")
    assert len(versions) == len(set(versions))


def test_given_an_export_walked_to_its_end_when_pulled_again_then_it_resumes_from_the_stored_after_cursor(
        rig: Rig) -> None:
    with SimServer(sim.apis(rig.world)) as server:
        config = rig.config(_entry(server), page_size=10)
        rig.pull("zendesk", config)
        stored = rig.state("zendesk", "tickets")
        rig.world.advance(timedelta(days=8))
        changed = rig.pull("zendesk", config)
        exports = _exports(server)
    first_of_second_run = exports[len(exports) - changed.streams[0].pages]
    assert "start_time" in exports[0][0] and first_of_second_run[0]["cursor"] == [stored["after_cursor"]]
    assert changed.records > 0
    rig.ingest()
    _assert_loaded_as_source(rig)


def test_given_a_stored_cursor_that_expired_when_pulled_then_it_restarts_from_the_stored_updated_at(
        rig: Rig) -> None:
    api = sim.ZendeskApi(rig.world)
    with SimServer([api]) as server:
        config = rig.config(_entry(server), page_size=10)
        rig.pull("zendesk", config)
        stored = rig.state("zendesk", "tickets")
        rig.world.advance(timedelta(days=8))
        api.expire_cursors()
        changed = rig.pull("zendesk", config)
        exports = _exports(server)
    refused = [i for i, (_, status) in enumerate(exports) if status == 422]
    assert len(refused) == 1
    restart = exports[refused[0] + 1][0]
    assert restart["start_time"] == [str(int(sim_time(stored["cursor"])))]
    assert changed.records > 0
    rig.ingest()
    _assert_loaded_as_source(rig)


def sim_time(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def test_given_the_exports_rate_limit_when_pulled_then_429s_wait_for_retry_after_and_nothing_is_lost(
        rig: Rig) -> None:
    api = sim.ZendeskApi(rig.world, rate_limit=5)
    with SimServer([api]) as server:
        result = rig.pull("zendesk", rig.config(_entry(server), page_size=1))
        limited = [status for _, status in _exports(server) if status == 429]
    assert limited and result.retries >= len(limited)
    rig.ingest()
    _assert_loaded_as_source(rig)


def test_given_requesters_only_in_side_loaded_users_when_pulled_then_tickets_belong_to_directory_staff(
        rig: Rig) -> None:
    with SimServer(sim.apis(rig.world)) as server:
        result = rig.pull("zendesk", rig.config(_entry(server)))
    assert result.streams[0].unmatched_staff == 0 and result.streams[0].rejected == 0
    rig.ingest()
    loaded, current = rig.tickets("zendesk"), _current(rig)
    for ticket, row in loaded.items():
        person = current[ticket].person
        assert (row["requester_pseudonym"], row["org_unit"], row["staff_group"]) == \
            (person.pseudonym, person.org_unit, person.staff_group)


def test_given_satisfaction_scores_and_drop_down_tags_when_pulled_then_good_is_5_bad_is_1_and_labels_are_shown(
        rig: Rig) -> None:
    api = sim.ZendeskApi(rig.world)
    with SimServer([api]) as server:
        rig.pull("zendesk", rig.config(_entry(server)))
    rig.ingest()
    loaded, current, scores = rig.tickets("zendesk"), _current(rig), api.current_satisfaction()
    for ticket, row in loaded.items():
        assert row["satisfaction"] == {"good": 5, "bad": 1}.get(scores[ticket])
        assert row["category"] == current[ticket].category
    assert {r["satisfaction"] for r in loaded.values()} >= {5, None}


def _ratings_requests(server: SimServer) -> list[tuple[dict[str, list[str]], int]]:
    return [(parse_qs(urlsplit(path).query), status) for method, path, status in server.log
            if "/satisfaction_ratings" in path]


def _solved(api: sim.ZendeskApi) -> list[str]:
    rows, _ = api.table()
    return [str(r[1]) for r in rows if r[2]["status"] in ("solved", "closed")]


def test_given_a_rating_given_after_the_tickets_last_change_when_pulled_again_then_the_ticket_carries_it(
        rig: Rig) -> None:
    api = sim.ZendeskApi(rig.world)
    with SimServer([api]) as server:
        config = rig.config(_entry(server))
        rig.pull("zendesk", config)
        before = api.current_versions()
        first, second = _solved(api)[:2]
        given = {first: "bad" if api.current_satisfaction()[first] == "good" else "good",
                 second: "bad" if api.current_satisfaction()[second] == "good" else "good"}
        for ticket, score in given.items():
            api.rate(int(ticket), score, rig.world.clock + timedelta(hours=1))
        rig.world.advance(timedelta(hours=2))
        rig.pull("zendesk", config)
    rig.ingest()
    loaded = rig.tickets("zendesk")
    for ticket, score in given.items():
        assert api.current_versions()[ticket] == before[ticket], "the rating did not change the ticket"
        assert loaded[ticket]["satisfaction"] == {"good": 5, "bad": 1}[score]
        assert loaded[ticket]["updated_at"] == before[ticket]
    versions = rig.raw_versions("zendesk")
    assert len(versions) == len(set(versions))


def test_given_ratings_read_once_when_pulled_again_then_ratings_are_asked_from_the_newest_updated_at(
        rig: Rig) -> None:
    api = sim.ZendeskApi(rig.world)
    with SimServer([api]) as server:
        config = rig.config(_entry(server), page_size=5)
        rig.pull("zendesk", config)
        stored = rig.state("zendesk", "satisfaction_ratings")
        asked = len(_ratings_requests(server))
        rig.world.advance(timedelta(days=8))
        rig.pull("zendesk", config)
        requests = _ratings_requests(server)
    newest = max(r.updated_at for r in api.ratings() if r.score in ("good", "bad")
                 and r.updated_at <= rig.world.clock - timedelta(days=8))
    assert stored["cursor"] == sim.iso(newest)
    first, again = requests[0][0], requests[asked][0]
    assert first["score"] == ["received"] and first["start_time"] == ["0"] and first["page[size]"] == ["5"]
    assert again["start_time"] == [str(int(newest.timestamp()))]
    assert all(q.get("page[after]") for q, _ in requests[1:asked])  # cursor pagination to the last page
    rig.ingest()
    loaded, scores = rig.tickets("zendesk"), api.current_satisfaction()
    assert {t: r["satisfaction"] for t, r in loaded.items()} == \
        {t: {"good": 5, "bad": 1}.get(scores[t]) for t in loaded}


def test_given_the_rate_limit_when_ratings_and_their_tickets_are_read_then_429s_wait_for_retry_after(
        rig: Rig) -> None:
    api = sim.ZendeskApi(rig.world, rate_limit=10)
    with SimServer([api]) as server:
        config = rig.config(_entry(server), page_size=3)
        rig.pull("zendesk", config)
        rig.world.advance(timedelta(days=8))
        result = rig.pull("zendesk", config)
        limited = [path for _, path, status in server.log if status == 429]
    assert any("/satisfaction_ratings" in p for p in limited) and any("/show_many" in p for p in limited)
    assert result.retries >= 1
    rig.ingest()
    loaded, scores = rig.tickets("zendesk"), api.current_satisfaction()
    assert {t: r["satisfaction"] for t, r in loaded.items()} == \
        {t: {"good": 5, "bad": 1}.get(scores[t]) for t in loaded}


def test_given_a_wrong_api_token_when_pulled_then_the_error_names_the_environment_variables(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENDESK_API_TOKEN", "wrong")
    with SimServer(sim.apis(rig.world)) as server, \
            pytest.raises(SourceError, match="HTTP 401.*ZENDESK_EMAIL, ZENDESK_API_TOKEN"):
        rig.pull("zendesk", rig.config(_entry(server)))


def test_given_a_category_field_id_tickets_lack_when_pulled_then_the_error_names_the_setting(rig: Rig) -> None:
    with SimServer(sim.apis(rig.world)) as server, \
            pytest.raises(SourceError, match=r"options\.category_field_id"):
        rig.pull("zendesk", rig.config(_entry(server, category_field_id=42)))


def test_given_a_ticket_deleted_after_it_was_loaded_when_pulled_again_then_it_is_retracted_once(rig: Rig) -> None:
    api = sim.ZendeskApi(rig.world)
    with SimServer([api]) as server:
        config = rig.config(_entry(server), page_size=10)
        rig.pull("zendesk", config)
        rig.ingest()
        doomed = sorted(rig.tickets("zendesk"))[0]
        api.delete(int(doomed), rig.world.clock - timedelta(minutes=5))
        rig.pull("zendesk", config)
        rig.pull("zendesk", config)  # nothing new: the deletion is not sent again
        summary = rig.ingest()
    assert summary.loaded.get("retraction") == 1
    assert doomed not in rig.tickets("zendesk")
    assert set(rig.tickets("zendesk")) == set(_current(rig)) - {doomed}
    with rig.engine.connect() as conn:
        retracted = conn.execute(sa.text("select source_record_id, retracted_kind, reason from analytics.retractions"
                                         )).all()
    assert [tuple(r) for r in retracted] == [(doomed, "helpdesk_ticket", "deleted")]
