"""Delivery under the platforms' failures, on the real slack_sdk and discord.py against loopback fakes.

SIGKILL while a platform has stored a post but not yet answered: after the restart every post the session owes
is there exactly once. A 30-second storm of 429s on every post: nothing lost, nothing doubled, each place's
posts in the same order as without the storm."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tests.discord.fake_discord import FakeDiscord
from tests.runtime.delivery_worker import NAMES
from tests.slack.fake_slack import FakeSlack

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
PAIR_INTRO = "Your pair: Ana"  # one pair's introduction: mid-way through the fan-out of opening Pair


async def _worker(args: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.runtime.delivery_worker", *args, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=asyncio.subprocess.PIPE)


async def _run_to_the_end(args: list[str]) -> None:
    worker = await _worker(args)
    out, _ = await asyncio.wait_for(worker.communicate(), 90)
    assert worker.returncode == 0 and b"settled" in out


async def _killed_at_hold_then_restarted(args: list[str], holding: asyncio.Event) -> None:
    worker = await _worker(args)
    await asyncio.wait_for(holding.wait(), 60)
    worker.send_signal(signal.SIGKILL)
    await worker.wait()
    await _run_to_the_end(args)


def _slack_posts(fake: FakeSlack) -> Counter[tuple[str, str]]:
    return Counter((m.channel, m.text) for m in fake.messages if m.from_bot and not m.ephemeral_to)


def _discord_posts(fake: FakeDiscord) -> Counter[str]:
    return Counter(m["content"] for m in fake.bot_messages() if not m.get("flags", 0) & 64)


def _holds(word: str) -> Callable[[str, str], bool]:
    return lambda channel, text: word in text


async def test_slack_post_stored_then_process_killed_is_not_doubled_or_lost(tmp_path: Path) -> None:
    reference, faulty = FakeSlack(), FakeSlack()
    for fake in (reference, faulty):
        await fake.start()
    try:
        await _run_to_the_end(["slack", str(tmp_path / "ref.sqlite3"), reference.api_url])
        faulty.hold_post = _holds(PAIR_INTRO)
        await _killed_at_hold_then_restarted(["slack", str(tmp_path / "bot.sqlite3"), faulty.api_url],
                                             faulty.holding)
        expected, seen = _slack_posts(reference), _slack_posts(faulty)
        assert any(PAIR_INTRO in text for _, text in seen), "the held post is there"
        assert seen - expected == Counter(), "posted twice"
        assert expected - seen == Counter(), "never posted"
    finally:
        await reference.stop()
        await faulty.stop()


async def _discord_reference_and_killed(tmp_path: Path, hold: Callable[[FakeDiscord], None],
                                        read: Callable[[FakeDiscord], T]) -> tuple[T, T]:
    """The worker's session on Discord twice: straight through, and with `hold` set on the fake, the bot killed
    while the fake holds that answer and restarted; what `read` finds on each fake."""
    results: list[T] = []
    for name in ("ref", "bot"):
        fake = FakeDiscord()
        users = [fake.add_user(n) for n in ["Fay", *NAMES]]
        await fake.start()
        try:
            args = ["discord", str(tmp_path / f"{name}.sqlite3"), fake.api_url, fake.gateway_url,
                    fake.channel_id, *users]
            if name == "ref":
                await _run_to_the_end(args)
            else:
                hold(fake)
                await _killed_at_hold_then_restarted(args, fake.holding)
            results.append(read(fake))
        finally:
            await fake.stop()
    return results[0], results[1]


async def test_discord_post_stored_then_process_killed_is_not_doubled_or_lost(tmp_path: Path) -> None:
    def hold(fake: FakeDiscord) -> None:
        fake.hold_post = _holds(PAIR_INTRO)

    expected, seen = await _discord_reference_and_killed(tmp_path, hold, _discord_posts)
    assert any(PAIR_INTRO in text for text in seen), "the held post is there"
    assert seen - expected == Counter(), "posted twice"
    assert expected - seen == Counter(), "never posted"


def _pair_threads(fake: FakeDiscord) -> Counter[tuple[str, frozenset[str]]]:
    """Each private thread by its name and the people in it."""
    return Counter((c["name"], frozenset(fake.users[u]["global_name"] for u in fake.thread_members[cid]
                                         if u != fake.bot["id"]))
                   for cid, c in fake.channels.items() if c["type"] == 12)


async def test_discord_pair_thread_made_then_process_killed_is_not_opened_twice(tmp_path: Path) -> None:
    def hold(fake: FakeDiscord) -> None:
        fake.hold_thread = lambda name: " pair " in name  # the first pair thread: made, its answer never comes

    def read(fake: FakeDiscord) -> tuple[Counter[tuple[str, frozenset[str]]], Counter[str]]:
        return _pair_threads(fake), _discord_posts(fake)

    (threads, posts), (seen_threads, seen_posts) = await _discord_reference_and_killed(tmp_path, hold, read)
    assert len(threads) == 3 and all(len(people) == 2 for _, people in threads), "three pairs, each in its thread"
    assert seen_threads == threads, "no pair thread opened twice, none missing, each with its members"
    assert seen_posts == posts, "every post once"


STORM_SECONDS = 30


def _slack_places(fake: FakeSlack) -> list[tuple[str, ...]]:
    """Each place's posts in order (group DM ids depend on the order they were opened, so places are unnamed)."""
    places: dict[str, list[str]] = {}
    for m in fake.messages:
        if m.from_bot and not m.ephemeral_to:
            places.setdefault(m.channel, []).append(m.text)
    return sorted(tuple(texts) for texts in places.values())


def _discord_places(fake: FakeDiscord) -> list[tuple[str, ...]]:
    places: dict[str, list[str]] = {}
    for m in fake.bot_messages():
        if not m.get("flags", 0) & 64:
            places.setdefault(m["channel_id"], []).append(m["content"])
    return sorted(tuple(texts) for texts in places.values())


async def test_slack_429_storm_loses_nothing_doubles_nothing_and_keeps_each_places_order(tmp_path: Path) -> None:
    reference, stormy = FakeSlack(), FakeSlack(retry_after=1)
    for fake in (reference, stormy):
        await fake.start()
    try:
        await _run_to_the_end(["slack", str(tmp_path / "ref.sqlite3"), reference.api_url])
        stormy.storm_until = time.monotonic() + STORM_SECONDS
        await _run_to_the_end(["slack", str(tmp_path / "bot.sqlite3"), stormy.api_url])
        refused = [c for c in stormy.calls if c.status == 429]
        assert refused and max(c.at for c in refused) > stormy.storm_until - 2, "the storm lasted its time"
        assert _slack_places(stormy) == _slack_places(reference)
    finally:
        await reference.stop()
        await stormy.stop()


async def test_discord_429_storm_loses_nothing_doubles_nothing_and_keeps_each_places_order(tmp_path: Path) -> None:
    results: list[list[tuple[str, ...]]] = []
    for name in ("ref", "storm"):
        fake = FakeDiscord()
        users = [fake.add_user(n) for n in ["Fay", *NAMES]]
        await fake.start()
        try:
            if name == "storm":
                fake.storm_until = time.monotonic() + STORM_SECONDS
            await _run_to_the_end(["discord", str(tmp_path / f"{name}.sqlite3"), fake.api_url, fake.gateway_url,
                                   fake.channel_id, *users])
            if name == "storm":
                assert sum(c.status == 429 for c in fake.calls) > 10, "the storm happened"
            results.append(_discord_places(fake))
        finally:
            await fake.stop()
    assert results[1] == results[0]
