"""Facilitator controls, refusals, status, reminders, nudges and stale timers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.engine.driver import FACILITATOR, pid

CONTROLS = [("next", ""), ("extend", "5"), ("pause", ""), ("resume", ""), ("skip", ""), ("end", ""),
            ("status", ""), ("confirm", "")]


@pytest.mark.parametrize(("command", "args"), CONTROLS)
def test_controls_are_refused_for_non_facilitators(session, command, args):
    d = session(2, cofacilitators=["C9"])
    d.idea(pid(1), "Secret idea content")
    before = (d.s.phase_index, d.s.status, dict(d.armed), d.s.deadline, list(d.s.skipped))
    d.cmd(pid(2), command, args)
    assert d.told(pid(2), "not_facilitator")
    assert [p.audience.person for p in d.posts(d.last)] == [pid(2)]
    assert (d.s.phase_index, d.s.status, dict(d.armed), d.s.deadline, list(d.s.skipped)) == before
    d.act(pid(2), f"control:{command}", value=args)  # the buttons too
    assert d.told(pid(2), "not_facilitator")
    assert (d.s.phase_index, d.s.status, dict(d.armed), d.s.deadline, list(d.s.skipped)) == before


def test_a_cofacilitator_may_steer(session):
    d = session(2, cofacilitators=["C9"])
    d.cmd("C9", "next")
    assert d.phase == "pair"
    d.act("C9", "control:end")
    assert d.s.status == "ended"


def test_next_walks_every_phase_then_finishes(session):
    d = session(2)
    d.idea(pid(1), "Something to pick, rank and arrange")
    seen = []
    while d.s.status != "ended":
        seen.append(d.phase)
        if d.phase == "pair":
            d.pick(pid(1), d.ideas_of(pid(1))[0])
        d.fac("next")
    assert seen == ["own", "pair", "explain", "rank", "arrange"]
    assert len(d.delivered()) == 1
    assert d.armed == {}
    d.fac("next")
    assert d.told(FACILITATOR, "session_already_ended")
    assert len(d.delivered()) == 1


def test_extend_moves_the_end_and_the_old_timer_is_stale(session):
    d = session(1)
    old_end = d.end_timer()
    deadline = d.s.deadline
    d.advance(60)
    d.fac("extend", "3")
    assert d.s.deadline == deadline + timedelta(minutes=3)
    assert d.said("extended", d.thread(d.last))
    assert old_end not in d.armed and d.armed[d.end_timer()] == d.s.deadline
    d.fire(old_end)  # the runtime missed the cancel: the old timer fires anyway
    assert d.phase == "own" and d.last == []
    d.advance((deadline - d.clock).total_seconds() + 60)
    assert d.phase == "own"
    d.run_out()
    assert d.phase == "pair"


@pytest.mark.parametrize("args", ["zero", "0", "500", "-3"])
def test_extend_with_bad_minutes_explains_usage(session, args):
    d = session(1)
    deadline = d.s.deadline
    d.fac("extend", args)
    assert d.told(FACILITATOR, "extend_usage")
    assert d.s.deadline == deadline


def test_pause_stops_the_clock_and_resume_restarts_it(session):
    d = session(1)
    old = dict(d.armed)
    d.advance(120)  # 3 of Own's 5 minutes left
    d.fac("pause")
    assert d.said("paused", d.thread(d.last))
    assert d.armed == {}
    for timer_id in old:  # timers from before the pause are stale
        d.fire(timer_id)
    d.advance(3600)
    assert d.phase == "own" and d.s.status == "paused"
    d.fac("pause")
    assert d.told(FACILITATOR, "already_paused")
    d.fac("extend", "2")
    assert d.told(FACILITATOR, "extended_paused")
    d.fac("resume")
    assert d.said("resumed", d.thread(d.last))
    assert d.s.deadline == d.clock + timedelta(minutes=5)
    d.fac("resume")
    assert d.told(FACILITATOR, "not_paused")
    d.advance(5 * 60 - 1)
    assert d.phase == "own"
    d.advance(1)
    assert d.phase == "pair"


def test_skip_skips_the_next_phase(session):
    d = session(2)
    d.idea(pid(1), "Without Pair, every idea is a proposal to rank")
    d.fac("skip")
    assert d.said("skipping", d.thread(d.last))
    d.fac("skip")  # and the one after it
    d.fac("next")
    assert d.phase == "rank"
    d.fac("skip")
    d.fac("skip")
    assert d.told(FACILITATOR, "skip_nothing")
    d.fac("next")
    assert d.s.status == "ended"
    assert d.note().skipped_phases == ["Pair", "Explain", "Arrange"]


def test_end_in_any_phase_delivers_one_note(session):
    for phase in ("own", "pair", "explain", "rank", "arrange"):
        d = session(3)
        d.idea(pid(1), f"Idea before ending in {phase}")
        if phase != "own":
            d.next_to("pair")
            d.pick(pid(1), d.ideas_of(pid(1))[0])  # a proposal, so Explain and Rank have something to do
        d.next_to(phase)
        d.fac("end")
        assert d.s.status == "ended" and d.armed == {}
        assert [i.text for i in d.note().ideas] == [f"Idea before ending in {phase}"]
        d.fac("end")
        assert len(d.delivered()) == 1


def test_status_counts_only_never_content_in_private_phases(session):
    d = session(3)
    d.idea(pid(1), "- Confidential alpha\n- Confidential beta")
    d.idea(pid(2), "Confidential gamma")
    d.fac("status")
    [status] = d.private(FACILITATOR, d.last)
    assert "Confidential" not in status
    assert "Ideas: 3" in status.replace("**", "")
    assert d.said("status_ideas", [status.splitlines()[-3].split(": ", 1)[1]])  # Amara: 2 ideas
    assert "2" in status.splitlines()[-3] and "0" in status.splitlines()[-1]
    d.cmd(pid(3), "status")
    assert d.told(pid(3), "not_facilitator")
    d.fac("end")
    d.fac("status")
    assert d.said("status", d.private(FACILITATOR, d.last))


def test_reminder_before_the_end_and_one_nudge_per_phase(session):
    d = session(4, reminder_seconds=60)
    d.idea(pid(1), "Early bird")
    before = (d.s.deadline - d.clock).total_seconds()
    d.advance(before - 61)
    assert d.thread(d.last) == []
    d.advance(1)
    [reminder] = d.thread(d.last)
    assert d.said("reminder", [reminder])
    assert not d.told(pid(1), "nudge_own")
    assert all(d.told(pid(i), "nudge_own") for i in (2, 3, 4))
    d.fac("extend", "2")
    d.advance(120)  # the reminder fires again after the extension, but nobody is nudged twice
    assert d.said("reminder", d.thread(d.last))
    assert not any(d.told(pid(i), "nudge_own") for i in (1, 2, 3, 4))
    d.run_out()
    assert d.phase == "pair"
    d.join(pid(5))  # joined after the pairs were made: no pair to nudge about
    d.pick(pid(1), d.ideas_of(pid(1))[0], reason="the only one")
    d.advance((d.s.deadline - d.clock).total_seconds() - 60)
    nudged = {pid(i) for i in range(1, 6) if d.told(pid(i), "nudge_pair")}
    assert nudged == {m for p in d.s.pairs if not p.picks for m in p.members}
    assert nudged and pid(1) not in nudged


def test_phases_with_nothing_to_do_say_so_and_move_straight_on(session):
    d = session(2)
    d.idea(pid(1), "An idea nobody picks")
    d.fac("next")
    assert d.phase == "pair"
    d.fac("next")  # no pair picked: nothing to explain, nothing to rank; the idea still gets a theme
    assert d.phase == "arrange"
    thread = d.thread(d.last)
    assert d.said("explain_none", thread) and d.said("rank_none", thread)
    moved_on = d.said("phase_nothing_to_do", thread)
    assert [("Explain" in t, "Rank" in t) for t in moved_on] == [(True, False), (False, True)]
    assert not any(d.told(pid(i), "nudge_rank") for i in (1, 2)), "nothing to vote on: no nudge"
    assert [t for t in d.armed if t.endswith(":end")], "Arrange runs on its clock"
    assert d.told(FACILITATOR, "phase_started_facilitator", d.last)


def test_the_whole_session_runs_on_its_timers(session):
    d = session(2)
    d.idea(pid(1), "Timers only")
    d.advance(3600)
    assert d.s.status == "ended"
    assert [i.text for i in d.note().ideas] == ["Timers only"]
    assert d.armed == {}


def test_stale_timer_from_an_earlier_phase_is_ignored(session):
    d = session(2)
    own_end = d.end_timer()
    d.fac("next")
    pair_deadline = d.s.deadline
    d.fire(own_end)
    assert d.phase == "pair" and d.s.deadline == pair_deadline and d.last == []
    d.fire("nonsense-id")
    assert d.phase == "pair"


def test_unknown_commands_get_help(session):
    d = session(1)
    d.cmd(pid(1), "dance")
    assert d.told(pid(1), "command_not_now")
    d.cmd(pid(1), "help")
    assert any("What you can do now" in t for t in d.private(pid(1), d.last))
    d.cmd(pid(1), "mine")
    assert d.told(pid(1), "mine_none")
