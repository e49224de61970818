"""Finding 9: Slack commands, buttons and events are stored before Slack is acknowledged (HTTP and Socket Mode),
so a crash right after the acknowledgement loses nothing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from adapters.slack import SlackAdapter, build_app, make_client
from adapters.slack.throttle import ChannelThrottle
from bot.assembly import assembled, start_defaults
from bot.runtime import Runtime
from bot.settings import Settings
from bot.store import Op
from tests.contract.slack_harness import TOKEN, SlackHarness
from tests.slack.fake_slack import TEAM, FakeSlack
from tests.trust.helpers import block_actions

SLOW_DISK = 0.3  # each event's commit takes this long after it is written: the ack must wait for it


def record_commits(runtime: Runtime, log: list[str]) -> None:
    """Every commit that carries an event is slow, and says "stored" in `log` once it is on disk."""
    store = runtime.store
    write = store.write

    def slow(ops: list[Op], lazy: bool = False) -> asyncio.Future[None]:
        done = write(ops, lazy)
        if lazy or not any(sql.startswith("INSERT INTO events") for sql, _ in ops):
            return done
        later: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def on_disk() -> None:
            await done
            await asyncio.sleep(SLOW_DISK)
            log.append("stored")
            later.set_result(None)

        asyncio.ensure_future(on_disk())
        return later

    store.write = slow  # type: ignore[method-assign]


async def test_http_commands_clicks_and_events_are_stored_before_slack_is_acknowledged(slack: SlackHarness) -> None:
    h = slack
    assert h.runtime is not None
    log: list[str] = []
    record_commits(h.runtime, log)

    status, _ = await h.signed.command("/opera", "start own=open Where next?", h.facilitator, "Fay", h.channel,
                                       h.fake.response_url(h.facilitator, h.channel), "trig-1")
    log.append("acked")
    assert status == 200 and log == ["stored", "acked"]
    await h.settle()

    log.clear()
    question = next(m for m in h.seen() if "Join" in m.buttons)
    status, _ = await h.signed.interaction(block_actions(h, h.people[0], question.ref, "Join", trigger="trig-2"))
    log.append("acked")
    assert status == 200 and log == ["stored", "acked"]
    await h.settle()

    log.clear()
    thread = h.session_thread()
    msg = h.fake.add_user_message(h.channel, h.people[0], "Open the board meetings", thread)
    status, _ = await h.signed.event({"type": "message", "channel": h.channel, "user": h.people[0],
                                      "text": msg.text, "ts": msg.ts, "thread_ts": thread,
                                      "channel_type": "channel"}, "EvStored1")
    log.append("acked")
    assert status == 200 and log == ["stored", "acked"]
    await h.settle()


async def test_socket_mode_commands_and_events_are_stored_before_the_envelope_is_acknowledged(
        tmp_path: Path) -> None:
    fake = FakeSlack()
    await fake.start()
    adapter = SlackAdapter(make_client(TOKEN, fake.api_url), ChannelThrottle(per_second=500, burst=50))
    app = build_app(adapter, signing_secret=None, defaults=start_defaults(Settings()), socket_mode=True)
    handler = AsyncSocketModeHandler(app, "xapp-1-fake-app-token")
    log: list[str] = []
    try:
        async with assembled(adapter, database=tmp_path / "facilitator.sqlite3") as runtime:
            record_commits(runtime, log)
            await handler.connect_async()
            await fake.socket_send("slash_commands", {
                "command": "/opera", "text": "start own=open Over a socket?", "user_id": "UFAY", "user_name": "fay",
                "channel_id": "C1", "team_id": TEAM, "trigger_id": "trig-s1",
                "response_url": fake.response_url("UFAY", "C1")})
            log.append("acked")
            assert log == ["stored", "acked"]
            while not adapter.idle or not any("Over a socket?" in m.text for m in fake.bot_messages()):
                await asyncio.sleep(0.01)
            anchor = next(m for m in fake.bot_messages() if "Over a socket?" in m.text)
            log.clear()
            reply = fake.add_user_message("C1", "UBEN", "An idea sent over the socket", anchor.ts)
            await fake.socket_send("events_api", {
                "type": "event_callback", "team_id": TEAM, "event_id": "EvSockStored", "event_time": int(time.time()),
                "event": {"type": "message", "channel": "C1", "user": "UBEN", "text": reply.text, "ts": reply.ts,
                          "thread_ts": anchor.ts, "channel_type": "channel"}})
            log.append("acked")
            assert log == ["stored", "acked"]
            while not adapter.idle:
                await asyncio.sleep(0.01)
    finally:
        await handler.close_async()
        await fake.stop()
