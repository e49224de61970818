"""Structures beyond OPERA: 1-2-4-All's fours, 25/10's anonymous scoring, and refusing broken structure files."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import ValidationError

from bot.configuration import default_options, load_structure
from bot.settings import Settings
from facilitation.models import Structure
from facilitation.phases.merge import merge_pairs
from facilitation.phases.score import assign
from tests.engine.conftest import new_session
from tests.engine.driver import pid

SETTINGS = Settings()
ONE_TWO_FOUR = load_structure(SETTINGS, "1-2-4-all")
TWENTY_FIVE_TEN = load_structure(SETTINGS, "25-10")


def _opts(structure: Structure) -> dict[str, object]:
    return default_options(SETTINGS, structure).model_dump()


def test_fours_are_two_pairs_that_choose_one_of_their_pairs_picks() -> None:
    d = new_session(8, structure=ONE_TWO_FOUR, **_opts(ONE_TWO_FOUR))
    for n in range(1, 9):
        d.idea(pid(n), f"Idea from person {n}")
    d.fac("next")  # 2: pairs
    picks = {}
    for pair in d.s.pairs:
        chosen = d.ideas_of(pair.members[0])[0]
        d.pick(pair.members[0], chosen, reason="our best")
        picks[pair.id] = chosen
    d.fac("next")  # 4: fours
    assert d.phase == "merge"
    assert len(d.s.merged) == 2 and all(len(g.members) == 4 for g in d.s.merged)
    for group in d.s.merged:
        pairs_in = [p for p in d.s.pairs if set(p.members) <= set(group.members)]
        assert len(pairs_in) == 2, "a four is two whole pairs"
        assert sorted(group.candidates) == sorted(picks[p.id] for p in pairs_in)
        intro = next(t for t in d.pair_posts(group.id) if "Your group" in t)
        for idea_id in group.candidates:
            assert d.s.idea(idea_id).text in intro
    not_a_candidate = next(i.id for i in d.s.ideas if i.id not in d.s.merged[0].candidates)
    d.pick(d.s.merged[0].members[0], not_a_candidate)
    assert not d.s.merged[0].picks, "a four chooses among its pairs' picks only"
    d.pick(d.s.merged[0].members[0], d.s.merged[0].candidates[1], reason="bolder")
    d.fac("next")  # All: share
    assert [p.idea_id for p in d.s.proposals] == [d.s.merged[0].candidates[1]]
    d.fac("next")  # All: rank, by approval as the structure says
    d.vote(pid(1), 1)
    d.fac("end")
    note = d.note()
    assert {i.text for i in note.ideas} == {f"Idea from person {n}" for n in range(1, 9)}, "nothing dropped"
    assert note.ranking is not None and note.ranking.method == "approval", "the structure's voting method"


def test_a_pair_that_picked_nothing_brings_all_its_ideas_to_its_four() -> None:
    d = new_session(4, structure=ONE_TWO_FOUR, **_opts(ONE_TWO_FOUR))
    for n in range(1, 5):
        d.idea(pid(n), f"Idea {n}")
    d.fac("next")
    d.fac("next")
    (group,) = d.s.merged
    assert sorted(group.candidates) == sorted(i.id for i in d.s.ideas)


@pytest.mark.parametrize("sizes,expected", [([2, 2, 2, 2], [4, 4]), ([2, 2, 3], [4, 3]), ([2, 2, 2], [6]),
                                            ([3], [3]), ([2], [2])])
def test_merging_pairs_makes_groups_of_about_four(sizes: list[int], expected: list[int]) -> None:
    from facilitation.models import PairSpace

    pairs = [PairSpace(id=f"p{n}", members=[f"u{n}.{k}" for k in range(size)]) for n, size in enumerate(sizes)]
    assert [sum(len(p.members) for p in g) for g in merge_pairs(pairs, 4)] == expected


def test_each_idea_is_scored_by_five_others_never_its_author() -> None:
    raters = [f"u{n}" for n in range(12)]
    ideas = [(f"i{n}", f"u{n}") for n in range(12)]
    given = assign(raters, ideas, per_idea=5, seed=3)
    per_idea = Counter(i for ids in given.values() for i in ids)
    assert set(per_idea.values()) == {5}
    assert all(f"i{r[1:]}" not in ids for r, ids in given.items()), "nobody scores their own idea"
    assert max(map(len, given.values())) - min(map(len, given.values())) <= 1, "the work is shared evenly"


def test_twenty_five_ten_takes_one_bold_idea_each_and_ranks_by_anonymous_scores() -> None:
    d = new_session(6, structure=TWENTY_FIVE_TEN, **_opts(TWENTY_FIVE_TEN))
    for n in range(1, 7):
        d.idea(pid(n), f"Bold idea {n}")
    d.idea(pid(1), "A second idea")
    assert len(d.ideas_of(pid(1))) == 1, "one bold idea each"
    d.fac("next")
    assert d.phase == "score"
    for person, ideas in d.s.score_assignments.items():
        values = " ".join("5" if d.s.idea(i).text == "Bold idea 3" else "2" for i in ideas)
        d.cmd(person, "score", values)
        assert all(d.s.idea(i).author != person for i in ideas)
    thread_before = "\n".join(d.thread())
    assert "mean" not in thread_before, "scores stay hidden until the phase closes"
    d.fac("next")
    assert d.s.idea(d.s.proposals[0].idea_id).text == "Bold idea 3"
    assert len(d.s.proposals) == 6, "the top ten, when there are fewer than ten"
    d.fac("end")
    md = d.note_md()
    assert "scored from 1 to 5" in md and "Bold idea 3" in md
    assert not any(n in md for n in ("Amara", "Bruno")), "scores are anonymous in the note"


def test_a_score_outside_one_to_five_is_refused_with_the_range() -> None:
    d = new_session(3, structure=TWENTY_FIVE_TEN, **_opts(TWENTY_FIVE_TEN))
    for n in range(1, 4):
        d.idea(pid(n), f"Idea {n}")
    d.fac("next")
    effects = d.cmd(pid(1), "score", "9 9")
    assert d.told(pid(1), "score_invalid", effects)
    assert pid(1) not in d.s.scores


@pytest.mark.parametrize("change,complaint", [
    ({"phases": [{"kind": "own", "title": "Own", "minutes": 3, "colour": "red"}]}, "phases.0.colour"),
    ({"phases": [{"kind": "vote", "title": "V", "minutes": 3}]}, "phases.0.kind"),
    ({"phases": [{"kind": "own", "title": "Own", "minutes": 0}]}, "phases.0.minutes"),
    ({"phases": [{"kind": "merge", "title": "Fours", "minutes": 3}]}, "merge phase needs a pair phase"),
    ({"empty_chair": ["end:rank"]}, "empty_chair"),
])
def test_structure_mistakes_are_refused_naming_the_key(change: dict[str, object], complaint: str) -> None:
    data = {"name": "X", "description": "x", "phases": [{"kind": "own", "title": "Own", "minutes": 3}], **change}
    with pytest.raises(ValidationError, match=complaint.replace(".", r"\.")):
        Structure.model_validate(data)
