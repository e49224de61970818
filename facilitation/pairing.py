"""Pairs and trios: everyone present in exactly one group, mixing tags, avoiding repeat pairs, seeded."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from itertools import combinations

REPEAT_COST = 10.0  # meeting the same person again weighs more than sharing a tag
SAME_TAG_COST = 1.0
TRIES = 200


def _cost(group: Iterable[str], tags: dict[str, dict[str, str]], met: set[frozenset[str]]) -> float:
    cost = 0.0
    for a, b in combinations(list(group), 2):
        if frozenset((a, b)) in met:
            cost += REPEAT_COST
        shared = tags.get(a, {}).items() & tags.get(b, {}).items()
        cost += SAME_TAG_COST * len(shared)
    return cost


def _candidate(people: list[str], rng: random.Random) -> list[list[str]]:
    order = people[:]
    rng.shuffle(order)
    groups = [order[i : i + 2] for i in range(0, len(order) - 1, 2)]
    if len(order) % 2:
        groups[-1].append(order[-1])  # odd count: one trio
    return groups


def _improve(groups: list[list[str]], cost_of: Callable[[list[str]], float]) -> list[list[str]]:
    """Swap members between groups while that lowers the total cost (a few passes of local search)."""
    improved = True
    while improved:
        improved = False
        for g1, g2 in combinations(range(len(groups)), 2):
            for i in range(len(groups[g1])):
                for j in range(len(groups[g2])):
                    a, b = groups[g1], groups[g2]
                    before = cost_of(a) + cost_of(b)
                    a[i], b[j] = b[j], a[i]
                    if cost_of(a) + cost_of(b) < before - 1e-9:
                        improved = True
                    else:
                        a[i], b[j] = b[j], a[i]
    return groups


def make_pairs(
    people: list[str],
    seed: int,
    tags: dict[str, dict[str, str]] | None = None,
    past_pairs: list[list[str]] | None = None,
) -> list[list[str]]:
    """Groups of two (one of three when the count is odd; a lone person is a group of one).

    The lowest-cost grouping over seeded random starts improved by member swaps, where cost
    counts repeat meetings from earlier sessions and shared tag values.
    """
    people = sorted(set(people))
    if len(people) <= 1:
        return [people] if people else []
    tags = tags or {}
    met = {frozenset(p) for past in past_pairs or [] for p in combinations(past, 2)}

    def cost_of(group: list[str]) -> float:
        return _cost(group, tags, met)

    rng = random.Random(seed)
    best: list[list[str]] | None = None
    best_cost = float("inf")
    tries = 1 if not met and not any(tags.values()) else min(TRIES, 10 + 600 // len(people))
    for _ in range(tries):
        groups = _improve(_candidate(people, rng), cost_of)
        total = sum(cost_of(g) for g in groups)
        if total < best_cost:
            best, best_cost = groups, total
        if best_cost == 0:
            break
    assert best is not None
    return best
