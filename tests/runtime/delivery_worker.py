"""The bot in a process of its own, on the real slack-bolt/slack_sdk or discord.py code, against a loopback fake
that the test runs: `python -m tests.runtime.delivery_worker PLATFORM DB API [GATEWAY CHANNEL USER...]`.

With no session in the database, it starts one, six people join and write private ideas, and the facilitator
opens Pair (pair spaces and intros: a fan-out); it then waits until everything owed is delivered. With a
session already there (a restart after SIGKILL), it only starts and waits. It prints "settled" at the end.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from adapters.base import CommandIssued, UserMessage
from bot.assembly import assembled
from bot.runtime import Runtime
from bot.settings import Settings
from facilitation.effects import Person

NAMES = ["Ana", "Ben", "Cat", "Dev", "Eve", "Fin"]


async def drive(runtime: Runtime, channel: str, people: list[Person], facilitator: Person) -> None:
    if runtime.sessions:
        return
    await runtime.receive(CommandIssued(channel=channel, person=facilitator,
                                        text="start own=private What should the network do first?"))
    for p in people:
        await runtime.receive(CommandIssued(channel=channel, person=p, text="join"))
    for n, p in enumerate(people):
        await runtime.receive(UserMessage(channel=channel, person=p, text=f"{p.name}'s idea: open the hall late",
                                          private=True, message_ref=f"m{n}", event_id=f"e{n}"))
    await runtime.receive(CommandIssued(channel=channel, person=facilitator, text="next"))


async def main(platform: str, db: Path, api: str, rest: list[str]) -> None:
    settings = Settings()
    if platform == "slack":
        from adapters.slack.adapter import SlackAdapter, make_client
        from adapters.slack.throttle import ChannelThrottle

        adapter = SlackAdapter(make_client("xoxb-test", api), ChannelThrottle(per_second=100, burst=20))
        channel = "C0SESSION"
        people = [Person(id=f"U{n}", name=name) for n, name in enumerate(NAMES)]
        facilitator = Person(id="UFAC", name="Fay")
    else:
        from adapters.discord.adapter import DiscordAdapter
        from bot.configuration import list_structures

        adapter = DiscordAdapter("fake-token", api_url=api, gateway_url=rest[0],  # type: ignore[assignment]
                                 forms_path=db.with_suffix(".forms"), structures=list_structures(settings))
        await adapter.start(ready_timeout=10)
        channel = rest[1]
        people = [Person(id=uid, name=name) for uid, name in zip(rest[3:], NAMES, strict=False)]
        facilitator = Person(id=rest[2], name="Fay")
    async with assembled(adapter, settings, database=db, rng=random.Random(7)) as runtime:
        await drive(runtime, channel, people, facilitator)
        for s in list(runtime.sessions):
            await runtime.settled(s)
        print("settled", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4:]))
