"""Several bot processes on one PostgreSQL (a real server the tests start), on the real slack_sdk against a
loopback fake of Slack. The test is the load balancer: it hands each message to one process or the other.

- Two processes taking turns: every post is made once, as a single process makes them, and Pair's timer fires
  once (in whichever process claims it).
- A 60-person session, its messages alternating between two processes, ended: the note has every idea and is
  the one a single process drafts for the same script.
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


def _script(people: list[dict[str, str]]) -> list[dict[str, str]]:
    """Start, everyone joins and writes a private idea, the facilitator opens Pair (3 s long)."""
    out = [{**FACILITATOR, "command": "start own=private minutes=pair:0.05 What should the network do first?"}]
    out += [{**p, "command": "join"} for p in people]
    out += [{**p, "idea": f"{p['name']}'s idea {n}: open the hall late", "ref": f"m{n}", "event": f"e{n}"}
            for n, p in enumerate(people)]
    return out


async def _run(workers: list[Worker], fake: FakeSlack, kill_first_at_hold: bool = False,
               people: list[dict[str, str]] = PEOPLE, end: bool = False) -> None:
    """The script, message n to worker n % len(workers); then Pair, until its timer has
    moved the session on (to Arrange) and all is sent."""
    script = _script(people)
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
    if end:  # the note, drafted by whichever process takes the command, to the convenor (the facilitator)
        await workers[-1].send({**FACILITATOR, "command": "end"})
    for worker in workers:
        await worker.send({"settle": True})
        await worker.stop()


def _note(fake: FakeSlack) -> str:
    """The Markdown note the convenor was sent as a file."""
    notes = [u["data"].decode() for u in fake.uploads.values() if str(u["filename"]).endswith(".md") and u["data"]]
    assert len(notes) == 1, f"{len(notes)} notes sent"
    return notes[0]


async def _reference(pg_url: str, **script: object) -> tuple[Counter[tuple[str, str]], str | None]:
    """What one process posts for the script (and the note, if the script ends the session)."""
    fake = FakeSlack()
    await fake.start()
    try:
        async with _workers(pg_url, fake, 1) as workers:
            await _run(workers, fake, **script)  # type: ignore[arg-type]
        return _slack_posts(fake), _note(fake) if script.get("end") else None
    finally:
        await fake.stop()


async def test_two_processes_taking_turns_post_everything_once_as_one_process_does(postgres) -> None:
    expected, _ = await _reference(postgres.database())
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
    expected, _ = await _reference(postgres.database())
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


async def test_a_60_person_session_spread_over_two_processes_gives_the_note_one_process_gives(postgres) -> None:
    crowd = [{"user": f"U{n:02d}", "name": f"Person {n}"} for n in range(60)]
    expected, expected_note = await _reference(postgres.database(), people=crowd, end=True)
    fake = FakeSlack()
    await fake.start()
    try:
        async with _workers(postgres.database(), fake, 2) as workers:
            await _run(workers, fake, people=crowd, end=True)
        seen = _slack_posts(fake)
        note = _note(fake)
    finally:
        await fake.stop()
    for n in range(60):
        assert f"idea {n}: open the hall late" in note, f"idea {n} is missing from the note"
    assert note == expected_note, "the note differs from one process's"
    assert seen - expected == Counter(), "posted twice, or posted what one process does not"
    assert expected - seen == Counter(), "never posted"
