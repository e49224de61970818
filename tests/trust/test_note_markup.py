"""Finding 11: raw markup and bidi overrides in the note. Participant text in note.md is escaped so no note viewer
runs it (`<img onerror>`, `<script>`, `[x](javascript:...)`), every bidi control a point opens is closed at the end
of that point, and each platform's rendering of the note keeps both."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from facilitation.events import ReplyPosted
from tests.engine.conftest import new_session
from tests.trust.platforms import PLATFORMS, platform, start_with_ideas

HOSTILE = [
    "<img src=x onerror=alert(1)> listen first",
    "<script>alert(document.cookie)</script> pay people",
    "[click for the survey](javascript:alert(1)) and ![x](javascript:alert(2))",
    "<javascript:alert(3)> autolink",
    "\u202eevil reversed text",
    "\u2067isolated \u202boverride nested",
]
# Markup a Markdown viewer would act on: a tag or autolink, or a link/image target, not escaped by a backslash.
LIVE = re.compile(r"(?<!\\)<\s*(?:img|script|javascript)|(?<!\\)\]\u200b?\(\s*javascript", re.I)


def points_closed(text: str) -> bool:
    """Every line closes the embeddings/overrides (by PDF) and isolates (by PDI) it opens."""
    def closed(line: str) -> bool:
        embeds = sum(line.count(c) for c in "\u202a\u202b\u202d\u202e")
        isolates = sum(line.count(c) for c in "\u2066\u2067\u2068")
        return line.count("\u202c") >= embeds and line.count("\u2069") >= isolates

    return all(closed(line) for line in text.splitlines())


def test_note_md_escapes_markup_and_closes_bidi() -> None:
    d = new_session(0, attribution=True)
    for n, text in enumerate(HOSTILE, start=1):
        d.send(ReplyPosted(at=d.clock, person=f"U{n}", name=f"<b onmouseover=x>Eve{n}</b>\u202e", text=text,
                           message_ref=f"m{n}", private=True))
    d.fac("end")
    md = d.note_md()
    assert not LIVE.search(md) and "<b onmouseover" not in md.replace("\\<b", "")
    assert points_closed(md)
    note = d.note()  # note.json: the same points, each closing what it opens
    texts = [i.text for i in note.ideas] + [i.author or "" for i in note.ideas] + note.key_points
    assert texts and all(points_closed(t) for t in texts)
    for text in HOSTILE:  # every idea is still there, as typed (escapes aside)
        shown = re.sub(r"\\([\\<>\[\]])", r"\1", md)
        assert text.replace("\u202e", "").split()[0].strip("\u2067") in shown


def test_one_line_previews_close_what_they_cut() -> None:
    from facilitation.text import one_line

    cut = one_line("\u202e" + "x" * 500, 50)
    assert cut.endswith("\u202c") and points_closed(cut)


@pytest.mark.parametrize("name", PLATFORMS)
async def test_the_note_on_every_platform_shows_markup_as_text(name: str, tmp_path: Path) -> None:
    async with platform(name, tmp_path) as h:
        own = await start_with_ideas(h, [])
        for person, text in zip(h.people, HOSTILE, strict=False):
            await h.click(person, own.ref, "Add an idea", {"idea": text})
        await h.command(h.facilitator, "end")
        note = h.notes()[-1].text
        assert "onerror" in note and "javascript" in note  # the ideas are in it ...
        assert points_closed(note)  # ... with no override left open
        if name == "slack":  # Slack shows what the person typed; its own escaping keeps it text
            raw = " ".join(str(b) for m in h.fake.bot_messages() for b in m.blocks if "onerror" in str(b))
            assert "<img" not in raw and "<script" not in raw and "\\<" not in note
        else:
            assert not LIVE.search(note)
