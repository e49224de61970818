"""With the optional sentence embeddings, ideas are embedded in the background as they arrive, so the
grouping at Arrange and in the note does not stall the bot for seconds while it embeds every idea."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from adapters.base import CommandIssued, UserMessage
from adapters.console import ConsoleAdapter
from bot.assembly import assembled
from bot.configuration import engine_config
from bot.embeddings import CachedEmbedder
from bot.settings import Settings

IDEAS = ["Pay people for their time", "Meet in the evenings", "Pay travel costs up front", "Plain English letters"]


async def test_ideas_are_embedded_while_people_write_and_not_again_for_the_note(tmp_path: Path) -> None:
    encoded: list[str] = []

    def encode(texts: list[str]) -> list[list[float]]:
        encoded.extend(texts)
        return [[float("Pay" in t), float("evening" in t), 1.0] for t in texts]

    embed = CachedEmbedder(encode)
    adapter = ConsoleAdapter(out=io.StringIO())
    cfg = engine_config(Settings()).model_copy(update={"embed": embed})
    async with assembled(adapter, database=tmp_path / "facilitator.sqlite3", cfg=cfg):
        await adapter.send(CommandIssued(channel=adapter.channel, person=adapter.person("Fay"),
                                         text="start own=open What should we change?"))
        root = next(m.ref for m in adapter.messages if m.where == "channel")
        for n, (name, text) in enumerate(zip(["Ana", "Ben", "Cy", "Di"], IDEAS, strict=True)):
            await adapter.send(UserMessage(channel=adapter.channel, person=adapter.person(name), text=text,
                                           message_ref=f"m{n}", reply_to_ref=root))
        for _ in range(1000):  # the worker thread catches up within moments (10 s at most on a busy machine)
            if not embed.missing(IDEAS):
                break
            await asyncio.sleep(0.01)
        assert sorted(encoded) == sorted(IDEAS), "each idea embedded once, before anyone asked for themes"
        await adapter.send(CommandIssued(channel=adapter.channel, person=adapter.person("Fay"), text="end"))
        note = "\n".join(m.text for m in adapter.messages if "Round-up" in m.text)
        assert all(idea in note for idea in IDEAS)
    again = [text for text in encoded if text in IDEAS]  # label phrases are embedded too, once, at Arrange
    assert sorted(again) == sorted(IDEAS), "the note's themes reused the vectors computed earlier"
