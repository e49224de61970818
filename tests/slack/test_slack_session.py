"""A whole OPERA session over Slack: 7 participants (so one trio), private Own, dot voting, approved note."""

from __future__ import annotations

import re

from adapters.slack.adapter import NOTE_DRAFT_EVENT
from tests.contract.harness import Seen
from tests.contract.slack_harness import SlackHarness

QUESTION = "What should the council learn from people who use its services?"


def last_with(h: SlackHarness, text: str) -> Seen:
    found = [m for m in h.seen() if text in m.text]
    assert found, f"no bot message contains {text!r}"
    return found[-1]


async def test_whole_session_end_to_end(slack: SlackHarness) -> None:
    h, fake = slack, slack.fake
    fac, people = h.facilitator, h.people[:7]
    assert await h.command(fac, f"start {QUESTION}") is None

    # The controls reach the facilitator alone, in their DM, with every button.
    controls = last_with(h, "You're facilitating")
    assert controls.where == f"private:{fac}" and "Next phase" in controls.buttons

    # Own (private): ideas through the Add an idea modal, and one by DM.
    own = last_with(h, "**Own**")
    assert own.where == "thread"
    for n, person in enumerate(people[:6], start=1):
        await h.click(person, own.ref, "Add an idea", {"idea": f"Idea {n}: listen to group {n}"})
    await h.command(people[6], "join")  # a DM reaches only a session you are in
    await h.direct_message(people[6], "Idea 7: pay people for their time")
    assert not [m for m in h.seen() if "listen to group 1" in m.text and m.where != f"private:{people[0]}"]

    # Pair: the Next phase button (not the command) moves on; 7 people make two pairs and one trio.
    await h.click(fac, controls.ref, "Next phase")
    opened = fake.calls_to("conversations.open")
    groups = sorted(len(c.params["users"].split(",")) for c in opened if "," in c.params["users"])
    assert groups == [2, 2, 3]
    intros = [m for m in h.seen() if m.where.startswith("pair:") and "Pick" in m.buttons]
    assert len(intros) == 3 and len({m.where for m in intros}) == 3
    # Talk in a pair space comes back as a message in that space (the runtime keeps it there).
    space_ref = await h.say_in_pair(people[0], "I like yours better")
    assert space_ref.startswith(fake.pair_space_of(people[0]) + ":")
    for intro in intros:
        space = intro.where.removeprefix("pair:")
        member = fake.conversations[space][0]
        first = re.search(r"#(\d+) ", intro.text)
        assert first
        await h.click(member, intro.ref, "Pick", {"ideas": f"i{first.group(1)}", "reason": "Most concrete"})
    picked = [m for m in h.seen() if "picked for the pair" in m.text]
    assert len(picked) == 3 and all(m.where.startswith("pair:") for m in picked)

    # Explain: proposals in the session thread; a numbered reply becomes a comment.
    await h.command(fac, "next")
    proposals = [m for m in h.seen() if m.text.startswith("**Proposal")]
    assert len(proposals) == 3 and {m.where for m in proposals} == {"thread"}
    await h.reply_in_thread(people[3], "2: who would run it?")

    # Rank: dot ballots in a modal; the confirmation goes to the voter alone; a changed ballot is counted once.
    await h.command(fac, "next")
    ballot = last_with(h, "**Rank**")
    for person in people:
        await h.click(person, ballot.ref, "Vote", {"P1": "2", "P2": "1"})
    await h.click(people[0], ballot.ref, "Vote", {"P3": "2", "P2": "1"})
    saved = [m for m in h.seen() if m.text.startswith("Your ballot is")]
    assert len(saved) == 8 and all(m.where.startswith("private:") for m in saved)
    assert "changed" in [m for m in saved if m.where == f"private:{people[0]}"][-1].text

    # Arrange: the facilitator renames a theme through the Edit themes modal, then confirms.
    await h.command(fac, "next")
    arrange = last_with(h, "**Arrange**")
    await h.click(fac, arrange.ref, "Edit themes", {"op": "rename", "theme": "1", "label": "Listening first"})
    await h.click(fac, arrange.ref, "Confirm themes")
    await h.command(fac, "end")

    # The note: a DM to the convenor with the Markdown and JSON files (files upload v2), then Approve.
    notes = h.notes()
    assert len(notes) == 1 and notes[0].where == f"private:{fac}"
    assert sorted(f.rsplit(".", 1)[1] for f in notes[0].files) == ["json", "md"]
    assert [c.method for c in fake.calls if c.method.startswith("files.")] == [
        "files.getUploadURLExternal", "files.getUploadURLExternal", "files.completeUploadExternal"]
    markdown = next(u["data"] for u in fake.uploads.values() if u["filename"].endswith(".md")).decode()
    assert "Listening first" in markdown and "who would run it?" in markdown
    assert "Results" in last_with(h, "**Results**").text
    await h.click(fac, notes[0].ref, "Approve and post to the channel")
    await h.click(fac, notes[0].ref, "Approve and post to the channel")  # a second press posts nothing more
    published = h.published()
    assert len(published) == 1 and published[0].where == "channel"
    assert "Listening first" in published[0].text
    drafts = [m for m in fake.bot_messages() if (m.metadata or {}).get("event_type") == NOTE_DRAFT_EVENT]
    assert len(drafts) == 1
    assert not any(m.pings for m in h.seen())


async def test_hostile_text_from_slack_cannot_ping_or_break_formatting(slack: SlackHarness) -> None:
    """Real mentions arrive from Slack as control syntax; typed brackets arrive as entities. Neither survives."""
    h = slack
    await h.command(h.facilitator, "start own=open Where next?")
    thread = h.session_thread()
    hostile = ("<!channel> <!here> <!everyone> <@UFAY> <@UFAY|fay> <!subteam^S01|@team> "
               "<https://evil.example|click me> &lt;!here&gt; @channel **loud** ```x```")
    for n, person in enumerate(h.people[:2]):
        msg = h.fake.add_user_message(h.channel, person, hostile, thread)
        await h.deliver({"type": "message", "channel": h.channel, "user": person, "text": msg.text, "ts": msg.ts,
                         "thread_ts": thread, "channel_type": "channel"}, f"EvHostile{n}")
    await h.command(h.facilitator, "next")
    repeated = [m for m in h.fake.bot_messages() if "evil.example" in m.text]
    assert repeated, "the pair space repeats the ideas"
    for m in h.fake.bot_messages():
        raw = m.text + str(m.blocks)
        assert "<!" not in raw and "<@" not in raw and "<http" not in raw, raw
    assert not any(s.pings for s in h.seen())
    shown = [s for s in h.seen() if "evil.example" in s.text][0].text
    assert "**loud**" in shown and "```" not in shown
