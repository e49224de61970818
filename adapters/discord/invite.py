"""What the bot asks Discord for: the invite link (`facilitator discord-invite`) with its scopes and permissions, and
the fixes for a refused token or intent."""

from __future__ import annotations

import discord

SCOPES = ("bot", "applications.commands")

# Exactly what the adapter uses; docs/discord.md says why each is needed.
PERMISSIONS = discord.Permissions(
    view_channel=True,  # see the session channel and its threads
    send_messages=True,  # the question, phase posts, the published note
    send_messages_in_threads=True,  # everything in the session thread and the pair threads
    create_public_threads=True,  # the session thread on the question message
    create_private_threads=True,  # one private thread per pair or trio
    read_message_history=True,  # start a thread from a message; read replies to the bot's messages
    attach_files=True,  # a long published note goes out as a summary plus the Markdown file
)


TOKEN_FIX = ("copy the token from the Developer Portal (your application > Bot > Reset Token) into DISCORD_TOKEN; "
             "it is not the application id or the client secret")
INTENT_FIX = ("turn on Message Content Intent in the Developer Portal (your application > Bot > Privileged Gateway "
              "Intents)")


def invite_url(application_id: str) -> str:
    """The OAuth2 link that adds the bot to a server with the scopes and permissions it needs."""
    return discord.utils.oauth_url(application_id, permissions=PERMISSIONS, scopes=SCOPES)

# Discord's gateway close codes for sharding (docs.discord.com/developers/events/gateway#sharding).
INVALID_SHARD = 4010
SHARDING_REQUIRED = 4011


def shard_refused(code: int | None, shard: int | None, count: int | None) -> str | None:
    """What to fix when Discord closes the gateway over sharding; None for any other close."""
    if code == INVALID_SHARD:
        which = f"shard {shard} of {count}" if count is not None else "the connection"
        return (f"Discord refused {which} (close code 4010, invalid shard): give each process "
                "FACILITATOR_DISCORD_SHARDS (or --shards) as ID/COUNT with every ID below COUNT; a bot Discord has "
                "moved to large bot sharding must run a multiple of the shard number Discord gave it "
                "(docs/deploy.md)")
    if code == SHARDING_REQUIRED:
        return ("Discord requires this bot to be sharded (close code 4011: one gateway connection serves at most "
                "2,500 servers): run it as several processes, each with FACILITATOR_DISCORD_SHARDS=ID/COUNT, "
                "COUNT at least the number Discord recommends (`facilitator doctor` shows it; docs/deploy.md)")
    return None
