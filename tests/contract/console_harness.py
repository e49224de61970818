"""The console platform's contract harness: the real runtime, the console adapter, a captured stream."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from adapters.base import CommandIssued, MessageDeleted, MessageEdited, UserMessage
from adapters.console import ConsoleAdapter, ConsoleMessage
from bot.assembly import assembled
from tests.contract.harness import Seen

NAMES = ["Fay", "Amara", "Ben", "Chloe", "Dev", "Erin", "Farid", "Grace"]


def _pings(text: str) -> bool:
    # A terminal notifies nobody, so judge by what would ping if pasted into a chat: raw mention syntax.
    lowered = text.lower()
    return any(m in lowered for m in ("@everyone", "@here", "@channel", "<!", "<@"))


class ConsoleHarness:
    def __init__(self, adapter: ConsoleAdapter) -> None:
        self.adapter = adapter
        self.channel = adapter.channel
        ids = [adapter.person(n).id for n in NAMES]
        self.facilitator, self.people = ids[0], ids[1:]
        self._n = 0

    def _ref(self) -> str:
        self._n += 1
        return f"h{self._n}"

    async def command(self, person: str, text: str) -> str | None:
        reply = await self.adapter.send(CommandIssued(channel=self.channel, person=self.adapter.person(person),
                                                      text=text))
        return reply.text if reply else None

    async def _message(self, person: str, text: str, reply_to: str | None, private: bool = False,
                       event_id: str | None = None) -> str:
        ref = self._ref()
        await self.adapter.send(UserMessage(channel=self.channel, person=self.adapter.person(person), text=text,
                                            message_ref=ref, reply_to_ref=reply_to, private=private,
                                            event_id=event_id))
        return ref

    async def reply_in_thread(self, person: str, text: str, event_id: str | None = None) -> str:
        return await self._message(person, text, self.adapter._root, event_id=event_id)

    async def reply_to(self, person: str, message_ref: str, text: str) -> str:
        return await self._message(person, text, message_ref)

    async def direct_message(self, person: str, text: str) -> str:
        return await self._message(person, text, None, private=True)

    async def say_in_pair(self, person: str, text: str) -> str:
        return await self._message(person, text, self.adapter._spaces.get(person))

    async def click(self, person: str, message_ref: str, label: str,
                    values: dict[str, str | list[str]] | None = None) -> None:
        await self.adapter.click(self.adapter.person(person), message_ref, label, values)

    async def edit(self, person: str, message_ref: str, text: str) -> None:
        await self.adapter.send(MessageEdited(channel=self.channel, person=self.adapter.person(person),
                                              message_ref=message_ref, text=text))

    async def delete(self, person: str, message_ref: str) -> None:
        await self.adapter.send(MessageDeleted(channel=self.channel, person=self.adapter.person(person),
                                               message_ref=message_ref))

    async def settle(self) -> None:
        await asyncio.sleep(0)  # the console adapter awaits the runtime fully on every message

    def _seen(self, m: ConsoleMessage) -> Seen:
        return Seen(ref=m.ref, text=m.text, where=m.where, buttons=[a.label for a in m.actions], files=m.files,
                    pings=_pings(m.text))

    def seen(self) -> list[Seen]:
        return [self._seen(m) for m in self.adapter.messages]

    def notes(self) -> list[Seen]:
        return [self._seen(m) for m in self.adapter.messages if m.kind == "note"]

    def published(self) -> list[Seen]:
        return [self._seen(m) for m in self.adapter.messages if m.kind == "published"]


@asynccontextmanager
async def make_console_harness(tmp_path: Path) -> AsyncIterator[ConsoleHarness]:
    adapter = ConsoleAdapter(out=io.StringIO())
    async with assembled(adapter, database=tmp_path / "facilitator.sqlite3"):
        yield ConsoleHarness(adapter)
