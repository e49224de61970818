"""A loopback fake of Discord: the REST API (v10) and the gateway, speaking the real wire formats.

A real `discord.Client` logs in, identifies over the websocket, receives READY and GUILD_CREATE, and
then sees MESSAGE_CREATE/UPDATE/DELETE, THREAD_CREATE and INTERACTION_CREATE exactly as from Discord.
Every REST call is recorded with its JSON body, so tests can assert on what was sent (for example the
`allowed_mentions` field). Test knobs: injected 429s, refused permissions, users who block DMs, a post or a
new thread stored whose answer never comes.

Sharding as Discord does it: a connection that IDENTIFYs with `shard: [id, count]` gets the events of the guilds
with (guild_id >> 22) % count == id, and those with no guild (DMs) only if its id is 0; a bad shard is closed
with 4010, a connection that would serve too many guilds with 4011. Several bot processes can share one fake:
each given its own addresses (`api_url_for(name)`, `gateway_url_for(name)`), every REST call records the
process that made it (`Call.caller`) and every interaction the connections it was delivered to.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

DISCORD_EPOCH_MS = 1_420_070_400_000
NONCE_SECONDS = 300  # "a few minutes", in Discord's words, for enforce_nonce
JSON = "application/json"  # exactly: discord.py's json_or_text rejects "application/json; charset=utf-8"
EPHEMERAL = 64


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any] | None
    files: list[str] = field(default_factory=list)
    status: int = 200
    caller: str = ""  # the process that made it: the NAME of the `/as/NAME/` address it used ("" for the plain one)


@dataclass
class FakeInteraction:
    id: str
    token: str
    user_id: str
    channel_id: str
    kind: int
    responses: list[dict[str, Any]] = field(default_factory=list)  # callback bodies
    followups: list[dict[str, Any]] = field(default_factory=list)  # message objects
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    delivered_to: list[str] = field(default_factory=list)  # the gateway connections that got it (Connection.name)


# Discord's gateway close codes for sharding.
INVALID_SHARD = 4010
SHARDING_REQUIRED = 4011


@dataclass
class Connection:
    """One gateway connection: the process that opened it and the shard it identified with (None: unsharded)."""

    ws: web.WebSocketResponse
    caller: str
    url: str
    shard: tuple[int, int] | None = None
    identified: bool = False

    @property
    def name(self) -> str:
        return (self.caller or "bot") + (f" shard {self.shard[0]}/{self.shard[1]}" if self.shard else "")

    def serves(self, guild_id: str | None) -> bool:
        """Discord's sharding formula; events with no guild (DMs) go to shard 0 only."""
        if self.shard is None:
            return True
        shard_id, count = self.shard
        return shard_id == 0 if guild_id is None else (int(guild_id) >> 22) % count == shard_id


class _Drop(Exception):
    """Close the connection without answering."""


class FakeDiscord:
    """One guild, one text channel, some users, and a bot. Start with `await fake.start()`."""

    def __init__(self, channel_rate: tuple[int, float] | None = None) -> None:
        # (posts, seconds): each channel takes that many bot messages a window, with Discord's X-RateLimit headers
        # (so discord.py waits before it is refused) and a 429 past it; None: no limit.
        self.channel_rate = channel_rate
        self._windows: dict[str, tuple[float, int]] = {}  # channel -> (window start, posts in it)
        self._ids = itertools.count()
        self.application_id = self.new_id()
        self.bot = {"id": self.application_id, "username": "opera", "global_name": "OPERA", "discriminator": "0",
                    "avatar": None, "bot": True}
        self.guild_id = self.new_id()
        self.channel_id = self.new_id()
        self.guild_names = {self.guild_id: "Community network"}
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {
            self.channel_id: {"id": self.channel_id, "type": 0, "guild_id": self.guild_id, "name": "breakout",
                              "position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None,
                              "topic": None, "last_message_id": None, "rate_limit_per_user": 0}
        }
        self.dm_channels: dict[str, str] = {}  # user id -> dm channel id
        self.thread_members: dict[str, set[str]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.interactions: dict[str, FakeInteraction] = {}
        self.commands: list[dict[str, Any]] = []
        # knobs
        self.app_flags = 1 << 18  # GATEWAY_MESSAGE_CONTENT: the message-content intent is on
        self.deny_private_threads = False
        self.deny_public_threads = False
        self.dm_blocked: set[str] = set()
        self._rate_limits: list[tuple[str, re.Pattern[str], int, float, bool]] = []
        self._sockets: list[web.WebSocketResponse] = []
        self.connections: list[Connection] = []  # open gateway connections, in the order they came
        self.deliveries: list[tuple[str, str, list[str]]] = []  # (event, its data's id, the connections it went to)
        self.identify: dict[str, Any] = {}  # the client's last IDENTIFY payload
        self.shard_multiple = 1  # large bot sharding: a shard count not a multiple of this is refused (4010)
        self.guilds_per_connection = 2500  # more guilds than this on one connection: sharding required (4011)
        self.recommended_shards = 1  # GET /gateway/bot's `shards`
        self._seq = 0
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.activity = asyncio.Event()
        # (channel id, content) -> True: that bot message is stored, then its answer is held for good, as when
        # the bot's process dies while Discord is answering; `holding` is set then.
        self.hold_post: Callable[[str, str], bool] | None = None
        self.holding = asyncio.Event()
        # thread name -> True: that thread is made, then the answer to its creation is held the same way.
        self.hold_thread: Callable[[str], bool] | None = None
        self._released = asyncio.Event()
        # How the next bot messages fail: "500_after" (stored, then a 500) or "drop_after" (stored, no answer).
        self.post_faults: list[str] = []
        self.storm_until = 0.0  # time.monotonic() until which every message post and new thread is answered 429
        self._nonces: dict[tuple[str, str], tuple[float, str]] = {}  # (channel, nonce) -> (when, message id)

    def new_id(self) -> str:
        """A snowflake, as Discord's: milliseconds since Discord's epoch, shifted, plus a counter."""
        return str(((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) + next(self._ids) % 4096)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        app.router.add_get("/as/{caller}/gateway", self._gateway)
        app.router.add_route("*", "/as/{caller}/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._released.set()  # a held answer is dropped, so the server can close
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def api_url_for(self, caller: str) -> str:
        """The REST API for the process `caller`: the same Discord, with its calls recorded as that process's."""
        return f"http://127.0.0.1:{self.port}/as/{caller}/api/v10"

    def gateway_url_for(self, caller: str) -> str:
        return f"ws://127.0.0.1:{self.port}/as/{caller}/gateway"

    def add_guild(self, name: str, shard: tuple[int, int] | None = None) -> str:
        """Another server (with the same members and the bot) and one text channel in it; returns the channel id.
        Given `shard` (id, count), the server's id puts it on that shard. Call before start()."""
        guild, channel = self.new_id() if shard is None else self._id_on(shard), self.new_id()
        self.guild_names[guild] = name
        self.channels[channel] = {**self.channels[self.channel_id], "id": channel, "guild_id": guild}
        return channel

    def _id_on(self, shard: tuple[int, int]) -> str:
        """A snowflake whose guild would be on `shard`: its timestamp moved on by under `count` milliseconds."""
        shard_id, count = shard
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        ms += (shard_id - ms) % count
        return str((ms << 22) + next(self._ids) % 4096)

    def guild_of(self, channel_id: str) -> str | None:
        return self.channels.get(channel_id, {}).get("guild_id")

    def add_user(self, name: str) -> str:
        uid = self.new_id()
        self.users[uid] = {"id": uid, "username": name.lower(), "global_name": name, "discriminator": "0",
                           "avatar": None}
        return uid

    def rate_limit(self, method: str, path_pattern: str, times: int = 1, retry_after: float = 0.2,
                   is_global: bool = False) -> None:
        """The next `times` matching requests get a 429 (with the Via header discord.py expects from Discord);
        a global one holds back every request of the bot, as Discord's 50-requests-a-second limit does."""
        self._rate_limits.append((method, re.compile(path_pattern), times, retry_after, is_global))

    # --- gateway -----------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        caller = request.match_info.get("caller", "")
        connection = Connection(ws, caller, self.gateway_url_for(caller) if caller else self.gateway_url)
        self._sockets.append(ws)
        self.connections.append(connection)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 45000}, "s": None, "t": None}))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                if frame["op"] == 1:
                    await ws.send_str(json.dumps({"op": 11, "d": None}))
                elif frame["op"] == 2:
                    self.identify = frame["d"]
                    refused = self._refused(connection, frame["d"].get("shard"))
                    if refused:
                        await ws.close(code=refused[0], message=refused[1].encode())
                        break
                    connection.identified = True
                    await self._ready(connection)
        finally:
            self._sockets.remove(ws)
            self.connections.remove(connection)
        return ws

    def _refused(self, connection: Connection, shard: Any) -> tuple[int, str] | None:
        """Discord's close code and reason for an IDENTIFY it does not accept, or None."""
        if shard is not None:
            valid = (isinstance(shard, list) and len(shard) == 2 and all(isinstance(n, int) for n in shard)
                     and 0 <= shard[0] < shard[1] and shard[1] % self.shard_multiple == 0)
            if not valid:
                return INVALID_SHARD, "Invalid shard."
            connection.shard = (shard[0], shard[1])
        if sum(connection.serves(g) for g in self.guild_names) > self.guilds_per_connection:
            return SHARDING_REQUIRED, "Sharding required."
        return None

    async def _send_event(self, ws: web.WebSocketResponse, name: str, data: dict[str, Any]) -> None:
        self._seq += 1
        await ws.send_str(json.dumps({"op": 0, "t": name, "s": self._seq, "d": data}))

    async def _ready(self, connection: Connection) -> None:
        """READY lists only the guilds on the connection's shard (and says which shard it is); each then comes."""
        guilds = {g: name for g, name in self.guild_names.items() if connection.serves(g)}
        ready: dict[str, Any] = {
            "v": 10, "user": self.bot, "guilds": [{"id": g, "unavailable": True} for g in guilds],
            "session_id": "fake-session", "resume_gateway_url": connection.url,
            "application": {"id": self.application_id, "flags": 0}, "private_channels": [], "relationships": [],
        }
        if connection.shard is not None:
            ready["shard"] = list(connection.shard)
        await self._send_event(connection.ws, "READY", ready)
        for guild, name in guilds.items():
            await self._guild_create(connection.ws, guild, name)

    async def _guild_create(self, ws: web.WebSocketResponse, guild: str, name: str) -> None:
        threads = [c for c in self.channels.values() if c["type"] in (11, 12) and c.get("guild_id") == guild]
        await self._send_event(ws, "GUILD_CREATE", {
            "id": guild, "name": name, "owner_id": next(iter(self.users), self.bot["id"]),
            "unavailable": False, "large": False, "member_count": len(self.users) + 1, "features": [],
            "roles": self._roles(guild),
            "channels": [c for c in self.channels.values() if c["type"] == 0 and c.get("guild_id") == guild],
            "threads": threads,
            "members": [self._member(uid) for uid in [self.bot["id"], *self.users]],
            "emojis": [], "stickers": [], "presences": [], "voice_states": [], "stage_instances": [],
            "guild_scheduled_events": [], "premium_tier": 0, "afk_timeout": 300, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0, "nsfw_level": 0,
            "preferred_locale": "en-US", "joined_at": _now(),
        })

    def _roles(self, guild: str | None = None) -> list[dict[str, Any]]:
        return [{"id": guild or self.guild_id, "name": "@everyone", "permissions": "2248473465835073", "position": 0,
                 "color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0}]

    async def dispatch(self, name: str, data: dict[str, Any]) -> list[str]:
        """Send an event to each connection whose shard has its guild (DMs: shard 0); returns their names."""
        guild = data.get("guild_id")
        sent = []
        for connection in list(self.connections):
            if connection.identified and connection.serves(guild):
                await self._send_event(connection.ws, name, data)
                sent.append(connection.name)
        self.deliveries.append((name, str(data.get("id", "")), sent))
        return sent

    def _user(self, uid: str) -> dict[str, Any]:
        return self.bot if uid == self.bot["id"] else self.users[uid]

    def _member(self, uid: str) -> dict[str, Any]:
        return {"user": self._user(uid), "roles": [], "joined_at": _now(), "deaf": False, "mute": False,
                "flags": 0, "nick": None, "permissions": "2248473465835073"}

    # --- REST ---------------------------------------------------------------------------------

    def _json(self, data: Any, status: int = 200) -> web.Response:
        # body + explicit header: aiohttp would append "; charset=utf-8" to a text response's content type.
        return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": JSON})

    def _error(self, status: int, code: int, message: str) -> web.Response:
        return self._json({"message": message, "code": code}, status)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        caller = request.match_info.get("caller", "")
        body, files = await self._body(request)
        if request.method == "POST" and re.fullmatch(r"/channels/\d+/(messages|threads|messages/\d+/threads)", path) \
                and time.monotonic() < self.storm_until:
            self._rate_limits.insert(0, ("POST", re.compile(re.escape(path)), 1, 0.5, False))
        for n, (method, pattern, times, retry_after, is_global) in enumerate(self._rate_limits):
            if method == request.method and pattern.fullmatch(path) and times > 0:
                self._rate_limits[n] = (method, pattern, times - 1, retry_after, is_global)
                self.calls.append(Call(request.method, path, body, files, 429, caller))
                body429 = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
                headers = {"Content-Type": JSON, "Via": "1.1 google", "Retry-After": str(retry_after),
                           "X-RateLimit-Scope": "global" if is_global else "user"}
                if is_global:
                    headers["X-RateLimit-Global"] = "true"
                return web.Response(body=json.dumps(body429).encode(), status=429, headers=headers)
        if request.headers.get("Authorization") != "Bot fake-token" and not path.startswith(("/webhooks",
                                                                                              "/interactions")):
            return self._error(401, 0, "401: Unauthorized")
        posting = re.fullmatch(r"/channels/(\d+)/messages", path) if request.method == "POST" else None
        headers = self._channel_window(posting.group(1)) if posting and self.channel_rate else {}
        if headers.get("X-RateLimit-Remaining") == "-1":
            self.calls.append(Call(request.method, path, body, files, 429, caller))
            wait = float(headers["X-RateLimit-Reset-After"])
            body429 = {"message": "You are being rate limited.", "retry_after": wait, "global": False}
            return web.Response(body=json.dumps(body429).encode(), status=429, headers={
                **headers, "X-RateLimit-Remaining": "0", "Content-Type": JSON, "Via": "1.1 google",
                "Retry-After": str(wait), "X-RateLimit-Scope": "user"})
        call = Call(request.method, path, body, files, caller=caller)
        self.calls.append(call)
        try:
            response = await self._route(request.method, path, body or {}, files, request.query)
        except _Drop:  # the work is done; the connection closes with no answer
            call.status = 0
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        call.status = response.status
        response.headers.update(headers)
        self.activity.set()
        return response

    def _channel_window(self, channel_id: str) -> dict[str, str]:
        """Count one bot message against its channel's window; its rate-limit headers (Remaining -1: refused)."""
        assert self.channel_rate is not None
        limit, seconds = self.channel_rate
        now = time.monotonic()
        start, used = self._windows.get(channel_id, (now, 0))
        if now - start >= seconds:
            start, used = now, 0
        refused = used >= limit
        if not refused:
            used += 1
            self._windows[channel_id] = (start, used)
        reset_after = max(start + seconds - now, 0.001)
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "-1" if refused else str(limit - used),
                "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                "X-RateLimit-Bucket": "channel-messages"}

    async def _body(self, request: web.Request) -> tuple[dict[str, Any] | None, list[str]]:
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            body: dict[str, Any] | None = None
            files: list[str] = []
            while (part := await reader.next()) is not None:
                if part.name == "payload_json":  # type: ignore[union-attr]
                    body = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    files.append(part.filename or "")  # type: ignore[union-attr]
                    await part.read()  # type: ignore[union-attr]
            return body, files
        if request.can_read_body:
            text = await request.text()
            return (json.loads(text) if text else None), []
        return None, []

    async def _route(
        self, method: str, path: str, body: dict[str, Any], files: list[str], query: Any
    ) -> web.Response:
        routes: list[tuple[str, str, Callable[..., Any]]] = [
            ("GET", r"/users/@me", lambda: self._json(self.bot)),
            ("GET", r"/gateway/bot", lambda: self._json({
                "url": self.gateway_url, "shards": self.recommended_shards,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000,
                                        "max_concurrency": 1}})),
            ("GET", r"/oauth2/applications/@me", lambda: self._json(
                {"id": self.application_id, "name": "OPERA", "description": "", "icon": None, "bot_public": True,
                 "bot_require_code_grant": False, "verify_key": "0" * 64, "flags": self.app_flags, "team": None,
                 "owner": self.users.get(next(iter(self.users), ""), self.bot)})),
            ("GET", r"/applications/(\d+)/commands", lambda _a: self._json(self.commands)),
            ("PUT", r"/applications/(\d+)/commands", lambda _a: self._put_commands(body)),
            ("GET", r"/channels/(\d+)", self._get_channel),
            ("GET", r"/guilds/(\d+)/members/(\d+)", lambda g, u: self._json(self._member(u))),
            ("GET", r"/guilds/(\d+)/roles", lambda g: self._json(self._roles(g))),
            ("POST", r"/channels/(\d+)/messages", lambda c: self._post_message(c, body, files)),
            ("GET", r"/channels/(\d+)/messages", lambda c: self._history(c, query)),
            ("PATCH", r"/channels/(\d+)/messages/(\d+)", lambda c, m: self._edit_message(m, body)),
            ("POST", r"/channels/(\d+)/messages/(\d+)/threads", lambda c, m: self._thread_from_message(c, m, body)),
            ("POST", r"/channels/(\d+)/threads", lambda c: self._thread(c, body)),
            ("PUT", r"/channels/(\d+)/thread-members/(\d+)", self._add_thread_member),
            ("GET", r"/guilds/(\d+)/threads/active", self._active_threads),
            ("POST", r"/users/@me/channels", lambda: self._open_dm(body)),
            ("POST", r"/interactions/(\d+)/([^/]+)/callback", lambda i, t: self._callback(i, body, files)),
            ("POST", r"/webhooks/(\d+)/([^/]+)", lambda a, t: self._followup(t, body, files)),
            ("GET", r"/webhooks/(\d+)/([^/]+)/messages/@original", lambda a, t: self._original(t)),
            ("PATCH", r"/webhooks/(\d+)/([^/]+)/messages/@original", lambda a, t: self._original(t, body)),
        ]
        for verb, pattern, handler in routes:
            m = re.fullmatch(pattern, path)
            if m and verb == method:
                result = handler(*m.groups())
                return await result if asyncio.iscoroutine(result) else result
        return self._error(404, 0, f"404: Not Found ({method} {path})")

    def _put_commands(self, body: Any) -> web.Response:
        self.commands = [{**c, "id": self.new_id(), "application_id": self.application_id, "version": "1"}
                         for c in body]
        return self._json(self.commands)

    def _get_channel(self, channel_id: str) -> web.Response:
        channel = self.channels.get(channel_id)
        return self._json(channel) if channel else self._error(404, 10003, "Unknown Channel")

    def _message(self, channel_id: str, author_id: str, content: str, **extra: Any) -> dict[str, Any]:
        channel = self.channels.get(channel_id, {})
        msg: dict[str, Any] = {
            "id": self.new_id(), "channel_id": channel_id, "author": self._user(author_id), "content": content,
            "timestamp": _now(), "edited_timestamp": None, "tts": False, "mention_everyone": False,
            "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": False, "type": 0,
            "flags": 0, "components": [],
        }
        if channel.get("guild_id"):
            msg["guild_id"] = channel["guild_id"]
        msg.update(extra)
        self.messages[msg["id"]] = msg
        return msg

    async def _post_message(self, channel_id: str, body: dict[str, Any], files: list[str]) -> web.Response:
        channel = self.channels.get(channel_id)
        if channel is None:
            return self._error(404, 10003, "Unknown Channel")
        if channel["type"] == 1 and channel["recipients"][0]["id"] in self.dm_blocked:
            return self._error(403, 50007, "Cannot send messages to this user")
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            # Discord: the same nonce from the same author within a few minutes returns the earlier message.
            seen = self._nonces.get((channel_id, str(nonce)))
            if seen is not None and time.time() - seen[0] < NONCE_SECONDS:
                self.calls.append(Call("POST", f"/channels/{channel_id}/messages", body, files, 200))
                return self._json(self.messages[seen[1]])
        attachments = [{"id": self.new_id(), "filename": f, "size": 1, "url": f"https://cdn.invalid/{f}",
                        "proxy_url": f"https://cdn.invalid/{f}"} for f in files]
        msg = self._message(channel_id, self.bot["id"], body.get("content", ""),
                            components=body.get("components", []), attachments=attachments,
                            allowed_mentions=body.get("allowed_mentions"))
        if nonce is not None:
            msg["nonce"] = nonce
            self._nonces[(channel_id, str(nonce))] = (time.time(), msg["id"])
        event = {**msg}
        if "guild_id" in msg:
            event["member"] = {k: v for k, v in self._member(self.bot["id"]).items() if k != "user"}
        await self.dispatch("MESSAGE_CREATE", event)
        await self._maybe_hold(self.hold_post is not None and self.hold_post(channel_id, msg["content"]))
        if self.post_faults:
            fault = self.post_faults.pop(0)
            if fault == "500_after":
                return self._error(500, 0, "500: Internal Server Error")
            raise _Drop()
        return self._json(msg)

    def _history(self, channel_id: str, query: Any) -> web.Response:
        """GET messages with `after`: the oldest `limit` messages after it, newest first, as Discord answers."""
        after = int(query.get("after", 0))
        limit = int(query.get("limit", 50))
        found = sorted((m for m in self.messages.values() if m["channel_id"] == channel_id and int(m["id"]) > after),
                       key=lambda m: int(m["id"]))[:limit]
        return self._json(list(reversed(found)))

    def _edit_message(self, message_id: str, body: dict[str, Any]) -> web.Response:
        msg = self.messages[message_id]
        msg.update({k: v for k, v in body.items() if k in ("content", "components")}, edited_timestamp=_now())
        return self._json(msg)

    def _thread_data(self, thread_id: str, parent_id: str, name: str, kind: int) -> dict[str, Any]:
        return {
            "id": thread_id, "guild_id": self.guild_of(parent_id) or self.guild_id, "parent_id": parent_id,
            "owner_id": self.bot["id"],
            "name": name, "type": kind, "member_count": 1, "message_count": 0, "rate_limit_per_user": 0,
            "flags": 0, "last_message_id": None,
            "thread_metadata": {"archived": False, "auto_archive_duration": 1440, "archive_timestamp": _now(),
                                "locked": False, "invitable": kind != 12, "create_timestamp": _now()},
        }

    async def _thread_from_message(self, channel_id: str, message_id: str, body: dict[str, Any]) -> web.Response:
        if self.deny_public_threads:
            return self._error(403, 50013, "Missing Permissions")
        if message_id in self.channels:
            return self._error(400, 160004, "A thread has already been created for this message")
        return await self._open_thread(message_id, channel_id, body.get("name", "thread"), 11)

    async def _thread(self, channel_id: str, body: dict[str, Any]) -> web.Response:
        kind = int(body.get("type", 12))
        if (kind == 12 and self.deny_private_threads) or (kind == 11 and self.deny_public_threads):
            return self._error(403, 50013, "Missing Permissions")
        return await self._open_thread(self.new_id(), channel_id, body.get("name", "thread"), kind)

    async def _open_thread(self, thread_id: str, parent_id: str, name: str, kind: int) -> web.Response:
        data = self._thread_data(thread_id, parent_id, name, kind)
        self.channels[thread_id] = data
        self.thread_members[thread_id] = {self.bot["id"]}
        await self.dispatch("THREAD_CREATE", {**data, "newly_created": True})
        await self._maybe_hold(self.hold_thread is not None and self.hold_thread(name))
        return self._json(data, 201)

    async def _maybe_hold(self, wanted: bool) -> None:
        """The first time `wanted`: the work is stored, and its answer held for good (`holding` is set)."""
        if wanted and not self.holding.is_set():
            self.holding.set()
            await self._released.wait()

    def _active_threads(self, guild_id: str) -> web.Response:
        """Every thread of the guild not archived (the bot sees its own private threads), as Discord lists them."""
        threads = [c for c in self.channels.values() if c["type"] in (11, 12) and c.get("guild_id") == guild_id
                   and not c["thread_metadata"]["archived"]]
        return self._json({"threads": threads, "members": []})

    def _add_thread_member(self, thread_id: str, user_id: str) -> web.Response:
        if thread_id not in self.channels:
            return self._error(404, 10003, "Unknown Channel")
        self.thread_members[thread_id].add(user_id)
        return web.Response(status=204)

    def _open_dm(self, body: dict[str, Any]) -> web.Response:
        user_id = str(body["recipient_id"])
        if user_id not in self.dm_channels:
            cid = self.new_id()
            self.dm_channels[user_id] = cid
            self.channels[cid] = {"id": cid, "type": 1, "recipients": [self._user(user_id)], "last_message_id": None}
        return self._json(self.channels[self.dm_channels[user_id]])

    def _interaction_by_token(self, token: str) -> FakeInteraction:
        return next(i for i in self.interactions.values() if i.token == token)

    def _callback(self, interaction_id: str, body: dict[str, Any], files: list[str]) -> web.Response:
        ix = self.interactions[interaction_id]
        ix.responses.append(body)
        ix.answered.set()
        kind = body["type"]
        data = body.get("data") or {}
        response: dict[str, Any] = {"interaction": {"id": interaction_id, "type": ix.kind,
                                                    "response_message_loading": kind == 5,
                                                    "response_message_ephemeral": bool(data.get("flags", 0) & 64)}}
        if kind in (4, 5):
            msg = self._message(ix.channel_id, self.bot["id"], data.get("content", ""), flags=data.get("flags", 0),
                                components=data.get("components", []), interaction_user=ix.user_id,
                                allowed_mentions=data.get("allowed_mentions"))
            if kind == 4:
                ix.followups.append(msg)
            response["interaction"]["response_message_id"] = msg["id"]
            response["resource"] = {"type": kind, "message": msg}
        return self._json(response)

    def _followup(self, token: str, body: dict[str, Any], files: list[str]) -> web.Response:
        ix = self._interaction_by_token(token)
        msg = self._message(ix.channel_id, self.bot["id"], body.get("content", ""), flags=body.get("flags", 0),
                            components=body.get("components", []), interaction_user=ix.user_id,
                            allowed_mentions=body.get("allowed_mentions"), webhook_id=self.application_id)
        ix.followups.append(msg)
        return self._json(msg)

    def _original(self, token: str, body: dict[str, Any] | None = None) -> web.Response:
        ix = self._interaction_by_token(token)
        msg = self._message(ix.channel_id, self.bot["id"], (body or {}).get("content", ""))
        return self._json(msg)

    # --- acting as users ------------------------------------------------------------------------

    async def user_says(self, user_id: str, channel_id: str, content: str, reply_to: str | None = None,
                        message_id: str | None = None) -> str:
        """A person posts (or, given `message_id`, the gateway re-delivers that same message)."""
        if message_id is not None:
            await self._dispatch_message(self.messages[message_id])
            return message_id
        extra: dict[str, Any] = {}
        if reply_to is not None:
            ref = self.messages.get(reply_to)
            extra = {"type": 19, "message_reference": {"message_id": reply_to, "channel_id": channel_id},
                     "referenced_message": ref}
        msg = self._message(channel_id, user_id, content, **extra)
        await self._dispatch_message(msg)
        return msg["id"]

    def user_writes(self, user_id: str, channel_id: str, content: str) -> str:
        """A person posts, and the gateway's event for it is held back: `user_says(..., message_id=)` sends it."""
        return self._message(channel_id, user_id, content)["id"]

    async def _dispatch_message(self, msg: dict[str, Any]) -> None:
        event = {**msg}
        if "guild_id" in msg:
            event["member"] = {k: v for k, v in self._member(msg["author"]["id"]).items() if k != "user"}
        await self.dispatch("MESSAGE_CREATE", event)

    def dm_channel(self, user_id: str) -> str:
        if user_id not in self.dm_channels:
            self._open_dm({"recipient_id": user_id})
        return self.dm_channels[user_id]

    async def user_edits(self, user_id: str, message_id: str, content: str) -> None:
        msg = self.messages[message_id]
        msg.update(content=content, edited_timestamp=_now())
        await self.dispatch("MESSAGE_UPDATE", {**msg})

    async def user_deletes(self, message_id: str) -> None:
        msg = self.messages.pop(message_id)
        data = {"id": message_id, "channel_id": msg["channel_id"]}
        if "guild_id" in msg:
            data["guild_id"] = msg["guild_id"]
        await self.dispatch("MESSAGE_DELETE", data)

    def _interaction(self, kind: int, user_id: str, channel_id: str, data: dict[str, Any],
                     message: dict[str, Any] | None = None) -> tuple[FakeInteraction, dict[str, Any]]:
        ix = FakeInteraction(id=self.new_id(), token=f"tok{self.new_id()}", user_id=user_id, channel_id=channel_id,
                             kind=kind)
        self.interactions[ix.id] = ix
        channel = self.channels[channel_id]
        payload: dict[str, Any] = {
            "id": ix.id, "application_id": self.application_id, "type": kind, "data": data, "token": ix.token,
            "version": 1, "channel_id": channel_id, "channel": channel, "app_permissions": "2248473465835073",
            "locale": "en-US", "entitlements": [], "attachment_size_limit": 8 * 1024 * 1024,
        }
        if channel.get("guild_id"):
            payload.update(guild_id=channel["guild_id"], guild_locale="en-US", member=self._member(user_id), context=0,
                           authorizing_integration_owners={"0": channel["guild_id"]})
        else:
            payload.update(user=self._user(user_id), context=1, authorizing_integration_owners={"0": self.guild_id})
        if message is not None:
            payload["message"] = message
        return ix, payload

    async def slash(self, user_id: str, channel_id: str, sub: str, options: dict[str, Any] | None = None,
                    resolved_users: list[str] | None = None) -> FakeInteraction:
        """`/opera <sub> name:value ...`: option types are inferred (str 3, bool 5, int 4, user 6)."""
        opts = []
        for name, value in (options or {}).items():
            if isinstance(value, bool):
                kind = 5
            elif isinstance(value, int):
                kind = 4
            elif resolved_users and value in resolved_users:
                kind = 6
            else:
                kind = 3
            opts.append({"name": name, "type": kind, "value": value})
        data: dict[str, Any] = {"id": self.new_id(), "name": "opera", "type": 1,
                                "options": [{"name": sub, "type": 1, "options": opts}]}
        if resolved_users:
            data["resolved"] = {"users": {u: self._user(u) for u in resolved_users},
                                "members": {u: {k: v for k, v in self._member(u).items() if k != "user"}
                                            for u in resolved_users}}
        ix, payload = self._interaction(2, user_id, channel_id, data)
        ix.delivered_to = await self.dispatch("INTERACTION_CREATE", payload)
        return ix

    async def click(self, user_id: str, message: dict[str, Any], custom_id: str) -> FakeInteraction:
        ix, payload = self._interaction(3, user_id, message["channel_id"],
                                        {"custom_id": custom_id, "component_type": 2}, message)
        ix.delivered_to = await self.dispatch("INTERACTION_CREATE", payload)
        return ix

    async def submit_modal(self, user_id: str, channel_id: str, modal: dict[str, Any],
                           values: dict[str, str | list[str]], message: dict[str, Any] | None = None
                           ) -> FakeInteraction:
        """Fill in a modal the bot opened (`modal` is the callback's data) and submit it."""
        components = []
        for row in modal["components"]:
            inner = row["component"] if row["type"] == 18 else row["components"][0]
            cid = inner["custom_id"]
            if inner["type"] == 4:
                value = values.get(cid, inner.get("value") or "")
                components.append({"type": 18, "component": {"type": 4, "custom_id": cid,
                                                             "value": value if isinstance(value, str) else ""}})
            else:
                chosen = values.get(cid, [])
                chosen = [chosen] if isinstance(chosen, str) else chosen
                components.append({"type": 18, "component": {"type": inner["type"], "custom_id": cid,
                                                             "values": [c for c in chosen if c]}})
        ix, payload = self._interaction(5, user_id, channel_id, {"custom_id": modal["custom_id"],
                                                                  "components": components}, message)
        ix.delivered_to = await self.dispatch("INTERACTION_CREATE", payload)
        return ix

    # --- reading back ------------------------------------------------------------------------------

    def answered_by(self, ix: FakeInteraction) -> set[str]:
        """The processes that answered an interaction: its callback and its follow-ups (by its token)."""
        return {c.caller for c in self.calls if c.status < 300 and (
            c.path.startswith(f"/interactions/{ix.id}/") or c.path.startswith(f"/webhooks/{self.application_id}/"
                                                                               f"{ix.token}"))}

    def bot_messages(self) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m["author"]["id"] == self.bot["id"]]

    def message_calls(self) -> list[Call]:
        """Successful REST calls that created a message (channel posts, follow-ups, responses with text)."""
        out = []
        for c in self.calls:
            if c.status >= 300 or c.body is None:
                continue
            posted = c.method == "POST" and (re.fullmatch(r"/channels/\d+/messages", c.path)
                                             or c.path.startswith("/webhooks/"))
            if posted or (c.path.endswith("/callback") and c.body.get("type") == 4):
                out.append(c)
        return out
