"""Walks both transition tables (facilitation/transitions.py): every (status, command or event) the tables name,
done to a real session in that status, leaves the status the table says, or is refused with the table's message
and changes nothing."""

from __future__ import annotations

import pytest

from facilitation import lifecycle
from facilitation.effects import Post
from facilitation.transitions import NOTE, SESSION, NotHere, Refused
from facilitation.turn import Turn
from tests.engine.conftest import CFG, new_session
from tests.engine.driver import FACILITATOR, Driver, pid


def _session(status: str, *, in_arrange: bool = False) -> tuple[Driver, str]:
    """A session of three in `status` (in Arrange if asked), and a timer that was armed before it got there."""
    # `end` waits for the empty chair; a closing round follows Arrange: neither control goes on to finish
    d = new_session(3, own_private=False, empty_chair_seconds=60, closing_round=True)
    for n in (1, 2, 3):
        d.reply(pid(n), f"Idea {n} about the library")
    if in_arrange:
        d.next_to("arrange")
    timer = next(iter(d.armed))
    if status == "paused":
        d.fac("pause")
    elif status == "ended":
        d.fac("end")  # the phase closes and the empty chair has its minute
        d.fac("end")  # `end` again: the note goes out now
    assert d.s.status == status
    return d, timer


def _do(d: Driver, happened: str, timer: str) -> None:
    if happened == "timer":
        d.fire(timer)
    elif happened == "finish":
        t = Turn(d.s, CFG, d.clock)
        lifecycle.finish(t)
        d.last = t.effects
    elif happened == "join":
        d.join(pid(4))
    elif happened == "next_meeting":
        d.fac("next", "meeting 2027-01-15: Opening hours")
    else:
        d.fac(happened, "2" if happened == "extend" else "hello everyone" if happened == "broadcast" else "")


def _told(d: Driver, person: str) -> list[str]:
    return [e.text for e in d.last if isinstance(e, Post) and e.audience.person == person]


@pytest.mark.parametrize(("status", "happened"), sorted(SESSION))
def test_each_control_and_event_leaves_the_status_the_session_table_says(status: str, happened: str) -> None:
    d, timer = _session(status, in_arrange=happened == "confirm")
    after = SESSION[(status, happened)]  # type: ignore[index]
    _do(d, happened, timer)
    person = pid(4) if happened == "join" else FACILITATOR
    if isinstance(after, Refused):
        assert d.s.status == status
        assert _told(d, person) == ([CFG.say(after.key)] if after.key else [])
        assert after.key or not d.last, "ignored without a word"
    elif isinstance(after, NotHere):
        assert d.s.status == status and _told(d, FACILITATOR) == [CFG.say("command_not_now", command=happened)]
    else:
        assert d.s.status == after
        if happened == "join":
            assert pid(4) in d.s.participants


def _note(note_status: str) -> Driver:
    d, _ = _session("ended" if note_status != "none" else "running")
    if note_status == "approved":
        d.fac("approve")
    assert d.s.note_status == note_status
    return d


@pytest.mark.parametrize(("note_status", "happened"), sorted(NOTE))
def test_the_note_and_what_people_send_follow_the_note_table(note_status: str, happened: str) -> None:
    d = _note(note_status)
    if happened == "draft":  # drafted by the end, and again by each of the convenor's edits
        for command, args in [("end", ""), ("end", "")] if note_status == "none" else [("note", "summary One line")]:
            d.fac(command, args)
        assert d.s.note_status == NOTE[(note_status, happened)]  # type: ignore[index]
        return
    revision = d.s.note_revision
    after = NOTE[(note_status, happened)]  # type: ignore[index]
    person = FACILITATOR if happened in ("approve", "edit") else pid(1)
    if happened == "approve":
        d.fac("approve")
    elif happened == "edit":
        d.fac("note", "summary In short: longer opening hours")
    elif happened == "reply":
        d.reply(person, "One more thought")
    elif happened == "reply_edited":
        d.edit(person, "m1", "Idea 1, edited")
    else:
        d.delete(person, "m1")
    if isinstance(after, Refused):
        assert d.s.note_status == note_status and d.s.note_revision == revision
        assert _told(d, person) == ([CFG.say(after.key)] if after.key else [])
    else:
        assert d.s.note_status == after
        assert CFG.say("session_closed") not in _told(d, person)
