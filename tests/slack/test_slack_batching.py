"""Explain on Slack: the proposals share as few messages as Block Kit allows, each proposal its own section, and
a reply in the thread that starts with a proposal's number still comments on that proposal."""

from __future__ import annotations

import re
from pathlib import Path

from adapters.slack.render import MAX_MESSAGE_BLOCKS
from tests.contract.slack_harness import make_slack_harness


async def test_thirty_proposals_come_in_one_message_and_a_numbered_reply_comments_on_the_right_one(
        tmp_path: Path) -> None:
    async with make_slack_harness(tmp_path) as h:
        fac, people = h.facilitator, h.people
        await h.command(fac, "start own=open What should the network change first?")
        for n in range(30):
            await h.reply_in_thread(people[n % len(people)], f"Idea {n + 1}: a shared calendar for group {n + 1}")
        before = len(h.fake.calls_to("chat.postMessage"))
        for step in ("skip", "next"):  # no Pair: every idea is a proposal in Explain
            await h.command(fac, step)

        posts = [c.params for c in h.fake.calls_to("chat.postMessage")[before:] if "Proposal" in str(c.params)]
        assert len(posts) == 1, "30 short proposals fit one message (30 sections of 50 blocks)"
        assert len(posts[0]["blocks"]) <= MAX_MESSAGE_BLOCKS
        shown = [s for s in h.seen() if s.text.startswith("**Proposal")]
        assert [int(re.match(r"\*\*Proposal (\d+):", s.text).group(1)) for s in shown] == list(range(1, 31))  # type: ignore[union-attr]
        assert {s.where for s in shown} == {"thread"} and len({s.ref for s in shown}) == 1
        assert "group 17" in shown[16].text and "group 18" not in shown[16].text

        await h.reply_in_thread(people[0], "17: who would keep it up to date?")
        await h.command(fac, "end")
        note = h.notes()[-1].text
        line = next(line for line in note.splitlines() if "who would keep it up to date?" in line)
        before_comment = note[: note.index(line)]
        assert before_comment.rstrip().splitlines()[-1].count("group 17"), "the comment sits under proposal 17"


async def test_long_proposals_are_spread_over_as_few_messages_as_the_text_limit_allows(tmp_path: Path) -> None:
    async with make_slack_harness(tmp_path) as h:
        fac, people = h.facilitator, h.people
        await h.command(fac, "start own=open What should the network change first?")
        for n in range(12):
            await h.reply_in_thread(people[n % len(people)], f"Idea {n + 1}: " + "a long careful idea " * 70)
        before = len(h.fake.calls_to("chat.postMessage"))
        for step in ("skip", "next"):
            await h.command(fac, step)
        posts = [c.params for c in h.fake.calls_to("chat.postMessage")[before:] if "Proposal" in str(c.params)]
        sizes = [sum(len(b["text"]["text"]) for b in p["blocks"] if b["type"] == "section") for p in posts]
        assert 1 < len(posts) < 12 and max(sizes) <= 12_000
        shown = [s for s in h.seen() if s.text.startswith("**Proposal")]
        assert len(shown) == 12
