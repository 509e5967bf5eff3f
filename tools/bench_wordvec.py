"""PPMI-SVD against gensim's skip-gram (SGNS) on gensim's Wikipedia sample: ``make bench`` part.

    python -m tools.bench_wordvec            # make bench: what the chapter quotes (~9 minutes)
    python -m tools.bench_wordvec --full     # also the SGNS grid, less text, other thresholds
    python -m tools.bench_wordvec --seeds 1  # skip the seed spreads

``make bench`` runs the default: the PPMI-SVD grid (the chapter uses its winner), the two
SGNS settings of the chapter (the grid's winner, ``wordvec.CHOSEN_SGNS``, and the cheap one
the page itself trains, ``wordvec.CHAPTER_SGNS``, whose learning rate is chosen here from
``ALPHAS`` at its number of passes), both timed, and each retrained with seeds 1, 2, ... .
What the chapter quotes of it is written to ``chapters/word2vec_as_svd.json``, stamped with
the commit it was measured on (commit that file with the change it measures). ``--full``
adds what the chapter does not rely on: the SGNS grid below, and the winners on less text
and with other vocabulary thresholds (~35 minutes more).

Both methods see the same tokens (``wordvec.chunk(corpus.wiki_articles())``) and the same
vocabulary (words seen >= ``wordvec.MIN_COUNT`` times), and are scored by Spearman's rho of
cosine similarity against WordSim-353 and SimLex-999 on the same in-vocabulary pairs.

The grid (every combination is scored):

* PPMI-SVD: window L in {2, 5, 8, 10} (dynamic weighting), shift k in {1, 5, 10},
  subsampling t in {none} ({none, 1e-3} with ``--full``: subsampling never won), dimension d in {25, 50, 100, 200}, eigenvalue weight
  p in {0, 0.25, 0.5, 0.75, 1}; alpha = 0.75. One exact (ARPACK) SVD at d = 200 per matrix;
  its leading d triplets are the rank-d SVD, so every d is scored from it.
* SGNS (gensim, sg=1, negative=5, sample=1e-3, alpha=0.025, one worker, seed 0):
  dimension in {50, 100, 200}, window in {5, 10}, epochs in {5 (gensim's default), 15, 30}.
  A coordinate search around (100, 5, 15) before fixing this grid found window 2,
  negative=15 and sample=1e-4 no better, so they are left out to keep the run to minutes.

Each method's best setting is the one with the highest mean of its two correlations. The
winners are then rerun end to end (counting + PPMI + SVD at their own d; gensim vocabulary +
training), and timed.
Everything runs on one core's worth of threads (gensim one worker, the SVD one BLAS thread).
Then both winners are retrained, settings unchanged, on the first quarter and the first
half of the articles, to see how the comparison moves with the amount of text, and on the
whole text with the vocabulary threshold at 3 and at 10 instead of ``MIN_COUNT`` (which pairs
are scored changes with it). Last, the SGNS winner is retrained with seeds 1, 2, ... : the
SVD has no seed (ARPACK starts from a fixed vector), so SGNS's seed-to-seed spread says how
much of the difference between the two is luck of one draw.

Writes ``_build/bench/wordvec.json``:
``{"svd": {"ws353": rho, "simlex": rho, "seconds": s, "pairs": n}, "sgns": {...}}``, where
``pairs`` is the number of benchmark pairs scored (WordSim-353 + SimLex-999, the same for
both), and ``_build/bench/wordvec_grid.json`` with every grid point, the smaller corpora, the
other thresholds and the SGNS seeds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import asdict, replace

import numpy as np

from book.representations import corpus, wordsim, wordvec
from tools.chapters import BENCH, ROOT, commit_stamp

SVD_GRID = {"window": [2, 5, 8, 10], "shift": [1.0, 5.0, 10.0], "sample": [None],
            "dim": [25, 50, 100, 200], "p": [0.0, 0.25, 0.5, 0.75, 1.0]}
SGNS_GRID = {"dim": [50, 100, 200], "window": [5, 10], "epochs": [5, 15, 30]}
#: learning rates tried for the chapter's cheap SGNS (gensim's default is 0.025)
ALPHAS = [0.025, 0.05, 0.1, 0.2]
#: what the chapter quotes, committed beside it
CHAPTER_JSON = ROOT / "chapters" / "word2vec_as_svd.json"
FRACTIONS = [0.25, 0.5]
THRESHOLDS = [3, 10]


def score(vectors, vocab, pairs) -> dict:
    s = {name: wordsim.evaluate(vectors, vocab, pairs[name]) for name in pairs}
    return {"ws353": s["ws353"].rho, "simlex": s["simlex"].rho,
            "pairs": s["ws353"].pairs + s["simlex"].pairs}


def mean_rho(row: dict) -> float:
    return (row["ws353"] + row["simlex"]) / 2


def svd_grid(ids, vocab, pairs) -> list[dict]:
    rows = []
    top = max(SVD_GRID["dim"])
    for window, sample in itertools.product(SVD_GRID["window"], SVD_GRID["sample"]):
        counts = wordvec.cooccurrence(ids, len(vocab), window, True, sample)
        for shift in SVD_GRID["shift"]:
            start = time.perf_counter()
            u, s, _ = wordvec.truncated_svd(wordvec.ppmi(counts, 0.75, shift), top)
            for dim, p in itertools.product(SVD_GRID["dim"], SVD_GRID["p"]):
                cfg = wordvec.SVDConfig(dim=dim, window=window, p=p, shift=shift, sample=sample)
                rows.append({"config": asdict(cfg),
                             **score(wordvec.weighted_vectors(u, s, p, dim), vocab, pairs)})
            best = max(rows[-len(SVD_GRID["dim"]) * len(SVD_GRID["p"]):], key=mean_rho)
            print(f"  svd window={window} sample={sample} shift={shift:g}: best "
                  f"d={best['config']['dim']} p={best['config']['p']} ws353={best['ws353']:.3f} "
                  f"simlex={best['simlex']:.3f} ({time.perf_counter() - start:.0f} s)", flush=True)
    return rows


def sgns_grid(docs, vocab, pairs) -> list[dict]:
    rows = []
    for dim, window, epochs in itertools.product(*SGNS_GRID.values()):
        cfg = wordvec.SGNSConfig(dim=dim, window=window, epochs=epochs)
        vectors, seconds = wordvec.train_sgns(docs, vocab, wordvec.MIN_COUNT, cfg)
        rows.append({"config": asdict(cfg), **score(vectors, vocab, pairs), "seconds": seconds})
        print(f"  sgns d={dim} window={window} epochs={epochs}: ws353={rows[-1]['ws353']:.3f} "
              f"simlex={rows[-1]['simlex']:.3f} ({seconds:.0f} s)", flush=True)
    return rows


def seed_spread(docs, vocab, pairs, cfg, seeds: int, first: dict) -> list[dict]:
    """``cfg`` retrained with seeds 1 .. seeds-1 (``first`` is seed 0's score)."""
    rows = [{"seed": 0, "ws353": round(first["ws353"], 4), "simlex": round(first["simlex"], 4)}]
    for seed in range(1, seeds):
        vectors, _ = wordvec.train_sgns(docs, vocab, wordvec.MIN_COUNT, replace(cfg, seed=seed))
        rows.append({"seed": seed, **{k: round(v, 4) for k, v in
                                      score(vectors, vocab, pairs).items() if k != "pairs"}})
        print(f"  sgns epochs={cfg.epochs} alpha={cfg.alpha} seed {seed}: "
              f"ws353={rows[-1]['ws353']:.3f} simlex={rows[-1]['simlex']:.3f}", flush=True)
    return rows


def summary(rows: list[dict]) -> dict:
    out = {}
    for key in ("ws353", "simlex"):
        vals = np.array([r[key] for r in rows])
        out[key] = {"mean": round(float(vals.mean()), 4), "min": round(float(vals.min()), 4),
                    "max": round(float(vals.max()), 4)}
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3,
                        help="train each SGNS setting with seeds 0 .. N-1 (spread; 1 skips it)")
    parser.add_argument("--full", action="store_true",
                        help="also the SGNS grid, the smaller corpora and other thresholds")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    started = time.perf_counter()
    stamp = commit_stamp()

    docs = wordvec.chunk(corpus.wiki_articles())
    vocab = corpus.vocabulary(docs, wordvec.MIN_COUNT)
    ids = wordvec.encode(docs, vocab)
    pairs = {name: wordsim.load_pairs(name) for name in wordsim.BENCHMARKS}
    print(f"{sum(map(len, docs)):,} tokens, {len(vocab):,} words (min_count "
          f"{wordvec.MIN_COUNT})", flush=True)

    if args.full:  # subsampling never won the grid (the chapter uses none); --full tries it
        SVD_GRID["sample"] = [None, 1e-3]
    print("PPMI-SVD grid", flush=True)
    svd_rows = svd_grid(ids, vocab, pairs)
    best_svd = wordvec.SVDConfig(**max(svd_rows, key=mean_rho)["config"])
    sgns_rows = []
    if args.full:
        print("SGNS grid", flush=True)
        sgns_rows = sgns_grid(docs, vocab, pairs)
        best_sgns = wordvec.SGNSConfig(**max(sgns_rows, key=mean_rho)["config"])
    else:
        best_sgns = wordvec.CHOSEN_SGNS
    for name, rows in (("svd", svd_rows), ("sgns", sgns_rows)):  # for the record
        for key in ("ws353", "simlex"):
            if rows:
                top = max(rows, key=lambda r: r[key])
                print(f"  highest {key} of any {name} setting: {top[key]:.3f} ({top['config']})")

    # the chapter's cheap SGNS: its learning rate at its number of passes
    print(f"cheap SGNS: {wordvec.CHAPTER_SGNS.epochs} passes, learning rates {ALPHAS}", flush=True)
    cheap_rows = []
    for alpha in ALPHAS:
        cfg = replace(wordvec.CHAPTER_SGNS, alpha=alpha)
        vectors, seconds = wordvec.train_sgns(docs, vocab, wordvec.MIN_COUNT, cfg)
        cheap_rows.append({"config": asdict(cfg), **score(vectors, vocab, pairs),
                           "seconds": seconds})
        print(f"  alpha={alpha}: ws353={cheap_rows[-1]['ws353']:.3f} "
              f"simlex={cheap_rows[-1]['simlex']:.3f} ({seconds:.1f} s)", flush=True)
    best_cheap = wordvec.SGNSConfig(**max(cheap_rows, key=mean_rho)["config"])

    # the winners end to end, timed (once each, on one core: make bench runs another
    # benchmark on the other)
    svd = wordvec.ppmi_svd(ids, len(vocab), best_svd)
    runs = [("svd", svd.vectors, svd.seconds)]
    for name, cfg in (("sgns", best_sgns), ("sgns_cheap", best_cheap)):
        vectors, seconds = wordvec.train_sgns(docs, vocab, wordvec.MIN_COUNT, cfg)
        runs.append((name, vectors, seconds))
    result = {}
    for name, vec, sec in runs:
        r = score(vec, vocab, pairs)
        result[name] = {"ws353": round(r["ws353"], 4), "simlex": round(r["simlex"], 4),
                        "seconds": round(sec, 2), "pairs": r["pairs"]}

    sizes = []
    if args.full:
        # the winners on less text (the first quarter / half of the articles), then on all
        # of it with other vocabulary thresholds
        articles = corpus.wiki_articles()
        variants = [(f, wordvec.MIN_COUNT) for f in FRACTIONS] + [(1.0, m) for m in THRESHOLDS]
        for fraction, min_count in variants:
            part = wordvec.chunk(articles[: round(fraction * len(articles))])
            part_vocab = corpus.vocabulary(part, min_count)
            part_ids = wordvec.encode(part, part_vocab)
            small_svd = wordvec.ppmi_svd(part_ids, len(part_vocab), best_svd)
            small_sgns, sec = wordvec.train_sgns(part, part_vocab, min_count, best_sgns)
            for name, vec, seconds in (("svd", small_svd.vectors, small_svd.seconds),
                                       ("sgns", small_sgns, sec)):
                sizes.append({"fraction": fraction, "min_count": min_count,
                              "tokens": sum(map(len, part)), "method": name,
                              **score(vec, part_vocab, pairs), "seconds": seconds})
                print(f"  {fraction:.0%} of the articles ({sizes[-1]['tokens']:,} tokens), "
                      f"min_count {min_count}: {name} ws353={sizes[-1]['ws353']:.3f} "
                      f"simlex={sizes[-1]['simlex']:.3f} ({sizes[-1]['pairs']} pairs, "
                      f"{seconds:.1f} s)", flush=True)

    # SGNS's seed-to-seed spread (seed 0 is the timed run above); the SVD has no seed
    seeds = seed_spread(docs, vocab, pairs, best_sgns, args.seeds, result["sgns"])
    cheap_seeds = seed_spread(docs, vocab, pairs, best_cheap, args.seeds, result["sgns_cheap"])

    BENCH.mkdir(parents=True, exist_ok=True)
    out = BENCH / "wordvec.json"
    out.write_text(json.dumps({k: result[k] for k in ("svd", "sgns")}, indent=2) + "\n")
    (BENCH / "wordvec_grid.json").write_text(json.dumps(
        {"svd": svd_rows, "sgns": sgns_rows, "sgns_cheap": cheap_rows, "sizes": sizes,
         "sgns_seeds": seeds, "sgns_cheap_seeds": cheap_seeds,
         "best": {"svd": asdict(best_svd), "sgns": asdict(best_sgns),
                  "sgns_cheap": asdict(best_cheap)}}, indent=1) + "\n")
    CHAPTER_JSON.write_text(json.dumps({
        **stamp, "seeds": args.seeds,
        "svd": {**result["svd"], "config": asdict(best_svd)},
        "sgns": {**result["sgns"], "config": asdict(best_sgns), "over_seeds": summary(seeds)},
        "sgns_cheap": {**result["sgns_cheap"], "config": asdict(best_cheap),
                       "over_seeds": summary(cheap_seeds),
                       "alphas": {str(r["config"]["alpha"]): {"ws353": round(r["ws353"], 4),
                                                             "simlex": round(r["simlex"], 4)}
                                  for r in cheap_rows}},
    }, indent=1) + "\n")

    print(f"\n{'method':10s} {'ws353':>7s} {'simlex':>7s} {'seconds':>8s} {'pairs':>6s}  setting")
    for name, cfg in (("svd", best_svd), ("sgns", best_sgns), ("sgns_cheap", best_cheap)):
        r = result[name]
        print(f"{name:10s} {r['ws353']:7.3f} {r['simlex']:7.3f} {r['seconds']:8.1f} "
              f"{r['pairs']:6d}  {cfg}")
    for name, chosen, best in (("svd", wordvec.CHOSEN_SVD, best_svd),
                               ("sgns", wordvec.CHOSEN_SGNS, best_sgns),
                               ("sgns_cheap", wordvec.CHAPTER_SGNS, best_cheap)):
        if chosen != best:
            print(f"NOTE: the chapters use {chosen}, but the grid's best is {best}")
    for label, rows, name in (("SGNS winner", seeds, "sgns"), ("cheap SGNS", cheap_seeds,
                                                              "sgns_cheap")):
        if len(rows) > 1:
            for key in ("ws353", "simlex"):
                vals = np.array([r[key] for r in rows])
                ahead = int((result["svd"][key] >= vals).sum())
                print(f"{label} over seeds 0..{len(rows) - 1}: {key} rho {vals.mean():.3f} "
                      f"+- {vals.std(ddof=1):.3f} ({np.round(vals, 3).tolist()}); the SVD's "
                      f"{result['svd'][key]:.3f} is at least as high for {ahead} of {len(rows)}")
    print(f"written {out.relative_to(ROOT)}, {CHAPTER_JSON.relative_to(ROOT)} "
          f"(commit {stamp['commit'][:10]}{', uncommitted changes' if stamp['dirty'] else ''}); "
          f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
