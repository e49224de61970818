"""The runtime: platform message -> engine -> event store -> effects -> adapter. Nothing reaches back.

Each session's working state is changed in place by the engine (no copy per event). The event is committed
before its effects are carried out or anyone is answered; an event the engine cannot apply is refused and
never stored, and a commit that fails leaves nothing applied (the state is rebuilt from the store). Every
effect carries a key, and its platform ref is recorded once it is carried out, so a replay after a crash
posts nothing twice. A snapshot of each open session (every SNAPSHOT_EVERY events and at each phase change)
means a restart replays only the events after it. See docs/scale.md.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.base import (
    ActionSubmitted,
    Adapter,
    CommandIssued,
    DeliveryError,
    Inbound,
    MessageDeleted,
    MessageEdited,
    Reply,
    Target,
    UserMessage,
)
from bot import commands
from bot.configuration import ConfigError, default_options, engine_config, load_structure
from bot.scheduler import AsyncTimers, Timers
from bot.settings import Settings
from bot.store import FAILED, Op, Store, StoreError
from facilitation import engine
from facilitation.config import EngineConfig
from facilitation.effects import (
    CancelTimer,
    DeliverNote,
    Effect,
    OpenPairSpace,
    Post,
    PostChart,
    PublishNote,
    StartTimer,
)
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


class EventRefused(Exception):
    """The engine raised on this event: it was not applied and not stored."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class Runtime:
    def __init__(
        self,
        adapter: Adapter,
        store: Store,
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
        self._refs: dict[str, dict[str, str]] = {}  # session -> effect key -> platform ref
        self._by_ref: dict[str, list[tuple[str, str]]] = {}  # platform ref -> (session, effect key), oldest first
        self._seq: dict[str, int] = {}  # session -> seq of the last event applied to its working state
        self._snapshot_at: dict[str, tuple[int, int, str]] = {}  # session -> (seq, phase, status) of its snapshot
        self._dirty: set[str] = set()  # sessions whose working state holds an event that was not committed
        self._delivered: dict[str, asyncio.Future[None]] = {}  # session -> its latest event's effects done
        self._embedded: dict[str, int] = {}  # session -> ideas already handed to the embedder
        self._locks: dict[str, asyncio.Lock] = {}
        self._start_lock = asyncio.Lock()
        self._ideas_arrived = asyncio.Event()
        self._warming: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild open sessions by replaying their events, finish any effect a crash interrupted,
        and re-arm their timers (a timer that fell due while the process was down fires at once)."""
        self.timers.start(self.fire_timer)
        if hasattr(self.cfg.embed, "missing"):
            self._warming = asyncio.create_task(self._embed_ideas_as_they_arrive())
        for session_id in await self.store.open_sessions():
            async with self._lock(session_id):
                pending = await self._load(session_id)
                state = self.sessions.get(session_id)
                if state is None:
                    continue
                done = self._refs[session_id]
                await self._execute(state, [e for e in pending if e.key not in done and not _is_timer(e)])
                self._snapshot_if_due(session_id, state, force=bool(pending))
            log.info("session %s restored (%s, phase %s)", session_id, state.status, state.phase_index)
        self._ideas_arrived.set()

    async def _load(self, session_id: str) -> list[Effect]:
        """Build the session's working state from its snapshot and the events after it, re-arm its timers, and
        return the effects of those events (the ones before the snapshot were carried out before it was taken).
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
                await self._tell_facilitator(state, self.cfg.say("runtime_event_set_aside"))
        self._refs[session_id] = await self.store.refs(session_id)
        for key, ref in self._refs[session_id].items():
            self._index_ref(session_id, key, ref)
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
        if self._warming is not None:
            self._warming.cancel()

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

    def refs_of(self, session_id: str) -> dict[str, str]:
        """The platform refs of the session's effects carried out so far, by effect key (do not change it)."""
        return self._refs.get(session_id, {})

    def _lock(self, session_id: str) -> asyncio.Lock:
        return self._locks.setdefault(session_id, asyncio.Lock())

    async def settled(self, session_id: str) -> None:
        """Wait until the events applied to the session so far have had all their effects carried out:
        the session's state changes before its posts are made."""
        async with self._lock(session_id):
            delivered = self._delivered.get(session_id)
        if delivered is not None:
            await asyncio.shield(delivered)

    # --- inbound ---------------------------------------------------------------------------

    async def receive(self, inbound: Inbound) -> Reply | None:
        """The adapters' entry point. Returns text to show only to the sender, if any."""
        if inbound.event_id and not self.store.first_delivery(inbound.event_id):
            log.info("duplicate delivery %s ignored", inbound.event_id)
            return None
        try:
            return await self._receive(inbound)
        except StoreError:
            return Reply(text=self.cfg.say("runtime_try_again"))
        except EventRefused:
            return Reply(text=self.cfg.say("runtime_event_refused"))

    async def _receive(self, inbound: Inbound) -> Reply | None:
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
            await self.apply(session_id, ev)
            return None
        if isinstance(inbound, ActionSubmitted):
            if inbound.session_id not in self.sessions:
                return Reply(text=self.cfg.say("runtime_session_gone"))
            await self.apply(inbound.session_id, ActionTaken(
                at=self.clock(), person=inbound.person.id, name=inbound.person.name, action=inbound.action,
                value=inbound.value, values=inbound.values))
        return None

    def _running_in(self, channel: str) -> Session | None:
        return next((s for s in self.sessions.values() if s.channel == channel and s.status != "ended"), None)

    async def _command(self, inbound: CommandIssued) -> Reply | None:
        word, args = commands.split(inbound.text)
        if word == "start":
            return await self._start(inbound, args)
        if word in ("", "help"):
            return Reply(text=self.cfg.say("runtime_help"))
        session = self._running_in(inbound.channel) or self._only_session_of(inbound.person.id)
        if session is None:
            return Reply(text=self.cfg.say("runtime_no_session"))
        await self.apply(session.id, CommandGiven(at=self.clock(), person=inbound.person.id,
                                                  name=inbound.person.name, command=word, args=args))
        return None

    def _only_session_of(self, person: str) -> Session | None:
        """For commands given outside a session channel (e.g. in a DM): the one session the person is in."""
        mine = [s for s in self.sessions.values() if _involves(s, person)]
        live = [s for s in mine if s.status != "ended"] or mine
        return live[0] if len(live) == 1 else None

    def _session_for_private_message(self, person: str) -> Session | str:
        """The session a DM is for, or the key of the message saying why it is not clear. A running session
        the person is in comes first; then the only running session (a newcomer joins by replying); an
        ended session (its note not yet approved) only when nothing is running, so last week's session
        never takes this week's ideas."""
        live = [s for s in self.sessions.values() if s.status != "ended"]
        mine = [s for s in live if _involves(s, person)]
        if len(mine) > 1:
            return "runtime_dm_ambiguous"
        if mine:
            return mine[0]
        if len(live) == 1:
            return live[0]
        return self._only_session_of(person) or "runtime_dm_no_session"

    async def _start(self, inbound: CommandIssued, args: str) -> Reply | None:
        async with self._start_lock:
            if self._running_in(inbound.channel):
                return Reply(text=self.cfg.say("runtime_already_running"))
            try:
                req = commands.parse_start(args, inbound.options)
                structure = load_structure(self.settings, req.structure or self.settings.session.structure)
                options = commands.build_options(default_options(self.settings, structure), req.option_updates,
                                                 structure, lenient=req.minutes_from_form)
            except (commands.CommandError, ConfigError) as exc:
                return Reply(text=self.cfg.say("runtime_start_problem", problem=str(exc)))
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
        await self.apply(session_id, event)
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
            session = self._session_for_private_message(inbound.person.id)
            if isinstance(session, str):
                return Reply(text=self.cfg.say(session))
            session_id = session.id
        if session_id is None or session_id not in self.sessions:
            return None  # ordinary conversation the bot is not part of
        await self.apply(session_id, ReplyPosted(
            at=self.clock(), person=inbound.person.id, name=inbound.person.name, text=inbound.text,
            message_ref=inbound.message_ref, reply_to=reply_to, private=inbound.private),
            also=[self.store.message_op(inbound.message_ref, session_id)])
        return None

    async def fire_timer(self, session_id: str, timer_id: str) -> None:
        session = self.sessions.get(session_id)
        if session is None or timer_id not in session.timers:
            return
        try:
            await self.apply(session_id, TimerFired(at=self.clock(), timer_id=timer_id))
        except (StoreError, EventRefused):
            log.exception("session %s: timer %s could not be applied; it fires again shortly", session_id, timer_id)
            self.timers.arm(session_id, timer_id, self.clock() + timedelta(seconds=5))

    # --- the one path every event takes ------------------------------------------------------

    async def apply(self, session_id: str, event: Event, also: list[Op] | None = None) -> None:
        """Apply the event to the session's working state, commit it (with `also`, in one transaction), then
        carry out its effects after those of the session's earlier events. Raises EventRefused if the engine
        raised (nothing applied, nothing stored) and StoreError if the commit failed (nothing applied)."""
        async with self._lock(session_id):
            if session_id in self._dirty:
                await self._load(session_id)
            state = self.sessions.get(session_id)
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
            committed = self.store.write([self.store.event_op(session_id, seq, event), *(also or [])])
            earlier = self._delivered.get(session_id)
            delivered = self._delivered[session_id] = asyncio.get_running_loop().create_future()
            snapshot = self._snapshot_payload(session_id, state)
        try:
            try:
                await committed
            except StoreError:
                self._dirty.add(session_id)  # rebuilt from the store before its next event
                raise
            self._ideas_arrived.set()
            if earlier is not None:
                await asyncio.shield(earlier)
            await self._execute(state, effects)
            if snapshot is not None:  # taken now: every effect of the events it holds has been carried out
                self.store.write([self.store.snapshot_op(session_id, *snapshot)])
            if state.status == "ended" and state.note_status == "approved":
                await self.store.close_session(session_id)
        finally:
            delivered.set_result(None)

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

    async def _execute(self, s: Session, effects: list[Effect]) -> None:
        refs = self._refs.setdefault(s.id, {})
        for effect in effects:
            if isinstance(effect, StartTimer):
                self.timers.arm(s.id, effect.timer_id, effect.fire_at)
                continue
            if isinstance(effect, CancelTimer):
                self.timers.cancel(effect.timer_id)
                continue
            if effect.key in refs:
                continue  # carried out before a restart
            try:
                ref = await self._carry_out(s, effect, refs)
            except DeliveryError as exc:
                ref = exc.ref or _fallback_ref(effect)
                log.warning("session %s: %s did not go as planned: %s", s.id, effect.type, exc.message)
                await self._tell_facilitator(s, exc.message)
            except Exception:
                log.exception("session %s: %s failed", s.id, effect.type)
                ref = FAILED
            refs[effect.key] = ref
            self._index_ref(s.id, effect.key, ref)
            ops = [self.store.ref_op(s.id, effect.key, ref)]
            if isinstance(effect, OpenPairSpace):  # they met, whatever space the platform allowed
                ops.append(self.store.pair_op(s.channel, s.id, [m.id for m in effect.members]))
            # With the next commit (an event's, or within LAZY_SECONDS): a post never waits on the disk, and a
            # reply costs one sync. A crash in that window means the post may be made again after the restart.
            self.store.write(ops, lazy=True)

    async def _carry_out(self, s: Session, effect: Effect, refs: dict[str, str]) -> str:
        a = self.adapter
        if isinstance(effect, Post):
            aud = effect.audience
            if aud.kind == "thread":
                target = Target(kind="thread", ref=refs.get(aud.anchor or ""))
                if target.ref in (None, FAILED):
                    target = Target(kind="channel")
            elif aud.kind == "private":
                target = Target(kind="private", ref=aud.person)
            elif aud.kind == "pair":
                space = refs.get(f"pair:{aud.pair_id}", FAILED)
                if space.startswith(MEMBERS):  # no pair space could be made: each member hears privately
                    first = ""
                    for person in space[len(MEMBERS):].split(","):
                        ref = await a.post(s.channel, Target(kind="private", ref=person), effect.text,
                                           effect.actions, s.id)
                        first = first or ref
                    return first
                target = Target(kind="pair", ref=space)
            else:
                target = Target(kind="channel")
            return await a.post(s.channel, target, effect.text, effect.actions, s.id)
        if isinstance(effect, OpenPairSpace):
            return await a.open_pair_space(s.channel, effect.pair_id, effect.title, effect.members, s.id)
        if isinstance(effect, DeliverNote):
            html = await asyncio.to_thread(self._note_page, effect)
            return await a.deliver_note(s.channel, effect.convenor, effect.title, effect.markdown,
                                        effect.json_text, effect.actions, s.id, html=html)
        if isinstance(effect, PostChart):
            target = Target(kind="thread", ref=refs.get(effect.audience.anchor or ""))
            if effect.audience.kind != "thread" or target.ref in (None, FAILED):
                target = Target(kind="channel")
            png = await asyncio.to_thread(_chart_png, effect)
            return await a.post_image(s.channel, target, "ranking.png", png, effect.title, effect.alt, s.id)
        if isinstance(effect, PublishNote):
            return await a.publish_note(s.channel, effect.title, effect.markdown, s.id)
        raise TypeError(f"unknown effect {effect!r}")

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
        try:
            await self.adapter.post(s.channel, Target(kind="private", ref=s.facilitator), text, [], s.id)
        except Exception:  # telling them failed too (e.g. their DMs are closed): log it, never loop
            log.exception("could not tell the facilitator of session %s", s.id)


MEMBERS = "members:"


def _chart_png(effect: PostChart) -> bytes:
    from bot.note_page import ranking_chart  # matplotlib loads only when a chart is drawn

    return ranking_chart(effect.title, [(b.label, b.value) for b in effect.bars], "png")


def _fallback_ref(effect: Effect) -> str:
    """What to record for an effect the platform refused: for a pair space, its members, to reach privately."""
    if isinstance(effect, OpenPairSpace):
        return MEMBERS + ",".join(m.id for m in effect.members)
    return FAILED


def _involves(s: Session, person: str) -> bool:
    return person in s.participants or s.is_facilitator(person) or s.convenor == person


def _is_timer(effect: Effect) -> bool:
    return isinstance(effect, StartTimer | CancelTimer)


@asynccontextmanager
async def running(
    adapter: Adapter,
    directory: Path,
    settings: Settings | None = None,
    timers: Timers | None = None,
    clock: Callable[[], datetime] | None = None,
    db_name: str = "facilitator.sqlite3",
    cfg: EngineConfig | None = None,
) -> AsyncIterator[Runtime]:
    """A started runtime on `directory/db_name`, stopped and closed on exit."""
    settings = settings or Settings()
    store = await Store.open(directory / db_name)
    runtime = Runtime(adapter, store, timers or AsyncTimers(), settings, cfg or engine_config(settings), clock)
    adapter.bind(runtime.receive)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()
        await store.close()
