"""`facilitator` as a real process: a fatal error at start exits at once with a non-zero code, and Ctrl-C or
SIGTERM stops the console, `run slack` and `run discord` cleanly (stores closed, what was committed kept)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.contract.slack_harness import TOKEN
from tests.discord.fake_discord import FakeDiscord
from tests.slack.fake_slack import FakeSlack

ROOT = Path(__file__).resolve().parents[2]
HANG = 60  # seconds: only a guard against a hang (the bug this file is about), never a speed assertion


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACILITATOR_", "SLACK_", "DISCORD_"))}
    return {**env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "FACILITATOR_GROUPING": "lexical",
            "FACILITATOR_DATABASE": str(tmp_path / "bot.sqlite3"), **extra}


async def _facilitator(args: Sequence[str], env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, env=env, cwd=cwd, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def _read_until(stream: asyncio.StreamReader, marker: str) -> str:
    seen = ""
    while marker not in seen:
        line = await asyncio.wait_for(stream.readline(), HANG)
        assert line, f"the process ended before saying {marker!r}:\n{seen}"
        seen += line.decode()
    return seen


async def _until(condition: Callable[[], bool]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG
    while not condition():
        assert loop.time() < deadline, "it never happened"
        await asyncio.sleep(0.02)


async def _stop(proc: asyncio.subprocess.Process, sig: signal.Signals) -> str:
    """Send the signal: the process ends of itself, with code 0 and no traceback. Returns what it logged."""
    assert proc.stderr is not None
    proc.send_signal(sig)
    assert await asyncio.wait_for(proc.wait(), HANG) == 0
    err = (await proc.stderr.read()).decode()
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    return err


def _events(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT COUNT(*) FROM events").fetchone()[0]


@pytest.mark.parametrize("command", [["demo", "--fast"], ["console"],
                                     ["simulate", "tests/scenarios/council.toml", "--out", "OUT"]])
async def test_a_language_with_no_messages_file_exits_at_once_naming_the_file(
    tmp_path: Path, command: list[str]
) -> None:
    args = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    proc = await _facilitator(args, _env(tmp_path, FACILITATOR_LANGUAGE="xx"), ROOT)
    out, err = await asyncio.wait_for(proc.communicate(b""), HANG)  # used to hang: a store thread outlived the error
    assert proc.returncode == 2
    assert "xx.toml" in err.decode() and "Traceback" not in err.decode()
    assert "Breakout session" not in out.decode()


async def test_a_broken_default_structure_stops_run_slack_at_once(tmp_path: Path) -> None:
    fake = FakeSlack()
    await fake.start()
    try:
        env = _env(tmp_path, SLACK_BOT_TOKEN=TOKEN, SLACK_APP_TOKEN="xapp-1-fake", SLACK_API_URL=fake.api_url,
                   FACILITATOR_SESSION__STRUCTURE="no-such-structure")
        proc = await _facilitator(["run", "slack"], env, tmp_path)
        _, err = await asyncio.wait_for(proc.communicate(), HANG)
    finally:
        await fake.stop()
    assert proc.returncode != 0
    assert "no-such-structure" in err.decode() and "Traceback" not in err.decode()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_the_console_stops_cleanly_on_ctrl_c_or_sigterm_and_keeps_the_session(
    tmp_path: Path, sig: signal.Signals
) -> None:
    db = tmp_path / "console.sqlite3"
    proc = await _facilitator(["console", "--db", str(db)], _env(tmp_path), tmp_path)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.write(b"Fay /start What should we change first?\n")
    await proc.stdin.drain()
    await _read_until(proc.stdout, "Breakout session")
    await _stop(proc, sig)  # the console is waiting for the next typed line
    assert not Path(f"{db}-wal").exists(), "the store was closed (SQLite folds its log in on the last close)"
    assert _events(db) == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_run_discord_stops_cleanly_on_ctrl_c_or_sigterm(tmp_path: Path, sig: signal.Signals) -> None:
    fake = FakeDiscord()
    fay = fake.add_user("Fay")
    await fake.start()
    try:
        env = _env(tmp_path, DISCORD_TOKEN="fake-token", DISCORD_API_URL=fake.api_url,
                   DISCORD_GATEWAY_URL=fake.gateway_url)
        proc = await _facilitator(["run", "discord"], env, tmp_path)
        assert proc.stderr is not None
        await _read_until(proc.stderr, "serving sessions on Discord")
        ix = await fake.slash(fay, fake.channel_id, "start", {"question": "What should we change first?"})
        await asyncio.wait_for(ix.answered.wait(), HANG)
        # the session is committed before its question is posted
        await _until(lambda: any("What should we change first?" in m["content"] for m in fake.bot_messages()))
        await _stop(proc, sig)
    finally:
        await fake.stop()
    db = tmp_path / "bot.sqlite3"
    assert not Path(f"{db}-wal").exists(), "the store was closed"
    assert _events(db) == 1, "the session started before the signal is kept"
    assert (tmp_path / "bot.discord-forms.sqlite3").exists(), "the forms beside the database"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_run_slack_stops_cleanly_on_ctrl_c_or_sigterm(tmp_path: Path, sig: signal.Signals) -> None:
    fake = FakeSlack()
    await fake.start()
    try:
        env = _env(tmp_path, SLACK_BOT_TOKEN=TOKEN, SLACK_APP_TOKEN="xapp-1-fake", SLACK_API_URL=fake.api_url,
                   FACILITATOR_DATABASE=str(tmp_path / "data" / "bot.sqlite3"))
        proc = await _facilitator(["run", "slack"], env, tmp_path)
        assert proc.stderr is not None
        await _read_until(proc.stderr, "Slack Socket Mode: connected")
        assert sorted(p.name for p in (tmp_path / "data").glob("*.sqlite3")) == ["bot.slack-forms.sqlite3",
                                                                                   "bot.sqlite3"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["data"], "nothing in the folder it was run from"
        logged = await _stop(proc, sig)
    finally:
        await fake.stop()
    assert not Path(f"{tmp_path / 'data' / 'bot.sqlite3'}-wal").exists(), "the store was closed"
    assert "token` will be unused" not in logged, "no alarming warning from slack-bolt at every start"


@pytest.mark.parametrize(("env", "says"), [
    ({"SLACK_BOT_TOKEN": "xoxb-revoked-1", "SLACK_APP_TOKEN": "xapp-1-fake"}, "SLACK_BOT_TOKEN was refused by Slack"),
    ({"SLACK_BOT_TOKEN": "xapp-1-fake", "SLACK_APP_TOKEN": TOKEN}, "the two are swapped"),
    ({"SLACK_BOT_TOKEN": TOKEN, "SLACK_APP_TOKEN": "not-a-token"}, "SLACK_APP_TOKEN is not an app-level token"),
])
async def test_wrong_slack_tokens_give_one_line_that_says_what_to_fix(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    fake = FakeSlack()
    fake.bot_token = TOKEN
    await fake.start()
    try:
        proc = await _facilitator(["run", "slack"], _env(tmp_path, SLACK_API_URL=fake.api_url, **env), tmp_path)
        _, err = await asyncio.wait_for(proc.communicate(), HANG)
    finally:
        await fake.stop()
    lines = err.decode().strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and says in lines[0], lines


async def test_a_wrong_discord_token_gives_one_line(tmp_path: Path) -> None:
    fake = FakeDiscord()
    await fake.start()
    try:
        env = _env(tmp_path, DISCORD_TOKEN="not-the-token", DISCORD_API_URL=fake.api_url,
                   DISCORD_GATEWAY_URL=fake.gateway_url)
        proc = await _facilitator(["run", "discord"], env, tmp_path)
        _, err = await asyncio.wait_for(proc.communicate(), HANG)
    finally:
        await fake.stop()
    text = err.decode()
    assert proc.returncode != 0 and "DISCORD_TOKEN was refused by Discord" in text and "Traceback" not in text


async def test_ctrl_c_ends_the_demo_quietly(tmp_path: Path) -> None:
    proc = await _facilitator(["demo"], _env(tmp_path), tmp_path)
    assert proc.stdout is not None
    await _read_until(proc.stdout, "Breakout session")
    await _stop(proc, signal.SIGINT)
