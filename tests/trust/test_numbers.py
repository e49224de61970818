"""Finding 3: numbers that crashed the engine. Every number is read one strict way (ASCII digits, bounded) and
every refusal is answered; nothing a person types or sends in a form raises."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.configuration import load_structure
from bot.settings import Settings
from tests.engine.conftest import new_session
from tests.engine.driver import Driver, pid
from tests.trust.platforms import PLATFORMS, QUESTION, platform, to_rank, told


def at_rank(voting: str = "dots") -> Driver:
    d = new_session(3, voting=voting)
    for i in range(1, 4):
        d.idea(pid(i), f"Idea {i} for the ballot")
    d.fac("skip")  # no Pair: every idea is a proposal
    d.fac("next")
    d.fac("next")
    assert d.phase == "rank" and len(d.s.proposals) == 3
    return d


@pytest.mark.parametrize("dots", ["\u00b2", "\u2460", "\u0663", "9" * 30, "1e3", "1_0"])
def test_a_dot_count_that_is_not_a_whole_number_is_refused_with_a_message(dots: str) -> None:
    d = at_rank()
    d.act(pid(1), "vote", values={"P1": dots, "P2": "1"})
    assert d.told(pid(1), "vote_not_a_number")
    assert pid(1) not in d.s.ballots


def test_a_ranking_form_with_a_key_no_ballot_has_is_out_of_date() -> None:
    d = at_rank("borda")
    d.act(pid(1), "vote", values={"rank_\u00b2": "P1", "rank_1": "P2"})
    assert d.told(pid(1), "button_out_of_date") and pid(1) not in d.s.ballots


@pytest.mark.parametrize("args", ["-1", "\u00b2", "2 -3", "1" * 40, "two"])
def test_a_typed_vote_that_is_not_proposal_numbers_is_refused(args: str) -> None:
    d = at_rank()
    d.cmd(pid(1), "vote", args)
    assert d.told(pid(1), "vote_not_numbers")
    assert pid(1) not in d.s.ballots  # "vote -1" used to count as a vote for proposal 1


def test_typed_votes_still_read_as_before() -> None:
    d = at_rank()
    d.cmd(pid(1), "vote", "#1, P2 03")
    assert d.s.ballots[pid(1)].points == {"P1": 1, "P2": 1, "P3": 1}


@pytest.mark.parametrize("score", ["\u00b2", "\u2464", "9" * 30, "-3"])
def test_a_score_that_is_not_a_whole_number_is_refused(score: str) -> None:
    d = new_session(6, structure=load_structure(Settings(), "25-10"))
    for i in range(1, 7):
        d.idea(pid(i), f"Bold idea {i}")
    d.fac("next")
    assert d.phase == "score"
    rater = next(iter(d.s.score_assignments))
    first = d.s.score_assignments[rater][0]
    d.act(rater, "score", values={first: score})
    assert d.told(rater, "score_invalid")
    d.cmd(rater, "score", score)
    assert d.told(rater, "score_invalid") and rater not in d.s.scores


@pytest.mark.parametrize("args", ["\u0663", "\u0661\u0662\u0660"])
def test_extend_reads_only_ascii_minutes(args: str) -> None:
    d = new_session(1)
    deadline = d.s.deadline
    d.fac("extend", args)
    assert d.told("F", "extend_usage") and d.s.deadline == deadline


@pytest.mark.parametrize("name", PLATFORMS)
@pytest.mark.parametrize("option", ["minutes=own", "minutes=own,pair:3", "dots=" + "9" * 30, "groups=\u0663"])
async def test_a_bad_start_option_is_answered_on_every_platform(name: str, option: str, tmp_path: Path) -> None:
    async with platform(name, tmp_path) as h:
        reply = await h.command(h.facilitator, f"start {option} {QUESTION}")
        assert reply and "didn't start" in reply


@pytest.mark.parametrize("name", PLATFORMS)
async def test_hostile_ballots_are_answered_on_every_platform(name: str, tmp_path: Path) -> None:
    async with platform(name, tmp_path) as h:
        voter = h.people[0]
        ballot = await to_rank(h, h.people[:3])
        await h.click(voter, ballot.ref, "Vote", {"P1": "\u00b2"})
        assert told(h, voter, "isn't a number of dots")
        await h.command(voter, "vote -1")
        assert told(h, voter, "isn't a proposal number")
        assert not told(h, voter, "Your ballot is")


@pytest.mark.parametrize("number", ["#\u0663", "#\u00b2", "#" + "1" * 30])
def test_a_pick_by_a_number_that_is_not_ascii_is_refused_not_taken_for_a_new_idea(number: str) -> None:
    d = new_session(2)
    for i in (1, 2):
        d.idea(pid(i), f"Idea {i}")
    d.fac("next")
    ideas = len(d.s.ideas)
    d.cmd(pid(1), "pick", f"{number} because it is best")
    assert d.told(pid(1), "pick_unknown")
    assert len(d.s.ideas) == ideas and not any(p.picks for p in d.s.pairs)
