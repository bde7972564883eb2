"""Identifiers other than the e-mail address link to staff through the directory's alias columns.

A Jira portal customer whose profile hides the e-mail address is known by `accountId`, and an xAPI `account`
actor by `account.name` (here an ESR staff number). When the directory export carries them in columns named
under `alias_columns`, both land under the same pseudonymised person as the member's e-mail address, with the
directory's unit and staff group. The Jira and xAPI answers are the recorded ones (tests/contract/recorded/).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.core.identity import StaffResolver
from connectors.core.pull import Puller
from foundation.database import create_engine
from foundation.privacy import DEMO_KEY
from foundation.source_config import SourceConfig
from tests.contract.recorded import load
from tests.contract.test_recorded import _pull

EMAIL = "staff000601@example.nhs.uk"
JIRA_ACCOUNT = "qm:5f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f:6a1b2c3d4e5f6a7b8c9d0e1f"  # ITSD-1043's reporter
LRS_ACCOUNT = "10034567"  # statement 7ccd3322-...'s account.name
UNIT = "RXX-MED-AEM-W7B"


def _directory(folder: Path) -> Path:
    path = folder / "esr_staff.csv"
    columns = ["Employee Number", "Assignment Number", "Full Name", "Email Address", "Username", "Organisation",
               "Org Unit Code", "Org Hierarchy", "Staff Group", "Pay Band", "Go-Live Wave", "Primary System",
               "Assignment Status", "Jira Account Id", "LRS Account"]
    row = ["90000601", "90000601-1", "Staff Member 000601", EMAIL, "staff000601", "Ward 7B Acute Medicine", UNIT,
           f"RXX > RXX-MED > RXX-MED-AEM > {UNIT}", "Nursing and Midwifery", "Band 5", "wave-1", "EPR",
           "Active Assignment", f"  {JIRA_ACCOUNT} ", LRS_ACCOUNT]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerow(row)
    return path


def test_given_directory_alias_columns_when_jira_and_xapi_name_people_by_account_then_they_join_the_email_person(
        warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine(warehouse_url)
    try:
        Puller(engine, None, key=DEMO_KEY).pull("directory", SourceConfig.model_validate({
            "type": "esr_csv", "path": str(_directory(tmp_path)),
            "options": {"alias_columns": ["Employee Number", "Username", "Jira Account Id", "LRS Account"]}}))
        with engine.connect() as conn:
            assert conn.execute(sa.text("select count(*) from core.staff_alias")).scalar_one() >= 4
        resolver = StaffResolver.from_warehouse(engine, DEMO_KEY)
        person = resolver.pseudonym(EMAIL)

        jira_events, _, _, _ = _pull(load("jira"), monkeypatch, resolver)
        xapi_events, _, _, _ = _pull(load("xapi"), monkeypatch, resolver)
    finally:
        engine.dispose()

    customer = next(e for e in jira_events if e["source_record_id"] == "ITSD-1043")
    learner = next(e for e in xapi_events if e["source_record_id"] == "7ccd3322-e1a5-411a-a67d-6a735c76f119")
    for event in (customer, learner):
        assert event["payload"]["person"]["pseudonym"] == person
        assert event["payload"]["person"]["org_unit"] == UNIT
        assert event["payload"]["person"]["staff_group"] == "Nursing and Midwifery"
    # People not in the directory stay unmatched, under their own pseudonyms.
    other = next(e for e in jira_events if e["source_record_id"] == "ITSD-1042")
    assert other["payload"]["person"]["pseudonym"] != person
    assert other["payload"]["person"]["org_unit"] == "UNMATCHED"
