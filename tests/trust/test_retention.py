"""Finding 12: data kept forever. `retention_days` after a note is approved, `facilitator purge` removes what
people wrote (the event log's texts, withdrawn and edited-away ones included; forms that list private ideas) and
keeps the counts; the in-memory form cache stays bounded."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters import formbook
from adapters.formbook import FORM_TABLES, FormBook, purge_forms
from bot.cli import main
from bot.pgforms import form_storage
from bot.retention import purge
from bot.settings import Settings
from facilitation.effects import Choice, Form, FormField
from tests.trust.platforms import last_with, platform, start_with_ideas

SECRET = "Zanzibar-marmalade secret about the council"
LATER = datetime.now(UTC) + timedelta(days=31)


def files_holding(directory: Path, text: str) -> list[str]:
    return [p.name for p in directory.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


async def approved_session(tmp_path: Path) -> None:
    """A console session whose ideas include SECRET (once withdrawn, once edited away), ended and approved."""
    async with platform("console", tmp_path) as h:
        await start_with_ideas(h, h.people[:2])
        ref = await h.direct_message(h.people[2], f"{SECRET} (to withdraw)")
        await h.delete(h.people[2], ref)
        ref = await h.direct_message(h.people[3], f"{SECRET} (to edit away)")
        await h.edit(h.people[3], ref, "A milder idea")
        await h.command(h.facilitator, "end")
        await h.click(h.facilitator, h.notes()[-1].ref, "Approve")
        assert h.published()


async def test_purge_removes_what_people_wrote_and_keeps_counts(tmp_path: Path) -> None:
    await approved_session(tmp_path)
    assert files_holding(tmp_path, SECRET)  # the event log kept even the withdrawn text
    settings = Settings(database=tmp_path / "facilitator.sqlite3")
    assert (await purge(settings)).sessions == 0  # inside the 30 days: kept
    done = await purge(settings, now=LATER)
    assert done.sessions == 1 and done.events > 5
    assert files_holding(tmp_path, SECRET) == [] and files_holding(tmp_path, "Idea 1: listen") == []
    db = sqlite3.connect(tmp_path / "facilitator.sqlite3")
    counts = json.loads(db.execute("SELECT counts FROM purged").fetchone()[0])
    assert counts["events"] == done.events and counts["people"] >= 5 and counts["by_type"]["reply_posted"] == 2
    assert db.execute("SELECT status FROM sessions").fetchone()[0] == "purged"


def test_facilitator_purge_says_what_it_did(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FACILITATOR_DATABASE", str(tmp_path / "facilitator.sqlite3"))
    assert main(["purge", "--days", "0"]) == 0
    assert "Purged 0 sessions (0 events) and 0 saved forms" in capsys.readouterr().out


async def test_saved_forms_with_private_ideas_are_purged_on_discord(tmp_path: Path) -> None:
    async with platform("discord", tmp_path) as h:
        await start_with_ideas(h, h.people[:3])
        await h.click(h.people[3], last_with(h, "**Own**").ref, "Add an idea", {"idea": SECRET})
        await h.command(h.facilitator, "next")  # Pair: each pair's Pick form lists its members' private ideas
    forms = tmp_path / "discord-forms.sqlite3"
    assert files_holding(tmp_path, SECRET[:20]) and "discord-forms.sqlite3" in files_holding(tmp_path, SECRET[:20])
    assert await purge_forms(forms, FORM_TABLES["discord"], datetime.now(UTC) - timedelta(days=30)) == 0
    assert await purge_forms(forms, FORM_TABLES["discord"], LATER) > 0
    assert "discord-forms.sqlite3" not in files_holding(tmp_path, SECRET[:20])


async def test_the_form_cache_stays_bounded_and_forgets_nothing(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formbook, "CACHE_SIZE", 20)  # the rule, at a size quick to fill
    book = FormBook(tmp_path / "forms.sqlite3")
    await book.open()
    try:
        form = Form(title="Pick", submit_label="Pick", fields=[FormField(id="ideas", label="Ideas", kind="select",
                                                                         choices=[Choice(value="i1", label="x")])])
        for n in range(45):
            await book.put(f"m{n}", "pick", form)
        assert len(book._cache) == formbook.CACHE_SIZE
        assert await book.get("m0", "pick") == form  # read back from the file
    finally:
        await book.close()


async def test_saved_forms_are_purged_from_postgresql_too(pg_url: str) -> None:
    """With PostgreSQL the forms are in the database (any process may need them): purge removes them there."""
    form = Form(title="Pick", submit_label="Pick", fields=[FormField(id="ideas", label="Ideas", kind="select",
                                                                     choices=[Choice(value="i1", label=SECRET)])])
    book = FormBook(form_storage(pg_url, "discord"))
    await book.open()
    try:
        await book.put("m1", "pick", form)
    finally:
        await book.close()
    settings = Settings(database=pg_url)
    assert (await purge(settings)).forms == 0  # inside the 30 days: kept
    assert (await purge(settings, now=LATER)).forms == 1
    reader = FormBook(form_storage(pg_url, "discord"))
    await reader.open()
    try:
        assert await reader.get("m1", "pick") is None
    finally:
        await reader.close()


def test_facilitator_purge_counts_the_forms_it_removed_from_postgresql(
        pg_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    async def save() -> None:
        book = FormBook(form_storage(pg_url, "slack"))
        await book.open()
        await book.put("C1:1.0", "pick", Form(title="Pick", submit_label="Pick", fields=[]))
        await book.close()

    asyncio.run(save())
    monkeypatch.setenv("FACILITATOR_DATABASE", pg_url)
    assert main(["purge", "--days", "0"]) == 0
    assert "Purged 0 sessions (0 events) and 1 saved forms" in capsys.readouterr().out
