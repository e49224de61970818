"""Restarts: open sessions come back from the event log, nothing is posted twice, missed timers fire late."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path

from adapters.base import CommandIssued, UserMessage
from adapters.console import ConsoleAdapter
from bot.assembly import assembled
from facilitation.events import ReplyPosted


def _adapter() -> ConsoleAdapter:
    return ConsoleAdapter(out=io.StringIO())


async def _start(adapter: ConsoleAdapter, options: str = "own=open") -> None:
    await adapter.send(CommandIssued(channel=adapter.channel, person=adapter.person("Fay"),
                                     text=f"start {options} What should we learn?"))


async def test_a_restart_restores_sessions_and_posts_nothing_again(tmp_path: Path) -> None:
    first = _adapter()
    async with assembled(first, database=tmp_path / "facilitator.sqlite3") as runtime:
        await _start(first)
        root = next(m.ref for m in first.messages if m.where == "channel")
        await first.send(UserMessage(channel=first.channel, person=first.person("Ana"), text="Listen more",
                                     message_ref="m1", reply_to_ref=root))
        before = runtime.sessions.copy()
    second = _adapter()
    async with assembled(second, database=tmp_path / "facilitator.sqlite3") as runtime:
        assert runtime.sessions.keys() == before.keys()
        restored = next(iter(runtime.sessions.values()))
        assert [i.text for i in restored.ideas] == ["Listen more"]
        assert second.messages == [], "a restart re-posted what was already posted"
        # The restored session still takes replies to the posts made before the restart.
        await second.send(UserMessage(channel=second.channel, person=second.person("Ben"), text="Pay people",
                                      message_ref="m2", reply_to_ref=root))
        assert [i.text for i in runtime.sessions[restored.id].ideas] == ["Listen more", "Pay people"]


async def test_effects_interrupted_by_a_crash_are_carried_out_once_on_restart(tmp_path: Path) -> None:
    first = _adapter()
    async with assembled(first, database=tmp_path / "facilitator.sqlite3") as runtime:
        await _start(first, "own=private")
        session = next(iter(runtime.sessions.values()))
        # The crash window: the event is durable but the process dies before the engine's effects run.
        await runtime.store.append(session.id, ReplyPosted(
            at=datetime.now(UTC), person="ana", name="Ana", text="An idea sent just before the crash",
            message_ref="m9", private=True))
    second = _adapter()
    async with assembled(second, database=tmp_path / "facilitator.sqlite3") as runtime:
        acks = [m for m in second.messages if "An idea sent just before the crash" in m.text]
        assert len(acks) == 1 and acks[0].where == "private:ana"
    third = _adapter()
    async with assembled(third, database=tmp_path / "facilitator.sqlite3"):
        assert third.messages == []


async def test_a_timer_that_fell_due_while_down_fires_late_not_never(tmp_path: Path) -> None:
    first = _adapter()
    async with assembled(first, database=tmp_path / "facilitator.sqlite3"):
        await _start(first, "minutes=own:0.01")  # Own ends 0.6 s after the start
        for name in ("Ana", "Ben"):  # people to pair, so Pair has something to do and waits for its clock
            await first.send(CommandIssued(channel=first.channel, person=first.person(name), text="join"))
    await asyncio.sleep(1.0)  # the process is "down" past the deadline
    second = _adapter()
    async with assembled(second, database=tmp_path / "facilitator.sqlite3") as runtime:
        for _ in range(40):
            if any("**Pair**" in m.text for m in second.messages):
                break
            await asyncio.sleep(0.05)
        assert any("**Pair**" in m.text for m in second.messages)
        assert next(iter(runtime.sessions.values())).phase.kind == "pair"


async def test_sessions_in_two_channels_are_isolated_and_one_person_can_be_in_both(tmp_path: Path) -> None:
    adapter = _adapter()
    async with assembled(adapter, database=tmp_path / "facilitator.sqlite3") as runtime:
        await _start(adapter)
        adapter.channel = "#other"
        await _start(adapter)
        roots = [m for m in adapter.messages if m.where == "channel"]
        assert len(runtime.sessions) == 2 and len(roots) == 2
        for root, text in zip(roots, ["For the first", "For the second"], strict=True):
            await adapter.send(UserMessage(channel=adapter.channel, person=adapter.person("Ana"), text=text,
                                           message_ref=f"r-{text}", reply_to_ref=root.ref))
        by_session = {s.id: [i.text for i in s.ideas] for s in runtime.sessions.values()}
        assert by_session == {roots[0].session_id: ["For the first"], roots[1].session_id: ["For the second"]}
