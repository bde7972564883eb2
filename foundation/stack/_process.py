"""Process and port helpers shared by the embedded services.

Every service runs detached in its own session, so a Ctrl-C in the terminal that started it or the exit of
that Python process leaves it running; `realise down` is the way to stop it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from foundation.errors import UserError

HOST = "127.0.0.1"

# Children started by this Python process, kept so that stopping one also reaps it instead of leaving a zombie.
_children: dict[int, subprocess.Popen[bytes]] = {}


class PortInUse(UserError):
    """The port a service should listen on is held by another program."""

    def __init__(self, service: str, port: int, hint: str = "") -> None:
        self.service, self.port = service, port
        self.summary = (
            f"port {port} on {HOST} is already in use by another program, so the embedded {service} "
            "cannot listen on it"
        )
        super().__init__(f"{self.summary}; {hint or 'stop that program or choose another port'}")


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something is bound to or listening on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def accepts_connections(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 10) -> str:
    """The last lines of a service log, for error messages."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16_384))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log written)"
    tail = [line.rstrip() for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(f"  | {line}" for line in tail) if tail else "(log is empty)"


def service_failed(service: str, log: Path, reason: str, goal: str = "start") -> UserError:
    """A UserError whose message ends with the service log's tail, where the actual cause usually is."""
    return UserError(f"the embedded {service} did not {goal}: {reason}; last lines of {log}:\n{log_tail(log)}")


def spawn(
    command: Sequence[str], log: Path, *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a detached process (own session, output appended to `log`) that outlives this interpreter."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(command)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    _children[proc.pid] = proc
    return proc


def alive(pid: int | None, marker: str) -> bool:
    """True when `pid` is a live (not zombie) process whose command line mentions `marker`.

    The marker guards against a stale pid file whose number the OS has since given to another program.
    """
    if pid is None:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            _reap(pid)
            return False
        return any(marker in part for part in proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def write_pid(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(path)


def stop_group(pid: int, grace: float = 5.0) -> None:
    """SIGTERM the process group led by `pid`, then SIGKILL whatever is left after `grace` seconds."""
    _signal_group(pid, signal.SIGTERM)
    if not _wait_gone(pid, grace):
        _signal_group(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0)
    _reap(pid)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                _reap(pid)
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def _reap(pid: int) -> None:
    proc = _children.get(pid)
    if proc is not None and proc.poll() is not None:
        _children.pop(pid, None)


class DetachedService:
    """A server process that outlives the command that started it, tracked by a pid file.

    Subclasses name the service and say how to start it (`command`, `environment`) and how to tell it is
    ready (`ready`); starting, waiting, failing with the log tail and stopping are shared.
    """

    name = ""
    label = ""
    marker = ""  # a word in the process's command line, so a reused pid is not mistaken for ours
    pid_name = "server.pid"
    start_timeout = 30.0
    poll_interval = 0.2

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.home = self.data_dir / self.name
        self.pid_file = self.home / self.pid_name
        self.log_path = self.data_dir / "logs" / f"{self.name}.log"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        return None

    def ready(self) -> bool:
        raise NotImplementedError

    def waiting_for(self) -> str:
        return f"it did not answer on {self.address}"

    def pid(self) -> int | None:
        pid = read_pid(self.pid_file)
        return pid if alive(pid, self.marker) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self, timeout: float | None = None) -> None:
        """Start the process and wait until `ready`; no-op if already running."""
        if self.is_running():
            return
        if port_in_use(self.port):
            raise PortInUse(self.label, self.port)
        timeout = self.start_timeout if timeout is None else timeout
        command = self.command()
        self.home.mkdir(parents=True, exist_ok=True)
        proc = spawn(command, self.log_path, env=self.environment(), cwd=self.home)
        write_pid(self.pid_file, proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise service_failed(self.label, self.log_path, f"it exited with code {proc.returncode}")
            if self.ready():
                return
            time.sleep(self.poll_interval)
        self.stop()
        raise service_failed(self.label, self.log_path, f"{self.waiting_for()} within {timeout:.0f} s")

    def stop(self, grace: float = 5.0) -> None:
        """Terminate the process group, killing stragglers after `grace` seconds."""
        pid = self.pid()
        if pid is not None:
            stop_group(pid, grace)
        self.pid_file.unlink(missing_ok=True)
