"""The one place the bot is put together, for every platform and every `facilitator` command that runs sessions.

Settings → the platform's check of the credentials → engine configuration → store → runtime → adapter →
timers, started in that order and closed in the
reverse order on any exit (an error, Ctrl-C, SIGTERM). Adapters know nothing of this module: they get their
tokens, files and start-form choices as plain values from here.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from adapters.base import Adapter, StartRefused
from adapters.formbook import FormBook
from bot.configuration import engine_config, list_structures, load_messages, load_structure
from bot.pgforms import form_storage
from bot.runtime import Runtime
from bot.scheduler import AsyncTimers, Timers
from bot.settings import Settings
from bot.storage import open_store
from facilitation.config import EngineConfig

if TYPE_CHECKING:  # the SDKs take a second to import, and a run needs one platform's only
    from adapters.discord import DiscordAdapter
    from adapters.slack import SlackAdapter, StartDefaults

log = logging.getLogger("facilitator")


@asynccontextmanager
async def assembled(
    adapter: Adapter,
    settings: Settings | None = None,
    *,
    database: Path | str | None = None,
    timers: Timers | None = None,
    clock: Callable[[], datetime] | None = None,
    cfg: EngineConfig | None = None,
    rng: random.Random | None = None,
) -> AsyncIterator[Runtime]:
    """A started runtime on `database` (default: the FACILITATOR_DATABASE setting) serving `adapter`.

    The adapter is connected before the runtime restores open sessions, because restoring may post what a crash
    left unsent; what people send meanwhile waits until the sessions are restored (Runtime.receive)."""
    settings = settings or Settings()
    await adapter.check()  # a refused token is said first, before the model loads or a file is made
    cfg = cfg or engine_config(settings)  # a broken config fails here, before a store thread exists to outlive it
    database = database or settings.database
    if isinstance(database, Path):  # a postgresql:// URL is a string (bot/storage.py)
        database.parent.mkdir(parents=True, exist_ok=True)
    store = await open_store(database)
    try:
        runtime = Runtime(adapter, store, timers or AsyncTimers(), settings, cfg, clock, rng)
        adapter.bind(runtime.receive)
        try:
            await adapter.start()
            await runtime.start()
            try:
                yield runtime
            finally:
                await runtime.stop()
        finally:
            await adapter.close()
    finally:  # on Ctrl-C or SIGTERM too: what was committed is on disk and the store's thread ends
        await store.close()


async def serve(settings: Settings, platform: Literal["slack", "discord"], *, http: bool = False,
                port: int = 3000) -> None:
    """Serve sessions on a chat platform until the connection ends or the task is cancelled."""
    adapter: Adapter = slack_adapter(settings, http, port) if platform == "slack" else discord_adapter(settings)
    try:
        async with assembled(adapter, settings):
            shards = settings.discord_shards if platform == "discord" else None
            log.info("serving sessions on %s%s", platform.capitalize(), f", gateway shards {shards}" if shards else "")
            await adapter.wait_closed()
    except StartRefused as refused:  # one line that says what to fix, rather than a traceback on every retry
        raise SystemExit(f"facilitator: {refused}") from None


def slack_adapter(settings: Settings, http: bool, port: int) -> SlackAdapter:
    """The Slack adapter with its slack-bolt app, listening over HTTP on `port` or through Socket Mode."""
    from adapters.slack import SlackAdapter, build_app, make_client, redact_tokens

    redact_tokens()
    if settings.slack_bot_token is None:
        raise SystemExit("Set SLACK_BOT_TOKEN (the xoxb- bot token from the app's OAuth & Permissions page).")
    if http and settings.slack_signing_secret is None:
        raise SystemExit("HTTP mode needs SLACK_SIGNING_SECRET (Basic Information > App Credentials).")
    if not http and settings.slack_app_token is None:
        raise SystemExit("Socket Mode needs SLACK_APP_TOKEN (an xapp- token with connections:write); "
                         "or use --http.")
    client = make_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    adapter = SlackAdapter(client, forms=FormBook(form_storage(settings.database, "slack")),
                           messages=load_messages(settings))  # its own words, in the bot's language
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    app = build_app(adapter, signing_secret=secret, command=settings.slack_command,
                    defaults=start_defaults(settings), socket_mode=not http)
    app_token = None if http else settings.slack_app_token.get_secret_value()  # type: ignore[union-attr]
    adapter.listen(app, port=port if http else None, app_token=app_token)
    return adapter


def discord_adapter(settings: Settings) -> DiscordAdapter:
    from adapters.discord import DiscordAdapter

    if settings.discord_token is None:
        raise SystemExit("DISCORD_TOKEN is not set: see docs/discord.md")
    return DiscordAdapter(
        settings.discord_token.get_secret_value(),
        api_url=settings.discord_api_url,
        gateway_url=settings.discord_gateway_url,
        command_name=settings.discord_command,
        forms=FormBook(form_storage(settings.database, "discord")),
        structures=list_structures(settings),
        messages=load_messages(settings),  # its own words (commands, start form, refusals) in the bot's language
        shard_ids=list(settings.discord_shards.ids) if settings.discord_shards else None,
        shard_count=settings.discord_shards.count if settings.discord_shards else None,
    )


def start_defaults(settings: Settings) -> StartDefaults:
    """The Slack start modal's choices, from config/ (structures and the default structure's phases)."""
    from adapters.slack import StartDefaults

    structure = load_structure(settings, settings.session.structure)
    own = next((p for p in structure.phases if p.kind == "own"), None)
    return StartDefaults(
        structures=list_structures(settings) or {settings.session.structure: structure.name},
        structure=settings.session.structure,
        phases=[(p.kind, p.title, float(p.minutes)) for p in structure.phases],
        voting=settings.session.voting,
        dots=settings.session.dots,
        own_private=own.private if own else True,
    )

