"""Which form a button opens, remembered across restarts when a platform cannot carry it in the button.

Discord's custom ids (100 characters) never have room for a form; Slack's button values (2,000) mostly
do, but not for a long ballot or pick list. Either way the form is kept per message and button, in
memory and in a small SQLite file next to the bot's database.
"""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from facilitation.effects import Form


def forms_path(database: Path, platform: str) -> Path:
    return database.with_name(f"{database.stem}.{platform}-forms.sqlite3")


class FormBook:
    """Which form each button opens, by (message id, custom id); in memory, and in SQLite when given a path."""

    def __init__(self, path: Path | None = None, table: str = "forms") -> None:
        self._path = path
        self._table = table  # a fixed identifier chosen by the adapter, never user input
        self._db: aiosqlite.Connection | None = None
        self._cache: dict[tuple[str, str], Form] = {}

    async def open(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(str(self._path))
        await self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {self._table} (message TEXT, custom_id TEXT, form TEXT,"
            " PRIMARY KEY (message, custom_id))"
        )
        await self._db.commit()

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def put(self, message_id: str, custom_id: str, form: Form) -> None:
        self._cache[(message_id, custom_id)] = form
        if self._db is not None:
            row = (message_id, custom_id, form.model_dump_json())
            await self._db.execute(f"INSERT OR REPLACE INTO {self._table} VALUES (?, ?, ?)", row)
            await self._db.commit()

    async def get(self, message_id: str, custom_id: str) -> Form | None:
        key = (message_id, custom_id)
        if key in self._cache:
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
        self._cache[key] = form
        return form
