"""The PostgreSQL store (asyncpg): the same log, outbox and bookkeeping as the SQLite store, for several bot
processes at once. PostgreSQL is then the one place that orders a session's events, de-duplicates platform
deliveries and hands out outbox entries and due timers to whichever process is alive:

- the runtime holds the session's advisory lock (`session_lock`) from reading the events other processes wrote,
  through the engine's step, to the commit: one writer per session at a time, one order. Event numbers are
  counted in memory from the last stored one read when the lock was taken (the events' key refuses a number
  taken twice). The lock stays with a process while the session is busy there, and is handed over when
  another process asks for it (NOTIFY), so a reply pays for neither a lock nor a number in round trips;
- a platform delivery id is claimed by inserting it (a unique key): a retry that reaches another process is
  recognised there too (the ids arriving together in one insert). A commit is one round trip, a script of
  EXECUTEs of statements prepared once on the writer's connection, so a reply costs a share of two round
  trips in all; a new session is announced to the other processes as it is committed (NOTIFY), so they need
  not ask at every message which sessions there are;
- each process heartbeats a row in `workers`; each outbox entry names the process that owes it. Entries whose
  process stopped heartbeating for LEASE_SECONDS are claimed by another (FOR UPDATE SKIP LOCKED) and sent by it,
  looking first where an attempt may have reached the platform, as after a restart. The heartbeat is a lease:
  a process sends only within SENDS_WITHIN of its last one, and claims others' entries only once it has been
  heard for LEASE_SECONDS itself, so two live processes never both send one post;
- timers are rows with their due time, written in the transaction of the event that set them and claimed the
  same way when due (a claim lapses after LEASE_SECONDS, so a process that dies holding one loses nothing).
See docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pydantic import TypeAdapter

from bot.migrations import migrate_postgres
from bot.outcomes import Outcome, from_text, to_text
from bot.storage import GroupCommit, Op, OutboxRow, StoreError
from bot.store import DELIVERY_MEMORY, ENGINE_VERSION, Store, numbered, read_snapshot
from facilitation.effects import CancelTimer, Effect, StartTimer
from facilitation.events import Event, TimerFired
from facilitation.models import Session

log = logging.getLogger("facilitator.store")

_EVENT = TypeAdapter(Event)

HEARTBEAT_SECONDS = 0.5
# A session's lock is kept this long after its last event here, unless another process asks for it.
LINGER_SECONDS = 1.0
# Asked for by another process, it is still used here this long (what is already waiting here goes first).
HANDOFF_SECONDS = 0.02
# A process waiting for a session's lock asks for it again this often (milliseconds), should its first ask
# have reached no holder (the lock was between two).
REASK_MS = 200
# Starts in one process holding their channel's lock at once: each then needs a session's lock from the same
# pool of connections, so they must never hold all of it.
STARTS_AT_ONCE = 4
WANTED_CHANNEL = "facilitator_lock_wanted"
STARTED_CHANNEL = "facilitator_session_started"
# A process silent this long is taken for dead: its unsent posts and claimed timers go to the others.
LEASE_SECONDS = 3.0
# A process sends its posts only while its last heartbeat began less than this long ago, so it has stopped
# before another can take it for dead (a server down for a while, or this process cut off from it); and it
# takes over another's posts only once its own heartbeats have gone through for LEASE_SECONDS, so that after
# the server was down every live process has been heard again first.
SENDS_WITHIN = LEASE_SECONDS - 1.0
_NEVER = 1e9  # seconds: a window in which no process that heartbeats at all is taken for dead
# The listening connection, lost with a server restart, is opened again this often until it can be.
RECONNECT_SECONDS = 0.5
# Statements prepared on the writer's connection at most (the code has a few dozen).
PREPARED_AT_MOST = 500

# Whether a process is queued for the advisory lock $1 of this database (a bigint key is classid, objid).
_QUEUED = ("EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1 AND "
           "database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND "
           "((classid::bigint << 32) | objid::bigint) = $1)")

# An outbox entry is someone else's while its owner heartbeats.
_ORPHAN = ("(o.owner IS NULL OR o.owner = $1 OR o.owner NOT IN "
           "(SELECT id FROM workers WHERE seen_at > now() - make_interval(secs => $2)))")


# What a database out of reach raises (stopped, restarting, the connection cut): the runtime then answers "send
# it again" (StoreError), as for a commit that failed, instead of the message going unanswered.
_UNREACHABLE = (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.OperatorInterventionError,
                asyncpg.InterfaceError)


@contextlib.contextmanager
def _reaching(path: str) -> Iterator[None]:
    try:
        yield
    except _UNREACHABLE as exc:
        raise StoreError(f"{path} cannot be reached: {exc}") from exc


class _Reads:
    """The pool for reads and the small writes beside commits; a database out of reach raises StoreError."""

    def __init__(self, pool: asyncpg.Pool, path: str) -> None:
        self._pool, self._path = pool, path

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        with _reaching(self._path):
            return await self._pool.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        with _reaching(self._path):
            return await self._pool.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        with _reaching(self._path):
            return await self._pool.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        with _reaching(self._path):
            return await self._pool.execute(sql, *args)

    async def close(self) -> None:
        await self._pool.close()


def lock_key(name: str) -> int:
    """A session's advisory lock number (64 bits of its hash, signed as PostgreSQL's bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class _Held:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.users = 0  # events of the session being applied under it now
        self.admitted = 0  # events ever admitted under it (so a release sees one that came while it waited)
        self.caught_up = False
        self.wanted_at: float | None = None  # when another process asked for it (loop time)
        self.released = asyncio.Event()
        self.linger: asyncio.TimerHandle | None = None


class PgStore(GroupCommit):
    shared = True
    # A value no column can hold (a NUL, say) fails its batch like a refused statement, not the writer.
    _errors = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, ValueError, TypeError)

    def __init__(self, url: str, pool: asyncpg.Pool, locks: asyncpg.Pool, writer: asyncpg.Connection,
                 listener: asyncpg.Connection) -> None:
        self.url = url
        self.path = _without_password(url)
        self.pool = _Reads(pool, self.path)  # reads: each holds a connection only for its query
        self.locks = locks  # advisory locks: one connection per session being applied, apart from the reads
        self.writer = writer  # the group-commit writer's own connection
        self.listener = listener  # hears other processes asking for a session's lock
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        super().__init__()
        self._heartbeat: asyncio.Task[None] | None = None
        self._closing = False
        self._relistening: asyncio.Task[None] | None = None
        self._held: dict[str, _Held] = {}  # session -> its advisory lock, while this process holds it
        self._releasing: set[asyncio.Task[None]] = set()
        self._taking: dict[str, asyncio.Lock] = {}
        self._starts = asyncio.Semaphore(STARTS_AT_ONCE)
        self._lock_conns = 0  # connections of the lock pool in use or asked for
        self._claims: dict[str, asyncio.Future[bool]] = {}  # delivery ids waiting for the next claim
        self._claiming: asyncio.Task[None] | None = None
        # Sessions started (by any process) since the runtime last loaded the open ones: a process learns of a
        # new session as it is committed, without asking at every message.
        self.started: set[str] = set()
        self._ref_pos: dict[str, int] = {}  # session -> the newest ref this process has read
        self._prepared: dict[str, str] = {}  # statement -> its name on the writer's connection
        self._beat_at: float | None = None  # loop time the last heartbeat that went through began
        self._lease_since = 0.0  # loop time the heartbeats began going through without a gap
        self.lease_epoch = 0  # counts the gaps: posts queued in an earlier epoch may be another's now
        self._leased = asyncio.Event()

    @classmethod
    async def open(cls, url: str) -> PgStore:
        writer = await _writer_connection(url)
        try:
            await migrate_postgres(writer, _without_password(url))
            # Reads set no session state, so a connection goes back to the pool as it is (asyncpg's default
            # reset is a round trip of its own on every release). Lock connections are reset as usual: that
            # is what lets go of an advisory lock whose unlock failed.
            # What the pool writes (delivery ids, claims, heartbeats) need not wait for the disk: a commit of
            # the writer's, which does, comes after it in the log, and an event is only acted on once that
            # commit is durable. So a crash loses nothing of it that mattered.
            pool = await asyncpg.create_pool(url, min_size=8, max_size=8, reset=_as_it_is,
                                             server_settings={"synchronous_commit": "off"})
            # A wait for a session's lock asks its holder again every REASK_MS (`_lock`).
            locks = await asyncpg.create_pool(url, min_size=4, max_size=32,
                                              server_settings={"lock_timeout": str(REASK_MS)})
            listener = await asyncpg.connect(url)
        except BaseException:
            await writer.close()
            raise
        store = cls(url, pool, locks, writer, listener)
        await store._hear(listener)
        await store.beat()
        store._heartbeat = asyncio.create_task(store._beat_forever())
        return store

    async def close(self) -> None:
        self._closing = True
        try:
            await self.flush()
            for session_id, held in list(self._held.items()):
                if not held.users:
                    self._release(session_id, held)
            await asyncio.gather(*self._releasing, return_exceptions=True)
        finally:
            self._writer.cancel()
            if self._heartbeat is not None:
                self._heartbeat.cancel()
            if self._relistening is not None:
                self._relistening.cancel()
            with contextlib.suppress(Exception):  # a clean stop: what it still owes goes to the others now
                await self.pool.execute("DELETE FROM workers WHERE id = $1", self.worker)
            await self.writer.close()
            await self.listener.close()
            await self.pool.close()
            await self.locks.close()

    async def _commit(self, ops: list[Op]) -> None:
        # One round trip, one transaction, and no statement planned twice: each statement is prepared once on
        # the writer's connection, and a commit is a script of EXECUTEs of them with their values, which the
        # simple query protocol runs as one transaction (all or nothing). Planning every statement anew cost
        # more than running it (docs/deploy.md, Figures).
        if self.writer.is_closed():  # the server restarted, or the connection was cut: its statements went too
            self.writer = await _writer_connection(self.url)
            self._prepared.clear()
        new = [sql for sql in dict.fromkeys(sql for sql, _ in ops) if sql not in self._prepared]
        if len(self._prepared) + len(new) > PREPARED_AT_MOST:  # statements are the code's own, so this is a guard
            await self.writer.execute("DEALLOCATE ALL")
            self._prepared.clear()
            new = list(dict.fromkeys(sql for sql, _ in ops))
        for sql in new:  # one at a time: a PREPARE is kept even when a script holding it fails
            name = f"facilitator_{len(self._prepared)}"
            await self.writer.execute(f"PREPARE {name} AS {sql}")
            self._prepared[sql] = name
        await self.writer.execute(";".join(f"EXECUTE {self._prepared[sql]}({', '.join(map(_literal, params))})"
                                           if params else f"EXECUTE {self._prepared[sql]}" for sql, params in ops))

    # --- liveness and locks ---------------------------------------------------------------------------------

    async def beat(self) -> None:
        began = asyncio.get_running_loop().time()  # the row's time is later: the lease is reckoned from here
        await self.pool.execute("INSERT INTO workers VALUES ($1, now()) ON CONFLICT (id) DO UPDATE SET seen_at = now()",
                                self.worker)
        if not self.holds_lease():
            self.lease_epoch += 1
            self._lease_since = began
        self._beat_at = began
        self._leased.set()

    def holds_lease(self) -> bool:
        """Whether no other process can have taken this one for dead: it may send what it owes."""
        return self._beat_at is not None and asyncio.get_running_loop().time() - self._beat_at < SENDS_WITHIN

    async def lease(self) -> int:
        """Once this process holds its lease (the database may be out of reach for a while): its epoch."""
        while not self.holds_lease():
            self._leased.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._leased.wait(), HEARTBEAT_SECONDS)
        return self.lease_epoch

    def _dead_after(self) -> float:
        """How long a process's silence must be for this one to take it for dead now: LEASE_SECONDS, unless
        this one has itself been heard for less than that (the server was down: the others' heartbeats may
        not have gone through again yet), when only a process that stopped cleanly is."""
        held_for = asyncio.get_running_loop().time() - self._lease_since
        return LEASE_SECONDS if self.holds_lease() and held_for >= LEASE_SECONDS else _NEVER

    async def owners(self, session_id: str, keys: list[str]) -> dict[str, str | None]:
        """Which process owes each of these outbox entries now; an entry delivered since is not among them."""
        rows = await self.pool.fetch("SELECT key, owner FROM outbox WHERE session_id = $1 AND key = ANY($2::text[])",
                                     session_id, keys)
        return {row[0]: row[1] for row in rows}

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self.beat()
            except Exception as exc:  # noqa: BLE001 - the database may be back in a moment
                log.warning("heartbeat to %s failed: %s", self.path, exc)

    @contextlib.asynccontextmanager
    async def session_lock(self, session_id: str) -> AsyncIterator[None]:
        """The session's advisory lock, held by one process at a time across all of them. Once taken it is
        kept while this process applies the session's events and for LINGER_SECONDS after, so a session busy
        here pays for the lock once, not per event, and its events still share commits. A process that finds
        it taken says so (NOTIFY); the holder then admits no new events under it and lets go as soon as what it
        applied is committed, so the next holder finds every event stored and a steady stream here cannot keep
        the other process out."""
        async with self._taking.setdefault(session_id, asyncio.Lock()):  # one connection takes it, not several
            while (held := self._held.get(session_id)) is not None and not self._admits(held):
                await held.released.wait()  # behind the process that asked first
            if held is not None and not held.users and _gone(held.conn):
                await self._let_go(session_id, held)  # lost with its connection (a server restart): take it anew
                held = None
            if held is None:
                with _reaching(self.path):
                    conn, wanted = await self._lock(session_id)
                held = self._held[session_id] = _Held(conn)
                if wanted:
                    held.wanted_at = asyncio.get_running_loop().time()
            if held.linger is not None:
                held.linger.cancel()
                held.linger = None
            held.users += 1
            held.admitted += 1
        try:
            yield
        finally:
            held.users -= 1
            if not held.users:
                self._let_go_later(session_id, held)

    async def _lock(self, session_id: str) -> tuple[asyncpg.Connection, bool]:
        """The session's lock on a connection of its own, and whether another process is waiting for it now."""
        key = lock_key(session_id)
        conn = await self._lock_connection()
        try:
            # Taken at once, or the holder is told (the notice goes when this statement ends) and then waited for.
            taken = await conn.fetchval(
                "SELECT CASE WHEN pg_try_advisory_lock($1) THEN true ELSE (SELECT false FROM pg_notify($2, $3)) END",
                key, WANTED_CHANNEL, session_id)
            if taken:
                return conn, False  # granted at once: nobody was queued for it
            while True:
                try:
                    # Those queued behind this one may have asked while the lock was changing hands, when no
                    # process held it to hear them: once it is ours, they are counted here.
                    waiting = await conn.fetchval(f"SELECT {_QUEUED} FROM (SELECT pg_advisory_lock($1)) l", key)
                    return conn, bool(waiting)
                except asyncpg.LockNotAvailableError:  # lock_timeout: ask again, in case the ask was not heard
                    await conn.execute("SELECT pg_notify($1, $2)", WANTED_CHANNEL, session_id)
        except BaseException:
            await self._release_connection(conn)  # the pool's reset lets go of the lock if it was taken
            raise

    async def _lock_connection(self) -> asyncpg.Connection:
        """A connection of the lock pool. When none is left, the locks only lingering here are let go, so a
        session waiting for a connection does not wait for sessions gone quiet."""
        if self._lock_conns >= self.locks.get_max_size():
            for session_id, held in list(self._held.items()):
                if not held.users and held.linger is not None:
                    self._release(session_id, held)
        self._lock_conns += 1
        try:
            with _reaching(self.path):
                return await self.locks.acquire()
        except BaseException:
            self._lock_conns -= 1
            raise

    async def _release_connection(self, conn: asyncpg.Connection) -> None:
        self._lock_conns -= 1
        if not _gone(conn):  # a connection the pool took back when it closed is the pool's already
            await self.locks.release(conn)

    @staticmethod
    def _admits(held: _Held) -> bool:
        """Whether events of this process still go under the held lock: until another process asks for it,
        and for HANDOFF_SECONDS after, so the events already waiting here go in one tenure instead of the
        lock changing hands at every event."""
        return held.wanted_at is None or asyncio.get_running_loop().time() - held.wanted_at < HANDOFF_SECONDS

    def _let_go_later(self, session_id: str, held: _Held) -> None:
        if self._lock_conns >= self.locks.get_max_size() or not self._admits(held):
            self._release(session_id, held)
            return
        loop = asyncio.get_running_loop()
        wait = LINGER_SECONDS if held.wanted_at is None else HANDOFF_SECONDS - (loop.time() - held.wanted_at)
        held.linger = loop.call_later(wait, self._release, session_id, held)

    def _release(self, session_id: str, held: _Held) -> None:
        if held.linger is not None:
            held.linger.cancel()
            held.linger = None
        task = asyncio.create_task(self._release_when_written(session_id, held))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _hear(self, listener: asyncpg.Connection) -> None:
        await listener.add_listener(WANTED_CHANNEL, self._wanted)
        await listener.add_listener(STARTED_CHANNEL, self._started)
        listener.add_termination_listener(self._deaf)
        self.listener = listener

    def _deaf(self, _conn: object) -> None:
        """The listening connection closed (the server restarted): listen again as soon as it is back. Asks
        missed meanwhile are made again (REASK_MS), sessions started meanwhile are found by the sweep."""
        if not self._closing and self._relistening is None:
            self._relistening = asyncio.create_task(self._listen_again())

    async def _listen_again(self) -> None:
        try:
            while not self._closing:
                try:
                    await self._hear(await asyncpg.connect(self.url))
                    log.info("listening to %s again", self.path)
                    return
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("cannot listen to %s yet: %s", self.path, exc)
                    await asyncio.sleep(RECONNECT_SECONDS)
        finally:
            self._relistening = None

    def _wanted(self, _conn: object, _pid: int, _channel: str, session_id: object) -> None:
        """Another process waits for a session's lock this one holds."""
        held = self._held.get(str(session_id))
        if held is None or held.wanted_at is not None:
            return
        held.wanted_at = asyncio.get_running_loop().time()
        if not held.users:
            self._release(str(session_id), held)

    def _started(self, _conn: object, _pid: int, _channel: str, session_id: object) -> None:
        self.started.add(str(session_id))

    def lock_is_new(self, session_id: str) -> bool:
        """True once after the session's lock was taken afresh: another process may have written since."""
        held = self._held.get(session_id)
        if held is None or held.caught_up:
            return False
        held.caught_up = True
        return True

    async def _release_when_written(self, session_id: str, held: _Held) -> None:
        """Let go of the lock once every event applied under it is committed: the next holder, here or in
        another process, numbers its events after them. An event may still be admitted while this waits (the
        hand-over's grace, or a lingering lock taken up again): its commit is waited for too, or, if it is
        still being applied, the lock stays and its own end lets go."""
        try:
            while True:
                admitted = held.admitted
                await asyncio.gather(*self.unwritten(), return_exceptions=True)
                if held.users or held.admitted == admitted:
                    break
        finally:
            if not held.users and self._held.get(session_id) is held:
                await self._let_go(session_id, held)

    async def _let_go(self, session_id: str, held: _Held) -> None:
        if held.linger is not None:
            held.linger.cancel()
            held.linger = None
        del self._held[session_id]
        self._seq.pop(session_id, None)  # another process may write the next ones
        try:
            if not _gone(held.conn):  # else the lock went with its connection
                await held.conn.execute("SELECT pg_advisory_unlock($1)", lock_key(session_id))
        finally:
            await self._release_connection(held.conn)
            held.released.set()

    @contextlib.asynccontextmanager
    async def channel_lock(self, channel: str) -> AsyncIterator[None]:
        """Starting a session in `channel`, one process at a time across all of them: the check that none runs
        there yet and the commit of the new one happen under it (a process that dies lets go with its
        connection)."""
        key = lock_key(f"start:{channel}")
        async with self._starts:
            conn = await self._lock_connection()
            try:
                while True:
                    try:
                        with _reaching(self.path):
                            await conn.execute("SELECT pg_advisory_lock($1)", key)
                        break
                    except asyncpg.LockNotAvailableError:  # the lock pool's lock_timeout: a start waits on
                        continue
                try:
                    yield
                finally:
                    await conn.execute("SELECT pg_advisory_unlock($1)", key)
            finally:
                await self._release_connection(conn)

    # --- sessions and events ------------------------------------------------------------------------------

    async def create_session(self, session_id: str, channel: str) -> None:
        # The other processes hear of it when it is committed (`started`), and load it before routing.
        await self.write([*(numbered(op) for op in Store.create_ops(session_id, channel)),
                          ("SELECT pg_notify($1, $2)", (STARTED_CHANNEL, session_id))])

    @staticmethod
    def close_ops(session_id: str) -> list[Op]:
        return [numbered(op) for op in Store.close_ops(session_id)] + [
            ("DELETE FROM timers WHERE session_id = $1", (session_id,))]

    async def open_sessions(self) -> list[str]:
        rows = await self.pool.fetch("SELECT id FROM sessions WHERE status = 'open' ORDER BY created_at")
        return [row[0] for row in rows]

    async def heads(self) -> dict[str, int]:
        """Each open session and the number of its last stored event (by any process)."""
        rows = await self.pool.fetch("SELECT s.id, COALESCE((SELECT MAX(seq) FROM events e WHERE e.session_id = s.id), "
                                     "0) FROM sessions s WHERE s.status = 'open'")
        return {row[0]: row[1] for row in rows}

    async def append(self, session_id: str, event: Event) -> int:
        async with self.session_lock(session_id):
            return await super().append(session_id, event)

    async def next_seq(self, session_id: str) -> int:
        """The session's next event number. Under the session's advisory lock (the runtime's case) it is
        counted in memory from the last stored number, read when catching up after the lock was taken (or
        here, the first time): only the holder writes the session's events. Without the lock it is read from
        the events; the events' primary key refuses a number taken twice."""
        if session_id not in self._seq:
            last = int(await self.pool.fetchval("SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = $1",
                                                session_id))
            if session_id not in self._held:
                return last + 1
            self._seq.setdefault(session_id, last)  # several may have read it at once: the first one counts
        self._seq[session_id] += 1
        return self._seq[session_id]

    @staticmethod
    def event_op(session_id: str, seq: int, event: Event) -> Op:
        return numbered(Store.event_op(session_id, seq, event))

    async def events(self, session_id: str, after: int = 0) -> list[tuple[int, Event]]:
        rows = await self.pool.fetch("SELECT seq, payload FROM events WHERE session_id = $1 AND seq > $2 "
                                     "ORDER BY seq", session_id, after)
        return [(row[0], _EVENT.validate_json(row[1])) for row in rows]

    # --- snapshots ----------------------------------------------------------------------------------------

    @staticmethod
    def snapshot_op(session_id: str, seq: int, payload: str) -> Op:
        # Never back in time: a process restoring a session may write an older one than another just did.
        return ("INSERT INTO snapshots VALUES ($1, $2, $3, $4) ON CONFLICT (session_id) DO UPDATE SET "
                "seq = EXCLUDED.seq, version = EXCLUDED.version, payload = EXCLUDED.payload "
                "WHERE snapshots.seq <= EXCLUDED.seq OR snapshots.version <> EXCLUDED.version",
                (session_id, seq, ENGINE_VERSION, payload))

    async def snapshot(self, session_id: str) -> tuple[int, Session] | None:
        row = await self.pool.fetchrow("SELECT seq, version, payload FROM snapshots WHERE session_id = $1",
                                       session_id)
        return read_snapshot(session_id, row)

    async def set_aside(self, session_id: str, seq: int, error: str) -> None:
        await self.write([("INSERT INTO set_aside VALUES ($1, $2, $3) ON CONFLICT (session_id, seq) DO UPDATE "
                           "SET error = EXCLUDED.error", (session_id, seq, error[:2000]))])

    async def set_aside_seqs(self, session_id: str) -> set[int]:
        rows = await self.pool.fetch("SELECT seq FROM set_aside WHERE session_id = $1", session_id)
        return {row[0] for row in rows}

    # --- deliveries, refs, messages, pairs -----------------------------------------------------------------

    async def claim_delivery(self, event_id: str) -> bool:
        """False if any process saw this platform delivery id before (a retry): the id's unique key decides.
        Ids arriving while a claim is on its way go together in the next one: one round trip for a burst."""
        if event_id in self._claims:  # the same delivery twice at once: the first one is the claim
            return False
        claim = self._claims[event_id] = asyncio.get_running_loop().create_future()
        if self._claiming is None or self._claiming.done():
            self._claiming = asyncio.create_task(self._claim_waiting())
        return await claim

    async def _claim_waiting(self) -> None:
        while self._claims:
            batch, self._claims = self._claims, {}
            try:
                rows = await self.pool.fetch("INSERT INTO deliveries SELECT unnest($1::text[]), $2 "
                                             "ON CONFLICT DO NOTHING RETURNING event_id",
                                             list(batch), datetime.now(UTC).isoformat())
            except Exception as exc:  # noqa: BLE001 - each waiting receiver hears of it
                for claim in batch.values():
                    if not claim.done():  # its receiver may have been cancelled
                        claim.set_exception(exc)
                continue
            claimed = {row[0] for row in rows}
            for event_id, claim in batch.items():
                if not claim.done():
                    claim.set_result(event_id in claimed)

    @staticmethod
    def delivery_op(event_id: str) -> Op:
        return ("INSERT INTO deliveries VALUES ($1, $2) ON CONFLICT DO NOTHING",
                (event_id, datetime.now(UTC).isoformat()))

    async def refs(self, session_id: str) -> dict[str, Outcome]:
        rows = await self.pool.fetch("SELECT key, ref, pos FROM refs WHERE session_id = $1", session_id)
        self._ref_pos[session_id] = max((row[2] for row in rows), default=0)
        return {k: from_text(r) for k, r, _ in rows}

    async def tail(self, session_id: str, after: int) -> tuple[list[tuple[int, Event]], set[int], dict[str, Outcome]]:
        """What catching up on a session needs, in one round trip: its events after `after`, the numbers of
        those set aside, and the refs made since this process last read them (and, under the session's lock,
        the last event number, which the next ones follow)."""
        rows = await self.pool.fetch(
            "SELECT 'e', seq, payload, NULL FROM events WHERE session_id = $1 AND seq > $2 "
            "UNION ALL SELECT 's', seq, NULL, NULL FROM set_aside WHERE session_id = $1 AND seq > $2 "
            "UNION ALL SELECT 'r', pos, key, ref FROM refs WHERE session_id = $1 AND pos > $3 "
            "UNION ALL SELECT 'm', COALESCE(MAX(seq), 0), NULL, NULL FROM events WHERE session_id = $1",
            session_id, after, self._ref_pos.get(session_id, 0))
        if session_id in self._held:  # read under the lock: the numbers go on from the last stored one (or
            # from the last queued here, still being committed)
            stored = next(n for kind, n, _, _ in rows if kind == "m")
            self._seq[session_id] = max(self._seq.get(session_id, 0), stored)
        events = sorted((n, _EVENT.validate_json(a)) for kind, n, a, _ in rows if kind == "e")
        refs = {a: from_text(b) for kind, _, a, b in rows if kind == "r"}
        if refs:
            self._ref_pos[session_id] = max(n for kind, n, _, _ in rows if kind == "r")
        return events, {n for kind, n, _, _ in rows if kind == "s"}, refs

    async def keys_of_ref(self, ref: str) -> list[tuple[str, str]]:
        """(session, effect key) of the posts with this platform ref, whichever process made them."""
        rows = await self.pool.fetch("SELECT session_id, key FROM refs WHERE ref = $1", ref)
        return [(row[0], row[1]) for row in rows]

    async def wait_ref(self, session_id: str, key: str, every: float = 0.05) -> Outcome | None:
        """What became of an effect another process owes, once it is delivered; None if nobody owes it."""
        while True:
            ref = await self.pool.fetchval("SELECT ref FROM refs WHERE session_id = $1 AND key = $2", session_id, key)
            if ref is not None:
                return from_text(str(ref))
            owed = await self.pool.fetchval("SELECT state FROM outbox WHERE session_id = $1 AND key = $2",
                                            session_id, key)
            if owed is None or owed == "failed":
                return None
            await asyncio.sleep(every)

    # --- the outbox -----------------------------------------------------------------------------------------

    def outbox_op(self, session_id: str, key: str, effect_json: str, after: str | None) -> Op:
        return ("INSERT INTO outbox (session_id, key, effect, after, owner) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (session_id, key) DO UPDATE SET effect = EXCLUDED.effect, after = EXCLUDED.after, "
                "state = 'queued', first_try = NULL, error = NULL, owner = EXCLUDED.owner, "
                "pos = nextval(pg_get_serial_sequence('outbox', 'pos'))",
                (session_id, key, effect_json, after, self.worker))

    @staticmethod
    def trying_op(session_id: str, key: str, first_try: float) -> Op:
        return numbered(Store.trying_op(session_id, key, first_try))

    @staticmethod
    def failed_op(session_id: str, key: str, error: str) -> Op:
        return numbered(Store.failed_op(session_id, key, error))

    @staticmethod
    def delivered_ops(session_id: str, key: str, outcome: Outcome) -> list[Op]:
        return [("DELETE FROM outbox WHERE session_id = $1 AND key = $2", (session_id, key)),
                ("INSERT INTO refs VALUES ($1, $2, $3) ON CONFLICT (session_id, key) DO UPDATE SET ref = EXCLUDED.ref",
                 (session_id, key, to_text(outcome)))]

    async def outbox(self, session_id: str) -> list[OutboxRow]:
        """The session's undelivered effects that no live process owes (now this one's), in commit order."""
        rows = await self.pool.fetch(
            "UPDATE outbox o SET owner = $1 FROM (SELECT session_id, key FROM outbox o WHERE session_id = $3 AND "
            f"{_ORPHAN} FOR UPDATE SKIP LOCKED) c WHERE o.session_id = c.session_id AND o.key = c.key "
            "RETURNING o.pos, o.key, o.effect, o.after, o.state, o.first_try", self.worker, self._dead_after(),
            session_id)
        return [(r[1], r[2], r[3], r[4], r[5]) for r in sorted(rows, key=lambda r: r[0])]

    async def claim_orphans(self) -> dict[str, list[OutboxRow]]:
        """Entries of every session whose process died (or stopped), claimed by this one: session -> rows."""
        rows = await self.pool.fetch(
            "UPDATE outbox o SET owner = $1 FROM (SELECT session_id, key FROM outbox o WHERE o.owner <> $1 AND "
            f"o.state <> 'failed' AND {_ORPHAN} FOR UPDATE SKIP LOCKED) c "
            "WHERE o.session_id = c.session_id AND o.key = c.key "
            "RETURNING o.pos, o.session_id, o.key, o.effect, o.after, o.state, o.first_try",
            self.worker, self._dead_after())
        out: dict[str, list[OutboxRow]] = {}
        for r in sorted(rows, key=lambda r: r[0]):
            out.setdefault(r[1], []).append((r[2], r[3], r[4], r[5], r[6]))
        return out

    async def claim_failed(self, session_id: str) -> list[OutboxRow]:
        """For `retry`: the session's entries that failed for good, in whichever process, now this one's to send
        again. A claimed entry is failed no longer, so each goes to one process, however many are asked."""
        rows = await self.pool.fetch(
            "UPDATE outbox o SET owner = $1, state = 'queued' FROM (SELECT session_id, key FROM outbox "
            "WHERE session_id = $2 AND state = 'failed' FOR UPDATE SKIP LOCKED) c "
            "WHERE o.session_id = c.session_id AND o.key = c.key "
            "RETURNING o.pos, o.key, o.effect, o.after, o.state, o.first_try", self.worker, session_id)
        return [(r[1], r[2], r[3], r[4], r[5]) for r in sorted(rows, key=lambda r: r[0])]

    async def failed_in(self, channel: str) -> set[str]:
        """The sessions of `channel` with entries that failed for good (in any process)."""
        rows = await self.pool.fetch("SELECT DISTINCT o.session_id FROM outbox o JOIN sessions s ON s.id = "
                                     "o.session_id WHERE s.channel = $1 AND o.state = 'failed'", channel)
        return {row[0] for row in rows}

    # --- timers ---------------------------------------------------------------------------------------------

    @staticmethod
    def timer_ops(session_id: str, event: Event, effects: list[Effect]) -> list[Op]:
        """Timers as rows, in the transaction of the event that set, cancelled or fired them."""
        ops: list[Op] = []
        if isinstance(event, TimerFired):
            ops.append(("DELETE FROM timers WHERE session_id = $1 AND timer_id = $2", (session_id, event.timer_id)))
        for effect in effects:
            if isinstance(effect, StartTimer):
                ops.append(("INSERT INTO timers (session_id, timer_id, fire_at) VALUES ($1, $2, $3) ON CONFLICT "
                            "(session_id, timer_id) DO UPDATE SET fire_at = EXCLUDED.fire_at, owner = NULL, "
                            "claimed_until = NULL", (session_id, effect.timer_id, effect.fire_at)))
            elif isinstance(effect, CancelTimer):
                ops.append(("DELETE FROM timers WHERE session_id = $1 AND timer_id = $2",
                            (session_id, effect.timer_id)))
        return ops

    async def claim_due_timers(self) -> list[tuple[str, str, datetime]]:
        """Timers due now that nobody holds (or whose holder's claim lapsed): (session, timer, fire_at)."""
        rows = await self.pool.fetch(
            "UPDATE timers t SET owner = $1, claimed_until = now() + make_interval(secs => $2) FROM "
            "(SELECT session_id, timer_id FROM timers WHERE fire_at <= now() AND "
            "(claimed_until IS NULL OR claimed_until < now()) ORDER BY fire_at FOR UPDATE SKIP LOCKED) c "
            "WHERE t.session_id = c.session_id AND t.timer_id = c.timer_id "
            "RETURNING t.session_id, t.timer_id, t.fire_at", self.worker, LEASE_SECONDS)
        return [(r[0], r[1], r[2]) for r in rows]

    async def timer_done(self, session_id: str, timer_id: str, fire_at: datetime) -> None:
        """A claimed timer was fired (or is no longer in its session): its row goes, unless it was re-armed."""
        await self.pool.execute("DELETE FROM timers WHERE session_id = $1 AND timer_id = $2 AND fire_at = $3",
                                session_id, timer_id, fire_at)

    # --- messages, pairs, retention --------------------------------------------------------------------------

    @staticmethod
    def message_op(ref: str, session_id: str) -> Op:
        return "INSERT INTO messages VALUES ($1, $2) ON CONFLICT DO NOTHING", (ref, session_id)

    async def session_for_message(self, ref: str) -> str | None:
        return await self.pool.fetchval("SELECT session_id FROM messages WHERE ref = $1", ref)

    async def highest_message_number(self, prefix: str) -> int:
        rows = await self.pool.fetch("SELECT ref FROM messages WHERE left(ref, length($1)) = $1 "
                                     "UNION SELECT ref FROM refs WHERE left(ref, length($1)) = $1", prefix)
        numbers = [row[0][len(prefix):] for row in rows]
        return max((int(n) for n in numbers if n.isascii() and n.isdigit() and len(n) < 12), default=0)

    async def purge_closed(self, approved_before: datetime) -> tuple[int, int]:
        """As the SQLite store's: the content of sessions approved before `approved_before` goes, counts stay."""
        closed = [row[0] for row in await self.pool.fetch("SELECT id FROM sessions WHERE status = 'closed'")]
        sessions = events = 0
        now = datetime.now(UTC).isoformat()
        for session_id in closed:
            at = await self.pool.fetchval("SELECT payload::jsonb ->> 'at' FROM events WHERE session_id = $1 "
                                          "ORDER BY seq DESC LIMIT 1", session_id)
            if at is None or datetime.fromisoformat(at) >= approved_before:
                continue
            by_type = {kind: n for kind, n in await self.pool.fetch(
                "SELECT type, COUNT(*) FROM events WHERE session_id = $1 GROUP BY type", session_id)}
            people = await self.pool.fetchval("SELECT COUNT(DISTINCT payload::jsonb ->> 'person') FROM events "
                                              "WHERE session_id = $1", session_id)
            counts = {"events": sum(by_type.values()), "people": people, "by_type": by_type}
            ops: list[Op] = [("INSERT INTO purged VALUES ($1, $2, $3, $4) ON CONFLICT (session_id) DO UPDATE SET "
                              "approved_at = EXCLUDED.approved_at, purged_at = EXCLUDED.purged_at, "
                              "counts = EXCLUDED.counts", (session_id, at, now, json.dumps(counts)))]
            ops += [(f"DELETE FROM {table} WHERE session_id = $1", (session_id,))  # fixed names, no user input
                    for table in ("events", "snapshots", "set_aside", "refs", "outbox", "messages", "timers")]
            ops.append(("UPDATE sessions SET status = 'purged' WHERE id = $1", (session_id,)))
            await self.write(ops)
            sessions += 1
            events += counts["events"]
        since = (datetime.now(UTC) - DELIVERY_MEMORY).isoformat()
        await self.write([("DELETE FROM deliveries WHERE seen_at < $1", (since,))])
        return sessions, events

    @staticmethod
    def pair_op(channel: str, session_id: str, members: list[str]) -> Op:
        return numbered(Store.pair_op(channel, session_id, members))

    async def past_pairs(self, channel: str) -> list[list[str]]:
        rows = await self.pool.fetch("SELECT members FROM pairs WHERE channel = $1", channel)
        return [json.loads(row[0]) for row in rows]


def _literal(value: Any) -> str:
    """A value as an SQL literal of unknown type, which the prepared statement's parameter types then read (the
    writer's connection has standard_conforming_strings on, so a backslash is an ordinary character and only
    the quote is doubled). A NUL cannot be in a PostgreSQL text, so it is refused before anything is sent."""
    if value is None:
        return "NULL"
    if type(value) is datetime:
        value = value.isoformat()
    elif type(value) not in (str, int, float):  # by exact type: a bool is an int to isinstance
        raise TypeError(f"no column of the store holds {type(value).__name__}")
    text = str(value)
    if "\x00" in text:
        raise ValueError("a NUL character cannot be stored")
    return "'" + text.replace("'", "''") + "'"


async def _as_it_is(conn: asyncpg.Connection) -> None:
    """Pool reset for connections that only ever run single statements outside transactions."""


def _gone(conn: asyncpg.Connection) -> bool:
    """Whether the connection closed (the pool takes back one of its own that closes, and then says so)."""
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:
        return True


async def _writer_connection(url: str) -> asyncpg.Connection:
    # The commit's script quotes values itself (_literal): only right with standard strings.
    return await asyncpg.connect(url, server_settings={"standard_conforming_strings": "on"})


def _without_password(url: str) -> str:
    """The URL for logs and messages: a password never prints."""
    head, sep, tail = url.rpartition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, user = head.partition("//")
    return f"{scheme}//{user.split(':', 1)[0]}:***@{tail}"
