"""The console does what the bot tells people to type, writes the note files it says it sends, and keeps its
message numbers across a restart."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from adapters.console import ConsoleAdapter
from bot.assembly import assembled
from bot.cli import main


async def _lines(adapter: ConsoleAdapter, *lines: str) -> str:
    out = adapter.out
    assert isinstance(out, io.StringIO)
    start = len(out.getvalue())
    for line in lines:
        await adapter.user_line(line)
    return out.getvalue()[start:]


async def test_commands_typed_as_the_bot_says_work_without_a_slash(tmp_path: Path) -> None:
    adapter = ConsoleAdapter(out=io.StringIO())
    async with assembled(adapter, database=tmp_path / "facilitator.sqlite3") as runtime:
        await _lines(adapter, "Fay /start own=open What should we change?", "Ana: Pay people for their time",
                     "Ben: Publish what changed", "Fay next")
        session = next(iter(runtime.sessions.values()))
        assert session.phase is not None and session.phase.kind == "pair", "'Fay next' moved the session on"
        for pair in session.pairs:
            await _lines(adapter, f"{pair.members[0]} pick #1 because it is fair")
        await _lines(adapter, "Fay next", "Fay next")
        assert "Your ballot is saved" in await _lines(adapter, "Dee vote 1 1")
        await _lines(adapter, "Fay next")
        shown = await _lines(adapter, "Fay theme rename 1 Money and time")
        assert "**1. Money and time**" in shown
        assert "Type: Name: text" not in shown, "no usage line for a command typed as the bot says"
        assert "Ana: Pay people" not in await _lines(adapter, "Ana pay people more"), "not a command: usage"


async def test_approve_reaches_the_newest_note_by_command_or_direct_message(tmp_path: Path) -> None:
    adapter = ConsoleAdapter(out=io.StringIO())
    async with assembled(adapter, database=tmp_path / "facilitator.sqlite3"):
        for n, how in enumerate(["Fay /approve", "Fay /approve", "Fay dm: approve", "Fay approve"], start=1):
            await _lines(adapter, f"Fay /start Question number {n}?", f"Ana: An idea for {n}", "Fay /end")
            said = await _lines(adapter, how)
            assert "the round-up note has been posted" in said, (how, said)
            assert "Press Join" not in said and "no session running" not in said
        assert "There's no session here yet. Start one" in await _lines(adapter, "Fay /help"), "over: how to start"


def test_the_console_writes_the_note_files_it_says_it_sends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Fay /start What should we change?\nAna: Listen more\nFay /end\n"))
    assert main(["console", "--db", str(tmp_path / "console.sqlite3")]) == 0
    out = capsys.readouterr().out
    [said] = re.findall(r"\[DM to Fay, files (.+?)\]", out)
    files = [Path(f) for f in said.split(", ")]
    assert [f.name for f in files] == [f"round-up-what-should-we-change.{x}" for x in ("md", "json", "html")]
    assert all(f.parent == tmp_path / "notes" for f in files), "next to the database, as README says"
    assert "Listen more" in files[0].read_text(encoding="utf-8") and "Listen more" in files[1].read_text()


def test_message_numbers_carry_on_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "console.sqlite3")
    monkeypatch.setattr("sys.stdin", io.StringIO("Fay /start What should we change?\nAna: Listen more\n"))
    main(["console", "--db", db])
    first = capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("Ben: Pay people\nFay /status\n"))
    main(["console", "--db", db])
    second = capsys.readouterr().out
    bots = [int(n) for n in re.findall(r"bot \(b(\d+)\)", first)]
    users = [int(n) for n in re.findall(r"\(u(\d+)\)", first)]
    assert re.findall(r"bot \(b(\d+)\)", second) and re.findall(r"\(u(\d+)\)", second)
    assert min(int(n) for n in re.findall(r"bot \(b(\d+)\)", second)) > max(bots)
    assert min(int(n) for n in re.findall(r"\(u(\d+)\)", second)) > max(users)
