"""Several real bot processes in Slack HTTP mode on one PostgreSQL, behind a loopback round-robin load balancer,
on the real slack-bolt and slack_sdk against the loopback fake of Slack; the test sends Slack's signed requests
to the load balancer (tests/slack/signed.py), which hands request n to process n % N.

Each process is the bot's own CLI, `facilitator run slack --http --port P`, started as
`python -m tests.runtime.slack_fleet SEED run slack --http --port P`: the same `bot.cli.main`, with one
difference, a seeded random generator (SEED + the process's number), so that a session started by the first
process has the same id and pairs in every run of a script, and a run on two processes can be compared with a
run on one. Settings come
from the environment as in production: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_API_URL (the fake) and
FACILITATOR_DATABASE (the test's PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.contract.slack_harness import TOKEN, SlackHarness
from tests.pg import _free_port
from tests.slack.fake_slack import TEAM, FakeSlack, Message
from tests.slack.signed import SECRET, SignedSlack

ROOT = Path(__file__).resolve().parents[2]
SEED = 7
READY = "serving sessions on Slack"
WAIT_SECONDS = 90.0


class RoundRobin:
    """A loopback HTTP load balancer: request n goes to backend n % len(backends), as they arrive; `routed`
    says which backend took each request."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.routed: list[int] = []
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._client = aiohttp.ClientSession()
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        n = len(self.routed) % len(self.backends)
        self.routed.append(n)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("host", "content-length", "transfer-encoding", "connection")}
        assert self._client is not None
        async with self._client.request(request.method, self.backends[n] + request.rel_url.path_qs, data=body,
                                        headers=headers) as answer:
            return web.Response(status=answer.status, body=await answer.read(),
                                content_type=answer.content_type)


class BotProcess:
    """One `facilitator run slack --http` process; its log goes to a file beside the others."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.log = log

    @classmethod
    async def start(cls, database: str, fake: FakeSlack, folder: Path, number: int) -> BotProcess:
        port = _free_port()
        log = folder / f"bot{number}.log"
        env = {k: v for k, v in os.environ.items() if k != "SLACK_APP_TOKEN"}
        env.update(PYTHONPATH=str(ROOT), SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET,
                   SLACK_API_URL=fake.api_url, FACILITATOR_DATABASE=database)
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.runtime.slack_fleet", str(SEED + number), "run", "slack", "--http",
                "--port", str(port),
                cwd=folder, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out)
        bot = cls(proc, port, log)
        deadline = time.monotonic() + WAIT_SECONDS
        while READY not in bot.output():
            if proc.returncode is not None or time.monotonic() > deadline:
                await bot.kill()
                raise AssertionError(f"the bot did not start:\n{bot.output()}")
            await asyncio.sleep(0.05)
        return bot

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def stop(self) -> None:
        """SIGTERM, as systemd or a container runtime stops it: what it owes is sent first, then it exits 0."""
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), WAIT_SECONDS)
        assert code == 0, f"exit {code}:\n{self.output()}"

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()


class Fleet(SlackHarness):
    """The harness's users (commands, DMs, clicks, as signed requests) sent to the load balancer in front of the
    bot processes. A request is answered once the process that took it has stored it; what the bot posts
    arrives later, so the test waits for what it looks for (`wait_for`) rather than for quiet."""

    def __init__(self, fake: FakeSlack, signed: SignedSlack, bots: list[BotProcess], proxy: RoundRobin) -> None:
        super().__init__(fake, signed, None)  # type: ignore[arg-type]  # no adapter in this process
        self.bots = bots
        self.proxy = proxy

    async def settle(self) -> None:
        """Nothing to wait for here: see `wait_for`."""

    async def wait_for(self, found: Callable[[], Any], what: str) -> Any:
        """What `found` returns once it is truthy (the bot's posts arrive after the requests are answered)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while not (result := found()):
            if time.monotonic() > deadline:
                logs = "\n".join(b.output()[-3000:] for b in self.bots)
                raise AssertionError(f"never saw {what}\n{logs}")
            await asyncio.sleep(0.05)
        return result

    def posted(self, text: str, channel: str | None = None) -> list[Message]:
        """The bot's messages (not ephemeral) containing `text`, in `channel` if given."""
        return [m for m in self.fake.bot_messages() if not m.ephemeral_to and text in self._display(m)
                and channel in (None, m.channel)]

    def told(self, person: str, since: int = 0) -> list[str]:
        """What the bot answered `person` alone (ephemeral), from message number `since` on."""
        return [self._display(m) for m in self.fake.messages[since:] if m.ephemeral_to == person]

    def dm_event(self, person: str, text: str) -> dict[str, Any]:
        """Slack's event for a direct message `person` sends the bot."""
        msg = self.fake.add_user_message(self.fake.im_of(person), person, text)
        return {"type": "message", "channel": msg.channel, "user": person, "text": msg.text, "ts": msg.ts,
                "event_ts": msg.ts, "channel_type": "im", "team": TEAM}

    async def stop(self) -> None:
        for bot in self.bots:
            await bot.stop()


@contextlib.asynccontextmanager
async def fleet(database: str, folder: Path, processes: int, fake: FakeSlack | None = None) -> AsyncIterator[Fleet]:
    """`processes` bots on `database` behind a round-robin, on a fake Slack (started and stopped here); none
    outlives the test. The bots share `folder` as their working folder, as processes on one machine do."""
    fake = fake or FakeSlack()
    await fake.start()
    bots: list[BotProcess] = []
    proxy: RoundRobin | None = None
    http: aiohttp.ClientSession | None = None
    try:
        for number in range(processes):
            bots.append(await BotProcess.start(database, fake, folder, number))
        proxy = RoundRobin([bot.url for bot in bots])
        http = aiohttp.ClientSession(base_url=await proxy.start())
        yield Fleet(fake, SignedSlack(http), bots, proxy)  # type: ignore[arg-type]  # a client like TestClient
    finally:
        for bot in bots:
            await bot.kill()
        if http is not None:
            await http.close()
        if proxy is not None:
            await proxy.stop()
        await fake.stop()


def _seeded_cli(seed: int, argv: list[str]) -> int:
    """`bot.cli.main` with the runtime's random generator seeded (see the module's docstring)."""
    from bot import assembly, cli

    unseeded = assembly.assembled

    def assembled(*args: Any, **kwargs: Any) -> Any:
        return unseeded(*args, **{**kwargs, "rng": random.Random(seed)})

    assembly.assembled = assembled  # type: ignore[assignment]
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(_seeded_cli(int(sys.argv[1]), sys.argv[2:]))
