"""Two bot processes (`facilitator run slack --http`) on one PostgreSQL behind a loopback round-robin load
balancer, Slack's signed requests alternating between them (tests/runtime/slack_fleet.py).

- A 60-person OPERA session (start, join, private ideas by DM, picks typed in the pair spaces, a comment on a
  proposal, votes in the ballot's form, Arrange, end, the note approved by its button), each idea's event sent
  again at the same time as Slack's retry, which reaches the other process: the note drafted and the note
  posted are complete and the ones a single process gives for the script without retries, and so is
  everything else the bot posted (each idea taken once).
- Two `start`s at once in one channel, one to each process: one session starts, and the other facilitator is
  told one is running, as on one process; forty at once in forty channels on one process all start (each holds
  its channel's lock while it takes its session's, from the same connections).
- A post that failed for good in one process (the bot removed from the channel), `retry` given to the other
  once it is fixed: the other sends it, once, and the first no longer holds it.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

from tests.contract.slack_harness import posts_by_place
from tests.runtime.slack_fleet import Fleet, fleet
from tests.runtime.test_shared import _note

FAY = "UFAY"
QUESTION = "What should the network do first?"


TOPICS = ("open the hall late on Fridays", "a creche during every meeting", "bus fares paid for volunteers",
          "plain English in all our letters", "a youth seat on the board", "meetings in the evening")


def _idea(n: int) -> str:
    return f"{TOPICS[n % len(TOPICS)]} (idea {n})"


async def _session(h: Fleet, crowd: list[str], retries: bool) -> tuple[str, str]:
    """A whole OPERA session through the load balancer; the draft note (its Markdown file) and the note posted.
    `retries`: each idea's event is sent twice at once, as Slack retries an event it had no answer to in 3 s."""
    h.fake.users.update({p: f"Person {n}" for n, p in enumerate(crowd)})
    await h.command(FAY, f"start own=private {QUESTION}")
    await h.wait_for(h.session_thread, "the session's post")
    for person in crowd:
        await h.command(person, "join")
        assert h.last_status == 200
    for n, person in enumerate(crowd):  # Own: private ideas, by DM
        event, event_id = h.dm_event(person, _idea(n)), f"EvIdea{n}"
        if retries:  # behind the round-robin, the retry reaches the other process
            sent = await asyncio.gather(h.deliver(event, event_id), h.deliver(event, event_id, retry=1))
            assert sent == [200, 200]
        else:
            assert await h.deliver(event, event_id) == 200
    await h.command(FAY, "next")  # Pair: each pair types its pick in its group DM
    pairs = len(crowd) // 2
    intros = await h.wait_for(lambda: len(found := h.posted("Your pair")) == pairs and found, "every pair's intro")
    for intro in sorted(intros, key=lambda m: m.channel):
        first = re.search(r"#(\d+) ", h._display(intro))
        assert first, h._display(intro)
        member = h.fake.conversations[intro.channel][0]
        await h.say_in_pair(member, f"pick #{first.group(1)} because {h.name(member)} says so")
    await h.wait_for(lambda: len(h.posted("picked for the pair")) == pairs, "every pair's pick")
    await h.command(FAY, "next")  # Explain: a question on the first proposal
    first = await h.wait_for(lambda: h.posted("Proposal 1:"), "the proposals")
    await h.reply_to(crowd[1], first[0].ref, "1: Who pays for the late opening?")
    await h.command(FAY, "next")  # Rank: everyone votes in the ballot's form
    ballot = await h.wait_for(lambda: [m for m in h.posted("Vote") if m.buttons()], "the ballot")
    for n, person in enumerate(crowd):
        await h.click(person, ballot[-1].ref, "Vote", {f"P{n % 7 + 1}": "1", f"P{n % 11 + 1}": "2"})
    await h.command(FAY, "next")  # Arrange
    await h.wait_for(lambda: h.posted("all ideas grouped into themes"), "Arrange")
    await h.command(FAY, "end")
    draft = await h.wait_for(h.notes, "the draft note")
    await h.wait_for(lambda: any(str(u["filename"]).endswith(".md") and u["data"] for u in h.fake.uploads.values()),
                     "the note's file")
    await h.click(FAY, draft[-1].ref, "Approve")
    published = await h.wait_for(h.published, "the note in the channel")
    await h.stop()  # SIGTERM: each sends what it still owes, then exits
    return _note(h.fake), published[-1].text


async def test_a_60_person_session_through_a_round_robin_gives_the_note_one_process_gives(
        postgres, tmp_path: Path) -> None:
    crowd = [f"U{n:02d}" for n in range(60)]
    runs = {}
    for processes in (1, 2):
        folder = tmp_path / f"{processes}"
        folder.mkdir()
        async with fleet(postgres.database(), folder, processes) as h:
            note, published = await _session(h, crowd, retries=processes == 2)
            runs[processes] = (note, published, posts_by_place(h), list(h.proxy.routed))
    expected_note, expected_published, expected_posts, _ = runs[1]
    note, published, posts, routed = runs[2]
    assert routed == [n % 2 for n in range(len(routed))], "requests alternated between the two processes"
    for n in range(60):
        assert _idea(n) in note, f"idea {n} is missing from the note"
    assert "Who pays for the late opening?" in note and "60 ballots cast" in note
    assert note == expected_note, "the note differs from one process's"
    assert published == expected_published, "the note posted differs from one process's"
    assert posts - expected_posts == Counter(), "posted twice, or posted what one process does not"
    assert expected_posts - posts == Counter(), "never posted"


async def test_two_starts_at_once_in_one_channel_on_two_processes_start_one_session(postgres, tmp_path: Path) -> None:
    channels = [f"C0RACE{n}" for n in range(8)]  # each pair of starts may or may not interleave
    async with fleet(postgres.database(), tmp_path, 2) as h:
        for n, channel in enumerate(channels):  # two facilitators type start in the same channel at the same moment
            await asyncio.gather(h.command(f"UF{n}A", f"start {QUESTION}", channel),
                                 h.command(f"UF{n}B", "start Where next?", channel))
            assert h.last_status == 200
        await h.stop()  # everything they owe is posted by then
    for channel in channels:
        started = [m for m in h.posted("Breakout session:", channel) if not m.thread_ts]
        refused = [m for m in h.fake.messages if m.channel == channel and m.ephemeral_to
                   and "A session is already running in this channel" in h._display(m)]
        assert len(started) == 1, f"{len(started)} sessions started in {channel}"
        assert len(refused) == 1, "the second start is told one is running, as on one process"


async def test_retry_given_to_the_other_process_sends_what_failed_in_the_first_once(postgres, tmp_path: Path) -> None:
    async with fleet(postgres.database(), tmp_path, 2) as h:
        channel, ana = h.channel, h.people[0]
        await h.command(FAY, f"start own=private {QUESTION}")
        await h.wait_for(h.session_thread, "the session's post")
        await h.command(ana, "join")
        assert await h.deliver(h.dm_event(ana, "Open the hall on Sundays")) == 200
        await h.command(FAY, "end")
        draft = await h.wait_for(h.notes, "the draft note")
        await h.wait_for(lambda: h.posted("The session has ended", channel), "the end in the channel")
        h.fake.refuse[channel] = "not_in_channel"  # the bot was removed from the channel meanwhile
        await h.click(FAY, draft[-1].ref, "Approve")
        failed_in = h.proxy.routed[-1]
        await h.wait_for(lambda: h.posted("type retry", h.fake.im_of(FAY)), "the facilitator told of the failure")
        assert not h.published()

        del h.fake.refuse[channel]  # invited back
        before = len(h.fake.messages)
        await h.command(FAY, "retry")
        assert h.proxy.routed[-1] != failed_in, "retry reached the process where the post did not fail"
        told = await h.wait_for(lambda: h.told(FAY, before), "the answer to retry")
        assert "Sending again" in told[0]
        await h.wait_for(h.published, "the note in the channel")
        await h.wait_for(lambda: h.posted("has been posted", h.fake.im_of(FAY)), "the convenor told it is posted")

        before = len(h.fake.messages)
        await h.command(FAY, "retry")  # now to the process where it failed: it holds it no longer
        assert h.proxy.routed[-1] == failed_in
        told = await h.wait_for(lambda: h.told(FAY, before), "the answer to the second retry")
        assert "Nothing is waiting" in told[0], told
        await h.stop()  # each sends what it still owes
    assert len(h.published()) == 1, "the note was posted once"
    assert "Open the hall on Sundays" in h.published()[0].text
    assert len(h.posted("has been posted", h.fake.im_of(FAY))) == 1


async def test_forty_starts_at_once_in_forty_channels_on_one_process_all_start(postgres, tmp_path: Path) -> None:
    channels = [f"C0MANY{n}" for n in range(40)]  # more than the process's connections for locks
    async with fleet(postgres.database(), tmp_path, 1) as h:
        await asyncio.gather(*(h.command(f"UF{n}", f"start {QUESTION}", channel) for n, channel in enumerate(channels)))
        for channel in channels:
            await h.wait_for(lambda channel=channel: h.posted("Breakout session:", channel), f"a session in {channel}")
        await h.stop()
