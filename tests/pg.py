"""A real PostgreSQL server for the tests, started by them: initdb in a temporary directory, the server on a
free loopback port, stopped (and its files removed) at the end of the session. PostgreSQL refuses to run as
root, so as root the server runs as the unprivileged system user `facilitator-test` (created when missing).
Each test gets a database of its own. No mock of the database anywhere.

The binaries come from `pg_config --bindir`, Debian's /usr/lib/postgresql/*/bin, or PATH; .ci/run installs
Debian's `postgresql` package where it is missing. Without them the PostgreSQL tests are skipped, except in CI
(CI=true), where they fail."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "facilitator-test"


def bindir() -> Path | None:
    """Where initdb, pg_ctl and psql are, or None."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out:
            candidates.append(Path(out))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).resolve().parent)  # type: ignore[arg-type]
    for path in candidates:
        if all((path / tool).exists() for tool in ("initdb", "pg_ctl", "psql")):
            return path
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One server for the session; `database()` makes an empty database and returns its URL."""

    def __init__(self, bins: Path, durable: bool = False) -> None:
        self.bins = bins
        self.durable = durable  # fsync on, as in production (bench/scaleout.py); off for the tests' speed
        self.root = Path(tempfile.mkdtemp(prefix="facilitator-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._names = itertools.count(1)
        self._as: list[str] = []
        if os.geteuid() == 0:  # the server will not run as root
            try:
                pwd.getpwnam(USER)
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                               check=True)
            shutil.chown(self.root, USER)
            self._as = ["runuser", "-u", USER, "--"]

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self._as, *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {result.stdout}{result.stderr}")

    def start(self) -> None:
        self._run(str(self.bins / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync")
        # fsync off: a test server's data need not survive a power cut, and the suite runs faster.
        self.resume()

    def resume(self) -> None:
        """Started on its data (after `initdb`, or `halt`)."""
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   f"-c fsync={'on' if self.durable else 'off'} -c max_connections=300")
        self._run(str(self.bins / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                  "-w", "-t", "60", "start")

    def halt(self) -> None:
        """Stopped as an operator stops it, its data kept: every connection is closed and none is taken."""
        self._run(str(self.bins / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def restart(self) -> None:
        """As an operator restarts it (an upgrade, a change of settings): every connection to it is closed."""
        self._run(str(self.bins / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-l", str(self.root / "log"),
                  "-w", "-t", "60", "restart")

    def url(self, name: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run([str(self.bins / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                                 self.url(database), "-c", sql], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout

    def database(self) -> str:
        name = f"t{os.getpid()}_{next(self._names)}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.bins / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
