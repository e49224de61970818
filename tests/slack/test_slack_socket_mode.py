"""Socket Mode: the same listeners behind slack_sdk's real Socket Mode client, over a loopback WebSocket."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from adapters.slack import SlackAdapter, build_app, make_client
from adapters.slack.throttle import ChannelThrottle
from bot.assembly import assembled, start_defaults
from bot.settings import Settings
from tests.contract.slack_harness import TOKEN
from tests.slack.fake_slack import TEAM, FakeSlack


async def _until(condition, timeout: float = 5.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_socket_mode_runs_the_same_listeners_across_a_reconnect(tmp_path: Path) -> None:
    fake = FakeSlack()
    await fake.start()
    adapter = SlackAdapter(make_client(TOKEN, fake.api_url), ChannelThrottle(per_second=500, burst=50))
    app = build_app(adapter, signing_secret=None, defaults=start_defaults(Settings()), socket_mode=True)
    handler = AsyncSocketModeHandler(app, "xapp-1-fake-app-token")
    try:
        async with assembled(adapter, database=tmp_path / "facilitator.sqlite3") as runtime:
            await handler.connect_async()
            ack = await fake.socket_send("slash_commands", {
                "command": "/opera", "text": "start own=open Over a socket?", "user_id": "UFAY", "user_name": "fay",
                "channel_id": "C1", "team_id": TEAM, "trigger_id": "trig-s1",
                "response_url": fake.response_url("UFAY", "C1")})
            assert "envelope_id" in ack
            await _until(lambda: any("Over a socket?" in m.text for m in fake.bot_messages()))
            anchor = next(m for m in fake.bot_messages() if "Over a socket?" in m.text)
            await _until(lambda: adapter.idle and len(fake.bot_messages()) >= 3)
            await fake.socket_refresh()  # Slack refreshes connections every few hours; the next event uses the new one
            reply = fake.add_user_message("C1", "UBEN", "An idea sent over the socket", anchor.ts)
            await fake.socket_send("events_api", {
                "type": "event_callback", "team_id": TEAM, "event_id": "EvSock1", "event_time": int(time.time()),
                "event": {"type": "message", "channel": "C1", "user": "UBEN", "text": reply.text, "ts": reply.ts,
                          "thread_ts": anchor.ts, "channel_type": "channel"}})
            session = next(iter(runtime.sessions.values()))
            await _until(lambda: bool(runtime.sessions[session.id].live_ideas()))
            assert runtime.sessions[session.id].live_ideas()[0].text == "An idea sent over the socket"
    finally:
        await handler.close_async()
        await fake.stop()
