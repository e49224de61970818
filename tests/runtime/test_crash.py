"""A session killed with SIGKILL mid-phase and restarted carries on with every reply and its timer."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.runtime.crash_worker import IDEAS

ROOT = Path(__file__).resolve().parents[2]


def _worker(db: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "tests.runtime.crash_worker", str(db), str(log)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _events(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # the tables are not there yet


def _lines(log: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []


def test_killed_mid_phase_the_session_resumes_without_loss_or_repeats(tmp_path: Path) -> None:
    db, log = tmp_path / "crash.sqlite3", tmp_path / "bot.jsonl"
    first = _worker(db, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _events(db) < 12:  # some ideas in, well before Own ends
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert _events(db) >= 12, "the worker never got going"
    assert not any("**Pair**" in m["text"] for m in _lines(log)), "killed too late to test anything"

    second = _worker(db, log)
    assert second.wait(timeout=60) == 0
    lines = _lines(log)
    texts = [m["text"] for m in lines]
    assert sum("**Breakout session" in t for t in texts) == 1
    assert sum("**Own**" in t for t in texts) == 1
    assert sum("**Pair**" in t for t in texts) == 1, "the Own timer fired once, after the restart"
    posts = [(m["label"], m["text"]) for m in lines]
    assert len(posts) == len(set(posts)), "a bot message was posted twice"
    pair_spaces = "\n".join(t for m, t in posts if m.startswith("pair space"))
    for idea in IDEAS:
        assert idea in pair_spaces, f"{idea!r} was lost"
