"""Behaviour of facilitation.grouping that a facilitator would notice in the Arrange phase."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from facilitation import grouping
from facilitation.grouping import GroupItem, ThemeDraft, group_ideas

SAMPLE = Path(__file__).parent / "data" / "arrange-sample.json"

GARDEN = [
    ("w1", "Collect rainwater from the roof for watering the vegetable beds."),
    ("w2", "A rainwater butt next to the vegetable beds would save watering trips."),
    ("w3", "Watering the vegetable beds by hose wastes water; use rainwater instead."),
    ("m1", "Apply for a council grant to pay for garden tools and a shed."),
    ("m2", "The council grant could also pay for seeds and tools."),
    ("m3", "Ask local shops to match the council grant for tools."),
    ("x1", "Our choir needs a new conductor before Christmas."),
]


def items(pairs: list[tuple[str, str]], leads: frozenset[str] = frozenset()) -> list[GroupItem]:
    return [GroupItem(id=i, text=t, lead=i in leads) for i, t in pairs]


def partition(themes: list[ThemeDraft]) -> set[frozenset[str]]:
    return {frozenset(t.item_ids) for t in themes}


def theme_of(themes: list[ThemeDraft], item_id: str) -> ThemeDraft:
    return next(t for t in themes if item_id in t.item_ids)


def assert_well_formed(themes: list[ThemeDraft], given: list[GroupItem]) -> None:
    ids = [i for t in themes for i in t.item_ids]
    assert sorted(ids) == sorted(it.id for it in given), "every id exactly once"
    labels = [t.label.casefold() for t in themes]
    assert len(set(labels)) == len(labels), "labels unique"
    for t in themes:
        assert t.item_ids, "no empty theme"
        assert 2 <= len(t.label.split()) <= 5, t.label


def test_similar_ideas_together_unrelated_apart() -> None:
    themes = group_ideas(items(GARDEN))
    assert_well_formed(themes, items(GARDEN))
    assert {"w1", "w2", "w3"} <= set(theme_of(themes, "w1").item_ids)
    assert {"m1", "m2", "m3"} <= set(theme_of(themes, "m1").item_ids)
    assert theme_of(themes, "w1") is not theme_of(themes, "m1")
    # the idea that fits nowhere is a theme of its own, not forced into one
    assert theme_of(themes, "x1").item_ids == ["x1"]


def test_labels_are_phrases_from_the_ideas() -> None:
    themes = group_ideas(items(GARDEN))
    for t in themes:
        member_words = {
            w for i in t.item_ids for w in re.findall(r"\w+", dict(GARDEN)[i].casefold())
        }
        assert set(re.findall(r"\w+", t.label.casefold())) <= member_words, t.label
    assert "rainwater" in theme_of(themes, "w1").label.casefold() or "vegetable" in theme_of(
        themes, "w1"
    ).label.casefold()
    assert "grant" in theme_of(themes, "m1").label.casefold()


def test_leads_first_within_and_across_themes() -> None:
    given = items(GARDEN, leads=frozenset({"x1", "m3"}))
    themes = group_ideas(given)
    assert themes[0].item_ids[0] == "m3"  # first lead as given (m3 precedes x1 in the input)
    assert themes[1].item_ids == ["x1"]
    # remaining themes by size, descending
    sizes = [len(t.item_ids) for t in themes[2:]]
    assert sizes == sorted(sizes, reverse=True)


def test_shuffled_input_gives_same_partition_and_labels() -> None:
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    texts = [text for theme in data["cases"][0]["themes"] for text in theme["items"]]
    given = [GroupItem(id=f"p{i}", text=t) for i, t in enumerate(texts)]
    reference = group_ideas(given)
    assert_well_formed(reference, given)
    for seed in range(3):
        shuffled = given[:]
        random.Random(seed).shuffle(shuffled)
        again = group_ideas(shuffled)
        assert partition(again) == partition(reference)
        assert {t.label for t in again} == {t.label for t in reference}


def test_no_items() -> None:
    assert group_ideas([]) == []


def test_one_item() -> None:
    themes = group_ideas([GroupItem(id="a", text="Shared governance is needed")])
    assert [t.item_ids for t in themes] == [["a"]]
    assert themes[0].label.casefold() == "shared governance"


def test_identical_duplicates_share_a_theme() -> None:
    given = items([("a", "More green space"), ("b", "more  green space"), ("c", "Cheaper bus fares")])
    themes = group_ideas(given)
    assert_well_formed(themes, given)
    assert set(theme_of(themes, "a").item_ids) == {"a", "b"}


@pytest.mark.parametrize(
    "text",
    [
        "🎉🎉🎉",
        "🙂 👍",
        "של מי הרעיון הזה? צריך יותר שיתוף פעולה בין השכונות",
        "نحتاج إلى مساحات مشتركة للتعلم",
        "it is what it is and we will be there",
        "",
    ],
)
def test_awkward_text_still_gets_a_valid_theme(text: str) -> None:
    given = items([("odd", text), *GARDEN[:3]])
    themes = group_ideas(given)
    assert_well_formed(themes, given)


def test_stopword_only_idea_is_labelled_by_its_first_words() -> None:
    themes = group_ideas(items([("s", "it is what it is and we will be there")]))
    assert themes[0].label.casefold() == "it is"


def test_a_short_idea_without_a_two_word_phrase_is_labelled_whole() -> None:
    themes = group_ideas(items([("p", "Publish what changed"), *GARDEN[:3]]))
    assert theme_of(themes, "p").label == "Publish what changed"  # not "Publish what"


def test_very_long_idea() -> None:
    long_text = ("Participatory budgeting gives residents a real say. " * 400)[:20_000]
    given = items([("long", long_text), ("short", "Participatory budgeting works in Leeds"), ("u", "🎉")])
    themes = group_ideas(given)
    assert_well_formed(themes, given)
    assert set(theme_of(themes, "long").item_ids) == {"long", "short"}
    assert all(len(t.label) < 200 for t in themes)


def test_one_giant_word_label_is_cut() -> None:
    given = items([("g", "x" * 20_000)])
    themes = group_ideas(given)
    assert_well_formed(themes, given)
    assert len(themes[0].label) < 100


def test_embeddings_mode_uses_the_vectors() -> None:
    # toy embedding: the vectors, not the words, decide the grouping
    vectors = {"apples": [1.0, 0.0, 0.0], "pears": [0.9, 0.1, 0.0], "trains": [0.0, 0.0, 1.0],
               "buses": [0.0, 0.1, 0.9], "poems": [0.0, 1.0, 0.0]}

    def embed(texts: list[str]) -> list[list[float]]:
        return [vectors[t.split()[-1]] for t in texts]

    given = items([(w, f"we like {w}") for w in vectors])
    themes = group_ideas(given, embed=embed)
    assert_well_formed(themes, given)
    assert set(theme_of(themes, "apples").item_ids) == {"apples", "pears"}
    assert set(theme_of(themes, "trains").item_ids) == {"trains", "buses"}
    assert theme_of(themes, "poems").item_ids == ["poems"]


def test_embeddings_mode_also_weighs_shared_words() -> None:
    # the toy vectors see no structure at all (all orthogonal); the shared words still group (the blend)
    given = items([("a", "raised beds for wheelchair users"), ("b", "raised beds at table height"),
                   ("c", "council grant for tools"), ("d", "council grant covers seeds"),
                   ("e", "choir conductor wanted"), ("f", "bus timetable changes")])

    def embed(texts: list[str]) -> list[list[float]]:
        return [[1.0 if j == i else 0.0 for j in range(len(texts))] for i in range(len(texts))]

    themes = group_ideas(given, embed=embed)
    assert_well_formed(themes, given)
    assert set(theme_of(themes, "a").item_ids) == {"a", "b"}
    assert set(theme_of(themes, "c").item_ids) == {"c", "d"}


@pytest.mark.parametrize("failure", ["raises", "too few vectors", "not a number"])
def test_an_embedder_that_fails_still_leaves_themes_by_word_overlap(failure: str) -> None:
    def embed(texts: list[str]) -> list[list[float]]:
        if failure == "raises":
            raise RuntimeError("the model could not run")
        if failure == "too few vectors":
            return [[1.0, 0.0]]
        return [[float("nan"), 1.0] for _ in texts]

    given = items(GARDEN)
    assert group_ideas(given, embed=embed) == group_ideas(given)


def test_hyphenated_words_stay_whole_in_labels() -> None:
    given = items([("a", "Open-ended questions help people speak."), ("b", "Ask open-ended questions first.")])
    themes = group_ideas(given)
    assert "open-ended questions" in themes[0].label.casefold()


def test_thirty_near_identical_bullets_are_one_theme() -> None:
    variants = ["Pay people for their time and expertise", "pay people for their time and expertise!!",
                "Pay people for their time, and expertise", "Pay people for time and expertise"]
    given = items([(f"n{n}", f"{variants[n % 4]} {n}") for n in range(30)]
                  + [("x", "Meet in the evenings so carers can come")])
    themes = group_ideas(given)
    assert_well_formed(themes, given)
    assert len(theme_of(themes, "n0").item_ids) == 30 and theme_of(themes, "x").item_ids == ["x"]


@pytest.mark.parametrize("text", [
    "<!subteam^S0TEAM> carers need a voice <@U1400000000000000001>",
    "1400000000000000001 and 456",
    "<@U123>",
    "See https://example.org/x?id=99 for the plan",
    "**Bold** _markup_ `code` ~struck~ here",
    "<img src=x onerror=alert(1)> <script>alert('x')</script>",
])
def test_labels_never_show_ids_mentions_links_or_markup(text: str) -> None:
    given = items([("odd", text), ("twin", text + " too"), *GARDEN[:3]])
    themes = group_ideas(given)
    assert_well_formed(themes, given)
    for t in themes:
        assert not re.search(r"\d{3,}|[<>*_`~]|S0TEAM|subteam|https?|example|onerror|script", t.label), t.label


def test_with_embeddings_the_label_is_the_phrase_nearest_the_theme_centroid() -> None:
    # "Pay people" is in more of the ideas' words, but the theme (its centroid) is about listening sessions.
    texts = ["Pay people who join listening sessions", "Pay people for travel to listening sessions",
             "Pay people to run residents' listening sessions"]
    lexical_label = grouping._labels([texts])[0]

    def embed(phrases: list[str]) -> list[list[float]]:
        return [[1.0, 0.0] if "listening" in p.lower() else [0.0, 1.0] for p in phrases]

    label = grouping._labels([texts], [np.array([1.0, 0.0])], embed)[0]
    assert "listening" not in lexical_label.casefold()
    assert "listening" in label.casefold()
