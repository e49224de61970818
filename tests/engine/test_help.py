"""`help` answers with what this person can do now: their role, the phase, the structure's options."""

from __future__ import annotations

from tests.engine.driver import FACILITATOR, pid


def _help(d, person: str) -> str:  # noqa: ANN001
    d.cmd(person, "help")
    [text] = d.private(person, d.last)
    return text


def test_a_participant_in_own_hears_how_to_add_edit_and_withdraw_ideas_and_no_controls(session):
    d = session(2)
    text = _help(d, pid(1))
    assert "Own" in text and "idea" in text and "edit #N" in text and "withdraw #N" in text
    assert "Add an idea" in text, "private Own: the button and direct messages"
    for not_now in ("next (", "theme rename", "vote", "pick #N", "start"):
        assert not_now not in text


def test_someone_not_yet_in_the_session_hears_how_to_join(session):
    d = session(1)
    text = _help(d, "U99")
    assert "join" in text and "edit #N" not in text


def test_the_facilitator_hears_the_controls_and_in_arrange_the_theme_commands(session):
    d = session(2)
    d.idea(pid(1), "An idea to arrange")
    text = _help(d, FACILITATOR)
    assert "next (" in text and "extend N" in text and "add @person" in text and "remove @person" in text
    assert "theme rename" not in text and "broadcast" not in text, "no groups, not Arrange"
    d.fac("pause")
    assert "resume" in _help(d, FACILITATOR)
    d.fac("resume")
    d.next_to("pair")
    d.pick(pid(1), d.ideas_of(pid(1))[0])
    d.next_to("arrange")
    text = _help(d, FACILITATOR)
    assert "theme rename" in text and "theme merge" in text and "confirm" in text
    assert "theme rename" not in _help(d, pid(1)), "themes are the facilitator's to change"


def test_each_phase_names_its_own_way_to_take_part(session):
    d = session(2, voting="borda")
    d.idea(pid(1), "Pick me")
    d.fac("next")
    assert "pick #N because" in _help(d, pid(1))
    d.pick(pid(1), d.ideas_of(pid(1))[0])
    d.fac("next")
    assert "comment N:" in _help(d, pid(2))
    d.fac("next")
    text = _help(d, pid(2))
    assert "Rank the proposals, best first" in text and "vote" in text, "the session's voting method"


def test_breakout_groups_add_broadcast_and_a_choice_of_group(session):
    d = session(0, groups=2, assign="choice")
    assert "broadcast" in _help(d, FACILITATOR)
    text = _help(d, "U7")
    assert "join N" in text and "Group 1" in text and "Group 2" in text


def test_at_the_end_the_convenor_hears_how_to_approve_the_note(session):
    d = session(1)
    d.fac("end")
    text = _help(d, FACILITATOR)
    assert "approve" in text and "next (" not in text
    assert "approve" not in _help(d, pid(1))


def test_in_25_10_participants_hear_how_to_score(session):
    from bot.configuration import load_structure
    from bot.settings import Settings

    d = session(6, structure=load_structure(Settings(), "25-10"))
    for i in range(1, 7):
        d.idea(pid(i), f"Bold idea {i}")
    d.fac("next")
    assert d.phase == "score"
    assert "score" in _help(d, pid(1)) and "1 to 5" in _help(d, pid(1))
