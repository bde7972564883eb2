"""`realise bench scrub`: recall and precision of the free-text scrubber on a labelled corpus.

The corpus (`bench/scrub_corpus.jsonl`) holds one labelled thing per sentence: either a planted identifier
(type, the way it is written, its value) or an innocent look-alike (a dose, ticket, date, bed, version...).
Scored per entity:
- a planted identifier is caught when nothing identifying is left in the output: the last six digits of an
  NHS or phone number, any part of three or more characters of an e-mail's local part, the whole postcode
  (compared after NFKC with invisible characters removed, so hiding them does not count as removing them);
- a look-alike is a false positive when its sentence comes back altered in any way.
Precision = caught / (caught + false positives); per type, a false positive counts against the type whose
placeholder appeared. Microsoft Presidio's pattern recognisers (e-mail, phone via `phonenumbers`, UK NHS number,
UK postcode; used directly, no spaCy model) run on the same corpus when `presidio-analyzer` is importable:
it is optional and not a dependency of Realise. They run with Presidio's defaults; note that the phone
recogniser's libphonenumber calls Ofcom's drama numbers (07700 900xxx, 01632 960xxx, which the corpus uses so
that it names nobody) invalid for the UK, and finds many of them as numbers of its other default regions.
`python -m bench.scrub` runs the bench without the CLI (e.g. in a separate environment that has Presidio).
"""

from __future__ import annotations

import json
import os
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).with_name("scrub_corpus.jsonl")
TYPES = ("NHS_NUMBER", "PHONE", "EMAIL", "POSTCODE")
_PLACEHOLDER = re.compile(r"\[(NHS_NUMBER|PHONE|EMAIL|POSTCODE)\]")
# The figures do not depend on the machine; the timing does, so it is the mean of a few passes.
_TIMING_PASSES = 5

Scrubber = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Entry:
    text: str
    label: str  # identifier | lookalike
    type: str  # an identifier type, or the look-alike's class
    form: str  # how the identifier is written (dotted, zero-width...); empty for look-alikes
    value: str


def load_corpus(path: Path = CORPUS) -> list[Entry]:
    """The labelled corpus, checked: each value is in its sentence, and the leak test sees it there and only there."""
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        entry = Entry(**json.loads(line))
        where = f"{path}:{number}"
        if entry.value not in entry.text:
            raise ValueError(f"{where}: value {entry.value!r} is not in its sentence")
        if entry.label == "identifier":
            if entry.type not in TYPES:
                raise ValueError(f"{where}: unknown identifier type {entry.type!r}")
            if not leaks(entry, entry.text) or leaks(entry, entry.text.replace(entry.value, " ")):
                raise ValueError(f"{where}: the leak test cannot tell whether {entry.value!r} was removed")
        elif entry.label != "lookalike":
            raise ValueError(f"{where}: label must be identifier or lookalike, not {entry.label!r}")
        entries.append(entry)
    return entries


def _plain(text: str) -> str:
    """Text as a reader would see it: NFKC, without format characters (zero-width and the like), case folded."""
    return "".join(c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cf").casefold()


def leaks(entry: Entry, output: str) -> bool:
    """Whether what identifies `entry` is still readable in `output`."""
    value, shown = _plain(entry.value), _plain(output)
    if entry.type in ("NHS_NUMBER", "PHONE"):
        return re.sub(r"\D", "", value)[-6:] in re.sub(r"\D", "", shown)
    if entry.type == "EMAIL":
        local = re.split(r"\s*@|\s+at\s+", value, maxsplit=1)[0]  # also "jane dot doe at nhs dot net"
        words = set(re.findall(r"[0-9a-z]+", shown))
        return any(part in words for part in re.findall(r"[0-9a-z]+", local) if len(part) >= 3)
    return re.sub(r"[^0-9a-z]", "", value) in re.sub(r"[^0-9a-z]", "", shown)


def evaluate(scrubber: Scrubber, entries: list[Entry]) -> dict[str, Any]:
    """Recall and precision per identifier type and overall, recall per written form, alterations per look-alike."""
    planted: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    false_pos: Counter[str] = Counter()
    forms: dict[str, list[int]] = {}
    classes: dict[str, list[int]] = {}
    missed, altered = [], []
    for entry in entries:
        output = scrubber(entry.text)
        if entry.label == "identifier":
            ok = not leaks(entry, output)
            planted[entry.type] += 1
            caught[entry.type] += ok
            tally = forms.setdefault(f"{entry.type} {entry.form}", [0, 0])
            tally[0] += ok
            tally[1] += 1
            if not ok:
                missed.append({"type": entry.type, "form": entry.form, "value": entry.value, "output": output})
            continue
        changed = output != entry.text
        tally = classes.setdefault(entry.type, [0, 0])
        tally[0] += changed
        tally[1] += 1
        if changed:
            altered.append({"class": entry.type, "value": entry.value, "output": output})
            for kind in set(_PLACEHOLDER.findall(output)) - set(_PLACEHOLDER.findall(entry.text)):
                false_pos[kind] += 1
    per_type = {t: _scores(caught[t], planted[t], false_pos[t]) for t in TYPES}
    overall = _scores(sum(caught.values()), sum(planted.values()), len(altered))
    lookalikes = sum(t[1] for t in classes.values())
    return {
        "overall": overall | {"lookalikes": lookalikes, "lookalikes_altered": len(altered)},
        "types": per_type,
        "forms": {form: {"caught": c, "planted": n, "recall": round(c / n, 3)} for form, (c, n) in forms.items()},
        "lookalike_classes": {cls: {"altered": a, "total": n} for cls, (a, n) in classes.items()},
        "us_per_call": _time_per_call(scrubber, [e.text for e in entries]),
        "missed": missed,
        "false_positives": altered,
    }


def _scores(caught: int, planted: int, false_pos: int) -> dict[str, Any]:
    claimed = caught + false_pos
    return {"planted": planted, "caught": caught, "false_positives": false_pos,
            "recall": round(caught / planted, 3) if planted else None,
            "precision": round(caught / claimed, 3) if claimed else None}


def _time_per_call(scrubber: Scrubber, texts: list[str]) -> float:
    started = time.perf_counter()
    for _ in range(_TIMING_PASSES):
        for text in texts:
            scrubber(text)
    return round((time.perf_counter() - started) / (_TIMING_PASSES * len(texts)) * 1e6, 2)


def realise_scrubber() -> Scrubber:
    from foundation.privacy import scrub

    return lambda text: scrub(text) or ""


def presidio_scrubber() -> Scrubber | None:
    """Presidio's pattern recognisers as a scrubber with the same placeholders, or None if it is not installed."""
    # The e-mail recogniser's tldextract would fetch the public suffix list: use the copy it ships with.
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    try:
        from presidio_analyzer import predefined_recognizers as predefined
    except ImportError:
        return None
    postcodes = getattr(predefined, "UkPostcodeRecognizer", None)
    if postcodes is None:  # releases before 2.2.36x have no UK postcode recogniser
        from presidio_analyzer import Pattern, PatternRecognizer

        pattern = Pattern("UK postcode", r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[ABD-HJLNP-UW-Z]{2}\b", 0.1)
        postcodes = lambda: PatternRecognizer(supported_entity="UK_POSTCODE", patterns=[pattern])  # noqa: E731
    recognisers = [(predefined.EmailRecognizer(), "EMAIL_ADDRESS", "[EMAIL]"),
                   (predefined.NhsRecognizer(), "UK_NHS", "[NHS_NUMBER]"),
                   (predefined.PhoneRecognizer(), "PHONE_NUMBER", "[PHONE]"),
                   (postcodes(), "UK_POSTCODE", "[POSTCODE]")]

    def scrub(text: str) -> str:
        spans = [(r.start, r.end, placeholder) for recogniser, entity, placeholder in recognisers
                 for r in recogniser.analyze(text, [entity], None) if r.score > 0]
        return _replace(text, spans)

    return scrub


def _replace(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """`text` with each span replaced by its placeholder; of overlapping spans the one starting first wins."""
    parts, position = [], 0
    for start, end, placeholder in sorted(spans, key=lambda s: (s[0], -s[1])):
        if start < position:
            continue
        parts += [text[position:start], placeholder]
        position = end
    parts.append(text[position:])
    return "".join(parts)


def run_bench(corpus: Path = CORPUS) -> dict[str, Any]:
    """Figures for Realise's scrubber and, when installed, Presidio's pattern recognisers, on the same corpus."""
    entries = load_corpus(corpus)
    labels = Counter(e.label for e in entries)
    presidio = presidio_scrubber()
    return {
        "corpus": {"path": str(corpus), "identifiers": labels["identifier"], "lookalikes": labels["lookalike"]},
        "realise": evaluate(realise_scrubber(), entries),
        "presidio": evaluate(presidio, entries) if presidio else None,
    }


def print_figures(figures: dict[str, Any], console: Any) -> None:
    """Three tables: per identifier type, per written form, per look-alike class (Presidio beside Realise)."""
    from rich.table import Table

    ours, theirs = figures["realise"], figures["presidio"]
    corpus = figures["corpus"]
    console.print(f"scrub benchmark: {corpus['identifiers']} planted identifiers, {corpus['lookalikes']} "
                  f"look-alikes ({corpus['path']})", highlight=False, soft_wrap=True)

    table = Table(title="per identifier type (FP: look-alikes altered)")
    table.add_column("scrubber")
    table.add_column("type", no_wrap=True)
    for col in ("planted", "caught", "recall", "FP", "precision"):
        table.add_column(col, justify="right")
    for name, figures_of in (("realise", ours), ("presidio", theirs)):
        if figures_of is None:
            continue
        for kind in (*TYPES, "overall"):
            row = figures_of["overall"] if kind == "overall" else figures_of["types"][kind]
            table.add_row(name, kind, str(row["planted"]), str(row["caught"]), _ratio(row["recall"]),
                          str(row["false_positives"]), _ratio(row["precision"]), end_section=kind == "overall")
    console.print(table)

    forms = Table(title="identifiers caught per written form")
    forms.add_column("type and form", no_wrap=True)
    for col in ("planted", "caught") + (("caught\n(Presidio)",) if theirs else ()):
        forms.add_column(col, justify="right")
    for form, row in ours["forms"].items():
        forms.add_row(form, str(row["planted"]), str(row["caught"]),
                      *([str(theirs["forms"][form]["caught"])] if theirs else []))
    console.print(forms)

    classes = Table(title="look-alikes altered per class")
    classes.add_column("class", no_wrap=True)
    for col in ("total", "altered") + (("altered\n(Presidio)",) if theirs else ()):
        classes.add_column(col, justify="right")
    for cls, row in ours["lookalike_classes"].items():
        classes.add_row(cls, str(row["total"]), str(row["altered"]),
                        *([str(theirs["lookalike_classes"][cls]["altered"])] if theirs else []))
    console.print(classes)

    console.print(f"realise: {ours['us_per_call']} µs per sentence", highlight=False)
    if theirs:
        console.print(f"presidio: {theirs['us_per_call']} µs per sentence", highlight=False)
    else:
        console.print("presidio not installed (pip install presidio-analyzer to compare; it is not a dependency)",
                      highlight=False)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    from rich.console import Console

    print_figures(run_bench(), Console())
