"""Durable ingest: private ideas per second through the runtime, against plain SQLite on the same disk.

The baseline is what the disk allows: plain `sqlite3` with the store's own PRAGMAs (WAL, synchronous=FULL),
inserting rows the size of a stored event, one row per commit and 100 rows per commit, in the same folder
and the same run. The bot's figure is the whole path a private idea takes: `Runtime.receive` of a DM, the
engine's step, the commit of the event with its delivery id and message ref, and the acknowledgement posted
back (to an adapter that answers at once, so the platform's own latency is not counted).

Sessions of 100 and 1,000 people, each person sending 10 ideas; first one reply at a time (each waits for
its answer, as one person typing does), then 50 replies at once (50 people pressing Send at the same moment:
the store's group commit takes them in one transaction). Ratios against one-row-per-commit; the last line is
the ratio at 1,000 people, one at a time.

Run: python bench/ingest.py
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from adapters.base import CommandIssued, Sink, Target, UserMessage  # noqa: E402
from bot.configuration import engine_config  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.scheduler import VirtualTimers  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import Store  # noqa: E402
from facilitation.effects import Action, Person  # noqa: E402

ROW = "x" * 320  # about the size of a stored ReplyPosted event


class InstantPlatform:
    """An adapter whose platform answers at once: what is measured is the bot's own cost."""

    name = "bench"

    def __init__(self) -> None:
        self.sink: Sink | None = None
        self.n = 0

    def bind(self, sink: Sink) -> None:
        self.sink = sink

    def _ref(self) -> str:
        self.n += 1
        return f"r{self.n}"

    async def post(self, channel: str, target: Target, text: str, actions: list[Action], session_id: str) -> str:
        return self._ref()

    async def open_pair_space(self, channel: str, pair_id: str, title: str, members: list[Person],
                              session_id: str) -> str:
        return self._ref()

    async def deliver_note(self, channel: str, convenor: Person, title: str, markdown: str, json_text: str,
                           actions: list[Action], session_id: str) -> str:
        return self._ref()

    async def publish_note(self, channel: str, title: str, markdown: str, session_id: str) -> str:
        return self._ref()


def plain_sqlite(folder: Path, rows: int, per_commit: int) -> float:
    """Rows per second into a fresh file with the store's PRAGMAs."""
    path = folder / f"plain-{per_commit}.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE events (session_id TEXT, seq INTEGER, type TEXT, payload TEXT, "
               "PRIMARY KEY (session_id, seq))")
    db.commit()
    started = time.perf_counter()
    for n in range(rows):
        db.execute("INSERT INTO events VALUES (?, ?, ?, ?)", ("s", n, "reply_posted", ROW))
        if (n + 1) % per_commit == 0:
            db.commit()
    db.commit()
    seconds = time.perf_counter() - started
    db.close()
    return rows / seconds


async def through_runtime(folder: Path, people: int, ideas_each: int, at_once: int) -> float:
    """Private ideas per second through `Runtime.receive` into a session of `people` people."""
    path = folder / f"bot-{people}-{at_once}.sqlite3"
    store = await Store.open(path)
    adapter = InstantPlatform()
    settings = Settings()
    runtime = Runtime(adapter, store, VirtualTimers(), settings, engine_config(settings),  # type: ignore[arg-type]
                      clock=lambda: datetime.now(UTC), rng=random.Random(1))
    adapter.bind(runtime.receive)
    await runtime.start()
    try:
        fac = Person(id="fac", name="Fay")
        await runtime.receive(CommandIssued(channel="C1", person=fac, text="start own=private What first?"))
        people_ = [Person(id=f"u{n}", name=f"P{n}") for n in range(people)]
        for p in people_:
            await runtime.receive(CommandIssued(channel="C1", person=p, text="join"))
        messages = [UserMessage(channel="D", person=p, text=f"Idea {k} from {p.name}: fund the youth club",
                                private=True,
                                message_ref=f"m-{p.id}-{k}", event_id=f"ev-{p.id}-{k}")
                    for k in range(ideas_each) for p in people_]
        started = time.perf_counter()
        for n in range(0, len(messages), at_once):
            await asyncio.gather(*(runtime.receive(m) for m in messages[n : n + at_once]))
        seconds = time.perf_counter() - started
        session = next(iter(runtime.sessions.values()))
        assert len(session.ideas) == len(messages), "every idea must be in the session"
        return len(messages) / seconds
    finally:
        await runtime.stop()
        await store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--ideas", type=int, default=10, help="ideas per person")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=REPO) as tmp:  # the disk the bot's database lives on
        folder = Path(tmp)
        one = plain_sqlite(folder, 3000, 1)
        hundred = plain_sqlite(folder, 30000, 100)
        print(f"plain sqlite3, one row per commit:  {one:9.0f} rows/s")
        print(f"plain sqlite3, 100 rows per commit: {hundred:9.0f} rows/s")
        last = 0.0
        for people in args.sizes:
            for at_once in (1, 50):
                rate = asyncio.run(through_runtime(folder, people, args.ideas, at_once))
                how = "one at a time" if at_once == 1 else f"{at_once} at once"
                print(f"bot, {people:5} people, {how:13}: {rate:9.0f} ideas/s = {rate / one:5.2f}x one-row-per-commit, "
                      f"{rate / hundred:5.2f}x 100-rows-per-commit", flush=True)
                if at_once == 1:
                    last = rate / one
        print(f"ratio to plain SQLite one-row-per-commit, {args.sizes[-1]} people, one at a time: {last:.2f}x")


if __name__ == "__main__":
    main()
