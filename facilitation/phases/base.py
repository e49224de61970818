"""What one phase's rules look like; each phase module fills in the parts it needs."""

from __future__ import annotations

from facilitation.events import ActionTaken, CommandGiven, ReplyPosted
from facilitation.turn import Turn


class PhaseRules:
    kind: str = ""
    # Whether people who have not contributed get one private nudge before the phase ends.
    nudges: bool = False

    def open(self, t: Turn) -> None:
        """The phase starts: post what people need, open spaces."""

    def nothing_to_do(self, t: Turn) -> bool:
        """Once opened: whether this phase has nothing for anyone to do (no proposals to explain, nothing to
        rank). It then says so and the session moves straight on instead of waiting for its clock."""
        return False

    def close(self, t: Turn) -> None:
        """The phase ends: turn what was collected into what the next phase needs."""

    # What is written while this phase is open (ideas, comments, reflections) is kept even if it arrives after the
    # phase closed, when it was sent before: the platform may deliver it after the facilitator's `next`.
    keeps_what_was_sent_in_time = False

    def on_reply(self, t: Turn, ev: ReplyPosted) -> bool:
        """A reply while this phase runs; False if this phase has no use for it."""
        return False

    def on_action(self, t: Turn, ev: ActionTaken) -> bool:
        return False

    def on_command(self, t: Turn, ev: CommandGiven) -> bool:
        return False

    def nudge_targets(self, t: Turn) -> list[str]:
        """Who gets this phase's one private nudge: those present who have not contributed yet."""
        done = set(t.s.contributed.get(t.s.phase_index, []))
        return [p.id for p in t.s.present() if p.id not in done]

    def status_line(self, t: Turn, person: str) -> str:
        """What `status` says about one person in this phase: counts only, never content."""
        done = person in t.s.contributed.get(t.s.phase_index, [])
        return t.say("status_done" if done else "status_not_yet")
