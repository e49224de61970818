"""Visible answers and fan-out under Slack's rate limits: 60 people, the real slack-bolt app and slack_sdk client
against the loopback fake Slack, which enforces chat.postMessage's 1 post per second per channel (a burst of 3)
with 429 + Retry-After past it.

What is timed is what a person sees: from the moment their request reaches the bot (a signed slash command
or event over HTTP) to the moment the fake Slack stores the message that answers them, not the HTTP ack.

- Join: 60 people type `/opera join` at the same moment.
- An idea: 60 people send a private idea at the same moment.
- An answer during a fan-out: the facilitator moves to Explain of 30 proposals (30 posts in one channel, so
  about 30 s at 1 post/s); meanwhile, one person a second asks `/opera mine` (their ideas).
- Fan-out: each phase change from the facilitator's `next` until its last post, beside its floor: the posts
  that change makes in its busiest channel, less the burst, at 1 per second.

Before the outbox (the issue's figures): `/opera status` during Explain answered after 27 s, `/opera mine` on
Discord after 29.75 s; Join p50 11.8 s, p99 81 s. Run: python bench/latency.py        (about 2 minutes)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from adapters.slack.throttle import ChannelThrottle  # noqa: E402
from tests.contract.slack_harness import SlackHarness, make_slack_harness  # noqa: E402
from tests.slack.fake_slack import FakeSlack, Message  # noqa: E402

PEOPLE = 60
RATE = 1.0  # Slack: about one message per second per channel
BURST = 3


def _answer(fake: FakeSlack, person: str, since: float, words: str) -> float | None:
    """Seconds from `since` to the first message `person` sees containing `words`."""
    for m in fake.messages:
        if (m.from_bot and float(m.ts) >= since and words in m.text
                and (m.channel == fake.im_of(person) or m.ephemeral_to == person)):
            return float(m.ts) - since
    return None


def _posts_since(fake: FakeSlack, since: float) -> list[Message]:
    return [m for m in fake.messages if m.from_bot and float(m.ts) >= since and not m.ephemeral_to]


async def _command(h: SlackHarness, person: str, text: str) -> float:
    started = time.time()
    await h.signed.command(h.command_name, text, person, h.name(person), h.channel,
                           h.fake.response_url(person, h.channel), h._id("trig"))
    return started


async def _dm(h: SlackHarness, person: str, text: str) -> float:
    started = time.time()
    channel = h.fake.im_of(person)
    msg = h.fake.add_user_message(channel, person, text)
    await h.signed.event({"type": "message", "channel": channel, "user": person, "text": text, "ts": msg.ts,
                          "event_ts": msg.ts, "channel_type": "im", "team": "T0FAKE"}, h._id("Ev"))
    return started


async def _fan_out(h: SlackHarness, label: str) -> tuple[str, float, float]:
    """The facilitator's `next`; seconds until its last post, and the floor of its busiest channel."""
    started = await _command(h, h.facilitator, "next")
    await h.settle()
    posts = _posts_since(h.fake, started)
    took = max((float(m.ts) for m in posts), default=started) - started
    busiest = max(Counter(m.channel for m in posts).values(), default=0)
    return label, took, max(busiest - BURST, 0) / RATE


def _summary(name: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"{name:<34} n={len(ordered):>3}  p50 {statistics.median(ordered):6.2f} s  p99 {p99:6.2f} s"


async def main() -> None:
    fake = FakeSlack(channel_rate=RATE, burst=BURST, retry_after=1)
    with tempfile.TemporaryDirectory() as folder:
        async with make_slack_harness(Path(folder), fake=fake, throttle=ChannelThrottle()) as h:
            people = [f"U{n:04d}" for n in range(PEOPLE)]
            for n, p in enumerate(people):
                fake.users[p] = f"P{n}"
            h.facilitator = "UFAC"
            fake.users["UFAC"] = "Fay"
            await _command(h, h.facilitator, "start own=private What should the network change first?")
            await h.settle()

            starts = await asyncio.gather(*(_command(h, p, "join") for p in people))
            await h.settle()
            joins = [_answer(fake, p, t, "You're in") for p, t in zip(people, starts, strict=True)]

            starts = await asyncio.gather(*(_dm(h, p, f"Idea from {p}: a shared calendar") for p in people))
            await h.settle()
            ideas = [_answer(fake, p, t, "Saved") for p, t in zip(people, starts, strict=True)]

            fan_outs = [await _fan_out(h, "open Pair (30 pair spaces)")]
            session = next(iter(h.runtime.sessions.values()))  # type: ignore[union-attr]
            for pair in session.pairs:
                member = pair.members[0]
                intro = next(m for m in reversed(fake.messages) if m.channel == fake.pair_space_of(member)
                             and m.from_bot and any("Pick" in str(b) for b in m.buttons()))
                own = [i.id for i in session.ideas if i.author in pair.members][:1]
                await h.click(member, intro.ref, "Pick", {"ideas": own[:1], "reason": "It helps"})

            explain = asyncio.create_task(_fan_out(h, "open Explain (30 proposals)"))
            asked: list[tuple[str, float]] = []
            for n in range(20):
                await asyncio.sleep(1.0)
                asked.append((people[n], await _command(h, people[n], "mine")))
            fan_outs.append(await explain)
            statuses = [_answer(fake, p, t, "Your ideas") for p, t in asked]

    print(f"{PEOPLE} people on Slack's limits ({RATE:g} post/s per channel, burst {BURST}); visible answers:")
    for name, values in (("Join -> You're in", joins), ("private idea -> Saved", ideas),
                         ("`mine` during the Explain fan-out", statuses)):
        got = [v for v in values if v is not None]
        print(_summary(name, got) + (f"  ({len(values) - len(got)} never answered)" if len(got) < len(values) else ""))
    print("fan-out                             seconds   floor   ratio to floor")
    for label, took, floor in fan_outs:
        ratio = f"{took / floor:5.2f}x" if floor >= 1 else "  (no rate floor)"
        print(f"{label:<34} {took:7.1f} {floor:7.1f}   {ratio}")
    worst = max(v for v in statuses if v is not None)
    print(f"`mine` answered during the fan-out within {worst:.2f} s (p99 target 2 s)")


if __name__ == "__main__":
    asyncio.run(main())
