"""A platform refusing something the facilitator can fix: they are told, and the session carries on."""

from __future__ import annotations

import io
from pathlib import Path

from adapters.base import CommandIssued, DeliveryError, UserMessage
from adapters.console import ConsoleAdapter
from bot.assembly import assembled
from facilitation.effects import Person


class NoPairSpaces(ConsoleAdapter):
    async def open_pair_space(self, channel: str, pair_id: str, title: str, members: list[Person],
                              session_id: str) -> str:
        raise DeliveryError("I can't create private threads here: grant 'Create Private Threads'.")


async def test_a_refused_pair_space_is_reported_and_each_member_hears_privately(tmp_path: Path) -> None:
    adapter = NoPairSpaces(out=io.StringIO())
    async with assembled(adapter, database=tmp_path / "facilitator.sqlite3") as runtime:
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


class NoPostingToTheChannel(ConsoleAdapter):
    """A channel the bot lost its permission to post in, until `fixed`."""

    fixed = False

    async def publish_note(self, channel: str, title: str, markdown: str, session_id: str) -> str:
        if not self.fixed:
            raise DeliveryError("Slack refused the post: the bot is not in the channel (not_in_channel).")
        return await super().publish_note(channel, title, markdown, session_id)


async def test_the_convenor_hears_posted_only_once_the_note_is_posted_and_retry_sends_what_failed(
        tmp_path: Path) -> None:
    adapter = NoPostingToTheChannel(out=io.StringIO())
    async with assembled(adapter, database=tmp_path / "facilitator.sqlite3") as runtime:
        fay = adapter.person("Fay")
        await adapter.send(CommandIssued(channel=adapter.channel, person=fay, text="start What now?"))
        await adapter.send(UserMessage(channel=adapter.channel, person=adapter.person("Ana"), private=True,
                                       text="Open the hall on Sundays", message_ref="m1"))
        await adapter.send(CommandIssued(channel=adapter.channel, person=fay, text="end"))
        draft = next(m for m in adapter.messages if m.files)
        await adapter.click(fay, draft.ref, "Approve")

        told = [m.text for m in adapter.messages if m.where == "private:fay"]
        assert any("round-up note" in t and "not_in_channel" in t and "retry" in t for t in told)
        assert not any("has been posted" in t for t in told), "not told 'posted' while it is not"
        assert not [m for m in adapter.messages if m.where == "channel" and "Open the hall on Sundays" in m.text]
        assert await runtime.store.open_sessions(), "the session stays open until its note is out"

        adapter.fixed = True
        reply = await adapter.send(CommandIssued(channel=adapter.channel, person=fay, text="retry"))
        assert reply is not None and "Sending again" in reply.text
        session_id = next(iter(runtime.sessions))
        await runtime.settled(session_id)
        await runtime.store.flush()
        published = [m for m in adapter.messages if m.where == "channel" and "Open the hall on Sundays" in m.text]
        assert len(published) == 1
        assert sum("has been posted" in m.text for m in adapter.messages if m.where == "private:fay") == 1
        assert not await runtime.store.open_sessions(), "closed once the note is out"

        again = await adapter.send(CommandIssued(channel=adapter.channel, person=fay, text="retry"))
        assert again is not None and "Sending again" not in again.text, "nothing is owed any more"
        assert len([m for m in adapter.messages if m.where == "channel" and "Open the hall" in m.text]) == 1
