"""`realise bench scrub`: the labelled corpus is big enough and varied, the scoring counts what it says, and the
command prints recall and precision.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench.scrub import CORPUS, Entry, _replace, evaluate, leaks, load_corpus

REALISE = str(Path(sys.executable).with_name("realise"))
PRESIDIO_INSTALLED = importlib.util.find_spec("presidio_analyzer") is not None


@pytest.fixture(scope="module")
def corpus() -> list[Entry]:
    return load_corpus()


def run_realise(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REALISE_", "PREFECT_"))}
    return subprocess.run([REALISE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


# --------------------------------------------------------------------------------------------------- corpus

def test_given_the_corpus_when_counted_then_at_least_200_identifiers_and_200_look_alikes(corpus: list[Entry]) -> None:
    labels = Counter(e.label for e in corpus)

    assert labels["identifier"] >= 200 and labels["lookalike"] >= 200


def test_given_the_corpus_when_read_then_every_type_and_the_forms_the_issue_names_are_planted(
        corpus: list[Entry]) -> None:
    forms = {(e.type, e.form) for e in corpus if e.label == "identifier"}

    assert {t for t, _ in forms} == {"NHS_NUMBER", "PHONE", "EMAIL", "POSTCODE"}
    for wanted in [("NHS_NUMBER", "dotted"), ("NHS_NUMBER", "double-spaced"), ("NHS_NUMBER", "typo-grouped"),
                   ("PHONE", "dotted"), ("PHONE", "zero-width"), ("EMAIL", "zero-width-domain")]:
        assert wanted in forms, wanted
    examples = {e.value for e in corpus if (e.type, e.form) == ("NHS_NUMBER", "dotted")}
    assert all(v.count(".") == 2 for v in examples)


def test_given_the_corpus_when_read_then_look_alikes_cover_doses_tickets_dates_and_beds(corpus: list[Entry]) -> None:
    classes = Counter(e.type for e in corpus if e.label == "lookalike")

    assert all(classes[c] >= 10 for c in ("dose", "ticket", "date", "bed")), classes


def test_given_a_line_whose_value_is_not_in_its_sentence_when_loaded_then_refused(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text(json.dumps({"text": "Ring me", "label": "identifier", "type": "PHONE", "form": "plain",
                                "value": "07700 900468"}) + "\n")

    with pytest.raises(ValueError, match=r"corpus\.jsonl:1: value '07700 900468' is not in its sentence"):
        load_corpus(path)


# -------------------------------------------------------------------------------------------------- scoring

PHONE = Entry("Ring 07700 900468 now", "identifier", "PHONE", "plain", "07700 900468")
EMAIL = Entry("Write to jane.doe@nhs.net now", "identifier", "EMAIL", "plain", "jane.doe@nhs.net")
DOSE = Entry("Give 500 mg now", "lookalike", "dose", "", "500 mg")
BED = Entry("Patient in Bed 12 now", "lookalike", "bed", "", "Bed 12")


def test_given_a_scrubber_that_changes_nothing_when_evaluated_then_recall_zero_and_no_false_positive() -> None:
    figures = evaluate(lambda text: text, [PHONE, EMAIL, DOSE, BED])

    assert figures["overall"]["recall"] == 0.0
    assert figures["overall"]["false_positives"] == 0
    assert figures["overall"]["precision"] is None


def test_given_a_scrubber_that_blanks_everything_when_evaluated_then_recall_one_and_every_look_alike_counted() -> None:
    figures = evaluate(lambda text: "[PHONE]", [PHONE, EMAIL, DOSE, BED])

    assert figures["overall"]["recall"] == 1.0
    assert figures["overall"]["false_positives"] == 2
    assert figures["overall"]["precision"] == 0.5
    assert figures["types"]["PHONE"]["false_positives"] == 2  # the placeholder that appeared is charged
    assert figures["lookalike_classes"] == {"dose": {"altered": 1, "total": 1}, "bed": {"altered": 1, "total": 1}}


def test_given_a_scrubber_that_hides_digits_behind_zero_width_spaces_when_evaluated_then_not_caught() -> None:
    figures = evaluate(lambda text: text.replace("900", "9\u200b00"), [PHONE])

    assert figures["overall"]["caught"] == 0
    assert figures["missed"][0]["value"] == "07700 900468"


def test_given_half_an_email_removed_when_leak_checked_then_the_remaining_name_is_a_leak() -> None:
    assert leaks(EMAIL, "Write to jane.[EMAIL] now")
    assert not leaks(EMAIL, "Write to [EMAIL] now")


def test_given_overlapping_spans_when_replaced_then_the_first_and_longest_wins() -> None:
    assert _replace("call 07700 900468", [(5, 17, "[PHONE]"), (11, 17, "[NHS_NUMBER]")]) == "call [PHONE]"


def test_given_the_corpus_when_realise_scrubs_it_then_recall_and_precision_stay_above_their_floors(
        corpus: list[Entry]) -> None:
    # Measured 0.962 and 0.983 when the corpus was written; the floors catch a pattern that stops working.
    from bench.scrub import realise_scrubber

    overall = evaluate(realise_scrubber(), corpus)["overall"]

    assert overall["recall"] >= 0.95
    assert overall["precision"] >= 0.97


# -------------------------------------------------------------------------------------------------- command

def test_given_realise_bench_scrub_when_run_then_prints_recall_and_precision_per_type_and_overall(
        tmp_path: Path) -> None:
    result = run_realise("bench", "scrub", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    for word in ("recall", "precision", "NHS_NUMBER", "PHONE", "EMAIL", "POSTCODE", "overall", "µs per sentence"):
        assert word in result.stdout, word
    if not PRESIDIO_INSTALLED:
        assert "presidio not installed" in result.stdout


def test_given_realise_bench_scrub_json_when_run_then_figures_match_the_corpus(tmp_path: Path) -> None:
    result = run_realise("bench", "scrub", "--json", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    labels = Counter(json.loads(line)["label"] for line in CORPUS.read_text().splitlines() if line.strip())
    assert figures["corpus"]["identifiers"] == labels["identifier"]
    assert figures["realise"]["overall"]["planted"] == labels["identifier"]
    assert figures["realise"]["overall"]["lookalikes"] == labels["lookalike"]
    assert 0 < figures["realise"]["overall"]["recall"] <= 1
    assert (figures["presidio"] is None) == (not PRESIDIO_INSTALLED)


def test_given_a_corpus_path_that_does_not_exist_when_benched_then_one_line_error_naming_the_option(
        tmp_path: Path) -> None:
    result = run_realise("bench", "scrub", "--corpus", str(tmp_path / "missing.jsonl"), cwd=tmp_path)

    assert result.returncode == 2
    assert "--corpus" in result.stderr and "Traceback" not in result.stderr
