"""`realise metrics ...`: refresh, list and show benefits-realisation metrics."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from foundation import progress
from foundation.errors import UserError
from realise.commands.context import err, out, settings

app = typer.Typer(help="Benefits-realisation and adoption metrics.", no_args_is_help=True)


def _engine() -> Any:
    from foundation.database import check_connection, warehouse_engine

    s = settings()
    engine = warehouse_engine(s)
    check_connection(engine)
    return s, engine


@app.command("refresh")
def refresh_cmd(
    full: bool = typer.Option(False, "--full", help="Recompute every period (default: only those with new data)."),
    metric: list[str] = typer.Option(None, "--metric", "-m", help="Only these metric ids."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Recompute metrics into analytics.metric_values (history) and analytics.metric_latest."""
    from warehouse.metrics.registry import all_metrics
    from warehouse.metrics.service import refresh_metrics

    s, engine = _engine()
    unknown = set(metric or []) - set(all_metrics())
    if unknown:
        raise UserError(f"unknown metric {', '.join(sorted(unknown))}: see `realise metrics list`")
    with progress.bars(err):
        result = refresh_metrics(engine, s, full=full, metric_ids=metric or None)
    data = {"refresh_id": result.refresh_id, "mode": result.mode, "metrics": result.metrics,
            "cells": result.cells, "suppressed": result.suppressed, "seconds": round(result.seconds, 3),
            "min_group_size": s.metrics.min_group_size, "loop": result.loop}
    if as_json:
        out.print_json(json.dumps(data))
        return
    out.print(f"refresh {data['refresh_id']} ({data['mode']}): {data['metrics']} metrics, {data['cells']:,} cells, "
              f"{data['suppressed']:,} suppressed (groups under {data['min_group_size']}), {data['seconds']:.2f} s")
    loop = result.loop or {}
    if loop:
        statuses = ", ".join(f"{n} {k}" for k, n in sorted((loop.get("benefit_status") or {}).items()))
        out.print(f"benefits: {loop.get('benefits', 0)} ({statuses or 'none'}); alerts: "
                  f"{loop.get('alerts_opened', 0)} opened, {loop.get('alerts_resolved', 0)} resolved, "
                  f"{loop.get('alerts_open', 0)} open")


@app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """The metric registry: what each metric measures, its type and whether its cells decompose."""
    from warehouse.metrics.registry import all_metrics

    metrics = all_metrics()
    rows = [{"id": m.id, "title": m.title, "unit": m.unit, "better": m.better, "numerator": m.numerator,
             "denominator": m.denominator, "interval": m.interval, "description": m.description,
             "type": m.type, "decomposes": m.decomposes, "structure": m.structure()}
            for m in metrics.values()]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title="Metrics")
    for col in ("id", "title", "unit", "better", "type", "decomposes"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["id"], r["title"], r["unit"], r["better"], r["type"], "yes" if r["decomposes"] else "no")
    out.print(table)


def _print_definition(metric: Any) -> None:
    """The metric's declared structure: type, measures, expressions, base template and interval."""
    from rich.markup import escape

    s = metric.structure()
    out.print(f"[bold]{escape(metric.id)}[/]: {escape(metric.title)} ({escape(metric.unit)}, "
              f"{metric.better} is better)")
    out.print(f"type: {s['type']}; decomposes: {'yes' if s['decomposes'] else 'no (regrouped)'}")
    table = Table(title="Measures")
    for col in ("name", "agg", "expr", "filter", "additive"):
        table.add_column(col)
    for m in s["measures"]:
        agg = f"percentile({m['percentile']})" if "percentile" in m else m["agg"]
        table.add_row(m["name"], agg, escape(m["expr"]), escape(m.get("filter") or ""),
                      "yes" if m["additive"] else "no")
    out.print(table)
    out.print(f"value = {escape(s['value'])}")
    if s["numerator"] or s["denominator"]:
        out.print(f"numerator = {s['numerator'] or '-'}; denominator = {s['denominator'] or '-'}")
    out.print(f"n = {escape(s['n'])}")
    interval = s["interval"]
    out.print("interval: " + ", ".join(f"{k} {escape(' '.join(v) if isinstance(v, list) else str(v))}"
                                      for k, v in interval.items()))
    out.print(f"base rows: warehouse/metrics/sql/{escape(metric.base.describe())}")
    if metric.rows_of is not None:
        out.print(f"a full refresh draws them from: warehouse/metrics/sql/{escape(metric.rows_of.describe())}")


@app.command("show")
def show_cmd(
    metric_id: str = typer.Argument(..., help="Metric id (see `realise metrics list`)."),
    segment: str = typer.Option("trust", help="Segment type: trust, org_level_1, org_level_2, org_unit, "
                                               "staff_group, system, go_live_wave."),
    grain: str = typer.Option("week", help="week or week_since_go_live."),
    limit: int = typer.Option(20, help="Most recent periods to show."),
    definition: bool = typer.Option(False, "--definition",
                                    help="Only the metric's structure (measures, type, expressions, template); "
                                         "needs no database."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """The metric's structure, then its latest values by period and segment with their 95% intervals;
    suppressed cells are marked and carry no value."""
    import sqlalchemy as sa

    from warehouse.metrics.registry import all_metrics

    metric = all_metrics().get(metric_id)
    if definition:
        if metric is None:
            raise UserError(f"unknown metric {metric_id}: see `realise metrics list`")
        if as_json:
            out.print_json(json.dumps({"id": metric.id, "title": metric.title, **metric.structure()}))
        else:
            _print_definition(metric)
        return
    _, engine = _engine()
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "select period, segment_value, value, ci_low, ci_high, n, suppressed, suppression_reason, "
            "revision_pending "
            "from analytics.metric_latest "
            "where metric_id = :m and segment_type = :s and grain = :g "
            "and period in (select distinct period from analytics.metric_latest where metric_id = :m "
            "and grain = :g order by period desc limit :limit) order by period desc, segment_value"),
            {"m": metric_id, "s": segment, "g": grain, "limit": limit}).mappings().all()
    if not rows:
        raise UserError(f"no values for {metric_id} by {segment} ({grain}): run `realise metrics refresh`, "
                        "or check the metric id and segment")
    data = [dict(r) for r in rows]
    if as_json:
        out.print_json(json.dumps(data, default=str))
        return
    if metric is not None:
        _print_definition(metric)
    table = Table(title=f"{metric_id} by {segment} ({grain})")
    for col in ("period", "segment", "value", "95% interval", "n"):
        table.add_column(col, justify="left" if col in ("period", "segment") else "right")
    for r in data:
        shown = ("suppressed" if r["suppressed"] else "no value" if r["value"] is None else f"{r['value']:.1f}"
                 + (" (revision pending)" if r["revision_pending"] else ""))
        interval = ("" if r["ci_low"] is None or r["ci_high"] is None
                    else f"{r['ci_low']:.1f} to {r['ci_high']:.1f}")
        table.add_row(r["period"], r["segment_value"], shown, interval, "" if r["suppressed"] else str(r["n"]))
    out.print(table)
    out.print("[dim]95% interval: the values the data are consistent with, allowing for chance (Wilson for "
              "percentages, adjusted Wald for net scores, t for means, exact Poisson for rates); none for "
              "medians and counts.[/]")
