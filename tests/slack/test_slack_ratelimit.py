"""429 storms and the per-channel throttle: nothing lost, nothing posted twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from adapters.slack import SlackAdapter, make_client
from adapters.slack.throttle import ChannelThrottle
from tests.contract.slack_harness import TOKEN, SlackHarness, make_slack_harness, posts_by_place
from tests.slack.fake_slack import FakeSlack


async def _script(h: SlackHarness) -> Counter[tuple[str, str]]:
    """A short session; returns what was posted, as (kind of place, text) with counts."""
    fac, people = h.facilitator, h.people
    await h.command(fac, "start own=open How do we share power?")
    for n, person in enumerate(people[:4], start=1):
        await h.reply_in_thread(person, f"Idea {n}")
    await h.command(fac, "next")
    for person in people[:4]:
        await h.say_in_pair(person, "sounds good")
    await h.command(fac, "end")
    return posts_by_place(h)



async def test_a_429_storm_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    (tmp_path / "calm").mkdir()
    (tmp_path / "storm").mkdir()
    async with make_slack_harness(tmp_path / "calm") as calm:
        expected = await _script(calm)
    storm = FakeSlack(retry_after=0)
    # More consecutive 429s than the SDK's handler retries (3): the adapter waits those out too.
    storm.fail_next = {"chat.postMessage": 6, "conversations.open": 2, "users.info": 1,
                       "files.getUploadURLExternal": 1, "files.completeUploadExternal": 1}
    async with make_slack_harness(tmp_path / "storm", fake=storm) as h:
        got = await _script(h)
        limited = [c for c in storm.calls if c.status == 429]
    assert len(limited) == 11
    assert got == expected
    assert sum(1 for m in h.fake.bot_messages() if m.files) == 1


async def test_the_throttle_spaces_posts_in_one_channel_and_not_across_channels() -> None:
    fake = FakeSlack(channel_rate=20, burst=2, retry_after=0)
    await fake.start()
    try:
        throttle = ChannelThrottle(per_second=20, burst=2)
        adapter = SlackAdapter(make_client(TOKEN, fake.api_url), throttle)
        await asyncio.gather(*(adapter.post_message("C1", text=f"post {n}") for n in range(8)))
        one_channel = throttle.waited
        await asyncio.gather(*(adapter.post_message(f"C{n + 10}", text="hello") for n in range(8)))
        many_channels = throttle.waited - one_channel
    finally:
        await fake.stop()
    # Queue time the throttle chose, not wall-clock time: it held posts back in the one busy channel (the
    # fake, which enforces 20/s after a burst of 2, saw no 429) and never when each post had a channel of its own.
    assert one_channel > 0
    assert many_channels == 0
    assert not [c for c in fake.calls if c.status == 429], "the throttle keeps under the fake's limit"
    assert [m.text for m in fake.bot_messages() if m.channel == "C1"] == [f"post {n}" for n in range(8)]


async def test_without_the_throttle_slack_pushes_back_but_every_post_lands_once() -> None:
    fake = FakeSlack(channel_rate=20, burst=2, retry_after=0)
    await fake.start()
    try:
        adapter = SlackAdapter(make_client(TOKEN, fake.api_url), ChannelThrottle(enabled=False))
        await asyncio.gather(*(adapter.post_message("C1", text=f"post {n}") for n in range(6)))
    finally:
        await fake.stop()
    assert [c for c in fake.calls if c.status == 429]
    assert sorted(m.text for m in fake.bot_messages()) == [f"post {n}" for n in range(6)]


async def test_people_looked_up_at_once_cost_one_call_each_and_a_failed_look_up_is_not_hammered() -> None:
    fake = FakeSlack(retry_after=0)
    await fake.start()
    try:
        fake.users["UBEN"] = "Ben"
        adapter = SlackAdapter(make_client(TOKEN, fake.api_url))
        # 20 events from Ben arrive together (a burst of button presses): one users.info call, not 20.
        people = await asyncio.gather(*(adapter.person("UBEN") for _ in range(20)))
        assert {p.name for p in people} == {"Ben"}
        assert len(fake.calls_to("users.info", ok_only=False)) == 1
        # Slack cannot say who UANA is: she is named by the hint, and the failure is not asked again at once.
        fake.faults["users.info"] = ["503_before"] * 10
        first = await adapter.person("UANA", hint="ana")
        calls = len(fake.calls_to("users.info", ok_only=False))
        again = await asyncio.gather(*(adapter.person("UANA", hint="ana") for _ in range(10)))
    finally:
        await fake.stop()
    assert first.name == "ana" and {p.name for p in again} == {"ana"}
    assert len(fake.calls_to("users.info", ok_only=False)) == calls
