"""`realise report` on a realistic warehouse, opened in headless Chromium.

The warehouse is loaded through the real writer (generated events of all four kinds, the staff directory,
go-live dates, the benefits register), metrics are refreshed (which evaluates benefits and opens alerts),
and an action with hostile text is recorded on an alert. The installed `realise report` writes the file;
Chromium opens it with every non-file request aborted and recorded, checks that every chart drew with no
console error, that suppressed cells are marked without a value, that the hostile text shows as text, and
that the print layout fits A4 landscape. A screenshot and a PDF are kept under test-artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bench.refresh import load_records, records, set_go_live_dates
from foundation.config import Settings
from foundation.database import create_engine
from ingestion.service import quality_gate
from synthetic import generate_events, generate_trust
from warehouse.benefits import load_register, store_register
from warehouse.directory import DirectoryEntry, load_directory
from warehouse.metrics import published
from warehouse.metrics.service import refresh_metrics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
REALISE = str(Path(sys.executable).with_name("realise"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-quic", "--disable-sync"]
HOSTILE = "<img src=x onerror=alert(1)> Floor-walkers <script>alert(2)</script>"
HOSTILE_OWNER = "Matron & \"co\" <b>"
A4_LANDSCAPE_PX = 1047  # 297 mm minus 2 x 10 mm margins, at 96 px per inch
SUPPRESSED = re.compile(r"^suppressed \(n < (\d+)\)$")
SUPPRESSED_TEXT = re.compile(r"suppressed \(n < \d+\)")
WEEK = re.compile(r"w/c\s\d+\s\w+\s\d{4}")  # the week a suppressed value belongs to may be named


def _realise(cwd: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REALISE_", "PREFECT_"))}
    env.update({"REALISE_WAREHOUSE_URL": url, "REALISE_DATA_DIR": str(cwd / "realise")})
    return subprocess.run([REALISE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def _build_warehouse(url: str) -> None:
    """Generated events through the real writer, directory, go-live dates, register, refresh, one action."""
    settings = Settings.model_validate({"warehouse": {"url": url}, "prefect": {"emit_events": False}})
    engine = create_engine(url)
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    trust = generate_trust(900, seed=5)
    events = generate_events(trust, now=now, seed=5, forms=2500, tickets=1500, training=3000, skills=800)
    try:
        totals = load_records(engine, settings, quality_gate(settings), [list(records(events))])
        assert totals["loaded"] == len(events), totals
        load_directory(engine, (DirectoryEntry(s.pseudonym, s.org_unit, s.org_path, s.staff_group, s.band,
                                               s.system, s.go_live_wave) for s in trust.staff))
        set_go_live_dates(engine, trust, now)
        store_register(engine, load_register(ROOT / "benefits.yaml"))
        refresh_metrics(engine, settings, full=True)
        with engine.begin() as conn:
            alert_id = conn.execute(sa.text(
                "select alert_id from analytics.alerts where status = 'open' order by alert_id limit 1")).scalar()
            assert alert_id is not None, "the generated trust should breach at least one alert rule"
            conn.execute(sa.text(
                "insert into core.actions (alert_id, description, owner, due_date, action_date) "
                "values (:a, :d, :o, current_date + 7, current_date - 21)"),
                {"a": alert_id, "d": HOSTILE, "o": HOSTILE_OWNER})
    finally:
        engine.dispose()


def _open(browser: Any, path: Path, viewport: dict[str, int]) -> tuple[Any, dict[str, list[str]], float]:
    """The report in a new page with the network cut off: what it asked for, and how long it took to draw."""
    seen: dict[str, list[str]] = {"errors": [], "requests": [], "blocked": [], "dialogs": []}
    page = browser.new_page(viewport=viewport)
    page.on("console", lambda m: seen["errors"].append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: seen["errors"].append(f"page error: {e}"))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))

    def route(r: Any) -> None:
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            seen["blocked"].append(r.request.url)
            r.abort()

    page.route("**/*", route)
    started = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("() => [...document.querySelectorAll('figure.chart')].every("
                           "f => f.querySelector('.js-plotly-plot .main-svg'))", timeout=30_000)
    return page, seen, time.perf_counter() - started


def test_given_a_loaded_warehouse_when_the_report_is_written_then_it_renders_offline_with_every_chart(
        warehouse_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from playwright.sync_api import sync_playwright

    _build_warehouse(warehouse_url)
    out = tmp_path / "out" / "report.html"
    done = _realise(tmp_path, warehouse_url, "report", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert str(out) in done.stdout and out.is_file()
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", html), "the page loads a resource"
    assert HOSTILE not in html and HOSTILE_OWNER not in html  # only escaped

    ARTIFACTS.mkdir(exist_ok=True)
    shot, pdf = ARTIFACTS / "report.png", ARTIFACTS / "report.pdf"
    shutil.copyfile(out, ARTIFACTS / "report.html")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page, seen, seconds = _open(browser, out, {"width": 1366, "height": 768})
            figures = page.locator("figure.chart")
            names = [figures.nth(i).get_attribute("data-chart") for i in range(figures.count())]
            for section in ("readiness", "helpdesk", "experience", "skills-groups", "skills-domains", "themes"):
                assert section in names, f"no {section} chart in {names}"
            assert any(n.startswith("benefit-") for n in names) and any(n.startswith("action-") for n in names)
            spc = [i for i, n in enumerate(names) if n.startswith("spc-")]
            assert "spc-net_experience_score" in names, f"no SPC chart of the net experience score in {names}"
            # At least one headline measure has 12 published weeks: its values, mean and limits are drawn, and
            # its variation icon is beside it.
            assert max(figures.nth(i).locator(".main-svg g.trace").count() for i in spc) >= 3, "no SPC limits drawn"
            assert page.locator("#spc td svg.spc-icon").count() >= 1, "no variation or assurance icon"
            assert page.locator("#spc tbody tr").count() == len(spc)
            for i, name in enumerate(names):
                chart = figures.nth(i)
                assert chart.locator(".js-plotly-plot .main-svg").count() >= 1, f"{name} did not render"
                assert chart.locator(".main-svg g.trace").count() >= 1, f"{name} drew no trace"
                box = chart.locator(".js-plotly-plot").bounding_box()
                assert box and 0 < box["width"] <= 1000 and 0 < box["height"] <= 700, (name, box)

            marks = page.locator("td .sup, th .sup")
            assert marks.count() > 0, "no suppressed cell is marked"
            for text in marks.all_inner_texts():
                assert SUPPRESSED.match(text), text
            for cell in page.locator("td:has(.sup)").all_inner_texts():
                rest = WEEK.sub("", SUPPRESSED_TEXT.sub("", cell))
                assert not re.search(r"\d", rest), f"a suppressed cell shows a number: {cell!r}"
            assert page.locator("figure.chart svg pattern").count() > 0, "no chart marks a suppressed cell"
            assert page.get_by_text(re.compile(r"groups of fewer than \d+ people are never shown")).count() == 1
            assert page.get_by_text("Data last refreshed").count() == 1

            assert page.get_by_text(HOSTILE).count() >= 1, "hostile action text is not shown as text"
            assert page.locator("img").count() == 0 and not seen["dialogs"]

            page.screenshot(path=str(shot), full_page=True)
            page.set_viewport_size({"width": A4_LANDSCAPE_PX, "height": 740})
            page.emulate_media(media="print")
            widest = page.evaluate("document.documentElement.scrollWidth")
            assert widest <= A4_LANDSCAPE_PX, f"the printed page is {widest} px wide"
            page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
        finally:
            browser.close()

    assert not seen["errors"], seen["errors"]
    assert not seen["blocked"], f"the report tried the network: {seen['blocked']}"
    assert all(u.startswith("file:") for u in seen["requests"]), seen["requests"]
    assert pdf.read_bytes().startswith(b"%PDF") and shot.stat().st_size > 50_000
    with capsys.disabled():
        print(f"\nreport {out.stat().st_size / 1024:,.0f} KB, {len(names)} charts, drawn in {seconds:.2f} s; "
              f"screenshot {shot}; print {pdf}; page {ARTIFACTS / 'report.html'}")


def test_given_an_empty_warehouse_when_the_report_runs_then_it_says_to_refresh_metrics_first(
        warehouse_url: str, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    line = _one_line_error(_realise(tmp_path, warehouse_url, "report", "--out", str(out)))
    assert "run `realise metrics refresh` first" in line
    assert not out.exists()


def test_given_no_warehouse_at_the_address_when_the_report_runs_then_it_names_the_address_and_setting(
        tmp_path: Path) -> None:
    from conftest import free_port

    url = f"postgresql://realise:secret@127.0.0.1:{free_port()}/realise"
    line = _one_line_error(_realise(tmp_path, url, "report", "--out", str(tmp_path / "r.html")))
    assert "REALISE_WAREHOUSE_URL" in line and "secret" not in line


def test_given_an_unwritable_path_when_the_report_runs_then_it_says_so_in_one_line(
        warehouse_url: str, tmp_path: Path) -> None:
    engine = create_engine(warehouse_url)
    week = (datetime.now(UTC) - timedelta(days=7)).date()
    with engine.begin() as conn:  # one cell is enough to get past the empty-warehouse check
        conn.execute(sa.text(
            "insert into core.metric_definitions (metric_id, title, description, unit, numerator, denominator, "
            "better, min_group_size, updated_at) values ('net_experience_score', 'Net experience score', 't', "
            "'score', 'n', 'd', 'higher', 5, now())"))
        conn.execute(sa.text(
            "insert into core.metric_values (refresh_id, metric_id, grain, period, period_start, segment_type, "
            "segment_value, value, n, suppressed, computed_at) values (1, 'net_experience_score', 'week', "
            ":p, :ps, 'trust', 'all', 12.5, 40, false, now())"), {"p": week.isoformat(), "ps": week})
        published.remember(conn, 1)
    engine.dispose()
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    line = _one_line_error(_realise(tmp_path, warehouse_url, "report", "--out", str(blocker / "report.html")))
    assert "cannot write the report" in line
