"""Several bot processes on one PostgreSQL store: how one process's working state stays fresh, and how the work
of a process that died is taken over. Only used when the store is shared (`store.shared`); SQLite has one
process and none of this runs.

- Before an event is applied, the runtime holds the session's advisory lock and applies the events other
  processes committed since its own last one (`catch_up`): one writer per session, one order of events.
- Before an inbound message is routed, the sessions other processes started are loaded, and those they moved
  on are caught up when this process's view cannot route the message (`freshen`); a reply to a post another
  process made finds its session by the post's ref in the store.
- Every SWEEP_SECONDS (and whenever a local timer falls due), `SharedWork` claims what no live process owes:
  outbox entries of a process that stopped heartbeating (sent by this one, looking first where an attempt may
  have reached the platform) and due timers (fired here, once: a fired timer is gone from the session's state
  for whichever process comes next). See docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from adapters.base import ActionSubmitted, CommandIssued, Inbound, UserMessage
from bot import commands
from bot.delivery import EFFECT, Entry
from bot.outcomes import platform_ref
from facilitation import engine
from facilitation.effects import StartTimer

if TYPE_CHECKING:
    from bot.pgstore import PgStore
    from bot.runtime import Runtime

log = logging.getLogger("facilitator.shared")

SWEEP_SECONDS = 1.0


async def catch_up(rt: Runtime, session_id: str, locked: bool = False) -> None:
    """Bring the session's working state up to the last event committed by any process (the caller holds the
    session's locks; `locked`: its advisory lock too, so there is only something to read when that lock was
    taken afresh). A session this process has not loaded yet, or whose state is in doubt, is loaded whole."""
    state = rt.sessions.get(session_id)
    if locked and not rt.store.lock_is_new(session_id) and state is not None:  # type: ignore[attr-defined]
        if session_id in rt._dirty:
            await rt._load(session_id)
        return
    if state is None or session_id in rt._dirty:
        await rt._load(session_id)
        return
    store: PgStore = rt.store  # type: ignore[assignment]
    tail, skip, refs = await store.tail(session_id, after=rt._seq.get(session_id, 0))
    for n, event in tail:
        if n in skip:
            continue
        try:
            state, effects = engine.apply(state, event, rt.cfg)
        except Exception:  # noqa: BLE001 - rebuilt from the store, which sets a bad event aside
            rt._dirty.add(session_id)
            await rt._load(session_id)
            return
        for effect in effects:  # a local wake-up only: the timer's row is what counts
            if isinstance(effect, StartTimer):
                rt.timers.arm(session_id, effect.timer_id, effect.fire_at)
        rt._seq[session_id] = n
    if state is not None:
        rt.sessions[session_id] = state
    for key, outcome in refs.items():
        rt._refs.setdefault(session_id, {}).setdefault(key, outcome)
        if (ref := platform_ref(outcome)) is not None:
            rt._index_ref(session_id, key, ref)


async def sync_sessions(rt: Runtime) -> None:
    """Load the open sessions other processes started and catch up those they moved on."""
    store: PgStore = rt.store  # type: ignore[assignment]
    announced = set(store.started)
    for session_id, last in (await store.heads()).items():
        if session_id in rt.sessions and rt._seq.get(session_id, 0) >= last:
            continue
        # An event of it being applied here now catches up first: wait for that rather than route on the view
        # from before it (several DMs at once from people who joined through another process).
        async with rt._lock(session_id):
            if session_id not in rt.sessions or rt._seq.get(session_id, 0) < last:
                await catch_up(rt, session_id)
    store.started -= announced


async def freshen(rt: Runtime, inbound: Inbound) -> None:
    """What routing an inbound message needs to know of the other processes' work. Sessions another process
    started (it announces them as they are committed) are loaded; the ones it only moved on are caught up here
    only when this process's view cannot route the message (say, a person who joined there): an event is
    applied after catching up on its session anyway, under its lock, so reading every session's head for every
    message would cost a round trip that grows with the number of open sessions. The sweep catches up on all of
    them every SWEEP_SECONDS as well (an announcement lost with a dropped connection costs at most that)."""
    store: PgStore = rt.store  # type: ignore[assignment]
    # The post replied to, and the place a command or button came from (it may be a pair space); a DM that
    # replies to nothing is routed by who sent it.
    wanted = {getattr(inbound, "reply_to_ref", None)}
    if not isinstance(inbound, UserMessage) and rt._running_in(inbound.channel) is None:
        wanted.add(inbound.channel)
    for ref in wanted:
        if ref and ref not in rt._by_ref:
            for session_id, key in await store.keys_of_ref(ref):
                rt._index_ref(session_id, key, ref)
    if any(session_id not in rt.sessions for session_id in store.started) or not _routes_here(rt, inbound):
        await sync_sessions(rt)


def _routes_here(rt: Runtime, inbound: Inbound) -> bool:
    """Whether this process's view of the sessions finds where the message goes."""
    if isinstance(inbound, UserMessage):
        if inbound.reply_to_ref:
            return inbound.reply_to_ref in rt._by_ref
        return not inbound.private or not isinstance(
            rt._session_for_private_message(inbound.person.id, inbound.channel), str)
    if isinstance(inbound, CommandIssued):
        if commands.split(inbound.text)[0] == "start":  # whether one runs here already
            return False
        return (rt._running_in(inbound.channel) or rt._running_with_space(inbound.channel)
                or (inbound.private and rt._only_session_of(inbound.person.id))) is not None
    if isinstance(inbound, ActionSubmitted):
        return inbound.session_id in rt.sessions
    return True  # edits and deletions are found by the message's ref in the store


@contextlib.asynccontextmanager
async def starting(rt: Runtime, channel: str) -> AsyncIterator[None]:
    """A session being started in `channel`: one process at a time, each first loading what the others started,
    so two `start`s at once on two processes give one session and the second is told it runs already."""
    store: PgStore = rt.store  # type: ignore[assignment]
    async with store.channel_lock(channel):
        await sync_sessions(rt)
        yield


async def claim_failed(rt: Runtime, session_id: str) -> None:
    """Before `retry`: the session's posts that failed for good, in this process or another, become this one's
    to send again, each claimed by one process only (so `retry` given to two sends it once); what another
    process claimed is no longer held here."""
    store: PgStore = rt.store  # type: ignore[assignment]
    await store.flush()  # this process's own failures are in the store before it claims
    rows = await store.claim_failed(session_id)
    claimed = {row[0] for row in rows}
    held = {entry.key for entry in rt.deliveries.failed(session_id)}
    for key in held - claimed:
        rt.deliveries.let_go(session_id, key)
    channel = rt.sessions[session_id].channel
    for key, effect_json, after, _, first_try in rows:
        if key not in held:
            rt.deliveries.hold(Entry(session_id, channel, EFFECT.validate_json(effect_json), after=after,
                                     first_try=first_try))


async def failed_in(rt: Runtime, channel: str) -> set[str]:
    """The sessions of `channel` that owe posts which failed, in any process (for `retry` there)."""
    store: PgStore = rt.store  # type: ignore[assignment]
    return await store.failed_in(channel)


class SharedWork:
    """The sweep that takes over what no live process owes: orphaned outbox entries and due timers."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.store: PgStore = rt.store  # type: ignore[assignment]
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def wake(self) -> None:
        self._wake.set()

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - the database may be back at the next sweep
                log.exception("sweeping shared work failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), SWEEP_SECONDS)

    async def sweep(self) -> None:
        rt = self.rt
        await sync_sessions(rt)
        taken: list[Entry] = []
        for session_id, rows in (await self.store.claim_orphans()).items():
            state = rt.sessions.get(session_id)
            if state is None:
                continue
            for key, effect_json, after, status, first_try in rows:
                entry = Entry(session_id, state.channel, EFFECT.validate_json(effect_json), after=after,
                              first_try=first_try)
                ref = rt._refs.get(session_id, {}).get(key)
                if status == "failed":
                    rt.deliveries.hold(entry)
                elif ref is None:
                    taken.append(entry)
                else:  # delivered, but its owner died before saying so
                    self.store.write(self.store.delivered_ops(session_id, key, ref), lazy=True)
        if taken:
            log.info("took over %d posts of a process that stopped", len(taken))
            rt.deliveries.submit(taken, older=True)
        for session_id, timer_id, fire_at in await self.store.claim_due_timers():
            await rt.fire_timer(session_id, timer_id, claimed=True)
            await self.store.timer_done(session_id, timer_id, fire_at)
