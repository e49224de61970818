"""The `facilitator` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import tempfile
import time
from collections.abc import Coroutine
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapters.console import BOT_REF_PREFIX, USER_REF_PREFIX, ConsoleAdapter
from bot.configuration import ConfigError, list_structures, load_messages, load_structure
from bot.retention import purge
from bot.settings import DiscordShards, Settings, parse_shards, setting_problems
from bot.simulate import ScenarioError, load_scenario, run_scenario
from bot.slack_manifest import ManifestError
from bot.storage import is_postgres

DEMO_SCENARIO = Path(__file__).resolve().parent.parent / "config" / "scenarios" / "demo.toml"


RUN_ENV = """environment:
  Slack:   SLACK_BOT_TOKEN (xoxb-...), and SLACK_APP_TOKEN (xapp-..., Socket Mode) or SLACK_SIGNING_SECRET (--http)
  Discord: DISCORD_TOKEN; FACILITATOR_DISCORD_SHARDS=ID/COUNT for one of several processes (docs/deploy.md)
  both:    FACILITATOR_DATABASE (default facilitator.sqlite3, here), FACILITATOR_LANGUAGE (default en)
`facilitator doctor` checks them. Step by step: docs/slack.md, docs/discord.md."""


def _application_id(value: str) -> str:
    """A Discord application id is a snowflake: 17 to 20 digits."""
    if not (value.isdigit() and 17 <= len(value) <= 20):
        raise argparse.ArgumentTypeError(f"{value!r} is not an application id: copy the Application ID (17 to 20 "
                                         "digits) from the Developer Portal's General Information page")
    return value


def _shards(value: str) -> DiscordShards:
    try:
        return parse_shards(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _version() -> str:
    try:
        return metadata.version("opera-facilitator")
    except metadata.PackageNotFoundError:  # run from a checkout without installing
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="facilitator", description="A facilitator bot for online breakout sessions: "
                                "OPERA and other structures, on Slack, Discord or in the terminal.",
                                epilog="Start with `facilitator demo`; `facilitator COMMAND -h` explains each.")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")

    def command(name: str, summary: str, description: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, description=description, **kw)

    demo = command("demo", "watch a whole OPERA session with simulated participants (under a minute)",
                   "Play a whole OPERA session with seven simulated participants and short phases, ending with the "
                   "note the convenor receives.")
    demo.add_argument("--fast", action="store_true", help="no pauses: run on a simulated clock")
    sim = command("simulate", "replay a scripted session instantly and write the note and transcript",
                  "Replay a scenario file (format: docs/scenarios.md) on a simulated clock, through the real "
                  "runtime, and write the note and a transcript.")
    sim.add_argument("scenario", type=Path, help="a scenario file, e.g. tests/scenarios/council.toml")
    sim.add_argument("--out", type=Path, required=True,
                     help="folder for the note (round-up-QUESTION.md and .json) and transcript.txt")
    con = command("console", "play facilitator and participants yourself in the terminal",
                  "Run a session in the terminal: you type for everyone, one line at a time (Name: text, "
                  "Name /command). Ctrl-D or Ctrl-C stops; the session carries on at the next start.")
    con.add_argument("--db", type=Path, default=None, help="SQLite file (default: the FACILITATOR_DATABASE setting)")
    run = command("run", "run the bot on Slack or Discord",
                  "Serve sessions on a chat platform until Ctrl-C or SIGTERM (both stop it cleanly).",
                  epilog=RUN_ENV, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("platform", choices=["slack", "discord"], help="the chat platform")
    run.add_argument("--http", action="store_true", help="Slack: HTTP mode (default: Socket Mode)")
    run.add_argument("--port", type=int, default=3000, help="Slack HTTP port (default: %(default)s)")
    run.add_argument("--shards", type=_shards, metavar="ID/COUNT",
                     help="Discord: the gateway shards this process runs, e.g. 1/4 or 0,1/4 (default: the "
                          "FACILITATOR_DISCORD_SHARDS setting, else unsharded; docs/deploy.md)")
    command("structures", "list the facilitation structures available",
            "List the structures in config/structures/ with their descriptions; a broken file is named with the "
            "key at fault.")
    doc = command("doctor", "check what a first run needs: tokens, scopes, permissions, database, model",
                  "Check, one line each with the fix: the wording and structures, the database, the themes model, "
                  "and for each platform whose token is set, the tokens, Slack's scopes against the manifest, and "
                  "Discord's message-content intent and the bot's permissions in a channel.",
                  epilog=RUN_ENV, formatter_class=argparse.RawDescriptionHelpFormatter)
    doc.add_argument("--discord-channel", metavar="ID", help="a Discord channel id to check the bot's permissions in")
    man = command("slack-manifest", "print the Slack app manifest, ready to paste",
                  "Print config/slack-manifest.yml made ready for Socket Mode or for your public address, to paste "
                  "at api.slack.com/apps > Create New App > From a manifest.")
    mode = man.add_mutually_exclusive_group(required=True)
    mode.add_argument("--socket", action="store_true", help="Socket Mode: no public address needed (local use)")
    mode.add_argument("--url", metavar="https://HOST", help="HTTP mode: the bot's public address")
    retention = command("purge", "remove what people wrote in sessions approved long enough ago (counts stay)",
                        "Remove the texts of sessions whose note was approved more than the retention period ago, "
                        "and the forms that held them; the counts stay for the record.")
    retention.add_argument("--days", type=int, default=None,
                           help="days after approval to keep (default: the FACILITATOR_RETENTION_DAYS setting)")
    inv = command("discord-invite", "print the Discord invite URL with the permissions the bot needs",
                  "Print the link that adds the bot to a Discord server with exactly the permissions it uses.")
    inv.add_argument("application_id", type=_application_id,
                     help="the Application ID from the Developer Portal's General Information page")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.cmd is None:  # `facilitator` alone: what it can do, not an error
        parser.print_help()
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("facilitator").setLevel(logging.INFO)  # say at start how themes are grouped
    try:
        settings = Settings()
    except ValidationError as exc:  # a setting with a bad value: say which and why, not a traceback
        print(f"facilitator: {setting_problems(exc)}", file=sys.stderr)
        return 2
    try:
        if args.cmd in ("demo", "simulate", "console", "run"):
            load_messages(settings)  # a wrong language or a broken file stops here, before anything starts
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
        if args.cmd == "purge":
            done = asyncio.run(purge(settings, days=args.days))
            print(f"Purged {done.sessions} sessions ({done.events} events) and {done.forms} saved forms; "
                  "their counts are kept.")
            return 0
        if args.cmd == "demo":
            return _until_stopped(_demo(settings, fast=args.fast))  # Ctrl-C ends the demo quietly
        if args.cmd == "simulate":
            return asyncio.run(_simulate(settings, args.scenario, args.out))
        if args.cmd == "console":
            return _until_stopped(_console(settings, args.db or settings.database))
        if args.cmd == "run":
            return _run_platform(settings, args)
        if args.cmd == "doctor":
            return asyncio.run(_doctor(settings, args.discord_channel))
        if args.cmd == "slack-manifest":
            from bot.slack_manifest import manifest_path, ready_manifest

            text = manifest_path(settings.config_dir).read_text(encoding="utf-8")
            print(ready_manifest(text, socket=args.socket, url=args.url, command=settings.slack_command), end="")
            return 0
        if args.cmd == "discord-invite":
            from adapters.discord import invite_url

            print(invite_url(args.application_id))
            return 0
    except (ConfigError, ScenarioError, ManifestError) as exc:
        print(f"facilitator: {exc}", file=sys.stderr)
        return 2
    return 1


async def _doctor(settings: Settings, discord_channel: str | None) -> int:
    from bot.doctor import line, run_checks

    found = await run_checks(settings, discord_channel)
    for check in found:
        print(line(check))
    failed = sum(c.status == "fail" for c in found)
    print(f"\n{failed} to fix." if failed else "\nAll set.")
    return 1 if failed else 0


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
    written = ", ".join(str(p) for p in adapter.note_files)
    print(f"Simulated {len(session.live_ideas())} ideas from {len(session.participants)} people; "
          f"wrote {written} and {out / 'transcript.txt'}")
    return 0


async def _console(settings: Settings, db: Path) -> int:
    from bot.assembly import assembled

    adapter = ConsoleAdapter(note_dir=db.parent / "notes", typed=sys.stdin)  # notes beside the database
    print(sys.modules["adapters.console"].__doc__)
    print("Start with:  YourName /start What should we change first?      (Ctrl-D to quit)\n")
    async with assembled(adapter, settings, database=db) as runtime:
        adapter.number_after(await runtime.store.highest_message_number(USER_REF_PREFIX),
                             await runtime.store.highest_message_number(BOT_REF_PREFIX))
        await adapter.wait_closed()
    return 0


def _until_stopped(main: Coroutine[Any, Any, int | None]) -> int:
    """Run a serving coroutine until it ends or Ctrl-C / SIGTERM stops it. A signal cancels it, so every
    `finally` on the way out runs: what was committed stays on disk and the stores are closed; exit code 0."""

    async def serve() -> int:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        stopping = False

        def stop() -> None:
            nonlocal stopping
            if not stopping:  # a second Ctrl-C must not cut the clean-up short
                stopping = True
                print("facilitator: stopping", file=sys.stderr)
                task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: Ctrl-C stays KeyboardInterrupt
                loop.add_signal_handler(sig, stop)
        try:
            return await main or 0
        except asyncio.CancelledError:
            if not stopping:
                raise
            print("facilitator: stopped", file=sys.stderr)
            return 0

    return asyncio.run(serve())


def _run_platform(settings: Settings, args: argparse.Namespace) -> int:
    if args.shards is not None:
        if args.platform != "discord":
            print("facilitator: --shards is for Discord's gateway; Slack needs none (docs/deploy.md)", file=sys.stderr)
            return 2
        settings = settings.model_copy(update={"discord_shards": args.shards})
    # What is past its retention period goes before anything else runs (a first run has nothing to purge, and
    # leaves no file behind if its tokens are then refused).
    done = asyncio.run(purge(settings)) if is_postgres(settings.database) or settings.database.exists() else None
    if done is not None and (done.sessions or done.forms):
        logging.getLogger("facilitator").info("retention: purged %d sessions and %d saved forms", done.sessions,
                                              done.forms)
    from bot.assembly import serve

    return _until_stopped(serve(settings, args.platform, http=args.http, port=args.port))


if __name__ == "__main__":
    sys.exit(main())
