"""A whole session in Welsh, chosen per session (`start language=cy`) or as the bot's default
(FACILITATOR_LANGUAGE=cy): every sentence the bot says and the note's headings, in Welsh."""

from __future__ import annotations

import re
import string
import tomllib
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import CONFIG_DIR

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def _messages(language: str) -> dict[str, str]:
    return tomllib.loads((CONFIG_DIR / "messages" / f"{language}.toml").read_text(encoding="utf-8"))


def _english_phrases() -> set[str]:
    """Long stretches of the English wording that Welsh says differently: none may appear in a Welsh session."""
    english, welsh = _messages("en"), _messages("cy")
    phrases = set()
    for key, text in english.items():
        for literal, *_ in string.Formatter().parse(text):
            for piece in re.split(r"[\n*_>]|\(e\.g\..*", literal):
                piece = piece.strip(" .:;,")
                if len(piece) >= 25 and piece not in welsh[key]:
                    phrases.add(piece)
    return phrases


def _simulate(tmp_path: Path, scenario: str) -> tuple[str, str]:
    assert main(["simulate", str(SCENARIOS / scenario), "--out", str(tmp_path)]) == 0
    [note] = tmp_path.glob("*.md")
    return note.read_text(encoding="utf-8"), (tmp_path / "transcript.txt").read_text(encoding="utf-8")


def test_a_whole_session_started_with_language_cy_speaks_welsh(tmp_path: Path) -> None:
    note, transcript = _simulate(tmp_path, "council-cy.toml")
    welsh = _messages("cy")
    for key in ("note_h_summary", "note_h_themes", "note_h_ranking", "note_h_empty_chair", "note_h_participation",
                "note_h_next"):
        assert f". {welsh[key]}" in note, key
    assert note.startswith("# Crynodeb: ") and re.search(r"Dyddiad: \d+ (Ionawr|Chwefror|Mawrth|Ebrill|Mai|Mehefin|"
                                                         r"Gorffennaf|Awst|Medi|Hydref|Tachwedd|Rhagfyr) \d{4}", note)
    assert "Beth gallwch chi ei wneud nawr" in transcript, "help in the session's language"
    assert "[Ymuno]" in transcript and "[Pleidleisio]" in transcript, "buttons too"
    spoken = note + transcript
    english = sorted(p for p in _english_phrases() if p in spoken)
    assert english == [], "English left in a Welsh session"
    assert tmp_path.glob("crynodeb-*.json"), "the files are named after the Welsh title"


def test_facilitator_language_cy_makes_welsh_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACILITATOR_LANGUAGE", "cy")
    note, transcript = _simulate(tmp_path, "council.toml")  # an English scenario: no language option
    assert "## 1. Crynodeb o'r prif bwyntiau" in note and "Summary of key points" not in note
    assert "**Own**" in transcript and "ar eich pen eich hun" in transcript


def test_an_unknown_language_is_refused_with_the_ones_there_are(tmp_path: Path) -> None:
    import asyncio
    import io

    from adapters.console import ConsoleAdapter
    from bot.assembly import assembled

    async def start() -> str:
        adapter = ConsoleAdapter(out=io.StringIO())
        async with assembled(adapter, database=tmp_path / "facilitator.sqlite3"):
            reply = await adapter.user_line("Ffion /start language=fr Beth nesaf?")
        return reply.text if reply else ""

    said = asyncio.run(start())
    assert "language 'fr'" in said and "cy" in said and "en" in said
