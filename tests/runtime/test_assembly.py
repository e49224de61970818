"""One place assembles the bot: the layers depend one way, and what arrives while sessions are being restored
is applied once they are, in the session it belongs to."""

from __future__ import annotations

import ast
import asyncio
import io
from pathlib import Path

from adapters.console import ConsoleAdapter
from bot.assembly import assembled
from bot.configuration import engine_config
from bot.runtime import Runtime
from bot.scheduler import VirtualTimers
from bot.settings import Settings
from bot.store import Store

ROOT = Path(__file__).resolve().parents[2]


def _imports(package: str) -> set[tuple[str, str]]:
    """(file, top-level package) for every import in the package's modules, lazy ones included."""
    found: set[tuple[str, str]] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(ROOT)), node.module.split(".")[0]))
            elif isinstance(node, ast.Import):
                found |= {(str(path.relative_to(ROOT)), a.name.split(".")[0]) for a in node.names}
    return found


def test_adapters_never_import_bot_and_the_engine_imports_neither() -> None:
    assert sorted(f for f, top in _imports("adapters") if top == "bot") == []
    assert sorted(f for f, top in _imports("facilitation") if top in ("bot", "adapters")) == []


async def test_a_message_sent_while_sessions_are_restored_is_applied_after_them(tmp_path: Path) -> None:
    db = tmp_path / "facilitator.sqlite3"
    first = ConsoleAdapter(out=io.StringIO())
    async with assembled(first, database=db):
        await first.user_line("Fay /start What should we change first?")
        await first.user_line("Ana: a community fridge")

    settings = Settings()
    store = await Store.open(db)
    second = ConsoleAdapter(out=io.StringIO())
    runtime = Runtime(second, store, VirtualTimers(), settings, engine_config(settings))
    second.bind(runtime.receive)
    try:
        early = asyncio.create_task(second.user_line("Fay /status"))  # the platform is listening already
        await asyncio.sleep(0.05)
        assert not early.done()  # not answered as if no session were running
        await runtime.start()
        await early
        said = second.out.getvalue()  # type: ignore[attr-defined]
        assert "Now: Own" in said and "Ideas: 1" in said  # the restored session's status, with Ana's idea
    finally:
        await runtime.stop()
        await store.close()
