"""Breakout groups: who goes where, each group's own pairs, proposals and ballot, the plenary, the combined note."""

from __future__ import annotations

from collections import Counter

from facilitation.models import Session
from tests.engine.conftest import new_session
from tests.engine.driver import Driver, pid


def _sizes(s: Session) -> list[int]:
    return sorted(Counter(p.group for p in s.present()).values())


def _join(d: Driver, n: int, tags: str = "") -> None:
    d.cmd(pid(n), "join", tags)


def test_people_are_spread_over_the_groups_within_one_of_each_other() -> None:
    d = new_session(0, groups=3)
    for n in range(1, 12):
        _join(d, n)
    assert len(d.s.groups) == 3
    assert _sizes(d.s) == [3, 4, 4]
    anchors = [p for p in d.posts() if p.audience.kind == "channel" and "breakout group" in p.text]
    assert len(anchors) == 3 and all(p.actions[0].label == "Join" for p in anchors)  # the bot places people


def test_when_people_choose_each_group_post_offers_that_group() -> None:
    d = new_session(0, groups=2, assign="choice")
    anchors = [p for p in d.posts() if p.audience.kind == "channel" and "breakout group" in p.text]
    assert [p.actions[0].label for p in anchors] == ["Join Group 1", "Join Group 2"]
    d.act(pid(1), "join", anchors[1].actions[0].value)
    assert d.s.participants[pid(1)].group == d.s.groups[1].id


def test_groups_mix_tags_as_far_as_the_tags_allow() -> None:
    d = new_session(0, groups=3)
    sectors = ["charity", "council", "funder"] * 3
    for n, sector in enumerate(sectors, start=1):
        _join(d, n, f"sector={sector}")
    for group in d.s.groups:
        assert sorted(p.tags["sector"] for p in d.s.members(group.id)) == ["charity", "council", "funder"]


def test_late_joiners_go_to_the_smallest_group() -> None:
    d = new_session(0, groups=2, assign="choice")
    for n in range(1, 4):
        _join(d, n, "1")  # three people choose group 1
    _join(d, 4)  # no choice: the smallest group
    assert d.s.participants[pid(4)].group == "g2"
    d.fac("next")  # Pair: pairs are already made
    _join(d, 5)
    assert d.s.participants[pid(5)].group == "g2"
    assert d.told(pid(5), "joined_group", d.last)


def test_a_group_size_opens_new_groups_as_people_arrive() -> None:
    d = new_session(0, group_size=3)
    for n in range(1, 8):
        _join(d, n)
    assert [len(d.s.members(g.id)) for g in d.s.groups] == [3, 3, 1]


def test_pairs_proposals_and_ballots_stay_within_each_group() -> None:
    d = new_session(0, groups=2, assign="choice")
    for n in range(1, 9):
        _join(d, n, "1" if n <= 4 else "2")
        d.idea(pid(n), f"Idea {n}")
    d.fac("next")
    for pair in d.s.pairs:
        assert len({d.s.group_of(m) for m in pair.members}) == 1, "a pair never spans two groups"
        d.pick(pair.members[0], d.ideas_of(pair.members[0])[0], reason="ours")
    d.fac("next")  # Explain: each group hears its own proposals, in its own thread
    for group in d.s.groups:
        texts = [p.text for p in d.posts(d.last) if p.audience.anchor == group.anchor]
        mine = [p for p in d.s.proposals if p.group == group.id]
        assert len(mine) == 2 and all(any(d.s.idea(p.idea_id).text in t for t in texts) for p in mine)
    d.fac("next")  # Rank, per group
    other_group = next(p for p in d.s.proposals if p.group == "g2")
    effects = d.vote(pid(1), int(other_group.id[1:]))
    assert d.told(pid(1), "vote_unknown", effects), "a ballot only offers the voter's own group's proposals"
    d.vote(pid(1), int(next(p for p in d.s.proposals if p.group == "g1").id[1:]))
    d.fac("next")
    assert set(d.s.group_tallies) == {"g1", "g2"} and d.s.group_tallies["g1"].ballots == 1


def test_the_plenary_hears_each_groups_top_proposals_and_ranks_them_together() -> None:
    d = new_session(0, groups=2, assign="choice", plenary_ballot=True)
    for n in range(1, 9):
        _join(d, n, "1" if n <= 4 else "2")
        d.idea(pid(n), f"Idea {n}")
    d.fac("next")
    for pair in d.s.pairs:
        d.pick(pair.members[0], d.ideas_of(pair.members[0])[0])
    d.next_to("report")
    reported = [p for p in d.posts(d.last) if p.audience.kind == "channel" and p.text.startswith("**Group")]
    assert len(reported) == 4 and len(d.s.reported) == 4
    d.fac("next")  # the plenary ballot: everyone, over all reported proposals
    assert d.phase == "rank" and d.s.phase.plenary
    favourite = d.s.proposals[-1]
    for n in range(1, 9):
        d.vote(pid(n), int(favourite.id[1:]))
    d.fac("next")
    assert d.s.tally is not None and d.s.tally.rows[0].proposal_id == favourite.id
    d.fac("end")
    note = d.note()
    assert note.key_points[0] == d.s.idea(favourite.idea_id).text
    assert [g.name for g in note.groups] == ["Group 1", "Group 2"]
    assert sum(g.participation.people for g in note.groups) == 8
    md = d.note_md()
    assert "Breakout groups" in md and "reported to the plenary" in md


def test_without_groups_the_plenary_phases_are_left_out() -> None:
    d = new_session(3)
    for i in (1, 2, 3):
        d.idea(pid(i), f"An idea from {i}")
    kinds = []
    for _ in range(10):
        if d.phase is None:
            break
        kinds.append(d.phase)
        for pair in d.s.pairs if d.phase == "pair" else []:  # picks, so Explain and Rank have proposals
            d.pick(pair.members[0], d.ideas_of(pair.members[0])[0])
        d.fac("next")
    assert kinds == ["own", "pair", "explain", "rank", "arrange"]


def test_a_broadcast_reaches_every_group_thread() -> None:
    d = new_session(0, groups=3)
    effects = d.fac("broadcast", "Five minutes left @everyone")
    anchors = sorted(p.audience.anchor for p in d.posts(effects))
    assert anchors == ["group:g1", "group:g2", "group:g3"]
    assert all("@everyone" not in p.text for p in d.posts(effects))


def test_an_overlong_broadcast_is_refused_whole_with_the_limit() -> None:
    d = new_session(0, groups=2)
    effects = d.fac("broadcast", "x" * 20_000)
    posts = d.posts(effects)
    assert [p.audience.kind for p in posts] == ["private"], "nothing reaches the groups"
    assert "20000 characters" in posts[0].text and "1500" in posts[0].text


def test_without_a_plenary_ballot_the_summary_takes_each_groups_best_in_turn() -> None:
    d = new_session(0, groups=2, assign="choice", picks_per_pair=2)
    for n in range(1, 5):
        _join(d, n, "1" if n <= 2 else "2")
        d.idea(pid(n), f"Idea {n}")
    d.fac("next")
    for pair in d.s.pairs:
        d.pick(pair.members[0], *[i for m in pair.members for i in d.ideas_of(m)])
    d.next_to("rank")
    second = {g: [p for p in d.s.proposals if p.group == g][1] for g in ("g1", "g2")}
    for n in range(1, 5):  # every group puts its second proposal first
        d.vote(pid(n), int(second[d.s.group_of(pid(n))].id[1:]))
    d.fac("end")
    note = d.note()
    assert note.ranking is None
    firsts = [d.s.idea(second[g].idea_id).text for g in ("g1", "g2")]
    assert note.key_points[:2] == firsts
