"""`realise bench confidentiality`: what each suppression rule costs in hidden cells, and what it buys.

On the generated trust the other benches use (bench.refresh.prepare), per rule set, on its own copy of the
loaded warehouse: a full refresh, then 1% more events (new ones and late answers for the past four weeks)
and an incremental refresh, as a trust sees after go-live. Rule sets: primary suppression only, primary plus
each further rule on its own, and every rule. Per metric and grain it prints the share of cells a reader
sees hidden or held (analytics.metric_latest) with primary suppression only and with all rules, and the
extra share each rule costs over primary alone; per rule set, the disclosure audit's findings
(warehouse/metrics/audit.py, run as realise_analyst over every refresh, with the go-live dates as public
knowledge).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

import pandas as pd
import sqlalchemy as sa

from foundation.config import Settings

RULES = ("secondary", "linked", "history")
PRIMARY = "primary"


def rule_sets(rules: Iterable[str] = RULES) -> dict[str, frozenset[str]]:
    """Named rule sets: primary only, primary plus each rule on its own, and all rules."""
    rules = tuple(rules)
    out = {PRIMARY: frozenset({PRIMARY})}
    out.update({f"+{r}": frozenset({PRIMARY, r}) for r in rules})
    out["all"] = frozenset({PRIMARY, *rules})
    return out


def hidden_shares(cells: pd.DataFrame) -> pd.Series:
    """Share of cells hidden per (metric, grain), from rows with metric_id, grain and suppressed."""
    if cells.empty:
        return pd.Series(dtype=float)
    return cells.groupby(["metric_id", "grain"])["suppressed"].mean().astype(float)


def cost_table(shares: dict[str, pd.Series]) -> pd.DataFrame:
    """Per metric and grain: hidden share with primary only, with all rules, and each rule's extra share
    over primary alone (columns `+rule`), from `hidden_shares` per rule set name."""
    frame = pd.DataFrame(shares).fillna(0.0)
    out = pd.DataFrame(index=frame.index)
    out["primary"] = frame.get(PRIMARY, 0.0)
    out["all"] = frame.get("all", 0.0)
    for name in frame.columns:
        if name.startswith("+"):
            out[name] = frame[name] - out["primary"]
    out["all - primary"] = out["all"] - out["primary"]
    return out.sort_index()


def render(table: pd.DataFrame, findings: dict[str, dict[str, int]]) -> str:
    """The cost table as text (percentages), then the audit's findings per rule set and route."""
    lines = []
    columns = list(table.columns)
    lines.append(f"{'metric':34} {'grain':18} " + " ".join(f"{c:>14}" for c in columns))
    for (metric, grain), row in table.iterrows():
        lines.append(f"{metric:34} {grain:18} " + " ".join(f"{100 * row[c]:>13.1f}%" for c in columns))
    if not table.empty:
        mean = table.mean()
        lines.append(f"{'mean over metrics and grains':53} " + " ".join(f"{100 * mean[c]:>13.1f}%" for c in columns))
    lines.append("")
    lines.append("audit findings (groups of 1..k-1 people pinned down) per rule set:")
    for name, counts in findings.items():
        routes = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "none"
        lines.append(f"  {name:12} {sum(counts.values()):>7}  {routes}")
    return "\n".join(lines)


def run_bench(settings: Settings, events: int, *, reuse: bool = False, say: Any = print) -> dict[str, Any]:
    """Refresh one copy of the warehouse per rule set, measure hidden shares and audit each."""
    from datetime import datetime, timedelta

    from bench.refresh import (
        admin_engine,
        create_database,
        drop_database,
        generated,
        load_records,
        prepare,
        with_database,
    )
    from foundation.database import create_engine
    from ingestion.service import quality_gate
    from synthetic import generate_trust
    from warehouse.metrics.audit import audit_connection
    from warehouse.metrics.engine import SuppressionPolicy, refresh
    from warehouse.metrics.service import metric_params

    url, built, base_url = prepare(settings, events, reuse=reuse, say=say)
    source = sa.engine.make_url(url).database
    admin = admin_engine(base_url)
    params = metric_params(settings)
    gate = quality_gate(settings)
    shares: dict[str, pd.Series] = {}
    findings: dict[str, dict[str, int]] = {}
    seconds: dict[str, float] = {}
    try:
        for name, rules in rule_sets().items():
            copy = f"realise_bench_conf_{uuid.uuid4().hex[:8]}"
            create_database(admin, copy, template=source)
            engine = create_engine(with_database(base_url, copy))
            try:
                policy = SuppressionPolicy(settings.metrics.min_group_size,
                                           settings.metrics.comment_min_group_size, frozenset(rules))
                started = time.perf_counter()
                refresh(engine, full=True, params=params, policy=policy)
                now = datetime.fromisoformat(built["now"])
                trust = generate_trust(built["staff"], seed=built["seed"])
                late = generated(trust, now, max(1, events // 100), seed=built["seed"] + 7919, prefix="late",
                                 since=now - timedelta(weeks=4))
                load_records(engine, settings, gate, late)
                refresh(engine, full=False, params=params, policy=policy)
                seconds[name] = round(time.perf_counter() - started, 1)
                with engine.connect() as conn:
                    cells = pd.DataFrame(conn.execute(sa.text(
                        "select metric_id, grain, suppressed or revision_pending as suppressed "
                        "from analytics.metric_latest")).mappings().all())
                    dates = {w: d for w, d in conn.execute(sa.text(
                        "select go_live_wave, go_live_date from core.dim_wave where go_live_date is not null"))}
                    conn.execute(sa.text("set role realise_analyst"))
                    result = audit_connection(conn, go_live_dates=dates)
                    conn.rollback()
                shares[name] = hidden_shares(cells)
                findings[name] = result.counts()
                say(f"{name}: {cells['suppressed'].mean():.1%} of {len(cells):,} cells hidden, "
                    f"{len(result.findings):,} audit findings")
            finally:
                engine.dispose()
                drop_database(admin, copy)
    finally:
        drop_database(admin, source)
        admin.dispose()
    table = cost_table(shares)
    say(render(table, findings))
    return {"events": events, "staff": built.get("staff"), "refresh_seconds": seconds,
            "hidden_share": {n: round(float(s.mean()), 4) if len(s) else 0.0 for n, s in shares.items()},
            "findings": {n: sum(c.values()) for n, c in findings.items()}}
