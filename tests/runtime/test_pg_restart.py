"""PostgreSQL restarted under a running bot (an upgrade, a change of settings, a failover): every connection
the bot had is closed, and with them the sessions' advisory locks. The bot reconnects and goes on, and a lock
it held is taken again before anything is written under it. A server of the test's own, so that restarting it
disturbs no other test."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from adapters.base import UserMessage
from adapters.console import ConsoleAdapter
from bot import pgstore
from bot.assembly import assembled
from bot.storage import open_store
from facilitation.events import ReplyPosted
from tests.pg import PgServer, bindir
from tests.runtime.test_delivery_faults import _slack_posts
from tests.runtime.test_shared import FACILITATOR, PEOPLE, Worker, _reference, _script, _workers
from tests.runtime.two_ideas import start_with_two_ideas
from tests.slack.fake_slack import FakeSlack


@pytest.fixture
def server() -> Iterator[PgServer]:
    bins = bindir()
    if bins is None:
        pytest.fail("PostgreSQL is not installed (.ci/run installs Debian's postgresql package)")
    own = PgServer(bins)
    own.start()
    try:
        yield own
    finally:
        own.stop()


RECONNECT = pgstore.RECONNECT_SECONDS * 2  # the listener's next try at least has come


def _reply(text: str) -> ReplyPosted:
    return ReplyPosted(at=datetime.now(UTC), person="ana", name="Ana", text=text, message_ref=f"m-{text}",
                       private=True)


async def test_a_reply_after_postgresql_restarted_is_saved_and_the_session_goes_on(server: PgServer) -> None:
    url = server.database()
    adapter = ConsoleAdapter(out=io.StringIO())
    async with assembled(adapter, database=url) as runtime:
        root = await start_with_two_ideas(adapter)
        server.restart()
        await asyncio.sleep(0.2)  # the bot hears its connections close
        answer = await adapter.send(UserMessage(channel=adapter.channel, person=adapter.person("P2"),
                                                text="Share the budget", message_ref="m2", reply_to_ref=root,
                                                event_id="e2"))
        assert answer is None or "couldn't save" not in answer.text, answer
        assert [i.text for i in next(iter(runtime.sessions.values())).ideas] == \
            ["Listen more", "Pay people", "Share the budget"]
    again = ConsoleAdapter(out=io.StringIO())
    async with assembled(again, database=url) as runtime:  # and it is in the store, not only in memory
        assert [i.text for i in next(iter(runtime.sessions.values())).ideas] == \
            ["Listen more", "Pay people", "Share the budget"]


async def test_while_postgresql_is_down_a_reply_is_answered_send_it_again_and_counts_once_sent_again(
        server: PgServer) -> None:
    """Nothing may vanish without a word: a Discord message is not sent again by Discord, so its sender must
    be told that it did not count. Once the server is back, the platform's retry of it (same delivery id) and
    a fresh message both count."""
    url = server.database()
    adapter = ConsoleAdapter(out=io.StringIO())
    async with assembled(adapter, database=url) as runtime:
        root = await start_with_two_ideas(adapter)
        server.halt()
        try:
            await asyncio.sleep(0.2)
            retried = UserMessage(channel=adapter.channel, person=adapter.person("P2"), text="Share the budget",
                                  message_ref="m2", reply_to_ref=root, event_id="e2")
            answer = await asyncio.wait_for(adapter.send(retried), 30)
            assert answer is not None and "couldn't save that just now" in answer.text, answer
            other = UserMessage(channel=adapter.channel, person=adapter.person("P3"), text="Meet in the evening",
                                message_ref="m3", reply_to_ref=root, event_id="e3")
            answer = await asyncio.wait_for(adapter.send(other), 30)
            assert answer is not None and "couldn't save that just now" in answer.text, answer
        finally:
            server.resume()
        await asyncio.sleep(RECONNECT)
        for message in (retried, other):
            answer = await asyncio.wait_for(adapter.send(message), 30)
            assert answer is None or "couldn't save" not in answer.text, answer
        assert [i.text for i in next(iter(runtime.sessions.values())).ideas] == \
            ["Listen more", "Pay people", "Share the budget", "Meet in the evening"]
    again = ConsoleAdapter(out=io.StringIO())
    async with assembled(again, database=url) as runtime:
        assert [i.text for i in next(iter(runtime.sessions.values())).ideas] == \
            ["Listen more", "Pay people", "Share the budget", "Meet in the evening"]


async def test_a_lock_lost_with_a_restart_is_taken_again_before_the_next_event(
        server: PgServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """One process held a session's lock (idle, lingering) when the server restarted; another took it and
    wrote. The first must not go on as if it still held it: its next event is numbered after the other's."""
    monkeypatch.setattr(pgstore, "LINGER_SECONDS", 600.0)
    url = server.database()
    one, two = await open_store(url), await open_store(url)
    try:
        await one.append("s1", _reply("one, before"))
        server.restart()
        await asyncio.sleep(0.2)
        await two.append("s1", _reply("two, after"))
        await one.append("s1", _reply("one, after"))
        assert [(n, e.text) for n, e in await two.events("s1")] == \
            [(1, "one, before"), (2, "two, after"), (3, "one, after")]
    finally:
        await one.close()
        await two.close()


def _storm(fake: FakeSlack) -> None:
    """Every post and space opening answered 429 (Retry-After 1 s) until the outage below is over."""
    fake.retry_after = 1
    fake.storm_until = time.monotonic() + pgstore.LEASE_SECONDS + 4


async def _to_the_end(*workers: Worker) -> None:
    """Until Pair's timer has moved the session on and everything is sent; then a clean stop."""
    for worker in workers:
        await worker.send({"phase": "arrange"})
    for worker in workers:
        await worker.send({"settle": True})
        await worker.stop()


def _posted_once(seen: Counter[tuple[str, str]], expected: Counter[tuple[str, str]]) -> None:
    # By text: a pair's group DM gets its id from the order the spaces were opened in, which 429s shuffle.
    posted, wanted = Counter(t for _, t in seen.elements()), Counter(t for _, t in expected.elements())
    assert posted - wanted == Counter(), "posted twice, or posted what one process does not"
    assert wanted - posted == Counter(), "never posted"


async def test_postgresql_out_of_reach_past_the_lease_with_both_processes_alive_posts_everything_once(
        server: PgServer) -> None:
    """Every process's heartbeat fails while the server is down, so once it is back each looks dead to the
    other for a moment. Process A owes Pair's posts, held up by a storm of 429s; neither process may send
    them twice, and none may be lost."""
    expected, _ = await _reference(server.database())
    fake = FakeSlack()
    await fake.start()
    try:
        async with _workers(server.database(), fake, 2) as (a, b):
            for n, msg in enumerate(_script(PEOPLE)):
                await (a, b)[n % 2].send(msg)
            _storm(fake)
            await a.send({**FACILITATOR, "command": "next"})  # Pair's posts, a's to send, wait out the storm
            server.halt()
            try:
                await asyncio.sleep(pgstore.LEASE_SECONDS + 2)
            finally:
                server.resume()
            await _to_the_end(a, b)
        seen = _slack_posts(fake)
    finally:
        await fake.stop()
    _posted_once(seen, expected)


class _Cable:
    """A loopback TCP relay between one bot process and the server, which the test can cut (every connection
    through it closed, new ones closed as they come) and mend: that process alone loses the database."""

    def __init__(self, port: int) -> None:
        self.port, self.cut = port, False
        self._pipes: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._pipes |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._pipes -= {writer, up_writer}

    def sever(self) -> None:
        self.cut = True
        for pipe in list(self._pipes):
            pipe.transport.abort()

    async def stop(self) -> None:
        self.sever()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def test_a_process_cut_off_from_postgresql_stops_sending_and_the_other_sends_its_posts_once(
        server: PgServer) -> None:
    """Process A alone loses the database (its link cut) while it owes Pair's posts, held up by 429s. B,
    still heard, takes A for dead after LEASE_SECONDS and sends them; A, which could not heartbeat, has
    stopped sending before that, and once back it finds them taken and leaves them. Each is posted once."""
    expected, _ = await _reference(server.database())
    url = server.database()
    cable = _Cable(server.port)
    relayed = url.replace(f":{server.port}/", f":{await cable.start()}/")
    fake = FakeSlack()
    await fake.start()
    workers: list[Worker] = []
    try:
        workers += [await Worker.start(relayed, fake.api_url), await Worker.start(url, fake.api_url)]
        a, b = workers
        for n, msg in enumerate(_script(PEOPLE)):
            await (a, b)[n % 2].send(msg)
        _storm(fake)
        a.send_nowait({**FACILITATOR, "command": "next"})  # Pair's posts, a's to send, wait out the storm
        # Cut off once Pair is stored and its spaces are being opened (refused: 429).
        while not any(c.method == "conversations.open" and "," in str(c.params.get("users")) for c in fake.calls):
            await asyncio.sleep(0.02)
        cable.sever()
        await asyncio.sleep(pgstore.LEASE_SECONDS + 2)
        cable.cut = False
        assert await a._line() == "ok", "`next` was answered"
        await _to_the_end(a, b)
        seen = _slack_posts(fake)
    finally:
        for worker in workers:
            await worker.kill()
        await cable.stop()
        await fake.stop()
    _posted_once(seen, expected)
