"""A loopback fake of the Slack Web API (aiohttp on 127.0.0.1, port 0) that records every call.

It speaks the real wire format slack_sdk uses (form or JSON bodies, Bearer auth, `{"ok": ...}` answers,
429 with `Retry-After`), keeps channels, messages, views and uploaded files, and can be told to answer
429s: a fixed number per method (`fail_next`) or by enforcing a per-channel posting rate. `faults` makes
the next calls of a method fail the ways a real server can: after doing the work (a 500, or the connection
dropped with no answer) or before it (a 503, or a drop). Message ts are taken from the clock, as Slack's
are, so `oldest` in conversations.history and conversations.replies means what it means on Slack.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import WSMsgType, web

# The scopes a workspace grants when the app is installed from config/slack-manifest.yml.
SCOPES = ("commands", "chat:write", "im:write", "mpim:write", "channels:history", "groups:history", "im:history",
          "mpim:history", "users:read", "files:write")
BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T0FAKE"

# How a call fails: the work done, then a 500 or the connection dropped; or nothing done, and a 503 or
# the connection dropped.
Fault = Literal["500_after", "drop_after", "503_before", "drop_before"]


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int
    at: float


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    user: str | None = None  # a person; None for the bot
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    ephemeral_to: str | None = None
    files: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    via: str = "chat.postMessage"
    deleted: bool = False

    @property
    def ref(self) -> str:
        return f"{self.channel}:{self.ts}"

    @property
    def from_bot(self) -> bool:
        return self.user is None

    def buttons(self) -> list[dict[str, Any]]:
        return [e for b in self.blocks if b.get("type") == "actions" for e in b.get("elements", [])
                if e.get("type") == "button"]


class FakeSlack:
    def __init__(self, channel_rate: float | None = None, burst: int = 3, retry_after: int = 0) -> None:
        self.channel_rate = channel_rate  # posts/s per channel before 429s; None: no limit
        self.burst = burst
        self.retry_after = retry_after
        self.calls: list[Call] = []
        self.messages: list[Message] = []
        self.views: dict[str, dict[str, Any]] = {}  # trigger_id -> view
        self.used_triggers: set[str] = set()
        self.users: dict[str, str] = {}  # id -> display name
        self.conversations: dict[str, list[str]] = {}  # channel -> members (people only)
        self.uploads: dict[str, dict[str, Any]] = {}
        self.response_urls: dict[str, tuple[str, str]] = {}  # id -> (user, channel)
        self.bot_token: str | None = None  # when set, any other bot token is refused (invalid_auth)
        self.scopes = list(SCOPES)  # what the workspace granted the bot, reported as Slack does (x-oauth-scopes)
        self.fail_next: dict[str, int] = {}
        self.faults: dict[str, list[Fault]] = {}  # method -> how its next calls fail, in order
        # (channel, text) -> True: that chat.postMessage is stored, then its answer is held for good, as when
        # the bot's process dies while Slack is answering; `holding` is set then.
        self.hold_post: Callable[[str, str], bool] | None = None
        # channel -> the error chat.postMessage there answers (as when the bot was removed: not_in_channel)
        self.refuse: dict[str, str] = {}
        self.storm_until = 0.0  # time.monotonic() until which every post and DM/group DM opening is answered 429
        self.holding = asyncio.Event()
        self._released = asyncio.Event()
        self.socket: web.WebSocketResponse | None = None
        self.socket_connections = 0
        self.socket_acks: dict[str, dict[str, Any]] = {}
        self._socket_ready = asyncio.Event()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._last_ts = 0.0
        self._ids = itertools.count(1)
        self.port = 0
        self._runner: web.AppRunner | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/respond/{rid}", self._respond)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.api_url

    async def stop(self) -> None:
        self._released.set()  # a held answer is dropped, so the server can close
        if self._runner:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base}/api/"

    # --- helpers the tests use ---------------------------------------------------------------------

    def next_ts(self) -> str:
        """Now, as Slack writes it; strictly increasing, since a ts names a message within its channel."""
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):07d}"

    def response_url(self, user: str, channel: str) -> str:
        rid = self.new_id("R")
        self.response_urls[rid] = (user, channel)
        return f"{self.base}/respond/{rid}"

    def add_user_message(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> Message:
        msg = Message(channel=channel, ts=self.next_ts(), text=text, user=user, thread_ts=thread_ts)
        self.messages.append(msg)
        return msg

    def message(self, ref: str) -> Message:
        return next(m for m in self.messages if m.ref == ref)

    def bot_messages(self) -> list[Message]:
        return [m for m in self.messages if m.from_bot and not m.deleted]

    def calls_to(self, method: str, ok_only: bool = True) -> list[Call]:
        return [c for c in self.calls if c.method == method and (c.status == 200 or not ok_only)]

    def im_of(self, user: str) -> str:
        return f"D{user}"

    def pair_space_of(self, user: str) -> str | None:
        spaces = [c for c, members in self.conversations.items() if c.startswith("G") and user in members]
        return spaces[-1] if spaces else None

    # --- the Web API -------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            params.update(dict(await request.post()))
        for key in ("blocks", "metadata", "files", "view"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    def _limited(self, method: str, params: dict[str, Any]) -> bool:
        if self.fail_next.get(method, 0) > 0:
            self.fail_next[method] -= 1
            return True
        if self.channel_rate is None or method != "chat.postMessage":
            return False
        channel = str(params.get("channel"))
        channel = self.im_of(channel) if channel[:1] in ("U", "W") else channel  # a user id posts in their DM
        now = time.monotonic()
        tokens, updated = self._buckets.get(channel, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - updated) * self.channel_rate)
        if tokens < 1:
            self._buckets[channel] = (tokens, now)
            return True
        self._buckets[channel] = (tokens - 1, now)
        return False

    def _fault(self, method: str) -> Fault | None:
        queued = self.faults.get(method)
        return queued.pop(0) if queued else None

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        wanted = "Bearer xapp-" if method == "apps.connections.open" else "Bearer xoxb-"
        auth = request.headers.get("Authorization", "")
        if not auth.startswith(wanted):
            self.calls.append(Call(method, params, 200, time.monotonic()))
            return web.json_response({"ok": False, "error": "not_authed"})
        if wanted == "Bearer xoxb-" and self.bot_token is not None and auth != f"Bearer {self.bot_token}":
            self.calls.append(Call(method, params, 200, time.monotonic()))
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if self._limited(method, params) or (
                method in ("chat.postMessage", "conversations.open") and time.monotonic() < self.storm_until):
            self.calls.append(Call(method, params, 429, time.monotonic()))
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(self.retry_after)})
        fault = self._fault(method)
        if fault == "503_before":
            self.calls.append(Call(method, params, 503, time.monotonic()))
            return web.json_response({"ok": False, "error": "service_unavailable"}, status=503)
        if fault == "drop_before":
            return self._drop(request, method, params)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            self.calls.append(Call(method, params, 200, time.monotonic()))
            return web.json_response({"ok": False, "error": "unknown_method"})
        answer = handler(params)
        if method == "chat.postMessage" and self.hold_post is not None and not self.holding.is_set() \
                and self.hold_post(str(params.get("channel")), str(params.get("text"))):
            self.calls.append(Call(method, params, 0, time.monotonic()))
            self.holding.set()
            await self._released.wait()  # stored; the answer never comes
        if fault == "500_after":
            self.calls.append(Call(method, params, 500, time.monotonic()))
            return web.json_response({"ok": False, "error": "internal_error"}, status=500)
        if fault == "drop_after":
            return self._drop(request, method, params)
        self.calls.append(Call(method, params, 200, time.monotonic()))
        return web.json_response(answer, headers={"x-oauth-scopes": ",".join(self.scopes)})

    def _drop(self, request: web.Request, method: str, params: dict[str, Any]) -> web.Response:
        """Close the connection with no answer (recorded as status 0): the client sees the server disconnect."""
        self.calls.append(Call(method, params, 0, time.monotonic()))
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    def _m_apps_connections_open(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: hello, then envelopes from `socket_send`; the app's acks are kept by envelope id."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.socket = ws
        self.socket_connections += 1
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"},
                            "connection_info": {"app_id": "A0OPERA"}})
        self._socket_ready.set()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                ack = json.loads(msg.data)
                self.socket_acks[ack.get("envelope_id", "")] = ack
        return ws

    async def socket_refresh(self, timeout: float = 5.0) -> None:
        """Slack's routine `disconnect` (refresh_requested): the app must open a new connection, and
        envelopes go over the new one."""
        assert self.socket is not None
        old, before = self.socket, self.socket_connections
        self._socket_ready.clear()
        await old.send_json({"type": "disconnect", "reason": "refresh_requested",
                             "debug_info": {"host": "fake"}})
        await asyncio.wait_for(self._socket_ready.wait(), timeout)
        assert self.socket_connections == before + 1 and self.socket is not old
        await old.close()

    async def socket_send(self, kind: str, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Deliver one envelope over Socket Mode and wait for the app's ack."""
        await asyncio.wait_for(self._socket_ready.wait(), timeout)
        assert self.socket is not None
        envelope_id = self.new_id("env")
        await self.socket.send_json({"envelope_id": envelope_id, "type": kind, "payload": payload,
                                     "accepts_response_payload": kind != "events_api", "retry_attempt": 0,
                                     "retry_reason": ""})
        deadline = asyncio.get_running_loop().time() + timeout
        while envelope_id not in self.socket_acks:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no ack for {kind}")
            await asyncio.sleep(0.005)
        return self.socket_acks[envelope_id]

    def _m_auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://fake.slack.com/", "team": "Fake", "user": "opera", "team_id": TEAM,
                "user_id": BOT_USER, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _post(self, p: dict[str, Any], via: str, ephemeral_to: str | None = None) -> Message:
        msg = Message(channel=str(p["channel"]), ts=self.next_ts(), text=str(p.get("text") or ""),
                      blocks=p.get("blocks") or [], thread_ts=p.get("thread_ts"), metadata=p.get("metadata"),
                      ephemeral_to=ephemeral_to, via=via)
        self.messages.append(msg)
        return msg

    def _m_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if str(p["channel"]) in self.refuse:
            return {"ok": False, "error": self.refuse[str(p["channel"])]}
        if str(p["channel"])[:1] in ("U", "W"):  # a user id: Slack posts in the app's DM with that person
            user = str(p["channel"])
            if user.startswith("UGONE"):
                return {"ok": False, "error": "channel_not_found"}
            p = {**p, "channel": self.im_of(user)}
            self.conversations[self.im_of(user)] = [user]
        msg = self._post(p, "chat.postMessage")
        return {"ok": True, "channel": msg.channel, "ts": msg.ts,
                "message": {"text": msg.text, "ts": msg.ts, "bot_id": BOT_ID, "user": BOT_USER}}

    def _visible(self, channel: str) -> list[Message]:
        """What conversations.history and .replies can see: posted messages, not ephemeral or deleted ones."""
        return [m for m in self.messages if m.channel == channel and not m.ephemeral_to and not m.deleted]

    def _m_conversations_history(self, p: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages (thread replies are left out, as on Slack), newest first."""
        channel = str(p.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        tops = [m for m in self._visible(channel) if not m.thread_ts or m.thread_ts == m.ts]
        return self._page(sorted(tops, key=lambda m: float(m.ts), reverse=True), p)

    def _m_conversations_replies(self, p: dict[str, Any]) -> dict[str, Any]:
        """The thread's parent first, then its replies, oldest first."""
        channel, ts = str(p.get("channel") or ""), str(p.get("ts") or "")
        visible = self._visible(channel)
        parent = next((m for m in visible if m.ts == ts), None)
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        replies = sorted((m for m in visible if m.thread_ts == ts and m.ts != ts), key=lambda m: float(m.ts))
        return self._page([parent, *replies], p)

    def _page(self, found: list[Message], p: dict[str, Any]) -> dict[str, Any]:
        """One page of `found` within `oldest`, with Slack's cursor paging and `include_all_metadata`."""
        oldest = float(p.get("oldest") or 0)
        found = [m for m in found if float(m.ts) > oldest]
        start, limit = int(p.get("cursor") or 0), int(p.get("limit") or 100)
        page, more = found[start:start + limit], start + limit < len(found)
        with_metadata = str(p.get("include_all_metadata", "")).lower() in ("1", "true")
        return {"ok": True, "messages": [_listed(m, with_metadata) for m in page], "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _m_chat_postEphemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        msg = self._post(p, "chat.postEphemeral", ephemeral_to=str(p["user"]))
        return {"ok": True, "message_ts": msg.ts}

    def _m_conversations_open(self, p: dict[str, Any]) -> dict[str, Any]:
        users = sorted(u for u in str(p.get("users", "")).split(",") if u)
        if not users or len(users) > 8:
            return {"ok": False, "error": "too_many_users" if users else "users_list_not_supplied"}
        if len(users) == 1:
            channel = self.im_of(users[0])
        else:
            channel = next((c for c, m in self.conversations.items() if c.startswith("G") and sorted(m) == users),
                           None) or self.new_id("G")
        self.conversations[channel] = users
        return {"ok": True, "channel": {"id": channel}}

    def _m_users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        uid = str(p.get("user"))
        if uid.startswith("UGONE"):
            return {"ok": False, "error": "user_not_found"}
        name = self.users.get(uid, uid)
        return {"ok": True, "user": {"id": uid, "name": name.lower(), "real_name": name,
                                     "profile": {"display_name": name, "real_name": name}}}

    def _m_views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        trigger = str(p.get("trigger_id"))
        if trigger in self.used_triggers:
            return {"ok": False, "error": "exchanged_trigger_id"}
        self.used_triggers.add(trigger)
        view = {**p["view"], "id": self.new_id("V"), "team_id": TEAM}
        self.views[trigger] = view
        return {"ok": True, "view": view}

    def _m_files_getUploadURLExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        file_id = self.new_id("F")
        self.uploads[file_id] = {"filename": p.get("filename"), "length": int(p.get("length", 0)), "data": None}
        return {"ok": True, "file_id": file_id, "upload_url": f"{self.base}/upload/{file_id}"}

    def _m_files_completeUploadExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        files = p.get("files") or []
        out = []
        for f in files:
            upload = self.uploads.get(f["id"])
            if upload is None or upload["data"] is None:
                return {"ok": False, "error": "file_not_found"}
            out.append({"id": f["id"], "name": upload["filename"], "title": f.get("title")})
        channel = p.get("channel_id")
        if channel:
            msg = Message(channel=str(channel), ts=self.next_ts(), text=str(p.get("initial_comment") or ""),
                          thread_ts=p.get("thread_ts"), files=[f["name"] for f in out], via="files")
            self.messages.append(msg)
        return {"ok": True, "files": out}

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if file_id not in self.uploads:
            return web.Response(status=404, text="no such upload")
        self.uploads[file_id]["data"] = await request.read()
        return web.Response(text=f"OK - {len(self.uploads[file_id]['data'])}")

    async def _respond(self, request: web.Request) -> web.Response:
        rid = request.match_info["rid"]
        user, channel = self.response_urls[rid]
        body = await request.json()
        self.calls.append(Call("response_url", body, 200, time.monotonic()))
        ephemeral = body.get("response_type", "ephemeral") == "ephemeral"
        msg = Message(channel=channel, ts=self.next_ts(), text=str(body.get("text") or ""),
                      blocks=body.get("blocks") or [], ephemeral_to=user if ephemeral else None, via="response_url")
        self.messages.append(msg)
        return web.Response(text="ok")


def _listed(m: Message, with_metadata: bool) -> dict[str, Any]:
    """A message as the history methods list it; metadata only when asked for, as on Slack."""
    out: dict[str, Any] = {"type": "message", "ts": m.ts, "text": m.text}
    out.update({"user": m.user} if m.user else {"user": BOT_USER, "bot_id": BOT_ID})
    if m.thread_ts:
        out["thread_ts"] = m.thread_ts
    if m.blocks:
        out["blocks"] = m.blocks
    if with_metadata and m.metadata:
        out["metadata"] = m.metadata
    return out
