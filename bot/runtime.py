"""The runtime: platform message -> engine -> event store -> effects -> adapter. Nothing reaches back.

Each session's working state is changed in place by the engine (no copy per event). The event is committed
before its effects are carried out or anyone is answered; an event the engine cannot apply is refused and
never stored, and a commit that fails leaves nothing applied (the state is rebuilt from the store). The
event's effects are committed with it (the outbox) and delivered by bot/delivery.py outside the session's
lock, each with a key that keeps a crash from doubling a post. A snapshot of each open session (every
SNAPSHOT_EVERY events and at each phase change) means a restart replays only the events after it. See
docs/scale.md and docs/delivery.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from adapters.base import (
    ActionSubmitted,
    Adapter,
    ButtonOutOfDate,
    CommandIssued,
    Inbound,
    MessageDeleted,
    MessageEdited,
    Reply,
    Target,
    UserMessage,
    mark_stored,
)
from bot import commands
from bot.configuration import ConfigError, default_options, list_structures, load_structure
from bot.delivery import EFFECT, Deliveries, Entry, describe
from bot.outcomes import Made, Outcome, platform_ref
from bot.scheduler import Timers
from bot.settings import Settings
from bot.shared import SharedWork, catch_up, claim_failed, failed_in, freshen, starting
from bot.storage import EventStore, Op, StoreError
from facilitation import engine
from facilitation.config import EngineConfig
from facilitation.effects import (
    CancelTimer,
    DeliverNote,
    Effect,
    OpenPairSpace,
    Post,
    PublishNote,
    SessionClosed,
    StartTimer,
)
from facilitation.errors import Fixable
from facilitation.events import (
    ActionTaken,
    CommandGiven,
    Event,
    ReplyDeleted,
    ReplyEdited,
    ReplyPosted,
    SessionStarted,
    TimerFired,
)
from facilitation.models import Session

log = logging.getLogger("facilitator.runtime")

# A snapshot at every phase change, and after SNAPSHOT_EVERY events or a quarter as many as the session has ideas
# and people, whichever is more: writing one costs what the session holds, so this keeps its cost per event
# flat, and a restart replays at most about a quarter as many events as the snapshot it loads holds things.
SNAPSHOT_EVERY = 500
SNAPSHOT_SHARE = 4
EMBED_BATCH_SECONDS = 0.2
# At a stop, posts already owed get this long to go out (a platform that does not answer must not keep Ctrl-C
# waiting); the rest stay in the outbox for the next start.
STOP_SECONDS = 10.0


class EventRefused(Exception):
    """The engine raised on this event: it was not applied and not stored."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Runtime:
    def __init__(
        self,
        adapter: Adapter,
        store: EventStore,
        timers: Timers,
        settings: Settings,
        cfg: EngineConfig,
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.adapter = adapter
        # Session ids and pairing seeds; a seeded generator makes simulations repeatable.
        self.rng = rng or random.SystemRandom()
        self.store = store
        self.timers = timers
        self.settings = settings
        self.cfg = cfg
        self.clock = clock or utc_now
        self.sessions: dict[str, Session] = {}
        self._refs: dict[str, dict[str, Outcome]] = {}  # session -> effect key -> what became of it
        self._by_ref: dict[str, list[tuple[str, str]]] = {}  # platform ref -> (session, effect key), oldest first
        self._seq: dict[str, int] = {}  # session -> seq of the last event applied to its working state
        self._snapshot_at: dict[str, tuple[int, int, str]] = {}  # session -> (seq, phase, status) of its snapshot
        self._dirty: set[str] = set()  # sessions whose working state holds an event that was not committed
        self.deliveries = Deliveries(adapter, store, self._refs, self._report_failure, self._delivered,
                                     note_page=self._note_page)
        # The console shows each answer before taking the next line: it waits for all of an event's effects.
        self.wait_for_effects = bool(getattr(adapter, "delivers_inline", False))
        self._embedded: dict[str, int] = {}  # session -> ideas already handed to the embedder
        self._closing: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._start_lock = asyncio.Lock()
        self._restored = asyncio.Event()  # open sessions are rebuilt: what people send can be applied
        self._ideas_arrived = asyncio.Event()
        self._warming: asyncio.Task[None] | None = None
        # Several processes on one PostgreSQL store: the sweep that takes over a dead process's work (bot/shared.py).
        self._shared = SharedWork(self) if store.shared else None

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild open sessions from their snapshots and events, queue what their outbox still owes (an
        entry that may have reached the platform before a crash is looked for before it is sent again), and
        re-arm their timers (a timer that fell due while the process was down fires at once)."""
        self.timers.start(self.fire_timer)
        if hasattr(self.cfg.embed, "missing"):
            self._warming = asyncio.create_task(self._embed_ideas_as_they_arrive())
        for session_id in await self.store.open_sessions():
            async with self._lock(session_id):
                tail = await self._load(session_id)
                state = self.sessions.get(session_id)
                if state is None:
                    continue
                await self._restore_outbox(state, tail)
                self._snapshot_if_due(session_id, state, force=bool(tail))
            log.info("session %s restored (%s, phase %s)", session_id, state.status, state.phase_index)
            if self.wait_for_effects:
                await self.deliveries.settled(session_id)
        self._ideas_arrived.set()
        self._restored.set()
        if self._shared is not None:
            self._shared.start()

    async def _restore_outbox(self, s: Session, tail: list[Effect]) -> None:
        done = self._refs[s.id]
        queued: list[Entry] = []
        listed: set[str] = set()
        for key, effect_json, after, status, first_try in await self.store.outbox(s.id):
            entry = Entry(s.id, s.channel, EFFECT.validate_json(effect_json), after=after, first_try=first_try)
            listed.add(key)
            if status == "failed":
                self.deliveries.hold(entry)
            elif key not in done:
                queued.append(entry)
        # Effects of events stored by a release without the outbox, never carried out (PostgreSQL always had it,
        # and what another live process owes is not listed here).
        if not self.store.shared:
            queued += [Entry(s.id, s.channel, e) for e in _deliverable(tail)
                       if e.key not in done and e.key not in listed]
        self.deliveries.submit(queued)

    async def _load(self, session_id: str) -> list[Effect]:
        """Build the session's working state from its snapshot and the events after it, re-arm its timers, and
        return the effects of those events (what they still owe is in the outbox; these cover databases written
        before the outbox existed).
        An event the engine raises on is set aside (logged, skipped from then on, the facilitator told), so one
        bad event never stops the bot nor the rest of the session."""
        skip = await self.store.set_aside_seqs(session_id)
        while True:
            snap = await self.store.snapshot(session_id)
            seq, state = snap if snap is not None else (0, None)
            pending: list[Effect] = []
            failed: tuple[int, Exception] | None = None
            for n, event in await self.store.events(session_id, after=seq):
                if n in skip:
                    continue
                try:
                    state, effects = engine.apply(state, event, self.cfg)
                except Exception as exc:  # noqa: BLE001 - whatever the engine raises, the bot must start
                    failed = (n, exc)
                    break
                pending += effects
                seq = n
            if failed is None:
                break
            n, exc = failed
            log.error("session %s: event %s cannot be applied and is set aside: %r", session_id, n, exc)
            await self.store.set_aside(session_id, n, repr(exc))
            skip.add(n)
            if state is not None:
                await self._tell_facilitator(state, self.cfg.in_language(state.options.language)
                                             .say("runtime_event_set_aside"))
        self._refs[session_id] = await self.store.refs(session_id)
        for key, outcome in self._refs[session_id].items():
            if isinstance(outcome, Made):
                self._index_ref(session_id, key, outcome.ref)
        self._seq[session_id] = seq
        self._dirty.discard(session_id)
        if state is None:
            self.sessions.pop(session_id, None)
            return []
        self.sessions[session_id] = state
        self._snapshot_at.setdefault(session_id, (seq, state.phase_index, state.status))
        for timer in state.timers.values():
            self.timers.arm(session_id, timer.id, timer.fire_at)
        return pending

    async def stop(self) -> None:
        self.timers.shutdown()
        if self._shared is not None:
            await self._shared.stop()
        if self._warming is not None:
            self._warming.cancel()
        try:  # what is still owed after that stays in the outbox for the next start
            await asyncio.wait_for(self.deliveries.drained(), STOP_SECONDS)
        except TimeoutError:
            log.warning("stopping with posts still owed; they go out at the next start")
        await self.deliveries.stop()

    async def _embed_ideas_as_they_arrive(self) -> None:
        """Sentence embeddings take seconds for a few hundred ideas; computing them in a worker thread
        while people write keeps Arrange (which groups every idea at once) from stalling the event loop."""
        embed = self.cfg.embed
        while True:
            await self._ideas_arrived.wait()
            # Ideas come in bursts: a moment's wait embeds a burst in one batch, not one thread trip per idea.
            await asyncio.sleep(EMBED_BATCH_SECONDS)
            self._ideas_arrived.clear()
            texts: list[str] = []
            for s in list(self.sessions.values()):  # only the ideas that arrived since the last round
                seen = self._embedded.get(s.id, 0)
                if s.status != "ended":
                    texts += [i.text for i in s.ideas[seen:] if not i.withdrawn]
                self._embedded[s.id] = len(s.ideas)
            new = embed.missing(texts)  # type: ignore[union-attr]
            if new:
                try:
                    await asyncio.to_thread(embed, new)  # type: ignore[arg-type]
                except Exception:  # grouping will embed them itself; never lose the worker
                    log.exception("embedding ideas in the background failed")

    def _index_ref(self, session_id: str, key: str, ref: str) -> None:
        found = self._by_ref.setdefault(ref, [])
        if (session_id, key) not in found:
            found.append((session_id, key))

    def ref_of(self, session_id: str, key: str) -> str | None:
        """The platform ref of what the effect `key` made, or None (not carried out yet, or nothing made)."""
        return platform_ref(self._refs.get(session_id, {}).get(key))

    def refs_of(self, session_id: str) -> dict[str, str]:
        """The platform refs of what the session's effects made so far, by effect key."""
        return {k: o.ref for k, o in self._refs.get(session_id, {}).items() if isinstance(o, Made)}

    def _lock(self, session_id: str) -> asyncio.Lock:
        return self._locks.setdefault(session_id, asyncio.Lock())

    async def settled(self, session_id: str) -> None:
        """Wait until the events applied to the session so far have had all their effects carried out (or
        held after a lasting failure): the session's state changes before its posts are made."""
        async with self._lock(session_id):
            pass  # an event being applied has queued its effects once the lock is free
        await self.deliveries.settled(session_id)

    @property
    def idle(self) -> bool:
        """Nothing being applied and nothing left to deliver."""
        return self.deliveries.idle and not any(lock.locked() for lock in self._locks.values())

    # --- inbound ---------------------------------------------------------------------------

    async def receive(self, inbound: Inbound) -> Reply | None:
        """The adapters' entry point. Returns text to show only to the sender, if any."""
        if not self._restored.is_set():  # the adapter listens before sessions are restored (bot/assembly.py)
            await self._restored.wait()
        try:
            if inbound.event_id and not await self.store.claim_delivery(inbound.event_id):
                log.info("duplicate delivery %s ignored", inbound.event_id)
                return None
            size = _size(inbound)
            if size > self.cfg.limits.message_chars:  # refused before it is stored or applied: nothing to replay
                return Reply(text=self.cfg.say("runtime_too_long", length=size, limit=self.cfg.limits.message_chars))
            return await self._receive(inbound)
        except StoreError as exc:  # a write that failed, or a database out of reach: nothing of it counts
            log.warning("%s not taken: %s", type(inbound).__name__, exc)
            return Reply(text=self.cfg.say("runtime_try_again"))
        except EventRefused:
            return Reply(text=self.cfg.say("runtime_event_refused"))

    async def _receive(self, inbound: Inbound) -> Reply | None:
        if self.store.shared:  # other processes may have started or moved on sessions, or made the post replied to
            await freshen(self, inbound)
        if isinstance(inbound, CommandIssued):
            return await self._command(inbound)
        if isinstance(inbound, UserMessage):
            return await self._message(inbound)
        if isinstance(inbound, MessageEdited | MessageDeleted):
            session_id = await self.store.session_for_message(inbound.message_ref)
            if session_id is None:
                return None
            if isinstance(inbound, MessageEdited):
                ev: Event = ReplyEdited(at=self.clock(), person=inbound.person.id, message_ref=inbound.message_ref,
                                        text=inbound.text)
            else:
                ev = ReplyDeleted(at=self.clock(), person=inbound.person.id if inbound.person else None,
                                  message_ref=inbound.message_ref)
            await self.apply(session_id, ev, sender=inbound.person.id if inbound.person else None)
            return None
        if isinstance(inbound, ButtonOutOfDate):
            return Reply(text=self.cfg.say("button_out_of_date"))
        if isinstance(inbound, ActionSubmitted):
            session = self.sessions.get(inbound.session_id)
            if session is None:
                return Reply(text=self.cfg.say("runtime_session_gone"))
            if not self._clicked_in_place(session, inbound):
                log.warning("session %s: %s from outside its channel refused", session.id, inbound.action)
                return Reply(text=self.cfg.say("runtime_button_elsewhere"))
            await self.apply(inbound.session_id, ActionTaken(
                at=self.clock(), person=inbound.person.id, name=inbound.person.name, action=inbound.action,
                value=inbound.value, values=inbound.values), sender=inbound.person.id)
        return None

    def _running_in(self, channel: str) -> Session | None:
        return next((s for s in self.sessions.values() if s.channel == channel and s.status != "ended"), None)

    def _spaces_in(self, channel: str) -> list[str]:
        """The sessions whose pair space `channel` is (on Slack a pair space is a group DM: a channel of its
        own, which a later session of the same people gets back), oldest first."""
        return [sid for sid, key in self._by_ref.get(channel, []) if key.startswith("pair:") and key.count(":") == 1]

    def _running_with_space(self, channel: str) -> Session | None:
        live = [self.sessions[sid] for sid in self._spaces_in(channel)
                if sid in self.sessions and self.sessions[sid].status != "ended"]
        return live[-1] if live else None

    def _clicked_in_place(self, s: Session, inbound: ActionSubmitted) -> bool:
        """A button acts only on the session of the place it was pressed in: the session's channel (its threads
        report it), one of its pair spaces, or the person's own DM with the bot (Join only in the channel)."""
        if inbound.channel == s.channel:
            return True
        if inbound.private:
            return inbound.action != "join"
        return s.id in self._spaces_in(inbound.channel)

    async def _command(self, inbound: CommandIssued) -> Reply | None:
        word, args = commands.split(inbound.text)
        if word == "start":
            return await self._start(inbound, args)
        # Where it was typed decides the session: the channel's, a pair space's, or (only in the person's DM
        # with the bot) the one session they are in. Never a session in another channel or server.
        session = self._running_in(inbound.channel) or self._running_with_space(inbound.channel)
        if session is None:  # the channel's ended session whose note is still a draft, or still owed to it
            owed = await failed_in(self, inbound.channel) if self.store.shared and word == "retry" else set()
            ended = [s for s in self.sessions.values() if s.channel == inbound.channel and s.status == "ended"
                     and (s.note_status == "draft" or self.deliveries.failed(s.id) or s.id in owed)]
            session = max(ended, key=lambda s: s.started_at, default=None)
        if session is None and inbound.private:
            session = self._only_session_of(inbound.person.id)
        if word in ("", "help") and session is not None and session.status == "ended" and not (
                session.note_status == "draft" and session.convenor == inbound.person.id):
            session = None  # once it is over, help is how to start the next one (unless a note awaits them)
        if session is None and word in ("", "help"):
            structures = ", ".join(list_structures(self.settings))
            languages = "|".join(sorted(self.cfg.catalogues or [self.settings.language]))
            return Reply(text=self.cfg.say("runtime_help", structures=structures, languages=languages))
        if session is None:
            return Reply(text=self.cfg.say("runtime_no_session"))
        if word == "retry":
            return await self._retry(session, inbound.person.id)
        # In a session, help is the session's: what this person can do in this phase
        await self.apply(session.id, CommandGiven(at=self.clock(), person=inbound.person.id,
                                                  name=inbound.person.name, command=word or "help", args=args,
                                                  private=inbound.private),
                         sender=inbound.person.id)
        return None

    async def _retry(self, s: Session, person: str) -> Reply:
        """Send again what failed to be delivered (a facilitator's or the convenor's call), in whichever process
        it failed."""
        if not (s.is_facilitator(person) or s.convenor == person):
            return Reply(text=self.cfg.say("runtime_retry_not_yours"))
        if self.store.shared:
            await claim_failed(self, s.id)
        count = self.deliveries.retry(s.id)
        return Reply(text=self.cfg.say("runtime_retry_started", count=count) if count
                     else self.cfg.say("runtime_retry_nothing"))

    def _only_session_of(self, person: str) -> Session | None:
        """For commands given outside a session channel (e.g. in a DM): the one running session the person is
        in; when none runs, their newest ended session whose note awaits approval, else their newest."""
        mine = [s for s in self.sessions.values() if _involves(s, person)]
        live = [s for s in mine if s.status != "ended"]
        if live:
            return live[0] if len(live) == 1 else None
        return self._awaiting_approval(person) or max(mine, key=lambda s: s.started_at, default=None)

    def _awaiting_approval(self, person: str, channel: str | None = None) -> Session | None:
        """The person's newest ended session (in `channel`, if given) whose note is still a draft, so `approve`
        reaches it however many sessions came before it."""
        waiting = [s for s in self.sessions.values() if _involves(s, person) and s.status == "ended"
                   and s.note_status == "draft" and channel in (None, s.channel)]
        return max(waiting, key=lambda s: s.started_at, default=None)

    def _session_for_private_message(self, person: str, channel: str) -> Session | str:
        """The session a DM is for, or the key of the message saying why there is none. A DM reaches only a
        session the person takes part in (joined, facilitates or convenes), a running one first, an ended one
        whose note is not yet approved only when they are in nothing running (so a late DM stays in its own
        session); or the session running in the DM's own channel (the console, where everyone typing is in
        its one channel). Anyone else is told how to join, and what they wrote reaches no session."""
        mine = [s for s in self.sessions.values() if _involves(s, person) and s.note_status != "approved"]
        chosen = [s for s in mine if s.status != "ended"] or mine
        if not chosen and (here := self._running_in(channel)) is not None:
            chosen = [here]
        if len(chosen) > 1 and all(s.status == "ended" for s in chosen):
            newest = self._awaiting_approval(person)  # `approve` by DM reaches the newest draft
            chosen = [newest] if newest is not None else chosen
        if len(chosen) > 1:
            return "runtime_dm_ambiguous"
        if not chosen and any(_involves(s, person) for s in self.sessions.values()):
            return "runtime_dm_session_over"  # their session's note is posted: it takes nothing more
        return chosen[0] if chosen else "runtime_dm_no_session"

    async def _start(self, inbound: CommandIssued, args: str) -> Reply | None:
        # Several processes: until the new session is committed, no other may start one in the channel.
        async with starting(self, inbound.channel) if self.store.shared else contextlib.nullcontext():
            return await self._start_here(inbound, args)

    async def _start_here(self, inbound: CommandIssued, args: str) -> Reply | None:
        async with self._start_lock:
            if self._running_in(inbound.channel):
                return Reply(text=self.cfg.say("runtime_already_running"))
            try:
                req = commands.parse_start(args, inbound.options)
                structure = load_structure(self.settings, req.structure or self.settings.session.structure)
                options = commands.build_options(default_options(self.settings, structure), req.option_updates,
                                                 structure, lenient=req.minutes_from_form)
                if options.language not in {*self.cfg.catalogues, self.settings.language}:
                    known = ", ".join(sorted(self.cfg.catalogues))
                    raise commands.CommandError("start_no_language", language=options.language, known=known)
            except (commands.CommandError, ConfigError) as exc:
                problem = exc.text(self.cfg.say) if isinstance(exc, Fixable) else str(exc)
                return Reply(text=self.cfg.say("runtime_start_problem", problem=problem))
            session_id = f"{self.rng.getrandbits(32):08x}"
            event = SessionStarted(
                at=self.clock(), session_id=session_id, channel=inbound.channel, question=req.question,
                facilitator=inbound.person.id, facilitator_name=inbound.person.name,
                cofacilitators=req.cofacilitators, convenor=req.convenor, structure=structure, options=options,
                seed=self.rng.randrange(2**31), past_pairs=await self.store.past_pairs(inbound.channel),
            )
            await self.store.create_session(session_id, inbound.channel)
            self._refs[session_id] = {}
            self._seq[session_id] = 0
        await self.apply(session_id, event, sender=inbound.person.id)
        return None

    async def _message(self, inbound: UserMessage) -> Reply | None:
        session_id: str | None = None
        reply_to: str | None = None
        if inbound.reply_to_ref:
            # Newest first: Slack gives the same members the same group DM, so a pair space can recur.
            found = list(reversed(self._by_ref.get(inbound.reply_to_ref, [])))
            # the running session first: an ended one may share this pair space (a recurring group DM)
            found.sort(key=lambda row: row[0] not in self.sessions or self.sessions[row[0]].status == "ended")
            if found:
                session_id, reply_to = found[0]
        elif inbound.private:
            session = self._session_for_private_message(inbound.person.id, inbound.channel)
            if isinstance(session, str):
                return Reply(text=self.cfg.say(session))
            session_id = session.id
        if session_id is None or session_id not in self.sessions:
            return None  # ordinary conversation the bot is not part of
        now = self.clock()
        await self.apply(session_id, ReplyPosted(
            at=now, person=inbound.person.id, name=inbound.person.name, text=inbound.text,
            message_ref=inbound.message_ref, reply_to=reply_to, private=inbound.private,
            sent_at=_sent_at(inbound, now)),
            also=[self.store.message_op(inbound.message_ref, session_id)], sender=inbound.person.id)
        return None

    async def fire_timer(self, session_id: str, timer_id: str, claimed: bool = False) -> None:
        if self._shared is not None and not claimed:  # timers are rows: the sweep claims it, here or elsewhere
            self._shared.wake()
            return
        session = self.sessions.get(session_id)
        if session is None or timer_id not in session.timers:
            return
        try:
            await self.apply(session_id, TimerFired(at=self.clock(), timer_id=timer_id))
        except StoreError:  # the disk may be back in a moment
            log.exception("session %s: timer %s could not be saved; it fires again shortly", session_id, timer_id)
            self.timers.arm(session_id, timer_id, self.clock() + timedelta(seconds=5))
        except EventRefused:  # the engine would refuse it again: the facilitator moves the session on by hand
            await self._tell_facilitator(session, self.cfg.say("runtime_timer_refused"))

    # --- the one path every event takes ------------------------------------------------------

    async def apply(self, session_id: str, event: Event, also: list[Op] | None = None,
                    sender: str | None = None) -> None:
        """Apply the event to the session's working state and commit it, with its effects (the outbox), `also`
        and any snapshot due, in one transaction; its effects are then delivered outside the lock. Returns
        once the commit is on disk and the answers to `sender` (the person whose message this is) are
        delivered. Raises EventRefused if the engine raised (nothing applied, nothing stored) and StoreError
        if the commit failed (nothing applied, nothing delivered)."""
        async with self._lock(session_id), self.store.session_lock(session_id):
            if self.store.shared:  # the events other processes committed first
                await catch_up(self, session_id, locked=True)
            elif session_id in self._dirty:
                await self._load(session_id)
            state = self.sessions.get(session_id)
            if isinstance(event, TimerFired) and (state is None or event.timer_id not in state.timers):
                return  # fired already (by another process), or cancelled meanwhile
            try:
                state, effects = engine.apply(state, event, self.cfg)
            except Exception as exc:
                log.exception("session %s: %s refused: the engine raised", session_id, event.type)
                await self._load(session_id)  # throw the half-changed working state away
                raise EventRefused(event.type) from exc
            if state is None:
                return
            self.sessions[session_id] = state
            seq = await self.store.next_seq(session_id)
            self._seq[session_id] = seq
            entries = self._entries(state, effects, sender)
            ops = [self.store.event_op(session_id, seq, event), *(also or []),
                   *self.store.timer_ops(session_id, event, effects)]
            ops += [self.store.outbox_op(session_id, e.key, e.effect.model_dump_json(), e.after) for e in entries]
            snapshot = self._snapshot_payload(session_id, state)
            if snapshot is not None:  # its events' effects are in the outbox beside it
                ops.append(self.store.snapshot_op(session_id, *snapshot))
            committed = self.store.write(ops)
            for entry in entries:
                entry.committed = committed
            self.deliveries.submit(entries)
        try:
            await committed
        except StoreError:
            self._dirty.add(session_id)  # rebuilt from the store before its next event
            await self.deliveries.deliver_own(entries)  # drops them: the event never happened
            raise
        mark_stored()  # the platform may be acknowledged now: a crash from here on loses nothing
        self._ideas_arrived.set()
        for effect in effects:  # timers only once the event that set them is on disk
            if isinstance(effect, StartTimer):
                self.timers.arm(session_id, effect.timer_id, effect.fire_at)
            elif isinstance(effect, CancelTimer):
                self.timers.cancel(effect.timer_id)
        await self.deliveries.deliver_own(entries)  # the sender's answer, here rather than in a task of its own
        waits = [e.done for e in entries if (self.wait_for_effects or e.context is not None) and not e.done.done()]
        if waits:
            await asyncio.gather(*(asyncio.shield(w) for w in waits))
        self._close_if_done(session_id)

    def _entries(self, s: Session, effects: list[Effect], sender: str | None) -> list[Entry]:
        """The outbox entries of an event's effects. What follows a note in the same event (the convenor's
        "posted") waits for the note; the sender's own answers carry the inbound call's context."""
        entries: list[Entry] = []
        after: str | None = None
        origin = contextvars.copy_context() if sender is not None else None
        for effect in _deliverable(effects):
            entry = Entry(s.id, s.channel, effect, after=after, origin=origin)
            if sender is not None and isinstance(effect, Post) and effect.audience.kind == "private" \
                    and effect.audience.person == sender:
                entry.context = origin
            entries.append(entry)
            if isinstance(effect, PublishNote | DeliverNote):
                after = effect.key
        return entries

    def _delivered(self, entry: Entry, outcome: Outcome) -> None:
        """An entry was carried out (or fell back): its ref routes replies to it, and a pair has met."""
        if isinstance(outcome, Made):
            self._index_ref(entry.session_id, entry.key, outcome.ref)
        if isinstance(entry.effect, OpenPairSpace):  # they met, whatever space the platform allowed
            self.store.write([self.store.pair_op(entry.channel, entry.session_id,
                                                 [m.id for m in entry.effect.members])], lazy=True)
        self._close_if_done(entry.session_id)

    def _close_if_done(self, session_id: str) -> None:
        """An approved note, posted, with nothing left to deliver: the session is closed for good."""
        s = self.sessions.get(session_id)
        if (s is not None and s.status == "ended" and s.note_status == "approved"
                and not self.deliveries.pending(session_id) and not self.deliveries.failed(session_id)
                and session_id not in self._closing):
            self._closing.add(session_id)
            self.store.write(self.store.close_ops(session_id))

    async def _report_failure(self, entry: Entry, why: str, held: bool) -> None:
        """Tell the facilitator (and, for the note, the convenor) what could not be delivered and why; `why`
        alone when it went through in a fallback (the adapter's words say what it cost)."""
        s = self.sessions.get(entry.session_id)
        if s is None:
            return
        text = self.cfg.say("delivery_failed", what=describe(entry.effect, self.cfg.say), why=why) if held else why
        await self._tell_facilitator(s, text)
        if isinstance(entry.effect, PublishNote) and s.convenor and not s.is_facilitator(s.convenor):
            await self._tell(s, s.convenor, text)

    def _snapshot_payload(self, session_id: str, state: Session) -> tuple[int, str] | None:
        """The snapshot to write once this event's effects are carried out, if one is due: at a phase change
        or a change of status, and every SNAPSHOT_EVERY events."""
        seq = self._seq[session_id]
        last_seq, phase, status = self._snapshot_at.get(session_id, (0, -1, ""))
        every = max(SNAPSHOT_EVERY, (len(state.ideas) + len(state.participants)) // SNAPSHOT_SHARE)
        if seq - last_seq < every and (phase, status) == (state.phase_index, state.status):
            return None
        self._snapshot_at[session_id] = (seq, state.phase_index, state.status)
        return seq, state.model_dump_json()

    def _snapshot_if_due(self, session_id: str, state: Session, force: bool) -> None:
        if force:
            self._snapshot_at.pop(session_id, None)
        snapshot = self._snapshot_payload(session_id, state)
        if snapshot is not None:
            self.store.write([self.store.snapshot_op(session_id, *snapshot)])

    def _note_page(self, effect: DeliverNote) -> str | None:
        """The note as an HTML page with its ranking chart; None (the note goes without it) if that fails,
        so a drawing problem never holds the note back."""
        try:
            from bot.note_page import render_html  # matplotlib loads only when a note is drafted
            from facilitation.note import RoundUpNote

            return render_html(RoundUpNote.model_validate_json(effect.json_text), effect.markdown, self.cfg)
        except Exception:
            log.exception("the HTML page of the note could not be made; sending the note without it")
            return None

    async def _tell_facilitator(self, s: Session, text: str) -> None:
        await self._tell(s, s.facilitator, text)

    async def _tell(self, s: Session, person: str, text: str) -> None:
        try:
            await self.adapter.post(s.channel, Target(kind="private", ref=person), text, [], s.id)
        except Exception:  # telling them failed too (e.g. their DMs are closed): log it, never loop
            log.exception("could not tell %s of session %s", person, s.id)


def _deliverable(effects: list[Effect]) -> list[Effect]:
    return [e for e in effects if not isinstance(e, StartTimer | CancelTimer | SessionClosed)]


def _sent_at(inbound: UserMessage, now: datetime) -> datetime | None:
    """When the message was sent, on the runtime's clock: `now` less its age by the platform's time (a message
    cannot be sent in the future, so a clock ahead of ours counts as no age)."""
    if inbound.sent_at is None:
        return None
    return now - timedelta(seconds=max(0.0, time.time() - inbound.sent_at))


def _involves(s: Session, person: str) -> bool:
    return person in s.participants or s.is_facilitator(person) or s.convenor == person


def _size(inbound: Inbound) -> int:
    """The characters a person sent: a message's or command's text, and every form field and start option."""
    parts: list[object] = [getattr(inbound, "text", "")]
    for given in (getattr(inbound, "values", {}), getattr(inbound, "options", {})):
        for value in given.values():
            parts += list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else [value]
    return sum(len(p) for p in parts if isinstance(p, str))
