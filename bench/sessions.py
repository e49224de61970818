"""Memory of many sessions at once: 100 concurrent sessions x 30 people in one bot process.

One process starts the bot as `facilitator run` does (default settings, so with the sentence-embedding model
where it loads) and records its resident memory idle. Then 100 sessions run at the same time in 100
channels: 30 people each join, write 3 private ideas, pick in pairs, vote, and the facilitator moves every
phase on until the note is drafted and approved. Printed: idle memory, peak memory (VmHWM), and the peak
above idle, in MB, and the same per session. Linux only (it reads /proc/self/status).

Run: python bench/sessions.py        (about a minute)
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

from adapters.base import ActionSubmitted, CommandIssued, UserMessage  # noqa: E402
from bench.ingest import InstantPlatform  # noqa: E402
from bot.configuration import engine_config  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.scheduler import VirtualTimers  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import Store  # noqa: E402
from facilitation.effects import Person  # noqa: E402

TOPICS = ["youth clubs", "carers' breaks", "plain English letters", "evening meetings", "peer research",
          "community grants", "bus routes", "food banks", "listening sessions", "digital help"]


def memory_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise SystemExit("this benchmark reads /proc/self/status (Linux)")


async def one_session(runtime: Runtime, channel: str, people: int, rng: random.Random) -> None:
    fac = Person(id=f"fac-{channel}", name="Fay")

    async def say(person: Person, text: str) -> None:
        await runtime.receive(CommandIssued(channel=channel, person=person, text=text))

    await say(fac, "start What should the network change first?")
    session_id = next(s.id for s in runtime.sessions.values() if s.channel == channel)
    crowd = [Person(id=f"{channel}-u{n}", name=f"P{n}") for n in range(people)]
    for p in crowd:
        await say(p, "join")
    for k in range(3):
        for p in crowd:
            text = f"{rng.choice(['Fund', 'Open', 'Share', 'Review'])} {rng.choice(TOPICS)} ({channel} {p.name} {k})"
            await runtime.receive(UserMessage(channel="DM", person=p, text=text, private=True,
                                              message_ref=f"{p.id}-{k}"))
        await asyncio.sleep(0)
    await say(fac, "next")  # Pair
    s = runtime.sessions[session_id]
    for pair in s.pairs:
        first = s.ideas_of(pair.members[0])[0]
        await runtime.receive(ActionSubmitted(channel=channel, person=Person(id=pair.members[0], name="P"),
                                              session_id=session_id, action="pick",
                                              values={"ideas": [first.id], "reason": "most people gain"}))
    await say(fac, "next")  # Explain
    await say(fac, "next")  # Rank
    numbers = [p.id[1:] for p in s.proposals]
    for p in crowd:
        await say(p, "vote " + " ".join(rng.sample(numbers, min(3, len(numbers)))))
    await say(fac, "next")  # Arrange
    await say(fac, "end")
    await runtime.settled(session_id)
    await runtime.receive(ActionSubmitted(channel=channel, person=fac, session_id=session_id, action="approve_note"))


async def run(sessions: int, people: int) -> None:
    settings = Settings()
    with tempfile.TemporaryDirectory(dir=REPO) as tmp:
        store = await Store.open(Path(tmp) / "sessions.sqlite3")
        adapter = InstantPlatform()
        runtime = Runtime(adapter, store, VirtualTimers(), settings, engine_config(settings),  # type: ignore[arg-type]
                          clock=lambda: datetime.now(UTC), rng=random.Random(1))
        adapter.bind(runtime.receive)
        await runtime.start()
        idle = memory_mb("VmRSS")
        started = time.perf_counter()
        await asyncio.gather(*(one_session(runtime, f"C{n}", people, random.Random(n)) for n in range(sessions)))
        seconds = time.perf_counter() - started
        peak = memory_mb("VmHWM")
        ended = sum(1 for s in runtime.sessions.values() if s.note_status == "approved")
        await runtime.stop()
        await store.close()
    grouping = "sentence embeddings" if runtime.cfg.embed is not None else "word overlap"
    print(f"{sessions} sessions x {people} people ({ended} notes approved, themes by {grouping}) in {seconds:.1f} s")
    print(f"idle bot: {idle:.0f} MB; peak: {peak:.0f} MB")
    print(f"peak above idle: {peak - idle:.0f} MB ({(peak - idle) / sessions:.2f} MB per session)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--people", type=int, default=30)
    args = ap.parse_args()
    asyncio.run(run(args.sessions, args.people))


if __name__ == "__main__":
    main()
