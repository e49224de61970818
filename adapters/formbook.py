"""Which form a button opens, remembered across restarts when a platform cannot carry it in the button.

Discord's custom ids (100 characters) never have room for a form; Slack's button values (2,000) mostly
do, but not for a long ballot or pick list. Either way the form is kept per message and button, in
memory and in a small SQLite file next to the bot's database.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

from facilitation.effects import Form

# Each platform's forms file and table (the Slack adapter's is the default table).
FORM_TABLES = {"slack": "forms", "discord": "discord_forms"}
# Forms held in memory when a file backs the book (the rest are read back from it on demand).
CACHE_SIZE = 500


def forms_path(database: Path, platform: str) -> Path:
    return database.with_name(f"{database.stem}.{platform}-forms.sqlite3")


class FormBook:
    """Which form each button opens, by (message id, custom id); in memory, and in SQLite when given a path.

    Forms can hold private ideas (a pair's pick list, the ideas someone scores): each row records when it was
    saved, so `purge_forms` removes it once the retention period has passed, and memory keeps only the
    CACHE_SIZE most recently used when a file backs the book."""

    def __init__(self, path: Path | None = None, table: str = "forms") -> None:
        self._path = path
        self._table = table  # a fixed identifier chosen by the adapter, never user input
        self._db: aiosqlite.Connection | None = None
        self._cache: OrderedDict[tuple[str, str], Form] = OrderedDict()

    async def open(self) -> None:
        if self._path is None or self._db is not None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await _connect(self._path, self._table)

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    def _remember(self, key: tuple[str, str], form: Form) -> None:
        self._cache[key] = form
        self._cache.move_to_end(key)
        while self._db is not None and len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)  # still in the file

    async def put(self, message_id: str, custom_id: str, form: Form) -> None:
        self._remember((message_id, custom_id), form)
        if self._db is not None:
            row = (message_id, custom_id, form.model_dump_json(), datetime.now(UTC).isoformat())
            await self._db.execute(
                f"INSERT OR REPLACE INTO {self._table} (message, custom_id, form, saved_at) VALUES (?, ?, ?, ?)", row)
            await self._db.commit()

    async def get(self, message_id: str, custom_id: str) -> Form | None:
        key = (message_id, custom_id)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if self._db is None:
            return None
        async with self._db.execute(
            f"SELECT form FROM {self._table} WHERE message = ? AND custom_id = ?", key
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        form = Form.model_validate_json(row[0])
        self._remember(key, form)
        return form


async def _connect(path: Path, table: str) -> aiosqlite.Connection:
    db = await aiosqlite.connect(str(path))
    await db.execute("PRAGMA secure_delete=ON")  # a purged form is overwritten, not left in a free page
    await db.execute(f"CREATE TABLE IF NOT EXISTS {table} (message TEXT, custom_id TEXT, form TEXT,"
                     " saved_at TEXT, PRIMARY KEY (message, custom_id))")
    async with db.execute(f"PRAGMA table_info({table})") as cur:
        columns = {row[1] for row in await cur.fetchall()}
    if "saved_at" not in columns:  # a file from before retention: its forms count from now
        await db.execute(f"ALTER TABLE {table} ADD COLUMN saved_at TEXT")
        await db.execute(f"UPDATE {table} SET saved_at = ?", (datetime.now(UTC).isoformat(),))
    await db.commit()
    return db


async def purge_forms(path: Path, table: str, saved_before: datetime) -> int:
    """Delete the forms saved before `saved_before` from a forms file; returns how many."""
    db = await _connect(path, table)
    try:
        cur = await db.execute(f"DELETE FROM {table} WHERE saved_at < ?", (saved_before.isoformat(),))
        await db.commit()
        return cur.rowcount
    finally:
        await db.close()
