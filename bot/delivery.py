"""Delivery: the outbox's effects carried out outside the session's lock, in parallel per destination.

Each effect goes into the lane of the place it appears in (the channel, a thread, one person's DM, a pair
space). A lane delivers in order, one effect at a time, so a phase's announcement comes before its prompts in
the same place; lanes run side by side, so a person's answer never waits behind a fan-out elsewhere. A thread
post waits for the post it hangs under, a pair's posts for their space, and whatever an event says after
publishing the note waits for the note.

The platform is given a key that is the same on every attempt and after a restart (`adapters.base.DELIVERING`),
and is asked to look before it sends again when an earlier attempt may have reached it. Failures that may pass
(429s past what the adapter waits out itself, 5xx, dropped connections) are retried for up to GIVE_UP_SECONDS;
a lasting one (a missing permission, a deleted channel, or that long without success) is reported to the
facilitator with the `retry` command, and the entry stays in the outbox until it is sent. See docs/delivery.md.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pydantic import TypeAdapter

from adapters.base import DELIVERING, Adapter, Delivering, DeliveryError, Target
from bot.storage import EventStore
from bot.store import FAILED
from facilitation.effects import DeliverNote, Effect, OpenPairSpace, Post, PostChart, PublishNote

log = logging.getLogger("facilitator.delivery")

EFFECT: TypeAdapter[Effect] = TypeAdapter(Effect)

GIVE_UP_SECONDS = 600.0  # a failure that lasts this long is reported, not retried on its own any more
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0
MEMBERS = "members:"  # the ref recorded for a pair with no space of its own: its members, to reach privately
BLOCKED = "!blocked"  # what waits on an effect that failed is held back with it


@dataclass
class Entry:
    session_id: str
    channel: str
    effect: Effect
    after: str | None = None  # key of an effect of the same session that must be delivered first
    first_try: float | None = None  # when the first attempt began; set: it may have reached the platform
    committed: asyncio.Future[None] | None = None  # the commit of its event; None: on disk already
    # The context the adapter call runs in: a copy of the inbound call's for the answer to its sender (a
    # Discord interaction is answered in place); None, an empty one, for everything else.
    context: contextvars.Context | None = None
    # The inbound call's context for reports about this entry: a facilitator who just pressed `next` hears of a
    # missing permission where they pressed it.
    origin: contextvars.Context | None = None
    done: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    @property
    def key(self) -> str:
        return self.effect.key


Report = Callable[[Entry, str, bool], Awaitable[None]]  # entry, why, held for `retry`; run in entry.origin
Delivered = Callable[[Entry, str], None]
NotePage = Callable[[DeliverNote], str | None]  # the note as an HTML page (None: send the note without it)


class Deliveries:
    def __init__(self, adapter: Adapter, store: EventStore, refs: dict[str, dict[str, str]], report: Report,
                 delivered: Delivered, note_page: NotePage | None = None, parallel: int = 32) -> None:
        self.adapter = adapter
        self.store = store
        self.refs = refs  # the runtime's: session -> effect key -> platform ref
        self.report = report
        self.delivered = delivered
        self.note_page = note_page
        # Only a platform that can find a post it may already have (Slack, Discord) gains from the disk sync
        # that marks an entry as being sent; for the console it would be a sync per post for nothing.
        self.marks_attempts = bool(getattr(adapter, "finds_earlier_posts", False))
        self.give_up_after = GIVE_UP_SECONDS
        self._lanes: dict[str, deque[Entry]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._pending: dict[tuple[str, str], Entry] = {}  # (session, key) -> entry not yet delivered
        self._failed: dict[tuple[str, str], Entry] = {}  # held until `retry`
        self._by_session: dict[str, int] = {}
        self._quiet: dict[str, asyncio.Event] = {}
        self._calls = asyncio.Semaphore(parallel)  # a bound on adapter calls in flight at once

    # --- queueing -------------------------------------------------------------------------------

    def submit(self, entries: list[Entry]) -> None:
        """Queue entries in the order given; each is delivered once its event's commit is on disk (and
        dropped if that commit fails). Lanes run in empty contexts: an inbound call's context (a Discord
        interaction being answered) reaches only the entries that carry it."""
        for entry in entries:
            self._pending[(entry.session_id, entry.key)] = entry
            self._by_session[entry.session_id] = self._by_session.get(entry.session_id, 0) + 1
            self._quiet.setdefault(entry.session_id, asyncio.Event()).clear()
            lane = self._lane_of(entry)
            self._lanes.setdefault(lane, deque()).append(entry)
            if lane not in self._tasks:
                self._tasks[lane] = asyncio.create_task(self._run(lane), context=contextvars.Context())

    def pending(self, session_id: str) -> int:
        return self._by_session.get(session_id, 0)

    @property
    def idle(self) -> bool:
        return not self._tasks

    async def settled(self, session_id: str) -> None:
        """Wait until every entry of the session queued so far was delivered (or failed and is held)."""
        if self.pending(session_id):
            await self._quiet[session_id].wait()

    async def drained(self) -> None:
        """Wait until no lane has anything left to send."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    def failed(self, session_id: str) -> list[Entry]:
        return [e for (sid, _), e in self._failed.items() if sid == session_id]

    def hold(self, entry: Entry) -> None:
        """An entry that failed before a restart: held for `retry`, as it was."""
        self.refs.setdefault(entry.session_id, {})[entry.key] = FAILED
        self._failed[(entry.session_id, entry.key)] = entry

    def retry(self, session_id: str) -> int:
        """Queue again what failed in this session (and what waited on it); the number of entries."""
        again = self.failed(session_id)
        for entry in again:
            del self._failed[(session_id, entry.key)]
            self.refs.get(session_id, {}).pop(entry.key, None)
            entry.done = asyncio.get_running_loop().create_future()
            entry.committed = None
            entry.context = entry.origin = None
        self.submit(again)
        return len(again)

    async def stop(self) -> None:
        """Stop delivering; what was not delivered stays in the outbox for the next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    # --- lanes ----------------------------------------------------------------------------------

    @staticmethod
    def _lane_of(entry: Entry) -> str:
        effect, sid = entry.effect, entry.session_id
        if isinstance(effect, Post):
            aud = effect.audience
            if aud.kind == "thread":
                return f"{entry.channel}/{sid}/thread/{aud.anchor}"
            if aud.kind == "private":
                return f"person/{aud.person}"
            if aud.kind == "pair":
                return f"{sid}/pair/{aud.pair_id}"
            return entry.channel
        if isinstance(effect, OpenPairSpace):
            return f"{sid}/pair/{effect.pair_id}"
        if isinstance(effect, PostChart) and effect.audience.kind == "thread":
            return f"{entry.channel}/{sid}/thread/{effect.audience.anchor}"
        if isinstance(effect, DeliverNote):
            return f"person/{effect.convenor.id}"
        return entry.channel

    async def _run(self, lane: str) -> None:
        queue = self._lanes[lane]
        try:
            while queue:
                entry = queue[0]
                if entry.committed is not None:
                    try:
                        await asyncio.shield(entry.committed)
                    except Exception:  # noqa: BLE001 - its event was not saved, so it never happened
                        self._drop(entry)
                        queue.popleft()
                        continue
                await self._deliver(entry)
                queue.popleft()
        finally:
            if not queue:
                self._lanes.pop(lane, None)
            self._tasks.pop(lane, None)

    async def _waited_ref(self, session_id: str, key: str | None) -> str | None:
        """The ref of an effect this one depends on, once it is delivered; None if there is no such effect."""
        if not key:
            return None
        entry = self._pending.get((session_id, key))
        if entry is not None:
            return await asyncio.shield(entry.done)
        ref = self.refs.get(session_id, {}).get(key)
        if ref is None and self.store.shared:  # another process may owe it (PostgreSQL): wait for its ref there
            ref = await self.store.wait_ref(session_id, key)  # type: ignore[attr-defined]
            if ref is not None:
                self.refs.setdefault(session_id, {})[key] = ref
        return ref

    async def _deliver(self, entry: Entry) -> None:
        sid, key = entry.session_id, entry.key
        if entry.after and (await self._waited_ref(sid, entry.after)) in (FAILED, BLOCKED):
            # Held with what it waits on (the convenor is not told "posted" while the note is not).
            self._finish(entry, BLOCKED, held=True)
            return
        backoff = FIRST_BACKOFF
        started = time.time()
        while True:
            maybe_sent = entry.first_try is not None
            if entry.first_try is None:
                entry.first_try = time.time()
                if self.marks_attempts:  # on disk before the platform can have it: after a crash, look first
                    try:
                        await self.store.write([self.store.trying_op(sid, key, entry.first_try)])
                    except Exception:  # noqa: BLE001 - the attempt is still worth making
                        log.warning("session %s: could not mark %s as being sent", sid, key)
            doing = Delivering(key=f"{sid}/{key}", maybe_sent=maybe_sent, since=entry.first_try)
            try:
                async with self._calls:
                    context = (entry.context or contextvars.Context()).copy()
                    ref = await asyncio.create_task(self._attempt(entry, doing), context=context)
            except DeliveryError as exc:
                if exc.ref is not None:  # it went through, in a fallback the facilitator should know of
                    self._finish(entry, exc.ref)
                    await self._report(entry, exc.message, False)
                    return
                if exc.lasting or time.time() - started > self.give_up_after:
                    await self._fail(entry, exc.message)
                    return
                why = exc.message
            except Exception as exc:  # noqa: BLE001 - 5xx, dropped connections, 429s past the adapter's waits
                if time.time() - started > self.give_up_after:
                    await self._fail(entry, _describe(exc))
                    return
                why = _describe(exc)
            else:
                self._finish(entry, ref)
                return
            log.warning("session %s: %s not delivered yet (%s); trying again in %.1f s", sid, key, why, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _attempt(self, entry: Entry, doing: Delivering) -> str:
        DELIVERING.set(doing)
        return await self._carry_out(entry)

    async def _fail(self, entry: Entry, why: str) -> None:
        """A lasting failure: recorded as failed (so what depends on it falls back or waits), the facilitator
        is told what and why, and the entry is held for `retry`."""
        pair_fallback = isinstance(entry.effect, OpenPairSpace)
        ref = MEMBERS + ",".join(m.id for m in entry.effect.members) if pair_fallback else FAILED  # type: ignore[union-attr]
        log.error("session %s: %s failed: %s", entry.session_id, entry.key, why)
        self.store.write([self.store.failed_op(entry.session_id, entry.key, why)])
        self._finish(entry, ref, held=not pair_fallback)
        await self._report(entry, why, not pair_fallback)

    async def _report(self, entry: Entry, why: str, held: bool) -> None:
        context = (entry.origin or contextvars.Context()).copy()
        await asyncio.create_task(self.report(entry, why, held), context=context)

    def _finish(self, entry: Entry, ref: str, held: bool = False) -> None:
        sid, key = entry.session_id, entry.key
        self.refs.setdefault(sid, {})[key] = ref
        if held:
            self._failed[(sid, key)] = entry
        else:
            # With the next commit (an event's, or within LAZY_SECONDS): a post never waits on the disk.
            self.store.write(self.store.delivered_ops(sid, key, ref), lazy=True)
        self._settle(entry, ref)
        self.delivered(entry, ref)

    def _drop(self, entry: Entry) -> None:
        self._settle(entry, FAILED)

    def _settle(self, entry: Entry, ref: str) -> None:
        sid, key = entry.session_id, entry.key
        if self._pending.get((sid, key)) is entry:
            del self._pending[(sid, key)]
        if not entry.done.done():
            entry.done.set_result(ref)
        self._by_session[sid] -= 1
        if not self._by_session[sid]:
            self._quiet[sid].set()

    # --- the adapter calls ---------------------------------------------------------------------

    async def _carry_out(self, entry: Entry) -> str:
        a, effect, sid, channel = self.adapter, entry.effect, entry.session_id, entry.channel
        if isinstance(effect, Post):
            aud = effect.audience
            if aud.kind == "thread":
                target = Target(kind="thread", ref=await self._waited_ref(sid, aud.anchor))
                if target.ref in (None, FAILED, BLOCKED):
                    target = Target(kind="channel")
            elif aud.kind == "private":
                target = Target(kind="private", ref=aud.person)
            elif aud.kind == "pair":
                space = await self._waited_ref(sid, f"pair:{aud.pair_id}") or FAILED
                if space.startswith(MEMBERS):  # no pair space could be made: each member hears privately
                    first = ""
                    for person in space[len(MEMBERS):].split(","):
                        ref = await a.post(channel, Target(kind="private", ref=person), effect.text,
                                           effect.actions, sid)
                        first = first or ref
                    return first
                target = Target(kind="pair", ref=space) if space not in (FAILED, BLOCKED) else Target(kind="channel")
            else:
                target = Target(kind="channel")
            return await a.post(channel, target, effect.text, effect.actions, sid)
        if isinstance(effect, OpenPairSpace):
            return await a.open_pair_space(channel, effect.pair_id, effect.title, effect.members, sid)
        if isinstance(effect, DeliverNote):
            html = await asyncio.to_thread(self.note_page, effect) if self.note_page else None
            return await a.deliver_note(channel, effect.convenor, effect.title, effect.markdown,
                                        effect.json_text, effect.actions, sid, html=html)
        if isinstance(effect, PostChart):
            anchor = await self._waited_ref(sid, effect.audience.anchor) if effect.audience.kind == "thread" else None
            target = Target(kind="thread", ref=anchor) if anchor not in (None, FAILED, BLOCKED) else Target(
                kind="channel")
            png = await asyncio.to_thread(_chart_png, effect)
            return await a.post_image(channel, target, "ranking.png", png, effect.title, effect.alt, sid)
        if isinstance(effect, PublishNote):
            return await a.publish_note(channel, effect.title, effect.markdown, sid)
        raise TypeError(f"not an effect to deliver: {effect!r}")


def _chart_png(effect: PostChart) -> bytes:
    from bot.note_page import ranking_chart  # matplotlib loads only when a chart is drawn

    return ranking_chart(effect.title, [(b.label, b.value) for b in effect.bars], "png")


def describe(effect: Effect) -> str:
    """What an effect is, for the facilitator's failure message."""
    if isinstance(effect, PublishNote):
        return "the round-up note (to the channel)"
    if isinstance(effect, DeliverNote):
        return "the draft round-up note (to the convenor)"
    if isinstance(effect, OpenPairSpace):
        return f"the space for pair {effect.pair_id}"
    if isinstance(effect, PostChart):
        return "the ranking chart"
    if isinstance(effect, Post):
        first = effect.text.strip().splitlines()[0] if effect.text.strip() else ""
        return f"the message \u201c{first[:60]}\u201d"
    return effect.type


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__
