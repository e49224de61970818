"""Backups, as docs/deploy.md says to take them, restore into a working bot on both stores: the session comes
back with every idea, posts nothing again, and takes new replies. SQLite: the online backup API, while the bot
runs. PostgreSQL: pg_dump while the bot runs, pg_restore into an empty database."""

from __future__ import annotations

import io
import shutil
import sqlite3
import subprocess
from pathlib import Path

from adapters.base import UserMessage
from adapters.console import ConsoleAdapter
from bot.assembly import assembled
from bot.storage import is_postgres
from tests.pg import PgServer
from tests.runtime.two_ideas import start_with_two_ideas


def _backup(database: Path | str, folder: Path, postgres: PgServer | None) -> Path | str:
    """Take a backup of the running bot's database and restore it elsewhere; what the restored bot opens."""
    if not is_postgres(database):
        copy = folder / "backup.sqlite3"
        with sqlite3.connect(database) as live, sqlite3.connect(copy) as backup:
            live.backup(backup)
        restored = folder / "restored" / "facilitator.sqlite3"
        restored.parent.mkdir()
        shutil.copy(copy, restored)
        return restored
    assert postgres is not None
    dump = folder / "backup.dump"
    subprocess.run([str(postgres.bins / "pg_dump"), "-Fc", "-f", str(dump), str(database)], check=True)
    target = postgres.database()
    subprocess.run([str(postgres.bins / "pg_restore"), "--no-owner", "-d", target, str(dump)], check=True)
    return target


async def test_a_backup_restores_into_a_working_bot(database: Path | str, tmp_path: Path, request) -> None:
    postgres = request.getfixturevalue("postgres") if is_postgres(database) else None
    first = ConsoleAdapter(out=io.StringIO())
    async with assembled(first, database=database) as runtime:
        root = await start_with_two_ideas(first)
        await runtime.store.flush()
        restored = _backup(database, tmp_path, postgres)
    second = ConsoleAdapter(out=io.StringIO())
    async with assembled(second, database=restored) as runtime:
        session = next(iter(runtime.sessions.values()))
        assert [i.text for i in session.ideas] == ["Listen more", "Pay people"]
        assert second.messages == [], "the restored bot re-posted what was already posted"
        await second.send(UserMessage(channel=second.channel, person=second.person("P2"), text="Ask first",
                                      message_ref="m2", reply_to_ref=root))
        assert [i.text for i in runtime.sessions[session.id].ideas] == ["Listen more", "Pay people", "Ask first"]
