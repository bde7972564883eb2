"""The benefits register: a version-controlled YAML file, validated, loaded into core.benefits, and a status
for each benefit from its measure's trajectory (on track / at risk / off track / no data).

A benefit names a metric and one segment of it (the whole trust by default), a baseline with its date, a
target with its date, and an owner. Its status comes from the latest weekly values of that metric and
segment (analytics.metric_latest, so suppressed weeks carry no value): a least-squares line through the
last weeks is projected to the target date and compared with the target, respecting whether higher or
lower is better. Statuses are kept as history in core.benefit_status; analysts read analytics.benefits.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import Connection, Engine

from foundation.errors import ConfigError
from warehouse.metrics.registry import SEGMENTS, TRUST

log = logging.getLogger(__name__)

ON_TRACK, AT_RISK, OFF_TRACK, NO_DATA = "on track", "at risk", "off track", "no data"
STATUSES = (ON_TRACK, AT_RISK, OFF_TRACK, NO_DATA)
WINDOW_WEEKS = 6  # the trend line is fitted over the last WINDOW_WEEKS weeks of values...
MIN_POINTS = 3  # ...of which at least MIN_POINTS must carry a value
ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
_EPS = 1e-9


# --- the status of one benefit (pure) ------------------------------------------------------------

@dataclass(frozen=True)
class BenefitStatus:
    status: str  # on track | at risk | off track | no data
    reason: str
    current_value: float | None = None
    current_period: date | None = None
    projected_value: float | None = None
    slope_per_week: float | None = None
    points: int = 0


def _fmt(x: float) -> str:
    return f"{x:.1f}" if abs(x) >= 0.05 or x == 0 else f"{x:.3g}"


def benefit_status(values: Iterable[tuple[date, float | None]], baseline: float, target: float,
                   target_date: date, better: Literal["higher", "lower"] | str, today: date, *,
                   window_weeks: int = WINDOW_WEEKS, min_points: int = MIN_POINTS) -> BenefitStatus:
    """Status of a benefit from its weekly values `(week start, value or None when suppressed/missing)`.

    - no data: no values, the latest week has no value (suppressed or missing), or fewer than `min_points`
      of the last `window_weeks` weeks have one. A week still under way on `today` with no value is left
      out: its answers are still coming in.
    - on track: the least-squares line through the last `window_weeks` weeks, projected to `target_date`,
      meets the target (after the target date: the latest value meets it).
    - off track: the projection misses and the latest value is worse than the baseline, or the line heads
      away from the target, or the target date has passed without the target being met.
    - at risk: the projection misses, but the latest value is no worse than the baseline and the line is
      flat or heading towards the target too slowly.
    "Worse" and "meets" respect `better` (higher or lower is better).
    """
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', not {better!r}")
    if min_points < 2 or window_weeks < min_points:
        raise ValueError("need min_points >= 2 and window_weeks >= min_points to fit a line")
    sign = 1.0 if better == "higher" else -1.0
    scale = max(1.0, abs(target), abs(baseline))

    def at_least(a: float, b: float) -> bool:  # a is as good as b or better
        return sign * (a - b) >= -_EPS * scale

    by_week: dict[date, float | None] = {}
    for week, value in values:
        by_week[week] = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    if not by_week:
        return BenefitStatus(NO_DATA, "no values yet for this metric and segment")
    latest = max(by_week)
    if by_week[latest] is None and today < latest + timedelta(weeks=1) and len(by_week) > 1:
        # The week is still under way: its cell is hidden or missing for want of answers that are still to
        # come, which says nothing yet. The week before is the latest.
        del by_week[latest]
        latest = max(by_week)
    current = by_week[latest]
    if current is None:
        return BenefitStatus(NO_DATA, f"the latest week ({latest}) has no value (suppressed or missing)",
                             current_period=latest)
    start = latest - timedelta(weeks=window_weeks)
    points = sorted((w, v) for w, v in by_week.items() if w > start and v is not None)
    if len(points) < min_points:
        return BenefitStatus(NO_DATA, f"only {len(points)} of the last {window_weeks} weeks have a value "
                                      f"(need {min_points} for a trend)",
                             current_value=current, current_period=latest, points=len(points))

    xs = [(w - latest).days / 7.0 for w, _ in points]
    ys = [v for _, v in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = my - slope * mx  # the fitted value in the latest week (x = 0)
    if abs(slope) < _EPS * scale:
        slope = 0.0
    base = {"current_value": current, "current_period": latest, "slope_per_week": slope, "points": len(points)}

    if target_date <= today or target_date <= latest:
        if at_least(current, target):
            return BenefitStatus(ON_TRACK, f"target {_fmt(target)} met: latest value {_fmt(current)}",
                                 projected_value=current, **base)
        return BenefitStatus(OFF_TRACK, f"target date {target_date} has passed and the latest value "
                                        f"{_fmt(current)} misses the target {_fmt(target)}",
                             projected_value=current, **base)

    horizon = (target_date - latest).days / 7.0
    projected = intercept + slope * horizon
    trend = f"{slope:+.2f} a week"
    if at_least(projected, target):
        return BenefitStatus(ON_TRACK, f"projected {_fmt(projected)} by {target_date} ({trend}) meets the target "
                                       f"{_fmt(target)}", projected_value=projected, **base)
    if not at_least(current, baseline):
        return BenefitStatus(OFF_TRACK, f"latest value {_fmt(current)} is worse than the baseline {_fmt(baseline)} "
                                        f"and the projection {_fmt(projected)} by {target_date} misses the "
                                        f"target {_fmt(target)}", projected_value=projected, **base)
    if sign * slope < 0:
        return BenefitStatus(OFF_TRACK, f"the trend ({trend}) heads away from the target {_fmt(target)}: "
                                        f"projected {_fmt(projected)} by {target_date}",
                             projected_value=projected, **base)
    return BenefitStatus(AT_RISK, f"latest value {_fmt(current)} is no worse than the baseline {_fmt(baseline)} but "
                                  f"the projection {_fmt(projected)} by {target_date} ({trend}) misses the target "
                                  f"{_fmt(target)}", projected_value=projected, **base)


# --- the register file ---------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# A date written relative to a wave's go-live: "wave-1", "wave-1 + 12 weeks", "wave-3 - 2 weeks".
_RELATIVE = re.compile(r"^(?P<wave>[A-Za-z0-9][\w.-]*?)(?:\s*(?P<sign>[+-])\s*(?P<weeks>\d{1,3})\s*weeks?)?$")


class Point(_Strict):
    value: float
    # A day, or a number of weeks after (before) a wave's go-live: a register written before the go-live
    # dates are fixed, or reused for another wave, follows them (resolved when the register is stored).
    date: date | str

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v

    @field_validator("date", mode="before")
    @classmethod
    def _when(cls, v: Any) -> Any:
        if isinstance(v, str):
            text = " ".join(v.split())
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
            if not _RELATIVE.match(text):
                raise ValueError("must be a date (YYYY-MM-DD) or a wave's go-live with an offset in weeks, "
                                 "e.g. 'wave-1 + 12 weeks'")
            return text
        return v

    def wave_offset(self) -> tuple[str, int] | None:
        """(wave, weeks after its go-live) for a relative date, None for a day."""
        if isinstance(self.date, date):
            return None
        m = _RELATIVE.match(self.date)
        assert m is not None  # validated
        weeks = int(m["weeks"] or 0)
        return m["wave"], -weeks if m["sign"] == "-" else weeks

    def on(self, go_live: dict[str, date]) -> date:
        """The day, with relative dates resolved from the waves' go-live dates (KeyError: wave without one)."""
        relative = self.wave_offset()
        if relative is None:
            assert isinstance(self.date, date)
            return self.date
        wave, weeks = relative
        return go_live[wave] + timedelta(weeks=weeks)


class BenefitSpec(_Strict):
    """One benefit in the register file."""

    id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    title: str = Field(min_length=1, max_length=256)
    metric: str = Field(min_length=1, max_length=64)
    segment_type: str = "trust"
    segment_value: str = Field(TRUST, min_length=1, max_length=128)
    baseline: Point
    target: Point
    owner: str = Field(min_length=1, max_length=128)

    @field_validator("segment_type")
    @classmethod
    def _segment_type(cls, v: str) -> str:
        if v not in SEGMENTS:
            raise ValueError(f"unknown segment type {v!r}; choose from {', '.join(SEGMENTS)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> BenefitSpec:
        if self.segment_type == "trust" and self.segment_value != TRUST:
            raise ValueError(f"segment_value of the trust segment is {TRUST!r}, not {self.segment_value!r}")
        before = _comparable(self.baseline, self.target)
        if before is not None and not before:
            raise ValueError(f"target.date {self.target.date} must come after baseline.date {self.baseline.date}")
        return self


def _comparable(first: Point, second: Point) -> bool | None:
    """Whether `first` comes before `second`, when that is known without go-live dates (both days, or both
    relative to the same wave)."""
    a, b = first.wave_offset(), second.wave_offset()
    if a is None and b is None:
        return first.date < second.date  # type: ignore[operator]
    if a is not None and b is not None and a[0] == b[0]:
        return a[1] < b[1]
    return None


def read_yaml_entries(path: Path | str, key: str, noun: str) -> list[tuple[int, dict[str, Any]]]:
    """The list under `key` in a YAML file, as (position, mapping); ConfigError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{noun}s file {path} does not exist; create it or pass another file")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        raise ConfigError(f"{path} is not valid YAML{where}{': ' + problem if problem else ''}: "
                          "fix the syntax") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    except ValueError as exc:  # a value YAML reads as a date or time but is none (2026-13-01)
        raise ConfigError(f"{path} has a date that does not exist ({exc}): write dates as YYYY-MM-DD") from None
    if loaded is None:
        return []
    if not isinstance(loaded, dict) or set(loaded) - {key}:
        raise ConfigError(f"{path} must be a mapping with one key, '{key}:', holding a list of {noun}s")
    items = loaded.get(key) or []
    if not isinstance(items, list):
        raise ConfigError(f"{path}: '{key}' must be a list of {noun}s, not {type(items).__name__}")
    out = []
    for pos, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ConfigError(f"{path}: {noun} #{pos} must be a mapping of fields, not {type(item).__name__}")
        out.append((pos, item))
    return out


def describe_errors(path: Path | str, noun: str, pos: int, item: dict[str, Any], exc: ValidationError) -> str:
    """One line per problem: file, which entry (by id when it has one), field, and what is wrong."""
    name = item.get("id")
    who = f"{noun} {name!r}" if isinstance(name, str) and name else f"{noun} #{pos}"
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field: remove it or fix its spelling"
        elif err["type"] == "missing":
            msg = "required field is missing"
        lines.append(f"{path}: {who}, field '{field}': {msg}" if field else f"{path}: {who}: {msg}")
    return "; ".join(lines)


def known_metrics() -> dict[str, Any]:
    from warehouse.metrics.registry import all_metrics

    return all_metrics()


def unknown_metric_message(metric: str, known: Iterable[str]) -> str:
    return f"unknown metric {metric!r}; known metrics: {', '.join(sorted(known))}"


def validate_entries(path: Path | str, key: str, noun: str, model: type[Any],
                     check: Callable[[Any, Any], Iterable[str]]) -> list[Any]:
    """Validate the entries under `key` of a YAML file against `model`, each naming a metric and segment type.

    Shared by the benefits register and the alert rules: unique ids, a known metric computed by the
    segment type, then `check(entry, metric)` for the file's own rules. Every problem is reported together,
    with the file, the entry and the field, and nothing is returned unless all entries are valid.
    """
    metrics = known_metrics()
    entries: list[Any] = []
    problems: list[str] = []
    seen: set[str] = set()
    for pos, item in read_yaml_entries(path, key, noun):
        try:
            entry = model.model_validate(item)
        except ValidationError as exc:
            problems.append(describe_errors(path, noun, pos, item, exc))
            continue
        where = f"{path}: {noun} {entry.id!r}"
        if entry.id in seen:
            problems.append(f"{where}: the id is used twice; {noun} ids must be unique")
        seen.add(entry.id)
        metric = metrics.get(entry.metric)
        if metric is None:
            problems.append(f"{where}, field 'metric': {unknown_metric_message(entry.metric, metrics)}")
            continue
        if entry.segment_type not in metric.segments:
            problems.append(f"{where}, field 'segment_type': {entry.metric} is not computed by "
                            f"{entry.segment_type} (it is by {', '.join(metric.segments)})")
        problems.extend(f"{where}, {problem}" for problem in check(entry, metric))
        entries.append(entry)
    if problems:
        raise ConfigError("; ".join(problems))
    return entries


def _target_direction(spec: BenefitSpec, metric: Any) -> list[str]:
    sign = 1 if metric.better == "higher" else -1
    if sign * (spec.target.value - spec.baseline.value) < 0:
        return [f"field 'target.value': for {spec.metric} {metric.better} is better, so the target "
                f"{spec.target.value:g} must not be worse than the baseline {spec.baseline.value:g}"]
    return []


def load_register(path: Path | str) -> list[BenefitSpec]:
    """Read and validate the register; every problem is reported with the file, benefit and field."""
    return validate_entries(path, "benefits", "benefit", BenefitSpec, _target_direction)


# --- the register in the warehouse ---------------------------------------------------------------

def store_register(engine: Engine, specs: Sequence[BenefitSpec]) -> dict[str, int]:
    """Upsert the register into core.benefits; benefits no longer in the file are removed (with history).
    Dates relative to a wave's go-live are resolved from core.dim_wave."""
    with engine.begin() as conn:
        go_live = {str(w): d for w, d in conn.execute(sa.text(
            "select go_live_wave, go_live_date from core.dim_wave where go_live_date is not null"))}
        rows = [_row(s, go_live) for s in specs]
        existing = set(conn.execute(sa.text("select benefit_id from core.benefits")).scalars())
        if rows:
            conn.execute(sa.text(
                "insert into core.benefits (benefit_id, title, metric_id, segment_type, segment_value, "
                "baseline_value, baseline_date, target_value, target_date, owner, loaded_at) values "
                "(:id, :title, :metric, :st, :sv, :bv, :bd, :tv, :td, :owner, now()) "
                "on conflict (benefit_id) do update set title = excluded.title, metric_id = excluded.metric_id, "
                "segment_type = excluded.segment_type, segment_value = excluded.segment_value, "
                "baseline_value = excluded.baseline_value, baseline_date = excluded.baseline_date, "
                "target_value = excluded.target_value, target_date = excluded.target_date, "
                "owner = excluded.owner, loaded_at = now()"), rows)
        removed = conn.execute(sa.text(
            "delete from core.benefits where not (benefit_id = any(:ids))"), {"ids": [r["id"] for r in rows]}
        ).rowcount
    ids = {r["id"] for r in rows}
    return {"benefits": len(rows), "added": len(ids - existing), "updated": len(ids & existing),
            "removed": removed}


def _row(spec: BenefitSpec, go_live: dict[str, date]) -> dict[str, Any]:
    days = {}
    for name, point in (("baseline", spec.baseline), ("target", spec.target)):
        try:
            days[name] = point.on(go_live)
        except KeyError as missing:
            known = ", ".join(sorted(go_live)) or "none yet"
            raise ConfigError(
                f"benefit {spec.id}: {name}.date '{point.date}' counts from the go-live of {missing}, which has no "
                f"date (waves with one: {known}): set metrics.go_live_dates in realise.yaml, or correct the "
                "wave's name, then load the register again") from None
    if days["target"] <= days["baseline"]:
        raise ConfigError(f"benefit {spec.id}: target.date {days['target']} ('{spec.target.date}') must come after "
                          f"baseline.date {days['baseline']} ('{spec.baseline.date}')")
    return {"id": spec.id, "title": spec.title, "metric": spec.metric, "st": spec.segment_type,
            "sv": spec.segment_value, "bv": spec.baseline.value, "bd": days["baseline"], "tv": spec.target.value,
            "td": days["target"], "owner": spec.owner}


def _series(conn: Connection, metric_id: str, segment_type: str, segment_value: str,
            weeks: int) -> list[tuple[date, float | None]]:
    rows = conn.execute(sa.text(
        "select period_start, value from analytics.metric_latest where metric_id = :m and grain = 'week' "
        "and segment_type = :st and segment_value = :sv and period_start is not null "
        "order by period_start desc limit :w"),
        {"m": metric_id, "st": segment_type, "sv": segment_value, "w": weeks}).all()
    return [(r.period_start, r.value) for r in rows]


def evaluate_benefits(engine: Engine, *, refresh_id: int | None = None, today: date | None = None
                      ) -> list[dict[str, Any]]:
    """Compute every registered benefit's status and append it to core.benefit_status."""
    metrics = known_metrics()
    today = today or datetime.now(UTC).date()
    out: list[dict[str, Any]] = []
    with engine.begin() as conn:
        benefits = conn.execute(sa.text(
            "select benefit_id, metric_id, segment_type, segment_value, baseline_value, target_value, "
            "target_date from core.benefits order by benefit_id")).mappings().all()
        for b in benefits:
            metric = metrics.get(b["metric_id"])
            if metric is None:
                st = BenefitStatus(NO_DATA, f"metric {b['metric_id']} is not defined any more")
            else:
                # One week more than the window: the latest may be a week still under way, left out.
                values = _series(conn, b["metric_id"], b["segment_type"], b["segment_value"], WINDOW_WEEKS + 1)
                st = benefit_status(values, b["baseline_value"], b["target_value"], b["target_date"],
                                    metric.better, today)
                if not values:
                    st = BenefitStatus(NO_DATA, f"no weekly values of {b['metric_id']} for {b['segment_type']} "
                                                f"{b['segment_value']!r} yet: check the segment, or refresh metrics")
            row = {"benefit_id": b["benefit_id"], "refresh_id": refresh_id, "status": st.status,
                   "reason": st.reason, "current_value": st.current_value, "current_period": st.current_period,
                   "projected_value": st.projected_value, "slope_per_week": st.slope_per_week,
                   "points": st.points}
            out.append(row)
        if out:
            conn.execute(sa.text(
                "insert into core.benefit_status (benefit_id, refresh_id, status, reason, current_value, "
                "current_period, projected_value, slope_per_week, points) values (:benefit_id, :refresh_id, "
                ":status, :reason, :current_value, :current_period, :projected_value, :slope_per_week, :points)"),
                out)
    return out
