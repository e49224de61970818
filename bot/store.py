"""The durable event log (SQLite via aiosqlite, WAL): events are appended before they are applied.

Also kept here: which effects were already carried out (their platform refs, so a replay posts
nothing twice), which platform deliveries were already seen (retries), and who met whom in pairs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
from pydantic import TypeAdapter

from facilitation.events import Event

_EVENT = TypeAdapter(Event)

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, channel TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS refs (
    session_id TEXT NOT NULL, key TEXT NOT NULL, ref TEXT NOT NULL, PRIMARY KEY (session_id, key)
);
CREATE INDEX IF NOT EXISTS refs_by_ref ON refs (ref);
CREATE TABLE IF NOT EXISTS deliveries (event_id TEXT PRIMARY KEY, seen_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (ref TEXT PRIMARY KEY, session_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pairs (channel TEXT NOT NULL, session_id TEXT NOT NULL, members TEXT NOT NULL);
"""

FAILED = "!failed"  # the ref recorded for an effect the platform refused, so it is not retried forever


class Store:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        db = await aiosqlite.connect(str(path))
        await db.execute("PRAGMA journal_mode=WAL")
        # FULL: an appended event survives even an OS crash before it is applied.
        await db.execute("PRAGMA synchronous=FULL")
        await db.executescript(SCHEMA)
        await db.commit()
        return cls(db)

    async def close(self) -> None:
        await self.db.close()

    async def create_session(self, session_id: str, channel: str) -> None:
        await self.db.execute(
            "INSERT INTO sessions VALUES (?, ?, 'open', ?)", (session_id, channel, datetime.now(UTC).isoformat())
        )
        await self.db.commit()

    async def close_session(self, session_id: str) -> None:
        await self.db.execute("UPDATE sessions SET status = 'closed' WHERE id = ?", (session_id,))
        await self.db.commit()

    async def open_sessions(self) -> list[str]:
        async with self.db.execute("SELECT id FROM sessions WHERE status = 'open' ORDER BY created_at") as cur:
            return [row[0] for row in await cur.fetchall()]

    async def append(self, session_id: str, event: Event) -> int:
        async with self.db.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE session_id = ?", (session_id,)
        ) as cur:
            row = await cur.fetchone()
        seq = int(row[0]) if row else 1
        await self.db.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?)", (session_id, seq, event.type, event.model_dump_json())
        )
        await self.db.commit()
        return seq

    async def events(self, session_id: str) -> list[Event]:
        async with self.db.execute(
            "SELECT payload FROM events WHERE session_id = ? ORDER BY seq", (session_id,)
        ) as cur:
            return [_EVENT.validate_json(row[0]) for row in await cur.fetchall()]

    async def first_delivery(self, event_id: str) -> bool:
        """Record a platform delivery id; False if it was seen before (a retry)."""
        cur = await self.db.execute(
            "INSERT OR IGNORE INTO deliveries VALUES (?, ?)", (event_id, datetime.now(UTC).isoformat())
        )
        await self.db.commit()
        return cur.rowcount == 1

    async def record_ref(self, session_id: str, key: str, ref: str) -> None:
        await self.db.execute("INSERT OR REPLACE INTO refs VALUES (?, ?, ?)", (session_id, key, ref))
        await self.db.commit()

    async def refs(self, session_id: str) -> dict[str, str]:
        async with self.db.execute("SELECT key, ref FROM refs WHERE session_id = ?", (session_id,)) as cur:
            return {k: r for k, r in await cur.fetchall()}

    async def keys_for_ref(self, ref: str) -> list[tuple[str, str]]:
        """(session, effect key) of every effect that made this ref, newest first. A ref is usually one
        effect's, but Slack gives the same members the same group DM, so a pair space can recur."""
        async with self.db.execute("SELECT session_id, key FROM refs WHERE ref = ? ORDER BY rowid DESC",
                                   (ref,)) as cur:
            return [(row[0], row[1]) for row in await cur.fetchall()]

    async def remember_message(self, ref: str, session_id: str) -> None:
        await self.db.execute("INSERT OR IGNORE INTO messages VALUES (?, ?)", (ref, session_id))
        await self.db.commit()

    async def session_for_message(self, ref: str) -> str | None:
        async with self.db.execute("SELECT session_id FROM messages WHERE ref = ?", (ref,)) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def record_pair(self, channel: str, session_id: str, members: list[str]) -> None:
        await self.db.execute("INSERT INTO pairs VALUES (?, ?, ?)", (channel, session_id, json.dumps(members)))
        await self.db.commit()

    async def past_pairs(self, channel: str) -> list[list[str]]:
        async with self.db.execute("SELECT members FROM pairs WHERE channel = ?", (channel,)) as cur:
            return [json.loads(row[0]) for row in await cur.fetchall()]
