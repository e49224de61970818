"""The status tables (facilitation/transitions.py) walked through the engine: every control in every status
either is refused with the table's message and changes nothing, or moves the session only as the table allows."""

from __future__ import annotations

import pytest

from facilitation import transitions
from tests.engine.conftest import new_session
from tests.engine.driver import FACILITATOR, Driver, pid

ARGS = {"extend": "5", "add": "Zed", "remove": "U2", "broadcast": "Two minutes left"}


def _in_status(status: str) -> Driver:
    d = new_session(3)
    d.idea(pid(1), "A community fridge by the library")
    if status == "paused":
        d.fac("pause")
    elif status == "ended":
        d.fac("end")
        d.fac("end")  # the second `end` does not wait for the empty chair
    assert d.s.status == status
    return d


@pytest.mark.parametrize("status", ["running", "paused", "ended"])
@pytest.mark.parametrize("control", sorted(transitions.CONTROLS - {"confirm"}))
def test_each_control_in_each_status_follows_the_table(status: str, control: str) -> None:
    d = _in_status(status)
    before = d.s.model_copy(deep=True)
    d.fac(control, ARGS.get(control, ""))
    refused = transitions.REFUSED[status].get(control)  # type: ignore[index]
    if refused is not None:
        assert d.told(FACILITATOR, refused)
        assert d.s.status == before.status and d.s.phase_index == before.phase_index
        assert len(d.s.ideas) == len(before.ideas) and d.s.participants == before.participants
    else:
        after = d.s.status
        finished = after == "ended" and control in ("next", "end")  # the engine finishes the session for them
        assert after == status or finished or control in transitions.MOVES[(status, after)]  # type: ignore[index]


def test_timers_do_not_fire_while_paused_and_replies_stop_once_the_note_is_posted() -> None:
    d = _in_status("paused")
    phase = d.phase
    d.advance(3600)
    assert d.phase == phase  # an hour on, the paused phase is still open
    d.fac("resume")
    d.fac("end")
    d.fac("end")
    d.cmd(d.s.convenor, "approve")
    assert d.s.note_status == "approved"
    d.reply(pid(2), "One more thought after the note went out")
    assert d.told(pid(2), "session_closed")
    assert all("One more thought" not in i.text for i in d.s.ideas)


def test_a_status_move_the_table_does_not_allow_is_refused_whole() -> None:
    d = _in_status("ended")
    with pytest.raises(ValueError):
        transitions.move(d.s, "paused", "pause")
    assert d.s.status == "ended"
