"""One event's worth of work: the session being changed, and the effects collected on the way."""

from __future__ import annotations

from datetime import datetime, timedelta

from facilitation.config import EngineConfig
from facilitation.effects import (
    Action,
    Audience,
    CancelTimer,
    ChartBar,
    Effect,
    Post,
    PostChart,
    StartTimer,
)
from facilitation.models import Session, Timer

QUESTION_KEY = "question"  # the session's anchor post; its thread is the session thread


class Turn:
    def __init__(self, session: Session, cfg: EngineConfig, at: datetime) -> None:
        self.s = session
        self.cfg = cfg.in_language(session.options.language)  # everything said in this session, in its language
        self.at = at
        self.effects: list[Effect] = []
        self._n = 0

    def key(self, name: str | None = None) -> str:
        """A key that is the same when the event is replayed, and unique within the session."""
        if name:
            return name
        self._n += 1
        return f"e{self.s.events_handled}.{self._n}"

    def say(self, key: str, **values: object) -> str:
        return self.cfg.say(key, **values)

    def post(
        self, audience: Audience, text: str, actions: list[Action] | None = None, key: str | None = None,
        batch: str | None = None,
    ) -> str:
        k = self.key(key)
        self.effects.append(Post(key=k, audience=audience, text=text, actions=actions or [], batch=batch))
        return k

    def chart(self, audience: Audience, title: str, bars: list[ChartBar], alt: str) -> None:
        self.effects.append(PostChart(key=self.key(), audience=audience, title=title, bars=bars, alt=alt))

    def to_channel(self, text: str, actions: list[Action] | None = None, key: str | None = None) -> str:
        return self.post(Audience(kind="channel"), text, actions, key)

    def to_thread(self, text: str, actions: list[Action] | None = None, key: str | None = None) -> str:
        """To every group's thread (the session thread when there are no groups)."""
        if not self.s.groups:
            return self.post(Audience(kind="thread", anchor=QUESTION_KEY), text, actions, key)
        keys = [self.to_group(g.id, text, actions, key and f"{key}@{g.id}") for g in self.s.groups]
        return keys[0]

    def to_group(self, group: str | None, text: str, actions: list[Action] | None = None,
                 key: str | None = None, batch: str | None = None) -> str:
        """To one breakout group's thread (`None`: the session thread)."""
        anchor = next((g.anchor for g in self.s.groups if g.id == group), QUESTION_KEY)
        return self.post(Audience(kind="thread", anchor=anchor), text, actions, key, batch)

    def to_plenary(self, text: str, actions: list[Action] | None = None, key: str | None = None) -> str:
        """To the whole meeting: the channel when there are breakout groups, else the session thread."""
        if self.s.groups:
            return self.to_channel(text, actions, key)
        return self.to_thread(text, actions, key)

    def to_everyone_now(self, text: str) -> str:
        """Where people are in this phase: the plenary (channel) once groups have come back together, else
        every group's thread."""
        spec = self.s.phase
        if spec is not None and (spec.plenary or spec.kind in ("arrange", "reflect")):
            return self.to_plenary(text)
        return self.to_thread(text)

    def group_ids(self) -> list[str | None]:
        return [g.id for g in self.s.groups] or [None]

    def is_session_thread(self, key: str | None) -> bool:
        return key == QUESTION_KEY or any(g.anchor == key for g in self.s.groups)

    def to_person(self, person: str, text: str, actions: list[Action] | None = None) -> str:
        return self.post(Audience(kind="private", person=person), text, actions)

    def to_facilitators(self, text: str) -> None:
        for person in [self.s.facilitator, *self.s.cofacilitators]:
            self.to_person(person, text)

    def to_pair(self, pair_id: str, text: str, actions: list[Action] | None = None, key: str | None = None) -> str:
        return self.post(Audience(kind="pair", pair_id=pair_id), text, actions, key)

    # Timers: ids carry a generation so a timer from before a pause or extension is recognisably stale.
    def arm(self, kind: str, fire_at: datetime) -> None:
        s = self.s
        timer = Timer(id=f"{s.id}:{s.timer_generation}:{kind}", kind=kind, fire_at=fire_at)  # type: ignore[arg-type]
        s.timers[timer.id] = timer
        self.effects.append(StartTimer(key=self.key(), timer_id=timer.id, fire_at=fire_at))

    def disarm_all(self) -> None:
        for timer_id in list(self.s.timers):
            self.effects.append(CancelTimer(key=self.key(), timer_id=timer_id))
        self.s.timers.clear()
        self.s.timer_generation += 1

    def arm_phase_timers(self) -> None:
        """(Re)arm the end of the phase and the reminder before it, from the session's deadline."""
        self.disarm_all()
        if self.s.deadline is None:
            return
        self.arm("end", self.s.deadline)
        remind_at = self.s.deadline - timedelta(seconds=self.s.options.reminder_seconds)
        if remind_at > self.at:
            self.arm("reminder", remind_at)

    def minutes_left(self) -> str:
        """Time left in the phase, as people say it: "5 min", "90 s"."""
        if self.s.deadline is None:
            return "?"
        return duration_text(max((self.s.deadline - self.at).total_seconds(), 0))

    def mark_contributed(self, person: str) -> None:
        self.s.mark_contributed(self.s.phase_index, person)


def duration_text(seconds: float) -> str:
    if seconds < 120:
        return f"{round(seconds)} s"
    return f"{round(seconds / 60)} min"
