"""The Discord harness for the shared contract suite: the real runtime and a real discord.py client,
talking to the loopback fake of Discord in tests/discord/fake_discord.py."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from adapters.base import Inbound, Reply
from adapters.discord.adapter import DiscordAdapter
from bot.assembly import assembled
from bot.configuration import list_structures
from bot.runtime import Runtime
from bot.settings import Settings
from tests.contract.harness import Seen
from tests.discord.fake_discord import EPHEMERAL, FakeDiscord, FakeInteraction

NAMES = ["Fay", "Amara", "Ben", "Chloe", "Dev", "Erin", "Farid", "Grace"]
_MENTION = re.compile(r"<@!?&?(\d+)>|@everyone|@here")


def pings(message: dict[str, Any]) -> bool:
    """Whether Discord would notify anyone: mention syntax in the content that allowed_mentions lets through."""
    content = message.get("content", "")
    found = _MENTION.findall(content) or "@everyone" in content or "@here" in content
    if not found:
        return False
    allowed = message.get("allowed_mentions")
    if allowed is None:
        return True  # Discord's default parses every mention
    return bool(allowed.get("parse") or allowed.get("users") or allowed.get("roles") or allowed.get("replied_user"))


class DiscordHarness:
    def __init__(self, fake: FakeDiscord, adapter: DiscordAdapter) -> None:
        self.fake = fake
        self.adapter = adapter
        self.channel = fake.channel_id
        # People are their Discord user ids, made before the client connects (so GUILD_CREATE lists them).
        ids = [uid for uid, user in fake.users.items() if user["global_name"] in NAMES]
        self.facilitator, self.people = ids[0], ids[1:]
        self.names = {uid: fake.users[uid]["global_name"] for uid in ids}
        self._replies: dict[str, str] = {}  # interaction event id -> the runtime's Reply text
        self._event_messages: dict[str, str] = {}
        self._in_flight = 0
        self.runtime: Runtime | None = None
        self._notes: list[tuple[str, list[str]]] = []  # (ref, every message of the note in order)
        self._published: list[tuple[str, list[str]]] = []
        self._last_activity = time.monotonic()

    # --- setup ------------------------------------------------------------------------------------

    def wrap(self) -> None:
        """Count the runtime calls in flight (for settle) and note which messages are notes."""
        sink = self.adapter._sink
        assert sink is not None

        async def counted(inbound: Inbound) -> Reply | None:
            self._in_flight += 1
            try:
                reply = await sink(inbound)
                if reply is not None and inbound.event_id:
                    self._replies[inbound.event_id] = reply.text
                return reply
            finally:
                self._in_flight -= 1
                self._last_activity = time.monotonic()

        self.adapter.bind(counted)
        deliver, publish = self.adapter.deliver_note, self.adapter.publish_note

        async def deliver_note(*args: Any, **kwargs: Any) -> str:
            before = set(self.fake.messages)
            ref = await deliver(*args, **kwargs)
            self._notes.append((ref, self._made_since(before, ref)))
            return ref

        async def publish_note(*args: Any, **kwargs: Any) -> str:
            before = set(self.fake.messages)
            ref = await publish(*args, **kwargs)
            self._published.append((ref, self._made_since(before, ref)))
            return ref

        self.adapter.deliver_note = deliver_note  # type: ignore[method-assign]
        self.adapter.publish_note = publish_note  # type: ignore[method-assign]

    def _made_since(self, before: set[str], ref: str) -> list[str]:
        """The bot messages a note was split into: new since `before`, in the channel of `ref`."""
        channel = self.fake.messages[ref]["channel_id"]
        return [m for m in self.fake.messages if m not in before and self.fake.messages[m]["channel_id"] == channel
                and self.fake.messages[m]["author"]["id"] == self.fake.bot["id"]]

    def _mentions(self, text: str) -> str:
        """`@Ana` (a harness name) or `@<id>` in harness text becomes Discord's `<@id>`."""
        by_name = {n.lower(): uid for uid, n in self.names.items()}

        def mention(m: re.Match[str]) -> str:
            word = m.group(1)
            uid = word if word in self.names else by_name.get(word.lower())
            return f"<@{uid}>" if uid else m.group(0)

        return re.sub(r"(?<![<\w])@(\w+)", mention, text)

    # --- acting -------------------------------------------------------------------------------------

    async def _answered(self, ix: FakeInteraction) -> None:
        await asyncio.wait_for(ix.answered.wait(), 3)  # Discord's own deadline for the first response

    async def command(self, person: str, text: str) -> str | None:
        uid = person
        text = self._mentions(text)
        word, _, rest = text.strip().partition(" ")
        word = word.lower()
        rest = rest.strip()
        if word == "start" and rest:
            ix = await self.fake.slash(uid, self.channel, "start", {"question": rest})
        elif word == "extend" and rest.isdigit():
            ix = await self.fake.slash(uid, self.channel, "extend", {"minutes": int(rest)})
        elif word == "vote" and rest:
            ix = await self.fake.slash(uid, self.channel, "vote", {"numbers": rest})
        elif word in ("next", "pause", "resume", "skip", "end", "status", "join", "mine", "help") and not rest:
            ix = await self.fake.slash(uid, self.channel, word)
        else:
            ix = await self.fake.slash(uid, self.channel, "do", {"text": text})
        await self._answered(ix)
        await self.settle()
        return self._replies.get(f"discord:interaction:{ix.id}")

    def session_thread(self) -> str:
        threads = [cid for cid, c in self.fake.channels.items() if c["type"] == 11 and cid in self.fake.messages]
        assert threads, "no session thread yet"
        return threads[-1]

    async def reply_in_thread(self, person: str, text: str, event_id: str | None = None) -> str:
        uid = person
        if event_id is not None and event_id in self._event_messages:
            ref = await self.fake.user_says(uid, self.session_thread(), text,
                                            message_id=self._event_messages[event_id])
        else:
            ref = await self.fake.user_says(uid, self.session_thread(), text)
            if event_id is not None:
                self._event_messages[event_id] = ref
        await self.settle()
        return ref

    async def say_in(self, person: str, channel_id: str, text: str) -> str:
        """A plain message (no reply reference) in a given channel or thread, e.g. a breakout group's thread."""
        ref = await self.fake.user_says(person, channel_id, text)
        await self.settle()
        return ref

    async def reply_to(self, person: str, message_ref: str, text: str) -> str:
        target = self.fake.messages[message_ref]
        ref = await self.fake.user_says(person, target["channel_id"], text, reply_to=message_ref)
        await self.settle()
        return ref

    async def direct_message(self, person: str, text: str) -> str:
        uid = person
        ref = await self.fake.user_says(uid, self.fake.dm_channel(uid), text)
        await self.settle()
        return ref

    def pair_thread(self, person: str) -> str:
        uid = person
        spaces = [t for t, members in self.fake.thread_members.items() if uid in members]
        assert spaces, f"{person} is in no pair thread"
        return spaces[-1]

    async def say_in_pair(self, person: str, text: str) -> str:
        ref = await self.fake.user_says(person, self.pair_thread(person), text)
        await self.settle()
        return ref

    async def click(self, person: str, message_ref: str, label: str,
                    values: dict[str, str | list[str]] | None = None) -> None:
        uid = person
        message = self.fake.messages[message_ref]
        buttons = [c for row in message.get("components", []) for c in row.get("components", [])
                   if c.get("type") == 2]
        exact = [b for b in buttons if b.get("label") == label]
        # A short label names the button it starts ("Approve" for "Approve and post to the channel").
        chosen = exact or [b for b in buttons if str(b.get("label", "")).startswith(label)]
        custom_id = chosen[0]["custom_id"] if chosen else None
        assert custom_id is not None, f"no button {label!r} on {message_ref}"
        ix = await self.fake.click(uid, message, custom_id)
        await self._answered(ix)
        await self._fill_forms(uid, ix, message, values or {})
        await self.settle()

    async def _fill_forms(self, uid: str, ix: FakeInteraction, message: dict[str, Any],
                          values: dict[str, str | list[str]]) -> None:
        """Submit every page of a form the click opened, following 'Continue' buttons between pages."""
        while ix.responses and ix.responses[-1]["type"] == 9:
            modal = ix.responses[-1]["data"]
            page = self._page_values(modal, values)
            ix = await self.fake.submit_modal(uid, message["channel_id"], modal, page, message)
            await self._answered(ix)
            await self.settle()
            nxt = ix.followups[-1] if ix.responses and ix.responses[-1]["type"] == 4 else None
            if nxt is None or not nxt.get("components"):
                return
            button = nxt["components"][0]["components"][0]
            ix = await self.fake.click(uid, nxt, button["custom_id"])
            await self._answered(ix)

    @staticmethod
    def _page_values(modal: dict[str, Any], values: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        page: dict[str, str | list[str]] = {}
        for row in modal["components"]:
            inner = row["component"] if row["type"] == 18 else row["components"][0]
            cid = inner["custom_id"]
            base = cid.split("#", 1)[0]
            if base not in values:
                continue
            value = values[base]
            if inner["type"] == 3 and "#" in cid:  # one part of a long choice list
                offered = {o["value"] for o in inner["options"]}
                chosen = [value] if isinstance(value, str) else value
                page[cid] = [v for v in chosen if v in offered]
            else:
                page[cid] = value
        return page

    async def edit(self, person: str, message_ref: str, text: str) -> None:
        await self.fake.user_edits(person, message_ref, text)
        await self.settle()

    async def delete(self, person: str, message_ref: str) -> None:
        await self.fake.user_deletes(message_ref)
        await self.settle()

    async def settle(self) -> None:
        """Quiet for 60 ms: no runtime call in flight and no new REST call."""
        quiet = 0
        count = len(self.fake.calls)
        while quiet < 3:
            await asyncio.sleep(0.02)
            busy = self.runtime is not None and not self.runtime.idle
            if self._in_flight or busy or len(self.fake.calls) != count:
                quiet = 0
                count = len(self.fake.calls)
            else:
                quiet += 1

    # --- reading back -----------------------------------------------------------------------------

    def _where(self, message: dict[str, Any]) -> str:
        channel = self.fake.channels.get(message["channel_id"], {})
        if message.get("flags", 0) & EPHEMERAL:
            return f"private:{message['interaction_user']}"
        if channel.get("type") == 1:
            return f"private:{channel['recipients'][0]['id']}"
        if channel.get("type") in (11, 12):
            # A thread started from a message is the session thread; the others are pair spaces.
            return "thread" if channel["id"] in self.fake.messages else f"pair:{channel['id']}"
        return "channel"

    def _seen(self, message: dict[str, Any]) -> Seen:
        buttons = [c.get("label", "") for row in message.get("components", []) for c in row.get("components", [])
                   if c.get("type") == 2]
        return Seen(ref=message["id"], text=message["content"], where=self._where(message), buttons=buttons,
                    files=[a["filename"] for a in message.get("attachments", [])], pings=pings(message))

    def seen(self) -> list[Seen]:
        return [self._seen(m) for m in self.fake.bot_messages() if m["content"] or m.get("components")]

    def _joined(self, ref: str, pieces: list[str]) -> Seen:
        """A note as its reader sees it: every message it was split into, read in order."""
        seen = self._seen(self.fake.messages[ref])
        text = "\n".join(self.fake.messages[p]["content"] for p in pieces if p in self.fake.messages)
        files = [f for p in pieces for a in self.fake.messages[p].get("attachments", []) for f in [a["filename"]]]
        return seen.model_copy(update={"text": text or seen.text, "files": files})

    def notes(self) -> list[Seen]:
        return [self._joined(r, pieces) for r, pieces in self._notes]

    def published(self) -> list[Seen]:
        return [self._joined(r, pieces) for r, pieces in self._published]


@asynccontextmanager
async def discord_world(tmp_path: Path, fake: FakeDiscord | None = None,
                        db_name: str = "facilitator.sqlite3") -> AsyncIterator[DiscordHarness]:
    """A fake Discord (new or given), an adapter connected to it, and a runtime on `tmp_path/db_name`."""
    own_fake = fake is None
    fake = fake or FakeDiscord()
    if own_fake:
        for name in NAMES:
            fake.add_user(name)
        await fake.start()
    adapter = DiscordAdapter("fake-token", api_url=fake.api_url, gateway_url=fake.gateway_url,
                             forms_path=tmp_path / "discord-forms.sqlite3",
                             structures=list_structures(Settings()))
    try:
        await adapter.start(ready_timeout=10)
        harness = DiscordHarness(fake, adapter)
        async with assembled(adapter, database=tmp_path / db_name) as runtime:
            harness.runtime = runtime
            harness.wrap()
            yield harness
    finally:
        await adapter.close()
        if own_fake:
            await fake.stop()


@asynccontextmanager
async def make_discord_harness(tmp_path: Path) -> AsyncIterator[DiscordHarness]:
    async with discord_world(tmp_path) as harness:
        yield harness

