"""The HTTP edge: signatures, acks before work, every message subtype acked, retries, modals, logs."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import string
import time
from pathlib import Path

from adapters.base import Inbound, Reply
from adapters.formbook import FormBook
from adapters.slack import redact_tokens, render
from tests.contract.slack_harness import TOKEN, SlackHarness
from tests.slack.fake_slack import BOT_ID


def ideas_count(h: SlackHarness) -> int:
    assert h.runtime is not None
    session = next(iter(h.runtime.sessions.values()))
    return len(session.live_ideas())


async def test_forged_signature_and_stale_timestamp_get_401(slack: SlackHarness) -> None:
    await slack.command(slack.facilitator, "start own=open Where next?")
    thread = slack.session_thread()
    event = {"type": "message", "channel": slack.channel, "user": slack.people[0], "text": "sneaky",
             "ts": slack.fake.next_ts(), "thread_ts": thread, "channel_type": "channel"}
    status, _ = await slack.signed.event(event, "EvForged", secret="not-the-signing-secret")
    assert status == 401
    status, _ = await slack.signed.event(event, "EvStale", timestamp=int(time.time()) - 301)
    assert status == 401
    status, _ = await slack.signed.command("/opera", "next", slack.facilitator, "Fay", slack.channel,
                                           slack.fake.response_url(slack.facilitator, slack.channel), "t1",
                                           secret="forged")
    assert status == 401
    await slack.settle()
    assert ideas_count(slack) == 0
    status, _ = await slack.signed.event(event, "EvGood")  # the same event, properly signed, is taken
    await slack.settle()
    assert status == 200 and ideas_count(slack) == 1


async def test_every_message_subtype_is_acked_so_slack_never_retries(slack: SlackHarness) -> None:
    await slack.command(slack.facilitator, "start own=open Where next?")
    await slack.command("UAMARA", "join")  # her DM below reaches the session: she is in it
    c, ts = slack.channel, slack.fake.next_ts
    events = [
        {"type": "message", "subtype": "channel_join", "channel": c, "user": "UNEW", "text": "joined", "ts": ts()},
        {"type": "message", "subtype": "bot_message", "channel": c, "bot_id": "BOTHER", "text": "hi", "ts": ts()},
        {"type": "message", "channel": c, "bot_id": BOT_ID, "user": "UBOT", "text": "my own post", "ts": ts()},
        {"type": "message", "subtype": "message_changed", "channel": c, "hidden": True, "ts": ts(),
         "message": {"bot_id": BOT_ID, "text": "x", "ts": "1.0", "reply_count": 3},
         "previous_message": {"bot_id": BOT_ID, "text": "x", "ts": "1.0"}},
        {"type": "message", "subtype": "message_deleted", "channel": c, "hidden": True, "ts": ts(),
         "deleted_ts": "1.0", "previous_message": {"bot_id": BOT_ID, "text": "x", "ts": "1.0"}},
        {"type": "message", "subtype": "message_replied", "channel": c, "hidden": True, "ts": ts(),
         "message": {"user": "UX", "text": "y", "ts": "2.0"}},
        {"type": "message", "subtype": "channel_topic", "channel": c, "user": "UX", "text": "topic", "ts": ts()},
        {"type": "message", "subtype": "ekm_access_denied", "channel": c, "user": "UX", "ts": ts()},
        {"type": "message", "channel": "DUAMARA", "user": "UAMARA", "text": "hello", "ts": ts(), "channel_type": "im"},
        {"type": "message", "channel": c, "user": "UBEN", "text": "top-level chatter", "ts": ts(),
         "channel_type": "channel"},
    ]
    for n, event in enumerate(events):
        assert await slack.deliver(event, f"EvSub{n}") == 200, event
    # A thread_broadcast ("also send to channel") is a person's thread reply like any other.
    thread = slack.session_thread()
    broadcast = {"type": "message", "subtype": "thread_broadcast", "channel": c, "user": "UCHLOE",
                 "text": "An idea, also sent to the channel", "ts": ts(), "thread_ts": thread,
                 "channel_type": "channel"}
    assert await slack.deliver(broadcast, "EvB") == 200
    assert ideas_count(slack) == 2  # the DM to the bot and the broadcast; nothing from bots or chatter


async def test_retried_deliveries_never_duplicate(slack: SlackHarness) -> None:
    await slack.command(slack.facilitator, "start own=open Where next?")
    thread = slack.session_thread()
    msg = slack.fake.add_user_message(slack.channel, slack.people[0], "Open the board meetings", thread)
    event = {"type": "message", "channel": slack.channel, "user": slack.people[0], "text": msg.text, "ts": msg.ts,
             "thread_ts": thread, "channel_type": "channel"}
    for retry in (None, 1, 2, 3):
        assert await slack.deliver(event, "EvRetry", retry=retry) == 200
    assert ideas_count(slack) == 1
    acks = [m for m in slack.fake.bot_messages() if m.channel == f"D{slack.people[0]}"]
    edit = {"type": "message", "subtype": "message_changed", "channel": slack.channel, "hidden": True,
            "ts": slack.fake.next_ts(), "message": {"user": slack.people[0], "text": "Open every meeting",
                                                   "ts": msg.ts, "thread_ts": thread},
            "previous_message": {"user": slack.people[0], "text": msg.text, "ts": msg.ts}}
    for retry in (None, 1):
        await slack.deliver(edit, "EvEdit", retry=retry)
    assert acks == [m for m in slack.fake.bot_messages() if m.channel == f"D{slack.people[0]}"][: len(acks)]
    assert ideas_count(slack) == 1
    assert slack.runtime is not None
    idea = next(iter(slack.runtime.sessions.values())).live_ideas()[0]
    assert idea.text == "Open every meeting"


async def test_a_stuck_runtime_still_gets_slack_its_ack_within_the_deadline(slack: SlackHarness) -> None:
    assert slack.runtime is not None
    slack.adapter.ack_seconds = 0.2  # 2.5 s in production: inside Slack's 3 s
    gate = asyncio.Event()
    receive = slack.runtime.receive

    async def slow(inbound: Inbound) -> Reply | None:
        await gate.wait()  # the runtime is stuck: Slack must still have its ack
        return await receive(inbound)

    slack.adapter.bind(slow)
    status, body = await slack.signed.command("/opera", "start Where next?", slack.facilitator, "Fay",
                                              slack.channel, slack.fake.response_url(slack.facilitator, "C"), "t9")
    assert status == 200  # answered while the runtime is still stuck on the gate
    assert not slack.fake.bot_messages()
    gate.set()
    await slack.settle()
    assert slack.session_thread() is not None


async def test_start_modal_gives_the_full_settings(slack: SlackHarness) -> None:
    fac, people = slack.facilitator, slack.people
    assert await slack.command(fac, "start") is None
    view = next(iter(slack.fake.views.values()))
    assert view["callback_id"] == "op_start"
    assert {b["block_id"] for b in view["blocks"]} >= {"question", "structure", "voting", "dots", "own", "convenor",
                                                       "cofacilitators", "attribution", "minutes_own"}
    await slack.submit(fac, view, {"question": "How do we reach young carers?", "voting": "approval",
                                   "own": "open", "convenor": people[0], "cofacilitators": [people[1]],
                                   "attribution": True, "minutes_own": "2.5", "dots": "4"})
    assert slack.runtime is not None
    session = next(iter(slack.runtime.sessions.values()))
    assert session.question == "How do we reach young carers?"
    assert session.convenor == people[0] and session.cofacilitators == [people[1]]
    assert session.options.voting == "approval" and not session.options.own_private
    assert session.options.attribution and session.options.dots == 4
    assert session.options.minutes == {"own": 2.5, "pair": 8.0, "explain": 8.0, "rank": 4.0, "report": 6.0,
                                       "arrange": 5.0}
    assert "Reply in this thread" in [m for m in slack.seen() if "**Own**" in m.text][-1].text


async def test_borda_ballot_rejects_duplicate_ranks_in_the_modal(slack: SlackHarness) -> None:
    fac, people = slack.facilitator, slack.people
    await slack.command(fac, "start voting=borda own=open Where next?")
    for n, person in enumerate(people[:3], start=1):
        await slack.reply_in_thread(person, f"Idea {n}")
    for step in ("skip", "next", "next"):  # skip Pair: every idea goes forward as a proposal
        await slack.command(fac, step)
    ballot = [m for m in slack.seen() if "**Rank**" in m.text][-1]
    await slack.click(people[0], ballot.ref, "Vote", {"rank_1": "P2", "rank_2": "P2", "rank_3": "P1"})
    assert slack.last_errors == {"f_rank_2": "Already ranked above: choose a different proposal."}
    assert slack.runtime is not None
    assert not next(iter(slack.runtime.sessions.values())).ballots
    view = list(slack.fake.views.values())[-1]
    assert view["blocks"][0]["element"]["type"] == "static_select"
    await slack.submit(people[0], view, {"rank_1": "P2", "rank_2": "P3", "rank_3": "P1"})
    assert slack.last_errors == {}
    assert next(iter(slack.runtime.sessions.values())).ballots[people[0]].ranking == ["P2", "P3", "P1"]
    confirmation = [m for m in slack.seen() if "Your ballot is saved" in m.text]
    assert [m.where for m in confirmation] == [f"private:{people[0]}"]


async def test_approval_ballot_uses_a_multi_select(slack: SlackHarness) -> None:
    fac, people = slack.facilitator, slack.people
    await slack.command(fac, "start voting=approval own=open Where next?")
    for n, person in enumerate(people[:2], start=1):
        await slack.reply_in_thread(person, f"Idea {n}")
    for step in ("skip", "next", "next"):
        await slack.command(fac, step)
    ballot = [m for m in slack.seen() if "**Rank**" in m.text][-1]
    await slack.click(people[2], ballot.ref, "Vote", {"approve": ["P1", "P2"]})
    view = list(slack.fake.views.values())[-1]
    assert view["blocks"][0]["element"]["type"] == "multi_static_select"
    assert slack.runtime is not None
    assert next(iter(slack.runtime.sessions.values())).ballots[people[2]].points == {"P1": 1, "P2": 1}


async def test_tokens_never_reach_the_logs(slack: SlackHarness, caplog) -> None:  # noqa: ANN001
    redact_tokens()
    caplog.set_level(logging.DEBUG)
    await slack.command(slack.facilitator, "start Where next?")
    await slack.reply_in_thread(slack.people[0], "an idea")
    logging.getLogger("facilitator.slack").warning("a careless line with %s in it", TOKEN)
    assert caplog.records and TOKEN not in caplog.text
    assert "xoxb-[redacted]" in caplog.text


async def test_a_button_keeps_working_after_a_restart(slack: SlackHarness) -> None:
    """The form travels in the button: a new adapter (empty memory) still opens the modal."""
    await slack.command(slack.facilitator, "start Where next?")
    own = [m for m in slack.seen() if "**Own**" in m.text][-1]
    slack.adapter.forms = FormBook()  # nothing remembered
    button = slack.fake.message(own.ref).buttons()[0]
    assert button["action_id"].startswith("op|") and len(button["action_id"]) <= 255
    await slack.click(slack.people[0], own.ref, "Add an idea", {"idea": "Still works"})
    view = list(slack.fake.views.values())[-1]
    assert json.loads(view["private_metadata"])["a"] == "add_idea"
    assert ideas_count(slack) == 1


async def test_a_form_too_big_for_its_button_still_opens_after_a_restart(slack: SlackHarness, tmp_path: Path) -> None:
    """A long pick list does not fit Slack's 2,000-character button value; it is kept on disk instead."""
    await slack.command(slack.facilitator, "start own=open Where next?")
    rng = random.Random(7)  # varied text, so compression cannot squeeze the form into the button
    ideas = [" ".join("".join(rng.choices(string.ascii_lowercase, k=6)) for _ in range(11)) for _ in range(39)]
    await slack.reply_in_thread(slack.people[0], "\n".join(f"- {idea}" for idea in ideas))
    await slack.reply_in_thread(slack.people[1], "A second idea")
    await slack.command(slack.facilitator, "next")
    intro = next(m for m in slack.seen() if m.where.startswith("pair:") and "Pick" in m.buttons)
    button = next(b for b in slack.fake.message(intro.ref).buttons() if b["text"]["text"] == "Pick")
    assert render.unpack_button_value(button["value"])[1] is None, "the form was expected not to fit the button"

    restarted = FormBook(tmp_path / "slack-forms.sqlite3")  # the harness's file, as a new process opens it
    await restarted.open()
    slack.adapter.forms = restarted
    try:
        before = len(slack.fake.views)
        await slack.click(slack.people[0], intro.ref, "Pick", {"ideas": ["i1"], "reason": "Long but good"})
        [view] = list(slack.fake.views.values())[before:]
        offered = [o for b in view["blocks"] if b.get("type") == "input" for o in b["element"].get("options", [])]
        assert len(offered) == 40, "the pair's 40 ideas to pick from"
        assert any("picked for the pair" in m.text for m in slack.seen() if m.where == intro.where)
    finally:
        await restarted.close()
