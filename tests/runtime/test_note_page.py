"""The note as a web page: one self-contained file, participants' text escaped, no scripts, the ranking chart
inline; it renders in a real browser (headless Chromium, when installed: .ci/run installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.note_page import note_bars, render_html
from facilitation.config import CHART_BARS
from facilitation.effects import Effect, Post, PostChart
from facilitation.note import RoundUpNote
from tests.engine.conftest import CFG, new_session
from tests.engine.test_note_shape import ended_with_proposals

HOSTILE = [
    "<script>alert('idea')</script> Pay people for their time",
    "<img src=x onerror=alert(1)> Meet in libraries",
    "Plain English </style><style>body{display:none}</style> in letters",
    "Hold meetings in the evening --> <!-- for carers",
]
BAR = (0x3B, 0x6E, 0xA8)  # the chart's bar colour (bot/note_page.py)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def ranked_note() -> tuple[RoundUpNote, str, list[Effect]]:
    d = ended_with_proposals(new_session, HOSTILE)
    [draft] = d.delivered()
    return RoundUpNote.model_validate_json(draft.json_text), draft.markdown, d.log


@pytest.fixture(scope="module")
def page() -> str:
    note, markdown, _ = ranked_note()
    return render_html(note, markdown, CFG)


def test_the_page_escapes_participants_text_and_has_no_scripts(page: str) -> None:
    low = page.lower()
    assert "<script" not in low and "<img" not in low and "javascript:" not in low
    assert "<style>body{display:none}" not in low and "</style><style>" not in low
    assert "&lt;script&gt;alert(&#x27;idea&#x27;)&lt;/script&gt;" in page, "shown as text, not run"
    assert "&lt;img src=x onerror=alert(1)&gt; Meet in libraries" in page
    assert low.count("<style>") == 1 and "http://" not in low.replace("http://www.w3.org/", "")
    assert "<svg" in page and "<!--" not in page, "the chart is inline and carries no comments"


def test_rank_results_come_with_the_chart_in_the_same_place() -> None:
    _, _, log = ranked_note()
    [chart] = [e for e in log if isinstance(e, PostChart)]
    results = next(e for e in log if isinstance(e, Post) and e.text.startswith("**Results**"))
    assert chart.audience == results.audience
    values = [b.value for b in chart.bars]
    assert values == sorted(values, reverse=True) and len(values) == 2
    assert all(b.label in chart.alt for b in chart.bars)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (installed by .ci/run)")
def test_the_page_renders_in_chromium_with_the_chart(page: str, tmp_path: Path) -> None:
    path = tmp_path / "note.html"
    path.write_text(page, encoding="utf-8")
    home = {**os.environ, "HOME": str(tmp_path)}  # Chromium's profile and caches stay in the test's folder
    dom = subprocess.run(["chromium", *CHROMIUM_FLAGS, "--dump-dom", path.as_uri()], capture_output=True, text=True,
                         timeout=120, env=home, check=True).stdout
    assert "<svg" in dom and "Final reflections" in dom and "&lt;script&gt;" in dom
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", *CHROMIUM_FLAGS, "--hide-scrollbars", "--window-size=1000,2600",
                    f"--screenshot={shot}", path.as_uri()], capture_output=True, timeout=120, env=home, check=True)
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    bar = int((np.abs(pixels - np.array(BAR)) <= 6).all(axis=2).sum())
    assert bar > 2000, "the chart's bars are drawn on the rendered page"


def test_a_ranking_of_hundreds_of_proposals_charts_the_leading_ones_and_says_so() -> None:
    note, markdown, _ = ranked_note()
    first = note.proposals[0]
    many = [first.model_copy(update={"id": f"P{n}", "number": n, "rank": n, "score": 500 - n,
                                     "text": f"Proposal text {n}"}) for n in range(1, 301)]
    big = note.model_copy(update={"proposals": many})
    bars = note_bars(big, CFG)
    assert [label for label, _ in bars] == [f"{n}. Proposal text {n}" for n in range(1, CHART_BARS + 1)]
    page = render_html(big, markdown, CFG)
    assert f"top {CHART_BARS} of 300" in page, "the chart says it shows only the leading proposals"
