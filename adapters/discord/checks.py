"""`facilitator doctor`'s Discord lines: the token, the message-content intent, and the bot's permissions in a
channel against those the invite asks for. Over the REST API only: no gateway connection is opened."""

from __future__ import annotations

import asyncio

import aiohttp
import discord
from discord.http import HTTPClient

from adapters.base import Check
from adapters.discord.client import PointedHTTPClient
from adapters.discord.invite import INTENT_FIX, PERMISSIONS, TOKEN_FIX

MESSAGE_CONTENT = (1 << 18) | (1 << 19)  # application flags: the intent, or its limited form (under 100 servers)
INVITE_FIX = ("invite the bot again with the link from `facilitator discord-invite APPLICATION_ID` (it asks for "
              "exactly these), or allow them for the bot's role in the channel's Permissions")


def channel_permissions(guild_id: str, member: dict, roles: list[dict], overwrites: list[dict]) -> discord.Permissions:
    """What a member may do in a channel, computed as Discord does: @everyone and their roles, then the channel's
    overwrites for @everyone, for their roles together, and for them."""
    mine = set(member.get("roles", []))
    perms = 0
    for role in roles:
        if role["id"] == guild_id or role["id"] in mine:
            perms |= int(role["permissions"])
    if perms & discord.Permissions.administrator.flag:
        return discord.Permissions.all()
    by_id = {o["id"]: o for o in overwrites}

    def apply(allow: int, deny: int) -> None:
        nonlocal perms
        perms = (perms & ~deny) | allow

    if guild_id in by_id:
        apply(int(by_id[guild_id]["allow"]), int(by_id[guild_id]["deny"]))
    role_overwrites = [o for o in overwrites if o["id"] in mine and int(o.get("type", 0)) == 0]
    allow = deny = 0
    for o in role_overwrites:
        allow |= int(o["allow"])
        deny |= int(o["deny"])
    apply(allow, deny)
    user_id = str(member.get("user", {}).get("id", ""))
    if user_id in by_id:
        apply(int(by_id[user_id]["allow"]), int(by_id[user_id]["deny"]))
    return discord.Permissions(perms)


async def discord_checks(token: str, api_url: str | None, channel_id: str | None,
                         shards: tuple[tuple[int, ...], int] | None = None) -> list[Check]:
    http = PointedHTTPClient(asyncio.get_running_loop(), api_url)
    try:
        try:
            me = await http.static_login(token)
        except discord.LoginFailure:
            return [Check(name="Discord token", status="fail", detail=f"refused by Discord: {TOKEN_FIX}")]
        except (aiohttp.ClientError, OSError) as exc:
            return [Check(name="Discord token", status="fail",
                          detail=f"could not reach Discord ({type(exc).__name__}): check the network")]
        out = [Check(name="Discord token", status="ok", detail=f"valid: the bot is {me.get('username', '?')}")]
        app = await http.application_info()
        intent = int(app.get("flags") or 0) & MESSAGE_CONTENT
        out.append(Check(name="Discord message-content intent", status="ok" if intent else "fail",
                         detail="on: the bot can read replies" if intent else f"off: {INTENT_FIX}"))
        out.append(await _channel_check(http, str(me["id"]), channel_id))
        out.append(await _shard_check(http, shards))
        return out
    finally:
        await http.close()


async def _channel_check(http: HTTPClient, bot_id: str, channel_id: str | None) -> Check:
    name = "Discord permissions"
    if not channel_id:
        return Check(name=name, status="skip", detail="give --discord-channel ID to check them in a channel "
                     "(with Developer Mode on: right-click the channel > Copy Channel ID)")
    try:
        channel = await http.get_channel(channel_id)
        guild_id = str(channel["guild_id"])
        member = await http.get_member(guild_id, bot_id)
        roles = await http.get_roles(guild_id)
    except (discord.NotFound, discord.Forbidden, KeyError):
        return Check(name=name, status="fail", detail=f"the bot cannot see channel {channel_id}: {INVITE_FIX}")
    have = channel_permissions(guild_id, dict(member), [dict(r) for r in roles],
                               [dict(o) for o in channel.get("permission_overwrites", [])])
    missing = [p for p, wanted in PERMISSIONS if wanted and not getattr(have, p)]
    where = f"#{channel.get('name', channel_id)}"
    if missing:
        names = ", ".join(p.replace("_", " ").title() for p in missing)
        return Check(name=name, status="fail", detail=f"in {where} the bot lacks {names}: {INVITE_FIX}")
    return Check(name=name, status="ok", detail=f"in {where}: all {sum(1 for _, w in PERMISSIONS if w)} the invite "
                 "asks for")


async def _shard_check(http: HTTPClient, shards: tuple[tuple[int, ...], int] | None) -> Check:
    """This process's shards beside the count Discord recommends for the bot (GET /gateway/bot)."""
    name = "Discord shards"
    try:
        recommended, _, _ = await http.get_bot_gateway()
    except discord.GatewayNotFound:
        return Check(name=name, status="note", detail="Discord did not say how many shards it recommends")
    ids, count = shards or ((0,), 1)
    running = f"this process runs shard {','.join(map(str, ids))} of {count}" if shards else "this process is unsharded"
    if count < recommended:
        return Check(name=name, status="note", detail=f"Discord recommends {recommended} shards and {running}: give "
                     "each process FACILITATOR_DISCORD_SHARDS=ID/COUNT (docs/deploy.md)")
    return Check(name=name, status="ok", detail=f"Discord recommends {recommended} and {running}")
