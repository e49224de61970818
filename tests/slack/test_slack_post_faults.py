"""A post Slack may or may not have stored (a 5xx, or the connection dropped) is found before it is sent
again: nothing doubled in people's chat, nothing lost. The real slack_sdk client against the fake."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.base import DeliveryError
from adapters.slack import SlackAdapter, make_client
from adapters.slack.adapter import NOTE_DRAFT_EVENT, POST_EVENT
from adapters.slack.throttle import ChannelThrottle
from tests.contract.slack_harness import TOKEN, SlackHarness, make_slack_harness, posts_by_place
from tests.slack.fake_slack import FakeSlack, Fault, Message

CHANNEL = "C0FAULTS"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def adapter(fake: FakeSlack) -> SlackAdapter:
    return SlackAdapter(make_client(TOKEN, fake.api_url), ChannelThrottle(per_second=500, burst=50),
                        repost_backoff=0.01)


def posted(fake: FakeSlack, channel: str = CHANNEL) -> list[Message]:
    return [m for m in fake.bot_messages() if m.channel == channel]


def post_attempts(fake: FakeSlack) -> int:
    return len(fake.calls_to("chat.postMessage", ok_only=False))


@pytest.mark.parametrize("fault", ["500_after", "drop_after"])
async def test_a_post_slack_stored_before_failing_appears_once(fake: FakeSlack, adapter: SlackAdapter,
                                                               fault: Fault) -> None:
    fake.faults["chat.postMessage"] = [fault]
    ref = await adapter.post_message(CHANNEL, text="Your pair: Amara and Ben")
    assert [m.text for m in posted(fake)] == ["Your pair: Amara and Ben"]
    assert ref == posted(fake)[0].ref, "the ref is the stored message's, so later edits and buttons find it"
    assert post_attempts(fake) == 1 and len(fake.calls_to("conversations.history")) == 1
    # The bot carries on: the next post goes out as usual.
    await adapter.post_message(CHANNEL, text="Pick your best idea")
    assert [m.text for m in posted(fake)] == ["Your pair: Amara and Ben", "Pick your best idea"]


async def test_a_post_slack_refused_before_storing_is_sent_again_once(fake: FakeSlack,
                                                                      adapter: SlackAdapter) -> None:
    fake.faults["chat.postMessage"] = ["503_before"]
    ref = await adapter.post_message(CHANNEL, text="Rank: vote for two proposals")
    assert [m.text for m in posted(fake)] == ["Rank: vote for two proposals"]
    assert ref == posted(fake)[0].ref
    assert post_attempts(fake) == 2


@pytest.mark.parametrize("fault", ["500_after", "503_before"])
async def test_a_thread_reply_is_looked_for_in_its_thread(fake: FakeSlack, adapter: SlackAdapter,
                                                          fault: Fault) -> None:
    parent = (await adapter.post_message(CHANNEL, text="What should the council learn?")).split(":")[1]
    fake.faults["chat.postMessage"] = [fault]
    ref = await adapter.post_message(CHANNEL, text="Proposal 2: pay people for their time", thread_ts=parent)
    replies = [m for m in posted(fake) if m.thread_ts == parent]
    assert [m.text for m in replies] == ["Proposal 2: pay people for their time"] and ref == replies[0].ref
    looked = fake.calls_to("conversations.replies")
    assert len(looked) == 1 and looked[0].params["ts"] == parent
    assert not fake.calls_to("conversations.history"), "a thread reply is not in the channel's history"


async def test_when_slack_keeps_failing_the_post_gives_up_with_a_clear_error(
        fake: FakeSlack, adapter: SlackAdapter, caplog: pytest.LogCaptureFixture) -> None:
    fake.faults["chat.postMessage"] = ["503_before"] * 10
    with caplog.at_level(logging.WARNING, logger="facilitator.slack"), pytest.raises(DeliveryError) as failed:
        await adapter.post_message(CHANNEL, text="Explain: the pairs' picks")
    assert "Slack refused the call" in failed.value.message
    assert not posted(fake)
    assert post_attempts(fake) == adapter.post_attempts == 3, "bounded: no endless retrying"
    assert "failed 3 times; giving up" in caplog.text


async def test_when_slack_never_answers_the_error_says_a_message_may_be_missing(
        fake: FakeSlack, adapter: SlackAdapter) -> None:
    fake.faults["chat.postMessage"] = ["drop_before"] * 10
    with pytest.raises(DeliveryError) as failed:
        await adapter.post_message(CHANNEL, text="Empty chair: who isn't here?")
    assert "did not answer" in failed.value.message
    assert not posted(fake)
    assert post_attempts(fake) == 3 and len(fake.calls_to("conversations.history")) == 3


async def test_if_the_look_fails_the_post_is_sent_again_rather_than_lost(
        fake: FakeSlack, adapter: SlackAdapter, caplog: pytest.LogCaptureFixture) -> None:
    fake.faults["chat.postMessage"] = ["503_before"]
    fake.faults["conversations.history"] = ["503_before", "503_before"]  # the SDK's own retry fails too
    with caplog.at_level(logging.WARNING, logger="facilitator.slack"):
        await adapter.post_message(CHANNEL, text="Own: write your ideas alone")
    assert [m.text for m in posted(fake)] == ["Own: write your ideas alone"]
    assert "could not look for a failed post" in caplog.text


async def test_other_methods_are_still_retried_on_5xx_and_dropped_connections(
        fake: FakeSlack, adapter: SlackAdapter) -> None:
    fake.users["UBEN"] = "Ben"
    fake.faults["conversations.open"] = ["503_before"]
    fake.faults["users.info"] = ["drop_after"]
    dm, ben = await asyncio.gather(adapter.dm_channel("UAMARA"), adapter.person("UBEN"))
    assert dm == fake.im_of("UAMARA") and ben.name == "Ben"
    assert [c.status for c in fake.calls_to("conversations.open", ok_only=False)] == [503, 200]
    assert [c.status for c in fake.calls_to("users.info", ok_only=False)] == [0, 200]


async def test_every_post_carries_its_own_nonce_beside_its_metadata(fake: FakeSlack,
                                                                    adapter: SlackAdapter) -> None:
    note = {"event_type": NOTE_DRAFT_EVENT, "event_payload": {"session": "S1"}}
    await adapter.post_message(CHANNEL, text="plain")
    await adapter.post_message(CHANNEL, text="plain")
    await adapter.post_message(CHANNEL, text="note", metadata=note)
    plain1, plain2, drafted = (m.metadata or {} for m in posted(fake))
    assert plain1["event_type"] == plain2["event_type"] == POST_EVENT
    assert plain1["event_payload"]["post"] != plain2["event_payload"]["post"]
    assert drafted["event_type"] == NOTE_DRAFT_EVENT and drafted["event_payload"]["session"] == "S1"
    assert drafted["event_payload"]["post"]
    assert note == {"event_type": NOTE_DRAFT_EVENT, "event_payload": {"session": "S1"}}, "caller's dict untouched"


# --- a whole session with faults in the middle ------------------------------------------------------------


async def _session(h: SlackHarness, at_pair: list[Fault], at_explain: list[Fault],
                   at_end: list[Fault]) -> Counter[tuple[str, str]]:
    """Start, ideas, Pair (intros in group DMs), Explain (in the thread), end (the note by DM); each step's
    first chat.postMessage calls fail as its faults say. Returns what was posted, with counts."""
    fac, people = h.facilitator, h.people
    await h.command(fac, "start own=open How do we share power?")
    for n, person in enumerate(people[:4], start=1):
        await h.reply_in_thread(person, f"Idea {n}")
    await _step_with_faults(h, "next", at_pair)
    await h.say_in_pair(people[0], "sounds good")
    await _step_with_faults(h, "next", at_explain)
    await _step_with_faults(h, "end", at_end)
    return posts_by_place(h)


async def _step_with_faults(h: SlackHarness, command: str, faults: list[Fault]) -> None:
    h.fake.faults["chat.postMessage"] = list(faults)
    await h.command(h.facilitator, command)
    assert not h.fake.faults["chat.postMessage"], "every fault was met"



async def test_a_session_with_slack_failing_mid_way_doubles_nothing_and_loses_nothing(tmp_path: Path) -> None:
    (tmp_path / "calm").mkdir()
    (tmp_path / "faulty").mkdir()
    async with make_slack_harness(tmp_path / "calm") as calm:
        expected = await _session(calm, [], [], [])
    async with make_slack_harness(tmp_path / "faulty") as h:
        h.adapter.repost_backoff = 0.01
        at_pair: list[Fault] = ["500_after", "drop_after", "503_before", "500_after", "500_after"]
        got = await _session(h, at_pair, ["500_after"], ["drop_after"])
        looked = [c for c in h.fake.calls if c.method in ("conversations.history", "conversations.replies")]
        assert len(h.notes()) == 1, "the note found after a dropped connection keeps its own metadata"
    assert got == expected
    # The faults met posts in the channel, the thread, a pair's group DM and the facilitator's DM.
    assert {c.method for c in looked} == {"conversations.history", "conversations.replies"}
    assert {c.params["channel"][0] for c in looked} == {"C", "G", "D"}
