"""The guide's example files: their header format, and every reference to them in the docs resolves.

The guide itself is compared with what the generator makes from a migrated warehouse in
tests/integration/test_warehouse_guide.py; here only what needs no database.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from warehouse.docs import EXAMPLES_DIR, GUIDE_FILE, INTRO, ExampleError, load_examples, parse_example

ROOT = Path(__file__).resolve().parents[2]

GOOD = """-- Which wards need floor-walkers next week?
-- For: programme teams, matrons
-- Columns: org_unit, net_score
--
-- Units with a negative score,
-- worst first.
--
-- A second paragraph.
select org_unit, value as net_score
from analytics.metric_latest;
"""


def test_an_example_header_gives_question_audience_columns_and_notes():
    example = parse_example("03_wards", GOOD)
    assert example.title == "Which wards need floor-walkers next week?"
    assert example.audience == "programme teams, matrons"
    assert example.columns == ["org_unit", "net_score"]
    assert example.notes == "Units with a negative score, worst first.\n\nA second paragraph."
    assert example.sql == "select org_unit, value as net_score\nfrom analytics.metric_latest;"


@pytest.mark.parametrize(("text", "missing"), [
    (GOOD.replace("-- Columns: org_unit, net_score\n", ""), "columns"),
    (GOOD.replace("-- For: programme teams, matrons\n", ""), "for"),
    ("select 1;\n", "the question"),
])
def test_an_example_without_its_header_is_refused_with_the_file_named(text, missing):
    with pytest.raises(ExampleError, match=rf"^03_wards\.sql: .*\(missing: {missing}"):
        parse_example("03_wards", text)


def test_an_example_with_no_sql_is_refused():
    with pytest.raises(ExampleError, match="no SQL"):
        parse_example("empty", "-- Q?\n-- For: x\n-- Columns: a\n")


def test_every_committed_example_parses_and_reads_only_analytics():
    examples = load_examples()
    assert len(examples) >= 12
    for example in examples:
        schemas = set(re.findall(r"\b(raw|core|ops|staging|analytics)\.\w+", example.sql))
        assert schemas == {"analytics"}, f"{example.name} reads {sorted(schemas)}: analysts can read analytics only"
        assert ";" not in example.sql.rstrip().rstrip(";"), f"{example.name}: one statement per file"


def test_files_the_docs_point_at_exist():
    text = INTRO + (ROOT / "README.md").read_text()
    for name in re.findall(r"docs/examples/(\w+\.sql)", text):
        assert (EXAMPLES_DIR / name).is_file(), name
    assert GUIDE_FILE.is_file()
    numbered = {n: e for n, e in enumerate(load_examples(), start=1)}
    for number in re.findall(r"\(example (\d+)\)", INTRO):
        assert "as of" in numbered[int(number)].title.lower() or "earlier" in numbered[int(number)].title.lower()
