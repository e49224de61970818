"""Snapshots and failures: a restart loads a snapshot and replays only the tail; a snapshot from other engine
code is rebuilt from the events; an event the engine cannot apply is refused (or, already stored, set aside)
without stopping anything; a commit that fails leaves nothing applied and the sender is asked to resend."""

from __future__ import annotations

import io
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.base import CommandIssued, UserMessage
from adapters.console import ConsoleAdapter
from bot import runtime as runtime_module
from bot.assembly import assembled
from facilitation import ideas
from facilitation.events import ReplyPosted


def _adapter() -> ConsoleAdapter:
    return ConsoleAdapter(out=io.StringIO())


async def _start(adapter: ConsoleAdapter, channel: str | None = None) -> None:
    await adapter.send(CommandIssued(channel=channel or adapter.channel, person=adapter.person("Fay"),
                                     text="start own=private What should we learn?"))


async def _idea(adapter: ConsoleAdapter, who: str, text: str, ref: str) -> str | None:
    reply = await adapter.send(UserMessage(channel=adapter.channel, person=adapter.person(who), text=text,
                                           message_ref=ref, private=True))
    return reply.text if reply else None


def _db(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "facilitator.sqlite3")


async def test_a_restart_replays_only_the_events_after_the_snapshot(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(runtime_module, "SNAPSHOT_EVERY", 10)
    first = _adapter()
    async with assembled(first, database=tmp_path / "facilitator.sqlite3") as runtime:
        await _start(first)
        for n in range(25):
            await _idea(first, f"P{n % 5}", f"Idea number {n}", f"m{n}")
        before = next(iter(runtime.sessions.values())).model_dump()
    with _db(tmp_path) as db:
        (snap_seq,) = db.execute("SELECT seq FROM snapshots").fetchone()
        # Proof that the restart uses the snapshot: events it covers are gone, yet nothing is missing.
        db.execute("DELETE FROM events WHERE seq <= ?", (snap_seq,))
    assert snap_seq >= 20
    second = _adapter()
    async with assembled(second, database=tmp_path / "facilitator.sqlite3") as runtime:
        after = next(iter(runtime.sessions.values()))
        assert after.model_dump() == before
        assert second.messages == [], "a restart re-posted what was already posted"
        assert await _idea(second, "P1", "One more after the restart", "m99") is None
        assert [i.text for i in after.ideas][-1] == "One more after the restart"


async def test_a_snapshot_from_other_engine_code_is_rebuilt_from_the_events(tmp_path: Path) -> None:
    first = _adapter()
    async with assembled(first, database=tmp_path / "facilitator.sqlite3") as runtime:
        await _start(first)
        await _idea(first, "Ana", "Pay people for their time", "m1")
        before = next(iter(runtime.sessions.values())).model_dump()
    with _db(tmp_path) as db:
        # What an older release could have left: another version and a payload this code cannot read.
        db.execute("UPDATE snapshots SET version = 'older-code', payload = '{\"id\": 1}'")
    async with assembled(_adapter(), database=tmp_path / "facilitator.sqlite3") as runtime:
        assert next(iter(runtime.sessions.values())).model_dump() == before


async def test_an_event_the_engine_cannot_apply_is_refused_with_a_message_and_changes_nothing(
        tmp_path: Path, monkeypatch) -> None:
    real_add = ideas.add

    def add(t, person, text, *args, **kwargs):  # a bug in the engine that only this text reaches
        if "trip" in text:
            t.s.ideas.clear()  # half-way through changing the state, then it fails
            raise ValueError("engine bug")
        return real_add(t, person, text, *args, **kwargs)

    monkeypatch.setattr(ideas, "add", add)
    adapter = _adapter()
    async with assembled(adapter, database=tmp_path / "facilitator.sqlite3") as runtime:
        await _start(adapter)
        await _idea(adapter, "Ana", "Pay people for their time", "m1")
        answer = await _idea(adapter, "Ben", "This will trip the engine", "m2")
        assert answer is not None and "couldn't take that in" in answer
        session = next(iter(runtime.sessions.values()))
        assert [i.text for i in session.ideas] == ["Pay people for their time"], "the half-changed state was kept"
        assert await _idea(adapter, "Ben", "Publish what changed", "m3") is None
        assert [i.text for i in session.ideas] == ["Pay people for their time", "Publish what changed"]
    with _db(tmp_path) as db:
        assert "trip" not in " ".join(row[0] for row in db.execute("SELECT payload FROM events"))


async def test_a_stored_event_that_fails_on_replay_is_set_aside_and_the_bot_starts(tmp_path: Path, monkeypatch) -> None:
    first = _adapter()
    async with assembled(first, database=tmp_path / "facilitator.sqlite3") as runtime:
        await _start(first)
        await _idea(first, "Ana", "Pay people for their time", "m1")
        await _start(first, channel="other-channel")
        one, two = list(runtime.sessions)
        # Stored by an older release whose engine took it; this engine raises on it.
        await runtime.store.append(one, ReplyPosted(at=datetime.now(UTC), person="ben", name="Ben", text="poison",
                                                    message_ref="m2", private=True))
    real_add = ideas.add

    def add(t, person, text, *args, **kwargs):
        if text == "poison":
            raise ValueError("cannot apply")
        return real_add(t, person, text, *args, **kwargs)

    monkeypatch.setattr(ideas, "add", add)
    second = _adapter()
    async with assembled(second, database=tmp_path / "facilitator.sqlite3") as runtime:
        assert set(runtime.sessions) == {one, two}, "every session came back"
        assert [i.text for i in runtime.sessions[one].ideas] == ["Pay people for their time"]
        told = [m for m in second.messages if m.where == "private:fay" and "set it aside" in m.text]
        assert told, "the facilitator is told"
    third = _adapter()
    async with assembled(third, database=tmp_path / "facilitator.sqlite3"):
        assert not [m for m in third.messages if "set it aside" in m.text], "told once, skipped from then on"


async def test_a_commit_that_fails_applies_nothing_and_asks_to_resend(tmp_path: Path) -> None:
    adapter = _adapter()
    async with assembled(adapter, database=tmp_path / "facilitator.sqlite3") as runtime:
        await _start(adapter)
        with _db(tmp_path) as db:  # the disk refuses this one write, as a full disk or a locked file would
            db.execute("CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.payload LIKE '%refuse me%' "
                       "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
        answer = await _idea(adapter, "Ana", "Please refuse me", "m1")
        assert answer is not None and "send it again" in answer
        session = next(iter(runtime.sessions.values()))
        assert await _idea(adapter, "Ana", "Pay people for their time", "m2") is None
        session = next(iter(runtime.sessions.values()))
        assert [i.text for i in session.ideas] == ["Pay people for their time"]
        acks = [m for m in adapter.messages if m.where == "private:ana"]
        assert len(acks) == 1 and "Pay people" in acks[0].text, "only the saved idea was acknowledged"
    async with assembled(_adapter(), database=tmp_path / "facilitator.sqlite3") as runtime:
        assert [i.text for i in next(iter(runtime.sessions.values())).ideas] == ["Pay people for their time"]


@pytest.mark.parametrize("at_once", [1, 50])
async def test_replies_sent_together_are_all_kept_after_a_restart(tmp_path: Path, at_once: int) -> None:
    import asyncio

    adapter = _adapter()
    async with assembled(adapter, database=tmp_path / "facilitator.sqlite3"):
        await _start(adapter)
        texts = [f"Idea {n} about carers" for n in range(100)]
        for n in range(0, 100, at_once):
            await asyncio.gather(*(_idea(adapter, f"P{k % 10}", texts[k], f"m{k}") for k in range(n, n + at_once)))
    async with assembled(_adapter(), database=tmp_path / "facilitator.sqlite3") as runtime:
        assert sorted(i.text for i in next(iter(runtime.sessions.values())).ideas) == sorted(texts)
