"""Qualtrics responses deleted after they were read are retracted, found by a periodic full export.

A deleted response is missing from every later export and nothing announces the deletion, so the connector
compares the response IDs it has read with a full export every `deletion_check_hours`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from schemas.events import Kind
from simulator import qualtrics as sim
from simulator.server import SimServer
from tests.integration import helpdesk
from tests.integration.helpdesk import Rig

rig = helpdesk.rig
SOURCE = "qualtrics"
_credentials = helpdesk.credentials(sim.ENV)


def _entry(server: SimServer, **options: Any) -> dict[str, Any]:
    entry = sim.source_config(f"http://127.0.0.1:{server.port}", Path("."))
    return {**entry, "options": {"poll_seconds": 0.01, **options}}


def _shown(rig: Rig) -> set[str]:
    with rig.engine.connect() as conn:
        return set(conn.execute(sa.text("select distinct response_id from research.skills_assessments "
                                        "where source = :s"), {"s": SOURCE}).scalars())


def _retracted(rig: Rig) -> list[tuple[str, str, str]]:
    with rig.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(  # type: ignore[misc]
            "select source_record_id, retracted_kind, reason from analytics.retractions where source = :s"),
            {"s": SOURCE})]


def test_given_response_deleted_in_qualtrics_when_deletion_check_runs_then_it_is_retracted_once(rig: Rig) -> None:
    api = sim.QualtricsApi(rig.world)
    every = {sim.response_id(e.source_record_id) for e in rig.world.latest(Kind.SKILLS_ASSESSMENT)}
    gone = sorted(every)[:2]
    with SimServer([api]) as server:
        config = rig.config(_entry(server, deletion_check_hours=0))
        rig.pull(SOURCE, config)
        rig.ingest()
        assert _shown(rig) == every
        exports = len(api.started)

        for rid in gone:
            api.delete(rid)
        second = rig.pull(SOURCE, config)
        assert len(api.started) == exports + 2  # the continued export, then the full one that checks
        assert api.started[-1] == {"format": "json", "useLabels": False}
        assert second.published == len(gone)
        assert rig.ingest().quarantined == 0
        assert _shown(rig) == every - set(gone)
        assert sorted(_retracted(rig)) == [(rid, "skills_assessment", "deleted") for rid in gone]

        third = rig.pull(SOURCE, config)  # checked again: nothing more to retract
        assert third.published == 0
        rig.ingest()
    assert sorted(_retracted(rig)) == [(rid, "skills_assessment", "deleted") for rid in gone]
    assert len(rig.raw_versions(SOURCE)) == len(every) + len(gone)


def test_given_default_check_interval_when_pulled_again_soon_then_no_full_export_runs(rig: Rig) -> None:
    api = sim.QualtricsApi(rig.world)
    with SimServer([api]) as server:
        config = rig.config(_entry(server))
        rig.pull(SOURCE, config)
        api.delete(sorted(sim.response_id(e.source_record_id)
                          for e in rig.world.latest(Kind.SKILLS_ASSESSMENT))[0])
        again = rig.pull(SOURCE, config)
    assert len(api.started) == 2 and "continuationToken" in api.started[1]
    assert again.published == 0  # found by the next check, 24 hours after the first export


def test_given_checks_turned_off_when_pulled_then_deleted_responses_stay(rig: Rig) -> None:
    api = sim.QualtricsApi(rig.world)
    with SimServer([api]) as server:
        config = rig.config(_entry(server, deletion_check_hours=None))
        rig.pull(SOURCE, config)
        api.delete(sorted(sim.response_id(e.source_record_id)
                          for e in rig.world.latest(Kind.SKILLS_ASSESSMENT))[0])
        again = rig.pull(SOURCE, config)
    assert len(api.started) == 2 and again.published == 0
