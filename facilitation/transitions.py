"""Which command or event is allowed in which status, and the status it leaves, as two tables (in the manner
of h11's `_state.py`). The engine consults them and sets `status` and `note_status` only from them.

A session is `running`, `paused` or `ended`; its note is `none` (no draft yet), `draft` (with the convenor) or
`approved` (posted). Each table maps (status, what happened) to the status after it, or to `Refused(key)`: the
person is told the message `key` (config/messages), or nothing when `key` is None, and nothing changes. A pair
missing from a table is a bug in the engine, and raises.

What a phase allows (a ballot in Rank, `confirm` in Arrange) is the phase's own business (facilitation/phases/);
these tables hold only what the status decides.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Status = Literal["running", "paused", "ended"]
NoteStatus = Literal["none", "draft", "approved"]


class Refused(NamedTuple):
    key: str | None  # the message that says why; None: ignored without a word


class NotHere(NamedTuple):
    """Not a control in this status: the command goes on to the phase, which may take it or say it can't."""


NOT_HERE = NotHere()
_ENDED = Refused("session_already_ended")
# Controls that leave the status as it is, and are refused once the session has ended.
_KEEP = ("extend", "skip", "add", "remove", "broadcast")

# The facilitator's controls, joining, the clock, and the session's own end (`finish`: after the last phase, or `end`).
SESSION: dict[tuple[Status, str], Status | Refused | NotHere] = {
    ("running", "next"): "running",
    ("paused", "next"): "running",  # moving on starts the clock again
    ("ended", "next"): _ENDED,
    ("running", "confirm"): "running",  # themes confirmed: Arrange ends like `next`
    ("paused", "confirm"): "running",
    ("ended", "confirm"): NOT_HERE,
    ("running", "pause"): "paused",
    ("paused", "pause"): Refused("already_paused"),
    ("ended", "pause"): _ENDED,
    ("running", "resume"): Refused("not_paused"),
    ("paused", "resume"): "running",
    ("ended", "resume"): _ENDED,
    ("running", "end"): "running",  # the phase closes; the empty chair may have its time before `finish`
    ("paused", "end"): "running",
    ("ended", "end"): _ENDED,
    ("running", "status"): "running",
    ("paused", "status"): "paused",
    ("ended", "status"): "ended",
    ("running", "next_meeting"): "running",  # the note's Next meeting: also after the end, which redrafts it
    ("paused", "next_meeting"): "paused",
    ("ended", "next_meeting"): "ended",
    ("running", "timer"): "running",  # a reminder, or the phase's end (which may `finish`)
    ("paused", "timer"): Refused(None),  # a timer the pause cancelled, arriving all the same
    ("ended", "timer"): Refused(None),
    ("running", "join"): "running",  # a participant joins (the button, or `join`)
    ("paused", "join"): "paused",
    ("ended", "join"): _ENDED,  # nothing left to take part in; joining now would only change the note's counts
    ("running", "finish"): "ended",  # `end` and `next` set `running` first: a paused session never finishes
    ("ended", "finish"): Refused(None),
    **{(status, control): status for status in ("running", "paused") for control in _KEEP},  # type: ignore[misc]
    **{("ended", control): _ENDED for control in _KEEP},
}

# The round-up note: drafting it (at the end, after an edit), the convenor's approval and edits, and what people
# send once it is posted (never taken: a posted note does not change unseen).
NOTE: dict[tuple[NoteStatus, str], NoteStatus | Refused] = {
    ("none", "draft"): "draft",
    ("draft", "draft"): "draft",
    ("none", "approve"): Refused("note_not_ready"),
    ("draft", "approve"): "approved",
    ("approved", "approve"): Refused("note_already_posted"),
    ("none", "edit"): Refused("note_not_ready"),
    ("draft", "edit"): "draft",
    ("approved", "edit"): Refused("note_already_posted"),
    **{(note, event): note for note in ("none", "draft") for event in ("reply", "reply_edited", "reply_deleted")},
    ("approved", "reply"): Refused("session_closed"),
    ("approved", "reply_edited"): Refused("session_closed"),
    ("approved", "reply_deleted"): Refused(None),
}


def session_after(status: Status, happened: str) -> Status | Refused | NotHere:
    """The session's status after `happened` (a control word, `timer` or `finish`), or why it is refused."""
    return SESSION[(status, happened)]


def note_after(status: NoteStatus, happened: str) -> NoteStatus | Refused:
    """The note's status after `happened` (`draft`, `approve`, `edit`, or a reply event), or why it is refused."""
    return NOTE[(status, happened)]
