"""Progress bars for long work (ingest drain, demo publishing, metrics refresh).

Library code reports through `current()`, which does nothing unless a command opened bars with `bars()`;
bars are drawn on stderr and only when it is a terminal, so captured output, CI logs and `--json` stay
clean. One reporter per process: Prefect runs a flow's tasks in worker threads, which a context variable
would not reach, and the work reported on is the CLI's own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.console import Console


class Reporter(Protocol):
    def update(self, key: str, completed: float, total: float | None = None,
               description: str | None = None) -> None:
        """Set the bar `key` (created on first use) to `completed` of `total` (None: unknown yet)."""

    def advance(self, key: str, amount: float = 1, description: str | None = None) -> None:
        """Move the bar `key` on by `amount`."""


class _Silent:
    """What library code reports to when no command asked for bars: does nothing, costs one call."""

    active = False

    def update(self, key: str, completed: float, total: float | None = None,
               description: str | None = None) -> None:
        return None

    def advance(self, key: str, amount: float = 1, description: str | None = None) -> None:
        return None


class _Bars:
    active = True

    def __init__(self, progress: object) -> None:
        from rich.progress import Progress, TaskID

        assert isinstance(progress, Progress)
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def _task(self, key: str, description: str | None, total: float | None) -> object:
        with self._lock:
            if key not in self._tasks:
                self._tasks[key] = self._progress.add_task(description or key, total=total)
            return self._tasks[key]

    def update(self, key: str, completed: float, total: float | None = None,
               description: str | None = None) -> None:
        task = self._task(key, description, total)
        fields: dict[str, object] = {"completed": completed}
        if total is not None:
            fields["total"] = max(total, completed)
        if description is not None:
            fields["description"] = description
        self._progress.update(task, **fields)  # type: ignore[arg-type]

    def advance(self, key: str, amount: float = 1, description: str | None = None) -> None:
        task = self._task(key, description, None)
        self._progress.update(task, advance=amount, **({"description": description} if description else {}))  # type: ignore[arg-type]


_SILENT = _Silent()
_current: _Silent | _Bars = _SILENT


def current() -> Reporter:
    """The reporter in force: bars while a command shows them, otherwise one that does nothing."""
    return _current


def active() -> bool:
    """Whether anyone is watching: lets work that costs something to measure (e.g. a backlog) skip it."""
    return _current.active


def stream_counter(key: str, description: str) -> Callable[[str, int], None]:
    """A callback for running counts per stream (a connector's pages): one bar showing their sum."""
    counts: dict[str, int] = {}

    def report(stream: str, records: int) -> None:
        counts[stream] = records
        current().update(key, sum(counts.values()), None, description)

    return report


@contextmanager
def bars(console: Console, enabled: bool | None = None) -> Iterator[Reporter]:
    """Show bars on `console` for the duration (by default only when it is a terminal)."""
    global _current
    if not (console.is_terminal if enabled is None else enabled) or _current.active:
        yield _current
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        _current = _Bars(progress)
        try:
            yield _current
        finally:
            _current = _SILENT
