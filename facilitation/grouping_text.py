"""Text handling for grouping: tokens, a light stemmer and stop-words (pure, no I/O).

Kept apart from grouping.py so the clustering reads as one idea and the word lists can grow alone.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Word characters of any script (Latin, Hebrew, Arabic, CJK ...); underscores and digits-only are noise.
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
# Phrases for labels never cross punctuation; a hyphen between letters ("open-ended") joins a word.
_CLAUSE = re.compile(r"[.,;:!?()\[\]{}\"“”‘’–—/\n]+|(?<![^\W\d_])-|-(?![^\W\d_])")
# A label word: a word, or letters joined by hyphens ("co-operation", "self-organising").
_LABEL_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?(?:-[^\W\d_]+)*")
# What a label must never show: platform mention and control syntax (<@U123>, <!subteam^S1|x>, <#C1|name>),
# HTML tags and other markup in angle brackets, links, and words with digits in them (ids such as S0TEAM or
# 1400000000000000001, ticket numbers).
_NOT_LABEL_TEXT = re.compile(r"<[^<>]*>|<?https?://\S+|\b\w*\d\w*\b")
# Common verbs, auxiliaries and adverbs: a label ending in one reads as a cut sentence ("Staff spend",
# "Volunteers signed"), so such candidates rank lower. General English, not tied to any session.
_WEAK_END_TEXT = """
    ask asked bring brought build call called came come comes consider considered create describe
    describes encourage feel find found help helps include keep kept know last leave left look lose
    lost manage meet move provide reach reached run see seen show sign signed spend spent start
    started take taken talk tell told try want wanted work worked worry
    across again ahead almost already back carefully especially forward later maybe often together
    """
_WEAK_END: frozenset[str] = frozenset(_WEAK_END_TEXT.split())

# Function words plus the connective filler of meeting talk ("we need", "it was felt"): they carry
# no theme. Written out rather than imported so the engine stays dependency-light.
_STOPWORD_TEXT = """
    a about above after again against all almost along already also although always am among an and
    another any anyone anything are around as at be became because become been before being below
    between both but by can cannot could did do does doing done down during each either else enough
    even ever every everyone for from further get gets getting give given go going got had has have
    having he her here hers herself him himself his how however i if in into is it its itself just
    least less let like made make makes making many may me might more most much must my myself near
    need needed needs neither never no nor not now of off often on once one only or other others our
    ours ourselves out over own per perhaps put quite rather really said same say says see seem seems
    several shall she should since so some something still such than that the their theirs them
    themselves then there these they thing things this those though through thus to too toward towards
    under until up upon us use used using very via was way ways we well were what whatever when where
    whether which while who whom whose why will with within without would yet you your yours yourself
    also felt suggested heard think thought example examples lot lots important able new
    """
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())

_SUFFIXES: tuple[str, ...] = (
    "isations", "izations", "isation", "ization", "ational", "ations", "ation", "nesses", "ments",
    "ment", "ness", "ings", "ing", "ies", "ied", "ed", "es", "ly", "s",
)


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """Strip one common English suffix so 'partnerships'/'partnership', 'organisations'/'organisation'
    meet; deliberately light (a wrong merge costs more than a missed one in small sessions)."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def words(text: str) -> list[str]:
    """Lower-cased word tokens of any script."""
    return _WORD.findall(text.lower())


def content_stems(text: str) -> list[str]:
    """Stems of the words that can carry a theme (no stop-words, no 1-2 letter Latin words, no numbers)."""
    out: list[str] = []
    for word in words(text):
        if word in STOPWORDS or word.isdigit() or (len(word) < 3 and word.isascii()):
            continue
        out.append(stem(word))
    return out


def phrase_runs(text: str) -> list[list[tuple[str, str]]]:
    """Runs of adjacent label words, as (stem, surface word) pairs, split at punctuation and at
    stop-words; label candidates are taken from inside a run so they read as real phrases. A
    hyphenated word is one word with the stem of its last part ("open-ended" -> "ended")."""
    runs: list[list[tuple[str, str]]] = []
    for clause in _CLAUSE.split(label_text(text)):
        current: list[tuple[str, str]] = []
        for surface in _LABEL_WORD.findall(clause):
            low = surface.lower()
            last = low.rsplit("-", 1)[-1]
            if low in STOPWORDS or low.isdigit() or (len(last) < 3 and last.isascii() and "-" not in low):
                if current:
                    runs.append(current)
                current = []
                continue
            current.append((stem(last), surface))
        if current:
            runs.append(current)
    return runs


def label_text(text: str) -> str:
    """The text with what a label must never show cut out (each cut breaks a phrase, like punctuation)."""
    return _NOT_LABEL_TEXT.sub(" / ", text)


def weak_ending(word: str) -> bool:
    """A word that makes a poor last word of a label: a common verb or adverb, or an -ly adverb."""
    low = word.lower()
    return low in _WEAK_END or (low.endswith("ly") and len(low) > 4)
