"""Driving a session on every platform (console, Slack, Discord through their loopback fakes) for the trust tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.contract.console_harness import ConsoleHarness
from tests.contract.harness import Harness, Seen
from tests.contract.harnesses import HARNESSES

PLATFORMS = sorted(HARNESSES)
QUESTION = "What should the council learn from people who use its services?"


@asynccontextmanager
async def platform(name: str, tmp_path: Path) -> AsyncIterator[Any]:
    async with HARNESSES[name](tmp_path) as h:
        yield h


def last_with(h: Harness, text: str) -> Seen:
    found = [m for m in h.seen() if text in m.text]
    assert found, f"no bot message contains {text!r}"
    return found[-1]


def told(h: Harness, person: str, text: str) -> list[str]:
    """What the bot said to `person` alone that contains `text` (the console's immediate answers included)."""
    said = [m.text for m in h.seen() if m.where == f"private:{person}" and text in m.text]
    if isinstance(h, ConsoleHarness):  # its immediate answers are printed, not posted
        out = h.adapter.out.getvalue()  # type: ignore[attr-defined]
        name = h.adapter.person(person).name
        said += [line for line in out.splitlines() if line.startswith(f"[only for {name}]") and text in line]
    return said


async def start_with_ideas(h: Harness, people: list[str], extra: str = "") -> Seen:
    """A session whose people joined and added one idea each through the Add an idea button; the Own post."""
    await h.command(h.facilitator, f"start {extra}{QUESTION}".replace("start  ", "start "))
    question = last_with(h, "Join")
    for person in people:
        await h.click(person, question.ref, "Join")
    own = last_with(h, "**Own**")
    for n, person in enumerate(people, start=1):
        await h.click(person, own.ref, "Add an idea", {"idea": f"Idea {n}: listen to group {n}"})
    return own


async def to_rank(h: Harness, people: list[str]) -> Seen:
    """Own, then Pair skipped (every idea becomes a proposal), Explain, Rank: the ballot post."""
    await start_with_ideas(h, people)
    await h.command(h.facilitator, "skip")
    await h.command(h.facilitator, "next")
    await h.command(h.facilitator, "next")
    return last_with(h, "**Rank**")
