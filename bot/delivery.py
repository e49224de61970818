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
import contextlib
import contextvars
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

from pydantic import TypeAdapter

from adapters.base import DELIVERING, Adapter, Batching, Delivering, DeliveryError, NotDelivered, Part, Target
from bot.outcomes import BLOCKED, FAILED, SKIPPED, Made, Outcome, ReachedPrivately, platform_ref
from bot.storage import EventStore
from facilitation.effects import Audience, DeliverNote, Effect, OpenPairSpace, Post, PostChart, PublishNote

log = logging.getLogger("facilitator.delivery")

EFFECT: TypeAdapter[Effect] = TypeAdapter(Effect)

GIVE_UP_SECONDS = 600.0  # a failure that lasts this long is reported, not retried on its own any more
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0


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
    # Delivered by the caller of `apply` itself once its commit is on disk (`deliver_own`), not by a lane task:
    # the sender's answer into an idle lane, which needs no task of its own (50 answers at once: no 100 tasks).
    inline: bool = False
    # The store's lease epoch in which this process last knew the entry to be its own (PostgreSQL): after a gap
    # in its heartbeats another process may have taken it over (`_given_away`).
    epoch: int = 0
    done: asyncio.Future[Outcome] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    @property
    def key(self) -> str:
        return self.effect.key


Report = Callable[[Entry, str, bool], Awaitable[None]]  # entry, why, held for `retry`; run in entry.origin
Delivered = Callable[[Entry, Outcome], None]
NotePage = Callable[[DeliverNote], str | None]  # the note as an HTML page (None: send the note without it)


class Deliveries:
    def __init__(self, adapter: Adapter, store: EventStore, refs: dict[str, dict[str, Outcome]], report: Report,
                 delivered: Delivered, note_page: NotePage | None = None, parallel: int = 32) -> None:
        self.adapter = adapter
        self.store = store
        self.refs = refs  # the runtime's: session -> effect key -> what became of it
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
        self._inline: dict[str, object] = {}  # lane -> the commit whose caller delivers it (see Entry.inline)
        self._by_session: dict[str, int] = {}
        self._quiet: dict[str, asyncio.Event] = {}
        self._calls = asyncio.Semaphore(parallel)  # a bound on adapter calls in flight at once
        self._delivering: dict[str, int] = {}  # lane -> entries at its head being delivered now
        self._jumped: dict[str, asyncio.Event] = {}  # lane -> set when older entries were put in front

    # --- queueing -------------------------------------------------------------------------------

    def submit(self, entries: list[Entry], older: bool = False) -> None:
        """Queue entries in the order given; each is delivered once its event's commit is on disk (and
        dropped if that commit fails). Lanes run in empty contexts: an inbound call's context (a Discord
        interaction being answered) reaches only the entries that carry it.
        `older`: entries of earlier events, taken over from a process that died (bot/shared.py): they go
        before what this process queued since, in each lane, and a head waiting for one of them (an intro in
        a pair space it was to open) lets it go first."""
        at: dict[str, int] = {}  # lane -> where the next older entry goes
        epoch = self._epoch()
        for entry in entries:
            entry.epoch = epoch
            self._pending[(entry.session_id, entry.key)] = entry
            self._by_session[entry.session_id] = self._by_session.get(entry.session_id, 0) + 1
            self._quiet.setdefault(entry.session_id, asyncio.Event()).clear()
            lane = self._lane_of(entry)
            queue = self._lanes.setdefault(lane, deque())
            if older:
                if lane not in at:  # behind what is being delivered now, in front of the rest
                    at[lane] = self._delivering.get(lane, 0) if lane in self._tasks else \
                        next((n for n, e in enumerate(queue) if not e.inline), len(queue))
                queue.insert(at[lane], entry)
                at[lane] += 1
                self._jumped.setdefault(lane, asyncio.Event()).set()
                if lane not in self._tasks and lane not in self._inline:
                    self._start(lane)
                continue
            owner = self._inline.get(lane)
            # The sender's answer into a lane with nothing before it (or only this event's own answers): its
            # caller delivers it after the commit. Anything queued behind waits for that, then gets a task.
            entry.inline = entry.context is not None and entry.committed is not None and lane not in self._tasks \
                and (not queue if owner is None else owner is entry.committed and queue[-1].inline)
            queue.append(entry)
            if entry.inline:
                self._inline[lane] = entry.committed
            elif lane not in self._tasks and lane not in self._inline:
                self._start(lane)

    def _start(self, lane: str) -> None:
        self._tasks[lane] = asyncio.create_task(self._run(lane), context=contextvars.Context())

    async def deliver_own(self, entries: list[Entry]) -> None:
        """Deliver, in the calling task, the entries `submit` left to it (Entry.inline), once their commit is
        done (dropped if it failed); then hand what queued behind them to a lane task."""
        mine = {id(e) for e in entries if e.inline}
        for lane in dict.fromkeys(self._lane_of(e) for e in entries if e.inline):
            queue = self._lanes[lane]
            try:
                while queue and id(queue[0]) in mine:
                    entry = queue[0]
                    committed = entry.committed
                    if committed is not None and (not committed.done() or committed.exception() is not None):
                        self._drop(entry)  # its event was not saved, so it never happened
                    else:
                        await self._deliver([entry])
                    queue.popleft()
            finally:
                del self._inline[lane]
                if queue:
                    self._start(lane)
                else:
                    self._lanes.pop(lane, None)

    def _epoch(self) -> int:
        """The lease epoch now; -1 while the lease is not held (or the store has none to hold)."""
        store = self.store
        return store.lease_epoch if store.shared and store.holds_lease() else -1  # type: ignore[attr-defined]

    def pending(self, session_id: str) -> int:
        return self._by_session.get(session_id, 0)

    @property
    def idle(self) -> bool:
        return not self._tasks and not self._inline

    async def settled(self, session_id: str) -> None:
        """Wait until every entry of the session queued so far was delivered (or failed and is held)."""
        if self.pending(session_id):
            await self._quiet[session_id].wait()

    async def drained(self) -> None:
        """Wait until no lane has anything left to send."""
        while self._tasks or self._inline:
            if self._tasks:
                await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
            else:  # the callers delivering their own answers finish them
                await asyncio.sleep(0.01)

    def failed(self, session_id: str) -> list[Entry]:
        return [e for (sid, _), e in self._failed.items() if sid == session_id]

    def hold(self, entry: Entry) -> None:
        """An entry that failed before a restart: held for `retry`, as it was."""
        self.refs.setdefault(entry.session_id, {})[entry.key] = FAILED
        self._failed[(entry.session_id, entry.key)] = entry

    def let_go(self, session_id: str, key: str) -> None:
        """A held entry that another process took to send again (its `retry`): no longer this one's."""
        self._failed.pop((session_id, key), None)
        self.refs.get(session_id, {}).pop(key, None)

    def retry(self, session_id: str) -> int:
        """Queue again what failed in this session (and what waited on it); the number of entries."""
        again = self.failed(session_id)
        for entry in again:
            del self._failed[(session_id, entry.key)]
            self.refs.get(session_id, {}).pop(entry.key, None)
            entry.done = asyncio.get_running_loop().create_future()
            entry.committed = None
            entry.context = entry.origin = None
            entry.inline = False
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
        jumped = self._jumped.setdefault(lane, asyncio.Event())
        try:
            while queue:
                jumped.clear()
                entry = queue[0]
                committed = entry.committed
                if committed is not None and not committed.done():
                    with contextlib.suppress(Exception):  # looked at below
                        await asyncio.shield(committed)
                    continue  # the head again: older entries may have been put in front meanwhile
                if committed is not None and (committed.cancelled() or committed.exception() is not None):
                    self._drop(entry)  # its event was not saved, so it never happened
                    queue.popleft()
                    continue
                if not await self._ready(entry, jumped):
                    continue
                group = self._batch(queue)
                self._delivering[lane] = len(group)
                try:
                    await self._deliver(group)
                finally:
                    del self._delivering[lane]
                for _ in group:
                    queue.popleft()
        finally:
            if not queue:
                self._lanes.pop(lane, None)
                self._jumped.pop(lane, None)
            self._tasks.pop(lane, None)

    async def _ready(self, entry: Entry, jumped: asyncio.Event) -> bool:
        """Wait, before it is delivered, for what the entry hangs on that another process owes (PostgreSQL);
        False if older entries were put in front of it meanwhile, which go first. What this process owes
        itself is waited for in `_deliver`: it is ahead in its lane, or in another lane."""
        if not self.store.shared:
            return True
        sid = entry.session_id
        for key in _hangs_on(entry.effect, entry.after):
            if (sid, key) in self._pending or key in self.refs.get(sid, {}):
                continue
            owed = asyncio.ensure_future(self.store.wait_ref(sid, key))  # type: ignore[attr-defined]
            overtaken = asyncio.ensure_future(jumped.wait())
            try:
                await asyncio.wait((owed, overtaken), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in (owed, overtaken):
                    waiting.cancel()
            if not owed.done() or owed.cancelled():
                return False
            if (error := owed.exception()) is not None:  # the database out of reach: ask again in a moment
                log.warning("session %s: cannot learn whether %s was delivered (%s)", sid, key, _describe(error))
                await asyncio.sleep(FIRST_BACKOFF)
                return False
            if (ref := owed.result()) is not None:
                self.refs.setdefault(sid, {})[key] = ref
        return True

    def _batch(self, queue: deque[Entry]) -> list[Entry]:
        """The head of the lane and the posts after it that share its message: consecutive posts of its batch (of
        one event, to the same place), as many as the platform fits in one message. The same entries make the
        same message after a restart, so the message is found by its key rather than sent again."""
        head = queue[0]
        fits = getattr(self.adapter, "parts_fit", None)
        first = head.effect
        if fits is None or not isinstance(first, Post) or first.batch is None or head.after \
                or first.audience.kind not in ("thread", "channel"):
            return [head]
        group = [head]
        for entry in itertools.islice(queue, 1, None):
            e = entry.effect
            if not (isinstance(e, Post) and e.batch == first.batch and e.audience == first.audience
                    and entry.session_id == head.session_id and entry.committed is head.committed
                    and not entry.after):
                break
            group.append(entry)
        return group[:max(1, fits([_part(e) for e in group]))] if len(group) > 1 else group

    async def _waited(self, session_id: str, key: str | None) -> Outcome | None:
        """What became of an effect this one depends on, once it is delivered; None if there is no such effect."""
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

    async def _deliver(self, group: list[Entry]) -> None:
        """Deliver one entry, or a batch of posts that share one message (keyed by its first entry)."""
        entry = group[0]
        sid, key = entry.session_id, entry.key
        if entry.after and (await self._waited(sid, entry.after)) in (FAILED, BLOCKED):
            # Held with what it waits on (the convenor is not told "posted" while the note is not), and marked so
            # in the store, where another process's `retry` can take both (bot/shared.py).
            self.store.write([self.store.failed_op(sid, key, f"waits on {entry.after}")])
            self._finish(entry, BLOCKED, held=True)
            return
        backoff = FIRST_BACKOFF
        started = time.time()
        while True:
            if self.store.shared:
                try:
                    given = await self._given_away(group)
                except Exception as exc:  # noqa: BLE001 - the database out of reach: ask again in a moment
                    log.warning("session %s: cannot learn whether %s is still this process's to send (%s)", sid,
                                key, _describe(exc))
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                if given:
                    for each in group:
                        if not any(each is g for g in given):
                            await self._deliver([each])
                    return
            maybe_sent = entry.first_try is not None
            try:
                if entry.first_try is None:
                    await self._mark_trying(group)
                doing = Delivering(key=f"{sid}/{key}", maybe_sent=maybe_sent, since=entry.first_try or 0.0,
                                   may_send=self._fence(entry))
                async with self._calls:
                    if entry.inline:  # already in the inbound call's own task and context
                        ref = await self._attempt(group, doing)
                    else:
                        context = (entry.context or contextvars.Context()).copy()
                        ref = await asyncio.create_task(self._attempt(group, doing), context=context)
            except NotDelivered:  # the facilitator was told already
                for each in group:
                    self._finish(each, SKIPPED)
                return
            except DeliveryError as exc:
                if exc.ref is not None:  # it went through, in a fallback the facilitator should know of
                    for each in group:
                        self._finish(each, Made(exc.ref))
                    await self._report(entry, exc.message, False)
                    return
                if exc.lasting or time.time() - started > self.give_up_after:
                    await self._fail(group, exc.message)
                    return
                why = exc.message
            except Exception as exc:  # noqa: BLE001 - 5xx, dropped connections, 429s past the adapter's waits, the
                # store out of reach
                if time.time() - started > self.give_up_after:
                    await self._fail(group, _describe(exc))
                    return
                why = _describe(exc)
            else:
                for each in group:
                    self._finish(each, Made(ref))
                return
            log.warning("session %s: %s not delivered yet (%s); trying again in %.1f s", sid, key, why, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _mark_trying(self, group: list[Entry]) -> None:
        """Before the first attempt: on disk that it may reach the platform, so that after a crash, or in the
        process that takes it over, the post is looked for before it is sent again. Not marked, not sent."""
        first_try = time.time()
        if self.marks_attempts:
            await self.store.write([self.store.trying_op(e.session_id, e.key, first_try) for e in group])
        for each in group:
            each.first_try = first_try

    async def _given_away(self, group: list[Entry]) -> list[Entry]:
        """The entries of the group another process has taken over, once this one holds its lease again: a
        gap in its heartbeats (the database out of reach) may have made it look dead. Each is settled with what
        the other process made of it, once it has; the rest are this process's, in the new epoch."""
        store = self.store
        epoch = await store.lease()  # type: ignore[attr-defined]
        stale = [e for e in group if e.epoch != epoch]
        if not stale:
            return []
        sid = group[0].session_id
        owners = await store.owners(sid, [e.key for e in stale])  # type: ignore[attr-defined]
        given = [e for e in stale if owners.get(e.key) != store.worker]  # type: ignore[attr-defined]
        for each in stale:
            each.epoch = epoch
        for each in given:
            log.info("session %s: %s was taken over by another process", sid, each.key)
            outcome = await store.wait_ref(sid, each.key)  # type: ignore[attr-defined]
            outcome = FAILED if outcome is None else outcome  # it failed there: that process tells the facilitator
            self.refs.setdefault(sid, {})[each.key] = outcome
            self._settle(each, outcome)
        return given

    def _fence(self, entry: Entry) -> Callable[[], bool] | None:
        """For the adapter, before it tries again after waiting out a 429: whether this process may still send
        the entry (its lease held, with no gap since the entry was known to be its own)."""
        store = self.store
        if not store.shared:
            return None
        return lambda: store.holds_lease() and store.lease_epoch == entry.epoch  # type: ignore[attr-defined]

    async def _attempt(self, group: list[Entry], doing: Delivering) -> str:
        token = DELIVERING.set(doing)
        try:
            if len(group) > 1:
                head = group[0]
                target = await self._thread_or_channel(head.session_id, head.effect.audience)  # type: ignore[union-attr]
                return await cast(Batching, self.adapter).post_parts(head.channel, target,
                                                                     [_part(e) for e in group], head.session_id)
            return await self._carry_out(group[0])
        finally:
            DELIVERING.reset(token)

    async def _fail(self, group: list[Entry], why: str) -> None:
        """A lasting failure: recorded as failed (so what depends on it falls back or waits), the facilitator
        is told what and why (once for a batch), and the entries are held for `retry`."""
        entry = group[0]
        pair_fallback = isinstance(entry.effect, OpenPairSpace)
        outcome: Outcome = ReachedPrivately(tuple(m.id for m in entry.effect.members)) \
            if isinstance(entry.effect, OpenPairSpace) else FAILED
        log.error("session %s: %s failed: %s", entry.session_id, entry.key, why)
        self.store.write([self.store.failed_op(e.session_id, e.key, why) for e in group])
        for each in group:
            self._finish(each, outcome, held=not pair_fallback)
        await self._report(entry, why, not pair_fallback)

    async def _report(self, entry: Entry, why: str, held: bool) -> None:
        context = (entry.origin or contextvars.Context()).copy()
        await asyncio.create_task(self.report(entry, why, held), context=context)

    def _finish(self, entry: Entry, outcome: Outcome, held: bool = False) -> None:
        sid, key = entry.session_id, entry.key
        self.refs.setdefault(sid, {})[key] = outcome
        if held:
            self._failed[(sid, key)] = entry
        else:
            # With the next commit (an event's, or within LAZY_SECONDS): a post never waits on the disk.
            self.store.write(self.store.delivered_ops(sid, key, outcome), lazy=True)
        self._settle(entry, outcome)
        self.delivered(entry, outcome)

    def _drop(self, entry: Entry) -> None:
        self._settle(entry, FAILED)

    def _settle(self, entry: Entry, outcome: Outcome) -> None:
        sid, key = entry.session_id, entry.key
        if self._pending.get((sid, key)) is entry:
            del self._pending[(sid, key)]
        if not entry.done.done():
            entry.done.set_result(outcome)
        self._by_session[sid] -= 1
        if not self._by_session[sid]:
            self._quiet[sid].set()

    # --- the adapter calls ---------------------------------------------------------------------

    async def _carry_out(self, entry: Entry) -> str:
        a, effect, sid, channel = self.adapter, entry.effect, entry.session_id, entry.channel
        if isinstance(effect, Post):
            aud = effect.audience
            if aud.kind == "thread":
                target = await self._thread_or_channel(sid, aud)
            elif aud.kind == "private":
                target = Target(kind="private", ref=aud.person)
            elif aud.kind == "pair":
                space = await self._waited(sid, _space_key(aud.pair_id))
                if isinstance(space, ReachedPrivately):  # no pair space could be made: each member hears privately
                    first = ""
                    for person in space.members:
                        ref = await a.post(channel, Target(kind="private", ref=person), effect.text,
                                           effect.actions, sid)
                        first = first or ref
                    return first
                made = platform_ref(space)
                target = Target(kind="pair", ref=made) if made else Target(kind="channel")
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
            target = await self._thread_or_channel(sid, effect.audience)
            png = await asyncio.to_thread(_chart_png, effect)
            return await a.post_image(channel, target, "ranking.png", png, effect.title, effect.alt, sid)
        if isinstance(effect, PublishNote):
            return await a.publish_note(channel, effect.title, effect.markdown, sid)
        raise TypeError(f"not an effect to deliver: {effect!r}")

    async def _thread_or_channel(self, session_id: str, audience: Audience) -> Target:
        """A thread audience's thread once its post is delivered (the channel if that post failed); else the
        channel."""
        if audience.kind == "thread":
            anchor = platform_ref(await self._waited(session_id, audience.anchor))
            if anchor:
                return Target(kind="thread", ref=anchor)
        return Target(kind="channel")


def _hangs_on(effect: Effect, after: str | None) -> list[str]:
    """The keys of the effects this one needs delivered first: what it waits on, its thread's post, its pair's
    space."""
    keys = [after] if after else []
    if isinstance(effect, Post | PostChart):
        if effect.audience.kind == "thread" and effect.audience.anchor:
            keys.append(effect.audience.anchor)
        elif effect.audience.kind == "pair":
            keys.append(_space_key(effect.audience.pair_id))
    return keys


def _space_key(pair_id: str | None) -> str:
    """The key of the effect that opens a pair's space (facilitation/phases/pair.py)."""
    return f"pair:{pair_id}"


def _part(entry: Entry) -> Part:
    effect = cast(Post, entry.effect)
    return Part(text=effect.text, actions=effect.actions)


def _chart_png(effect: PostChart) -> bytes:
    from bot.note_page import ranking_chart  # matplotlib loads only when a chart is drawn

    return ranking_chart(effect.title, [(b.label, b.value) for b in effect.bars], "png")


def describe(effect: Effect, say: Callable[..., str]) -> str:
    """What an effect is, for the facilitator's failure message, in the words of `say` (config/messages)."""
    if isinstance(effect, PublishNote):
        return say("delivery_what_note")
    if isinstance(effect, DeliverNote):
        return say("delivery_what_draft")
    if isinstance(effect, OpenPairSpace):
        return say("delivery_what_pair_space", pair=effect.pair_id)
    if isinstance(effect, PostChart):
        return say("delivery_what_chart")
    if isinstance(effect, Post):
        first = effect.text.strip().splitlines()[0] if effect.text.strip() else ""
        return say("delivery_what_post", start=first[:60])
    return effect.type


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__
