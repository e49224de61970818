"""Visible answers and fan-out under each platform's rate limits: 60 people, the real slack-bolt app and slack_sdk
client against the loopback fake Slack, then the real discord.py client against the loopback fake Discord.
The fake Slack enforces chat.postMessage's 1 post per second per channel (a burst of 3) with 429 + Retry-After past
it; the fake Discord 5 messages per 5 s per channel (Discord's observed per-channel bucket), with the X-RateLimit
headers discord.py paces itself by and a 429 past them.

What is timed is what a person sees: from the moment their request reaches the bot (a signed slash command or
event over HTTP; a slash command or message over the gateway) to the moment the fake stores the message that
answers them, not the ack.

- Join: 60 people type `/opera join` at the same moment.
- An idea: 60 people send a private idea at the same moment.
- An answer during a fan-out: the facilitator moves to Explain of 30 proposals (one or two messages on Slack;
  30 posts in the session thread on Discord); meanwhile, one person a second asks `/opera mine` (their ideas).
- Fan-out: each phase change from the facilitator's `next` until its last post, beside its floor: the posts
  that change makes in its busiest channel, less the burst, at the channel's rate.

Before the outbox (the issue's figures): `/opera status` during Explain answered after 27 s, `/opera mine` on
Discord after 29.75 s; Join p50 11.8 s, p99 81 s. Run: python bench/latency.py        (about 3 minutes)
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from adapters.slack.throttle import ChannelThrottle  # noqa: E402
from tests.contract.discord_harness import NAMES, DiscordHarness, discord_world  # noqa: E402
from tests.contract.slack_harness import SlackHarness, make_slack_harness  # noqa: E402
from tests.discord.fake_discord import DISCORD_EPOCH_MS, FakeDiscord  # noqa: E402
from tests.slack.fake_slack import FakeSlack, Message  # noqa: E402

PEOPLE = 60
RATE = 1.0  # Slack: about one message per second per channel
BURST = 3
DISCORD_WINDOW = (5, 5.0)  # Discord: 5 messages per 5 s per channel
START = "start own=private What should the network change first?"
FanOut = tuple[str, float, float]


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


async def _fan_out(h: SlackHarness, label: str) -> FanOut:
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


Answers = dict[str, list[float | None]]


@dataclass
class Driver:
    """One platform's way of playing the script: each call returns when the request left (time.time())."""

    harness: SlackHarness | DiscordHarness
    command: Callable[[str, str], Awaitable[float]]  # person, "join" / "mine" / "next"
    dm: Callable[[str, str], Awaitable[float]]  # person, text
    answer: Callable[[str, float, str], float | None]  # person, since, words -> seconds to the visible answer
    fan_out: Callable[[str], Awaitable[FanOut]]  # label -> the facilitator's `next`, timed
    intro: Callable[[str], str]  # pair member -> the ref of their pair's intro (with Pick)


async def script(d: Driver, people: list[str]) -> tuple[Answers, list[FanOut]]:
    """Join, a private idea, Pair, every pair picks, Explain with `mine` asked during it."""
    h = d.harness
    await d.command(h.facilitator, "start")
    await h.settle()
    starts = await asyncio.gather(*(d.command(p, "join") for p in people))
    await h.settle()
    joins = [d.answer(p, t, "You're in") for p, t in zip(people, starts, strict=True)]
    starts = await asyncio.gather(*(d.dm(p, f"Idea from {p}: a shared calendar") for p in people))
    await h.settle()
    ideas = [d.answer(p, t, "Saved") for p, t in zip(people, starts, strict=True)]

    fan_outs = [await d.fan_out("open Pair (30 pair spaces)")]
    session = next(iter(h.runtime.sessions.values()))  # type: ignore[union-attr]
    for pair in session.pairs:
        own = [i.id for i in session.ideas if i.author in pair.members][:1]
        await h.click(pair.members[0], d.intro(pair.members[0]), "Pick", {"ideas": own, "reason": "It helps"})

    running = asyncio.ensure_future(d.fan_out("open Explain (30 proposals)"))
    asked: list[tuple[str, float]] = []
    for person in people[:20]:  # one person a second asks while Explain posts
        await asyncio.sleep(1.0)
        asked.append((person, await d.command(person, "mine")))
    fan_outs.append(await running)
    await h.settle()
    statuses = [d.answer(p, t, "Your ideas") for p, t in asked]
    return {"Join -> You're in": joins, "private idea -> Saved": ideas,
            "`mine` during the Explain fan-out": statuses}, fan_outs


async def slack() -> tuple[Answers, list[FanOut]]:
    fake = FakeSlack(channel_rate=RATE, burst=BURST, retry_after=1)
    with tempfile.TemporaryDirectory() as folder:
        async with make_slack_harness(Path(folder), fake=fake, throttle=ChannelThrottle()) as h:
            people = [f"U{n:04d}" for n in range(PEOPLE)]
            for n, p in enumerate(people):
                fake.users[p] = f"P{n}"
            h.facilitator = "UFAC"
            fake.users["UFAC"] = "Fay"

            def intro(member: str) -> str:
                return next(m.ref for m in reversed(fake.messages) if m.channel == fake.pair_space_of(member)
                            and m.from_bot and any("Pick" in str(b) for b in m.buttons()))

            return await script(Driver(
                h, lambda p, sub: _command(h, p, START if sub == "start" else sub),
                lambda p, text: _dm(h, p, text), lambda p, t, words: _answer(fake, p, t, words),
                lambda label: _fan_out(h, label), intro), people)


# --- Discord --------------------------------------------------------------------------------------------


def _sent(message: dict[str, object]) -> float:
    """When the fake stored a message: its snowflake's time."""
    return ((int(str(message["id"])) >> 22) + DISCORD_EPOCH_MS) / 1000


def _discord_answer(fake: FakeDiscord, person: str, since: float, words: str) -> float | None:
    """Seconds from `since` to the first bot message `person` sees (their DM, or an answer to their interaction)
    containing `words`."""
    dm = fake.dm_channels.get(person)
    for m in fake.bot_messages():
        if (words in m["content"] and _sent(m) >= since - 0.001
                and (m.get("interaction_user") == person or (dm is not None and m["channel_id"] == dm))):
            return max(_sent(m) - since, 0.0)
    return None


async def _slash(h: DiscordHarness, person: str, sub: str, options: dict[str, object] | None = None) -> float:
    started = time.time()
    await h.fake.slash(person, h.channel, sub, options)
    return started


async def _discord_dm(h: DiscordHarness, person: str, text: str) -> float:
    started = time.time()
    await h.fake.user_says(person, h.fake.dm_channel(person), text)
    return started


async def _discord_fan_out(h: DiscordHarness, label: str) -> FanOut:
    """The facilitator's `next`, once every channel's window is fresh (so the floor is exact: a window of 5 each)."""
    await asyncio.sleep(DISCORD_WINDOW[1])
    before = set(h.fake.messages)
    started = await _slash(h, h.facilitator, "next")
    await h.settle()
    posts = [m for m in h.fake.bot_messages() if m["id"] not in before and not m.get("interaction_user")]
    took = max((_sent(m) for m in posts), default=started) - started
    busiest = max(Counter(m["channel_id"] for m in posts).values(), default=0)
    limit, seconds = DISCORD_WINDOW
    return label, took, (math.ceil(busiest / limit) - 1) * seconds if busiest else 0.0


async def discord() -> tuple[Answers, list[FanOut]]:
    fake = FakeDiscord(channel_rate=DISCORD_WINDOW)
    for name in NAMES:
        fake.add_user(name)
    people = [fake.add_user(f"P{n}") for n in range(PEOPLE)]
    await fake.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            async with discord_world(Path(folder), fake) as h:

                def intro(member: str) -> str:
                    space = h.pair_thread(member)
                    return next(m["id"] for m in fake.bot_messages() if m["channel_id"] == space and "Pick" in str(m))

                def command(person: str, sub: str) -> Awaitable[float]:
                    options = {"question": START.removeprefix("start ")} if sub == "start" else None
                    return _slash(h, person, sub, options)

                return await script(Driver(
                    h, command, lambda p, text: _discord_dm(h, p, text),
                    lambda p, t, words: _discord_answer(fake, p, t, words),
                    lambda label: _discord_fan_out(h, label), intro), people)
    finally:
        await fake.stop()


def report(title: str, answers: Answers, fan_outs: list[FanOut]) -> None:
    print(title)
    for name, values in answers.items():
        got = [v for v in values if v is not None]
        print(_summary(name, got) + (f"  ({len(values) - len(got)} never answered)" if len(got) < len(values) else ""))
    print("fan-out                             seconds   floor   ratio to floor")
    for label, took, floor in fan_outs:
        ratio = f"{took / floor:5.2f}x" if floor >= 1 else "  (no rate floor)"
        print(f"{label:<34} {took:7.1f} {floor:7.1f}   {ratio}")
    during = [v for v in answers["`mine` during the Explain fan-out"] if v is not None]
    print(f"`mine` answered during the fan-out within {max(during):.2f} s (p99 target 2 s)\n")


async def main() -> None:
    only = sys.argv[1:] or ["slack", "discord"]
    if "slack" in only:
        report(f"{PEOPLE} people on Slack's limits ({RATE:g} post/s per channel, burst {BURST}); visible answers:",
               *await slack())
    if "discord" in only:
        limit, seconds = DISCORD_WINDOW
        report(f"{PEOPLE} people on Discord's limits ({limit} messages per {seconds:g} s per channel); "
               "visible answers:", *await discord())


if __name__ == "__main__":
    asyncio.run(main())
