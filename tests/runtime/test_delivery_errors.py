"""A platform refusing something the facilitator can fix: they are told, and the session carries on."""

from __future__ import annotations

import io
from pathlib import Path

from adapters.base import CommandIssued, DeliveryError, UserMessage
from adapters.console import ConsoleAdapter
from bot.runtime import running
from facilitation.effects import Person


class NoPairSpaces(ConsoleAdapter):
    async def open_pair_space(self, channel: str, pair_id: str, title: str, members: list[Person],
                              session_id: str) -> str:
        raise DeliveryError("I can't create private threads here: grant 'Create Private Threads'.")


async def test_a_refused_pair_space_is_reported_and_each_member_hears_privately(tmp_path: Path) -> None:
    adapter = NoPairSpaces(out=io.StringIO())
    async with running(adapter, tmp_path) as runtime:
        fay = adapter.person("Fay")
        await adapter.send(CommandIssued(channel=adapter.channel, person=fay, text="start What now?"))
        for name in ("Ana", "Ben"):
            await adapter.send(UserMessage(channel=adapter.channel, person=adapter.person(name), private=True,
                                           text=f"An idea from {name}", message_ref=f"m-{name}"))
        await adapter.send(CommandIssued(channel=adapter.channel, person=fay, text="next"))
        told = [m for m in adapter.messages if "Create Private Threads" in m.text]
        assert [m.where for m in told] == ["private:fay"]
        intro = [m for m in adapter.messages if "Your pair" in m.text]
        assert sorted(m.where for m in intro) == ["private:ana", "private:ben"], "private ideas stay private"
        assert all("An idea from Ana" in m.text and "Pick" in [a.label for a in m.actions] for m in intro)
        assert next(iter(runtime.sessions.values())).phase.kind == "pair"
