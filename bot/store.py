"""The durable event log (SQLite via aiosqlite, WAL): an event is committed before anyone is told it counted.

Also kept here: the outbox (each event's effects, written in the event's own transaction and removed once
the platform accepted them, so nothing the bot owes anyone is lost), snapshots of open sessions (a restart
loads the newest and replays only the events after it),
which effects were already carried out (their platform refs, so a replay posts nothing twice), which platform
deliveries were already seen (retries), and who met whom in pairs.

Writes go through one group-commit writer: whatever waits when a commit starts goes into the next one, in a
single transaction, so fifty people pressing at once cost one disk sync, and one person alone costs one too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
from pydantic import TypeAdapter, ValidationError

from bot.outcomes import Outcome, from_text, to_text
from facilitation.events import Event
from facilitation.models import Session

log = logging.getLogger("facilitator.store")

_EVENT = TypeAdapter(Event)

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, channel TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS snapshots (
    session_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, version TEXT NOT NULL, payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS set_aside (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, error TEXT NOT NULL, PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS refs (
    session_id TEXT NOT NULL, key TEXT NOT NULL, ref TEXT NOT NULL, PRIMARY KEY (session_id, key)
);
CREATE INDEX IF NOT EXISTS refs_by_ref ON refs (ref);
CREATE TABLE IF NOT EXISTS outbox (
    session_id TEXT NOT NULL, key TEXT NOT NULL, effect TEXT NOT NULL, after TEXT,
    state TEXT NOT NULL DEFAULT 'queued', first_try REAL, error TEXT,
    PRIMARY KEY (session_id, key)
);
CREATE TABLE IF NOT EXISTS deliveries (event_id TEXT PRIMARY KEY, seen_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (ref TEXT PRIMARY KEY, session_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pairs (channel TEXT NOT NULL, session_id TEXT NOT NULL, members TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS purged (
    session_id TEXT PRIMARY KEY, approved_at TEXT NOT NULL, purged_at TEXT NOT NULL, counts TEXT NOT NULL
);
"""


# Bookkeeping written "lazily" (refs of posts made, delivery ids) waits at most this long for an event's
# commit to ride on, so one reply costs one disk sync, not two.
LAZY_SECONDS = 0.05

# Platforms retry a delivery within minutes (Slack: 3 tries over about 5 minutes); a day covers any restart.
DELIVERY_MEMORY = timedelta(days=1)

Op = tuple[str, Sequence[Any]]


def _engine_version() -> str:
    """A fingerprint of the engine's code: a snapshot taken by other code is rebuilt from events, never misread."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent / "facilitation"
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


ENGINE_VERSION = _engine_version()


class StoreError(RuntimeError):
    """A write did not reach the disk (locked database, full disk, ...): nothing it carried counts."""


class Store:
    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self.db = db
        self.path = path
        self._seq: dict[str, int] = {}  # session -> last sequence number written (or queued)
        self._seen: set[str] = set()  # platform delivery ids seen lately
        self._queue: list[tuple[list[Op], asyncio.Future[None]]] = []
        self._lazy: list[tuple[list[Op], asyncio.Future[None]]] = []
        self._lazy_timer: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()
        self._writer = asyncio.create_task(self._write_forever())

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(str(path))
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed event survives even an OS crash.
            await db.execute("PRAGMA synchronous=FULL")
            # Deleted rows (snapshots, purged sessions) are overwritten, not left readable in free pages.
            await db.execute("PRAGMA secure_delete=ON")
            await db.executescript(SCHEMA)
            await db.commit()
            store = cls(db, str(path))
            since = (datetime.now(UTC) - DELIVERY_MEMORY).isoformat()
            async with db.execute("SELECT event_id FROM deliveries WHERE seen_at >= ?", (since,)) as cur:
                store._seen = {row[0] for row in await cur.fetchall()}
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        try:
            await self.flush()
        finally:  # whatever happened, the connection's thread ends: a live one keeps the process from exiting
            self._writer.cancel()
            await self.db.close()

    # --- the group-commit writer --------------------------------------------------------------------------

    def write(self, ops: list[Op], lazy: bool = False) -> asyncio.Future[None]:
        """Queue statements for the next commit; the future is done once they are on disk (StoreError if not).
        `lazy`: no commit of their own; they go with the next one, at most LAZY_SECONDS from now."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if lazy:
            self._lazy.append((ops, done))
            if self._lazy_timer is None:
                self._lazy_timer = loop.call_later(LAZY_SECONDS, self._wake.set)
        else:
            self._queue.append((ops, done))
            self._wake.set()
        return done

    async def flush(self) -> None:
        """Wait until everything queued so far (lazy writes too) is committed (or has failed)."""
        waiting = [f for _, f in self._queue + self._lazy]
        if waiting:
            self._wake.set()
            await asyncio.gather(*waiting, return_exceptions=True)

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue, self._lazy = self._lazy + self._queue, [], []
            if self._lazy_timer is not None:
                self._lazy_timer.cancel()
                self._lazy_timer = None
            if not batch:
                continue
            try:
                # One hop to the connection's thread for the whole batch: its statements and one commit.
                await self.db._execute(_commit_all, self.db._conn, [op for ops, _ in batch for op in ops])
            except (sqlite3.Error, ValueError) as exc:  # ValueError: the connection was closed
                log.error("could not write to %s: %s", self.path, exc)
                # What was queued meanwhile may build on what failed (the next event of the same session):
                # it fails too, and its senders are told to try again.
                batch, self._queue = batch + self._queue, []
                for _, done in batch:
                    if not done.done():
                        done.set_exception(StoreError(str(exc)))
                self._seq.clear()  # read again from the disk: the queued numbers were not written
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    # --- sessions and events ------------------------------------------------------------------------------

    async def create_session(self, session_id: str, channel: str) -> None:
        await self.write([("INSERT INTO sessions VALUES (?, ?, 'open', ?)",
                           (session_id, channel, datetime.now(UTC).isoformat()))])

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

    async def append(self, session_id: str, event: Event) -> int:
        """Write one event now (the runtime batches its own writes with `event_ops` and `write`)."""
        seq = await self.next_seq(session_id)
        await self.write([self.event_op(session_id, seq, event)])
        return seq

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
            row = await cur.fetchone()
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

    async def outbox(self, session_id: str) -> list[tuple[str, str, str | None, str, float | None]]:
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


def _commit_all(conn: sqlite3.Connection, ops: list[Op]) -> None:
    """Runs on the connection's thread: every statement, then one commit; nothing of it if any fails."""
    try:
        for sql, params in ops:
            conn.execute(sql, params)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
