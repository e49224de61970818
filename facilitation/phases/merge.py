"""Merge (1-2-4-All's fours): pairs join into larger groups that keep their pairs' picks and choose one."""

from __future__ import annotations

from facilitation.models import PairSpace
from facilitation.phases.pair import Pair, pair_ideas
from facilitation.turn import Turn


def merge_pairs(pairs: list[PairSpace], group_size: int) -> list[list[PairSpace]]:
    """Consecutive pairs joined until each group reaches `group_size` people; a small remainder joins the last."""
    groups: list[list[PairSpace]] = []
    for pair in pairs:
        if groups and sum(len(p.members) for p in groups[-1]) < group_size:
            groups[-1].append(pair)
        else:
            groups.append([pair])
    if len(groups) > 1 and sum(len(p.members) for p in groups[-1]) < group_size - 1:
        last = groups.pop()
        groups[-1] += last  # two people alone would be a pair again: they join the previous group
    return groups


class Merge(Pair):
    kind = "merge"

    def open(self, t: Turn) -> None:
        s = t.s
        spec = s.phase
        assert spec is not None
        present = {p.id for p in s.present()}
        s.proposals = []  # the pairs' picks become candidates; this phase's picks become the proposals
        s.merged = []
        for breakout in t.group_ids():  # pairs merge within their own breakout group
            pairs = [p for p in s.pairs if p.group == breakout]
            for merged in merge_pairs(pairs, spec.group_size):
                members = [m for pair in merged for m in pair.members if m in present]
                candidates = [i for pair in merged for i in (pair.picks or _all_ideas(t, pair))]
                if members:
                    s.merged.append(PairSpace(id=f"m{len(s.merged) + 1}", members=members, candidates=candidates,
                                              group=breakout))
        if not s.merged:
            t.to_thread(t.say("merge_nobody"), key=f"phase{s.phase_index}:open")
            return
        t.to_thread(t.say("merge_open", groups=len(s.merged), minutes=t.minutes_left(), phase=spec.title),
                    key=f"phase{s.phase_index}:open")
        self.open_spaces(t, "merge_intro")


def _all_ideas(t: Turn, pair: PairSpace) -> list[str]:
    """A pair that picked nothing brings all its ideas, so nothing drops out of the running."""
    return [i.id for i in pair_ideas(t, pair)]  # a pair's space has no candidates: its members' ideas
