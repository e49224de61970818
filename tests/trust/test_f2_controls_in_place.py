"""Finding 2: a button or command acts only on the session of the channel (or the bot's DM) it came from."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.base import ActionSubmitted, CommandIssued
from tests.contract.console_harness import ConsoleHarness
from tests.contract.discord_harness import NAMES, DiscordHarness, discord_world
from tests.contract.slack_harness import SlackHarness
from tests.discord.fake_discord import FakeDiscord
from tests.trust.helpers import block_actions, status

QUESTION = "Where should the money go?"


async def test_console_a_command_or_click_from_another_channel_changes_nothing(console: ConsoleHarness) -> None:
    h = console
    fay = h.adapter.person("Fay")
    await h.command(h.facilitator, f"start {QUESTION}")
    question = next(m for m in h.seen() if "Join" in m.buttons)
    reply = await h.adapter.send(CommandIssued(channel="#other-room", person=fay, text="next"))
    assert reply is not None and "no session running here" in reply.text
    refused = await h.adapter.send(ActionSubmitted(channel="#other-room", person=h.adapter.person("Ben"),
                                                   session_id=question.ref and h.adapter.session_of(question.ref),
                                                   action="join"))
    assert refused is not None and "another channel" in refused.text
    assert not [m for m in h.seen() if "**Pair**" in m.text]
    assert "People: 0." in await status(h)


async def test_slack_a_join_reporting_another_channel_and_a_command_typed_elsewhere_are_refused(
        slack: SlackHarness) -> None:
    h = slack
    await h.command(h.facilitator, f"start {QUESTION}")
    question = next(m for m in h.seen() if "Join" in m.buttons)
    status_code, _ = await h.signed.interaction(block_actions(h, h.people[0], question.ref, "Join", "C0OTHER"))
    await h.settle()
    assert status_code == 200
    assert "another channel" in (h._replies_to(h.people[0], 0) or "")
    reply = await h.command(h.facilitator, "next", channel="C0OTHER")  # the same workspace or another one
    assert reply and "no session running here" in reply
    assert not [m for m in h.seen() if "**Pair**" in m.text]
    assert "People: 0." in await status(h)
    # The same controls from the right places still work: the channel, and the facilitator's DM with the bot.
    await h.click(h.people[0], question.ref, "Join")
    dm_reply = await h.command(h.facilitator, "next", channel=h.fake.im_of(h.facilitator))
    assert dm_reply is None and [m for m in h.seen() if "**Pair**" in m.text]


@pytest.fixture
async def two_servers(tmp_path: Path) -> AsyncIterator[tuple[DiscordHarness, str]]:
    fake = FakeDiscord()
    for name in NAMES:
        fake.add_user(name)
    elsewhere = fake.add_guild("Another server")
    await fake.start()
    try:
        async with discord_world(tmp_path, fake) as harness:
            yield harness, elsewhere
    finally:
        await fake.stop()


async def test_discord_a_button_from_another_server_and_a_command_there_change_nothing(
        two_servers: tuple[DiscordHarness, str]) -> None:
    h, elsewhere = two_servers
    fake = h.fake
    await h.command(h.facilitator, f"start {QUESTION}")
    question = fake.messages[next(m for m in h.seen() if "Join" in m.buttons).ref]
    join = question["components"][0]["components"][0]["custom_id"]
    # A message in the other server carrying the same custom id, pressed there.
    planted = fake._message(elsewhere, fake.bot["id"], "Press me",
                            components=[{"type": 1, "components": [{"type": 2, "style": 1, "label": "Join",
                                                                    "custom_id": join}]}])
    ix = await fake.click(h.people[0], planted, join)
    await h._answered(ix)
    await h.settle()
    assert "another channel" in json.dumps(ix.followups)
    ix = await fake.slash(h.facilitator, elsewhere, "next")
    await h._answered(ix)
    await h.settle()
    assert "no session running here" in json.dumps(ix.followups)
    assert not [m for m in h.seen() if "**Pair**" in m.text]
    assert "People: 0." in await status(h)
