"""The durable event log (SQLite via aiosqlite, WAL): an event is committed before anyone is told it counted.

Also kept here: the outbox (each event's effects, written in the event's own transaction and removed once
the platform accepted them, so nothing the bot owes anyone is lost), snapshots of open sessions (a restart
loads the newest and replays only the events after it),
which effects were already carried out (their platform refs, so a replay posts nothing twice), which platform
deliveries were already seen (retries), and who met whom in pairs.

Writes go through one group-commit writer (bot/storage.py): whatever waits when a commit starts goes into the
next one, in a single transaction, so fifty people pressing at once cost one disk sync, and one person alone
costs one too. One bot process per file: a second one is refused at start (StoreInUse); several processes share
PostgreSQL instead (bot/pgstore.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import aiosqlite
from pydantic import TypeAdapter, ValidationError

from bot.configuration import ConfigError
from bot.migrations import migrate_sqlite
from bot.outcomes import Outcome, from_text, to_text
from bot.storage import GroupCommit, Op, OutboxRow, StoreError
from facilitation.effects import Effect
from facilitation.events import Event
from facilitation.models import Session

try:
    import fcntl
except ImportError:  # Windows: no advisory file locks; one process per file is then up to whoever runs it
    fcntl = None  # type: ignore[assignment]

__all__ = ["ENGINE_VERSION", "Op", "Store", "StoreError", "StoreInUse"]

log = logging.getLogger("facilitator.store")

_EVENT = TypeAdapter(Event)


# Platforms retry a delivery within minutes (Slack: 3 tries over about 5 minutes); a day covers any restart.
DELIVERY_MEMORY = timedelta(days=1)



def _engine_version() -> str:
    """A fingerprint of the engine's code: a snapshot taken by other code is rebuilt from events, never misread."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent / "facilitation"
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


ENGINE_VERSION = _engine_version()


class StoreInUse(ConfigError):
    """Another process has the SQLite file open: SQLite takes one bot process (PostgreSQL takes several). Reported
    at start like a configuration problem: the message names the file, the process, and what to do."""


def _hold(path: Path) -> IO[str] | None:
    """Take the lock file beside the database (`<file>.lock`, holding the owner's pid) for as long as the
    process lives, or raise StoreInUse naming the file and the process that has it. The kernel lets go when the
    process ends, however it ends, so a crash never leaves a stale lock."""
    if fcntl is None:
        return None
    lock = path.with_name(path.name + ".lock")
    handle = lock.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise StoreInUse(f"{path} is in use by another bot process (pid {holder}); SQLite takes one process at a "
                         "time. Stop that one first, or set FACILITATOR_DATABASE to a postgresql:// URL to run "
                         "several (docs/deploy.md).") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


class Store(GroupCommit):
    """The SQLite store: one process (see StoreInUse), one file, no set-up."""

    shared = False
    _errors = (sqlite3.Error, ValueError)  # ValueError: the connection was closed

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self.db = db
        self.path = path
        self._seen: set[str] = set()  # platform delivery ids seen lately
        self._lock_file: IO[str] | None = None
        super().__init__()

    @classmethod
    async def open(cls, path: Path | str, exclusive: bool = True) -> Store:
        """Open (and create or migrate) the file. `exclusive`: as the bot, which must be the only process on it
        (`facilitator purge` from cron is not: it only removes what no running session holds)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        lock_file = _hold(Path(path)) if exclusive else None
        try:
            db = await aiosqlite.connect(str(path))
        except BaseException:
            if lock_file is not None:
                lock_file.close()
            raise
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed event survives even an OS crash.
            await db.execute("PRAGMA synchronous=FULL")
            # Deleted rows (snapshots, purged sessions) are overwritten, not left readable in free pages.
            await db.execute("PRAGMA secure_delete=ON")
            await db._execute(migrate_sqlite, db._conn, str(path))
            store = cls(db, str(path))
            store._lock_file = lock_file
            since = (datetime.now(UTC) - DELIVERY_MEMORY).isoformat()
            async with db.execute("SELECT event_id FROM deliveries WHERE seen_at >= ?", (since,)) as cur:
                store._seen = {row[0] for row in await cur.fetchall()}
        except BaseException:
            await db.close()
            if lock_file is not None:
                lock_file.close()
            raise
        return store

    async def close(self) -> None:
        try:
            await self.flush()
        finally:  # whatever happened, the connection's thread ends: a live one keeps the process from exiting
            self._writer.cancel()
            await self.db.close()
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None

    async def _commit(self, ops: list[Op]) -> None:
        # One hop to the connection's thread for the whole batch: its statements and one commit.
        await self.db._execute(_commit_all, self.db._conn, ops)

    @contextlib.asynccontextmanager
    async def session_lock(self, session_id: str) -> AsyncIterator[None]:
        """One process: the runtime's own per-session lock is all there is to take."""
        yield

    @staticmethod
    def timer_ops(session_id: str, event: Event, effects: list[Effect]) -> list[Op]:
        """Timers live in the session's state; one process re-arms them from it at start."""
        return []

    # --- sessions and events ------------------------------------------------------------------------------

    async def create_session(self, session_id: str, channel: str) -> None:
        await self.write(self.create_ops(session_id, channel))

    @staticmethod
    def create_ops(session_id: str, channel: str) -> list[Op]:
        return [("INSERT INTO sessions VALUES (?, ?, 'open', ?)", (session_id, channel, datetime.now(UTC).isoformat()))]

    @staticmethod
    def close_ops(session_id: str) -> list[Op]:
        return [("UPDATE sessions SET status = 'closed' WHERE id = ?", (session_id,)),
                ("DELETE FROM snapshots WHERE session_id = ?", (session_id,))]

    async def open_sessions(self) -> list[str]:
        async with self.db.execute("SELECT id FROM sessions WHERE status = 'open' ORDER BY created_at") as cur:
            return [row[0] for row in await cur.fetchall()]

    async def next_seq(self, session_id: str) -> int:
        if session_id not in self._seq:
            async with self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?",
                                       (session_id,)) as cur:
                row = await cur.fetchone()
            self._seq.setdefault(session_id, int(row[0]) if row else 0)
        self._seq[session_id] += 1
        return self._seq[session_id]

    @staticmethod
    def event_op(session_id: str, seq: int, event: Event) -> Op:
        return "INSERT INTO events VALUES (?, ?, ?, ?)", (session_id, seq, event.type, event.model_dump_json())

    async def events(self, session_id: str, after: int = 0) -> list[tuple[int, Event]]:
        """(seq, event) of the session's events after `after`, in order."""
        async with self.db.execute("SELECT seq, payload FROM events WHERE session_id = ? AND seq > ? ORDER BY seq",
                                   (session_id, after)) as cur:
            return [(row[0], _EVENT.validate_json(row[1])) for row in await cur.fetchall()]

    # --- snapshots ----------------------------------------------------------------------------------------

    @staticmethod
    def snapshot_op(session_id: str, seq: int, payload: str) -> Op:
        return "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)", (session_id, seq, ENGINE_VERSION, payload)

    async def snapshot(self, session_id: str) -> tuple[int, Session] | None:
        """The newest snapshot and the seq of the last event in it, if one was taken by this engine's code."""
        async with self.db.execute("SELECT seq, version, payload FROM snapshots WHERE session_id = ?",
                                   (session_id,)) as cur:
            return read_snapshot(session_id, await cur.fetchone())

    async def set_aside(self, session_id: str, seq: int, error: str) -> None:
        """An event the engine cannot apply: kept, but skipped on every later replay."""
        await self.write([("INSERT OR REPLACE INTO set_aside VALUES (?, ?, ?)", (session_id, seq, error[:2000]))])

    async def set_aside_seqs(self, session_id: str) -> set[int]:
        async with self.db.execute("SELECT seq FROM set_aside WHERE session_id = ?", (session_id,)) as cur:
            return {row[0] for row in await cur.fetchall()}

    # --- deliveries, refs, messages, pairs -----------------------------------------------------------------

    def first_delivery(self, event_id: str) -> bool:
        """False if this platform delivery id was seen before (a retry). The id is written with the next
        commit, so a retry after a restart is still recognised."""
        if event_id in self._seen:
            return False
        self._seen.add(event_id)
        self.write([self.delivery_op(event_id)], lazy=True)
        return True

    async def claim_delivery(self, event_id: str) -> bool:
        """`first_delivery` for the store interface (PostgreSQL asks the database, for every process)."""
        return self.first_delivery(event_id)

    @staticmethod
    def delivery_op(event_id: str) -> Op:
        return "INSERT OR IGNORE INTO deliveries VALUES (?, ?)", (event_id, datetime.now(UTC).isoformat())

    async def refs(self, session_id: str) -> dict[str, Outcome]:
        """What became of each effect of the session carried out so far, by effect key."""
        async with self.db.execute("SELECT key, ref FROM refs WHERE session_id = ?", (session_id,)) as cur:
            return {k: from_text(r) for k, r in await cur.fetchall()}

    # --- the outbox -----------------------------------------------------------------------------------------

    @staticmethod
    def outbox_op(session_id: str, key: str, effect_json: str, after: str | None) -> Op:
        return ("INSERT OR REPLACE INTO outbox (session_id, key, effect, after) VALUES (?, ?, ?, ?)",
                (session_id, key, effect_json, after))

    @staticmethod
    def trying_op(session_id: str, key: str, first_try: float) -> Op:
        """Before the first attempt: after a crash, this entry may have reached the platform."""
        return "UPDATE outbox SET state = 'sending', first_try = ? WHERE session_id = ? AND key = ?", (
            first_try, session_id, key)

    @staticmethod
    def failed_op(session_id: str, key: str, error: str) -> Op:
        return "UPDATE outbox SET state = 'failed', error = ? WHERE session_id = ? AND key = ?", (
            error[:2000], session_id, key)

    @staticmethod
    def delivered_ops(session_id: str, key: str, outcome: Outcome) -> list[Op]:
        return [("DELETE FROM outbox WHERE session_id = ? AND key = ?", (session_id, key)),
                ("INSERT OR REPLACE INTO refs VALUES (?, ?, ?)", (session_id, key, to_text(outcome)))]

    async def outbox(self, session_id: str) -> list[OutboxRow]:
        """(key, effect JSON, after, state, first_try) of the session's undelivered effects, in the order
        they were committed."""
        async with self.db.execute("SELECT key, effect, after, state, first_try FROM outbox WHERE session_id = ? "
                                   "ORDER BY rowid", (session_id,)) as cur:
            return [(r[0], r[1], r[2], r[3], r[4]) for r in await cur.fetchall()]

    @staticmethod
    def message_op(ref: str, session_id: str) -> Op:
        return "INSERT OR IGNORE INTO messages VALUES (?, ?)", (ref, session_id)

    async def session_for_message(self, ref: str) -> str | None:
        async with self.db.execute("SELECT session_id FROM messages WHERE ref = ?", (ref,)) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def highest_message_number(self, prefix: str) -> int:
        """The highest n among stored message and post refs `<prefix><n>`: the console numbers its messages on
        from it after a restart, so a new u3 (or b3) is never taken for the last run's."""
        pattern = f"{prefix}[0-9]*"
        async with self.db.execute("SELECT ref FROM messages WHERE ref GLOB ? "
                                   "UNION SELECT ref FROM refs WHERE ref GLOB ?", (pattern, pattern)) as cur:
            numbers = [row[0][len(prefix):] for row in await cur.fetchall()]
        return max((int(n) for n in numbers if n.isascii() and n.isdigit() and len(n) < 12), default=0)

    async def purge_closed(self, approved_before: datetime) -> tuple[int, int]:
        """Remove the content of sessions whose note was approved before `approved_before`: their events (every
        text, withdrawn and edited-away ones too), snapshots, set-aside errors, post refs and message map. What
        stays is a row of counts in `purged` (and the sessions row, and who met whom in `pairs`, ids only).
        Returns (sessions, events) removed."""
        async with self.db.execute("SELECT id FROM sessions WHERE status = 'closed'") as cur:
            closed = [row[0] for row in await cur.fetchall()]
        sessions = events = 0
        now = datetime.now(UTC).isoformat()
        for session_id in closed:
            # The note's approval is the session's last event: its time is when the retention period starts.
            async with self.db.execute("SELECT json_extract(payload, '$.at') FROM events WHERE session_id = ? "
                                       "ORDER BY seq DESC LIMIT 1", (session_id,)) as cur:
                row = await cur.fetchone()
            if row is None or datetime.fromisoformat(row[0]) >= approved_before:
                continue
            async with self.db.execute("SELECT type, COUNT(*) FROM events WHERE session_id = ? GROUP BY type",
                                       (session_id,)) as cur:
                by_type = {kind: n for kind, n in await cur.fetchall()}
            async with self.db.execute("SELECT COUNT(DISTINCT json_extract(payload, '$.person')) FROM events "
                                       "WHERE session_id = ?", (session_id,)) as cur:
                people = (await cur.fetchone() or (0,))[0]
            counts = {"events": sum(by_type.values()), "people": people, "by_type": by_type}
            ops: list[Op] = [("INSERT OR REPLACE INTO purged VALUES (?, ?, ?, ?)",
                              (session_id, row[0], now, json.dumps(counts)))]
            ops += [(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))  # fixed names, no user input
                    for table in ("events", "snapshots", "set_aside", "refs", "outbox", "messages")]
            ops.append(("UPDATE sessions SET status = 'purged' WHERE id = ?", (session_id,)))
            await self.write(ops)
            sessions += 1
            events += counts["events"]
        since = (datetime.now(UTC) - DELIVERY_MEMORY).isoformat()
        await self.write([("DELETE FROM deliveries WHERE seen_at < ?", (since,))])  # ids of old platform retries
        await self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # nor left in the write-ahead log
        return sessions, events

    @staticmethod
    def pair_op(channel: str, session_id: str, members: list[str]) -> Op:
        return "INSERT INTO pairs VALUES (?, ?, ?)", (channel, session_id, json.dumps(members))

    async def past_pairs(self, channel: str) -> list[list[str]]:
        async with self.db.execute("SELECT members FROM pairs WHERE channel = ?", (channel,)) as cur:
            return [json.loads(row[0]) for row in await cur.fetchall()]


def read_snapshot(session_id: str, row: Sequence[Any] | None) -> tuple[int, Session] | None:
    """A stored (seq, version, payload) as (seq, session), if this engine's code took it and it parses."""
    if row is None:
        return None
    if row[1] != ENGINE_VERSION:
        log.info("session %s: snapshot from other engine code; rebuilding it from the events", session_id)
        return None
    try:
        return int(row[0]), Session.model_validate_json(row[2])
    except ValidationError:
        log.warning("session %s: unreadable snapshot; rebuilding it from the events", session_id)
        return None


def numbered(op: Op) -> Op:
    """The same statement with PostgreSQL's numbered placeholders ($1, $2, ...) for SQLite's `?`."""
    sql, params = op
    parts = sql.split("?")
    return "".join(part + (f"${n}" if n < len(parts) else "") for n, part in enumerate(parts, start=1)), params


def _commit_all(conn: sqlite3.Connection, ops: list[Op]) -> None:
    """Runs on the connection's thread: every statement, then one commit; nothing of it if any fails."""
    try:
        for sql, params in ops:
            conn.execute(sql, params)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
