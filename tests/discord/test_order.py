"""Inbound order on Discord: a thread reply written just before the facilitator's `/opera next` may be handled after
it (the adapter handles events side by side). It counts in the phase it was sent in (its snowflake's time)."""

from __future__ import annotations

from pathlib import Path

from tests.contract.discord_harness import discord_world
from tests.discord.fake_discord import FakeDiscord


async def test_a_numbered_comment_sent_before_next_but_handled_after_it_is_a_comment(
        fake: FakeDiscord, tmp_path: Path) -> None:
    async with discord_world(tmp_path, fake) as h:
        fac, (ann, ben, cat) = h.facilitator, h.people[:3]
        await h.command(fac, "start own=open What should the network change first?")
        await h.reply_in_thread(ann, "A shared calendar")
        await h.reply_in_thread(ben, "A newsletter")
        for step in ("skip", "next"):  # no Pair: both ideas are proposals in Explain
            await h.command(fac, step)
        thread = h.session_thread()
        in_time = fake.user_writes(cat, thread, "2: who would write it?")  # written in Explain...
        await h.command(fac, "next")  # ...Rank begins...
        await fake.user_says(cat, thread, "", message_id=in_time)  # ...and only then is it handled
        await h.settle()
        await h.reply_in_thread(cat, "1: and who keeps it up to date?")  # written in Rank: a late idea, as before

        told = [m["content"] for m in fake.bot_messages() if "marked late" in m["content"]]
        assert not any("who would write it?" in text for text in told)
        await h.command(fac, "end")
        note = h.notes()[-1].text
        lines = note.splitlines()
        comment = next(n for n, line in enumerate(lines) if "who would write it?" in line)
        proposal = max(n for n, line in enumerate(lines[:comment]) if "newsletter" in line.lower())
        assert "calendar" not in " ".join(lines[proposal:comment]).lower(), "a comment under proposal 2"
        assert "Comments: 1" in note, "only the comment written in Explain is one"
