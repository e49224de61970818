"""The Slack adapter: `run_slack(settings, http, port)` is what `facilitator run slack` calls."""

from __future__ import annotations

import asyncio
import logging
import re

from adapters.formbook import FormBook, forms_path
from adapters.slack.adapter import SlackAdapter, make_client
from adapters.slack.app import StartDefaults, build_app
from adapters.slack.checks import token_problem
from adapters.slack.throttle import ChannelThrottle
from bot.settings import Settings

__all__ = ["ChannelThrottle", "SlackAdapter", "StartDefaults", "build_app", "make_client", "run_slack",
           "start_defaults", "redact_tokens"]

log = logging.getLogger("facilitator.slack")

_TOKEN = re.compile(r"\b(xox[a-z]-|xapp-)[A-Za-z0-9-]+")


_installed = False


def redact_tokens() -> None:
    """Slack tokens never reach a log line, whatever any library logs: every record is scrubbed as it is made."""
    global _installed
    if _installed:
        return
    make = logging.getLogRecordFactory()

    def scrubbed(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's problem to report, not ours
            return record
        if _TOKEN.search(message):
            record.msg, record.args = _TOKEN.sub(r"\1[redacted]", message), None
        return record

    logging.setLogRecordFactory(scrubbed)
    _installed = True


def start_defaults(settings: Settings) -> StartDefaults:
    """The start modal's choices, from config/ (structures and the default structure's phases)."""
    from bot.configuration import list_structures, load_structure

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


async def run_slack(settings: Settings, http: bool, port: int) -> None:
    """Run the bot on Slack until cancelled: Socket Mode (SLACK_APP_TOKEN) or HTTP mode on `port`."""
    from aiohttp import web
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from bot.runtime import running

    redact_tokens()
    if settings.slack_bot_token is None:
        raise SystemExit("Set SLACK_BOT_TOKEN (the xoxb- bot token from the app's OAuth & Permissions page).")
    if http and settings.slack_signing_secret is None:
        raise SystemExit("HTTP mode needs SLACK_SIGNING_SECRET (Basic Information > App Credentials).")
    if not http and settings.slack_app_token is None:
        raise SystemExit("Socket Mode needs SLACK_APP_TOKEN (an xapp- token with connections:write); "
                         "or use --http.")
    client = make_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    app_token = None if http else settings.slack_app_token.get_secret_value()  # type: ignore[union-attr]
    problem = await token_problem(client, app_token)
    if problem:  # one line that says what to fix, rather than a traceback on every retry
        raise SystemExit(f"facilitator: {problem}")
    forms = FormBook(forms_path(settings.database, "slack"))
    try:
        await forms.open()
        adapter = SlackAdapter(client, forms=forms)
        secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
        app = build_app(adapter, signing_secret=secret, command=settings.slack_command,
                        defaults=start_defaults(settings), socket_mode=not http)
        async with running(adapter, settings.database.parent, settings, db_name=settings.database.name):
            if http:
                runner = web.AppRunner(app.web_app(path="/slack/events"))
                await runner.setup()
                await web.TCPSite(runner, port=port).start()
                log.info("Slack HTTP mode: listening on port %d at /slack/events", port)
                try:
                    await asyncio.Event().wait()
                finally:
                    await runner.cleanup()
            else:
                assert app_token is not None
                handler = AsyncSocketModeHandler(app, app_token)
                log.info("Slack Socket Mode: connecting")
                try:
                    await handler.connect_async()
                    log.info("Slack Socket Mode: connected")
                    await asyncio.Event().wait()
                finally:
                    await handler.close_async()
    finally:
        await forms.close()
