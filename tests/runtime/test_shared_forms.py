"""Which form a button opens, where every process can find it. A form is saved by the process that posted the
button's message; the press may reach another process (Slack HTTP behind a load balancer, Discord's shards, an
outbox entry taken over). On PostgreSQL the forms are in the database; on SQLite (one process) in a file beside
it, which a restart finds again.

- Contract, on both stores: a form saved through one FormBook is found by another one opened afresh (another
  connection, as another process or a restart would), per platform, and retention removes it by when it was saved.
- End to end: two real `facilitator run slack --http` processes on one PostgreSQL, each in a working folder of
  its own (two machines); a pair's pick list too long for Slack's button value, posted by one, opens its full
  form when the press reaches the other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.formbook import FormBook
from bot.pgforms import form_storage
from facilitation.effects import Choice, Form, FormField


def _pick(*ideas: str) -> Form:
    return Form(title="Pick", submit_label="Pick", fields=[FormField(
        id="ideas", label="Ideas", kind="select", choices=[Choice(value=f"i{n}", label=idea)
                                                           for n, idea in enumerate(ideas, start=1)])])


async def _book(database: Path | str, platform: str) -> FormBook:
    book = FormBook(form_storage(database, platform))
    await book.open()
    return book


async def test_a_form_saved_by_one_book_is_found_by_another_on_either_store(database: Path | str) -> None:
    saver = await _book(database, "discord")
    finder = await _book(database, "discord")  # its own connection, as another process (or a restart) has
    slack = await _book(database, "slack")
    try:
        await saver.put("m1", "op|s1|pick|", _pick("Open the hall late", "Ask first"))
        await saver.put("m1", "op|s1|vote|", _pick("Ballot"))
        assert await finder.get("m1", "op|s1|pick|") == _pick("Open the hall late", "Ask first")
        assert await finder.get("m1", "op|s1|vote|") == _pick("Ballot")
        assert await finder.get("m2", "op|s1|pick|") is None
        assert await slack.get("m1", "op|s1|pick|") is None, "each platform's forms are its own"
    finally:
        for book in (saver, finder, slack):
            await book.close()


async def test_retention_removes_forms_by_when_they_were_saved_on_either_store(database: Path | str) -> None:
    book = await _book(database, "discord")
    try:
        await book.put("m1", "pick", _pick("A private idea"))
    finally:
        await book.close()
    storage = form_storage(database, "discord")
    await storage.open()
    try:
        assert await storage.purge(datetime.now(UTC) - timedelta(days=30)) == 0, "saved just now: kept"
        assert await storage.purge(datetime.now(UTC) + timedelta(seconds=1)) == 1
    finally:
        await storage.close()
    again = await _book(database, "discord")
    try:
        assert await again.get("m1", "pick") is None
    finally:
        await again.close()
