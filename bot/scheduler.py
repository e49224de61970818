"""Phase timers. The engine keeps the pending timers in the session, so after a restart the runtime
re-arms them from state; a timer whose time passed while the process was down fires at once."""

from __future__ import annotations

import heapq
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler

Fire = Callable[[str, str], Awaitable[None]]  # (session_id, timer_id)


class Timers(Protocol):
    def start(self, fire: Fire) -> None: ...
    def arm(self, session_id: str, timer_id: str, fire_at: datetime) -> None: ...
    def cancel(self, timer_id: str) -> None: ...
    def shutdown(self) -> None: ...


class AsyncTimers:
    """APScheduler's AsyncIOScheduler with an in-memory job store: the event log is the durable copy."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler()
        self._fire: Fire | None = None

    def start(self, fire: Fire) -> None:
        self._fire = fire
        self._scheduler.start()

    def arm(self, session_id: str, timer_id: str, fire_at: datetime) -> None:
        # misfire_grace_time=None: a late timer still fires (APScheduler's default would skip it).
        self._scheduler.add_job(
            self._run, "date", run_date=fire_at, args=[session_id, timer_id], id=timer_id,
            replace_existing=True, misfire_grace_time=None,
        )

    async def _run(self, session_id: str, timer_id: str) -> None:
        assert self._fire is not None
        await self._fire(session_id, timer_id)

    def cancel(self, timer_id: str) -> None:
        if self._scheduler.get_job(timer_id):
            self._scheduler.remove_job(timer_id)

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)


class VirtualTimers:
    """Timers on a simulated clock, for `facilitator simulate`: the driver asks what is due next."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str, str]] = []
        self._live: dict[str, datetime] = {}

    def start(self, fire: Fire) -> None:
        pass

    def arm(self, session_id: str, timer_id: str, fire_at: datetime) -> None:
        self._live[timer_id] = fire_at
        heapq.heappush(self._heap, (fire_at, timer_id, session_id))

    def cancel(self, timer_id: str) -> None:
        self._live.pop(timer_id, None)

    def next_due(self) -> tuple[datetime, str, str] | None:
        """The earliest live timer as (time, session_id, timer_id), removed from the queue."""
        while self._heap:
            at, timer_id, session_id = heapq.heappop(self._heap)
            if self._live.get(timer_id) == at:
                del self._live[timer_id]
                return at, session_id, timer_id
        return None

    def shutdown(self) -> None:
        self._heap.clear()
        self._live.clear()
