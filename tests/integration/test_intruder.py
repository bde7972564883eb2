"""An intruder in the test suite: everything `realise_analyst` can read, audited for groups under k.

Each trust is generated here, small enough to stress suppression: many units of 3-8 people, staff who
respond but are missing from the staff directory (some in a unit outside the org hierarchy), a unit with
no go-live wave, and a wave going live on a Monday (so calendar weeks and weeks since go-live coincide).
Events go through the real writer (plan_batch + WarehouseWriter); between refreshes, late events (dated in
past weeks) and edited responses (new versions with other answers) are loaded, and the refreshes mix full
and incremental. The audit (warehouse/metrics/audit.py) then reads the analytics schema as realise_analyst,
with the go-live dates as public knowledge, and every finding fails the test.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bench.refresh import generated, load_records, records
from bench.refresh import set_go_live_dates as set_generated_go_live_dates
from foundation.config import Settings
from foundation.database import create_engine
from foundation.privacy import DEMO_KEY, pseudonymise
from schemas.events import Kind, make_event
from synthetic import STAFF_GROUPS, SYSTEMS, OrgUnit, StaffMember, Trust, Wave, generate_events, generate_trust
from warehouse.directory import DirectoryEntry, load_directory, set_go_live_dates
from warehouse.metrics.audit import AuditResult, audit_connection
from warehouse.metrics.engine import refresh
from warehouse.metrics.service import metric_params

pytestmark = pytest.mark.integration

GROUP = "test-intruder"


@dataclass(frozen=True)
class Shape:
    name: str
    seed: int
    units: int  # leaf units of 3-8 people
    missing: float  # share of staff missing from the directory
    waves: dict[str, int | None]  # wave -> days from the Monday four weeks back (None: no date)


SHAPES = [
    Shape("small-units", 3, units=12, missing=0.1, waves={"wave-1": 0, "wave-2": 17, "wave-3": None}),
    Shape("monday", 5, units=8, missing=0.05, waves={"wave-1": 0, "wave-2": 14}),
]


def build_trust(shape: Shape, now: datetime) -> Trust:
    """Two divisions of directorates of wards, a unit with no wave, and agency staff in a unit outside
    the hierarchy; the first wave goes live on a Monday."""
    rng = random.Random(shape.seed)
    monday = (now - timedelta(days=now.weekday() + 28)).date()
    offsets = {w: (monday - now.date()).days + d for w, d in shape.waves.items() if d is not None}
    units: dict[str, OrgUnit] = {"T": OrgUnit("T", "Trust", "trust", None)}
    leaves: list[OrgUnit] = []
    waves = list(offsets)
    for d in range(2):
        division = f"T-D{d}"
        units[division] = OrgUnit(division, division, "division", "T")
        for r in range(2):
            directorate = f"{division}-R{r}"
            units[directorate] = OrgUnit(directorate, directorate, "directorate", division)
    directorates = [c for c, u in units.items() if u.level == "directorate"]
    for i in range(shape.units):
        wave = None if i == 0 else waves[i % len(waves)]
        code = f"{directorates[i % len(directorates)]}-W{i}"
        leaves.append(OrgUnit(code, code, "unit", directorates[i % len(directorates)], "ward", wave, 1.0))
    units.update({u.code: u for u in leaves})
    trust = Trust("T", "Trust", units, {w: Wave(w, o) for w, o in offsets.items()}, [], shape.seed)
    index = 0

    def person(unit: str, path: tuple[str, ...], wave: str | None) -> StaffMember:
        nonlocal index
        index += 1
        identifier = f"intruder{shape.seed}-{index:04d}@example.nhs.uk"
        return StaffMember(identifier, pseudonymise(identifier, DEMO_KEY), unit, path,
                           rng.choice(STAFF_GROUPS[:4]), "5", rng.choice(SYSTEMS[:2]), wave)

    for leaf in leaves:
        path = trust.path(leaf.code)
        trust.staff.extend(person(leaf.code, path, leaf.wave) for _ in range(rng.randint(3, 8)))
    trust.staff.extend(person("T-AGENCY", (), waves[0]) for _ in range(2))  # no unit in the hierarchy
    return trust


def directory(trust: Trust, shape: Shape) -> list[DirectoryEntry]:
    rng = random.Random(shape.seed + 1)
    return [DirectoryEntry(s.pseudonym, s.org_unit, s.org_path, s.staff_group, s.band, s.system, s.go_live_wave)
            for s in trust.staff if s.org_unit != "T-AGENCY" and rng.random() >= shape.missing]


def edited(events: list[Any], rng: random.Random, share: float) -> list[Any]:
    """New versions of some form responses, a minute later, with other answers."""
    out = []
    for e in events:
        if e.kind != Kind.FORM_RESPONSE or rng.random() >= share:
            continue
        payload = e.payload.model_copy(update={
            "likert": {k: 6 - v for k, v in e.payload.likert.items()},
            "recommend": None if e.payload.recommend is None else 10 - e.payload.recommend})
        out.append(make_event(Kind.FORM_RESPONSE, source=e.source, source_record_id=e.source_record_id,
                              record_version=f"{e.record_version}-edit",
                              occurred_at=e.occurred_at + timedelta(minutes=1), payload=payload,
                              ingested_at=e.ingested_at))
    return out


@dataclass
class Audited:
    shape: Shape
    result: AuditResult
    refreshes: list[str]


def _admin(pg_server: Any, statement: str) -> None:
    admin = create_engine(pg_server.admin_url("postgres"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(statement))
    admin.dispose()


@contextmanager
def _warehouse(pg_server: Any, template: str) -> Iterator[tuple[Engine, Settings]]:
    """A migrated warehouse of its own, dropped afterwards."""
    name = f"intruder_{uuid.uuid4().hex[:10]}"
    _admin(pg_server, f"create database {name} template {template}")
    engine = create_engine(pg_server.admin_url(name))
    try:
        yield engine, Settings.model_validate({"warehouse": {"url": pg_server.admin_url(name)},
                                               "prefect": {"emit_events": False}})
    finally:
        engine.dispose()
        _admin(pg_server, f"drop database if exists {name} with (force)")


def _audit(engine: Engine, dates: dict[str, date]) -> AuditResult:
    """Everything realise_analyst reads, audited with the go-live dates as public knowledge."""
    with engine.connect() as conn:
        conn.execute(sa.text("set role realise_analyst"))
        result = audit_connection(conn, go_live_dates=dates)
        conn.rollback()
    return result


def run_trust(pg_server: Any, template: str, gate: Any, shape: Shape) -> Audited:
    """Load, refresh (full, incremental after late data, incremental after edits, full after more late
    data), then audit as realise_analyst."""
    with _warehouse(pg_server, template) as (engine, settings):
        params = metric_params(settings)
        now = datetime.now(UTC).replace(microsecond=0)
        trust = build_trust(shape, now)
        rng = random.Random(shape.seed)
        load_directory(engine, directory(trust, shape))
        dates = {w: trust.go_live(w, now).date() for w in trust.waves}
        set_go_live_dates(engine, dates)
        counts = {"forms": 6 * len(trust.staff), "tickets": 2 * len(trust.staff), "training": 3 * len(trust.staff),
                  "skills": len(trust.staff)}
        first = generate_events(trust, now=now, seed=shape.seed, **counts)
        cut = now - timedelta(days=10)

        def load(events: list[Any], prefix: str = "") -> None:
            totals = load_records(engine, settings, gate, [list(records(events, prefix))], group=GROUP)
            assert totals["quarantined"] == 0, totals

        load([e for e in first if e.occurred_at < cut])
        modes = [refresh(engine, full=True, params=params).mode]
        load([e for e in first if e.occurred_at >= cut])  # the last ten days, and late answers of earlier weeks
        late = generate_events(trust, now=now, seed=shape.seed + 100, forms=len(trust.staff), tickets=0,
                               training=len(trust.staff), skills=0)
        load([e for e in late if e.occurred_at < cut][: len(trust.staff)], prefix="late1-")
        modes.append(refresh(engine, full=False, params=params).mode)
        load(edited(first, rng, 0.05))
        modes.append(refresh(engine, full=False, params=params).mode)
        load([e for e in late if e.occurred_at < cut][len(trust.staff):], prefix="late2-")
        modes.append(refresh(engine, full=True, params=params).mode)
        return Audited(shape, _audit(engine, dates), modes)


@pytest.fixture(scope="module")
def audited(pg_server: Any, migrated_template: str, gate: Any) -> Iterator[list[Audited]]:
    yield [run_trust(pg_server, migrated_template, gate, shape) for shape in SHAPES]


def test_the_intruder_recovers_no_group_under_k_on_generated_trusts(audited: list[Audited]) -> None:
    report = []
    for a in audited:
        assert a.refreshes == ["full", "incremental", "incremental", "full"]
        assert a.result.rows > 1000, "the trust published too little to audit"
        counts = {k: v for k, v in a.result.counts().items() if v}
        if a.result.findings:
            report.append(f"{a.shape.name}: {counts}; e.g. " + "; ".join(str(f) for f in a.result.findings[:3]))
    assert not report, "\n".join(report)


def run_generated_trust(pg_server: Any, template: str, gate: Any, staff: int, events: int, seed: int) -> AuditResult:
    """The trust the demo and the benches generate (three divisions, waves, wards of every size), as the
    confidentiality bench runs it at a smaller size: a full refresh, 1% late events of the past four weeks,
    an incremental refresh."""
    with _warehouse(pg_server, template) as (engine, settings):
        params = metric_params(settings)
        now = datetime.now(UTC).replace(microsecond=0)
        trust = generate_trust(staff, seed=seed)
        load_records(engine, settings, gate, generated(trust, now, events, seed=seed, prefix="b"), group=GROUP)
        dates = {w: date.fromisoformat(d) for w, d in set_generated_go_live_dates(engine, trust, now).items()}
        refresh(engine, full=True, params=params)
        load_records(engine, settings, gate, generated(trust, now, max(1, events // 100), seed=seed + 7919,
                                                       prefix="late", since=now - timedelta(weeks=4)), group=GROUP)
        assert refresh(engine, full=False, params=params).mode == "incremental"
        return _audit(engine, dates)


def test_the_intruder_recovers_no_group_under_k_on_the_demo_trust_after_late_data(
        pg_server: Any, migrated_template: str, gate: Any) -> None:
    # 600 staff and 3,000 events: units that count no one hidden beside small ones, and late answers that hold
    # revisions in both grains, where only a combination of equations across grains pins a cell down.
    result = run_generated_trust(pg_server, migrated_template, gate, staff=600, events=3000, seed=11)
    assert result.rows > 10_000
    assert not result.findings, f"{result.counts()}; e.g. " + "; ".join(str(f) for f in result.findings[:3])
