"""`facilitator doctor`: what a first run on a real workspace needs, one line per check, with the fix.

Local checks first (wording, structures, the database, the model), then each platform whose token is set.
Nothing is changed: the database is only opened to see that it could be written.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from adapters.base import Check
from bot.configuration import ConfigError, list_structures, load_messages, load_structure
from bot.settings import Settings
from bot.slack_manifest import manifest_path, manifest_scopes

MARKS = {"ok": "ok  ", "fail": "FAIL", "note": "note", "skip": "--  "}


def line(check: Check) -> str:
    return f"{MARKS[check.status]} {check.name}: {check.detail}"


async def run_checks(settings: Settings, discord_channel: str | None = None) -> list[Check]:
    where = settings.database
    database = await _postgres(where) if isinstance(where, str) else _database(where)
    out = [_wording(settings), *_structures(settings), database, _model(settings)]
    if settings.slack_bot_token is None:
        out.append(Check(name="Slack", status="skip", detail="SLACK_BOT_TOKEN not set (to run on Slack: "
                         "`facilitator slack-manifest`, then docs/slack.md)"))
    else:
        from adapters.slack import make_client
        from adapters.slack.checks import slack_checks

        client = make_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
        wanted = manifest_scopes(manifest_path(settings.config_dir).read_text(encoding="utf-8"))
        app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
        out += await slack_checks(client, app_token, settings.slack_signing_secret is not None, wanted)
    if settings.discord_token is None:
        out.append(Check(name="Discord", status="skip", detail="DISCORD_TOKEN not set (to run on Discord: "
                         "docs/discord.md)"))
    else:
        from adapters.discord.checks import discord_checks

        out += await discord_checks(settings.discord_token.get_secret_value(), settings.discord_api_url,
                                    discord_channel, settings.discord_shards)
    return out


def _wording(settings: Settings) -> Check:
    try:
        messages = load_messages(settings)
    except ConfigError as exc:
        return Check(name="Wording", status="fail", detail=f"{exc}: set FACILITATOR_LANGUAGE to one that exists")
    return Check(name="Wording", status="ok", detail=f"language {settings.language}, {len(messages)} sentences")


def _structures(settings: Settings) -> list[Check]:
    out = []
    names = list_structures(settings)
    for name in names:
        try:
            load_structure(settings, name)
        except ConfigError as exc:
            out.append(Check(name=f"Structure {name}", status="fail", detail=f"{exc}: fix the file or remove it"))
    default = settings.session.structure
    if default not in names:
        out.append(Check(name="Default structure", status="fail", detail=(
            f"{default!r} is not one of {', '.join(names) or 'none'}: set FACILITATOR_SESSION__STRUCTURE or "
            "[session] structure in config/default.toml")))
    if not out:
        out.append(Check(name="Structures", status="ok", detail=f"{', '.join(names)} (default {default})"))
    return out


async def _postgres(url: str) -> Check:
    """PostgreSQL: connect, migrate if needed, and say where (the password never printed)."""
    from bot.pgstore import PgStore

    try:
        store = await PgStore.open(url)
    except Exception as exc:  # noqa: BLE001 - whatever stops it, the line says so
        return Check(name="Database", status="fail", detail=f"cannot use PostgreSQL ({type(exc).__name__}: {exc}): "
                     "check FACILITATOR_DATABASE, the server and the user's rights (docs/deploy.md)")
    where = store.path
    await store.close()
    return Check(name="Database", status="ok", detail=f"{where} is reachable and its schema is current")


def _database(path: Path) -> Check:
    where = path.resolve()
    name = "Database"
    if where.exists():
        try:
            with sqlite3.connect(where, timeout=5) as con:
                con.execute("BEGIN IMMEDIATE")  # takes the write lock, then lets go: nothing is written
                con.rollback()
        except sqlite3.Error as exc:
            return Check(name=name, status="fail", detail=f"{where} cannot be written ({exc}): check its owner and "
                         "permissions, or set FACILITATOR_DATABASE to another file")
        return Check(name=name, status="ok", detail=f"{where} is writable")
    folder = where.parent
    while not folder.exists():
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        return Check(name=name, status="fail", detail=f"{where} cannot be made ({folder} is not writable): set "
                     "FACILITATOR_DATABASE to a file in a folder you can write to")
    return Check(name=name, status="ok", detail=f"{where} will be made at the first start")


class _Reasons(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.said: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.said.append(record.getMessage())


def _model(settings: Settings) -> Check:
    name = "Themes model"
    if settings.grouping == "lexical":
        return Check(name=name, status="note", detail="not loaded: FACILITATOR_GROUPING=lexical groups themes by "
                     "word overlap alone")
    from bot.embeddings import load_embedder

    reasons = _Reasons()
    log = logging.getLogger("facilitator.embeddings")
    log.addHandler(reasons)
    try:
        embed = load_embedder()
    finally:
        log.removeHandler(reasons)
    if embed is not None:
        return Check(name=name, status="ok", detail="all-MiniLM-L6-v2 (int8) loads: themes group by meaning")
    why = reasons.said[0] if reasons.said else "it could not be loaded"
    if settings.grouping == "embeddings":
        return Check(name=name, status="fail", detail=f"{why}; FACILITATOR_GROUPING=embeddings refuses to start "
                     "without it: reinstall with pip install -e . on a platform ONNX Runtime supports, or use auto")
    return Check(name=name, status="note", detail=f"{why}; themes group by word overlap (docs/arrange.md)")
