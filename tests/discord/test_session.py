"""A real discord.py client and the real runtime against the loopback fake of Discord."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import discord
import pytest

from adapters.discord import forms
from facilitation.note import note_file_stem
from tests.contract.discord_harness import DiscordHarness, discord_world
from tests.discord.fake_discord import FakeDiscord

QUESTION = "What should the network change first?"
STEM = note_file_stem(f"Round-up: {QUESTION}")  # one naming on every platform


def last_with(h: DiscordHarness, text: str) -> dict:
    found = [m for m in h.fake.bot_messages() if text in m["content"]]
    assert found, f"no bot message contains {text!r}"
    return found[-1]


def message_payloads(fake: FakeDiscord) -> list[dict]:
    return [c.body for c in fake.message_calls() if c.body is not None]


def idea_ids(text: str) -> list[str]:
    return ["i" + n for n in re.findall(r"^#(\d+) ", text, re.M)]


async def test_a_whole_session_with_seven_people_a_trio_private_own_and_a_full_ranking(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with discord_world(tmp_path, fake) as h:
        people = h.people  # seven participants; the facilitator only steers
        grace = people[-1]
        assert (
            await h.command(h.facilitator, f"start voting=borda picks=2 own=private convenor=@Grace {QUESTION}") is None
        )
        start = fake.interactions[max(fake.interactions)]
        assert start.responses[0]["type"] == 5 and start.responses[0]["data"]["flags"] == 64  # deferred, ephemeral

        own = last_with(h, "**Own**")
        for n, person in enumerate(people, start=1):
            await h.click(person, own["id"], "Add an idea", {"idea": f"Idea {n}a from {h.names[person]}"})
            await h.direct_message(person, f"Idea {n}b from {h.names[person]}")
        saved = [m for m in fake.bot_messages() if m["content"].startswith("Saved")]
        assert len(saved) == 14 and all(m["flags"] == 64 or fake.channels[m["channel_id"]]["type"] == 1 for m in saved)
        # Private until Explain: no public message repeats an idea (ephemeral ones only reach their author).
        assert not any(
            "Idea 1a" in m["content"]
            for m in fake.bot_messages()
            if fake.channels[m["channel_id"]]["type"] in (0, 11) and not m["flags"] & 64
        )

        await h.command(h.facilitator, "next")  # Pair
        created = [c.body for c in fake.calls if re.fullmatch(r"/channels/\d+/threads", c.path)]
        assert len(created) == 3 and all(b["type"] == 12 and b["invitable"] is False for b in created)
        spaces = [t for t, c in fake.channels.items() if c["type"] == 12]
        sizes = sorted(len(fake.thread_members[t] - {fake.bot["id"]}) for t in spaces)
        assert sizes == [2, 2, 3]
        for space in spaces:
            members = sorted(fake.thread_members[space] - {fake.bot["id"]})
            intro = next(m for m in fake.bot_messages() if m["channel_id"] == space and "Your pair" in m["content"])
            ids = idea_ids(intro["content"])
            assert len(ids) == 2 * len(members)
            await h.say_in_pair(members[0], "Shall we take our first two?")
            await h.click(members[-1], intro["id"], "Pick", {"ideas": ids[:2], "reason": "Both are cheap to try"})
            assert "picked for the pair" in last_with(h, "picked for the pair")["content"]

        await h.command(h.facilitator, "next")  # Explain
        proposals = [m for m in fake.bot_messages() if m["content"].startswith("**Proposal")]
        assert len(proposals) == 6
        await h.reply_to(people[0], proposals[0]["id"], "Who would fund this?")

        await h.command(h.facilitator, "next")  # Rank
        ballot = last_with(h, "**Rank**")
        for n, person in enumerate(people):
            order = [f"P{(n + k) % 6 + 1}" for k in range(6)]
            await h.click(person, ballot["id"], "Vote", {f"rank_{k + 1}": p for k, p in enumerate(order)})
        pages = [
            ix.responses[0]["data"]
            for ix in fake.interactions.values()
            if ix.responses and ix.responses[0]["type"] == 9 and "ballot" in ix.responses[0]["data"]["title"]
        ]
        assert {len(p["components"]) for p in pages} == {5, 1}  # six choices: two modal pages of at most five
        assert len([m for m in fake.bot_messages() if "Your ballot is saved" in m["content"]]) == 7

        await h.command(h.facilitator, "next")  # Arrange
        assert "(7 ballots)" in last_with(h, "**Results**")["content"]
        themes = last_with(h, "**Arrange**")
        await h.click(
            h.facilitator, themes["id"], "Edit themes", {"op": "rename", "theme": "1", "label": "Money and power"}
        )
        assert "**1. Money and power**" in last_with(h, "Money and power")["content"]

        await h.command(h.facilitator, "next")  # the end: the note goes to Grace
        [note] = h.notes()
        assert note.where == f"private:{grace}"
        assert [f.rsplit(".", 1) for f in sorted(note.files)] == [[STEM, "json"], [STEM, "md"]]
        assert "Money and power" in note.text and "Who would fund this?" in note.text
        await h.click(grace, note.ref, "Approve")
        [published] = h.published()
        assert published.where == "channel" and "Money and power" in published.text
        assert all(len(m["content"]) <= 2000 for m in fake.bot_messages())

        payloads = message_payloads(fake)
        assert payloads and all(p.get("allowed_mentions") == {"parse": []} for p in payloads if p.get("content"))


async def test_buttons_keep_working_after_a_restart(fake: FakeDiscord, tmp_path: Path) -> None:
    async with discord_world(tmp_path, fake) as h:
        await h.command(h.facilitator, f"start {QUESTION}")
        own = last_with(h, "**Own**")
        question = last_with(h, "**Breakout session")
        person = h.people[0]
    # A new client, a new runtime, the same database: nothing of the old process survives in memory.
    async with discord_world(tmp_path, fake) as h:
        await h.click(person, own["id"], "Add an idea", {"idea": "Written after the restart"})
        assert last_with(h, "Written after the restart")["flags"] == 64
        await h.click(h.people[1], question["id"], "Join")
        assert "You're in the session" in last_with(h, "You're in the session")["content"]
        await h.command(h.facilitator, "status")
        assert "Ideas: 1" in last_with(h, "People:")["content"]


async def _six_proposals_ranked(h: DiscordHarness) -> dict:
    """A session at Rank with six proposals and a full-ranking ballot (a form of two pages on Discord)."""
    await h.command(h.facilitator, f"start own=open voting=borda picks=2 {QUESTION}")
    for n, person in enumerate(h.people[:6]):
        await h.reply_in_thread(person, f"Open idea {n}")
    await h.command(h.facilitator, "next")  # Pair: three pairs, each picks both its ideas
    for intro in [m for m in h.fake.bot_messages() if "Your pair" in m["content"]]:
        numbers = re.findall(r"^#(\d+) ", intro["content"], re.M)
        member = next(iter(h.fake.thread_members[intro["channel_id"]] - {h.fake.bot["id"]}))
        await h.click(member, intro["id"], "Pick", {"ideas": [f"i{n}" for n in numbers], "reason": "Both"})
    await h.command(h.facilitator, "next")  # Explain
    await h.command(h.facilitator, "next")  # Rank
    return last_with(h, "**Rank**")


async def test_a_ballot_longer_than_one_form_page_is_saved_whole(fake: FakeDiscord, tmp_path: Path) -> None:
    async with discord_world(tmp_path, fake) as h:
        ballot = await _six_proposals_ranked(h)
        order = ["P6", "P5", "P4", "P3", "P2", "P1"]
        await h.click(h.people[0], ballot["id"], "Vote", {f"rank_{k + 1}": p for k, p in enumerate(order)})
        assert "Your ballot is saved: 6, 5, 4, 3, 2, 1." in last_with(h, "Your ballot is saved")["content"]


async def test_a_form_interrupted_by_a_restart_says_so_when_continued(fake: FakeDiscord, tmp_path: Path) -> None:
    async with discord_world(tmp_path, fake) as h:
        ballot = await _six_proposals_ranked(h)
        voter = h.people[0]
        ix = await fake.click(voter, ballot, next(b["custom_id"] for row in ballot["components"]
                                                  for b in row["components"] if b["label"] == "Vote"))
        await h._answered(ix)
        first_page = ix.responses[-1]["data"]
        assert first_page["title"].endswith("(1/2)")
        ix = await fake.submit_modal(voter, ballot["channel_id"], first_page,
                                     {f"rank_{k}": f"P{k}" for k in range(1, 6)}, ballot)
        await h._answered(ix)
        offer = ix.followups[-1]
        assert "Part 1 of 2 is saved" in offer["content"] and offer["flags"] & 64
    # The process restarts before the voter presses Continue: the first page was only in memory.
    forms._WAITING.clear()  # a new process starts with no forms in progress
    async with discord_world(tmp_path, fake) as h:
        continue_id = offer["components"][0]["components"][0]["custom_id"]
        ix = await fake.click(voter, offer, continue_id)
        await h._answered(ix)
        await h.settle()
        told = last_with(h, "That form was interrupted")
        assert told["flags"] & 64 and "Press the original button again" in told["content"]
        await h.click(voter, ballot["id"], "Vote", {f"rank_{k}": f"P{k}" for k in range(1, 7)})
        assert "Your ballot is saved: 1, 2, 3, 4, 5, 6." in last_with(h, "Your ballot is saved")["content"]


async def test_rate_limits_are_waited_out_and_nothing_is_lost_or_sent_twice(fake: FakeDiscord, tmp_path: Path) -> None:
    async with discord_world(tmp_path, fake) as h:
        fake.rate_limit("POST", r"/channels/\d+/messages", times=3, retry_after=0.2)
        fake.rate_limit("POST", r"/webhooks/\d+/[^/]+", times=1, retry_after=0.2)
        await h.command(h.facilitator, f"start own=open {QUESTION}")
        for n, person in enumerate(h.people[:3]):
            await h.reply_in_thread(person, f"Open idea {n}")
        await h.command(h.facilitator, "next")
        limited = [c for c in fake.calls if c.status == 429]
        assert len(limited) == 4
        contents = [m["content"] for m in fake.bot_messages()]
        for expected in ("**Breakout session", "**Own**", "You're facilitating", "**Pair**"):
            assert sum(expected in c for c in contents) == 1, expected
        intros = [c for c in contents if "Your pair" in c]
        assert len(intros) == 1 and all(f"Open idea {n}" in intros[0] for n in range(3))


async def test_a_global_rate_limit_is_waited_out_and_nothing_is_lost_or_doubled(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with discord_world(tmp_path, fake) as h:
        await h.command(h.facilitator, f"start own=open {QUESTION}")
        for n, person in enumerate(h.people[:4]):
            await h.reply_in_thread(person, f"Open idea {n}")
        fake.rate_limit("POST", r"/channels/\d+/messages", times=2, retry_after=0.3, is_global=True)
        await h.command(h.facilitator, "next")  # Pair: two private threads, each with its intro
        assert len([c for c in fake.calls if c.status == 429]) == 2
        intros = [m["content"] for m in fake.bot_messages() if "Your pair" in m["content"]]
        assert len(intros) == 2, "each pair's intro posted once, after the wait"
        assert sorted(f"Open idea {n}" for n in range(4)) == sorted(
            idea for text in intros for idea in re.findall(r"Open idea \d", text))
        assert sum("**Pair**" in m["content"] for m in fake.bot_messages()) == 1


async def test_hostile_text_pings_nobody_and_hides_no_links(fake: FakeDiscord, tmp_path: Path) -> None:
    async with discord_world(tmp_path, fake) as h:
        everyone_role = fake.guild_id
        hostile = (
            f"@everyone @here <@{h.facilitator}> <@&{everyone_role}> <#{fake.channel_id}> "
            "[free money](https://evil.example) ```fence```"
        )
        await h.command(h.facilitator, f"start own=open {QUESTION}")
        await h.reply_in_thread(h.people[0], hostile)
        await h.reply_in_thread(h.people[1], "A calm idea")
        await h.command(h.facilitator, "next")
        repeated = [m for m in fake.bot_messages() if "free money" in m["content"]]
        assert repeated
        for m in repeated:
            assert "](https" not in m["content"]  # the masked link is defused
            assert "@everyone" not in m["content"] and f"<@{h.facilitator}>" not in m["content"]
            assert m["allowed_mentions"] == {"parse": []}
        assert not any(s.pings for s in h.seen())


async def test_a_convenor_who_blocks_dms_is_reported_to_the_facilitator(fake: FakeDiscord, tmp_path: Path) -> None:
    async with discord_world(tmp_path, fake) as h:
        grace = h.people[-1]
        fake.dm_blocked.add(grace)
        await h.command(h.facilitator, f"start own=open convenor=@Grace {QUESTION}")
        await h.reply_in_thread(h.people[0], "An idea")
        await h.command(h.facilitator, "end")
        warning = last_with(h, "can't send direct messages")
        assert warning["interaction_user"] == h.facilitator and f"<@{grace}>" in warning["content"]
        assert "Privacy Settings" in warning["content"]
        assert h.notes() == []


async def test_without_thread_permissions_the_session_runs_in_the_channel(fake: FakeDiscord, tmp_path: Path) -> None:
    fake.deny_public_threads = True
    async with discord_world(tmp_path, fake) as h:
        await h.command(h.facilitator, f"start own=open {QUESTION}")
        assert "Create Public Threads" in last_with(h, "Create Public Threads")["content"]
        own = last_with(h, "**Own**")
        assert own["channel_id"] == fake.channel_id
        question = last_with(h, "**Breakout session")
        await h.reply_to(h.people[0], question["id"], "An idea in the channel")
        await h.command(h.facilitator, "status")
        assert "Ideas: 1" in last_with(h, "People:")["content"]


async def test_start_without_a_question_opens_the_settings_form(fake: FakeDiscord, tmp_path: Path) -> None:
    async with discord_world(tmp_path, fake) as h:
        ix = await fake.slash(
            h.facilitator, fake.channel_id, "start", {"convenor": h.people[0]}, resolved_users=[h.people[0]]
        )
        await h._answered(ix)
        modal = ix.responses[0]
        assert modal["type"] == 9 and len(modal["data"]["components"]) == 5
        submit = await fake.submit_modal(
            h.facilitator,
            fake.channel_id,
            modal["data"],
            {"question": QUESTION, "voting": ["borda"], "own": ["open"], "minutes": "own:3,pair:4"},
        )
        await h._answered(submit)
        await h.settle()
        assert "(3 min)" in last_with(h, "**Own**")["content"]
        assert "Reply in this thread" in last_with(h, "**Own**")["content"]  # own=open


async def test_the_token_never_reaches_the_logs(
    fake: FakeDiscord, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with discord_world(tmp_path, fake) as h:
        await h.command(h.facilitator, f"start {QUESTION}")
        assert "fake-token" not in repr(h.adapter)
    assert caplog.records and "fake-token" not in caplog.text


async def test_the_client_asks_for_the_message_content_intent_and_registers_commands_once(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    async with discord_world(tmp_path, fake):
        assert fake.identify["intents"] & discord.Intents(message_content=True).value
        [group] = fake.commands
        subcommands = {o["name"] for o in group["options"]}
        assert {"start", "next", "extend", "pause", "resume", "skip", "end", "status", "vote", "do"} <= subcommands
    async with discord_world(tmp_path, fake):
        pass  # a restart with the same commands does not sync again
    assert len([c for c in fake.calls if c.method == "PUT" and c.path.endswith("/commands")]) == 1
