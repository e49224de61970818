"""Which Discord a bot talks to belongs to that bot: two bots in one process, each against its own loopback fake,
post and answer interactions only in their own (discord.py keeps Discord's address on classes)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.base import Target
from adapters.discord.adapter import DiscordAdapter
from tests.discord.fake_discord import FakeDiscord


async def test_two_bots_in_one_process_each_post_and_answer_in_their_own_discord(tmp_path: Path) -> None:
    fakes = [FakeDiscord(), FakeDiscord()]
    people = [fake.add_user("Fay") for fake in fakes]
    for fake in fakes:
        await fake.start()
    adapters = [DiscordAdapter("fake-token", api_url=fake.api_url, gateway_url=fake.gateway_url,
                               forms_path=tmp_path / f"forms{n}.sqlite3") for n, fake in enumerate(fakes)]
    try:
        for adapter in adapters:  # the second starts after the first: it must not take the first one over
            await adapter.start(ready_timeout=10)
        for n, (adapter, fake) in enumerate(zip(adapters, fakes, strict=True)):
            await adapter.post(fake.channel_id, Target(kind="channel"), f"Hello from bot {n}", [], "s1")
        assert [m["content"] for m in fakes[0].bot_messages()] == ["Hello from bot 0"]
        assert [m["content"] for m in fakes[1].bot_messages()] == ["Hello from bot 1"]
        # An interaction is answered (as a webhook call, in discord.py) at the Discord it came from.
        ix = await fakes[0].slash(people[0], fakes[0].channel_id, "help")
        await asyncio.wait_for(ix.answered.wait(), 3)
        assert not any(c.path.startswith("/interactions") for c in fakes[1].calls)
        # Nothing process-wide was changed: another client would still talk to Discord itself.
        assert Route.BASE == "https://discord.com/api/v10"
        assert DiscordWebSocket.DEFAULT_GATEWAY.host == "gateway.discord.gg"
    finally:
        for adapter in adapters:
            await adapter.close()
        for fake in fakes:
            await fake.stop()
