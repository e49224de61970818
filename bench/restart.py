"""Restart time of a big session, beside the cost of loading its snapshot alone.

Builds one session of about 10,000 stored events (1,650 people join and write 5 private ideas each) through
the real runtime and store, stops, then times three things in the same run on the same file:
  restart    `Runtime.start`, as the bot does at start: the snapshot plus the events after it
  snapshot   reading and parsing the snapshot alone (the floor a restart cannot beat)
  replay     every event through the engine from scratch, as a restart without snapshots would
and prints restart as a ratio of the snapshot load and of the full replay.

Run: python bench/restart.py
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from adapters.base import CommandIssued, UserMessage  # noqa: E402
from bench.ingest import InstantPlatform  # noqa: E402
from bot.configuration import engine_config  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.scheduler import VirtualTimers  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import Store  # noqa: E402
from facilitation import engine  # noqa: E402
from facilitation.effects import Person  # noqa: E402


def _runtime(store: Store, settings: Settings) -> Runtime:
    adapter = InstantPlatform()
    runtime = Runtime(adapter, store, VirtualTimers(), settings, engine_config(settings),  # type: ignore[arg-type]
                      clock=lambda: datetime.now(UTC), rng=random.Random(1))
    adapter.bind(runtime.receive)
    return runtime


async def build(path: Path, people: int, ideas: int, settings: Settings) -> int:
    store = await Store.open(path)
    runtime = _runtime(store, settings)
    await runtime.start()
    fac = Person(id="fac", name="Fay")
    await runtime.receive(CommandIssued(channel="C1", person=fac, text="start own=private What first?"))
    crowd = [Person(id=f"u{n}", name=f"P{n}") for n in range(people)]
    for n in range(0, people, 50):
        await asyncio.gather(*(runtime.receive(CommandIssued(channel="C1", person=p, text="join"))
                               for p in crowd[n : n + 50]))
    for k in range(ideas):
        for n in range(0, people, 50):
            await asyncio.gather(*(runtime.receive(UserMessage(
                channel="D", person=p, text=f"Idea {k} from {p.name}: listen to carers in every ward", private=True,
                message_ref=f"m-{p.id}-{k}")) for p in crowd[n : n + 50]))
    events = runtime.sessions[next(iter(runtime.sessions))].events_handled
    await runtime.stop()
    await store.close()
    return events


async def restart(path: Path, settings: Settings) -> tuple[float, int]:
    store = await Store.open(path)
    runtime = _runtime(store, settings)
    started = time.perf_counter()
    await runtime.start()
    seconds = time.perf_counter() - started
    ideas = len(next(iter(runtime.sessions.values())).ideas)
    await runtime.stop()
    await store.close()
    return seconds, ideas


async def snapshot_only(path: Path) -> float:
    store = await Store.open(path)
    [session_id] = await store.open_sessions()
    started = time.perf_counter()
    found = await store.snapshot(session_id)
    seconds = time.perf_counter() - started
    await store.close()
    assert found is not None, "the store kept no snapshot"
    return seconds


async def full_replay(path: Path, settings: Settings) -> float:
    store = await Store.open(path)
    [session_id] = await store.open_sessions()
    cfg = engine_config(settings)
    started = time.perf_counter()
    state = None
    for _, event in await store.events(session_id):
        state, _ = engine.apply(state, event, cfg)
    seconds = time.perf_counter() - started
    await store.close()
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=1650)
    ap.add_argument("--ideas", type=int, default=5, help="ideas per person")
    args = ap.parse_args()
    settings = Settings(grouping="lexical")
    with tempfile.TemporaryDirectory(dir=REPO) as tmp:
        path = Path(tmp) / "restart.sqlite3"
        events = asyncio.run(build(path, args.people, args.ideas, settings))
        seconds, ideas = asyncio.run(restart(path, settings))
        snap = asyncio.run(snapshot_only(path))
        replay = asyncio.run(full_replay(path, settings))
    print(f"session: {events} events, {ideas} ideas, {args.people} people")
    print(f"restart (snapshot + tail):      {seconds:7.3f} s")
    print(f"snapshot load alone:            {snap:7.3f} s")
    print(f"replay of every event (no snapshot): {replay:7.3f} s")
    print(f"restart = {seconds / snap:.2f}x the snapshot load, {seconds / replay:.3f}x a full replay")


if __name__ == "__main__":
    main()
