"""Drives the pure engine by hand: people, replies, commands and a fake clock; reads back what the bot did."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta

from facilitation.config import EngineConfig
from facilitation.effects import (
    CancelTimer,
    DeliverNote,
    Effect,
    OpenPairSpace,
    Post,
    PublishNote,
    StartTimer,
)
from facilitation.engine import handle
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
from facilitation.models import Options, Session, Structure
from facilitation.note import RoundUpNote

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
FACILITATOR = "F"
FACILITATOR_NAME = "Fenella Grove"
NAMES = [
    "Amara Quist", "Bruno Ferrante", "Chidi Okafor", "Dagny Lund", "Esme Varga", "Farid Haddad",
    "Gulnara Sadykova", "Hiroshi Tanabe", "Ines Carvalho", "Jonas Petrauskas", "Kalani Akana", "Lior Benami",
]


def pid(n: int) -> str:
    """The id of participant n (1-based)."""
    return f"U{n}"


def name_of(person: str) -> str:
    if person == FACILITATOR:
        return FACILITATOR_NAME
    n = int(person[1:])
    return NAMES[n - 1] if n <= len(NAMES) else f"Member{n} Zqx"


def template(cfg: EngineConfig, key: str) -> re.Pattern[str]:
    """A regex matching any filling-in of the message `key`, so tests can say which message was sent."""
    parts = []
    for literal, field, _, _ in string.Formatter().parse(cfg.messages[key].strip("\n")):
        parts.append(re.escape(literal))
        if field is not None:
            parts.append(".*?")
    return re.compile("".join(parts) + "$", re.S)


class Driver:
    """One session: sends events at a fake time, keeps every effect, and tracks the timers the runtime would arm."""

    def __init__(self, cfg: EngineConfig, structure: Structure, options: Options, *, session_id: str = "s1",
                 channel: str = "C1", seed: int = 7, past_pairs: list[list[str]] | None = None,
                 cofacilitators: list[str] | None = None, convenor: str | None = None,
                 question: str = "What should the council learn from people who use its services?") -> None:
        self.cfg = cfg
        self.clock = T0
        self.state: Session | None = None
        self.log: list[Effect] = []
        self.events: list[Event] = []  # every event sent, in order, as the runtime's store would hold them
        self.explained: list[bool] = []  # per effect in `log`: had Explain (or the end) been reached then?
        self.last: list[Effect] = []
        self.armed: dict[str, datetime] = {}
        self._refs = 0
        self.send(SessionStarted(
            at=self.clock, session_id=session_id, channel=channel, question=question, facilitator=FACILITATOR,
            facilitator_name=FACILITATOR_NAME, cofacilitators=cofacilitators or [], convenor=convenor,
            structure=structure, options=options, seed=seed, past_pairs=past_pairs or [],
        ))

    # --- sending --------------------------------------------------------------------------------------
    @property
    def s(self) -> Session:
        assert self.state is not None
        return self.state

    def send(self, ev: Event) -> list[Effect]:
        self.events.append(ev)
        self.state, effects = handle(self.state, ev, self.cfg)
        if isinstance(ev, TimerFired):
            self.armed.pop(ev.timer_id, None)
        for e in effects:
            if isinstance(e, StartTimer):
                self.armed[e.timer_id] = e.fire_at
            elif isinstance(e, CancelTimer):
                self.armed.pop(e.timer_id, None)
        reached = self.state is not None and (self.state.status == "ended" or self._explain_reached())
        self.log += effects
        self.explained += [reached] * len(effects)
        self.last = effects
        return effects

    def _explain_reached(self) -> bool:
        kinds = [p.kind for p in self.s.structure.phases]
        return "explain" in kinds and self.s.phase_index >= kinds.index("explain")

    def join(self, person: str) -> list[Effect]:
        return self.send(ActionTaken(at=self.clock, person=person, name=name_of(person), action="join"))

    def ref(self) -> str:
        self._refs += 1
        return f"m{self._refs}"

    def reply(self, person: str, text: str, *, ref: str | None = None, reply_to: str | None = "question",
              private: bool = False, tags: dict[str, str] | None = None) -> list[Effect]:
        self.last_ref = ref or self.ref()
        return self.send(ReplyPosted(at=self.clock, person=person, name=name_of(person), text=text,
                                     message_ref=self.last_ref, reply_to=reply_to, private=private,
                                     tags=tags or {}))

    def idea(self, person: str, text: str) -> list[Effect]:
        """An idea sent privately (a direct message to the bot), as private mode asks."""
        return self.reply(person, text, reply_to=None, private=True)

    def edit(self, person: str, ref: str, text: str) -> list[Effect]:
        return self.send(ReplyEdited(at=self.clock, person=person, message_ref=ref, text=text))

    def delete(self, person: str, ref: str) -> list[Effect]:
        return self.send(ReplyDeleted(at=self.clock, person=person, message_ref=ref))

    def cmd(self, person: str, command: str, args: str = "") -> list[Effect]:
        return self.send(CommandGiven(at=self.clock, person=person, name=name_of(person), command=command,
                                      args=args))

    def act(self, person: str, action: str, value: str = "",
            values: dict[str, str | list[str]] | None = None) -> list[Effect]:
        return self.send(ActionTaken(at=self.clock, person=person, name=name_of(person), action=action,
                                     value=value, values=values or {}))

    def fac(self, command: str, args: str = "") -> list[Effect]:
        return self.cmd(FACILITATOR, command, args)

    def pick(self, person: str, *idea_ids: str, reason: str = "") -> list[Effect]:
        numbers = " ".join("#" + i.lstrip("i") for i in idea_ids)
        return self.cmd(person, "pick", f"{numbers} because {reason}" if reason else numbers)

    def vote(self, person: str, *numbers: int) -> list[Effect]:
        return self.cmd(person, "vote", " ".join(str(n) for n in numbers))

    def comment(self, person: str, proposal_id: str, text: str) -> list[Effect]:
        return self.reply(person, text, reply_to=f"proposal:{proposal_id}")

    def fire(self, timer_id: str) -> list[Effect]:
        return self.send(TimerFired(at=self.clock, timer_id=timer_id))

    def advance(self, seconds: float) -> list[Effect]:
        """Move the clock on, firing every armed timer that falls due, in order, at its own time."""
        target = self.clock + timedelta(seconds=seconds)
        out: list[Effect] = []
        while True:
            due = sorted((at, tid) for tid, at in self.armed.items() if at <= target)
            if not due:
                break
            at, tid = due[0]
            self.clock = max(self.clock, at)
            out += self.fire(tid)
        self.clock = target
        self.last = out
        return out

    def run_out(self) -> list[Effect]:
        """Let the current phase run to its end (its end timer fires)."""
        end = self.end_timer()
        assert end is not None, "no end timer armed"
        return self.advance((self.armed[end] - self.clock).total_seconds())

    def end_timer(self) -> str | None:
        return next((t for t in self.armed if t.endswith(":end")), None)

    def next_to(self, kind: str) -> None:
        """The facilitator presses next until the phase `kind` is running."""
        for _ in range(len(self.s.structure.phases)):
            if self.phase == kind:
                return
            self.fac("next")
        assert self.phase == kind

    # --- reading ---------------------------------------------------------------------------------------
    @property
    def phase(self) -> str | None:
        if self.s.status == "ended" or self.s.phase is None:
            return None
        return self.s.phase.kind

    def posts(self, effects: list[Effect] | None = None) -> list[Post]:
        return [e for e in (self.log if effects is None else effects) if isinstance(e, Post)]

    def private(self, person: str, effects: list[Effect] | None = None) -> list[str]:
        return [p.text for p in self.posts(effects) if p.audience.kind == "private" and p.audience.person == person]

    def thread(self, effects: list[Effect] | None = None) -> list[str]:
        return [p.text for p in self.posts(effects) if p.audience.kind == "thread"]

    def public(self, effects: list[Effect] | None = None) -> list[str]:
        return [p.text for p in self.posts(effects) if p.audience.kind in ("thread", "channel")]

    def pair_posts(self, pair_id: str, effects: list[Effect] | None = None) -> list[str]:
        return [p.text for p in self.posts(effects) if p.audience.kind == "pair" and p.audience.pair_id == pair_id]

    def said(self, key: str, texts: list[str]) -> list[str]:
        """The texts that are the message `key` (any filling-in)."""
        pattern = template(self.cfg, key)
        return [t for t in texts if pattern.match(t)]

    def told(self, person: str, key: str, effects: list[Effect] | None = None) -> bool:
        return bool(self.said(key, self.private(person, self.last if effects is None else effects)))

    def pair_spaces(self) -> list[OpenPairSpace]:
        return [e for e in self.log if isinstance(e, OpenPairSpace)]

    def pair_of(self, person: str) -> str:
        return next(p.id for p in self.s.pairs if person in p.members)

    def ideas_of(self, person: str) -> list[str]:
        return [i.id for i in self.s.live_ideas() if i.author == person]

    def delivered(self) -> list[DeliverNote]:
        return [e for e in self.log if isinstance(e, DeliverNote)]

    def published(self) -> list[PublishNote]:
        return [e for e in self.log if isinstance(e, PublishNote)]

    def note(self) -> RoundUpNote:
        """The latest draft (a new one is made when something reached the session after the one before)."""
        notes = self.delivered()
        assert notes, "no note delivered"
        return RoundUpNote.model_validate_json(notes[-1].json_text)

    def note_md(self) -> str:
        return self.delivered()[-1].markdown


def audited_text(post: Post) -> str:
    """Everything a post shows: its text and the labels and choices of its buttons' forms."""
    bits = [post.text]
    for a in post.actions:
        bits.append(a.label)
        if a.form:
            for f in a.form.fields:
                bits += [f.label, f.initial or ""] + [c.label for c in f.choices]
    return "\n".join(bits)
