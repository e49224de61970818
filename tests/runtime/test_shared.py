"""Several bot processes on one PostgreSQL (a real server the tests start), on the real slack_sdk against a
loopback fake of Slack. The test is the load balancer: it hands each message to one process or the other.

- Two processes taking turns: every post is made once, as a single process makes them, and Pair's timer fires
  once (in whichever process claims it).
- One process killed with SIGKILL mid-Pair while Slack holds the answer to one of its posts: the other takes
  over its unsent posts (looking first for the one Slack already has), fires Pair's timer, and nothing is lost
  or doubled."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from tests.runtime.delivery_worker import NAMES
from tests.runtime.test_delivery_faults import PAIR_INTRO, _holds, _slack_posts
from tests.slack.fake_slack import FakeSlack

ROOT = Path(__file__).resolve().parents[2]

FACILITATOR = {"user": "UFAC", "name": "Fay"}
PEOPLE = [{"user": f"U{n}", "name": name} for n, name in enumerate(NAMES)]


class Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, database: str, api: str) -> Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.runtime.shared_worker", database, api, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        worker = cls(proc)
        assert await worker._line() == "ready"
        return worker

    async def _line(self) -> str:
        assert self.proc.stdout is not None
        return (await asyncio.wait_for(self.proc.stdout.readline(), 90)).decode().strip()

    async def send(self, msg: dict[str, str | bool]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        await self.proc.stdin.drain()
        assert await self._line() == "ok"

    def send_nowait(self, msg: dict[str, str | bool]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())

    async def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert await asyncio.wait_for(self.proc.wait(), 60) == 0

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()


@contextlib.asynccontextmanager
async def _workers(database: str, fake: FakeSlack, count: int) -> AsyncIterator[list[Worker]]:
    """`count` bot processes on one database and one fake Slack; none outlives the test."""
    workers: list[Worker] = []
    try:
        for _ in range(count):
            workers.append(await Worker.start(database, fake.api_url))
        yield workers
    finally:
        for worker in workers:
            await worker.kill()


def _script() -> list[dict[str, str]]:
    """Start, six people join and write a private idea each, the facilitator opens Pair (3 s long)."""
    out = [{**FACILITATOR, "command": "start own=private minutes=pair:0.05 What should the network do first?"}]
    out += [{**p, "command": "join"} for p in PEOPLE]
    out += [{**p, "idea": f"{p['name']}'s idea: open the hall late", "ref": f"m{n}", "event": f"e{n}"}
            for n, p in enumerate(PEOPLE)]
    return out


async def _run(workers: list[Worker], fake: FakeSlack, kill_first_at_hold: bool = False) -> None:
    """The script, message n to worker n % len(workers); then Pair, until its timer has
    moved the session on (to Arrange) and all is sent."""
    script = _script()
    for n, msg in enumerate(script):
        await workers[n % len(workers)].send(msg)
        # A platform's retry of the same message reaching the other process is recognised there.
        if "event" in msg and len(workers) > 1:
            await workers[(n + 1) % len(workers)].send(msg)
    opener, *rest = workers
    if kill_first_at_hold:
        opener.send_nowait({**FACILITATOR, "command": "next"})
        await asyncio.wait_for(fake.holding.wait(), 60)
        await opener.kill()
        workers = rest
    else:
        await opener.send({**FACILITATOR, "command": "next"})
    for worker in workers:
        await worker.send({"phase": "arrange"})  # Explain and Rank have nothing to do: Arrange follows at once
    for worker in workers:
        await worker.send({"settle": True})
        await worker.stop()


async def _reference(pg_url: str) -> Counter[tuple[str, str]]:
    fake = FakeSlack()
    await fake.start()
    try:
        async with _workers(pg_url, fake, 1) as workers:
            await _run(workers, fake)
        return _slack_posts(fake)
    finally:
        await fake.stop()


async def test_two_processes_taking_turns_post_everything_once_as_one_process_does(postgres) -> None:
    expected = await _reference(postgres.database())
    fake = FakeSlack()
    await fake.start()
    try:
        async with _workers(postgres.database(), fake, 2) as workers:
            await _run(workers, fake)
        seen = _slack_posts(fake)
    finally:
        await fake.stop()
    assert sum("*Explain*" in text for _, text in seen) == 1, "Pair's timer fired once"
    assert seen - expected == Counter(), "posted twice, or posted what one process does not"
    assert expected - seen == Counter(), "never posted"


async def test_a_process_killed_mid_pair_has_its_posts_and_timers_taken_over_once(postgres) -> None:
    expected = await _reference(postgres.database())
    fake = FakeSlack()
    fake.hold_post = _holds(PAIR_INTRO)
    await fake.start()
    try:
        async with _workers(postgres.database(), fake, 2) as workers:
            await _run(workers, fake, kill_first_at_hold=True)
        seen = _slack_posts(fake)
    finally:
        await fake.stop()
    assert any(PAIR_INTRO in text for _, text in seen), "the held post is there"
    assert sum("*Explain*" in text for _, text in seen) == 1, "the survivor fired Pair's timer, once"
    assert seen - expected == Counter(), "posted twice"
    assert expected - seen == Counter(), "never posted"
