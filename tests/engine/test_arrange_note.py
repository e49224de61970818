"""Arrange (themes and the facilitator's edits), the round-up note, approval, and isolated sessions."""

from __future__ import annotations

import pytest

from facilitation.note import RoundUpNote
from tests.engine.driver import FACILITATOR, FACILITATOR_NAME, NAMES, Driver, name_of, pid

IDEAS = [
    "- Pay people for their time at meetings\n- Pay travel costs for people at meetings",
    "- Plain English in council letters\n- Plain English on the council website",
    "- Hold meetings in libraries\n- Hold evening meetings for carers",
    "- Publish what changed after feedback\n- Train staff in listening",
]


def to_arrange(session, **opts) -> Driver:
    d = session(4, seed=6, **opts)
    for n, text in enumerate(IDEAS, start=1):
        d.idea(pid(n), text)
    d.fac("next")
    for pair in d.s.pairs:
        d.pick(pair.members[1], d.ideas_of(pair.members[1])[0], reason=f"reason for {pair.id}")
    d.fac("next")
    d.comment(pid(1), "P1", "A comment on the first proposal")
    d.reply(pid(2), "Young carers are missing", reply_to="empty-chair:end:own")
    d.fac("next")
    d.vote(pid(1), 2, 2)
    d.vote(pid(2), 2)
    d.fac("next")
    assert d.phase == "arrange"
    return d


def theme_of(d: Driver, idea_id: str) -> str:
    return next(t.id for t in d.s.themes if idea_id in t.idea_ids)


def test_arrange_proposes_themes_with_proposals_first(session):
    d = to_arrange(session)
    placed = [i for t in d.s.themes for i in t.idea_ids]
    assert sorted(placed) == sorted(i.id for i in d.s.live_ideas())
    assert len(placed) == len(set(placed))
    assert d.s.tally.rows[0].proposal_id == "P2"  # P2 won the vote
    top = next(p.idea_id for p in d.s.proposals if p.id == "P2")
    assert d.s.themes[0].idea_ids[0] == top
    [shown] = d.said("arrange_open", d.thread(d.last))
    for idea in d.s.live_ideas():
        assert idea.text in shown


def test_theme_edits_by_the_facilitator(session):
    d = to_arrange(session)
    n_before = len(d.s.themes)
    d.fac("theme", "rename 1 Paying people")
    assert d.s.themes[0].label == "Paying people"
    assert any("Paying people" in t for t in d.thread(d.last)), "the new themes are shown"
    moved = d.s.themes[1].idea_ids[0]
    d.fac("theme", f"move #{moved[1:]} to 1")
    assert theme_of(d, moved) == "t1"
    d.act(FACILITATOR, "edit_themes", values={"op": "merge", "theme": "1", "other": d.s.themes[1].id[1:]})
    assert len(d.s.themes) in (n_before - 1, n_before - 2)
    d.fac("theme", f"split 1 #{moved[1:]} : Split off")
    split = next(t for t in d.s.themes if t.label == "Split off")
    assert split.idea_ids == [moved] and moved not in d.s.themes[0].idea_ids
    d.fac("theme", "dance 1")
    assert d.told(FACILITATOR, "theme_usage")
    d.fac("theme", "merge 1 1")
    assert d.told(FACILITATOR, "theme_merge_self")
    d.fac("theme", "rename 99 Nothing")
    assert d.told(FACILITATOR, "theme_unknown")
    d.act(FACILITATOR, "confirm_themes")
    assert d.s.status == "ended" and d.s.themes_confirmed
    note = d.note()
    assert note.themes[0].label == "Paying people"
    by_id = {i.id: i for i in note.ideas}
    assert by_id[moved].theme == "Split off"
    assert "### Paying people" in d.note_md() and "### Split off" in d.note_md()


def test_theme_edits_are_refused_for_others(session):
    d = to_arrange(session)
    themes = [t.model_copy() for t in d.s.themes]
    d.cmd(pid(1), "theme", "rename 1 Hijacked")
    assert d.told(pid(1), "not_facilitator")
    d.act(pid(1), "edit_themes", values={"op": "rename", "theme": "1", "label": "Hijacked"})
    assert d.told(pid(1), "not_facilitator")
    d.act(pid(1), "confirm_themes")
    assert d.told(pid(1), "not_facilitator")
    d.cmd(pid(1), "confirm")
    assert d.s.themes == themes and d.phase == "arrange"


def test_confirm_outside_arrange_does_not_skip_a_phase(session):
    d = session(2)
    d.fac("confirm")
    assert d.phase == "own"


def test_note_has_every_idea_with_its_theme_and_the_proposals_marked(session):
    d = to_arrange(session)
    d.fac("next")
    note = d.note()
    RoundUpNote.model_validate(note.model_dump())
    live = {i.id: i.text for i in d.s.live_ideas()}
    assert {i.id: i.text for i in note.ideas} == live
    assert all(i.theme and i.theme_id for i in note.ideas)
    assert {p.idea_id for p in note.proposals} == {i.idea_id for i in d.s.proposals}
    assert all(p.rank is not None and p.score is not None for p in note.proposals)
    low = min(note.proposals, key=lambda p: p.score)
    md = d.note_md()
    for text in live.values():
        assert text in md
    assert low.text in md, "low-ranked proposals are in the note too"
    for p in note.proposals:
        assert f"reason for {d.s.proposals[p.number - 1].pair_id}" in md
    assert "A comment on the first proposal" in md
    assert "Young carers are missing" in md and note.empty_chair == ["Young carers are missing"]
    assert note.key_points[0] == next(p.text for p in note.proposals if p.rank == 1)
    assert note.participation.people == 4 and note.participation.ideas == 8
    for heading in ("note_h_summary", "note_h_themes", "note_h_ranking", "note_h_empty_chair",
                    "note_h_participation"):
        assert d.cfg.say(heading) in md


@pytest.mark.parametrize("attribution", [False, True])
def test_note_is_unattributed_unless_the_session_opted_in(session, attribution):
    d = to_arrange(session, attribution=attribution)
    d.fac("next")
    d.act(FACILITATOR, "approve_note")
    texts = [d.note_md(), d.delivered()[0].json_text, d.published()[0].markdown]
    names = [name_of(pid(n)) for n in range(1, 5)]
    for text in texts:
        for name in names:
            assert (name in text) == attribution, (name, attribution)
        assert FACILITATOR_NAME not in text
    assert d.note().attributed == attribution
    if attribution:
        assert {i.author for i in d.note().ideas} == set(names)


def test_approval_by_the_convenor_publishes_once(session):
    d = session(2, convenor="U2")
    d.idea(pid(1), "An idea for the published note")
    d.act(pid(2), "approve_note")
    assert d.told(pid(2), "note_not_ready")
    d.fac("end")
    [draft] = d.delivered()
    assert draft.convenor.id == pid(2) and draft.actions[0].only_for == [pid(2)]
    d.act(FACILITATOR, "approve_note")
    assert d.told(FACILITATOR, "not_convenor") and d.published() == []
    d.act(pid(1), "approve_note")
    assert d.told(pid(1), "not_convenor") and d.published() == []
    d.act(pid(2), "approve_note")
    assert d.told(pid(2), "note_posted")
    d.cmd(pid(2), "approve")
    assert d.told(pid(2), "note_already_posted")
    [published] = d.published()
    assert "An idea for the published note" in published.markdown
    assert d.cfg.say("note_draft_banner") not in published.markdown
    assert d.cfg.say("note_draft_banner") in draft.markdown


def test_convenor_defaults_to_the_facilitator(session):
    d = session(1)
    d.fac("end")
    assert d.delivered()[0].convenor.id == FACILITATOR


def test_empty_session_note(session):
    d = session(0)
    d.advance(3600)
    note = d.note()
    assert note.ideas == [] and note.participation.people == 0
    assert d.cfg.say("note_no_ideas") in d.note_md()


def test_two_sessions_are_isolated_and_one_person_can_be_in_both(session):
    a = session(2, session_id="s1", channel="C1", seed=1)
    b = session(3, session_id="s2", channel="C2", seed=2)
    a.idea(pid(1), "Only in session one")
    b.idea(pid(1), "Only in session two")
    b.fac("next")
    assert a.phase == "own" and b.phase == "pair"
    assert not set(a.armed) & set(b.armed), "timer ids never collide"
    for timer_id in list(a.armed):  # one session's timer means nothing to the other
        b.fire(timer_id)
    assert b.phase == "pair"
    a.fac("end")
    b.fac("end")
    assert [i.text for i in a.note().ideas] == ["Only in session one"]
    assert [i.text for i in b.note().ideas] == ["Only in session two"]
    assert NAMES[0] not in a.note_md()


def test_a_stale_confirm_button_changes_nothing(session):
    d = session(1)
    d.act(FACILITATOR, "confirm_themes")
    assert d.phase == "own" and d.told(FACILITATOR, "action_closed")


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_small_groups_run_every_phase_to_a_complete_note(session, n):
    d = session(n)
    for i in range(1, n + 1):
        d.idea(pid(i), f"- Small group idea {i} one\n- Small group idea {i} two")
    d.fac("next")
    if n == 0:  # nobody came: every later phase has nothing to do, says so, and the session ends at once
        assert d.s.status == "ended" and d.note().ideas == []
        return
    assert sorted(m for p in d.s.pairs for m in p.members) == [pid(i) for i in range(1, n + 1)]
    for pair in d.s.pairs:
        d.pick(pair.members[0], d.ideas_of(pair.members[0])[1], reason="small but good")
    d.fac("next")
    assert len(d.said("proposal", d.thread(d.last))) == 1
    d.fac("next")
    for i in range(1, n + 1):
        d.vote(pid(i), 1)
    d.fac("next")
    if n:
        assert d.s.tally.ballots == n and d.s.tally.rows[0].score == n
    assert d.phase == "arrange"
    assert sorted(i for t in d.s.themes for i in t.idea_ids) == sorted(i.id for i in d.s.live_ideas())
    d.fac("next")
    note = d.note()
    assert sorted(i.text for i in note.ideas) == sorted(f"Small group idea {i} {w}" for i in range(1, n + 1)
                                                          for w in ("one", "two"))
    assert all(i.theme for i in note.ideas)
    assert note.participation.people == n and note.participation.trios == (1 if n == 3 else 0)
