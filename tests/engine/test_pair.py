"""Pair: everyone present in one space, trios for odd counts, tag mixing, no repeats, picks."""

from __future__ import annotations

from itertools import combinations

import pytest

from facilitation.effects import OpenPairSpace
from tests.engine.driver import FACILITATOR, pid


def members(d) -> list[list[str]]:
    return [[m.id for m in sp.members] for sp in d.pair_spaces()]


@pytest.mark.parametrize(("n", "sizes"), [(1, [1]), (2, [2]), (3, [3]), (4, [2, 2]), (5, [2, 3]), (7, [2, 2, 3])])
def test_everyone_present_is_in_exactly_one_space(session, n, sizes):
    d = session(n)
    d.idea(pid(1), "Only one person wrote anything")
    d.fac("next")
    groups = members(d)
    assert sorted(len(g) for g in groups) == sizes
    everyone = [m for g in groups for m in g]
    assert sorted(everyone) == sorted(pid(i) for i in range(1, n + 1))
    for g in groups:  # each space is introduced to its members
        [pair] = [p for p in d.s.pairs if p.members == g]
        assert d.said("pair_intro_alone" if len(g) == 1 else "pair_intro", d.pair_posts(pair.id))


def test_no_participants_no_pairs(session):
    d = session(0)
    d.fac("next")
    assert d.pair_spaces() == []
    assert d.said("pair_nobody", d.thread(d.last)) and d.said("phase_nothing_to_do", d.thread(d.last))
    assert d.s.status == "ended", "no pairs, so nothing to explain, rank or arrange either"


def test_pair_space_shows_its_members_ideas_only(session):
    d = session(4, seed=3)
    for i in range(1, 5):
        d.idea(pid(i), f"Proposal text of person {i}")
    d.fac("next")
    for pair in d.s.pairs:
        [intro] = d.pair_posts(pair.id)
        for i in range(1, 5):
            shown = f"Proposal text of person {i}" in intro
            assert shown == (pid(i) in pair.members)


def test_people_who_left_are_not_paired_and_late_joiners_cannot_pick(session):
    d = session(4)
    d.cmd(pid(4), "leave")
    d.fac("next")
    assert sorted(m for g in members(d) for m in g) == [pid(1), pid(2), pid(3)]
    d.join(pid(9))
    d.cmd(pid(9), "pick", "1 because")
    assert d.told(pid(9), "pick_not_in_pair")


@pytest.mark.parametrize("seed", range(8))
def test_pairs_mix_tags_where_possible(session, seed):
    d = session(0, seed=seed)
    sectors = {1: "council", 2: "council", 3: "charity", 4: "charity", 5: "lived experience", 6: "lived experience"}
    for i, sector in sectors.items():
        d.reply(pid(i), f"Idea from sector member {i}", reply_to=None, private=True, tags={"sector": sector})
    d.fac("next")
    for g in members(d):
        assert len({sectors[int(m[1:])] for m in g}) == len(g), f"{g} shares a sector"


@pytest.mark.parametrize("seed", range(8))
def test_pairs_that_met_before_are_avoided(session, seed):
    past = [[pid(1), pid(2)], [pid(3), pid(4)], [pid(5), pid(6)]]
    d = session(6, seed=seed, past_pairs=past)
    d.fac("next")
    met = {frozenset(p) for p in past}
    for g in members(d):
        assert not any(frozenset(pair) in met for pair in combinations(g, 2)), g


def test_pairing_is_deterministic_for_a_seed(session):
    a, b = session(9, seed=11), session(9, seed=11)
    a.fac("next")
    b.fac("next")
    assert members(a) == members(b)


def test_either_member_picks_and_can_change_until_close(session):
    d = session(2)
    d.idea(pid(1), "First member's idea")
    d.idea(pid(2), "Second member's idea")
    d.fac("next")
    [pair] = d.s.pairs
    i1, i2 = d.ideas_of(pid(1))[0], d.ideas_of(pid(2))[0]
    d.pick(pid(1), i1, reason="it is cheap")
    assert d.said("pair_picked", d.pair_posts(pair.id, d.last))
    d.pick(pid(2), i2, reason="it reaches more people")
    d.fac("next")
    [proposal] = d.s.proposals
    assert proposal.idea_id == i2 and proposal.reason == "it reaches more people"
    shown = "\n".join(d.thread(d.last))
    assert "Second member's idea" in shown and "it reaches more people" in shown
    d.pick(pid(1), i1, reason="too late")  # Pair has closed
    assert [p.idea_id for p in d.s.proposals] == [i2]


def test_a_pick_padded_with_thousands_of_spaces_is_read_at_once(session):
    d = session(2)
    d.idea(pid(1), "First member's idea")
    d.idea(pid(2), "Second member's idea")
    d.fac("next")
    number = d.ideas_of(pid(2))[0].lstrip("i")
    d.cmd(pid(1), "pick", number + " " * 20_000 + "because hostile padding")
    assert d.s.pairs[0].picks == [d.ideas_of(pid(2))[0]] and d.s.pairs[0].reason == "hostile padding"


def test_pick_must_be_from_the_pair_and_within_the_limit(session):
    d = session(4, seed=1)
    for i in range(1, 5):
        d.idea(pid(i), f"Idea of {i}")
    d.fac("next")
    p1 = d.s.pairs[0]
    outsider = next(m for p in d.s.pairs[1:] for m in p.members)
    other_idea = d.ideas_of(outsider)[0]
    d.pick(p1.members[0], other_idea, reason="not ours")
    assert d.told(p1.members[0], "pick_unknown")
    own = [d.ideas_of(m)[0] for m in p1.members]
    d.pick(p1.members[0], *own, reason="both")
    assert d.told(p1.members[0], "pick_too_many")
    assert d.s.pairs[0].picks == []


def test_two_picks_per_pair_and_a_pick_by_form(session):
    d = session(2, picks_per_pair=2)
    d.idea(pid(1), "Idea alpha")
    d.idea(pid(2), "Idea beta")
    d.fac("next")
    chosen = [d.ideas_of(pid(1))[0], d.ideas_of(pid(2))[0]]
    d.act(pid(2), "pick", values={"ideas": chosen, "reason": "together they work"})
    d.fac("next")
    assert [p.idea_id for p in d.s.proposals] == chosen
    assert all(p.reason == "together they work" for p in d.s.proposals)


def test_a_pair_can_write_a_new_idea_as_its_pick(session):
    d = session(2)
    d.fac("next")
    d.cmd(pid(1), "pick", "A joint idea we wrote together because we agreed")
    d.fac("next")
    [proposal] = d.s.proposals
    assert d.s.idea(proposal.idea_id).text == "A joint idea we wrote together"
    assert proposal.reason == "we agreed"


def test_a_pair_that_picks_nothing_loses_nothing_and_the_facilitator_is_told(session):
    d = session(4, seed=2)
    for i in range(1, 5):
        d.idea(pid(i), f"- Unpicked idea {i}a\n- Unpicked idea {i}b")
    d.fac("next")
    picker = d.s.pairs[0].members[0]
    d.pick(picker, d.ideas_of(picker)[0], reason="best")
    silent = d.s.pairs[1]
    d.fac("next")
    assert d.told(FACILITATOR, "pair_no_pick")
    assert d.said("pair_closed_no_pick", d.pair_posts(silent.id, d.last))
    assert not d.said("pair_closed_no_pick", d.pair_posts(d.s.pairs[0].id, d.last))
    d.fac("end")
    note = d.note()
    texts = {i.text for i in note.ideas}
    assert {f"Unpicked idea {i}{x}" for i in range(1, 5) for x in "ab"} <= texts
    assert all(i.theme for i in note.ideas)
    assert note.participation.pairs_without_pick == 1
    md = d.note_md()
    for i in range(1, 5):
        assert f"Unpicked idea {i}b" in md


def test_status_in_pair_tells_who_has_picked_without_content(session):
    d = session(2)
    d.idea(pid(1), "Secret wording xyzzy")
    d.fac("next")
    d.pick(pid(1), d.ideas_of(pid(1))[0], reason="plugh reason")
    d.fac("status")
    [status] = d.private(FACILITATOR, d.last)
    assert "xyzzy" not in status and "plugh" not in status
    assert d.said("status_pair_picked", [status.splitlines()[-1].split(": ", 1)[1]])


def test_open_pair_space_effect_names_the_members(session):
    d = session(2)
    d.fac("next")
    [space] = [e for e in d.last if isinstance(e, OpenPairSpace)]
    assert {(m.id, m.name) for m in space.members} == {(pid(1), "Amara Quist"), (pid(2), "Bruno Ferrante")}
