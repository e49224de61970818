"""Scripted sessions: `facilitator simulate` (simulated clock, instant) and `facilitator demo` (real timers).

The scenario format is documented in docs/scenarios.md. Steps run in order; a step naming a
`phase` waits until that phase is open (on the simulated clock, by firing the next timer).
Participants refer to ideas and proposals by their text, never by internal ids.
"""

from __future__ import annotations

import asyncio
import random
import shlex
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from adapters.base import ActionSubmitted, CommandIssued, MessageDeleted, MessageEdited
from adapters.console import ConsoleAdapter
from bot.assembly import assembled
from bot.runtime import Runtime
from bot.scheduler import AsyncTimers, VirtualTimers
from bot.settings import Settings
from facilitation.effects import Person
from facilitation.models import Idea, Session


class ScenarioError(ValueError):
    """The scenario file is wrong; the message names the step and what to change."""


class Participant(BaseModel):
    name: str
    tags: dict[str, str] = {}
    group: int | None = None  # the breakout group they choose (with start option assign=choice)


class Step(BaseModel):
    who: str | None = None
    phase: str | None = None  # wait until this phase (kind) is open
    id: str | None = None  # a label later steps use to edit or withdraw this reply
    reply: str | None = None
    private: bool = False
    edit: str | None = None
    withdraw: str | None = None  # id of an earlier reply
    join: bool = False
    leave: bool = False
    pick: list[str] | str | None = None  # idea texts (or the start of them)
    reason: str = ""
    vote: list[str] | None = None  # proposal texts: one per dot, best first, or approved
    comment: str | None = None
    on: str | None = None  # the proposal a comment is about
    empty_chair: str | None = None
    command: str | None = None
    wait: float | None = None  # minutes
    approve: bool = False


class Scenario(BaseModel):
    question: str
    facilitator: str = "Facilitator"
    convenor: str | None = None
    start: str = ""  # start options as typed: "voting=borda own=open"
    participants: list[Participant] = []
    steps: list[Step] = []
    approve: bool = True  # the convenor approves the note at the end
    seed: int = 1  # pairs and tie-breaks repeat exactly for the same seed


def load_scenario(path: Path) -> Scenario:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Scenario.model_validate(data)
    except FileNotFoundError:
        raise ScenarioError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ScenarioError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


class Driver:
    def __init__(self, scenario: Scenario, adapter: ConsoleAdapter, runtime: Runtime, realtime: bool,
                 pause: float = 0.0) -> None:
        self.sc = scenario
        self.adapter = adapter
        self.runtime = runtime
        self.realtime = realtime
        self.pause = pause
        self.refs: dict[str, str] = {}  # step id -> message ref
        self.session_id = ""
        self._texts: dict[str, Idea] = {}  # ideas by their text, lower case (the first of equal texts)
        self._texts_seen = 0

    @property
    def session(self) -> Session:
        return self.runtime.sessions[self.session_id]

    def person(self, name: str) -> Person:
        return self.adapter.person(name)

    async def run(self) -> Session:
        fac = self.person(self.sc.facilitator)
        start = f"start {self.sc.start} {self.sc.question}".replace("  ", " ")
        if self.sc.convenor:
            start = f"start convenor={self.person(self.sc.convenor).id} {self.sc.start} {self.sc.question}"
        reply = await self.adapter.send(CommandIssued(channel=self.adapter.channel, person=fac, text=start))
        if reply is not None or not self.runtime.sessions:
            raise ScenarioError(f"the session did not start: {reply.text if reply else 'no session'}")
        self.session_id = next(iter(self.runtime.sessions))
        for p in self.sc.participants:
            self.adapter.names[self.person(p.name).id] = p.name
            words = [f"{k}={shlex.quote(v)}" for k, v in p.tags.items()] + ([str(p.group)] if p.group else [])
            await self.adapter.send(CommandIssued(channel=self.adapter.channel, person=self.person(p.name),
                                                  text=" ".join(["join", *words])))
        for n, step in enumerate(self.sc.steps, start=1):
            try:
                await self.step(step)
            except ScenarioError as exc:
                raise ScenarioError(f"step {n}: {exc}") from None
            if self.pause:
                await asyncio.sleep(self.pause)
        while self.session.status != "ended":
            await self.tick()
        await self.runtime.settled(self.session_id)  # the session ends before its note is delivered
        if self.sc.approve:
            note = next(m for m in reversed(self.adapter.messages) if m.kind == "note")
            await self.adapter.click(self.person(self.sc.convenor or self.sc.facilitator), note.ref, "Approve")
        return self.session

    def _question_ref(self) -> str:
        return next(m.ref for m in self.adapter.messages if m.where == "channel" and m.session_id == self.session_id)

    async def tick(self) -> None:
        """Let time pass until the next thing happens: a timer on the simulated clock, a moment in real time."""
        if self.realtime:
            await asyncio.sleep(0.05)
            return
        timers = self.runtime.timers
        assert isinstance(timers, VirtualTimers)
        due = timers.next_due()
        if due is None:
            raise ScenarioError("the session is waiting for the facilitator but no step moves it on")
        at, session_id, timer_id = due
        clock = self.runtime.clock
        assert isinstance(clock, SimulatedClock)
        clock.now = max(clock.now, at)
        await self.runtime.fire_timer(session_id, timer_id)

    async def wait_for_phase(self, kind: str) -> None:
        kinds = [p.kind for p in self.session.structure.phases]
        if kind not in kinds:
            raise ScenarioError(f"this structure has no phase '{kind}' ({', '.join(kinds)})")
        while self.session.status != "ended" and (self.session.phase is None or self.session.phase.kind != kind):
            await self.tick()

    def _idea_id(self, text: str) -> str:
        wanted = text.strip().lower()
        exact = self._ideas_by_text().get(wanted)  # the common case, without a scan of every idea
        if exact is not None and not exact.withdrawn and exact.text.strip().lower() == wanted:
            return exact.id
        for idea in self.session.live_ideas():
            if idea.text.strip().lower().startswith(wanted):
                return idea.id
        raise ScenarioError(f"no idea starts with {text!r}")

    def _ideas_by_text(self) -> dict[str, Idea]:
        ideas = self.session.ideas
        for idea in ideas[self._texts_seen:]:
            self._texts.setdefault(idea.text.strip().lower(), idea)
        self._texts_seen = len(ideas)
        return self._texts

    def _proposal_id(self, text: str) -> str:
        idea_id = self._idea_id(text)
        for p in self.session.proposals:
            if p.idea_id == idea_id:
                return p.id
        raise ScenarioError(f"{text!r} is not a proposal")

    def _ref_of_key(self, key: str) -> str:
        ref = self.runtime.ref_of(self.session_id, key)
        if ref is None:
            raise ScenarioError(f"the bot has not posted {key} yet")
        return ref

    async def step(self, step: Step) -> None:
        if step.phase:
            await self.wait_for_phase(step.phase)
        if step.wait:
            await self._wait(step.wait)
        if step.who is None:
            return
        who = self.person(step.who)
        ch = self.adapter.channel
        await self.runtime.settled(self.session_id)  # in real time a timer may be mid-way through a phase change
        if step.join:
            await self.adapter.click(who, self._question_ref(), "Join")
        if step.leave:
            await self.adapter.send(CommandIssued(channel=ch, person=who, text="leave"))
        if step.reply is not None:
            line = f"{who.name} dm: {step.reply}" if step.private else f"{who.name}: {step.reply}"
            await self.adapter.user_line(line)
            if step.id:
                self.refs[step.id] = self.adapter.last_user_ref
        if step.edit is not None:
            await self.adapter.send(MessageEdited(channel=ch, person=who, message_ref=self._step_ref(step.id),
                                                  text=step.edit))
        if step.withdraw:
            await self.adapter.send(MessageDeleted(channel=ch, person=who, message_ref=self._step_ref(step.withdraw)))
        if step.pick is not None:
            picks = [step.pick] if isinstance(step.pick, str) else step.pick
            await self._action(who, "pick", {"ideas": [self._idea_id(p) for p in picks], "reason": step.reason})
        if step.vote is not None:
            await self._action(who, "vote", self._ballot([self._proposal_id(v) for v in step.vote]))
        if step.comment is not None:
            target = self._ref_of_key(f"proposal:{self._proposal_id(step.on)}") if step.on else None
            await self.adapter.user_line(f"{who.name}@{target}: {step.comment}" if target
                                         else f"{who.name}: {step.comment}")
        if step.empty_chair is not None:
            asked = [ref for k, ref in self.runtime.refs_of(self.session_id).items() if k.startswith("empty-chair:")]
            if not asked:
                raise ScenarioError("the empty-chair question has not been asked yet")
            await self.adapter.user_line(f"{who.name}@{asked[-1]}: {step.empty_chair}")
        if step.command:
            await self.adapter.user_line(f"{who.name} /{step.command}")
        if step.approve:
            note = next((m for m in reversed(self.adapter.messages) if m.kind == "note"), None)
            if note is None:
                raise ScenarioError("there is no note to approve yet")
            await self.adapter.click(who, note.ref, "Approve")

    def _step_ref(self, step_id: str | None) -> str:
        if not step_id or step_id not in self.refs:
            raise ScenarioError(f"no earlier reply with id {step_id!r}")
        return self.refs[step_id]

    def _ballot(self, choices: list[str]) -> dict[str, Any]:
        method = self.session.options.voting
        if method == "dots":
            counts: dict[str, Any] = {}
            for c in choices:
                counts[c] = str(int(counts.get(c, "0")) + 1)
            return counts
        if method == "approval":
            return {"approve": choices}
        return {f"rank_{n}": c for n, c in enumerate(choices, start=1)}

    async def _action(self, who: Person, action: str, values: dict[str, Any]) -> None:
        await self.adapter.send(ActionSubmitted(channel=self.adapter.channel, person=who, session_id=self.session_id,
                                                action=action, values=values))

    async def _wait(self, minutes: float) -> None:
        if self.realtime:
            await asyncio.sleep(minutes * 60)
            return
        clock = self.runtime.clock
        assert isinstance(clock, SimulatedClock)
        until = clock.now + timedelta(minutes=minutes)
        timers = self.runtime.timers
        assert isinstance(timers, VirtualTimers)
        while self.session.status != "ended":
            due = timers.next_due()
            if due is None or due[0] > until:
                if due is not None:
                    timers.arm(due[1], due[2], due[0])
                break
            clock.now = max(clock.now, due[0])
            await self.runtime.fire_timer(due[1], due[2])
        clock.now = max(clock.now, until)


class SimulatedClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


async def run_scenario(
    scenario: Scenario,
    adapter: ConsoleAdapter,
    db: Path,
    settings: Settings,
    mode: Literal["simulated", "realtime"] = "simulated",
    pause: float = 0.0,
    start: datetime | None = None,
) -> Session:
    rng = random.Random(scenario.seed)
    simulated = mode == "simulated"
    timers = VirtualTimers() if simulated else AsyncTimers()
    clock = SimulatedClock(start or datetime.now(UTC)) if simulated else None
    async with assembled(adapter, settings, database=db, timers=timers, clock=clock, rng=rng) as runtime:
        return await Driver(scenario, adapter, runtime, realtime=not simulated, pause=pause).run()
