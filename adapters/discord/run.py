"""Running the bot on Discord (`facilitator run discord`) and the invite link (`facilitator discord-invite`)."""

from __future__ import annotations

import logging
from pathlib import Path

import discord

from adapters.discord.adapter import DiscordAdapter
from adapters.formbook import forms_path
from bot.configuration import engine_config, list_structures
from bot.runtime import Runtime
from bot.scheduler import AsyncTimers
from bot.settings import Settings
from bot.store import Store

log = logging.getLogger("facilitator.discord")

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


async def run_discord(settings: Settings) -> None:
    """Connect to Discord and serve sessions until the gateway closes (Ctrl-C stops it)."""
    if settings.discord_token is None:
        raise SystemExit("DISCORD_TOKEN is not set: see docs/discord.md")
    adapter = DiscordAdapter(
        settings.discord_token.get_secret_value(),
        api_url=settings.discord_api_url,
        gateway_url=settings.discord_gateway_url,
        command_name=settings.discord_command,
        forms_path=forms_path(Path(settings.database), "discord"),
        structures=list_structures(settings),
    )
    cfg = engine_config(settings)  # a broken config stops the start here, before anything is opened
    store = await Store.open(settings.database)
    try:
        runtime = Runtime(adapter, store, AsyncTimers(), settings, cfg)
        adapter.bind(runtime.receive)
        try:
            try:
                await adapter.start()  # connected first: restoring sessions may post what a crash left unsent
            except discord.LoginFailure:
                raise SystemExit(f"facilitator: DISCORD_TOKEN was refused by Discord: {TOKEN_FIX}") from None
            except discord.PrivilegedIntentsRequired:
                raise SystemExit(f"facilitator: Discord refused the connection: {INTENT_FIX}") from None
            await runtime.start()
            log.info("serving sessions on Discord as %s", adapter.client.user)
            await adapter.wait_closed()
        finally:
            await runtime.stop()
            await adapter.close()
    finally:  # on Ctrl-C or SIGTERM too: what was committed is on disk and the store's thread ends
        await store.close()
