"""Finding 1: a direct message reaches only a session the person takes part in (or, on the console, the session
of the console's own channel); anyone else is told how to join, and a vote by DM never joins anyone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.base import CommandIssued
from tests.contract.console_harness import ConsoleHarness
from tests.contract.harness import Harness
from tests.contract.harnesses import HARNESSES
from tests.contract.slack_harness import SlackHarness
from tests.trust.helpers import status, told

SECRET = "The trust's board ignores what carers tell it"


@pytest.fixture(params=["discord", "slack"])
async def chat(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with HARNESSES[request.param](tmp_path) as harness:
        yield harness


def _asked_to_join(text: str) -> bool:
    return "press **Join**" in text or "press Join" in text


async def test_a_dm_from_someone_who_has_not_joined_reaches_no_session(chat: Harness) -> None:
    h = chat
    await h.command(h.facilitator, "start A private question?")
    stranger, member = h.people[0], h.people[1]
    await h.direct_message(stranger, SECRET)
    await h.settle()
    assert "People: 0. Ideas: 0." in await status(h)
    assert not [m for m in h.seen() if SECRET in m.text and m.where != f"private:{stranger}"]
    assert _asked_to_join(told(h, stranger))
    # Someone who joined is heard by DM as before.
    await h.command(member, "join")
    await h.direct_message(member, "Pay carers for their time")
    await h.settle()
    assert "People: 1. Ideas: 1." in await status(h)


async def test_console_a_dm_never_reaches_a_session_in_another_channel(console: ConsoleHarness) -> None:
    h = console
    await h.adapter.send(CommandIssued(channel="#elsewhere", person=h.adapter.person("Fay"),
                                       text="start A question in another room?"))
    await h.direct_message(h.people[0], SECRET)
    assert SECRET not in "\n".join(m.text for m in h.seen() if m.where != f"private:{h.people[0]}")
    assert _asked_to_join(told(h, h.people[0]))
    await h.adapter.send(CommandIssued(channel="#elsewhere", person=h.adapter.person("Fay"), text="status"))
    assert "People: 0. Ideas: 0." in h.seen()[-1].text


async def test_a_vote_by_dm_does_not_make_anyone_a_participant(h: Harness) -> None:
    await h.command(h.facilitator, "start own=open Where next?")
    await h.command(h.people[0], "join")
    await h.reply_in_thread(h.people[0], "Open the board meetings")
    for step in ("skip", "next", "next"):  # no Pair: the idea goes straight to the ballot
        await h.command(h.facilitator, step)
    await h.direct_message(h.people[1], "vote 1")  # not in the session at all
    await h.direct_message(h.facilitator, "vote 1")  # facilitates, but has not joined
    await h.settle()
    assert "People: 1." in await status(h)
    assert "doesn't join you" in told(h, h.facilitator)


async def test_a_late_dm_stays_in_its_own_session_and_never_reaches_another_channel(slack: SlackHarness) -> None:
    h = slack
    member, other_facilitator = h.people[0], h.people[5]
    await h.command(h.facilitator, "start Last week's question?")
    await h.command(member, "join")
    await h.direct_message(member, "An idea for last week")
    await h.command(h.facilitator, "end")  # drafted, not yet approved
    await h.command(other_facilitator, "start This week's question, elsewhere?", channel="C0ELSEWHERE")
    await h.direct_message(member, "A late thought for last week")
    await h.command(other_facilitator, "status", channel="C0ELSEWHERE")
    assert "People: 0. Ideas: 0." in [m for m in h.seen() if "People:" in m.text][-1].text
    assert h.runtime is not None
    last_week = next(s for s in h.runtime.sessions.values() if s.channel == h.channel)
    assert [i.text for i in last_week.ideas] == ["An idea for last week", "A late thought for last week"]
