"""Progress bars appear only on a terminal; library code reporting without them costs nothing and prints nothing."""

from __future__ import annotations

import io

from rich.console import Console

from foundation import progress


def test_without_a_terminal_nothing_is_drawn_and_reports_go_nowhere():
    stream = io.StringIO()
    with progress.bars(Console(file=stream)) as bars:
        assert not progress.active()
        bars.update("ingest", 10, 100, "records")
        progress.current().advance("ingest")
    assert stream.getvalue() == ""


def test_on_a_terminal_bars_show_what_library_code_reports_and_stop_afterwards():
    stream = io.StringIO()
    with progress.bars(Console(file=stream, force_terminal=True, width=100)):
        assert progress.active()
        progress.current().update("metrics", 36, 36, "metrics refreshed")
        counter = progress.stream_counter("publish", "source records published")
        counter("servicenow/incidents", 700)
        counter("xapi/statements", 300)
        counter("servicenow/incidents", 900)
    assert not progress.active()
    shown = stream.getvalue()
    assert "metrics refreshed" in shown and "36/36" in shown
    assert "source records published" in shown and "1200" in shown


def test_bars_do_not_nest():
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True)
    with progress.bars(console) as outer, progress.bars(console) as inner:
        assert inner is outer
    assert not progress.active()
