"""Scale-out: private ideas per second and the p99 of the time to a person's visible answer ("Saved"), with 1, 2
and 4 bot processes on one PostgreSQL against 1 process on SQLite: same script, same machine, same run.

The script: SESSIONS sessions of PEOPLE people each (started and joined beforehand), every person sends IDEAS
private ideas, AT_ONCE at a time per process. Each process is a real `Runtime` in a process of its own, on an
adapter whose platform answers at once (so what is measured is the bot's and the store's own cost), taking
every N-th message, as a round-robin load balancer spreads them: each session's replies reach every process,
which take turns with its lock. PostgreSQL runs with fsync on (as in
production), in a temporary directory, started by this script (tests/pg.py); SQLite has synchronous=FULL.
Ratios are against 1 process on SQLite. Ideas are grouped lexically (see below).

A run on a shared 2-core machine varies from one to the next, so the four configurations are run in turn, ROUNDS
times over (each round on fresh databases): the table gives each configuration's median, and the ratios are
taken within each round (against that round's SQLite run) and given as the median and the range over rounds.

Run: python bench/scaleout.py [--rounds 3] [--sessions 4] [--people 50] [--ideas 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# The store's cost is what is compared: the model's warm-up thread would embed ideas for as long as a run lasts,
# so a slower run would pay for more of it (set FACILITATOR_GROUPING=embeddings to include it anyway).
os.environ.setdefault("FACILITATOR_GROUPING", "lexical")

from adapters.base import CommandIssued, UserMessage  # noqa: E402
from bench.ingest import InstantPlatform  # noqa: E402
from bot.configuration import engine_config  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.scheduler import VirtualTimers  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.storage import open_store  # noqa: E402
from facilitation.effects import Person  # noqa: E402
from tests.pg import PgServer, bindir  # noqa: E402


async def _runtime(database: str) -> tuple[Runtime, object]:
    store = await open_store(database if database.startswith("postgresql://") else Path(database))
    adapter = InstantPlatform()
    settings = Settings()
    runtime = Runtime(adapter, store, VirtualTimers(), settings, engine_config(settings),  # type: ignore[arg-type]
                      clock=lambda: datetime.now(UTC), rng=random.Random())
    adapter.bind(runtime.receive)
    await runtime.start()
    return runtime, store


def _people(session: int, people: int) -> list[Person]:
    return [Person(id=f"s{session}-u{n}", name=f"P{n}") for n in range(people)]


async def setup(database: str, sessions: int, people: int) -> None:
    runtime, store = await _runtime(database)
    for k in range(sessions):
        await runtime.receive(CommandIssued(channel=f"C{k}", person=Person(id=f"fac{k}", name="Fay"),
                                            text="start own=private What first?"))
        for p in _people(k, people):
            await runtime.receive(CommandIssued(channel=f"C{k}", person=p, text="join"))
    await runtime.stop()
    await store.close()  # type: ignore[attr-defined]


async def worker(database: str, index: int, count: int, sessions: int, people: int, ideas: int,
                 at_once: int) -> None:
    runtime, store = await _runtime(database)
    # People of all sessions in turn, so the replies in flight at once are spread over the sessions; every
    # count-th message is this process's, so each session's messages reach every process (round robin).
    everyone = [p for n in range(people) for k in range(sessions) for p in [_people(k, people)[n]]]
    messages = [UserMessage(channel="D", person=p, text=f"Idea {i} from {p.id}: fund the youth club", private=True,
                            message_ref=f"m-{p.id}-{i}", event_id=f"ev-{p.id}-{i}")
                for i in range(ideas) for p in everyone][index::count]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "go": all start together
    latencies: list[float] = []

    async def one(message: UserMessage) -> None:
        started = time.perf_counter()
        await runtime.receive(message)
        latencies.append(time.perf_counter() - started)

    began = time.time()
    for n in range(0, len(messages), at_once):
        await asyncio.gather(*(one(m) for m in messages[n:n + at_once]))
    ended = time.time()
    print(json.dumps({"began": began, "ended": ended, "latencies": latencies}), flush=True)
    await runtime.stop()
    await store.close()  # type: ignore[attr-defined]


def run(database: str, processes: int, args: argparse.Namespace) -> tuple[float, float]:
    """(ideas/s, p99 seconds) of one configuration."""
    asyncio.run(setup(database, args.sessions, args.people))
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", database, str(i), str(processes),
                               str(args.sessions), str(args.people), str(args.ideas), str(args.at_once)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
             for i in range(processes)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = [json.loads(proc.communicate()[0].strip().splitlines()[-1]) for proc in procs]
    total = sum(len(r["latencies"]) for r in results)
    assert total == args.sessions * args.people * args.ideas
    seconds = max(r["ended"] for r in results) - min(r["began"] for r in results)
    latencies = sorted(x for r in results for x in r["latencies"])
    return total / seconds, statistics.quantiles(latencies, n=100)[98]


CONFIGURATIONS = [("SQLite", 1), ("PostgreSQL", 1), ("PostgreSQL", 2), ("PostgreSQL", 4)]


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):5.2f}x ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3, help="times each configuration is run, in turn")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--ideas", type=int, default=10)
    parser.add_argument("--at-once", type=int, default=10, help="replies in flight at once in each process")
    parser.add_argument("--no-fsync", action="store_true", help="PostgreSQL with fsync off (to see what syncs cost)")
    parser.add_argument("--worker", nargs=7)
    args = parser.parse_args()
    if args.worker:
        database, index, count, sessions, people, ideas, at_once = args.worker
        asyncio.run(worker(database, int(index), int(count), int(sessions), int(people), int(ideas), int(at_once)))
        return
    bins = bindir()
    if bins is None:
        sys.exit("PostgreSQL is not installed (apt-get install postgresql)")
    server = PgServer(bins, durable=not args.no_fsync)
    server.start()
    rounds: list[list[tuple[float, float]]] = []  # per round, per configuration: (ideas/s, p99 s)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                rounds.append([run(str(Path(tmp) / f"bench-{r}.sqlite3") if name == "SQLite" else server.database(),
                                   n, args) for name, n in CONFIGURATIONS])
    finally:
        server.stop()
    print(f"{args.sessions} sessions x {args.people} people x {args.ideas} private ideas, {args.at_once} at once "
          f"per process; {args.rounds} rounds (median, and the range over rounds)")
    print(f"{'store':12} {'processes':>9} {'ideas/s':>9} {'vs SQLite':>22} {'p99 ms':>8} {'vs SQLite':>22}")
    for c, (name, n) in enumerate(CONFIGURATIONS):
        rates = [one[c][0] for one in rounds]
        p99s = [one[c][1] for one in rounds]
        print(f"{name:12} {n:9d} {statistics.median(rates):9.0f} "
              f"{_spread([one[c][0] / one[0][0] for one in rounds]):>22} {statistics.median(p99s) * 1000:8.1f} "
              f"{_spread([one[c][1] / one[0][1] for one in rounds]):>22}")
    print(f"PostgreSQL, 2 processes against 1: {_spread([one[2][0] / one[1][0] for one in rounds])} ideas/s; "
          f"4 against 1: {_spread([one[3][0] / one[1][0] for one in rounds])}")


if __name__ == "__main__":
    main()
