"""Own: ideas collected privately (or openly), lists, edits and withdrawals, late replies, caps."""

from __future__ import annotations

import pytest

from tests.engine.driver import FACILITATOR, pid


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_own_collects_each_persons_ideas_privately(session, n):
    d = session(n)
    opening = d.thread()
    assert any(d.s.question in t for t in opening), "the question is posted in the thread"
    assert d.end_timer() is not None
    for i in range(1, n + 1):
        d.idea(pid(i), f"Idea number {i} from its author")
        assert d.told(pid(i), "idea_saved")
        assert any(f"Idea number {i}" in t for t in d.private(pid(i), d.last))
        assert [p.audience.person for p in d.posts(d.last)] == [pid(i)], "only the author hears of it"
    assert sorted(i.text for i in d.s.live_ideas()) == sorted(f"Idea number {i} from its author"
                                                              for i in range(1, n + 1))
    d.run_out()
    assert d.phase == ("pair" if n else None), "with nobody there, Pair has nothing to do and the rest neither"


def test_a_list_becomes_several_ideas_and_a_paragraph_stays_one(session):
    d = session(1)
    d.idea(pid(1), "- Pay people for their time\n- Use plain English\n* Meet in libraries")
    d.idea(pid(1), "1. Fund translators\n2) Visit day centres")
    d.idea(pid(1), "Three things:\n\u2022 Childcare at events\n\u2022 Evening meetings")
    d.idea(pid(1), "A longer thought that wraps\nonto a second line without bullets")
    assert [i.text for i in d.s.live_ideas()] == [
        "Pay people for their time", "Use plain English", "Meet in libraries", "Fund translators",
        "Visit day centres", "Childcare at events", "Evening meetings",
        "A longer thought that wraps\nonto a second line without bullets",
    ]


def test_edit_and_withdraw_while_open(session):
    d = session(2)
    d.idea(pid(1), "Original wording of an idea")
    ref = d.last_ref
    d.edit(pid(1), ref, "Better wording of an idea")
    assert [i.text for i in d.s.live_ideas()] == ["Better wording of an idea"]
    d.idea(pid(1), "- first of a list\n- second of a list")
    list_ref = d.last_ref
    d.edit(pid(1), list_ref, "only the first remains")
    assert [i.text for i in d.s.live_ideas()] == ["Better wording of an idea", "only the first remains"]
    d.delete(pid(1), ref)
    assert [i.text for i in d.s.live_ideas()] == ["only the first remains"]
    d.idea(pid(2), "An idea to edit by command")
    number = d.ideas_of(pid(2))[0].lstrip("i")
    d.cmd(pid(1), "withdraw", f"#{number}")  # not theirs
    assert d.told(pid(1), "idea_not_yours")
    d.cmd(pid(2), "edit", f"#{number} Edited by command")
    assert d.told(pid(2), "idea_edited")
    d.cmd(pid(2), "withdraw", f"#{number}")
    assert d.told(pid(2), "idea_withdrawn")
    d.fac("end")
    texts = [i.text for i in d.note().ideas]
    assert texts == ["only the first remains"]
    md = d.note_md()
    for gone in ("Original wording", "Better wording", "second of a list", "Edited by command"):
        assert gone not in md


def test_blank_and_zero_width_replies_are_refused_with_a_message(session):
    d = session(1)
    for text in ("", "   ", "\u200b\u200d\ufeff", "\n\n"):
        d.idea(pid(1), text)
        assert d.told(pid(1), "idea_empty")
    assert d.s.ideas == []


def test_edit_to_blank_keeps_the_idea(session):
    d = session(1)
    d.idea(pid(1), "Keep me")
    d.edit(pid(1), d.last_ref, "  ")
    assert d.told(pid(1), "idea_edit_empty")
    assert [i.text for i in d.s.live_ideas()] == ["Keep me"]


def test_edits_and_deletes_after_close_are_kept_and_marked(session):
    d = session(2)
    d.idea(pid(1), "Stable idea before close")
    ref = d.last_ref
    d.fac("next")
    d.edit(pid(1), ref, "Second thoughts after close")
    assert d.told(pid(1), "edit_after_close")
    d.delete(pid(1), ref)
    assert d.told(pid(1), "delete_after_close")
    d.fac("end")
    idea = d.note().ideas[0]
    assert idea.text == "Stable idea before close"
    assert idea.later_edits == ["Second thoughts after close"]
    assert "Second thoughts after close" in d.note_md()


def test_late_reply_is_kept_marked_late_and_the_facilitator_told(session):
    d = session(2)
    d.idea(pid(1), "On time idea")
    d.run_out()
    assert d.phase == "pair"
    d.reply(pid(2), "Slow typist's idea", reply_to="question")
    assert d.told(pid(2), "late_kept")
    assert d.told(FACILITATOR, "late_told_private"), "private mode: told, without the content"
    assert not any("Slow typist" in t for t in d.private(FACILITATOR, d.last))
    d.fac("end")
    late = [i for i in d.note().ideas if i.text == "Slow typist's idea"]
    assert len(late) == 1 and late[0].late and late[0].theme
    assert "Slow typist's idea" in d.note_md()


def test_late_reply_in_open_mode_shows_the_facilitator_what_it_says(session):
    d = session(1, own_private=False)
    d.fac("next")
    d.reply(pid(1), "Open and late")
    assert d.told(FACILITATOR, "late_told")
    assert any("Open and late" in t for t in d.private(FACILITATOR, d.last))


def test_reply_after_the_session_ended_still_reaches_the_published_note(session):
    d = session(1)
    d.idea(pid(1), "Before the end")
    d.fac("end")
    d.reply(pid(1), "After the end, typed slowly", reply_to="question")
    assert d.told(FACILITATOR, "late_told")
    d.act(FACILITATOR, "approve_note")  # the draft it approves was made before the reply: a new draft first
    assert not d.published() and d.told(FACILITATOR, "note_changed_since_draft")
    d.act(FACILITATOR, "approve_note")
    [published] = d.published()
    assert "Before the end" in published.markdown
    assert "After the end, typed slowly" in published.markdown


def test_thread_reply_in_private_mode_warns_the_author(session):
    d = session(1)
    d.reply(pid(1), "Said in the open thread")
    assert d.told(pid(1), "own_reply_was_visible")
    assert [i.text for i in d.s.live_ideas()] == ["Said in the open thread"]


def test_open_mode_takes_thread_replies_without_a_warning(session):
    d = session(1, own_private=False)
    assert d.said("own_open_open", d.thread())
    d.reply(pid(1), "Said openly on purpose")
    assert not d.told(pid(1), "own_reply_was_visible")
    assert [i.text for i in d.s.live_ideas()] == ["Said openly on purpose"]


def test_ideas_per_person_cap_refuses_extra_and_hands_the_text_back(session):
    d = session(1, ideas_per_person=2)
    d.idea(pid(1), "- one\n- two\n- three is too many")
    assert [i.text for i in d.s.live_ideas()] == ["one", "two"]
    assert d.told(pid(1), "idea_over_cap")
    assert any("three is too many" in t for t in d.private(pid(1), d.last))


def test_joining_by_reply_and_leaving_keeps_ideas(session):
    d = session(0)
    d.idea(pid(1), "Joined by writing this")
    assert pid(1) in d.s.participants
    d.cmd(pid(1), "leave")
    assert d.told(pid(1), "left")
    assert not d.s.participants[pid(1)].present
    d.fac("end")
    assert [i.text for i in d.note().ideas] == ["Joined by writing this"]


def test_facilitator_can_add_and_remove_people(session):
    d = session(0)
    d.fac("add", "<@U7|Someone> U8")
    assert {pid(7), pid(8)} <= {p.id for p in d.s.present()}
    d.fac("remove", "<@U7>")
    assert pid(7) not in {p.id for p in d.s.present()}
    d.cmd(pid(8), "add", "U9")
    assert d.told(pid(8), "not_facilitator") and pid(9) not in d.s.participants


def test_duplicate_delivery_does_not_duplicate_ideas(session):
    d = session(2)
    d.reply(pid(1), "- delivered once\n- or twice", ref="dup1", reply_to=None, private=True)
    d.reply(pid(1), "- delivered once\n- or twice", ref="dup1", reply_to=None, private=True)
    assert [i.text for i in d.s.ideas] == ["delivered once", "or twice"]
    d.fac("next")
    d.reply(pid(2), "late and duplicated", ref="dup2")
    d.reply(pid(2), "late and duplicated", ref="dup2")
    assert [i.text for i in d.s.ideas].count("late and duplicated") == 1
