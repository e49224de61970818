"""Themes for the Arrange phase and the round-up note: group similar ideas and label each group.

Method (see docs/arrange.md for how it was chosen and measured):
1. Items with the same normalised text, or near-identical content words (cosine >= NEAR_DUPLICATE), are
   grouped up front (duplicates and near-duplicates always share a theme).
2. Each distinct idea becomes a vector: TF-IDF over light stems of its content words (terms used by
   only one idea are dropped, they can never link two ideas), or the caller's sentence embeddings.
3. Average-link agglomerative clustering on cosine similarity, stopped by a threshold relative to the
   session's own similarity distribution (mean + Z * std of the pairwise similarities). The number of
   themes is therefore never given; an idea that resembles nothing stays a theme of its own.
   With embeddings, step 3 clusters on a blend of the standardised lexical and embedding similarities.
4. Labels: key phrases (runs of 2-3 adjacent content words) from all of the theme's ideas, scored by how many
   of its ideas they touch and, with embeddings, by how close the phrase is to the theme's centroid; unique,
   never markup, mention syntax or ids (words with digits).

Pure and deterministic: ideas are put in a canonical order (text, then id) before any computation,
so the input order does not change the partition.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import csr_matrix, issparse

from facilitation.grouping_text import STOPWORDS, content_stems, label_text, phrase_runs, weak_ending

Embed = Callable[[list[str]], Sequence[Any]]  # texts -> one vector each (array or list of floats)

# Stop merging when the average similarity between two groups falls below mean + Z * std of all
# pairwise similarities. With embeddings, the similarity is a blend of the standardised lexical and
# embedding similarities, HYBRID_LEXICAL_WEIGHT of it lexical. Chosen by leave-one-case-out over the
# public and held-out sets (docs/arrange.md); the same values won in every fold.
LEXICAL_Z = 0.5
HYBRID_Z = 0.5
HYBRID_LEXICAL_WEIGHT = 0.3
MAX_LABEL_WORDS = 5
# Ideas whose content-word sets have at least this cosine are near-duplicates ("Pay people for their time"
# and "pay people for their time!!" or "... time 2"): one idea for clustering, so they always share a theme.
NEAR_DUPLICATE = 0.85
LABEL_CANDIDATES = 8  # per theme, the best lexical candidates that the centroid similarity re-ranks
LABEL_CENTROID_WEIGHT = 1.0  # weight of the centroid cosine beside the share of ideas a phrase touches
_WORDS = re.compile(r"[^\W_]+")
_MAX_WORD_CHARS = 30  # a label word longer than this is cut, so one 20,000-char token stays readable


class GroupItem(BaseModel):
    id: str
    text: str
    lead: bool = False  # a proposal from the Explain phase: it leads its theme (first in its theme)


class ThemeDraft(BaseModel):
    label: str  # 2 to 5 words, key phrase from the ideas themselves, unique (case-insensitive)
    item_ids: list[str]  # every input id appears in exactly one theme; lead items first


def group_ideas(items: list[GroupItem], embed: Embed | None = None) -> list[ThemeDraft]:
    """Group ideas into labelled themes without knowing how many themes there are."""
    if not items:
        return []
    canonical = sorted(items, key=lambda it: (_normalise(it.text), it.id))
    # Duplicates (same normalised text) and near-duplicates are one "distinct idea" for clustering.
    exact: dict[str, list[GroupItem]] = {}
    for item in canonical:
        exact.setdefault(_normalise(item.text), []).append(item)
    firsts = [members[0].text for members in exact.values()]
    distinct: dict[int, list[GroupItem]] = {}
    for members, root in zip(exact.values(), _near_duplicates(firsts), strict=True):
        distinct.setdefault(root, []).extend(members)
    texts = [members[0].text for members in distinct.values()]
    vectors = _embedded(texts, embed) if embed is not None else None
    clusters = _cluster(texts, vectors)
    members_of = list(distinct.values())
    groups = [[it for i in cluster for it in members_of[i]] for cluster in clusters]
    ordered = _order_themes(groups, items)
    centroids = None
    if vectors is not None:
        row = {members[0].id: i for i, members in enumerate(members_of)}
        centroids = [_unit_rows(vectors[[row[it.id] for it in g if it.id in row]].mean(axis=0, keepdims=True))[0]
                     for g in ordered]
    labels = _labels([[it.text for it in group] for group in ordered], centroids, embed)
    return [
        ThemeDraft(label=label, item_ids=[it.id for it in _leads_first(group, items)])
        for label, group in zip(labels, ordered, strict=True)
    ]


# --- clustering -------------------------------------------------------------------------------------


def _normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _near_duplicates(texts: list[str]) -> list[int]:
    """For each text, the index of the first text it is a near-duplicate of (itself if none): cosine of the
    binary content-stem vectors >= NEAR_DUPLICATE, joined transitively. Computed a block of rows at a time,
    keeping only the pairs above the bar, so memory stays small in a big session."""
    n = len(texts)
    stems = [sorted(set(content_stems(t))) for t in texts]
    column: dict[str, int] = {}
    rows, cols = [], []
    for i, words in enumerate(stems):
        for w in words:
            rows.append(i)
            cols.append(column.setdefault(w, len(column)))
    norms = np.sqrt(np.array([max(len(w), 1) for w in stems], dtype=np.float64))
    matrix = csr_matrix((1.0 / norms[rows], (rows, cols)), shape=(n, max(len(column), 1)))
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    step = max(1, _BLOCK // max(n, 1))
    for start in range(0, n, step):
        block = (matrix[start : start + step] @ matrix.T).tocoo()
        near = (block.data >= NEAR_DUPLICATE - 1e-9) & (block.col > block.row + start)  # each pair once
        for i, j in zip(block.row[near].tolist(), block.col[near].tolist(), strict=True):
            a, b = root(i + start), root(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return [root(i) for i in range(n)]


def _cluster(texts: list[str], vectors: np.ndarray | None) -> list[list[int]]:
    """Indices of `texts` grouped into clusters (each cluster sorted, clusters in canonical order).

    Similarities are kept as one condensed vector (each pair once, which is exactly the off-diagonal of the
    similarity matrix), the form the clustering needs anyway: a 9,000-idea session needs one such vector and
    the clustering's own copy, not several full n x n matrices."""
    n = len(texts)
    if n == 1:
        return [[0]]
    similarity = _pairwise(_tfidf(texts))
    z = LEXICAL_Z
    floor = 1e-9  # lexical: ideas sharing no term have similarity 0; never merge at or below 0
    if vectors is not None:
        # Both similarities on one scale (z-scores within the session), then blended: the embeddings
        # see meaning across different words, the shared terms catch what long points argue about.
        _standardise(similarity, HYBRID_LEXICAL_WEIGHT)
        semantic = _pairwise(vectors)
        _standardise(semantic, 1.0 - HYBRID_LEXICAL_WEIGHT)
        similarity += semantic
        del semantic
        z = HYBRID_Z
        floor = -math.inf
    threshold = max(float(similarity.mean() + z * similarity.std()), floor)
    top = float(similarity.max())
    if threshold > top:  # nothing is similar enough: every idea is its own theme
        return [[i] for i in range(n)]
    # Average link is unchanged by an affine map of the similarities, so cluster on top - similarity.
    np.subtract(top, similarity, out=similarity)
    np.maximum(similarity, 0.0, out=similarity)
    tree = linkage(similarity, method="average")
    del similarity
    # Merge while the distance is below top - threshold (strictly, as a distance threshold does).
    labels = fcluster(tree, np.nextafter(top - threshold, -np.inf), criterion="distance")
    members: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        members[int(label)].append(index)
    return sorted(members.values(), key=lambda c: c[0])


_BLOCK = 4_000_000  # entries of one block of similarities (32 MB) while the condensed vector is filled


def _pairwise(vectors: np.ndarray | csr_matrix) -> np.ndarray:
    """Cosine similarities of every pair i < j of unit rows (dense or sparse), clipped to [-1, 1], as a
    condensed vector (the order of scipy's squareform), computed a block of rows at a time."""
    n = vectors.shape[0]
    out = np.empty(n * (n - 1) // 2)
    rows = max(1, _BLOCK // max(n, 1))
    at = 0
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        block = vectors[start:stop] @ vectors[start:].T
        if issparse(block):
            block = block.toarray()
        for i in range(start, stop):
            row = block[i - start, i - start + 1 :]
            out[at : at + len(row)] = row
            at += len(row)
    return np.clip(out, -1.0, 1.0, out=out)


def _embedded(texts: list[str], embed: Embed) -> np.ndarray | None:
    """Unit vectors from the embedder, or None if it fails or answers nonsense: the model only sharpens
    the themes, so a failure must not cost the facilitator the Arrange phase (word overlap still works)."""
    try:
        vectors = np.asarray(embed(texts), dtype=np.float64)
    except Exception:
        return None
    if vectors.ndim != 2 or len(vectors) != len(texts) or not np.isfinite(vectors).all():
        return None
    return _unit_rows(vectors)


def _standardise(similarity: np.ndarray, weight: float) -> None:
    """Condensed similarities as z-scores of the session's own values (0 if all equal), times `weight`,
    in place."""
    spread = float(similarity.std())
    if spread < 1e-12:
        similarity[:] = 0.0
        return
    similarity -= similarity.mean()
    similarity *= weight / spread


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def _tfidf(texts: Sequence[str]) -> np.ndarray:
    """Sublinear TF-IDF over content stems; terms seen in one idea only are dropped (they add
    length to a vector but can never link two ideas)."""
    counts = [Counter(content_stems(text)) for text in texts]
    document_frequency: Counter[str] = Counter()
    for count in counts:
        document_frequency.update(count.keys())
    terms = sorted(t for t, df in document_frequency.items() if df >= 2)
    column = {t: j for j, t in enumerate(terms)}
    n = len(texts)
    idf = [math.log((n + 1) / (document_frequency[t] + 1)) + 1.0 for t in terms]
    # Sparse: an idea uses a handful of the session's terms, and a big session has thousands of them.
    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    for i, count in enumerate(counts):
        weights = {column[t]: (1.0 + math.log(tf)) * idf[column[t]] for t, tf in count.items() if t in column}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        for j, w in sorted(weights.items()):
            rows.append(i)
            cols.append(j)
            values.append(w / norm)
    return csr_matrix((values, (rows, cols)), shape=(n, len(terms)))


# --- ordering ---------------------------------------------------------------------------------------


def _order_themes(groups: list[list[GroupItem]], given: list[GroupItem]) -> list[list[GroupItem]]:
    """Themes with lead items first (by their first lead's position as given), then larger themes,
    then by the canonical text of their first idea."""
    lead_rank = {it.id: pos for pos, it in enumerate(i for i in given if i.lead)}

    def key(group: list[GroupItem]) -> tuple[int, int, int, str, str]:
        ranks = [lead_rank[it.id] for it in group if it.id in lead_rank]
        first = group[0]
        if ranks:
            return (0, min(ranks), 0, "", "")
        return (1, 0, -len(group), _normalise(first.text), first.id)

    return sorted(groups, key=key)


def _leads_first(group: list[GroupItem], given: list[GroupItem]) -> list[GroupItem]:
    position = {it.id: pos for pos, it in enumerate(given)}
    leads = sorted((it for it in group if it.lead), key=lambda it: position[it.id])
    return leads + [it for it in group if not it.lead]


# --- labels -----------------------------------------------------------------------------------------


def _labels(themes: list[list[str]], centroids: list[np.ndarray] | None = None,
            embed: Embed | None = None) -> list[str]:
    """One unique label per theme: its most characteristic 2-3 word phrase from the ideas. With the themes'
    embedding centroids, a theme's best lexical candidates are re-ranked by how close each phrase is to its
    centroid (a phrase that sums the theme up) plus the share of its ideas the phrase touches."""
    all_stems: Counter[str] = Counter()  # in how many ideas of the whole session each stem appears
    for texts in themes:
        for text in texts:
            all_stems.update(set(content_stems(text)))
    total = sum(len(texts) for texts in themes)
    candidates = [_phrase_candidates(texts, all_stems, total) for texts in themes]
    if centroids is not None and embed is not None:
        candidates = _by_centroid(themes, candidates, centroids, embed)
    used: set[str] = set()
    labels: list[str] = []
    for texts, ranked in zip(themes, candidates, strict=True):
        label = next((p for p in ranked if p.casefold() not in used), None)
        if label is None:
            label = _fallback_label(texts, used)
        used.add(label.casefold())
        labels.append(label)
    return labels


def _by_centroid(themes: list[list[str]], candidates: list[list[str]], centroids: list[np.ndarray],
                 embed: Embed) -> list[list[str]]:
    """Each theme's first LABEL_CANDIDATES candidates re-ranked by cosine to its centroid plus the share of its
    ideas that use one of the phrase's words; the rest keep their order after them. One call to the embedder
    for every theme's phrases; if it fails, the lexical order stands."""
    heads = [ranked[:LABEL_CANDIDATES] for ranked in candidates]
    phrases = [p for head in heads for p in head]
    if not phrases:
        return candidates
    vectors = _embedded(phrases, embed)
    if vectors is None or vectors.shape[1] != len(centroids[0]):
        return candidates
    out, at = [], 0
    for texts, ranked, head, centroid in zip(themes, candidates, heads, centroids, strict=True):
        idea_stems = [set(content_stems(t)) for t in texts]
        scored = []
        for n, phrase in enumerate(head):
            stems = set(content_stems(phrase))
            touch = sum(1 for s in idea_stems if s & stems) / len(texts)
            weak = weak_ending(phrase.rsplit(" ", 1)[-1])
            score = (LABEL_CENTROID_WEIGHT * float(vectors[at + n] @ centroid) + touch) * (0.5 if weak else 1.0)
            scored.append((-score, n, phrase))
        at += len(head)
        out.append([p for _, _, p in sorted(scored)] + ranked[len(head):])
    return out


def _phrase_candidates(texts: list[str], all_stems: Counter[str], total: int) -> list[str]:
    """Phrases ranked by how many of the theme's ideas use their words (coverage), then how rarely
    the other themes do (distinctiveness), then length and first appearance. A phrase is 2 or 3
    content words in a row; phrases ending in a common verb or adverb rank lower."""
    in_theme: Counter[str] = Counter()  # in how many of the theme's ideas each stem appears
    for text in texts:
        in_theme.update(set(content_stems(text)))
    scored: dict[str, tuple[float, str]] = {}
    order = 0
    for text in texts:
        for run in phrase_runs(text):
            for size in (3, 2):
                for start in range(len(run) - size + 1):
                    gram = run[start : start + size]
                    stems = [s for s, _ in gram]
                    if len(set(stems)) < size:
                        continue
                    coverage = sum(in_theme[s] for s in stems) / size
                    inside = coverage / len(texts)
                    outside = sum(all_stems[s] for s in stems) / size / total
                    score = coverage * (1.0 + inside - outside) + 0.1 * size
                    if weak_ending(gram[-1][1]) or gram[0][1].endswith(("'s", "’s")):
                        score *= 0.5
                    surface = " ".join(_cap_word(w) for _, w in gram)
                    key = " ".join(stems)
                    if key not in scored or scored[key][0] < score:
                        scored[key] = (score, f"{order:08d}{surface}")
                    order += 1
    ranked = sorted(scored.values(), key=lambda v: (-v[0], v[1]))
    return [_sentence_case(v[1][8:]) for v in ranked]


def _fallback_label(texts: list[str], used: set[str]) -> str:
    """No phrase of two content words (emoji, stop-words only, "Publish what changed" ...): the idea's
    own words, extended word by word until unique; 'Idea' pads a one-word idea to the 2-word minimum."""
    # Prefer word characters (drops stray punctuation); emoji-only ideas keep their whitespace tokens. Never
    # mention syntax, links or words with digits (ids): an idea of only those is labelled "Idea".
    clean = [label_text(text) for text in texts]
    tokens = [_cap_word(w) for text in clean for w in _WORDS.findall(text)]
    cut = clean != list(texts)
    if any(_WORDS.search(text) for text in texts) and all(t.lower() in STOPWORDS for t in tokens) and cut:
        number = 1  # only ids, mentions or links (and little words): nothing of them can show
        while f"idea {number}" in used:
            number += 1
        return f"Idea {number}"
    tokens = tokens or [_cap_word(w) for text in texts for w in text.split()] or ["(empty)"]
    first = _WORDS.findall(clean[0]) if texts else []
    # A short idea reads best whole ("Publish what changed"); a longer one is cut after a content word
    # where it can be ("Publish what" is no label), else after its first words.
    sizes = [len(first)] if 2 <= len(first) <= MAX_LABEL_WORDS else []
    sizes += [n for n in range(2, MAX_LABEL_WORDS + 1) if n <= len(tokens) and tokens[n - 1].lower() not in STOPWORDS]
    sizes += range(2, MAX_LABEL_WORDS + 1)
    for size in sizes:
        words = tokens[:size]
        if len(words) < 2:
            words = ["Idea", *words]
        label = _sentence_case(" ".join(words))
        if label.casefold() not in used:
            return label
    base = _sentence_case(" ".join(tokens[:3] if len(tokens) >= 2 else ["Idea", *tokens[:1]]))
    number = 2
    while f"{base} {number}".casefold() in used:
        number += 1
    return f"{base} {number}"


def _cap_word(word: str) -> str:
    return word[:_MAX_WORD_CHARS]


def _sentence_case(label: str) -> str:
    """Capitalise the first letter only; keep acronyms and names as written."""
    return label[:1].upper() + label[1:] if label else label
