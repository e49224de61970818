"""A session in a process of its own, for the crash test: `python -m tests.runtime.crash_worker DB LOG`.

It starts a session (unless the database already holds one), sends the ideas the session does not have
yet, one every 50 ms, and exits once Pair has opened. Every bot message goes to LOG, one JSON line each.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from adapters.base import CommandIssued, UserMessage
from adapters.console import ConsoleAdapter
from bot.assembly import assembled

IDEAS = [f"Idea {n}: something the council could learn" for n in range(1, 41)]


class LoggingConsole(ConsoleAdapter):
    def __init__(self, log: Path) -> None:
        super().__init__(out=open(log.with_suffix(".out"), "a"))  # noqa: SIM115 - lives as long as the process
        self.log = log

    def _show(self, label: str, text: str, ref: str, actions: list) -> None:  # type: ignore[override]
        with self.log.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"label": label, "text": text}) + "\n")


async def main(db: Path, log: Path) -> None:
    adapter = LoggingConsole(log)
    async with assembled(adapter, database=db) as runtime:
        if not runtime.sessions:
            person = adapter.person("Fay")
            await adapter.send(CommandIssued(channel=adapter.channel, person=person,
                                             text="start own=open minutes=own:0.1 What should we learn?"))
        session = next(iter(runtime.sessions.values()))
        root = runtime.refs_of(session.id)["question"]
        have = {i.text for i in session.ideas}
        for n, text in enumerate(IDEAS):
            if text in have:
                continue
            person = adapter.person(f"P{n % 7}")
            await adapter.send(UserMessage(channel=adapter.channel, person=person, text=text, message_ref=f"m{n}",
                                           reply_to_ref=root, event_id=f"ev{n}"))
            await asyncio.sleep(0.05)
        while runtime.sessions[session.id].phase_index == 0:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
