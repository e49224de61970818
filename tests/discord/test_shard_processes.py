"""Two real bot processes (`facilitator run discord`, shards 0/2 and 1/2) on one PostgreSQL and one loopback fake
Discord, which routes the gateway as Discord does: a server's events to its shard, DMs to shard 0.

Each process has its own addresses on the fake (`/as/p0/`, `/as/p1/`), so the fake records which process's
gateway connection got each event and which process answered each interaction; each process's log says which
shards it runs.

- A session in a server on shard 1: its slash commands and buttons reach process 1 and are answered by it;
  people's private ideas, sent by DM, arrive at process 0 (shard 0), which saves them into that session through
  the shared store; the note holds every idea; the convenor's Approve, pressed in their DM, reaches process 0,
  which posts the note in the channel on shard 1.
- At the same time, a session in a server on shard 0 runs on process 0.
- Shard 1's process restarted mid-session: while it is down nothing answers in its server, DMs still reach
  process 0 and land in the session; once back, it takes the session to its note with every idea.
- Shard 1's process killed mid-Pair: shard 0's process sends what it owed in that server, once, and fires Pair's
  timer."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.discord.fake_discord import FakeDiscord, FakeInteraction

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60  # seconds: a generous bound on a loaded 2-core machine, never a speed assertion


@dataclass
class BotProcess:
    """`facilitator run discord` in a process of its own, reading its log as it goes."""

    name: str
    proc: asyncio.subprocess.Process
    again: Callable[[], Awaitable[BotProcess]]  # the same command, started afresh
    log: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, name: str, fake: FakeDiscord, database: str, folder: Path, shards: str,
                    by_option: bool) -> BotProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": "fake-token",
               "DISCORD_API_URL": fake.api_url_for(name), "DISCORD_GATEWAY_URL": fake.gateway_url_for(name),
               "FACILITATOR_DATABASE": database}
        args = ["run", "discord"]
        if by_option:
            args += ["--shards", shards]
        else:
            env["FACILITATOR_DISCORD_SHARDS"] = shards
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", *args, cwd=folder, env=env,
                                                    stdin=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE)
        bot = cls(name, proc, lambda: cls.start(name, fake, database, folder, shards, by_option))
        bot._reader = asyncio.create_task(bot._read())
        await _until(lambda: any("serving sessions on Discord" in line for line in bot.log) or
                     proc.returncode is not None, f"{name} to start")
        assert proc.returncode is None, "\n".join(bot.log)
        return bot

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.log.append(line.decode().rstrip())

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)  # a clean stop, as systemd or Ctrl-C gives
        code = await asyncio.wait_for(self.proc.wait(), WAIT)
        if self._reader is not None:
            await self._reader
        return code

    async def restart(self) -> BotProcess:
        """Stopped cleanly, as `systemctl restart` does, then the same command started again."""
        assert await self.stop() == 0, "\n".join(self.log)
        return await self.again()

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def _until(done: Callable[[], Any], what: str) -> Any:
    for _ in range(WAIT * 20):
        if result := done():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"waited {WAIT} s for {what}")


@contextlib.asynccontextmanager
async def _bots(fake: FakeDiscord, database: str, folder: Path) -> AsyncIterator[list[BotProcess]]:
    """Shard 0 (given by `--shards`) and shard 1 (by FACILITATOR_DISCORD_SHARDS); none outlives the test."""
    bots: list[BotProcess] = []
    try:
        bots.append(await BotProcess.start("p0", fake, database, folder, "0/2", by_option=True))
        bots.append(await BotProcess.start("p1", fake, database, folder, "1/2", by_option=False))
        try:
            yield bots
        except BaseException:  # what each process logged, and what the bot posted, to see where it stopped
            for bot in bots:
                print(f"--- {bot.name}'s log\n" + "\n".join(bot.log[-40:]))
            print("--- posted\n" + "\n".join(f"{m['channel_id']}: {m['content'][:100]!r}" for m in fake.bot_messages()))
            raise
        for bot in bots:
            assert await bot.stop() == 0, "\n".join(bot.log)
    finally:
        for bot in bots:
            await bot.kill()


class Room:
    """One server's session channel, as its people see it on the fake."""

    def __init__(self, fake: FakeDiscord, channel: str, facilitator: str, people: list[str]) -> None:
        self.fake, self.channel, self.facilitator, self.people = fake, channel, facilitator, people
        self.interactions: list[FakeInteraction] = []

    async def _answered(self, ix: FakeInteraction, done: bool = True) -> FakeInteraction:
        """Until the interaction is answered and, when `done`, its follow-up (the bot's word that it was handled)
        has come, so what it did is in the store before the next step."""
        self.interactions.append(ix)
        await asyncio.wait_for(ix.answered.wait(), WAIT)
        if done:
            await _until(lambda: ix.followups, "the interaction's follow-up")
        return ix

    async def slash(self, person: str, sub: str, options: dict[str, Any] | None = None) -> FakeInteraction:
        return await self._answered(await self.fake.slash(person, self.channel, sub, options))

    def post_with(self, label: str) -> dict[str, Any] | None:
        """The newest bot post in this server with a button `label`."""
        found = [m for m in self.fake.bot_messages() if self.fake.guild_of(m["channel_id"]) ==
                 self.fake.guild_of(self.channel) and label in _labels(m)]
        return found[-1] if found else None

    async def click(self, person: str, message: dict[str, Any], label: str, done: bool = True) -> FakeInteraction:
        button = next(c for row in message["components"] for c in row.get("components", [])
                      if str(c.get("label", "")).startswith(label))
        return await self._answered(await self.fake.click(person, message, button["custom_id"]), done)

    async def add_idea(self, person: str, own: dict[str, Any], idea: str) -> None:
        """The Own post's "Add an idea" button, its form filled in and sent."""
        opened = await self.click(person, own, "Add an idea", done=False)  # answered with the form
        modal = opened.responses[-1]["data"]
        field_id = modal["components"][0]["component"]["custom_id"]
        ix = await self.fake.submit_modal(person, own["channel_id"], modal, {field_id: idea}, own)
        await self._answered(ix)


def _labels(message: dict[str, Any]) -> list[str]:
    return [str(c.get("label", "")) for row in message["components"] for c in row.get("components", [])]


async def _idea_by_dm(fake: FakeDiscord, person: str, idea: str) -> None:
    """A person sends an idea by DM and is told it is saved."""
    await fake.user_says(person, fake.dm_channel(person), idea)
    await _until(lambda: any(t.startswith("Saved") and idea in t for t in _dm_texts(fake, person)),
                 f"{fake.users[person]['global_name']}'s idea to be saved")


def _note_to(fake: FakeDiscord, convenor: str) -> str:
    """Every bot DM to the convenor, read in order, once the note (with its .md file) is among them; else ""."""
    channel = fake.dm_channel(convenor)
    sent = any(m["channel_id"] == channel and any(a["filename"].endswith(".md") for a in m["attachments"])
               for m in fake.bot_messages())
    return "\n".join(_dm_texts(fake, convenor)) if sent else ""


def _dm_texts(fake: FakeDiscord, person: str) -> list[str]:
    channel = fake.dm_channel(person)
    return [m["content"] for m in fake.bot_messages() if m["channel_id"] == channel]


async def test_two_processes_split_discord_by_shard_and_fill_one_note(postgres, tmp_path: Path) -> None:
    fake = FakeDiscord()
    ids = {name: fake.add_user(name) for name in ("Fay", "Ann", "Ben", "Cat", "Gus", "Hal", "Ivy")}
    on_one = Room(fake, fake.add_guild("A network on shard 1", shard=(1, 2)), ids["Fay"],
                  [ids["Ann"], ids["Ben"], ids["Cat"]])
    on_zero = Room(fake, fake.add_guild("A club on shard 0", shard=(0, 2)), ids["Gus"], [ids["Hal"], ids["Ivy"]])
    await fake.start()
    dm_ideas = {p: f"{fake.users[p]['global_name']}'s idea: open the hall on Sundays"
                for p in [*on_one.people, *on_zero.people]}
    form_idea = "Ann's second idea: a shared tool shelf"
    try:
        async with _bots(fake, postgres.database(), tmp_path) as bots:
            assert sorted(c.name for c in fake.connections) == ["p0 shard 0/2", "p1 shard 1/2"]
            # Both sessions start and run at once, one in each server.
            await on_one.slash(on_one.facilitator, "start", {"question": "own=private What should the network do?"})
            await on_zero.slash(on_zero.facilitator, "start", {"question": "own=private Where shall we meet?"})
            for room in (on_one, on_zero):
                question = await _until(lambda room=room: room.post_with("Join"), "the question with its Join")
                for person in room.people:
                    await room.click(person, question, "Join")
            for person, idea in dm_ideas.items():  # private ideas by DM: no server, so shard 0
                await _idea_by_dm(fake, person, idea)
            own = await _until(lambda: on_one.post_with("Add an idea"), "the Own post")
            await on_one.add_idea(on_one.people[0], own, form_idea)
            await on_one.slash(on_one.facilitator, "end")
            await on_zero.slash(on_zero.facilitator, "end")

            note_text = await _until(lambda: _note_to(fake, on_one.facilitator), "the note to the convenor")
            # Her own draft, in her DM: the other server's draft may have come after it.
            her_dm = fake.dm_channel(on_one.facilitator)
            note = next(m for m in reversed(fake.bot_messages())
                        if m["channel_id"] == her_dm and "Approve" in "".join(_labels(m)))
            approve = await on_one.click(on_one.facilitator, note, "Approve")  # in the convenor's DM: shard 0
            published = await _until(lambda: [m for m in fake.bot_messages() if m["channel_id"] == on_one.channel
                                               and "Round-up" in m["content"]], "the note in the channel")
        logs = {bot.name: "\n".join(bot.log) for bot in bots}
    finally:
        await fake.stop()

    # The note holds every idea of the server on shard 1: those sent by DM to process 0 and the one by form.
    for person in on_one.people:
        assert dm_ideas[person] in note_text, f"{dm_ideas[person]!r} is missing from the note"
    assert form_idea in note_text and "People: 3. Ideas: 4 " in note_text
    assert not any(dm_ideas[p] in note_text for p in on_zero.people), "the other server's ideas stayed out"
    assert dm_ideas[on_zero.people[0]] not in published[0]["content"]
    assert {c.caller for c in fake.message_calls() if c.path == f"/channels/{on_one.channel}/messages"
            and "Round-up" in str((c.body or {}).get("content"))} == {"p0"}, "posted by the process that got Approve"

    # Which process got what: every interaction in the server on shard 1 went to process 1 only, and was answered
    # by it; those in the server on shard 0 to process 0; the Approve pressed in a DM to process 0.
    assert on_one.interactions[-1] is approve and len(on_one.interactions) == 8 and len(on_zero.interactions) == 4
    for ix in on_one.interactions[:-1]:
        assert (ix.delivered_to, fake.answered_by(ix)) == (["p1 shard 1/2"], {"p1"}), ix
    for ix in [*on_zero.interactions, approve]:
        assert (ix.delivered_to, fake.answered_by(ix)) == (["p0 shard 0/2"], {"p0"}), ix
    # Each DM (no server) reached only shard 0's process, which saved it and said so.
    dm_events = [to for event, mid, to in fake.deliveries if event == "MESSAGE_CREATE"
                 and fake.messages.get(mid, {}).get("content") in dm_ideas.values()]
    assert dm_events == [["p0 shard 0/2"]] * len(dm_ideas)
    saved_by = {c.caller for c in fake.message_calls() if str((c.body or {}).get("content", "")).startswith("Saved")
                and any(i in c.body["content"] for i in dm_ideas.values())}  # type: ignore[index]
    assert saved_by == {"p0"}
    # The bot's own posts in a server come back only to that server's shard.
    assert all(to == ["p1 shard 1/2"] for event, mid, to in fake.deliveries
               if event == "MESSAGE_CREATE" and fake.guild_of(fake.messages.get(mid, {}).get("channel_id", ""))
               == fake.guild_of(on_one.channel))
    assert re.search(r"serving sessions on Discord, gateway shards 0/2", logs["p0"])
    assert re.search(r"serving sessions on Discord, gateway shards 1/2", logs["p1"])


async def test_a_shard_restarted_mid_session_carries_on_with_its_servers_session(postgres, tmp_path: Path) -> None:
    fake = FakeDiscord()
    ids = {name: fake.add_user(name) for name in ("Fay", "Ann", "Ben")}
    room = Room(fake, fake.add_guild("A network on shard 1", shard=(1, 2)), ids["Fay"], [ids["Ann"], ids["Ben"]])
    await fake.start()
    ideas = {p: f"{fake.users[p]['global_name']}'s idea: a repair cafe" for p in room.people}

    try:
        async with _bots(fake, postgres.database(), tmp_path) as bots:
            await room.slash(room.facilitator, "start", {"question": "own=private What should we fix first?"})
            question = await _until(lambda: room.post_with("Join"), "the question with its Join")
            for person in room.people:
                await room.click(person, question, "Join")
            await _idea_by_dm(fake, room.people[0], ideas[room.people[0]])

            restarting = asyncio.create_task(bots[1].restart())
            await _until(lambda: [c.name for c in fake.connections] == ["p0 shard 0/2"], "shard 1 to be down")
            down = await fake.slash(room.facilitator, room.channel, "status")
            # DMs go on: shard 0's process saves them into the session.
            await _idea_by_dm(fake, room.people[1], ideas[room.people[1]])
            bots[1] = await restarting
            assert sorted(c.name for c in fake.connections) == ["p0 shard 0/2", "p1 shard 1/2"]

            end = await room.slash(room.facilitator, "end")  # back: the restarted process takes it to the note
            note = await _until(lambda: _note_to(fake, room.facilitator), "the note to the convenor")
    finally:
        await fake.stop()
    assert down.delivered_to == [] and not down.answered.is_set(), "no process ran shard 1 to get it"
    assert (end.delivered_to, fake.answered_by(end)) == (["p1 shard 1/2"], {"p1"})
    for idea in ideas.values():
        assert idea in note, f"{idea!r} is missing from the note"
    assert "People: 2. Ideas: 2 " in note


async def test_private_ideas_sent_together_to_shard_0_all_land_in_the_session_joined_on_shard_1(
        postgres, tmp_path: Path) -> None:
    fake = FakeDiscord()
    ids = {name: fake.add_user(name) for name in ("Fay", "Ann", "Ben", "Cat")}
    room = Room(fake, fake.add_guild("A network on shard 1", shard=(1, 2)), ids["Fay"],
                [ids["Ann"], ids["Ben"], ids["Cat"]])
    await fake.start()
    try:
        async with _bots(fake, postgres.database(), tmp_path):
            await room.slash(room.facilitator, "start", {"question": "own=private What should we fix first?"})
            question = await _until(lambda: room.post_with("Join"), "the question with its Join")
            for person in room.people:  # joined through shard 1's process
                await room.click(person, question, "Join")
            for n, person in enumerate(room.people):  # sent together, as people do
                await fake.user_says(person, fake.dm_channel(person), f"idea {n}")
            await _until(lambda: all(_dm_texts(fake, p) for p in room.people), "an answer to each")
    finally:
        await fake.stop()
    answers = [t for p in room.people for t in _dm_texts(fake, p)]
    assert all(t.startswith("Saved") for t in answers), answers


@pytest.mark.parametrize("pair_minutes", ["0.05", "0.01"], ids=["timer-after-takeover", "timer-before-takeover"])
async def test_a_shard_killed_mid_pair_has_its_posts_and_timer_taken_over_by_the_other(
        postgres, tmp_path: Path, pair_minutes: str) -> None:
    """Shard 1's process is killed (SIGKILL) while Discord holds its answer to opening Ann's pair thread: shard 0's
    process, which has none of that server in its gateway cache, takes over what it owed (finding the thread
    Discord made, not opening a second), and fires Pair's timer. With a Pair of 0.6 s the timer is due before the
    dead process's posts can be taken over (LEASE_SECONDS): the pairs are still opened and introduced, each
    before it is told that Pair has closed."""
    fake = FakeDiscord()
    ids = {name: fake.add_user(name) for name in ("Fay", "Ann", "Ben", "Cat", "Dan")}
    room = Room(fake, fake.add_guild("A network on shard 1", shard=(1, 2)), ids["Fay"],
                [ids["Ann"], ids["Ben"], ids["Cat"], ids["Dan"]])
    fake.hold_thread = lambda name: "Ann" in name  # stored, then the answer never comes
    await fake.start()
    try:
        async with _bots(fake, postgres.database(), tmp_path) as bots:
            await room.slash(room.facilitator, "start",
                             {"question": f"own=private minutes=pair:{pair_minutes} What should we fix first?"})
            question = await _until(lambda: room.post_with("Join"), "the question with its Join")
            for person in room.people:
                await room.click(person, question, "Join")
            for person in room.people:
                await _idea_by_dm(fake, person, f"{fake.users[person]['global_name']}'s idea: a repair cafe")
            await fake.slash(room.facilitator, room.channel, "next")  # Pair, opened by shard 1's process
            await asyncio.wait_for(fake.holding.wait(), WAIT)
            killed = bots.pop()
            await killed.kill()

            def pair_threads() -> list[str]:
                return [t for t, c in fake.channels.items() if c["type"] == 12]

            def intro_in(thread: str) -> list[dict[str, Any]]:
                return [m for m in fake.bot_messages() if m["channel_id"] == thread and "Your pair" in m["content"]]

            await _until(lambda: len(pair_threads()) == 2 and all(intro_in(t) for t in pair_threads()),
                         "both pairs introduced")
            await _until(lambda: any("**Explain**" in m["content"] for m in fake.bot_messages()), "Explain")
    finally:
        await fake.stop()
    held = next(t for t in pair_threads() if "Ann" in fake.channels[t]["name"])
    assert [len(intro_in(t)) for t in pair_threads()] == [1, 1], "each pair introduced once"
    for thread in pair_threads():
        said = [m["content"] for m in fake.bot_messages() if m["channel_id"] == thread]
        assert "Your pair" in said[0] and "closed" in said[-1], said
    assert {c.caller for c in fake.message_calls() if c.path == f"/channels/{held}/messages"} == {"p0"}
    assert ids["Ann"] in fake.thread_members[held]
    assert sum("**Explain**" in m["content"] for m in fake.bot_messages()) == 1, "Pair's timer fired once"
