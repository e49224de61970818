"""Explain (proposals and comments) and Rank (dots, Borda, approval; hidden results; ties)."""

from __future__ import annotations

import re

import pytest

from facilitation.models import PhaseSpec, Structure
from tests.engine.driver import Driver, pid


def to_rank(session, n: int, picks: int | None = None, **opts) -> Driver:
    """A session in Rank with n people, everyone one idea, and `picks` pairs (default all) having picked."""
    d = session(n, **opts)
    for i in range(1, n + 1):
        d.idea(pid(i), f"Proposal idea written by {i}")
    d.fac("next")
    for pair in d.s.pairs[: len(d.s.pairs) if picks is None else picks]:
        d.pick(pair.members[0], d.ideas_of(pair.members[0])[0], reason=f"reason of pair {pair.id}")
    d.fac("next")
    d.fac("next")
    assert d.phase == "rank"
    return d


def scores(d: Driver) -> dict[str, int]:
    return {r.proposal_id: r.score for r in d.s.tally.rows}


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_explain_posts_each_pick_with_its_reason(session, n):
    d = session(n)
    for i in range(1, n + 1):
        d.idea(pid(i), f"Explained idea {i}")
    d.fac("next")
    if n == 0:
        assert d.said("explain_none", d.thread(d.last)) and d.s.status == "ended", "nothing to do: on at once"
        return
    for pair in d.s.pairs:
        d.pick(pair.members[-1], d.ideas_of(pair.members[-1])[0], reason=f"why {pair.id}")
    d.fac("next")
    assert d.phase == "explain"
    proposals = d.said("proposal", d.thread(d.last))
    assert len(proposals) == len(d.s.pairs) == len(d.s.proposals)
    for p in d.s.proposals:
        assert any(d.s.idea(p.idea_id).text in t and f"why {p.pair_id}" in t for t in proposals)


def test_comments_on_proposals_are_kept(session):
    d = session(4, seed=5)
    for i in range(1, 5):
        d.idea(pid(i), f"Idea {i} for comments")
    d.fac("next")
    for pair in d.s.pairs:
        d.pick(pair.members[0], d.ideas_of(pair.members[0])[0], reason="good")
    d.fac("next")
    d.comment(pid(1), "P1", "How much would it cost?")
    d.reply(pid(2), "2: who would run it?")
    d.reply(pid(3), "A general remark on everything")
    d.cmd(pid(4), "comment", "1: a typed comment")
    assert [c.text for c in d.s.proposals[0].comments] == ["How much would it cost?", "a typed comment"]
    assert [c.text for c in d.s.proposals[1].comments] == ["who would run it?"]
    assert [c.text for c in d.s.general_comments] == ["A general remark on everything"]
    d.comment(pid(1), "P1", "How much would it cost?")  # a second delivery of a new message is a new comment
    d.fac("end")
    note = d.note()
    assert note.proposals[1].comments == ["who would run it?"]
    assert "A general remark on everything" in note.general_comments
    md = d.note_md()
    assert "who would run it?" in md and "a typed comment" in md


def test_without_a_pair_phase_every_idea_is_a_proposal(session, opera):
    no_pair = Structure(name="OERA", description="no pairs",
                        phases=[p for p in opera.phases if p.kind != "pair"], empty_chair=[])
    d = session(2, structure=no_pair)
    d.idea(pid(1), "- first solo\n- second solo")
    d.idea(pid(2), "third solo")
    d.fac("next")
    assert len(d.said("proposal", d.thread(d.last))) == 3


def test_skipping_pair_makes_every_idea_a_proposal(session):
    d = session(2)
    d.idea(pid(1), "skip one")
    d.idea(pid(2), "skip two")
    d.fac("skip")
    d.fac("next")
    assert d.phase == "explain"
    assert d.pair_spaces() == []
    assert len(d.s.proposals) == 2


def test_dot_voting_count_cap_and_tally(session):
    d = to_rank(session, 6, seed=4, dots=3, dots_per_proposal=2)
    assert len(d.s.proposals) == 3
    d.vote(pid(1), 1, 1, 1)
    assert d.told(pid(1), "vote_over_cap")
    d.vote(pid(1), 1, 2, 3, 3)
    assert d.told(pid(1), "vote_too_many_dots")
    d.vote(pid(1), 7)
    assert d.told(pid(1), "vote_unknown")
    d.vote(pid(1))
    assert d.told(pid(1), "vote_empty")
    assert d.s.ballots == {}
    d.vote(pid(1), 1, 1, 2)
    d.vote(pid(2), 2, 3)
    d.act(pid(3), "vote", values={"P3": "2", "P1": "1"})
    d.fac("next")
    assert scores(d) == {"P1": 3, "P2": 2, "P3": 3}
    assert [r.proposal_id for r in d.s.tally.rows] == ["P1", "P3", "P2"]


def test_a_ballot_written_as_a_message_is_counted_not_kept_as_an_idea(session):
    d = to_rank(session, 4, seed=4, dots=3, dots_per_proposal=2)
    ideas_before = len(d.s.ideas)
    d.idea(pid(1), "vote 1 1 2")  # by DM, as the ballot post says ("type vote followed by ...")
    d.reply(pid(2), "/vote 2, 2")  # in the thread
    d.reply(pid(3), "Vote 1 because it is cheap")  # not a ballot: words after the numbers
    assert {voter: b.points for voter, b in d.s.ballots.items()} == {pid(1): {"P1": 2, "P2": 1}, pid(2): {"P2": 2}}
    assert [i.text for i in d.s.ideas[ideas_before:]] == ["Vote 1 because it is cheap"]
    d.reply(pid(4), "vote " + "1" * 60 + "x")  # hostile: answered at once (no runaway matching), kept as an idea
    assert d.s.ideas[-1].text.endswith("1x") and pid(4) not in d.s.ballots


def test_borda_scores(session):
    d = to_rank(session, 6, seed=4, voting="borda")
    d.vote(pid(1), 3, 1, 2)
    d.vote(pid(2), 3, 2, 1)
    d.vote(pid(3), 1)
    d.vote(pid(4), 2, 2)
    assert d.told(pid(4), "vote_repeated")
    d.fac("next")
    assert scores(d) == {"P1": 1 + 0 + 2, "P2": 0 + 1, "P3": 2 + 2}
    assert d.s.tally.rows[0].proposal_id == "P3"


def test_approval_scores(session):
    d = to_rank(session, 6, seed=4, voting="approval")
    d.vote(pid(1), 1, 2)
    d.vote(pid(2), 2)
    d.act(pid(3), "vote", values={"approve": ["P2", "P3"]})
    d.fac("next")
    assert scores(d) == {"P1": 1, "P2": 3, "P3": 1}


def test_ballots_change_until_close_and_not_after(session):
    d = to_rank(session, 4, seed=4)
    d.vote(pid(1), 1)
    assert d.told(pid(1), "vote_saved")
    d.vote(pid(1), 2, 2)
    assert d.told(pid(1), "vote_changed")
    d.fac("next")
    d.vote(pid(1), 1, 1)
    assert not d.told(pid(1), "vote_saved") and not d.told(pid(1), "vote_changed")
    assert scores(d) == {"P1": 0, "P2": 2}
    assert d.s.ballots[pid(1)].points == {"P2": 2}


def test_results_are_hidden_until_rank_closes(session, cfg):
    d = to_rank(session, 6, seed=4)
    mark = len(d.log)
    for i in range(1, 7):
        d.vote(pid(i), 1 + i % 3, 1 + (i + 1) % 3)
    d.fac("status")
    d.advance(60 * 3 + 30)  # reminder and nudges, still in Rank
    assert d.phase == "rank"
    during = [p.text for p in d.posts(d.log[mark:])]
    result_line = re.compile(r"\d+ points|\d+ supporters|\bscore", re.I)
    assert not any(result_line.search(t) for t in during)
    assert not d.said("rank_results", during)
    d.run_out()
    [results] = d.said("rank_results", d.thread(d.last))
    for row in d.s.tally.rows:
        text = d.s.idea(next(p.idea_id for p in d.s.proposals if p.id == row.proposal_id)).text
        assert cfg.say("rank_result_line", rank=row.rank, score=row.score, supporters=row.supporters,
                       text=text) in results


def test_nobody_votes(session):
    d = to_rank(session, 4, seed=4)
    d.fac("next")
    assert d.s.tally.ballots == 0
    assert all(r.score == 0 for r in d.s.tally.rows)
    d.fac("end")
    note = d.note()
    assert note.ranking.ballots == 0
    assert {p.text for p in note.proposals} <= {i.text for i in note.ideas}
    assert len(note.key_points) == len(note.proposals)


def test_every_proposal_tied_is_broken_deterministically_and_stated(session):
    d = to_rank(session, 6, seed=4)
    for voter, choice in zip(range(1, 4), (3, 1, 2), strict=True):
        d.vote(pid(voter), choice)
    d.fac("next")
    assert [r.proposal_id for r in d.s.tally.rows] == ["P1", "P2", "P3"]  # the order they were explained
    assert [r.rank for r in d.s.tally.rows] == [1, 2, 3]
    d.fac("end")
    note = d.note()
    assert len(note.ranking.tie_breaks) == 2 and note.ranking.tie_break_rule
    md = d.note_md()
    assert note.ranking.tie_break_rule in md
    for line in note.ranking.tie_breaks:
        assert line in md


def test_tie_on_points_broken_by_supporters(session):
    d = to_rank(session, 6, seed=4)
    d.vote(pid(1), 1, 1)
    d.vote(pid(2), 2)
    d.vote(pid(3), 2)
    d.fac("next")
    assert [r.proposal_id for r in d.s.tally.rows][:2] == ["P2", "P1"]
    assert d.s.tally.tie_breaks[0].by == "supporters"


def test_rank_with_no_proposals(session):
    d = session(2)
    for i in (1, 2):
        d.idea(pid(i), f"Proposal idea written by {i}")
    d.next_to("pair")
    d.fac("next")  # no picks: Explain and Rank have nothing to do and the session moves on to Arrange
    assert d.said("rank_none", d.thread()) and d.phase == "arrange"
    d.vote(pid(1), 1)
    assert d.told(pid(1), "command_not_now")
    assert d.s.tally is None
    d.fac("end")
    assert d.note().ranking is None
    assert "Proposal idea written by 1" in d.note_md()


def test_one_shot_structure_of_rank_only(session):
    only_rank = Structure(name="vote", description="", phases=[PhaseSpec(kind="rank", title="Rank", minutes=2)])
    d = session(1, structure=only_rank)
    assert d.said("rank_none", d.thread())
    d.fac("next")
    assert d.s.status == "ended" and d.note().ideas == []
