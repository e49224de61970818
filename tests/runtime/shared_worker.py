"""One of several bot processes on one PostgreSQL database, on the real slack_sdk against a loopback fake that the
test runs: `python -m tests.runtime.shared_worker DATABASE API`.

It prints "ready" once started, then takes one JSON object a line on stdin and answers each with "ok":
- {"user": ..., "name": ..., "command": "join"}: a command in the session's channel;
- {"user": ..., "name": ..., "idea": ..., "ref": ..., "event": ...}: a private message (a DM);
- {"phase": "arrange"}: wait until the session is in that phase (whichever process moved it there);
- {"settle": true}: wait until everything this process owes is delivered.
The test is the load balancer: it hands each message to one process or another. End of input stops it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import sys

from adapters.base import CommandIssued, UserMessage
from adapters.slack.adapter import SlackAdapter, make_client
from adapters.slack.throttle import ChannelThrottle
from bot.configuration import engine_config
from bot.runtime import Runtime
from bot.scheduler import AsyncTimers
from bot.settings import Settings
from bot.storage import open_store
from facilitation.effects import Person

CHANNEL = "C0SESSION"


async def _handle(runtime: Runtime, msg: dict[str, str]) -> None:
    if "phase" in msg:
        while not any(s.phase.kind == msg["phase"] for s in runtime.sessions.values()):
            await asyncio.sleep(0.05)
    elif "settle" in msg:
        for session_id in list(runtime.sessions):
            await runtime.settled(session_id)
    elif "command" in msg:
        await runtime.receive(CommandIssued(channel=CHANNEL, person=Person(id=msg["user"], name=msg["name"]),
                                            text=msg["command"]))
    else:
        await runtime.receive(UserMessage(channel=f"D{msg['user']}", person=Person(id=msg["user"], name=msg["name"]),
                                          text=msg["idea"], private=True, message_ref=msg["ref"],
                                          event_id=msg["event"]))


async def main(database: str, api: str) -> None:
    # What each process did, on stderr, which the test shows when it fails (takeovers are logged at INFO).
    logging.basicConfig(level=logging.INFO, format=f"[{os.getpid()}] %(name)s %(levelname)s %(message)s")
    settings = Settings()
    store = await open_store(database)
    adapter = SlackAdapter(make_client("xoxb-test", api), ChannelThrottle(per_second=100, burst=20))
    runtime = Runtime(adapter, store, AsyncTimers(), settings, engine_config(settings), rng=random.Random(7))
    adapter.bind(runtime.receive)
    await runtime.start()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        await _handle(runtime, json.loads(line))
        print("ok", flush=True)
    await runtime.stop()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
