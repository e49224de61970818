"""The `facilitator` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

from adapters.console import ConsoleAdapter
from bot.configuration import ConfigError, list_structures, load_structure
from bot.settings import Settings
from bot.simulate import ScenarioError, load_scenario, run_scenario

DEMO_SCENARIO = Path(__file__).resolve().parent.parent / "config" / "scenarios" / "demo.toml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facilitator", description="A facilitator bot for online breakout sessions.")
    sub = p.add_subparsers(dest="cmd", required=True)
    demo = sub.add_parser("demo", help="watch a whole OPERA session with simulated participants (under a minute)")
    demo.add_argument("--fast", action="store_true", help="no pauses: run on a simulated clock")
    sim = sub.add_parser("simulate", help="replay a scripted session instantly and write the note and transcript")
    sim.add_argument("scenario", type=Path)
    sim.add_argument("--out", type=Path, required=True, help="folder for note.md, note.json, transcript.txt")
    con = sub.add_parser("console", help="play facilitator and participants yourself in the terminal")
    con.add_argument("--db", type=Path, default=None, help="SQLite file (default: the FACILITATOR_DATABASE setting)")
    run = sub.add_parser("run", help="run the bot on a chat platform")
    run.add_argument("platform", choices=["slack", "discord"])
    run.add_argument("--http", action="store_true", help="Slack: HTTP mode (default: Socket Mode)")
    run.add_argument("--port", type=int, default=3000, help="Slack HTTP port")
    sub.add_parser("structures", help="list the facilitation structures available")
    inv = sub.add_parser("discord-invite", help="print the Discord invite URL with the permissions the bot needs")
    inv.add_argument("application_id")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("facilitator").setLevel(logging.INFO)  # say at start how themes are grouped
    settings = Settings()
    try:
        if args.cmd == "structures":
            broken = 0
            for name, description in list_structures(settings).items():
                try:
                    load_structure(settings, name)  # a broken file is reported here, not at a session's start
                except ConfigError as exc:
                    broken += 1
                    print(f"{name:12} BROKEN: {exc}")
                    continue
                print(f"{name:12} {description}")
            return 2 if broken else 0
        if args.cmd == "demo":
            return asyncio.run(_demo(settings, fast=args.fast))
        if args.cmd == "simulate":
            return asyncio.run(_simulate(settings, args.scenario, args.out))
        if args.cmd == "console":
            return asyncio.run(_console(settings, args.db or settings.database))
        if args.cmd == "run":
            return _run_platform(settings, args)
        if args.cmd == "discord-invite":
            from adapters.discord import invite_url

            print(invite_url(args.application_id))
            return 0
    except (ConfigError, ScenarioError) as exc:
        print(f"facilitator: {exc}", file=sys.stderr)
        return 2
    return 1


async def _demo(settings: Settings, fast: bool) -> int:
    scenario = load_scenario(DEMO_SCENARIO)
    print("A whole OPERA session, with simulated participants and shortened timers.\n")
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        adapter = ConsoleAdapter()
        await run_scenario(scenario, adapter, Path(tmp) / "demo.sqlite3", settings,
                           mode="simulated" if fast else "realtime", pause=0.0 if fast else 0.25)
    print(f"\nDemo finished in {time.monotonic() - started:.0f} s. The note above is what the convenor receives.")
    return 0


async def _simulate(settings: Settings, path: Path, out: Path) -> int:
    scenario = load_scenario(path)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "transcript.txt").open("w", encoding="utf-8") as transcript:
        adapter = ConsoleAdapter(out=transcript, note_dir=out)
        with tempfile.TemporaryDirectory() as tmp:
            session = await run_scenario(scenario, adapter, Path(tmp) / "simulate.sqlite3", settings)
    print(f"Simulated {len(session.live_ideas())} ideas from {len(session.participants)} people; "
          f"wrote {out / 'note.md'}, {out / 'note.json'}, {out / 'note.html'} and {out / 'transcript.txt'}")
    return 0


async def _console(settings: Settings, db: Path) -> int:
    from bot.runtime import running

    adapter = ConsoleAdapter()
    print(sys.modules["adapters.console"].__doc__)
    print("Start with:  YourName /start What should we change first?      (Ctrl-D to quit)\n")
    db.parent.mkdir(parents=True, exist_ok=True)
    async with running(adapter, db.parent, settings, db_name=db.name):
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return 0
            if line.strip():
                await adapter.user_line(line.rstrip("\n"))


def _run_platform(settings: Settings, args: argparse.Namespace) -> int:
    if args.platform == "slack":
        from adapters.slack import run_slack

        asyncio.run(run_slack(settings, http=args.http, port=args.port))
    else:
        from adapters.discord import run_discord

        asyncio.run(run_discord(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
