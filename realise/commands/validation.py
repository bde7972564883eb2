"""`realise validation show|report`: the data-quality results ingest stores with every batch.

Everything is read from the analytics views (validation_results, validation_expectations, quarantine),
so the read-only `realise_analyst` role can run these commands as well as an operator.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from foundation.errors import UserError
from realise.commands.context import out, settings

app = typer.Typer(help="Data-quality (Great Expectations) results of ingest.", no_args_is_help=True)

KINDS = ("form_response", "helpdesk_ticket", "training_record", "skills_assessment")


def _engine() -> Any:
    from foundation.database import check_connection, warehouse_engine

    s = settings()
    engine = warehouse_engine(s)
    check_connection(engine)
    return engine


def collect(engine: Any, *, batches: int = 20, reasons: int = 25) -> dict[str, Any]:
    """Latest result per kind, the most recent batches, and quarantine counts: one dict for every output."""
    import sqlalchemy as sa

    from warehouse.loop import schema_hint

    with schema_hint(), engine.connect() as conn:
        latest = [dict(r) for r in conn.execute(sa.text(
            "select distinct on (kind) validation_id, validated_at, batch_id, consumer_group, kind, suite, records, "
            "failed_records, passed_records, success, expectations_evaluated, expectations_failed, expectations "
            "from analytics.validation_results order by kind, validated_at desc, validation_id desc")).mappings()]
        totals = {r["kind"]: dict(r) for r in conn.execute(sa.text(
            "select kind, count(*) as validations, sum(records) as records, sum(failed_records) as failed_records, "
            "count(*) filter (where not success) as failed_validations, min(validated_at) as first_validated_at "
            "from analytics.validation_results group by kind")).mappings()}
        recent = [dict(r) for r in conn.execute(sa.text(
            "select batch_id, max(validated_at) as validated_at, max(consumer_group) as consumer_group, "
            "jsonb_object_agg(kind, records) as records_by_kind, "
            "jsonb_object_agg(kind, failed_records) as failed_by_kind, sum(records) as records, "
            "sum(failed_records) as failed_records, bool_and(success) as success "
            "from analytics.validation_results group by batch_id "
            "order by max(validated_at) desc, batch_id desc nulls last limit :n"), {"n": batches}).mappings()]
        by_stage = [dict(r) for r in conn.execute(sa.text(
            "select stage, coalesce(kind, '(unknown)') as kind, count(*) as records "
            "from analytics.quarantine group by 1, 2 order by 3 desc, 1, 2")).mappings()]
        top_reasons = [dict(r) for r in conn.execute(sa.text(
            "select stage, reason, count(*) as records "
            "from (select stage, unnest(reasons) as reason from analytics.quarantine) q "
            "group by 1, 2 order by 3 desc, 1, 2 limit :n"), {"n": reasons}).mappings()]
    order = {k: i for i, k in enumerate(KINDS)}
    latest.sort(key=lambda r: (order.get(r["kind"], len(order)), r["kind"]))
    for row in latest:
        row["totals"] = totals.get(row["kind"], {})
    return {"generated_at": datetime.now(UTC), "latest": latest, "recent_batches": recent,
            "quarantine_by_stage": by_stage, "quarantine_reasons": top_reasons}


def _short_time(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}"


# --- show ----------------------------------------------------------------------------------------

@app.command("show")
def show_cmd(
    batches: int = typer.Option(10, min=1, max=1000, help="Recent batches to list."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """The latest validation of each kind, the expectations that failed, recent batches and quarantine."""
    data = collect(_engine(), batches=batches)
    if as_json:
        out.print_json(json.dumps(data, default=str))
        return
    if not data["latest"]:
        out.print("no validation results yet: they are written as ingest commits batches "
                  "(`realise ingest --drain`)")
        return
    table = Table(title="Latest validation per kind (suite realise.<kind>)")
    table.add_column("kind", no_wrap=True)
    for col in ("records", "failed", "rules held"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("at (UTC)", no_wrap=True)
    for r in data["latest"]:
        table.add_row(r["kind"], f"{r['records']:,}", f"{r['failed_records']:,}",
                      f"{r['expectations_evaluated'] - r['expectations_failed']}/{r['expectations_evaluated']}",
                      "[green]passed[/]" if r["success"] else "[red]failed[/]",
                      f"{r['validated_at'].astimezone(UTC):%d %b %H:%M}")
    out.print(table)
    for r in data["latest"]:
        failed = [e for e in r["expectations"] if not e["success"]]
        if failed:
            out.print(f"[bold]{r['kind']}[/]: rules broken in the latest batch")
            for e in failed:
                out.print(f"  - {e['rule']}: {e['unexpected_count']:,} records", highlight=False)
    recent = Table(title="Recent batches")
    for col in ("batch", "validated (UTC)", "records", "failed", "result"):
        recent.add_column(col, justify="right" if col in ("batch", "records", "failed") else "left", no_wrap=True)
    for b in data["recent_batches"]:
        recent.add_row(str(b["batch_id"] or ""), _short_time(b["validated_at"]), f"{b['records']:,}",
                       f"{b['failed_records']:,}", "[green]passed[/]" if b["success"] else "[red]failed[/]")
    out.print(recent)
    if data["quarantine_by_stage"]:
        stages = Table(title="Quarantined records by stage")
        for col in ("stage", "kind", "records"):
            stages.add_column(col, justify="right" if col == "records" else "left")
        for q in data["quarantine_by_stage"]:
            stages.add_row(q["stage"], q["kind"], f"{q['records']:,}")
        out.print(stages)


# --- report --------------------------------------------------------------------------------------

@app.command("report")
def report_cmd(
    out_file: Path = typer.Option(Path("validation-report.html"), "--out", "-o", help="HTML file to write."),
    batches: int = typer.Option(20, min=1, max=1000, help="Recent batches to list."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Write a self-contained HTML page of the latest validation results (no scripts, no external files)."""
    if out_file.exists() and out_file.is_dir():
        raise UserError(f"--out {out_file} is a directory: give a file name, e.g. {out_file / 'validation.html'}")
    if not out_file.parent.exists():
        raise UserError(f"--out {out_file}: directory {out_file.parent} does not exist")
    data = collect(_engine(), batches=batches)
    out_file.write_text(render_html(data), encoding="utf-8")
    summary = {"file": str(out_file), "kinds": len(data["latest"]),
               "failing_kinds": sum(not r["success"] for r in data["latest"]),
               "recent_batches": len(data["recent_batches"])}
    if as_json:
        out.print_json(json.dumps(summary))
        return
    out.print(f"wrote {out_file}: latest results of {summary['kinds']} kinds "
              f"({summary['failing_kinds']} with broken rules), {summary['recent_batches']} recent batches")


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Arial,sans-serif;margin:2rem auto;max-width:72rem;
  color:#212b32;padding:0 1rem;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:2px solid #005eb8}
h3{font-size:1.05rem;margin:1.4rem 0 .4rem}.meta{color:#4c6272;margin-top:0}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:.92rem}
th,td{border-bottom:1px solid #d8dde0;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f4f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#007f3b;font-weight:600}.fail{color:#d5281b;font-weight:600}
.cards{display:flex;flex-wrap:wrap;gap:.8rem}.card{border:1px solid #d8dde0;border-left:6px solid #007f3b;
  padding:.6rem .9rem;min-width:14rem}.card.bad{border-left-color:#d5281b}.card b{font-size:1.1rem}
code{background:#f0f4f5;padding:0 .2rem}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _n(value: Any) -> str:
    return "" if value is None else f"{int(value):,}"


def _count(value: Any, one: str, many: str | None = None) -> str:
    number = int(value or 0)
    return f"{number:,} {one if number == 1 else many or one + 's'}"


def _status(ok: bool) -> str:
    return '<span class="pass">passed</span>' if ok else '<span class="fail">failed</span>'


def _when(value: Any) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if isinstance(value, datetime) else _e(value)


def render_html(data: dict[str, Any]) -> str:
    """The report as one HTML document: inline CSS, every value escaped, readable without a browser script."""
    parts = ['<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>Realise data-quality report</title>", f"<style>{_CSS}</style></head><body>",
             "<h1>Realise data-quality report</h1>",
             f'<p class="meta">Generated {_when(data["generated_at"])}. Each ingest batch is '
             "checked by one Great Expectations suite per event kind before it loads; records that break a rule "
             "are quarantined with their reasons, the rest load in the same transaction as these results.</p>"]
    latest = data["latest"]
    if not latest:
        parts.append("<p>No validation results yet: they are written as ingest commits batches.</p>")
    else:
        parts.append('<h2>Latest batch per kind</h2><div class="cards">')
        for r in latest:
            bad = "" if r["success"] else " bad"
            parts.append(
                f'<div class="card{bad}"><b>{_e(r["kind"])}</b><br>{_status(r["success"])} &middot; '
                f'{_n(r["passed_records"])} of {_n(r["records"])} records passed<br>'
                f'{_n(r["expectations_evaluated"] - r["expectations_failed"])} of {_n(r["expectations_evaluated"])} '
                f"rules held</div>")
        parts.append("</div>")
        for r in latest:
            t = r.get("totals") or {}
            parts.append(
                f'<h3>{_e(r["kind"])} <small>suite <code>{_e(r["suite"])}</code>, batch {_e(r["batch_id"])}, '
                f'{_when(r["validated_at"])}</small></h3>'
                f'<p class="meta">All time: {_count(t.get("validations"), "validation")} of '
                f'{_count(t.get("records"), "record")}; {_count(t.get("failed_records"), "record")} failed; '
                f'{_count(t.get("failed_validations"), "batch", "batches")} with a broken rule.</p>'
                "<table><thead><tr><th>#</th><th>rule</th><th>column</th><th>expectation</th><th>result</th>"
                '<th class="n">unexpected records</th></tr></thead><tbody>')
            for i, e in enumerate(r["expectations"], start=1):
                parts.append(
                    f'<tr><td class="n">{i}</td><td>{_e(e.get("rule"))}</td><td><code>{_e(e.get("column"))}</code></td>'
                    f'<td><code>{_e(e.get("expectation"))}</code></td><td>{_status(bool(e.get("success")))}</td>'
                    f'<td class="n">{_n(e.get("unexpected_count"))}</td></tr>')
            parts.append("</tbody></table>")
    parts.append("<h2>Recent batches</h2>")
    if data["recent_batches"]:
        parts.append('<table><thead><tr><th class="n">batch</th><th>validated</th><th>consumer group</th>'
                     + "".join(f'<th class="n">{_e(k)}<br>records / failed</th>' for k in KINDS)
                     + "<th>result</th></tr></thead><tbody>")
        for b in data["recent_batches"]:
            records, failed = b["records_by_kind"] or {}, b["failed_by_kind"] or {}
            cells = "".join(
                f'<td class="n">{_n(records[k])} / {_n(failed.get(k))}</td>' if k in records else '<td class="n"></td>'
                for k in KINDS)
            parts.append(f'<tr><td class="n">{_e(b["batch_id"])}</td><td>{_when(b["validated_at"])}</td>'
                         f'<td>{_e(b["consumer_group"])}</td>{cells}<td>{_status(bool(b["success"]))}</td></tr>')
        parts.append("</tbody></table>")
    else:
        parts.append("<p>None yet.</p>")
    parts.append("<h2>Quarantine</h2>")
    if data["quarantine_by_stage"]:
        parts.append('<p class="meta">Records not loaded, by the check that rejected them: <code>decode</code> '
                     "(bytes or JSON), <code>contract</code> (event schema), <code>quality</code> (the rules "
                     "above), <code>routing</code> (unknown topic).</p>"
                     '<table><thead><tr><th>stage</th><th>kind</th><th class="n">records</th></tr></thead><tbody>')
        for q in data["quarantine_by_stage"]:
            parts.append(f'<tr><td>{_e(q["stage"])}</td><td>{_e(q["kind"])}</td>'
                         f'<td class="n">{_n(q["records"])}</td></tr>')
        parts.append('</tbody></table><h3>Most frequent reasons</h3><table><thead><tr><th>stage</th><th>reason</th>'
                     '<th class="n">records</th></tr></thead><tbody>')
        for q in data["quarantine_reasons"]:
            parts.append(f'<tr><td>{_e(q["stage"])}</td><td>{_e(q["reason"])}</td>'
                         f'<td class="n">{_n(q["records"])}</td></tr>')
        parts.append("</tbody></table>")
    else:
        parts.append("<p>No record has been quarantined.</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
