"""Alert rules (a version-controlled YAML file) evaluated against the latest weekly metric values.

A rule watches one metric for every value of one segment type (e.g. every org unit) at the weekly grain,
with a threshold (`below` / `above`), a trend (`falling` / `rising` for K weeks running), or statistical
process control (`type: spc`: special-cause variation in the latest week, warehouse/spc_alerts.py). Cells that are
suppressed, or whose group is smaller than the rule's `min_n`, are never judged: they cannot raise or
resolve an alert. A breach opens an alert (at most one open per rule and segment; an open one is updated
instead), an open alert whose latest cell no longer breaches is resolved, and new alerts are published to
Kafka (`realise.alerts.v1`) when a broker is configured or the embedded one runs.
"""

from __future__ import annotations

import json
import logging
import math
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from kafka.errors import KafkaError
from pydantic import Field, field_validator, model_validator
from sqlalchemy.engine import Engine

from foundation.config import MetricsSettings
from foundation.errors import UserError
from foundation.kafka import ensure_topics, publish
from foundation.stack import resolve_endpoints
from schemas.topics import ALERTS_TOPIC
from warehouse import spc_alerts
from warehouse.benefits import ID_PATTERN, _Strict, known_metrics, validate_entries
from warehouse.metrics.registry import SEGMENTS

log = logging.getLogger(__name__)

BREACH, CLEAR, UNKNOWN = "breach", "clear", "unknown"
LOOKBACK_WEEKS = 12  # segments with no cell in the metric's last LOOKBACK_WEEKS (+ K) weeks are not judged
_LOCK = 7411003  # one evaluation of the rules at a time
TEMPLATE_FIELDS = ("rule", "metric", "metric_title", "unit", "segment_type", "segment_value", "period", "value",
                   "n", "threshold", "weeks", "start_value", "condition", *spc_alerts.MESSAGE_FIELDS)
DEFAULT_MESSAGES = {
    "below": "{metric_title} is {value:.1f} for {segment_type} {segment_value} in the week of {period}: "
             "below {threshold:g}",
    "above": "{metric_title} is {value:.1f} for {segment_type} {segment_value} in the week of {period}: "
             "above {threshold:g}",
    "falling": "{metric_title} for {segment_type} {segment_value} has fallen {weeks} weeks running, from "
               "{start_value:.1f} to {value:.1f} (week of {period})",
    "rising": "{metric_title} for {segment_type} {segment_value} has risen {weeks} weeks running, from "
              "{start_value:.1f} to {value:.1f} (week of {period})",
    "spc": spc_alerts.DEFAULT_MESSAGE,
}


class AlertRule(_Strict):
    """One rule in the alert rules file."""

    id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    metric: str = Field(min_length=1, max_length=64)
    segment_type: str
    grain: Literal["week"] = "week"
    type: Literal["threshold", "trend", "spc"] | None = Field(
        None, description="threshold (below/above), trend (falling/rising) or spc; by default from the condition")
    condition: Literal["below", "above", "falling", "rising"] | None = None
    threshold: float | None = None
    weeks: int | None = Field(None, ge=2, le=26, description="K: weeks running, for falling/rising")
    min_n: int = Field(0, ge=0, description="Cells from fewer people are not judged (besides suppression)")
    message: str | None = Field(None, min_length=1, max_length=1000)
    # type: spc only (warehouse/spc_alerts.py; defaults filled in by its check)
    signals: list[Literal["beyond_limits", "shift", "trend", "two_in_three"]] | None = Field(None, min_length=1)
    variation: Literal["concerning", "improving", "any"] | None = None
    phase_starts: list[date] | Literal["go_live"] | None = None
    baseline_weeks: int | None = Field(None, ge=2, le=104)
    min_points: int | None = Field(None, ge=2, le=104)
    shift_points: int | None = Field(None, ge=5, le=15)
    trend_points: int | None = Field(None, ge=5, le=15)

    @field_validator("segment_type")
    @classmethod
    def _segment_type(cls, v: str) -> str:
        if v not in SEGMENTS:
            raise ValueError(f"unknown segment type {v!r}; choose from {', '.join(SEGMENTS)}")
        return v

    @field_validator("phase_starts", mode="before")
    @classmethod
    def _phase_starts(cls, v: Any) -> Any:
        return spc_alerts.parse_phase_starts(v)

    @model_validator(mode="after")
    def _condition_fields(self) -> AlertRule:
        if self.type == "spc":
            spc_alerts.check_spc_rule(self)
            return self
        spc_alerts.check_not_spc_fields(self)
        if self.condition is None:
            raise ValueError("condition is required: below or above (with a threshold), falling or rising (with "
                             "weeks); or set type: spc")
        if self.type is not None and self.type != ("threshold" if self.condition in ("below", "above") else "trend"):
            raise ValueError(f"condition {self.condition} makes a {'threshold' if self.type == 'trend' else 'trend'} "
                             f"rule, not type {self.type}")
        if self.condition in ("below", "above"):
            if self.threshold is None:
                raise ValueError(f"condition {self.condition} needs a threshold")
            if not math.isfinite(self.threshold):
                raise ValueError("threshold must be a finite number")
            if self.weeks is not None:
                raise ValueError(f"weeks is for falling/rising rules, not {self.condition}")
        else:
            if self.threshold is not None:
                raise ValueError(f"threshold is for below/above rules, not {self.condition}")
            if self.weeks is None:
                self.weeks = 3
        return self

    @property
    def trend(self) -> bool:
        return self.condition in ("falling", "rising")

    @property
    def kind(self) -> str:
        """below, above, falling, rising or spc: which default message and judgement apply."""
        return "spc" if self.type == "spc" else str(self.condition)

    @property
    def template(self) -> str:
        return self.message or DEFAULT_MESSAGES[self.kind]

    def describe(self) -> str:
        if self.type == "spc":
            return spc_alerts.describe(self)
        if self.trend:
            return f"{self.condition} {self.weeks} weeks running"
        return f"{self.condition} {self.threshold:g}"


def _fields(rule: AlertRule, metric_title: str, unit: str, *, segment_value: str, period: str, value: float,
            n: int | None, start_value: float | None, spc: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"rule": rule.id, "metric": rule.metric, "metric_title": metric_title, "unit": unit,
            "segment_type": rule.segment_type, "segment_value": segment_value, "period": period, "value": value,
            "n": n, "threshold": rule.threshold, "weeks": rule.weeks, "start_value": start_value,
            "condition": rule.kind, **dict.fromkeys(spc_alerts.MESSAGE_FIELDS), **(spc or {})}


def _check_template(rule: AlertRule) -> str | None:
    """A problem with the rule's message template, or None."""
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(rule.template) if f is not None]
    except ValueError as exc:
        return f"message is not a valid template ({exc}); write fields as {{value}}, literal braces as {{{{ }}}}"
    unknown = sorted({n.split(".")[0].split("[")[0] for n in names} - set(TEMPLATE_FIELDS))
    if unknown or any(n == "" or n.isdigit() for n in names):
        return (f"message uses unknown field {', '.join(unknown) or '{}'}; fields are "
                f"{', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}")
    sample = _fields(rule, "Metric", "score", segment_value="X", period="2026-01-05", value=1.5, n=10,
                     start_value=2.0 if rule.trend else None,
                     spc=spc_alerts.SAMPLE_FIELDS if rule.type == "spc" else None)
    try:
        rule.template.format(**sample)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        extra = " (threshold is empty for falling/rising rules)" if rule.trend and "threshold" in rule.template \
            else spc_alerts.template_hint(rule)
        return f"message cannot be filled in: {exc}{extra}"
    return None


def load_rules(path: Path | str) -> list[AlertRule]:
    """Read and validate alert rules; every problem is reported with the file, rule and field."""

    def message_fills_in(rule: AlertRule, metric: Any) -> list[str]:
        problem = _check_template(rule)
        return ([f"field 'message': {problem}"] if problem else []) + spc_alerts.metric_problems(rule, metric)

    return validate_entries(path, "rules", "rule", AlertRule, message_fills_in)


# --- judging one segment's cells (pure) ----------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    period_start: date
    value: float | None  # None when suppressed
    n: int | None  # None when suppressed
    suppressed: bool = False


@dataclass(frozen=True)
class Verdict:
    state: str  # breach | clear | unknown
    cell: Cell | None = None
    start_value: float | None = None  # trend rules: the value K weeks before
    fields: dict[str, Any] = field(default_factory=dict)  # spc rules: signal, variation, mean, lower, upper


def judge(rule: AlertRule, cells: Sequence[Cell]) -> Verdict:
    """Whether one segment's weekly cells (oldest first) breach the rule in its latest week.

    Suppressed cells, cells without a value and cells from fewer than `min_n` people are never judged: a
    threshold rule is `unknown` when the latest cell is one; a trend rule is `unknown` when the run of K
    week-on-week moves cannot be seen because such a cell or a missing week interrupts it.
    """
    def usable(c: Cell) -> bool:
        return not c.suppressed and c.value is not None and c.n is not None and c.n >= rule.min_n

    if not cells or not usable(cells[-1]):
        return Verdict(UNKNOWN, cells[-1] if cells else None)
    last = cells[-1]
    assert last.value is not None
    if not rule.trend:
        assert rule.threshold is not None
        hit = last.value < rule.threshold if rule.condition == "below" else last.value > rule.threshold
        return Verdict(BREACH if hit else CLEAR, last)
    k = rule.weeks or 3
    moves = 0
    for newer, older in zip(reversed(cells), list(reversed(cells))[1:], strict=False):
        if moves == k:
            break
        if older.period_start != newer.period_start - timedelta(weeks=1) or not usable(older):
            return Verdict(UNKNOWN, last)
        assert newer.value is not None and older.value is not None
        moved = newer.value < older.value if rule.condition == "falling" else newer.value > older.value
        if not moved:
            return Verdict(CLEAR, last)
        moves += 1
    if moves < k:
        return Verdict(UNKNOWN, last)
    return Verdict(BREACH, last, cells[-1 - k].value)


# --- evaluation against the warehouse ------------------------------------------------------------

@dataclass
class Evaluation:
    opened: list[dict[str, Any]] = field(default_factory=list)
    updated: int = 0
    resolved: int = 0
    open: int = 0


def _cells(conn: sa.Connection, rule: AlertRule) -> dict[str, list[Cell]]:
    latest = conn.execute(sa.text(
        "select max(period_start) from core.metric_values where metric_id = :m and grain = :g "
        "and segment_type = :st"), {"m": rule.metric, "g": rule.grain, "st": rule.segment_type}).scalar()
    if latest is None:
        return {}
    since = latest - timedelta(weeks=LOOKBACK_WEEKS + (rule.weeks or 0))
    if rule.type == "spc":  # the limits need the whole history of the segments seen lately
        everything = _cells_since(conn, rule, date.min)
        return {sv: cells for sv, cells in everything.items() if cells[-1].period_start >= since}
    return _cells_since(conn, rule, since)


def _cells_since(conn: sa.Connection, rule: AlertRule, since: date) -> dict[str, list[Cell]]:
    rows = conn.execute(sa.text(
        "select segment_value, period_start, value, n, suppressed from analytics.metric_latest "
        "where metric_id = :m and grain = :g and segment_type = :st and period_start >= :since "
        "order by segment_value, period_start"),
        {"m": rule.metric, "g": rule.grain, "st": rule.segment_type, "since": since}).all()
    out: dict[str, list[Cell]] = {}
    for r in rows:
        out.setdefault(r.segment_value, []).append(Cell(r.period_start, r.value, r.n, bool(r.suppressed)))
    return out


def _message(rule: AlertRule, metric_title: str, unit: str, segment_value: str, verdict: Verdict) -> str:
    cell = verdict.cell
    assert cell is not None and cell.value is not None
    values = _fields(rule, metric_title, unit, segment_value=segment_value, period=cell.period_start.isoformat(),
                     value=cell.value, n=cell.n, start_value=verdict.start_value, spc=verdict.fields)
    try:
        return rule.template.format(**values)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return DEFAULT_MESSAGES[rule.kind].format(**values)


def evaluate_rules(engine: Engine, rules: Iterable[AlertRule]) -> Evaluation:
    """Open, update and resolve alerts for every rule against analytics.metric_latest, in one transaction."""
    metrics = known_metrics()
    result = Evaluation()
    with engine.begin() as conn:
        conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        for rule in rules:
            metric = metrics.get(rule.metric)
            title, unit = (metric.title, metric.unit) if metric else (rule.metric, "")
            open_alerts = dict(conn.execute(sa.text(
                "select segment_value, alert_id from core.alerts where rule_id = :r and segment_type = :st "
                "and status = 'open'"), {"r": rule.id, "st": rule.segment_type}).all())
            phases = spc_alerts.phase_starts_by_segment(conn, rule) if rule.type == "spc" else {}
            for segment_value, cells in _cells(conn, rule).items():
                if rule.type == "spc":
                    if metric is None:
                        continue  # no `better` to read the signals by (the metric is no longer defined)
                    spc = spc_alerts.judge_spc(rule, cells, metric.better,
                                               phases.get(segment_value, phases.get("*", ())))
                    verdict = Verdict(spc.state, cells[-1], fields=spc.fields)
                else:
                    verdict = judge(rule, cells)
                if verdict.state == BREACH:
                    cell = verdict.cell
                    assert cell is not None
                    message = _message(rule, title, unit, segment_value, verdict)
                    row = conn.execute(sa.text(
                        "insert into core.alerts (rule_id, metric_id, segment_type, segment_value, period, value, "
                        "threshold, message) values (:r, :m, :st, :sv, :p, :v, :t, :msg) "
                        "on conflict (rule_id, segment_type, segment_value) where status = 'open' do update set "
                        "metric_id = excluded.metric_id, period = excluded.period, value = excluded.value, "
                        "threshold = excluded.threshold, message = excluded.message, last_seen_at = now() "
                        "returning alert_id, opened_at, (xmax = 0) as inserted"),
                        {"r": rule.id, "m": rule.metric, "st": rule.segment_type, "sv": segment_value,
                         "p": cell.period_start.isoformat(), "v": cell.value, "t": rule.threshold,
                         "msg": message}).one()
                    if row.inserted:
                        result.opened.append({
                            "alert_id": row.alert_id, "rule_id": rule.id, "metric_id": rule.metric,
                            "metric_title": title, "unit": unit, "segment_type": rule.segment_type,
                            "segment_value": segment_value, "period": cell.period_start.isoformat(),
                            "value": cell.value, "n": cell.n, "threshold": rule.threshold,
                            "condition": rule.describe(),
                            "message": message,
                            "opened_at": row.opened_at.isoformat(), "status": "open"})
                    else:
                        result.updated += 1
                elif verdict.state == CLEAR and segment_value in open_alerts:
                    result.resolved += conn.execute(sa.text(
                        "update core.alerts set status = 'resolved', resolved_at = now() "
                        "where alert_id = :id and status = 'open'"), {"id": open_alerts[segment_value]}).rowcount
        result.open = conn.execute(sa.text("select count(*) from core.alerts where status = 'open'")).scalar_one()
    return result


def publish_alerts(settings: Any, alerts: Sequence[dict[str, Any]]) -> int:
    """Publish new alerts to the alerts topic, keyed by rule and segment; skipped (with a warning) when no
    broker is configured or running, or it cannot be reached. Returns how many were published."""
    if not alerts:
        return 0
    topic = settings.topic(ALERTS_TOPIC)
    try:
        bootstrap = resolve_endpoints(settings, autostart=False, services={"kafka"}).kafka_bootstrap
    except UserError as exc:
        log.warning("%d new alert(s) not published to %s: %s", len(alerts), topic, exc)
        return 0
    records = [(topic, f"{a['rule_id']}|{a['segment_type']}|{a['segment_value']}".encode(),
                json.dumps(a, default=str, sort_keys=True).encode()) for a in alerts]
    try:
        ensure_topics(settings, bootstrap, [topic])
        return publish(settings, bootstrap, records)
    except (UserError, KafkaError) as exc:
        log.warning("%d new alert(s) not published to %s at %s: %s", len(alerts), topic, bootstrap, exc)
        return 0


def rules_for(settings: Any) -> list[AlertRule]:
    """The configured rules. A missing file at the default path means no rules; elsewhere it is an error."""
    path = Path(settings.metrics.alert_rules_file)
    default = MetricsSettings.model_fields["alert_rules_file"].default
    if not path.exists() and str(settings.metrics.alert_rules_file) == default:
        log.info("no alert rules file (%s): no alerts evaluated", path)
        return []
    return load_rules(path)
