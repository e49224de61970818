"""Which control or input a session takes in which status, and how its status and its note's status move.

One table for each question, consulted by the engine (controls, lifecycle, timers, replies), in the style of
h11's `_state.py`: a move the tables do not allow raises, so an event that would break the rules is refused
whole (the runtime tells the sender) rather than applied halfway.
"""

from __future__ import annotations

from typing import Literal

from facilitation.models import Session

Status = Literal["running", "paused", "ended"]
NoteStatus = Literal["none", "draft", "approved"]

CONTROLS = frozenset({"next", "confirm", "extend", "pause", "resume", "skip", "end", "status", "add", "remove",
                      "broadcast"})

# The facilitator's controls each status refuses, with the message the facilitator gets instead.
# (`next meeting ...` is taken in every status: it only fills in the note.)
REFUSED: dict[Status, dict[str, str]] = {
    "running": {"resume": "not_paused"},
    "paused": {"pause": "already_paused"},
    "ended": dict.fromkeys(CONTROLS - {"status"}, "session_already_ended"),
}

# Each status move, and what may make it: a control, a timer, or the engine finishing the session.
MOVES: dict[tuple[Status, Status], frozenset[str]] = {
    ("running", "paused"): frozenset({"pause"}),
    ("paused", "running"): frozenset({"resume", "next", "confirm", "end"}),
    ("running", "ended"): frozenset({"finish"}),
}

# Timers (phase ends, reminders) fire only while the session runs: a pause disarms them, the end cancels them.
TIMERS_FIRE: dict[Status, bool] = {"running": True, "paused": False, "ended": False}

# What people write (replies, edits, deletions) is taken until the convenor approves the note: the posted
# note never changes unseen.
TAKES_REPLIES: dict[NoteStatus, bool] = {"none": True, "draft": True, "approved": False}

# The convenor's note actions each note status refuses, with the message the convenor gets instead.
NOTE_REFUSED: dict[NoteStatus, dict[str, str]] = {
    "none": {"approve": "note_not_ready", "edit": "note_not_ready"},
    "draft": {},
    "approved": {"approve": "note_already_posted", "edit": "note_already_posted"},
}

NOTE_MOVES: frozenset[tuple[NoteStatus, NoteStatus]] = frozenset({
    ("none", "draft"),  # the session ended: the first draft goes to the convenor
    ("draft", "draft"),  # an edit, or what arrived after the draft: a new draft
    ("draft", "approved"),  # the convenor approved exactly the draft they saw
})


def refusal(s: Session, control: str) -> str | None:
    """The message key refusing `control` in the session's status, or None if the status takes it."""
    return REFUSED[s.status].get(control)


def note_refusal(s: Session, action: Literal["approve", "edit"]) -> str | None:
    return NOTE_REFUSED[s.note_status].get(action)


def move(s: Session, to: Status, by: str) -> None:
    """Change the session's status; a move the table does not allow `by` this is a bug in the engine."""
    if s.status == to:
        return
    if by not in MOVES.get((s.status, to), frozenset()):
        raise ValueError(f"status {s.status} -> {to} is not a move {by!r} makes")
    s.status = to


def move_note(s: Session, to: NoteStatus) -> None:
    if (s.note_status, to) not in NOTE_MOVES:
        raise ValueError(f"note {s.note_status} -> {to} is not allowed")
    s.note_status = to
