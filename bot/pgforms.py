"""Saved forms (which form a button opens) in the bot's PostgreSQL database, and the choice of where forms live
for a given database setting.

With several processes a button's press may reach another process than the one that posted its message (Slack
HTTP behind a load balancer, Discord's shards, an outbox entry taken over): the form must be where every process
looks. With SQLite (one process) the forms stay in their small files beside the database (adapters/formbook.py).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.formbook import FORM_TABLES, FormStorage, SqliteForms, forms_path
from bot.storage import is_postgres

if TYPE_CHECKING:  # asyncpg is imported when a PostgreSQL database is used, not by every command
    import asyncpg


class PgForms:
    """One platform's forms in the `forms` table, shared by every process on the database."""

    def __init__(self, url: str, platform: str) -> None:
        self.url = url
        self.platform = platform
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        if self._pool is not None:
            return
        import asyncpg

        from bot.migrations import migrate_postgres
        from bot.pgstore import _without_password

        pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4)
        try:
            async with pool.acquire() as conn:  # the bot's store has migrated already; `facilitator purge` may not
                await migrate_postgres(conn, _without_password(self.url))
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def _open(self) -> asyncpg.Pool:
        assert self._pool is not None, "open() first"
        return self._pool

    async def put(self, message_id: str, custom_id: str, form_json: str, saved_at: datetime) -> None:
        await self._open().execute(
            "INSERT INTO forms VALUES ($1, $2, $3, $4, $5) ON CONFLICT (platform, message, custom_id) "
            "DO UPDATE SET form = EXCLUDED.form, saved_at = EXCLUDED.saved_at",
            self.platform, message_id, custom_id, form_json, saved_at)

    async def get(self, message_id: str, custom_id: str) -> str | None:
        found = await self._open().fetchval(
            "SELECT form FROM forms WHERE platform = $1 AND message = $2 AND custom_id = $3",
            self.platform, message_id, custom_id)
        return None if found is None else str(found)

    async def purge(self, saved_before: datetime) -> int:
        status = await self._open().execute("DELETE FROM forms WHERE platform = $1 AND saved_at < $2",
                                            self.platform, saved_before)
        return int(status.rsplit(" ", 1)[-1])  # "DELETE <count>"


def form_storage(database: Path | str, platform: str) -> FormStorage:
    """Where `platform`'s forms live for this FACILITATOR_DATABASE: the PostgreSQL database itself, or a file
    beside the SQLite one (`<database>.<platform>-forms.sqlite3`)."""
    if is_postgres(database):
        return PgForms(str(database), platform)
    return SqliteForms(forms_path(Path(database), platform), FORM_TABLES[platform])
