"""SQLite takes one bot process: a second one on the same file is refused at start, with a message naming the
file and the process that has it; the file is free again once that process ends, even by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _console(db: Path, stdin: int | None = subprocess.PIPE) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "console", "--db", str(db)], cwd=ROOT, text=True,
                            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _holding(db: Path, proc: subprocess.Popen[str]) -> None:
    """Wait until `proc` holds the database's lock (its pid is in the lock file)."""
    lock = db.with_name(db.name + ".lock")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if lock.exists() and lock.read_text().strip() == str(proc.pid):
            return
        time.sleep(0.05)
    raise AssertionError(f"the first bot never took the database: {proc.communicate()}")


def test_a_second_bot_on_the_same_sqlite_file_is_refused_naming_the_file_and_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite3"
    first = _console(db)
    try:
        _holding(db, first)
        second = _console(db, stdin=subprocess.DEVNULL)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2
        assert str(db) in err and f"pid {first.pid}" in err and "postgresql://" in err
        assert "Traceback" not in err
    finally:
        first.communicate("", timeout=60)  # Ctrl-D: the first one stops as usual
    assert first.returncode == 0
    third = _console(db, stdin=subprocess.DEVNULL)  # free again once its holder stopped
    third.communicate(timeout=60)
    assert third.returncode == 0


def test_a_bot_killed_with_sigkill_leaves_no_stale_lock(tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite3"
    first = _console(db)
    _holding(db, first)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    again = _console(db, stdin=subprocess.DEVNULL)
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
