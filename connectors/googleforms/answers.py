"""Reading a Google form's structure and its answers: pure functions, unit-tested without a server.

A form's items carry the question ids that responses key their answers by; `index_form` turns the items
into a lookup from question id to what the question means for Realise (a Likert item, the 0-10 recommend
question, minutes saved, the comment, or the respondent's e-mail). Every answer arrives as text
(`{"textAnswers": {"answers": [{"value": "4"}]}}`), whatever the question type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from connectors.core.stream import MappingError
from connectors.googleforms.settings import FormOptions, GoogleFormsOptions, normalise_title
from foundation.errors import SourceError

Role = Literal["likert", "recommend", "minutes", "comment", "respondent"]
Shape = Literal["scale", "choice", "text", "row", "other"]


@dataclass(frozen=True)
class Question:
    question_id: str
    title: str
    role: Role
    code: str | None = None  # the item code of a Likert question
    shape: Shape = "text"
    low: int = 0
    high: int = 0


@dataclass(frozen=True)
class FormIndex:
    form_id: str
    code: str
    title: str
    questions: dict[str, Question]
    collects_email: bool | None  # None: the form does not say (forms older than the setting)


def _shape(question: dict[str, Any]) -> tuple[Shape, int, int]:
    if "scaleQuestion" in question:
        scale = question["scaleQuestion"] or {}
        # Proto3 JSON leaves out zero values: a 0-10 scale arrives as {"high": 10}.
        return "scale", int(scale.get("low", 0)), int(scale.get("high", 0))
    if "choiceQuestion" in question:
        return "choice", 0, 0
    if "textQuestion" in question:
        return "text", 0, 0
    if "rowQuestion" in question:
        return "row", 0, 0
    return "other", 0, 0


def form_questions(form: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(title, question id, question) for every question, grid rows included, in form order."""
    out = []
    for item in form.get("items") or []:
        if "questionItem" in item:
            question = (item["questionItem"] or {}).get("question") or {}
            if question.get("questionId"):
                out.append((item.get("title") or "", question["questionId"], question))
        elif "questionGroupItem" in item:
            for question in (item["questionGroupItem"] or {}).get("questions") or []:
                title = (question.get("rowQuestion") or {}).get("title") or ""
                if question.get("questionId"):
                    out.append((title, question["questionId"], question))
    return out


def index_form(form: dict[str, Any], spec: FormOptions, position: int, options: GoogleFormsOptions,
               source: str) -> FormIndex:
    """The form's questions that Realise maps, checked against the configuration; problems name the setting."""
    setting = f"sources.{source}.options"
    roles: dict[str, tuple[Role, str | None, str]] = {
        normalise_title(t): ("likert", code, "likert_items") for t, code in options.likert_items.items()}
    for role, title, name in (("recommend", options.recommend_question, "recommend_question"),
                              ("minutes", options.minutes_saved_question, "minutes_saved_question"),
                              ("comment", options.comment_question, "comment_question"),
                              ("respondent", options.respondent_question, "respondent_question")):
        if title:
            roles[normalise_title(title)] = (role, None, name)  # type: ignore[assignment]
    form_title = ((form.get("info") or {}).get("title") or "").strip()
    where = f"source '{source}': form {spec.id} ({form_title or 'untitled'})"
    questions: dict[str, Question] = {}
    seen: set[str] = set()
    for title, question_id, question in form_questions(form):
        key = normalise_title(title)
        seen.add(key)
        if key not in roles:
            continue
        role, code, name = roles[key]
        shape, low, high = _shape(question)
        if role == "likert" and shape == "scale" and (low, high) != (1, 5):
            raise SourceError(f"{where}: '{title}' is a {low}-{high} scale; Likert items must be 1-5 scales or "
                              f"agree/disagree choices: change the question or remove it from {setting}.{name}")
        if role == "recommend" and shape == "scale" and not (low >= 0 and high <= 10):
            raise SourceError(f"{where}: '{title}' is a {low}-{high} scale, not 0-10: fix {setting}.{name}")
        questions[question_id] = Question(question_id, title, role, code, shape, low, high)
    missing = [t for t in spec.require if normalise_title(t) not in seen]
    if missing:
        raise SourceError(f"{where} has no question {', '.join(map(repr, missing))}; fix the title in "
                          f"{setting}.forms[{position}].require (and the mapping) to match the form")
    if not any(q.role != "respondent" for q in questions.values()):
        raise SourceError(f"{where} has none of the questions in {setting} (likert_items, recommend_question, "
                          "minutes_saved_question, comment_question); set them to the form's question titles")
    collection = (form.get("settings") or {}).get("emailCollectionType")
    collects = None if collection is None else collection != "DO_NOT_COLLECT"
    if collects is False and not any(q.role == "respondent" for q in questions.values()):
        raise SourceError(f"{where} does not collect e-mail addresses, so responses cannot be linked to staff: "
                          f"turn on e-mail collection or set {setting}.respondent_question")
    return FormIndex(spec.id, spec.form_code, form_title, questions, collects)


def answer_values(answer: dict[str, Any]) -> list[str]:
    """The text values of one answer (a checkbox question can have several)."""
    text = answer.get("textAnswers") or {}
    return [str(a["value"]) for a in text.get("answers") or [] if a.get("value") not in (None, "")]


def label_scores(labels: dict[str, int]) -> dict[str, int]:
    """options.likert_labels keyed by normalised label, for `parse_likert`."""
    return {normalise_title(label): score for label, score in labels.items()}


def parse_likert(question: Question, value: str, scores: dict[str, int]) -> int:
    """`"4"` from a 1-5 scale, or a label such as `"Agree"` from a choice question or grid (see label_scores)."""
    text = value.strip()
    if text.isdigit():
        number = int(text)
        if 1 <= number <= 5:
            return number
        raise MappingError(f"answer {text} to '{question.title}' is outside 1-5")
    score = scores.get(normalise_title(text))
    if score is None:
        raise MappingError(f"answer {value!r} to '{question.title}' is not one of options.likert_labels")
    return score


def parse_recommend(question: Question, value: str) -> int:
    text = value.strip()
    if text.isdigit() and 0 <= int(text) <= 10:
        return int(text)
    raise MappingError(f"answer {value!r} to '{question.title}' is not a whole number from 0 to 10")


_NO_ANSWER = {"", "-", "n/a", "na", "none", "not applicable"}
_MINUTES = re.compile(r"^(?:about|approx\.?|approximately|around|~)?\s*([+-]?\d+(?:\.\d+)?)\s*"
                      r"(m|min|mins|minute|minutes|h|hr|hrs|hour|hours)?\.?$", re.IGNORECASE)


def parse_minutes(question: Question, value: str) -> float | None:
    """Minutes from a short answer: `15`, `-10`, `about 20 mins`, `1.5 hours`; None for `n/a`."""
    text = " ".join(value.split())
    if text.casefold() in _NO_ANSWER:
        return None
    match = _MINUTES.match(text)
    if not match:
        raise MappingError(f"answer {value!r} to '{question.title}' is not a number of minutes")
    number = float(match.group(1))
    unit = (match.group(2) or "m").lower()
    return number * 60 if unit.startswith("h") else number


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


def parse_timestamp(value: Any, what: str = "lastSubmittedTime") -> datetime:
    """RFC 3339 with 0 to 9 fractional digits (Google trims trailing zeros), as an aware UTC datetime."""
    match = _RFC3339.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise MappingError(f"{what} {value!r} is not an RFC 3339 timestamp")
    base, fraction, zone = match.groups()
    parsed = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    micros = int((fraction or "0").ljust(6, "0")[:6])
    return (parsed + timedelta(microseconds=micros)).astimezone(UTC)


def format_cursor(moment: datetime) -> str:
    """One fixed format (always six fractional digits, Z), so cursors and versions sort as strings by time."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def timestamp_filter(cursor: str) -> str:
    """Responses submitted at or after the cursor: records sharing it are read again and dedupe downstream."""
    return f"timestamp >= {cursor}"
