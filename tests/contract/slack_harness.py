"""The contract harness for Slack: the real runtime, the real slack-bolt app behind signed HTTP requests,
and the real slack_sdk client talking to a loopback fake of the Slack Web API."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from adapters.formbook import FormBook
from adapters.slack import SlackAdapter, build_app, make_client
from adapters.slack.adapter import NOTE_DRAFT_EVENT, NOTE_PUBLISHED_EVENT
from adapters.slack.render import PART_PREFIX, escape, unescape
from adapters.slack.throttle import ChannelThrottle
from bot.assembly import assembled, start_defaults
from bot.runtime import Runtime
from bot.settings import Settings
from tests.contract.harness import Seen
from tests.slack.fake_slack import BOT_ID, BOT_USER, TEAM, FakeSlack, Message
from tests.slack.signed import APP_ID, SECRET, SignedSlack

CHANNEL = "C0SESSION"
TOKEN = "xoxb-fake-bot-token-1234"
_PING = re.compile(r"<[!@]")
_SLACK_BOLD = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
NAMES = {"UFAY": "Fay", "UAMARA": "Amara", "UBEN": "Ben", "UCHLOE": "Chloe", "UDEV": "Dev", "UERIN": "Erin",
         "UFARID": "Farid", "UGRACE": "Grace"}


def posts_by_place(h: SlackHarness) -> Counter[tuple[str, str]]:
    """What the bot showed, counted by kind of place and text, for comparing two runs of one script.
    Pairs are drawn at random per session, so who was paired with whom is left out."""

    def unpaired(text: str) -> str:
        return re.sub(r"#\d+ Idea \d+", "#n Idea n", re.sub(r"Your pair: [^*]+", "Your pair: ...", text))

    return Counter((seen.where.split(":")[0], unpaired(seen.text)) for seen in h.seen())


class SlackHarness:
    def __init__(self, fake: FakeSlack, signed: SignedSlack, adapter: SlackAdapter, command_name: str = "/opera"):
        self.fake = fake
        self.signed = signed
        self.adapter = adapter
        self.command_name = command_name
        self.channel = CHANNEL
        fake.users.update(NAMES)
        ids = list(NAMES)
        self.facilitator, self.people = ids[0], ids[1:]
        self.runtime: Runtime | None = None
        self.last_status = 0
        self.last_errors: dict[str, str] = {}
        self._ids = itertools.count(1)

    # --- playing users -------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    def name(self, person: str) -> str:
        return self.fake.users.get(person, person)

    async def command(self, person: str, text: str, channel: str | None = None) -> str | None:
        where = channel or self.channel
        before = len(self.fake.messages)
        status, _ = await self.signed.command(
            self.command_name, text, person, self.name(person), where,
            self.fake.response_url(person, where), self._id("trig"))
        self.last_status = status
        await self.settle()
        return self._replies_to(person, before)

    def _replies_to(self, person: str, since: int) -> str | None:
        texts = [self._display(m) for m in self.fake.messages[since:] if m.ephemeral_to == person]
        return "\n".join(texts) or None

    def session_thread(self) -> str | None:
        """The session's anchor: the latest top-level bot post in the channel with a Join button."""
        tops = [m for m in self.fake.bot_messages() if m.channel == self.channel and not m.thread_ts
                and not m.ephemeral_to]
        joins = [m for m in tops if any(unescape(b["text"]["text"]) == "Join" for b in m.buttons())]
        anchor = (joins or tops or [None])[-1]
        return anchor.ts if anchor else None

    async def _say(self, person: str, channel: str, kind: str, text: str, thread_ts: str | None = None,
                   event_id: str | None = None) -> str:
        msg = self.fake.add_user_message(channel, person, escape(text), thread_ts)
        await self.deliver_message(msg, kind, event_id)
        return msg.ref

    async def deliver_message(self, msg: Message, kind: str = "channel", event_id: str | None = None) -> None:
        """Slack's event for a message a person posted (with add_user_message): now, or later than others."""
        event: dict[str, Any] = {"type": "message", "channel": msg.channel, "user": msg.user, "text": msg.text,
                                 "ts": msg.ts, "event_ts": msg.ts, "channel_type": kind, "team": TEAM}
        if msg.thread_ts:
            event["thread_ts"] = msg.thread_ts
        await self.deliver(event, event_id)

    async def deliver(self, event: dict[str, Any], event_id: str | None = None, retry: int | None = None) -> int:
        status, _ = await self.signed.event(event, event_id or self._id("Ev"), retry=retry)
        self.last_status = status
        await self.settle()
        return status

    async def reply_in_thread(self, person: str, text: str, event_id: str | None = None) -> str:
        return await self._say(person, self.channel, "channel", text, self.session_thread(), event_id)

    async def reply_to(self, person: str, message_ref: str, text: str) -> str:
        target = self.fake.message(message_ref)
        if target.channel.startswith("D"):
            return await self.direct_message(person, text)
        kind = "mpim" if target.channel.startswith("G") else "channel"
        # Slack has one level of threads: replying to any message in a thread replies in that thread.
        return await self._say(person, target.channel, kind, text, target.thread_ts or target.ts)

    async def direct_message(self, person: str, text: str) -> str:
        return await self._say(person, self.fake.im_of(person), "im", text)

    async def say_in_pair(self, person: str, text: str) -> str:
        space = self.fake.pair_space_of(person)
        if space is None:
            raise AssertionError(f"{person} is in no pair space")
        return await self._say(person, space, "mpim", text)

    async def click(self, person: str, message_ref: str, label: str,
                    values: dict[str, str | list[str]] | None = None) -> None:
        msg = self.fake.message(message_ref)
        buttons = [(b.get("block_id", ""), e) for b in msg.blocks if b.get("type") == "actions"
                   for e in b.get("elements", [])]
        block_id, button = next((x for x in buttons if unescape(x[1]["text"]["text"]) == label), None) or next(
            x for x in buttons if unescape(x[1]["text"]["text"]).startswith(label))
        trigger = self._id("trig")
        payload = {
            "type": "block_actions", "api_app_id": APP_ID, "token": "legacy", "trigger_id": trigger,
            "user": {"id": person, "username": self.name(person), "name": self.name(person), "team_id": TEAM},
            "team": {"id": TEAM, "domain": "fake"},
            "container": {"type": "message", "message_ts": msg.ts, "channel_id": msg.channel,
                          "is_ephemeral": bool(msg.ephemeral_to)},
            "channel": {"id": msg.channel, "name": "x"},
            "message": {"type": "message", "ts": msg.ts, "thread_ts": msg.thread_ts, "text": msg.text,
                        "blocks": msg.blocks, "user": BOT_USER, "bot_id": BOT_ID},
            "response_url": self.fake.response_url(person, msg.channel),
            "actions": [{"type": "button", "action_id": button["action_id"], "block_id": block_id,
                         "text": button["text"], "value": button.get("value"), "action_ts": f"{time.time():.6f}"}],
        }
        status, _ = await self.signed.interaction(payload)
        self.last_status = status
        await self.settle()
        view = self.fake.views.get(trigger)
        if view is not None:
            await self.submit(person, view, values or {})

    async def submit(self, person: str, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        """Fill in and submit a modal the bot opened, as Slack's view_submission."""
        state: dict[str, Any] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            bid = block["block_id"]
            key = bid[2:] if bid.startswith("f_") else bid
            element = block["element"]
            state[bid] = {element["action_id"]: _element_state(element, values.get(key))}
        payload = {
            "type": "view_submission", "api_app_id": APP_ID, "token": "legacy", "trigger_id": self._id("trig"),
            "team": {"id": TEAM, "domain": "fake"},
            "user": {"id": person, "username": self.name(person), "name": self.name(person), "team_id": TEAM},
            "view": {**view, "state": {"values": state}, "hash": "h"}, "response_urls": [],
        }
        status, text = await self.signed.interaction(payload)
        self.last_status = status
        answer = json.loads(text) if text.strip().startswith("{") else {}
        self.last_errors = answer.get("errors", {}) if answer.get("response_action") == "errors" else {}
        await self.settle()
        return answer

    async def edit(self, person: str, message_ref: str, text: str) -> None:
        msg = self.fake.message(message_ref)
        old = {"type": "message", "user": person, "text": msg.text, "ts": msg.ts}
        msg.text = escape(text)
        new = {"type": "message", "user": person, "text": msg.text, "ts": msg.ts, "edited": {"user": person}}
        if msg.thread_ts:
            old["thread_ts"] = new["thread_ts"] = msg.thread_ts
        await self.deliver({"type": "message", "subtype": "message_changed", "channel": msg.channel,
                            "hidden": True, "message": new, "previous_message": old, "ts": self.fake.next_ts(),
                            "event_ts": msg.ts, "channel_type": _kind(msg.channel)})

    async def delete(self, person: str, message_ref: str) -> None:
        msg = self.fake.message(message_ref)
        msg.deleted = True
        old = {"type": "message", "user": person, "text": msg.text, "ts": msg.ts}
        await self.deliver({"type": "message", "subtype": "message_deleted", "channel": msg.channel,
                            "hidden": True, "deleted_ts": msg.ts, "previous_message": old,
                            "ts": self.fake.next_ts(), "event_ts": msg.ts, "channel_type": _kind(msg.channel)})

    async def settle(self) -> None:
        """Quiet means: no listener work, no queued post, for several polls in a row."""
        quiet = 0
        deadline = time.monotonic() + 30
        while quiet < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
            idle = self.adapter.idle and (self.runtime is None or self.runtime.idle)
            quiet = quiet + 1 if idle else 0

    # --- what users saw -------------------------------------------------------------------------

    def _display(self, m: Message) -> str:
        """What Slack shows, with its `*bold*` written back as the contract's `**bold**`."""
        texts = [b["text"]["text"] for b in m.blocks if b.get("type") == "section" and b.get("text")]
        return unescape(_SLACK_BOLD.sub(r"**\1**", "\n".join(texts) if texts else m.text))

    def _seen(self, m: Message, files: list[str]) -> list[Seen]:
        """What a person sees of the message: one Seen, or one per post when it holds several (block ids
        part<n>.<k>: proposals batched into one message, each with its own text and buttons)."""
        parts: dict[str, list[dict[str, Any]]] = {}
        for block in m.blocks:
            part = str(block.get("block_id", "")).partition(".")[0]
            parts.setdefault(part if part.startswith(PART_PREFIX) else "", []).append(block)
        if len(parts) < 2:
            return [self._seen_one(m, m.blocks, files)]
        return [self._seen_one(m, blocks, files) for blocks in parts.values()]

    def _seen_one(self, m: Message, blocks: list[dict[str, Any]], files: list[str]) -> Seen:
        m = dataclasses.replace(m, blocks=blocks)
        raw = " ".join([m.text] + [json.dumps(b) for b in m.blocks])
        if m.ephemeral_to:
            where = f"private:{m.ephemeral_to}"
        elif m.channel.startswith("D"):
            where = f"private:{m.channel[1:]}"
        elif m.channel.startswith("G"):
            where = f"pair:{m.channel}"
        else:
            where = "thread" if m.thread_ts else "channel"
        return Seen(ref=m.ref, text=self._display(m), where=where, files=files, pings=bool(_PING.search(raw)),
                    buttons=[unescape(b["text"]["text"]) for b in m.buttons()])

    def _all(self) -> list[tuple[Message, Seen]]:
        out: list[tuple[Message, Seen]] = []
        for m in self.fake.bot_messages():
            # Files uploaded with no text belong to the bot's last message in the same place (channel and thread):
            # other places' posts may come in between, as the bot posts in several places at once.
            same = [n for n, (prev, _) in enumerate(out) if prev.channel == m.channel and prev.thread_ts == m.thread_ts]
            if m.via == "files" and same and not m.text:
                prev, seen = out[same[-1]]
                out[same[-1]] = (prev, seen.model_copy(update={"files": seen.files + m.files}))
                continue
            out += [(m, seen) for seen in self._seen(m, list(m.files))]
        return out

    def seen(self) -> list[Seen]:
        return [s for _, s in self._all()]

    def notes(self) -> list[Seen]:
        return [s for m, s in self._all() if (m.metadata or {}).get("event_type") == NOTE_DRAFT_EVENT]

    def published(self) -> list[Seen]:
        return [s for m, s in self._all() if (m.metadata or {}).get("event_type") == NOTE_PUBLISHED_EVENT]


def _kind(channel: str) -> str:
    return {"D": "im", "G": "mpim"}.get(channel[:1], "channel")


def _element_state(element: dict[str, Any], value: Any) -> dict[str, Any]:
    """The element's part of `view.state`; fields left alone keep their initial value, as in Slack."""
    kind = element["type"]
    if value is None:
        value = (element.get("initial_value") or (element.get("initial_option") or {}).get("value")
                 or [o["value"] for o in element.get("initial_options", [])] or element.get("initial_user")
                 or element.get("initial_users"))
    out: dict[str, Any] = {"type": kind}
    if kind in ("plain_text_input", "number_input"):
        out["value"] = None if value in (None, "") else str(value)
    elif kind in ("static_select", "radio_buttons"):
        value = value[0] if isinstance(value, list) and value else value
        opt = next((o for o in element.get("options", []) if o["value"] == value), None)
        out["selected_option"] = opt
    elif kind in ("multi_static_select", "checkboxes"):
        if isinstance(value, bool):  # a checkbox ticked (or not)
            wanted = [o["value"] for o in element.get("options", [])] if value else []
        else:
            wanted = [value] if isinstance(value, str) else list(value or [])
        out["selected_options"] = [o for o in element.get("options", []) if o["value"] in wanted]
    elif kind == "users_select":
        out["selected_user"] = value or None
    elif kind == "multi_users_select":
        out["selected_users"] = list(value or [])
    return out


@asynccontextmanager
async def make_slack_harness(
    tmp_path: Path,
    *,
    fake: FakeSlack | None = None,
    throttle: ChannelThrottle | None = None,
    settings: Settings | None = None,
) -> AsyncIterator[SlackHarness]:
    fake = fake or FakeSlack()
    await fake.start()
    settings = settings or Settings()
    forms = FormBook(tmp_path / "slack-forms.sqlite3")
    await forms.open()
    adapter = SlackAdapter(make_client(TOKEN, fake.api_url),
                           throttle or ChannelThrottle(per_second=500, burst=50), forms=forms)
    app = build_app(adapter, signing_secret=SECRET, command=settings.slack_command,
                    defaults=start_defaults(settings))
    client = TestClient(TestServer(app.web_app()))
    await client.start_server()
    try:
        async with assembled(adapter, settings, database=tmp_path / "facilitator.sqlite3") as runtime:
            harness = SlackHarness(fake, SignedSlack(client), adapter, settings.slack_command)
            harness.runtime = runtime
            yield harness
            await harness.settle()
    finally:
        await client.close()
        await fake.stop()
        await forms.close()
