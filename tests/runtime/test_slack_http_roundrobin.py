"""Two bot processes (`facilitator run slack --http`) on one PostgreSQL behind a loopback round-robin load
balancer, Slack's signed requests alternating between them (tests/runtime/slack_fleet.py).

- A 60-person session (start, join, private ideas, Pair, Arrange, end, the note approved by its button), every
  idea's event also sent again as Slack's retry, to the other process, at the same time: the note drafted and
  posted is complete and the one a single process gives for the script without retries (each idea taken once),
  and so is everything else the bot posted.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from tests.contract.slack_harness import posts_by_place
from tests.runtime.slack_fleet import Fleet, fleet
from tests.runtime.test_shared import _note

FAY = "UFAY"
QUESTION = "What should the network do first?"


def _idea(n: int) -> str:
    return f"Person {n}'s idea {n}: open the hall late"


async def _session(h: Fleet, crowd: list[str], retries: bool) -> tuple[str, str]:
    """The script, through the load balancer; the draft note (Markdown file) and the note posted. `retries`:
    each idea's event is sent twice at once, as Slack's retry of an event not answered within 3 s."""
    h.fake.users.update({p: f"Person {n}" for n, p in enumerate(crowd)})
    await h.command(FAY, f"start own=private minutes=pair:0.05 {QUESTION}")
    await h.wait_for(h.session_thread, "the session's post")
    for person in crowd:
        await h.command(person, "join")
        assert h.last_status == 200
    for n, person in enumerate(crowd):
        event, event_id = h.dm_event(person, _idea(n)), f"EvIdea{n}"
        if retries:  # behind the round-robin, the retry reaches the other process
            sent = await asyncio.gather(h.deliver(event, event_id), h.deliver(event, event_id, retry=1))
            assert sent == [200, 200]
        else:
            assert await h.deliver(event, event_id) == 200
    await h.command(FAY, "next")  # Pair, 3 s; then Explain and Rank have nothing to do, and Arrange opens
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
    assert note == expected_note, "the note differs from one process's"
    assert published == expected_published, "the note posted differs from one process's"
    assert posts - expected_posts == Counter(), "posted twice, or posted what one process does not"
    assert expected_posts - posts == Counter(), "never posted"


async def test_two_starts_at_once_in_one_channel_on_two_processes_start_one_session(postgres, tmp_path: Path) -> None:
    channels = [f"C0RACE{n}" for n in range(8)]  # each pair of starts may or may not interleave
    async with fleet(postgres.database(), tmp_path, 2) as h:
        for channel in channels:  # two facilitators type start in the same channel at the same moment
            await asyncio.gather(h.command(FAY, f"start {QUESTION}", channel),
                                 h.command("UAMARA", "start Where next?", channel))
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
