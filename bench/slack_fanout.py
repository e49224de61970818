"""Fan-out cost of the Pair phase on Slack: API calls and seconds to open every pair space and post its intro.

Runs the real runtime, engine, slack-bolt app and slack_sdk client against the loopback fake Slack, which
enforces chat.postMessage's "1 per second per channel, short bursts allowed" (429 + Retry-After past it).
60 people join by DM during Own; the measured step is the facilitator's `next` into Pair, until quiet.

Strategies, all in the same run:
  group-dm         what the adapter does: conversations.open per pair, intro posted in each group DM
  thread-per-pair  baseline: a parent post per pair in the session channel, the intro in its thread
  thread, no throttle  the same baseline without the per-channel queue (429s and retries instead)

Time is scaled: with --scale 10 the fake allows 10 posts/s per channel and the throttle sends 10/s, so
queueing seconds x scale estimate the wait at Slack's real rate. Run: python bench/slack_fanout.py
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from adapters.base import Target  # noqa: E402
from adapters.slack import SlackAdapter  # noqa: E402
from adapters.slack.throttle import ChannelThrottle  # noqa: E402
from facilitation.effects import Action, Person  # noqa: E402
from tests.contract.slack_harness import make_slack_harness  # noqa: E402
from tests.slack.fake_slack import FakeSlack  # noqa: E402


class ThreadPerPairAdapter(SlackAdapter):
    """The alternative design: each pair's space is a thread under a post in the session channel."""

    async def open_pair_space(self, channel: str, pair_id: str, title: str, members: list[Person],
                              session_id: str) -> str:
        return await self.post_message(channel, text=f"{title}: {', '.join(m.name for m in members)}")

    async def post(self, channel: str, target: Target, text: str, actions: list[Action], session_id: str) -> str:
        if target.kind == "pair":
            target = Target(kind="thread", ref=target.ref)
        return await super().post(channel, target, text, actions, session_id)


@dataclass
class Result:
    name: str
    calls: int
    limited: int
    seconds: float
    spaces: int
    queued: float  # seconds posts waited in the per-channel queue (summed over channels)


async def measure(name: str, people: int, scale: float, adapter_class: type[SlackAdapter],
                  throttled: bool) -> Result:
    fake = FakeSlack(channel_rate=1.0 * scale, burst=3, retry_after=0)
    throttle = ChannelThrottle(per_second=1.0 * scale, burst=3, enabled=throttled)
    with tempfile.TemporaryDirectory() as tmp:
        async with make_slack_harness(Path(tmp), fake=fake, throttle=throttle) as h:
            h.adapter.__class__ = adapter_class  # same client, throttle and listeners; only the space differs
            ids = [f"UP{n:03d}" for n in range(people)]
            fake.users.update({pid: f"Person {n}" for n, pid in enumerate(ids)})
            await h.command(h.facilitator, "start How should we share power?")
            for n, pid in enumerate(ids):
                await h.direct_message(pid, f"Idea {n}: something worth pairing over")
            throttle.waited = 0.0
            before = len(fake.calls)
            started = time.perf_counter()
            await h.command(h.facilitator, "next")
            seconds = time.perf_counter() - started
            calls = fake.calls[before:]
            spaces = len([m for m in h.seen() if "Pick" in m.buttons])
    return Result(name, len(calls), sum(c.status == 429 for c in calls), seconds, spaces, throttle.waited)


async def main(people: int, scale: float) -> None:
    await measure("warm-up", 4, scale, SlackAdapter, throttled=True)  # imports, SQLite, first connections
    runs: list[Result] = []
    runs.append(await measure("group-dm (adapter)", people, scale, SlackAdapter, throttled=True))
    runs.append(await measure("thread-per-pair", people, scale, ThreadPerPairAdapter, throttled=True))
    runs.append(await measure("thread, no throttle", people, scale, ThreadPerPairAdapter, throttled=False))
    base = runs[0]
    print(f"Pair fan-out for {people} participants ({base.spaces} spaces), fake Slack at "
          f"{scale:g} posts/s per channel (time scale x{scale:g})")
    header: list[Any] = ["strategy", "API calls", "429s", "seconds", "queued s", "time vs group-dm", "calls vs"]
    print(f"{header[0]:<22}{header[1]:>10}{header[2]:>7}{header[3]:>9}{header[4]:>10}{header[5]:>18}{header[6]:>10}")
    for r in runs:
        print(f"{r.name:<22}{r.calls:>10}{r.limited:>7}{r.seconds:>9.2f}{r.queued:>10.2f}"
              f"{r.seconds / base.seconds:>17.1f}x{r.calls / base.calls:>9.2f}x")
    print(f"At Slack's real 1 post/s per channel, waiting grows x{scale:g}: thread-per-pair needs about "
          f"{runs[1].queued * scale:.0f} s of queueing in the session channel; group DMs {base.queued * scale:.0f} s.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--scale", type=float, default=10.0, help="speed-up of Slack's 1 msg/s per channel")
    args = parser.parse_args()
    asyncio.run(main(args.people, args.scale))
