"""Which form a button opens, remembered across restarts when a platform cannot carry it in the button.

Discord's custom ids (100 characters) never have room for a form; Slack's button values (2,000) mostly
do, but not for a long ballot or pick list. Either way the form is kept per message and button, in
memory and in a `FormStorage`: a small SQLite file next to the bot's SQLite database (one process), or the
bot's PostgreSQL database (bot/pgforms.py), where any process can find the form another one saved.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import aiosqlite

from facilitation.effects import Form

# Each platform's forms file and table (the Slack adapter's is the default table).
FORM_TABLES = {"slack": "forms", "discord": "discord_forms"}
# Forms held in memory when storage backs the book (the rest are read back from it on demand).
CACHE_SIZE = 500


def forms_path(database: Path, platform: str) -> Path:
    return database.with_name(f"{database.stem}.{platform}-forms.sqlite3")


class FormStorage(Protocol):
    """Where a FormBook keeps its forms: (message id, custom id) -> the form's JSON, with when it was saved (so
    retention can remove it)."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def put(self, message_id: str, custom_id: str, form_json: str, saved_at: datetime) -> None: ...
    async def get(self, message_id: str, custom_id: str) -> str | None: ...
    async def purge(self, saved_before: datetime) -> int: ...


class SqliteForms:
    """One platform's forms in a small SQLite file of their own (beside an SQLite database: one process)."""

    def __init__(self, path: Path, table: str = "forms") -> None:
        self.path = path
        self._table = table  # a fixed identifier chosen by the adapter, never user input
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = await _connect(self.path, self._table)

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    def _open(self) -> aiosqlite.Connection:
        assert self._db is not None, "open() first"
        return self._db

    async def put(self, message_id: str, custom_id: str, form_json: str, saved_at: datetime) -> None:
        db = self._open()
        await db.execute(f"INSERT OR REPLACE INTO {self._table} (message, custom_id, form, saved_at) "
                         "VALUES (?, ?, ?, ?)", (message_id, custom_id, form_json, saved_at.isoformat()))
        await db.commit()

    async def get(self, message_id: str, custom_id: str) -> str | None:
        async with self._open().execute(
            f"SELECT form FROM {self._table} WHERE message = ? AND custom_id = ?", (message_id, custom_id)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def purge(self, saved_before: datetime) -> int:
        db = self._open()
        cur = await db.execute(f"DELETE FROM {self._table} WHERE saved_at < ?", (saved_before.isoformat(),))
        await db.commit()
        return cur.rowcount


class FormBook:
    """Which form each button opens, by (message id, custom id); in memory, and in `storage` when given one (a
    path is an SQLite file of `table`).

    Forms can hold private ideas (a pair's pick list, the ideas someone scores): each row records when it was
    saved, so retention removes it once its period has passed, and memory keeps only the CACHE_SIZE most
    recently used when storage backs the book. A form is never changed once its message is posted, so a cached
    one is never stale, whichever process saved it."""

    def __init__(self, storage: FormStorage | Path | None = None, table: str = "forms") -> None:
        self._storage = SqliteForms(storage, table) if isinstance(storage, Path) else storage
        self._backed: FormStorage | None = None  # the storage, once opened
        self._cache: OrderedDict[tuple[str, str], Form] = OrderedDict()

    async def open(self) -> None:
        if self._storage is not None and self._backed is None:
            await self._storage.open()
            self._backed = self._storage

    async def close(self) -> None:
        backed, self._backed = self._backed, None
        if backed is not None:
            await backed.close()

    def _remember(self, key: tuple[str, str], form: Form) -> None:
        self._cache[key] = form
        self._cache.move_to_end(key)
        while self._backed is not None and len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)  # still in storage

    async def put(self, message_id: str, custom_id: str, form: Form) -> None:
        self._remember((message_id, custom_id), form)
        if self._backed is not None:
            await self._backed.put(message_id, custom_id, form.model_dump_json(), datetime.now(UTC))

    async def get(self, message_id: str, custom_id: str) -> Form | None:
        key = (message_id, custom_id)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if self._backed is None:
            return None
        found = await self._backed.get(message_id, custom_id)
        if found is None:
            return None
        form = Form.model_validate_json(found)
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
    storage = SqliteForms(path, table)
    await storage.open()
    try:
        return await storage.purge(saved_before)
    finally:
        await storage.close()
