"""Benchmark of facilitation.grouping against the authors' own theme groupings.

For each case: shuffle the points (fixed seed), group them without the number of themes, and compare
with the authors' grouping (Adjusted Rand Index, NMI), label quality (overlap with the authors'
headings, words per label) and speed. A baseline is measured in the same run: TF-IDF + average-link
agglomerative clustering (cosine), number of clusters chosen by silhouette.

    python bench/arrange.py [--data FILE] [--heldout FILE ...] [--no-embeddings] [--sweep]

It also reports the peak memory of a process that starts the way the bot does and groups 200 ideas,
with and without the model. The last line printed is the ratio of our mean ARI on the public set to
the baseline's, for the mode the bot uses by default (sentence embeddings; word overlap where the
model is not installed); the lines above it give the ratios of every mode on every set.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean

from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.embeddings import CachedEmbedder  # noqa: E402
from facilitation import grouping  # noqa: E402
from facilitation.grouping import GroupItem, group_ideas  # noqa: E402
from facilitation.grouping_text import content_stems  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/arrange-public.json"
DEFAULT_HELDOUT = sorted((Path(__file__).resolve().parent / "data").glob("arrange-heldout*.json"))
SEED = 20200601
SIZES = (50, 200, 1000)
SMALL = 9  # ideas in a typical breakout group's session; the cases above hold 14 to 22
SMALL_DRAWS = 6

Grouper = Callable[[list[str]], list[int]]


@dataclass
class Scores:
    ari: list[float] = field(default_factory=list)
    nmi: list[float] = field(default_factory=list)
    overlap: list[float] = field(default_factory=list)
    words: list[float] = field(default_factory=list)
    themes: list[int] = field(default_factory=list)
    labels_ok: bool = True


def shown(counts: list[int]) -> str:
    """Themes per case, or their mean when there are too many cases to list."""
    return str(counts) if len(counts) <= 13 else f"mean {mean(counts):.1f}"


def load_cases(*paths: Path) -> list[tuple[str, list[str], list[int], list[str]]]:
    """(case id, shuffled texts, gold theme index per text, gold headings)."""
    cases = []
    for case in (c for path in paths for c in json.loads(path.read_text(encoding="utf-8"))["cases"]):
        points = [(t, text) for t, theme in enumerate(case["themes"]) for text in theme["items"]]
        random.Random(SEED).shuffle(points)
        headings = [theme["label"] for theme in case["themes"]]
        cases.append((case["id"], [p[1] for p in points], [p[0] for p in points], headings))
    return cases


def small_sessions(cases: list) -> list:
    """SMALL_DRAWS seeded draws of SMALL points from every case: how the grouping does on a breakout
    group's handful of ideas, where a threshold taken from the session's own similarities has little
    to go on."""
    out = []
    for case_id, texts, gold, headings in cases:
        rng = random.Random(SEED)
        for draw in range(SMALL_DRAWS):
            picked = sorted(rng.sample(range(len(texts)), SMALL))
            out.append((f"{case_id}#{draw}", [texts[i] for i in picked], [gold[i] for i in picked], headings))
    return out


def baseline(texts: list[str]) -> list[int]:
    """TF-IDF + average-link (cosine), k by best silhouette over 2..n-1."""
    if len(texts) < 3:
        return [0] * len(texts)
    vectors = TfidfVectorizer(stop_words="english").fit_transform(texts).toarray()
    best: tuple[float, list[int]] | None = None
    for k in range(2, len(texts)):
        model = AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average")
        labels = model.fit_predict(vectors)
        score = silhouette_score(vectors, labels, metric="cosine")
        if best is None or score > best[0]:
            best = (score, labels.tolist())
    assert best is not None
    return best[1]


def ours(embed: grouping.Embed | None) -> Callable[[list[str]], tuple[list[int], list[str]]]:
    def run(texts: list[str]) -> tuple[list[int], list[str]]:
        themes = group_ideas([GroupItem(id=str(i), text=t) for i, t in enumerate(texts)], embed=embed)
        assignment = {item_id: k for k, theme in enumerate(themes) for item_id in theme.item_ids}
        return [assignment[str(i)] for i in range(len(texts))], [t.label for t in themes]

    return run


def label_overlap(pred: list[int], gold: list[int], labels: list[str], headings: list[str]) -> float:
    """For each authors' theme, the share of its heading's content words found in the label of our
    theme that holds most of its points."""
    shares = []
    for g, heading in enumerate(headings):
        members = [p for p, gg in zip(pred, gold, strict=True) if gg == g]
        if not members:
            continue
        ours_theme = max(set(members), key=lambda k: (members.count(k), -k))
        want = set(content_stems(heading))
        if want:
            shares.append(len(want & set(content_stems(labels[ours_theme]))) / len(want))
    return mean(shares) if shares else 0.0


def evaluate(cases: list, run: Callable[[list[str]], tuple[list[int], list[str]]] | None) -> Scores:
    scores = Scores()
    for _case_id, texts, gold, headings in cases:
        if run is None:
            pred, labels = baseline(texts), []
        else:
            pred, labels = run(texts)
        scores.ari.append(adjusted_rand_score(gold, pred))
        scores.nmi.append(normalized_mutual_info_score(gold, pred))
        scores.themes.append(len(set(pred)))
        if labels:
            scores.overlap.append(label_overlap(pred, gold, labels, headings))
            scores.words.append(mean(len(label.split()) for label in labels))
            lengths_ok = all(2 <= len(label.split()) <= 5 for label in labels)
            unique = len({label.casefold() for label in labels}) == len(labels)
            scores.labels_ok &= lengths_ok and unique
    return scores


def synthetic(texts: list[str], n: int) -> list[str]:
    """n ideas made by joining two sentences drawn (seeded) from the real points."""
    sentences = sorted({s.strip() for t in texts for s in t.split(". ") if len(s.split()) >= 4})
    rng = random.Random(SEED + n)
    return [f"{rng.choice(sentences)}. {rng.choice(sentences)}" for _ in range(n)]


def timing(run: Callable[[list[str]], object], pool: list[str],
           before: Callable[[list[str]], object] | None = None) -> list[float]:
    """Seconds to group 50, 200 and 1,000 ideas; `before` runs first, untimed."""
    out = []
    for n in SIZES:
        texts = synthetic(pool, n)
        if before is not None:
            before(texts)
        start = time.perf_counter()
        run(texts)
        out.append(time.perf_counter() - start)
    return out


_MEMORY_PROBE = """
import sys
sys.path[:0] = [{repo!r}, {bench!r}]
from arrange import DEFAULT_DATA, load_cases, synthetic
from bot.configuration import engine_config
from bot.settings import Settings
from facilitation.grouping import GroupItem, group_ideas
def peak():  # VmHWM: this process's own peak (ru_maxrss would carry the parent's across exec)
    return next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
cfg = engine_config(Settings())
started = peak()
pool = [t for _, texts, _, _ in load_cases(DEFAULT_DATA) for t in texts]
group_ideas([GroupItem(id=str(i), text=t) for i, t in enumerate(synthetic(pool, 200))], cfg.embed)
print(started, peak())
"""


def memory(grouping_mode: str) -> tuple[float, float]:
    """Peak resident memory (MB) of a fresh process that builds the bot's engine configuration the way
    the bot does at start, then groups 200 ideas: (after start, after grouping)."""
    probe = _MEMORY_PROBE.format(repo=str(REPO), bench=str(Path(__file__).resolve().parent))
    env = {**os.environ, "FACILITATOR_GROUPING": grouping_mode}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    started, grouped = (int(v) / 1024 for v in out.stdout.split())  # kB
    return started, grouped


def report_memory(with_model: bool) -> None:
    lexical_mb = memory("lexical")
    print(f"  word overlap alone       {lexical_mb[0]:6.0f} / {lexical_mb[1]:6.0f}")
    if with_model:
        model_mb = memory("auto")
        print(f"  with the model           {model_mb[0]:6.0f} / {model_mb[1]:6.0f}   "
              f"(x{model_mb[1] / lexical_mb[1]:.2f})")


def sweep(cases_by_set: dict[str, list], embed: grouping.Embed | None) -> None:
    """Leave-one-case-out choice of the constants over all cases (public + held-out): for each case,
    pick the setting that maximises mean ARI on the other cases, then score that case with it.
    Lexical mode: Z. Embedding mode: (lexical weight of the blend, Z)."""
    all_cases = [c for cases in cases_by_set.values() for c in cases]
    z_grid = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
    if embed is None:
        names = ("LEXICAL_Z",)
        grid: list[tuple[float, ...]] = [(z,) for z in z_grid]
    else:
        names = ("HYBRID_LEXICAL_WEIGHT", "HYBRID_Z")
        grid = [(w, z) for w in (0.0, 0.2, 0.3, 0.4, 0.5, 0.6) for z in z_grid]
    saved = [getattr(grouping, name) for name in names]
    table = {}
    for setting in grid:
        for name, value in zip(names, setting, strict=True):
            setattr(grouping, name, value)
        table[setting] = evaluate(all_cases, ours(embed)).ari
    for name, value in zip(names, saved, strict=True):
        setattr(grouping, name, value)
    mode = "embeddings" if embed is not None else "lexical"
    print(f"\nsweep ({mode}) of {', '.join(names)}; mean ARI over {len(all_cases)} cases:")
    for setting, values in table.items():
        print(f"  {setting}: {mean(values):.3f}")
    loco = []
    for i in range(len(all_cases)):
        best = max(grid, key=lambda g: (mean(v for j, v in enumerate(table[g]) if j != i), [-x for x in g]))
        loco.append(table[best][i])
        print(f"  held out {all_cases[i][0]:<28} chosen {best} ARI={table[best][i]:.3f}")
    print(f"  leave-one-case-out mean ARI: {mean(loco):.3f}")


BOOTSTRAP = 5000


def loco(cases: list, grid: list[tuple[float, ...]], names: tuple[str, ...],
         embed: grouping.Embed | None) -> tuple[Scores, list[tuple[float, ...]]]:
    """Leave-one-case-out: for each case, the setting with the best mean ARI on the other cases scores it.
    Returns the held-out scores per case (ARI, NMI, label overlap) and the setting chosen for each."""
    saved = [getattr(grouping, name) for name in names]
    table: dict[tuple[float, ...], Scores] = {}
    try:
        for setting in grid:
            for name, value in zip(names, setting, strict=True):
                setattr(grouping, name, value)
            table[setting] = evaluate(cases, ours(embed))
    finally:
        for name, value in zip(names, saved, strict=True):
            setattr(grouping, name, value)
    out, chosen = Scores(), []
    for i in range(len(cases)):
        def others(g: tuple[float, ...], i: int = i) -> float:
            return mean(v for j, v in enumerate(table[g].ari) if j != i) if len(cases) > 1 else table[g].ari[i]
        # ties go to the setting closest to the shipped constants' order in the grid (first listed)
        best = max(grid, key=lambda g: (others(g), -grid.index(g)))
        chosen.append(best)
        out.ari.append(table[best].ari[i])
        out.nmi.append(table[best].nmi[i])
        out.overlap.append(table[best].overlap[i])
        out.themes.append(table[best].themes[i])
    return out, chosen


def interval(values: list[float], base: list[float] | None = None, paired: bool = False) -> tuple[float, float]:
    """95% bootstrap interval over cases (seeded) of mean(values) / mean(base), or of the paired mean
    difference values - base when `paired`, or of mean(values) alone without base."""
    rng = random.Random(SEED)
    n = len(values)
    stats = []
    for _ in range(BOOTSTRAP):
        pick = [rng.randrange(n) for _ in range(n)]
        v = mean(values[k] for k in pick)
        if base is None:
            stats.append(v)
        elif paired:
            stats.append(v - mean(base[k] for k in pick))
        else:
            b = mean(base[k] for k in pick)
            stats.append(v / b if b > 1e-9 else float("nan"))
    stats = sorted(x for x in stats if x == x)
    if not stats:
        return float("nan"), float("nan")
    return stats[int(0.025 * len(stats))], stats[min(len(stats) - 1, int(0.975 * len(stats)))]


def decide(cases: list, embed: grouping.Embed | None) -> dict[str, Scores]:
    """Every method on the real cases, leave-one-case-out, with bootstrap intervals over cases; the simpler
    method is preferred unless the interval of the paired difference in ARI shows a gain (lies above 0)."""
    z_grid = [(z,) for z in (0.5, 0.0, 0.25, 0.75, 1.0, 1.5)]
    families: list[tuple[str, grouping.Embed | None, list[tuple[float, ...]], tuple[str, ...]]] = [
        ("lexical", None, z_grid, ("LEXICAL_Z",))]
    if embed is not None:
        hybrid = [(0.3, 0.5)] + [(w, z) for w in (0.0, 0.2, 0.3, 0.4, 0.5, 0.6)
                                 for z in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5) if (w, z) != (0.3, 0.5)]
        families.append(("embeddings", embed, hybrid, ("HYBRID_LEXICAL_WEIGHT", "HYBRID_Z")))
    base = evaluate(cases, None)
    results = {"baseline": base}
    print(f"\nreal notes, leave-one-case-out ({len(cases)} cases; 95% bootstrap intervals over cases, "
          f"{BOOTSTRAP} draws)")
    print(f"  {'method':<11} {'ARI':>6} {'x baseline [95%]':>22} {'NMI':>6} {'x baseline [95%]':>22} {'lblOvl':>6}")
    print(f"  {'baseline':<11} {mean(base.ari):6.3f} {'':>22} {mean(base.nmi):6.3f}")
    for name, fn, grid, names in families:
        s, chosen = loco(cases, grid, names, fn)
        results[name] = s
        lo, hi = interval(s.ari, base.ari)
        nlo, nhi = interval(s.nmi, base.nmi)
        ratio = f"{mean(s.ari) / mean(base.ari):.2f} [{lo:.2f}, {hi:.2f}]"
        nratio = f"{mean(s.nmi) / mean(base.nmi):.2f} [{nlo:.2f}, {nhi:.2f}]"
        print(f"  {name:<11} {mean(s.ari):6.3f} {ratio:>22} {mean(s.nmi):6.3f} {nratio:>22} {mean(s.overlap):6.2f}")
        print(f"  {'':<11} settings chosen per fold ({', '.join(names)}): {chosen}")
    print("  per case ARI: " + "; ".join(
        f"{case[0]} " + " / ".join(f"{results[m].ari[i]:.3f}" for m in results) for i, case in enumerate(cases))
        + f"  ({' / '.join(results)})")
    simpler = "lexical"
    for name in list(results)[2:]:
        lo, hi = interval(results[name].ari, results[simpler].ari, paired=True)
        gain = lo > 0
        print(f"  {name} - {simpler}: ARI difference {mean(results[name].ari) - mean(results[simpler].ari):+.3f} "
              f"[{lo:+.3f}, {hi:+.3f}] -> {'a gain: keep ' + name if gain else 'no gain shown'}")
        if gain:
            simpler = name
    print(f"  decision (simpler unless the interval shows a gain): {simpler}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, nargs="+", default=[DEFAULT_DATA],
                        help="real notes' groupings (authors' themes and points); these alone decide")
    parser.add_argument("--heldout", type=Path, nargs="*", default=DEFAULT_HELDOUT,
                        help="groupings written for this project (bench/data): a smoke test only")
    parser.add_argument("--no-embeddings", action="store_true")
    parser.add_argument("--quick", action="store_true", help="skip the time and memory measurements")
    parser.add_argument("--sweep", action="store_true", help="also print the old sweep over every case")
    args = parser.parse_args()

    embed = None
    if not args.no_embeddings:
        from bot.embeddings import load_embedder

        embed = load_embedder()
    real = load_cases(*args.data)
    decided = decide(real, embed)
    sets = {"real": real}
    heldout = [path for path in args.heldout if path.is_file()]
    if heldout:
        sets["smoke"] = load_cases(*heldout)
    sets[f"small ({SMALL})"] = small_sessions(real)

    modes: list[tuple[str, grouping.Embed | None]] = [("lexical", None)]
    if embed is not None:
        modes.append(("embeddings", embed))
    pool = [t for _, texts, _, _ in sets["real"] for t in texts]
    print("\nshipped constants, no choice made (the smoke set was written for this project: it checks that"
          " nothing broke, it decides nothing)")

    header = f"{'set':<9} {'method':<11} {'ARI':>6} {'xBase':>6} {'NMI':>6} {'xBase':>6} {'themes':>14} " \
             f"{'lblOvl':>6} {'words':>5} {'lblOK':>5}"
    print(header)
    print("-" * len(header))
    result: dict[tuple[str, str], Scores] = {}
    for set_name, cases in sets.items():
        base = evaluate(cases, None)
        result[(set_name, "baseline")] = base
        print(f"{set_name:<9} {'baseline':<11} {mean(base.ari):6.3f} {'':>6} {mean(base.nmi):6.3f} {'':>6} "
              f"{shown(base.themes):>14}")
        for mode, fn in modes:
            s = evaluate(cases, ours(fn))
            result[(set_name, mode)] = s
            print(f"{set_name:<9} {mode:<11} {mean(s.ari):6.3f} {mean(s.ari) / mean(base.ari):6.2f} "
                  f"{mean(s.nmi):6.3f} {mean(s.nmi) / mean(base.nmi):6.2f} {shown(s.themes):>14} "
                  f"{mean(s.overlap):6.2f} {mean(s.words):5.2f} {str(s.labels_ok):>5}")
        gold_k = [len(set(g)) for _, _, g, _ in cases]
        print(f"{set_name:<9} {'(authors)':<11} {'':>6} {'':>6} {'':>6} {'':>6} {shown(gold_k):>14}")
    names = ["baseline", *[m for m, _ in modes]]
    for set_name, cases in sets.items():
        if set_name.startswith("small"):
            continue  # SMALL_DRAWS draws of every case: the summary line above says enough
        print(f"\nper case ARI / NMI ({set_name}):")
        for i, (case_id, *_rest) in enumerate(cases):
            cells = "  ".join(f"{m}={result[(set_name, m)].ari[i]:6.3f}/{result[(set_name, m)].nmi[i]:.3f}"
                              for m in names)
            print(f"  {case_id:<28} {cells}")

    if args.quick:
        _last_lines(decided)
        return
    print("\ntime to group (s):      " + "  ".join(f"{n:>6}" for n in SIZES))
    for mode, fn in modes:
        if isinstance(fn, CachedEmbedder):
            # cold: nothing embedded yet; warm: the runtime embedded each idea as it arrived (bot/runtime.py)
            cold = timing(lambda texts, fn=fn: ours(CachedEmbedder(fn.encode))(texts), pool)
            print(f"  ours {mode + ' (cold)':<18} " + "  ".join(f"{t:6.3f}" for t in cold))
            warm = timing(ours(fn), pool, before=fn)
            print(f"  ours {mode + ' (warm)':<18} " + "  ".join(f"{t:6.3f}" for t in warm))
            continue
        times = timing(ours(fn), pool)
        print(f"  ours {mode:<18} " + "  ".join(f"{t:6.3f}" for t in times))
    base_times = timing(lambda texts: baseline(texts) if len(texts) <= 200 else None, pool)
    print("  baseline               " + "  ".join(f"{t:6.3f}" for t in base_times[:2]) + "     (skipped)")

    print("\nmemory of a bot process (MB): after start / after grouping 200 ideas")
    if not Path("/proc/self/status").is_file():
        print("  not measured: the probe reads Linux's /proc/self/status")
    else:
        report_memory(embed is not None)

    if args.sweep:
        for _mode, fn in modes:
            sweep({k: v for k, v in sets.items() if not k.startswith("small")}, fn)

    _last_lines(decided)


def _last_lines(decided: dict[str, Scores]) -> None:
    base = decided["baseline"]
    print()
    for mode, s in decided.items():
        if mode != "baseline":
            print(f"real notes, leave-one-case-out, {mode}: ARI x{mean(s.ari) / mean(base.ari):.2f}, "
                  f"NMI x{mean(s.nmi) / mean(base.nmi):.2f} of the baseline, label overlap {mean(s.overlap):.2f}")
    default = list(decided)[-1]
    print(f"ARI ratio (ours, {default}/baseline, real notes, leave-one-case-out): "
          f"{mean(decided[default].ari) / mean(base.ari):.2f}")


if __name__ == "__main__":
    main()
