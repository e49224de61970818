"""Finding 10: one slow pattern. A bullet followed by tens of thousands of spaces took seconds of CPU in
facilitation/text.py (blocking every session, again on every restart); it is now read in linear time, and any
message too big to be an idea is refused whole with a clear message instead of being stored.

The speed itself is measured in bench/hostile_text.py (as ratios); the watchdog here only catches a return of the
quadratic pattern, which would take minutes on this input where the linear one takes milliseconds."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from facilitation.text import split_ideas
from tests.engine.conftest import CFG
from tests.trust.platforms import PLATFORMS, platform, start_with_ideas, told

HOSTILE = "-" + " " * 400_000  # about 800 s for the old pattern; milliseconds now


@contextmanager
def watchdog(seconds: int) -> Iterator[None]:
    def expire(*_: object) -> None:
        raise TimeoutError("the text pattern is no longer linear")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_bullet_followed_by_spaces_is_read_in_linear_time() -> None:
    with watchdog(30):
        assert split_ideas(HOSTILE) == ["-"]
        assert split_ideas("- first\n-" + " " * 200_000 + "second\n- third") == ["first", "second", "third"]


@pytest.mark.parametrize("name", PLATFORMS)
async def test_a_message_too_big_to_be_an_idea_is_refused_with_a_message(name: str, tmp_path: Path) -> None:
    async with platform(name, tmp_path) as h:
        await start_with_ideas(h, h.people[:1])
        person = h.people[0]
        await h.reply_in_thread(person, "-" + " " * 40_000)
        assert told(h, person, f"most I can take at once is {CFG.limits.message_chars}")
        await h.direct_message(person, "a long but fine idea " * 500)  # 10,500 characters: kept whole
        assert told(h, person, "It is saved in full")
