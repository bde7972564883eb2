"""`realise benefits|alerts|actions ...`: the benefits register and the alert → action loop."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from foundation.errors import UserError
from realise.commands.context import out, print_json, settings

benefits_app = typer.Typer(help="The benefits register.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts raised by metric rules.", no_args_is_help=True)
actions_app = typer.Typer(help="Actions taken on alerts, and whether they worked.", no_args_is_help=True)

STATUS_STYLE = {"on track": "green", "at risk": "yellow", "off track": "red", "no data": "dim",
                "not evaluated": "dim"}


def _engine() -> Any:
    from foundation.database import check_connection, warehouse_engine

    s = settings()
    engine = warehouse_engine(s)
    check_connection(engine)
    return s, engine


def _schema_checked(fn: Callable[..., None]) -> Callable[..., None]:
    """Commands on a warehouse migrated before these tables and views existed say `realise db upgrade`."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from warehouse.loop import schema_hint

        with schema_hint():
            fn(*args, **kwargs)
    return wrapper


def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _today() -> date:
    return datetime.now(UTC).date()


def _parse_date(value: str, option: str) -> date:
    if value.strip().lower() == "today":
        return _today()
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise UserError(f"{option} {value!r} is not a date: write it as YYYY-MM-DD (e.g. 2026-12-01) "
                        "or 'today'") from None


# --- benefits ------------------------------------------------------------------------------------

def _benefit_rows(engine: Any) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(
            "select benefit_id, title, metric_id, segment_type, segment_value, unit, better, baseline_value, "
            "baseline_date, target_value, target_date, owner, status, status_reason, current_value, "
            "current_period, projected_value, slope_per_week, status_computed_at from analytics.benefits "
            "order by benefit_id")).mappings()]


def _benefits_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    table.add_column("benefit", ratio=1)
    for col in ("baseline", "target", "latest", "projected"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for r in rows:
        style = STATUS_STYLE.get(r["status"], "")
        table.add_row(
            f"{r['title']}\n[dim]{r['benefit_id']}[/]",
            f"{_num(r['baseline_value'])}\n[dim]{r['baseline_date']}[/]",
            f"{_num(r['target_value'])}\n[dim]{r['target_date']}[/]",
            f"{_num(r['current_value'])}\n[dim]{r['current_period'] or ''}[/]", _num(r["projected_value"]),
            f"[{style}]{r['status']}[/]" if style else r["status"])
    return table


def _benefit_notes(rows: list[dict[str, Any]]) -> None:
    """Measure, owner and the reason for the status, one paragraph per benefit."""
    for r in rows:
        segment = "trust" if r["segment_type"] == "trust" else f"{r['segment_type']} {r['segment_value']}"
        reason = f" - {r['status_reason']}" if r["status_reason"] else ""
        out.print(f"[bold]{r['benefit_id']}[/] ({r['metric_id']}, {segment}; owner {r['owner']}): "
                  f"{r['status']}{reason}", highlight=False)


@benefits_app.command("load")
@_schema_checked
def benefits_load(
    file: Path | None = typer.Argument(None, help="Register file (default: metrics.benefits_file, benefits.yaml)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Validate the register file and load it into the warehouse (benefits no longer in it are removed)."""
    from warehouse.benefits import evaluate_benefits, load_register, store_register

    s = settings()
    path = file or Path(s.metrics.benefits_file)
    specs = load_register(path)  # validate before touching the warehouse
    _, engine = _engine()
    counts = store_register(engine, specs)
    evaluate_benefits(engine)
    rows = _benefit_rows(engine)
    if as_json:
        print_json({"file": str(path), **counts, "register": rows})
        return
    out.print(f"loaded {counts['benefits']} benefits from {path}: {counts['added']} added, "
              f"{counts['updated']} updated, {counts['removed']} removed")
    if rows:
        out.print(_benefits_table(rows, "Benefits register"))
        _benefit_notes(rows)


@benefits_app.command("status")
@_schema_checked
def benefits_status(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Each benefit's status from its measure's trajectory (as of the last metrics refresh or load)."""
    _, engine = _engine()
    rows = _benefit_rows(engine)
    if as_json:
        print_json(rows)
        return
    if not rows:
        raise UserError("the benefits register is empty: load it with `realise benefits load [FILE]`")
    out.print(_benefits_table(rows, "Benefits register"))
    _benefit_notes(rows)


# --- alerts --------------------------------------------------------------------------------------

@alerts_app.command("list")
@_schema_checked
def alerts_list(
    show_all: bool = typer.Option(False, "--all", help="Include resolved alerts."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Open alerts (with --all, resolved ones too), newest first."""
    import sqlalchemy as sa

    _, engine = _engine()
    where = "" if show_all else "where status = 'open'"
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.text(
            "select alert_id, rule_id, metric_id, segment_type, segment_value, period, value, threshold, message, "
            f"status, opened_at, last_seen_at, resolved_at, actions, open_actions from analytics.alerts {where} "
            "order by opened_at desc, alert_id desc")).mappings()]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no alerts" if show_all else "no open alerts (--all shows resolved ones)")
        return
    table = Table(title="Alerts" if show_all else "Open alerts")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("alert", ratio=1)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("actions", justify="right", no_wrap=True)
    for r in rows:
        since = f"open since {r['opened_at']:%Y-%m-%d}" if r["status"] == "open" else \
            f"resolved {r['resolved_at']:%Y-%m-%d}"
        table.add_row(str(r["alert_id"]),
                      f"{r['message']}\n[dim]{r['rule_id']} - {r['segment_type']} {r['segment_value']}, week of "
                      f"{r['period']}, {since}[/]",
                      _num(r["value"]), r["status"], f"{r['open_actions']} open / {r['actions']}")
    out.print(table)


@alerts_app.command("rules")
def alerts_rules(
    file: Path | None = typer.Argument(None, help="Rules file (default: metrics.alert_rules_file, alerts.yaml)."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Validate the alert rules file and show its rules (they run after every metrics refresh)."""
    from warehouse.alerts import load_rules

    path = file or Path(settings().metrics.alert_rules_file)
    rules = load_rules(path)
    if as_json:
        print_json([r.model_dump() for r in rules])
        return
    table = Table(title=f"Alert rules in {path}")
    table.add_column("rule / metric", no_wrap=True)
    table.add_column("segment type", no_wrap=True)
    table.add_column("condition (weekly)")
    table.add_column("min n", justify="right", no_wrap=True)
    for r in rules:
        table.add_row(f"{r.id}\n[dim]{r.metric}[/]", r.segment_type, r.describe(), str(r.min_n))
    out.print(table)


# --- actions -------------------------------------------------------------------------------------

@actions_app.command("add")
@_schema_checked
def actions_add(
    alert_id: int = typer.Argument(..., help="Alert the action responds to (see `realise alerts list`)."),
    what: str = typer.Option(..., "--what", help="What will be done, e.g. 'Floor-walkers on Ward 7B'."),
    owner: str = typer.Option(..., "--owner", help="Who owns the action."),
    due: str = typer.Option(..., "--due", help="Due date, YYYY-MM-DD."),
    when: str = typer.Option("today", "--date", help="When the action takes effect (YYYY-MM-DD or today): "
                                                     "metrics before and after it are compared."),
    as_json: bool = typer.Option(False, "--json", help="Print the action as JSON."),
) -> None:
    """Record an action taken on an alert."""
    import sqlalchemy as sa

    due_date = _parse_date(due, "--due")
    action_date = _parse_date(when, "--date")
    what, owner = what.strip(), owner.strip()
    if not what:
        raise UserError("--what is empty: say what will be done")
    if not owner or len(owner) > 128:
        raise UserError("--owner must be 1 to 128 characters")
    if due_date < action_date:
        raise UserError(f"--due {due_date} is before the action date {action_date}")
    _, engine = _engine()
    with engine.begin() as conn:
        alert = conn.execute(sa.text("select alert_id, status from core.alerts where alert_id = :id"),
                             {"id": alert_id}).first()
        if alert is None:
            raise UserError(f"no alert {alert_id}: see `realise alerts list --all` for alert ids")
        action_id = conn.execute(sa.text(
            "insert into core.actions (alert_id, description, owner, due_date, action_date) "
            "values (:a, :d, :o, :due, :date) returning action_id"),
            {"a": alert_id, "d": what, "o": owner, "due": due_date, "date": action_date}).scalar_one()
    data = {"action_id": action_id, "alert_id": alert_id, "description": what, "owner": owner,
            "due_date": due_date, "action_date": action_date, "status": "open", "alert_status": alert.status}
    if as_json:
        print_json(data)
        return
    note = " (the alert is already resolved)" if alert.status != "open" else ""
    out.print(f"action {action_id} recorded on alert {alert_id}{note}: {what} - {owner}, due {due_date}")


@actions_app.command("list")
@_schema_checked
def actions_list(
    show_all: bool = typer.Option(True, "--all/--open", help="All actions (default) or only open ones."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Actions with the alert's metric before and after the action date (mean of 4 weeks each side)."""
    import sqlalchemy as sa

    _, engine = _engine()
    where = "" if show_all else "where status = 'open'"
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.text(
            "select action_id, alert_id, rule_id, metric_id, segment_type, segment_value, alert_status, "
            "description, owner, due_date, status, action_date, overdue, before_value, before_weeks, after_value, "
            f"after_weeks, change, improved, change_ci_low, change_ci_high, beyond_noise, better, unit "
            f"from analytics.actions {where} "
            "order by action_id")).mappings()]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no actions yet: record one with `realise actions add ALERT_ID --what ... --owner ... --due ...`")
        return
    table = Table(title="Actions")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("action", ratio=1)
    table.add_column("status", no_wrap=True)
    table.add_column("before", justify="right", no_wrap=True)
    table.add_column("after", justify="right", no_wrap=True)
    table.add_column("better?", no_wrap=True)
    for r in rows:
        status = r["status"] + ("\n[red]overdue[/]" if r["overdue"] else "")
        improved = "" if r["improved"] is None else ("[green]yes[/]" if r["improved"] else "[red]no[/]")
        if r["improved"] is not None and r["beyond_noise"] is not None:
            improved += "" if r["beyond_noise"] else "\n[dim]within noise[/]"
        table.add_row(
            str(r["action_id"]),
            f"{r['description']}\n[dim]{r['owner']}, due {r['due_date']}; alert {r['alert_id']} "
            f"({r['alert_status']}): {r['metric_id']} {r['segment_type']} {r['segment_value']}, "
            f"from {r['action_date']}[/]",
            status, f"{_num(r['before_value'])}\n[dim]{r['before_weeks']} wk[/]",
            f"{_num(r['after_value'])}\n[dim]{r['after_weeks']} wk[/]", improved)
    out.print(table)
    out.print("[dim]before/after: mean weekly value over the 4 weeks starting before / from the action date; "
              "suppressed weeks are left out; within noise: the change's 95% interval includes no change[/]")


@actions_app.command("done")
@_schema_checked
def actions_done(action_id: int = typer.Argument(..., help="Action to mark done (see `realise actions list`)."),
                 as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON.")) -> None:
    """Mark an action done."""
    import sqlalchemy as sa

    _, engine = _engine()
    with engine.begin() as conn:
        row = conn.execute(sa.text("select status from core.actions where action_id = :id"),
                           {"id": action_id}).first()
        if row is None:
            raise UserError(f"no action {action_id}: see `realise actions list` for action ids")
        already = row.status == "done"
        if not already:
            conn.execute(sa.text("update core.actions set status = 'done' where action_id = :id"),
                         {"id": action_id})
    if as_json:
        print_json({"action_id": action_id, "status": "done", "changed": not already})
        return
    out.print(f"action {action_id} is already done" if already else f"action {action_id} done")
