"""Whole sessions at scale: `facilitator simulate` of generated OPERA sessions with N people x 3 ideas.

Each person writes three private ideas in Own, picks their first idea in Pair (so every pair has a pick),
casts a dot-vote ballot over three proposals in Rank, and Arrange groups every idea into themes; the note is
drafted and approved. Each size runs in its own process (`facilitator simulate`, the command a user runs), so
time and peak memory (the child's max RSS) are the whole command's. The last lines give time per person and the
log-log slope of time against size: 1.0 means a reply costs the same however large the session.

Then pairing alone (`make_pairs`, 4 sector tags, everyone's partners from a previous session to avoid): seconds,
and how many pairs share a sector or met before, against a seeded random pairing of the same people.

Run: python bench/scale.py            (100, 300, 1000, 3000 people; lexical themes; a few minutes)
     python bench/scale.py --sizes 100 300 --grouping auto   (themes by the sentence-embedding model)
"""

from __future__ import annotations

import argparse
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Words for ideas that read like a listening session's, so Arrange has real work: topics share words.
_ACTIONS = ["Fund", "Publish", "Train", "Pay", "Co-design", "Share", "Review", "Open", "Support", "Measure"]
_THINGS = ["youth clubs", "peer research", "decisions in plain English", "carers' respite", "community grants",
           "housing repairs", "listening sessions", "mental health support", "local transport", "food banks",
           "digital skills", "green spaces", "advice services", "translation", "evening meetings"]
_WHO = ["for young people", "with residents", "for carers", "with charities", "for disabled people",
        "with the council", "for older people", "in every ward", "with funders", "for new arrivals"]
_SECTORS = ["charity", "council", "lived experience", "funder"]


def scenario(people: int, seed: int = 7) -> str:
    """A TOML scenario: `people` participants with sector tags, three private ideas each, picks and ballots."""
    rng = random.Random(seed * 100_003 + people)
    names = [f"P{n:05d}" for n in range(people)]
    lines = [
        'question = "What should the network change first?"',
        'facilitator = "Fay"',
        # A ballot over the many proposals of a big session: dots, at most 2 on one proposal.
        'start = "voting=dots minutes=own:10,pair:10,explain:10,rank:10,arrange:10"',
        f"seed = {seed}",
        "participants = [",
        *[f'  {{ name = "{n}", tags = {{ sector = "{_SECTORS[i % 4]}" }} }},' for i, n in enumerate(names)],
        "]",
    ]
    ideas: dict[str, list[str]] = {}
    for n in names:
        # The number makes each text unique (picks name ideas by their text) and is no word themes use.
        ideas[n] = [f"{rng.choice(_ACTIONS)} {rng.choice(_THINGS)} {rng.choice(_WHO)} ({len(ideas) * 3 + k + 1})"
                    for k in range(3)]

    def step(**kv: object) -> None:
        lines.append("[[steps]]")
        for k, v in kv.items():
            lines.append(f"{k} = {_toml(v)}")

    for i, n in enumerate(names):
        for k, text in enumerate(ideas[n]):
            step(**({"phase": "own"} if i == 0 and k == 0 else {}), who=n, private=True, reply=text)
    for i, n in enumerate(names):
        step(**({"phase": "pair"} if i == 0 else {}), who=n, pick=ideas[n][0], reason="it helps most people")
    # A pair's last pick stands, so there is one proposal per pair; each person puts three dots on three of them,
    # typed as the ballot post invites ("vote 4 17 31").
    proposals = people // 2
    for i, n in enumerate(names):
        dots = " ".join(str(v) for v in rng.sample(range(1, proposals + 1), min(3, proposals)))
        step(**({"phase": "rank"} if i == 0 else {}), who=n, command=f"vote {dots}")
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_one(people: int, grouping: str, workdir: Path) -> tuple[float, float]:
    """Seconds and peak MB of one `facilitator simulate` of a generated session."""
    path = workdir / f"scale-{people}.toml"
    path.write_text(scenario(people), encoding="utf-8")
    env = {**os.environ, "FACILITATOR_GROUPING": grouping, "FACILITATOR_DATABASE": str(workdir / f"{people}.db")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    command = [sys.executable, "-m", "bot.cli", "simulate", str(path), "--out", str(workdir / f"out{people}")]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"simulate of {people} people failed:\n{done.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far; sizes run smallest first, so it is this child's.
    return seconds, max(peak, before) / 1024


def pairing(people: int) -> tuple[float, int, int, int, int]:
    """Seconds to pair `people`, then (shared sector, met before) among its pairs and a random pairing's."""
    sys.path.insert(0, str(REPO))
    from facilitation.pairing import make_pairs

    names = [f"P{n:05d}" for n in range(people)]
    tags = {n: {"sector": _SECTORS[i % 4]} for i, n in enumerate(names)}
    # Last time everyone sat with a neighbour from another sector: the pairs a tag-mixer likes best are barred.
    past = [names[i : i + 2] for i in range(0, people - 1, 2)]
    shuffled = names[:]
    started = time.perf_counter()
    groups = make_pairs(names, seed=11, tags=tags, past_pairs=past)
    seconds = time.perf_counter() - started
    random.Random(5).shuffle(shuffled)
    blind = [shuffled[i : i + 2] for i in range(0, people - 1, 2)]
    met = {frozenset(p) for p in past}

    def faults(gs: list[list[str]]) -> tuple[int, int]:
        pairs = [(a, b) for g in gs for i, a in enumerate(g) for b in g[i + 1 :]]
        return (sum(tags[a] == tags[b] for a, b in pairs), sum(frozenset((a, b)) in met for a, b in pairs))

    return (seconds, *faults(groups), *faults(blind))


def slope(xs: list[float], ys: list[float]) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000, 3000])
    ap.add_argument("--grouping", default="lexical", choices=["lexical", "auto", "embeddings"])
    args = ap.parse_args()
    sizes = sorted(args.sizes)
    print(f"{'people':>7} {'ideas':>6} {'seconds':>8} {'ms/person':>10} {'peak MB':>8}")
    times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            seconds, peak = run_one(n, args.grouping, Path(tmp))
            times.append(seconds)
            print(f"{n:>7} {3 * n:>6} {seconds:>8.2f} {1000 * seconds / n:>10.2f} {peak:>8.0f}", flush=True)
    if len(sizes) > 1:
        print(f"log-log slope of time against people, {sizes[0]} to {sizes[-1]}: {slope(sizes, times):.2f} "
              "(1.0: linear)")
    print(f"\n{'pairing':>7} {'seconds':>8} {'same sector':>12} {'met before':>11}   (a random pairing: same, met)")
    for n in sizes:
        seconds, same, met, blind_same, blind_met = pairing(n)
        print(f"{n:>7} {seconds:>8.3f} {same:>12} {met:>11}   ({blind_same}, {blind_met})")


if __name__ == "__main__":
    main()
