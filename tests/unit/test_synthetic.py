"""The generated trust and events are valid, reproducible and carry the patterns the metrics look for."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from foundation.privacy import DEMO_KEY, pseudonymise, scrub
from schemas.events import EVENT_ADAPTER, Kind, SkillsDomain
from schemas.topics import TOPICS, kind_for_topic, partition_key
from synthetic import (
    EMAIL_DOMAIN,
    ONE_MIB,
    STAFF_GROUPS,
    STRUGGLING_UNIT,
    Malformed,
    Trust,
    generate_events,
    generate_trust,
    malformed_records,
    serialise,
)

NOW = datetime(2025, 6, 2, 12, 30, 15, tzinfo=UTC)
COUNTS = {"forms": 1500, "tickets": 1500, "training": 1500, "skills": 600}


@pytest.fixture(scope="module")
def trust() -> Trust:
    return generate_trust(600, seed=7)


@pytest.fixture(scope="module")
def events(trust: Trust) -> list:
    return generate_events(trust, now=NOW, seed=7, **COUNTS)


@pytest.fixture(scope="module")
def serialised(events: list) -> list[tuple[str, bytes, bytes]]:
    return [serialise(e) for e in events]


@pytest.fixture(scope="module")
def malformed(trust: Trust) -> list[Malformed]:
    return malformed_records(trust, NOW, seed=7)


def of_kind(events: list, kind: Kind) -> list:
    return [e for e in events if e.kind == kind]


# ----------------------------------------------------------------------------------------------- trust


def test_trust_hierarchy_and_staff(trust: Trust) -> None:
    levels = Counter(u.level for u in trust.units.values())
    assert levels["trust"] == 1 and 3 <= levels["division"] <= 4
    assert trust.units[STRUGGLING_UNIT].name.startswith("Ward 7B")
    names = {u.name for u in trust.units.values()}
    assert {"Medicine", "Surgery", "Women and Children", "Pharmacy", "Emergency Department"} <= names
    assert len(trust.staff) == 600
    assert {s.org_unit for s in trust.staff} == {u.code for u in trust.leaves()}
    for s in trust.staff:
        assert re.fullmatch(rf"staff\d{{6}}@{re.escape(EMAIL_DOMAIN)}", s.identifier)
        assert s.pseudonym == pseudonymise(s.identifier, DEMO_KEY)
        assert s.org_path[0] == trust.code and s.org_path == trust.path(s.org_unit)
        assert s.person.org_unit == s.org_unit and s.person.go_live_wave == s.go_live_wave
    groups = Counter(s.staff_group for s in trust.staff)
    assert set(groups) <= set(STAFF_GROUPS)
    assert groups.most_common(1)[0][0] == "Nursing and Midwifery"
    systems = Counter(s.system for s in trust.staff)
    assert systems["EPR"] > systems["ePMA"] > systems["Patient Portal"] > 0
    go_lives = {name: wave.go_live(NOW) for name, wave in trust.waves.items()}
    assert go_lives["wave-1"] < go_lives["wave-2"] < NOW < go_lives["wave-3"]


def test_trust_is_deterministic() -> None:
    assert generate_trust(300, seed=3).staff == generate_trust(300, seed=3).staff
    assert generate_trust(300, seed=3).staff != generate_trust(300, seed=4).staff


# ---------------------------------------------------------------------------------------------- events


def test_same_seed_same_events(trust: Trust, serialised: list) -> None:
    again = [serialise(e) for e in generate_events(trust, now=NOW, seed=7, **COUNTS)]
    assert again == serialised
    other = [serialise(e) for e in generate_events(trust, now=NOW, seed=8, **COUNTS)]
    assert other != serialised


def test_counts_are_event_counts(events: list) -> None:
    kinds = Counter(e.kind for e in events)
    assert kinds == {Kind.FORM_RESPONSE: 1500, Kind.HELPDESK_TICKET: 1500, Kind.TRAINING_RECORD: 1500,
                     Kind.SKILLS_ASSESSMENT: 600}


def test_every_event_round_trips_through_its_model(events: list, serialised: list) -> None:
    for event, (topic, key, value) in zip(events, serialised, strict=True):
        parsed = EVENT_ADAPTER.validate_json(value)
        assert parsed == event
        assert topic == TOPICS[Kind(event.kind)]
        assert key == partition_key(event.payload.person.org_unit)
        assert event.source in {"msforms", "servicenow", "xapi", "skills_survey"}


def test_one_org_unit_one_key(serialised: list) -> None:
    keys: dict[str, set[bytes]] = defaultdict(set)
    for _topic, key, value in serialised:
        keys[json.loads(value)["payload"]["person"]["org_unit"]].add(key)
    assert all(len(k) == 1 for k in keys.values())
    assert len({next(iter(k)) for k in keys.values()}) == len(keys)


def test_no_timestamp_after_now(events: list) -> None:
    for e in events:
        stamps = [e.occurred_at, e.ingested_at]
        if e.kind == Kind.HELPDESK_TICKET:
            stamps += [e.payload.opened_at, e.payload.updated_at, e.payload.resolved_at]
        for t in filter(None, stamps):
            assert t.utcoffset() == timedelta(0) and t <= NOW
        assert e.occurred_at <= e.ingested_at


def test_record_identity(events: list) -> None:
    assert len({e.event_id for e in events}) == len(events)
    assert len({(e.source, e.source_record_id, e.record_version) for e in events}) == len(events)
    versions: dict[str, list] = defaultdict(list)
    for e in of_kind(events, Kind.HELPDESK_TICKET):
        assert e.record_version == e.payload.updated_at.isoformat() and e.occurred_at == e.payload.updated_at
        versions[e.source_record_id].append(e)
    order = {"new": 0, "in_progress": 1, "resolved": 2, "cancelled": 2}
    assert Counter(len(v) for v in versions.values()).keys() <= {1, 2, 3}
    assert any(len(v) == 3 for v in versions.values())
    for ticket in versions.values():
        ticket.sort(key=lambda e: e.record_version)
        assert [order[e.payload.status] for e in ticket] == sorted({order[e.payload.status] for e in ticket})
        assert len({e.payload.opened_at for e in ticket}) == 1
        for e in ticket:
            assert (e.payload.resolved_at is not None) == (e.payload.status == "resolved")
            if e.payload.satisfaction is not None:
                assert e.payload.status in ("resolved", "cancelled")


def test_no_raw_identifier_in_person_blocks(serialised: list) -> None:
    for _topic, _key, value in serialised:
        person = json.dumps(json.loads(value)["payload"]["person"])
        assert "@" not in person and EMAIL_DOMAIN not in person


def test_some_free_text_needs_scrubbing(events: list) -> None:
    texts = [e.payload.comment for e in of_kind(events, Kind.FORM_RESPONSE) if e.payload.comment]
    texts += [e.payload.summary for e in of_kind(events, Kind.HELPDESK_TICKET) if e.payload.summary]
    removed = Counter(tag for t in texts if scrub(t) != t
                      for tag in re.findall(r"\[(EMAIL|PHONE|NHS_NUMBER|POSTCODE)\]", scrub(t) or ""))
    assert set(removed) == {"EMAIL", "PHONE", "NHS_NUMBER", "POSTCODE"}
    assert sum(removed.values()) < len(texts) * 0.1


def test_forms_shape(events: list) -> None:
    forms = of_kind(events, Kind.FORM_RESPONSE)
    assert all(6 <= len(e.payload.likert) <= 8 for e in forms)
    assert any(e.payload.minutes_saved_per_shift is not None and e.payload.minutes_saved_per_shift < 0
               for e in forms)
    assert {e.payload.form_id for e in forms} >= {"epr-pulse", "epr-readiness"}
    pulse = [e for e in forms if e.payload.form_id.endswith("pulse")]
    assert all({"confidence", "training_fit", "system_speed", "patient_safety", "would_not_go_back",
                "support_available"} <= e.payload.likert.keys() for e in pulse)


def test_training_shape(events: list) -> None:
    training = of_kind(events, Kind.TRAINING_RECORD)
    assert {e.payload.verb for e in training} == {"enrolled", "attempted", "completed", "passed", "failed"}
    go_live = [e for e in training if e.payload.course_id.endswith("-GL-101")]
    assert go_live and all(e.payload.required for e in go_live)
    assert all(e.payload.score is not None for e in training if e.payload.verb in ("passed", "failed"))


def test_ticket_spike_after_go_live(trust: Trust, events: list) -> None:
    go_live = trust.waves["wave-1"].go_live(NOW)
    opened = {e.source_record_id: e.payload.opened_at for e in of_kind(events, Kind.HELPDESK_TICKET)}
    days = [(t - go_live) / timedelta(days=1) for t in opened.values()]
    first_week = sum(0 <= d < 7 for d in days)
    fourth_week = sum(21 <= d < 28 for d in days)
    assert first_week > 3 * fourth_week


def test_struggling_ward(trust: Trust, events: list) -> None:
    forms = of_kind(events, Kind.FORM_RESPONSE)
    ward = [statistics.mean(e.payload.likert.values()) for e in forms
            if e.payload.person.org_unit == STRUGGLING_UNIT]
    rest = [statistics.mean(e.payload.likert.values()) for e in forms
            if e.payload.person.org_unit != STRUGGLING_UNIT]
    assert statistics.mean(ward) < statistics.mean(rest) - 0.4
    tickets = {(e.source_record_id, e.payload.person.org_unit) for e in of_kind(events, Kind.HELPDESK_TICKET)}
    per_head_ward = sum(u == STRUGGLING_UNIT for _, u in tickets) / len(trust.staff_in(STRUGGLING_UNIT))
    per_head_all = len(tickets) / len(trust.staff)
    assert per_head_ward > 2 * per_head_all


def test_confidence_rises_with_time_since_training(events: list) -> None:
    passed: dict[str, datetime] = {}
    for e in of_kind(events, Kind.TRAINING_RECORD):
        if e.payload.required and e.payload.verb == "passed":
            passed[e.payload.person.pseudonym] = min(e.occurred_at, passed.get(e.payload.person.pseudonym, NOW))
    fresh, settled = [], []
    for e in of_kind(events, Kind.FORM_RESPONSE):
        trained = passed.get(e.payload.person.pseudonym)
        if trained is None or trained > e.occurred_at:
            continue
        days = (e.occurred_at - trained) / timedelta(days=1)
        (fresh if days < 7 else settled if days >= 35 else []).append(e.payload.likert["confidence"])
    assert len(fresh) > 20 and len(settled) > 20
    assert statistics.mean(settled) > statistics.mean(fresh) + 0.4


def test_skills_baseline_follow_up_and_group_gap(trust: Trust, events: list) -> None:
    skills = of_kind(events, Kind.SKILLS_ASSESSMENT)
    assert all(set(e.payload.scores) == set(SkillsDomain) for e in skills)
    by_phase: dict[str, list[float]] = defaultdict(list)
    by_group: dict[str, list[float]] = defaultdict(list)
    for e in skills:
        mean = statistics.mean(e.payload.scores.values())
        by_phase[e.payload.phase].append(mean)
        if e.payload.phase == "baseline":
            by_group[e.payload.person.staff_group].append(mean)
        go_live = trust.go_live(e.payload.person.go_live_wave, NOW)
        assert (e.occurred_at < go_live) == (e.payload.phase == "baseline")
    assert by_phase["follow_up"] and by_phase["baseline"]
    assert statistics.mean(by_phase["follow_up"]) > statistics.mean(by_phase["baseline"]) + 0.3
    means = {g: statistics.mean(v) for g, v in by_group.items() if len(v) >= 10}
    assert max(means.values()) - min(means.values()) > 0.8


def test_rejects_naive_now(trust: Trust) -> None:
    with pytest.raises(ValueError, match="timezone"):
        generate_events(trust, now=NOW.replace(tzinfo=None), forms=1, tickets=1, training=1, skills=1)


def test_generation_is_fast(trust: Trust) -> None:
    start = time.perf_counter()
    generate_events(trust, now=NOW, seed=1, forms=2500, tickets=2500, training=2500, skills=2500)
    assert time.perf_counter() - start < 5  # about 0.4 s on one core: 100,000 events take about 4 s


# -------------------------------------------------------------------------------------- malformed corpus


def _model_error(value: bytes) -> str | None:
    """Why the event models reject `value` (UTF-8 checked first, as the ingest does), or None."""
    try:
        value.decode("utf-8")
        EVENT_ADAPTER.validate_json(value)
    except (UnicodeDecodeError, ValueError) as exc:
        return str(exc)
    return None


def test_malformed_corpus_covers_the_cases(malformed: list[Malformed]) -> None:
    names = [m.name for m in malformed]
    assert len(names) == len(set(names))
    assert {"invalid_json", "truncated_json", "invalid_utf8", "empty_value", "json_array", "json_number",
            "missing_person", "recommend_string", "likert_string", "extra_field", "likert_7", "recommend_14",
            "score_1_5", "priority_9", "occurred_2099", "naive_timestamp", "raw_email_pseudonym",
            "event_id_not_derived", "kind_topic_mismatch", "comment_5000", "record_over_1mib",
            "sql_injection_comment", "html_injection_comment", "nul_in_comment"} <= set(names)
    for m in malformed:
        assert m.why and m.expect == m.expect.lower()
        assert m.valid == (m.expect == "") == (m.caught_by == "")
        assert kind_for_topic(m.topic) is not None


def test_malformed_records_fail_where_marked(malformed: list[Malformed]) -> None:
    for m in malformed:
        error = _model_error(m.value)
        if m.caught_by == "pydantic":
            assert error is not None, m.name
        else:
            assert error is None, (m.name, error)


def test_records_caught_after_the_models(malformed: list[Malformed]) -> None:
    by_name = {m.name: m for m in malformed}
    assert len(by_name["record_over_1mib"].value) > ONE_MIB
    mismatch = by_name["kind_topic_mismatch"]
    assert kind_for_topic(mismatch.topic) != json.loads(mismatch.value)["kind"]
    assert EVENT_ADAPTER.validate_json(by_name["occurred_2099"].value).occurred_at > NOW
    for m in malformed:
        if m.caught_by in ("ingest", "quality"):
            assert not m.valid


def test_one_change_from_a_valid_event(malformed: list[Malformed]) -> None:
    by_name = {m.name: m for m in malformed}
    assert json.loads(by_name["recommend_14"].value)["payload"]["recommend"] == 14
    assert json.loads(by_name["raw_email_pseudonym"].value)["payload"]["person"]["pseudonym"].endswith(
        "@" + EMAIL_DOMAIN)
    for name in ("sql_injection_comment", "html_injection_comment", "nul_in_comment"):
        event = EVENT_ADAPTER.validate_json(by_name[name].value)
        assert event.kind == Kind.FORM_RESPONSE and event.occurred_at <= NOW
    assert "\x00" in EVENT_ADAPTER.validate_json(by_name["nul_in_comment"].value).payload.comment


def test_malformed_records_are_deterministic(trust: Trust, malformed: list[Malformed]) -> None:
    assert malformed_records(trust, NOW, seed=7) == malformed


def test_expected_reasons_match_the_decoder(malformed: list[Malformed]) -> None:
    decoder = pytest.importorskip("ingestion.decode")
    for m in malformed:
        result = decoder.decode(m.value, kind_for_topic(m.topic), m.topic, ONE_MIB)
        rejected = isinstance(result, decoder.Rejected)
        assert rejected == (m.caught_by in ("pydantic", "ingest")), m.name
        if rejected:
            assert m.expect in " ".join(result.reasons).lower(), (m.name, result.reasons)
