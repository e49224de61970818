"""Benchmark: reading hostile replies (finding 10 of issue 14). A bullet followed by n spaces used to cost time
in the square of n (4.3 s of CPU for 40,000 spaces); reading it must cost what an ordinary reply of the same
length costs.

    python bench/hostile_text.py

For each length it prints the time to split the hostile reply into ideas beside the time for an ordinary reply of
the same length (the baseline, measured in the same run) and their ratio; a linear pattern keeps the ratio near
1 at every length, a quadratic one makes it grow with the length.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facilitation.text import neutralise, split_ideas  # noqa: E402

HOSTILE = {
    "bullet + spaces": lambda n: "-" + " " * n,
    "numbered + spaces": lambda n: "1." + " " * n,
    "list of bullets": lambda n: "- a\n" * (n // 4),
    "mention syntax": lambda n: "<!" * (n // 2),
}


def best_of(runs: int, text: str) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        split_ideas(text)
        neutralise(text)
        times.append(time.perf_counter() - started)
    return min(times)


# The list-item pattern before the fix (facilitation/text.py), for comparison: `\s+(.*\S)` tries every split
# of the spaces.
BEFORE = re.compile(r"^\s*(?:[-*\u2022\u2023\u25e6\u2043\u2219]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+(.*\S)\s*$")


def main() -> None:
    for n in (1_000, 10_000, 40_000):
        ordinary = "word " * (n // 5)
        base = best_of(5, ordinary)
        for name, make in HOSTILE.items():
            took = best_of(5, make(n))
            print(f"{name:18} n={n:>6}: {took * 1000:8.2f} ms, ordinary {base * 1000:6.2f} ms, "
                  f"ratio {took / base:5.2f}")
        if n <= 10_000:  # the old pattern alone; at 40,000 it takes seconds
            started = time.perf_counter()
            BEFORE.match(HOSTILE["bullet + spaces"](n))
            took = time.perf_counter() - started
            print(f"{'(before the fix)':18} n={n:>6}: {took * 1000:8.2f} ms, ordinary {base * 1000:6.2f} ms, "
                  f"ratio {took / base:5.0f}")


if __name__ == "__main__":
    main()
