"""Which form a button opens, where every process can find it. A form is saved by the process that posted the
button's message; the press may reach another process (Slack HTTP behind a load balancer, Discord's shards, an
outbox entry taken over). On PostgreSQL the forms are in the database; on SQLite (one process) in a file beside
it, which a restart finds again.

- Contract, on both stores: a form saved through one FormBook is found by another one opened afresh (another
  connection, as another process or a restart would), per platform, and retention removes it by when it was saved.
- End to end: two real `facilitator run slack --http` processes on one PostgreSQL, each in a working folder of
  its own (two machines); a pair's pick list too long for Slack's button value, posted by one, opens its full
  form when the press reaches the other.
- On Discord (whose buttons never carry their form), a bot moved to another machine (a rolling restart, both
  put together by bot/assembly.py as `facilitator run discord` does) opens the forms of the buttons the first
  one posted."""

from __future__ import annotations

import asyncio
import random
import signal
import string
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession

from adapters.formbook import FormBook
from adapters.slack import render
from bot.assembly import assembled, discord_adapter
from bot.pgforms import form_storage
from bot.settings import Settings
from facilitation.effects import Choice, Form, FormField
from tests.contract.discord_harness import NAMES as DISCORD_NAMES
from tests.contract.discord_harness import DiscordHarness
from tests.contract.slack_harness import CHANNEL, NAMES, TOKEN, _element_state
from tests.discord.fake_discord import FakeDiscord
from tests.pg import PgServer, _free_port
from tests.runtime.test_process import HANG, _env, _facilitator, _read_until, _until
from tests.slack.fake_slack import BOT_ID, BOT_USER, TEAM, FakeSlack, Message
from tests.slack.signed import APP_ID, SECRET, SignedSlack
from tests.trust.platforms import last_with, start_with_ideas


def _pick(*ideas: str) -> Form:
    return Form(title="Pick", submit_label="Pick", fields=[FormField(
        id="ideas", label="Ideas", kind="select", choices=[Choice(value=f"i{n}", label=idea)
                                                           for n, idea in enumerate(ideas, start=1)])])


async def _book(database: Path | str, platform: str) -> FormBook:
    book = FormBook(form_storage(database, platform))
    await book.open()
    return book


async def test_a_form_saved_by_one_book_is_found_by_another_on_either_store(database: Path | str) -> None:
    saver = await _book(database, "discord")
    finder = await _book(database, "discord")  # its own connection, as another process (or a restart) has
    slack = await _book(database, "slack")
    try:
        await saver.put("m1", "op|s1|pick|", _pick("Open the hall late", "Ask first"))
        await saver.put("m1", "op|s1|vote|", _pick("Ballot"))
        assert await finder.get("m1", "op|s1|pick|") == _pick("Open the hall late", "Ask first")
        assert await finder.get("m1", "op|s1|vote|") == _pick("Ballot")
        assert await finder.get("m2", "op|s1|pick|") is None
        assert await slack.get("m1", "op|s1|pick|") is None, "each platform's forms are its own"
    finally:
        for book in (saver, finder, slack):
            await book.close()


async def test_retention_removes_forms_by_when_they_were_saved_on_either_store(database: Path | str) -> None:
    book = await _book(database, "discord")
    try:
        await book.put("m1", "pick", _pick("A private idea"))
    finally:
        await book.close()
    storage = form_storage(database, "discord")
    await storage.open()
    try:
        assert await storage.purge(datetime.now(UTC) - timedelta(days=30)) == 0, "saved just now: kept"
        assert await storage.purge(datetime.now(UTC) + timedelta(seconds=1)) == 1
    finally:
        await storage.close()
    again = await _book(database, "discord")
    try:
        assert await again.get("m1", "pick") is None
    finally:
        await again.close()


# --- two processes on one PostgreSQL ------------------------------------------------------------------------

FAY, AMARA, BEN = "UFAY", "UAMARA", "UBEN"


class Bot:
    """`facilitator run slack --http` in a working folder of its own, as on a machine of its own; `slack` signs
    requests to it as Slack (behind the load balancer) would."""

    def __init__(self, proc: asyncio.subprocess.Process, folder: Path, slack: SignedSlack) -> None:
        self.proc = proc
        self.folder = folder
        self.slack = slack
        self.log: list[str] = []
        assert proc.stderr is not None
        self._reading = asyncio.create_task(self._read(proc.stderr))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():  # drained, so a full pipe never stalls the process
            self.log.append(line.decode())

    async def stop(self) -> str:
        """SIGTERM: the process ends cleanly (its store and forms closed); what it logged."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), HANG)
        await self._reading
        assert code == 0, "".join(self.log)
        return "".join(self.log)


@asynccontextmanager
async def _bots(database: str, fake: FakeSlack, tmp_path: Path, count: int) -> AsyncIterator[list[Bot]]:
    bots: list[Bot] = []
    async with ClientSession() as http:
        try:
            for n in range(count):
                folder = _machine(tmp_path, n)
                port = _free_port()
                env = _env(folder, FACILITATOR_DATABASE=database, SLACK_BOT_TOKEN=TOKEN,
                           SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=fake.api_url)
                proc = await _facilitator(["run", "slack", "--http", "--port", str(port)], env, folder)
                assert proc.stderr is not None
                await _read_until(proc.stderr, "serving sessions on Slack")
                bots.append(Bot(proc, folder, SignedSlack(_At(http, f"http://127.0.0.1:{port}"))))  # type: ignore[arg-type]
            yield bots
        finally:
            for bot in bots:
                if bot.proc.returncode is None:
                    bot.proc.kill()
                    await bot.proc.wait()


def _machine(tmp_path: Path, n: int) -> Path:
    """The working folder of the bot on machine `n` (what a forms file would go in, were one made)."""
    folder = tmp_path / f"machine{n}"
    folder.mkdir()
    return folder


class _At:
    """What SignedSlack needs of a client (`post(path, ...)`), for a server at `base`."""

    def __init__(self, http: ClientSession, base: str) -> None:
        self.http = http
        self.base = base

    def post(self, path: str, **kw: Any) -> Any:
        return self.http.post(self.base + path, **kw)


def _bot_message(fake: FakeSlack, channel_prefix: str, button: str) -> Message | None:
    found = [m for m in fake.bot_messages() if m.channel.startswith(channel_prefix)
             and any(b["text"]["text"] == button for b in m.buttons())]
    return found[-1] if found else None


async def _say(bot: Bot, fake: FakeSlack, person: str, text: str, thread: str) -> None:
    msg = fake.add_user_message(CHANNEL, person, render.escape(text), thread)
    status, _ = await bot.slack.event({"type": "message", "channel": CHANNEL, "user": person, "text": msg.text,
                                       "ts": msg.ts, "event_ts": msg.ts, "thread_ts": thread,
                                       "channel_type": "channel", "team": TEAM}, f"Ev{msg.ts}")
    assert status == 200  # acknowledged once stored, so the next request finds it in


def _press(fake: FakeSlack, person: str, msg: Message, label: str, trigger: str) -> dict[str, Any]:
    button = next(b for b in msg.buttons() if b["text"]["text"] == label)
    return {
        "type": "block_actions", "api_app_id": APP_ID, "token": "legacy", "trigger_id": trigger,
        "user": {"id": person, "username": NAMES[person], "name": NAMES[person], "team_id": TEAM},
        "team": {"id": TEAM, "domain": "fake"},
        "container": {"type": "message", "message_ts": msg.ts, "channel_id": msg.channel, "is_ephemeral": False},
        "channel": {"id": msg.channel, "name": "x"},
        "message": {"type": "message", "ts": msg.ts, "text": msg.text, "blocks": msg.blocks, "user": BOT_USER,
                    "bot_id": BOT_ID},
        "response_url": fake.response_url(person, msg.channel),
        "actions": [{"type": "button", "action_id": button["action_id"], "block_id": "actions0",
                     "text": button["text"], "value": button.get("value"), "action_ts": f"{time.time():.6f}"}],
    }


def _submission(person: str, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    state = {b["block_id"]: {b["element"]["action_id"]: _element_state(b["element"], values.get(b["block_id"][2:]))}
             for b in view["blocks"] if b.get("type") == "input"}
    return {"type": "view_submission", "api_app_id": APP_ID, "token": "legacy", "trigger_id": "trig-submit",
            "team": {"id": TEAM, "domain": "fake"},
            "user": {"id": person, "username": NAMES[person], "name": NAMES[person], "team_id": TEAM},
            "view": {**view, "state": {"values": state}, "hash": "h"}, "response_urls": []}


async def test_a_pick_list_posted_by_one_process_opens_whole_when_the_press_reaches_another(
        postgres: PgServer, tmp_path: Path) -> None:
    database = postgres.database()
    fake = FakeSlack()
    fake.users.update(NAMES)
    await fake.start()
    try:
        async with _bots(database, fake, tmp_path, 2) as (one, other):
            status, _ = await one.slack.command("/opera", "start own=open Where next?", FAY, "Fay", CHANNEL,
                                                fake.response_url(FAY, CHANNEL), "trig-start")
            assert status == 200
            await _until(lambda: _bot_message(fake, CHANNEL, "Join") is not None)
            question = _bot_message(fake, CHANNEL, "Join")
            assert question is not None
            rng = random.Random(7)  # varied text, so compression cannot squeeze the form into the button
            ideas = [" ".join("".join(rng.choices(string.ascii_lowercase, k=6)) for _ in range(11))
                     for _ in range(39)]
            await _say(one, fake, AMARA, "\n".join(f"- {idea}" for idea in ideas), question.ts)
            await _say(one, fake, BEN, "A second idea", question.ts)
            status, _ = await one.slack.command("/opera", "next", FAY, "Fay", CHANNEL,
                                                fake.response_url(FAY, CHANNEL), "trig-next")
            assert status == 200
            await _until(lambda: _bot_message(fake, "G", "Pick") is not None)  # the pair's intro, in its group DM
            intro = _bot_message(fake, "G", "Pick")
            assert intro is not None
            button = next(b for b in intro.buttons() if b["text"]["text"] == "Pick")
            assert render.unpack_button_value(button["value"])[1] is None, "the form was expected not to fit"
            # The first process has finished posting the intro (and saving its form) once it recorded the post.
            db = database.rsplit("/", 1)[1]
            await _until(lambda: postgres.psql(f"SELECT count(*) FROM refs WHERE ref = '{intro.ref}'", db).strip()
                         == "1")

            # The press reaches the other process: it opens the pair's whole pick list.
            status, _ = await other.slack.interaction(_press(fake, AMARA, intro, "Pick", "trig-pick"))
            assert status == 200
            await _until(lambda: "trig-pick" in fake.views)
            view = fake.views["trig-pick"]
            offered = [o["text"]["text"] for b in view["blocks"] if b.get("type") == "input"
                       for o in b["element"].get("options", [])]
            assert len(offered) == 40, "the pair's 40 ideas to pick from"
            assert "A second idea" in offered

            # And what is picked there is taken (here by the first process) and shown to the pair.
            status, _ = await one.slack.interaction(_submission(AMARA, view, {"ideas": ["i1"],
                                                                              "reason": "Long but good"}))
            assert status == 200
            await _until(lambda: any("picked for the pair" in m.text or "picked for the pair" in str(m.blocks)
                                     for m in fake.bot_messages() if m.channel == intro.channel))
            logs = [await bot.stop() for bot in (one, other)]
        assert not any("Traceback" in log for log in logs), logs
        for n in range(2):  # with PostgreSQL no forms file is made: a second machine could not read it
            assert sorted(p.name for p in (tmp_path / f"machine{n}").iterdir()) == []
    finally:
        await fake.stop()


@asynccontextmanager
async def _discord_bot(fake: FakeDiscord) -> AsyncIterator[DiscordHarness]:
    """`facilitator run discord` as bot/assembly.py puts it together, from the environment."""
    settings = Settings()
    adapter = discord_adapter(settings)
    try:
        await adapter.start(ready_timeout=10)
        harness = DiscordHarness(fake, adapter)
        async with assembled(adapter, settings) as runtime:
            harness.runtime = runtime
            harness.wrap()
            yield harness
    finally:
        await adapter.close()


async def test_a_discord_form_posted_on_one_machine_opens_on_another(
        pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDiscord()
    for name in DISCORD_NAMES:
        fake.add_user(name)
    await fake.start()
    for key, value in {"FACILITATOR_DATABASE": pg_url, "DISCORD_TOKEN": "fake-token",
                       "DISCORD_API_URL": fake.api_url, "DISCORD_GATEWAY_URL": fake.gateway_url}.items():
        monkeypatch.setenv(key, value)
    try:
        monkeypatch.chdir(_machine(tmp_path, 0))
        async with _discord_bot(fake) as first:
            await start_with_ideas(first, first.people[:2])
            own = last_with(first, "**Own**")  # its Add an idea button's form: saved by the first bot
        monkeypatch.chdir(_machine(tmp_path, 1))  # the first has stopped: a rolling restart
        async with _discord_bot(fake) as second:
            await second.click(second.people[2], own.ref, "Add an idea", {"idea": "Idea 3: from the other machine"})
            assert second.runtime is not None
            session = next(iter(second.runtime.sessions.values()))
            assert [i.text for i in session.live_ideas()][-1] == "Idea 3: from the other machine"
    finally:
        await fake.stop()
    assert sorted(p.name for p in tmp_path.rglob("*forms*")) == [], "no forms file beside a PostgreSQL database"
