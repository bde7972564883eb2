"""The ESR-like staff directory export: loads core.staff_directory and the identifier aliases."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.core.identity import StaffResolver
from connectors.core.pull import Puller
from foundation.database import create_engine
from foundation.errors import SourceError
from foundation.source_config import SourceConfig
from tests.contract.harness import KEY, small_world, write_directory


def test_given_esr_export_when_pulled_then_directory_and_aliases_resolve_to_one_pseudonym(
        warehouse_url: str, tmp_path: Path) -> None:
    world = small_world()
    engine = create_engine(warehouse_url)
    result = Puller(engine, None, key=KEY).pull("directory", SourceConfig(type="esr_csv",
                                                                          path=str(write_directory(world, tmp_path))))
    assert result.streams[0].published == len(world.trust.staff)
    resolver = StaffResolver.from_warehouse(engine, KEY)
    someone = world.trust.staff[3]
    ident = world.identity(someone.pseudonym)
    assert resolver.pseudonym(ident.email) == someone.pseudonym
    assert resolver.pseudonym(f"mailto:{ident.email.upper()}") == someone.pseudonym
    assert resolver.pseudonym(ident.username) == someone.pseudonym
    assert resolver.pseudonym(ident.employee_number) == someone.pseudonym
    facts = resolver.facts(someone.pseudonym)
    assert facts is not None and facts.org_unit == someone.org_unit and facts.org_path == someone.org_path
    with engine.connect() as conn:
        dumped = " ".join(str(r) for r in conn.execute(sa.text("select * from core.staff_directory")).all())
        dumped += " ".join(str(r) for r in conn.execute(sa.text("select * from core.staff_alias")).all())
    assert ident.email not in dumped and ident.username not in dumped
    engine.dispose()


def test_given_export_with_bad_rows_when_pulled_then_they_are_quarantined_without_identifiers(
        warehouse_url: str, tmp_path: Path) -> None:
    world = small_world()
    path = write_directory(world, tmp_path)
    rows = list(csv.DictReader(path.open()))
    rows[0]["Email Address"] = "not-an-address"
    rows[1]["Org Unit Code"] = ""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    engine = create_engine(warehouse_url)
    result = Puller(engine, None, key=KEY).pull("directory", SourceConfig(type="esr_csv", path=str(path)))
    assert result.streams[0].rejected == 2 and result.streams[0].published == len(rows) - 2
    with engine.connect() as conn:
        reasons = conn.execute(sa.text("select reasons[1], convert_from(raw, 'utf8') from ops.quarantine "
                                       "where stage = 'connector' order by id")).all()
    assert "is not an e-mail address" in reasons[0][0] and "are required" in reasons[1][0]
    assert rows[1]["Email Address"] not in reasons[1][1]
    engine.dispose()


def test_given_export_missing_a_mapped_column_when_pulled_then_error_names_the_setting(
        warehouse_url: str, tmp_path: Path) -> None:
    path = tmp_path / "esr.csv"
    path.write_text("Employee Number,Email Address,Staff Group\n1,a@example.nhs.uk,Nursing\n")
    engine = create_engine(warehouse_url)
    with pytest.raises(SourceError, match="no column 'Org Unit Code'.*sources.directory.options"):
        Puller(engine, None, key=KEY).pull("directory", SourceConfig(type="esr_csv", path=str(path)))
    with pytest.raises(SourceError, match="does not exist"):
        Puller(engine, None, key=KEY).pull("directory", SourceConfig(type="esr_csv", path=str(tmp_path / "x.csv")))
    engine.dispose()
