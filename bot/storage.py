"""The store interface the runtime uses, the group-commit writer both stores share, and `open_store`, which picks
the store from the setting: a file path is SQLite (one process, no set-up), `postgresql://...` is PostgreSQL
(several processes share the work). See docs/scale.md and docs/deploy.md."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bot.outcomes import Outcome
    from bot.settings import Settings
    from facilitation.effects import Effect
    from facilitation.events import Event
    from facilitation.models import Session

log = logging.getLogger("facilitator.store")

Op = tuple[str, Sequence[Any]]  # one statement and its parameters, in the store's own SQL
OutboxRow = tuple[str, str, str | None, str, float | None]  # key, effect JSON, after, state, first_try

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class StoreError(RuntimeError):
    """A write did not reach the disk (locked database, full disk, ...): nothing it carried counts."""


def is_postgres(database: Path | str) -> bool:
    return isinstance(database, str) and database.startswith(POSTGRES_SCHEMES)


class EventStore(Protocol):
    """What the runtime and the delivery lanes need of a store. Statements (`Op`) are built by the store, in its
    own SQL, and committed together by `write`: an event, its effects (the outbox) and its bookkeeping are one
    transaction. `shared` is True where several processes use the store at once (PostgreSQL)."""

    shared: bool
    path: str

    def write(self, ops: list[Op], lazy: bool = False) -> asyncio.Future[None]: ...
    def unwritten(self) -> list[asyncio.Future[None]]:
        """The futures of everything queued or being committed now (not lazy writes)."""
        return [f for f in self._committing if not f.done()] + [f for _, f in self._queue]

    async def flush(self) -> None: ...
    async def close(self) -> None: ...

    async def create_session(self, session_id: str, channel: str) -> None: ...
    def close_ops(self, session_id: str) -> list[Op]: ...
    async def open_sessions(self) -> list[str]: ...
    async def next_seq(self, session_id: str) -> int: ...
    async def append(self, session_id: str, event: Event) -> int: ...
    def event_op(self, session_id: str, seq: int, event: Event) -> Op: ...
    async def events(self, session_id: str, after: int = 0) -> list[tuple[int, Event]]: ...

    def snapshot_op(self, session_id: str, seq: int, payload: str) -> Op: ...
    async def snapshot(self, session_id: str) -> tuple[int, Session] | None: ...
    async def set_aside(self, session_id: str, seq: int, error: str) -> None: ...
    async def set_aside_seqs(self, session_id: str) -> set[int]: ...

    async def claim_delivery(self, event_id: str) -> bool: ...
    def delivery_op(self, event_id: str) -> Op: ...
    async def refs(self, session_id: str) -> dict[str, Outcome]: ...

    def outbox_op(self, session_id: str, key: str, effect_json: str, after: str | None) -> Op: ...
    def trying_op(self, session_id: str, key: str, first_try: float) -> Op: ...
    def failed_op(self, session_id: str, key: str, error: str) -> Op: ...
    def delivered_ops(self, session_id: str, key: str, outcome: Outcome) -> list[Op]: ...
    async def outbox(self, session_id: str) -> list[OutboxRow]: ...
    def timer_ops(self, session_id: str, event: Event, effects: list[Effect]) -> list[Op]: ...

    def message_op(self, ref: str, session_id: str) -> Op: ...
    async def session_for_message(self, ref: str) -> str | None: ...
    async def highest_message_number(self, prefix: str) -> int: ...
    async def purge_closed(self, approved_before: datetime) -> tuple[int, int]: ...
    def pair_op(self, channel: str, session_id: str, members: list[str]) -> Op: ...
    async def past_pairs(self, channel: str) -> list[list[str]]: ...

    def session_lock(self, session_id: str) -> AbstractAsyncContextManager[None]: ...


class GroupCommit:
    """The one writer of a store: whatever waits when a commit starts goes into the next one, in a single
    transaction, so fifty people pressing at once cost one disk sync, and one person alone costs one too.
    Subclasses say how a batch is committed (`_commit`) and which exceptions mean it was not."""

    path: str
    _errors: tuple[type[BaseException], ...] = ()
    # Bookkeeping nobody waits for (refs of posts made, delivery ids) rides on the next event's commit, or goes
    # within this long: one reply costs one disk sync, not two.
    LAZY_SECONDS = 0.05

    def __init__(self) -> None:
        self._seq: dict[str, int] = {}  # session -> last sequence number written (or queued)
        self._queue: list[tuple[list[Op], asyncio.Future[None]]] = []
        self._lazy: list[tuple[list[Op], asyncio.Future[None]]] = []
        self._committing: list[asyncio.Future[None]] = []  # the batch being committed now
        self._lazy_timer: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()
        self._writer = asyncio.create_task(self._write_forever())

    async def _commit(self, ops: list[Op]) -> None:
        raise NotImplementedError

    async def next_seq(self, session_id: str) -> int:
        raise NotImplementedError

    def event_op(self, session_id: str, seq: int, event: Event) -> Op:
        raise NotImplementedError

    async def append(self, session_id: str, event: Event) -> int:
        """Write one event now (the runtime batches its own writes with `event_op` and `write`)."""
        seq = await self.next_seq(session_id)
        await self.write([self.event_op(session_id, seq, event)])
        return seq

    def write(self, ops: list[Op], lazy: bool = False) -> asyncio.Future[None]:
        """Queue statements for the next commit; the future is done once they are on disk (StoreError if not).
        `lazy`: no commit of their own; they go with the next one, at most LAZY_SECONDS from now."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if lazy:
            self._lazy.append((ops, done))
            if self._lazy_timer is None:
                self._lazy_timer = loop.call_later(self.LAZY_SECONDS, self._wake.set)
        else:
            self._queue.append((ops, done))
            self._wake.set()
        return done

    def unwritten(self) -> list[asyncio.Future[None]]:
        """The futures of everything queued or being committed now (not lazy writes)."""
        return [f for f in self._committing if not f.done()] + [f for _, f in self._queue]

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
            lazy, batch, self._queue, self._lazy = self._lazy, self._lazy + self._queue, [], []
            if self._lazy_timer is not None:
                self._lazy_timer.cancel()
                self._lazy_timer = None
            if not batch:
                continue
            self._committing = [done for _, done in batch]
            try:
                await self._commit([op for ops, _ in batch for op in ops])
            except self._errors as exc:
                log.error("could not write to %s: %s", self.path, exc)
                # What was queued meanwhile may build on what failed (the next event of the same session):
                # it fails too, and its senders are told to try again.
                ordered, self._queue = batch[len(lazy):] + self._queue, []
                self._seq.clear()  # read again from the disk: the queued numbers were not written
                _settle(ordered, exc)
                if lazy and len(lazy) < len(batch):
                    # Bookkeeping builds on nothing (a post's ref, a delivery id): it is not lost with an event
                    # it happened to ride with, but goes again on its own (and with nothing else, so a bad
                    # value of its own cannot sink the next event's commit too).
                    _settle(lazy, await self._commit_alone(lazy))
                else:
                    _settle(lazy, exc)
                continue
            _settle(batch, None)

    async def _commit_alone(self, writes: list[tuple[list[Op], asyncio.Future[None]]]) -> BaseException | None:
        try:
            await self._commit([op for ops, _ in writes for op in ops])
        except self._errors as exc:
            log.error("could not write to %s: %s", self.path, exc)
            return exc
        return None


def _settle(writes: list[tuple[list[Op], asyncio.Future[None]]], error: BaseException | None) -> None:
    for _, done in writes:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(StoreError(str(error)))
            done.exception()  # the error is logged here; a write nobody waits for need not be reported again


async def open_store(database: Settings | Path | str, exclusive: bool = True) -> EventStore:
    """The store the setting names: `postgresql://...` (or `postgres://`) opens PostgreSQL, anything else is the
    path of an SQLite file (refused if another bot process has it open; `exclusive=False` for a short job beside
    the bot, such as `facilitator purge`)."""
    if not isinstance(database, Path | str):
        database = database.database
    if is_postgres(database):
        from bot.pgstore import PgStore

        return await PgStore.open(str(database))
    from bot.store import Store

    return await Store.open(database, exclusive=exclusive)
