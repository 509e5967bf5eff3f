"""PPMI-SVD against gensim's skip-gram (SGNS) on gensim's Wikipedia sample: ``make bench`` part.

    python -m tools.bench_wordvec             # make bench: the grid the chapter quotes (4 + 4)
    python -m tools.bench_wordvec --full      # the full grid, 24 settings per method
    python -m tools.bench_wordvec --seeds 1   # skip the seed spreads

A fair comparison of the two methods of chapter ``word2vec_as_svd``:

* Both see the same tokens (``wordvec.chunk(corpus.wiki_articles())``) and the same
  vocabulary (words seen >= ``wordvec.MIN_COUNT`` times).
* The similarity pairs of WordSim-353 and SimLex-999 are split once, seed-free, into a dev
  half and a test half (``wordsim.split_pairs``). Settings are *selected* on the dev half
  (the mean of the two Spearman rhos) and *reported* on the test half only.
* The same budget for both: each grid below has the same number of settings, and every
  setting is scored twice, with the word vectors w alone and with w + c (word plus context
  vectors; for the SVD, U S^p + V S^p).
* SGNS's learning rate ``alpha`` and number of negatives are tuned, not left at gensim's
  defaults; the SVD's shift, eigenvalue weight and window likewise.

After selection, the SGNS winner is retrained with seeds 1, 2, ... (the SVD has no seed:
exact counts, ARPACK from a fixed start), and the chapter's own cheap SGNS
(``wordvec.CHAPTER_SGNS``, 3 passes) is scored on the same test half over the same seeds.
Everything runs on one core's worth of threads (gensim one worker, the SVD one BLAS thread).

Writes ``chapters/word2vec_as_svd.json`` (what the chapter quotes, stamped with the commit it
was measured on: commit it with the change it measures), ``_build/bench/wordvec.json`` (the
winners' test scores and times) and ``_build/bench/wordvec_grid.json`` (every grid point).
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

#: 24 settings each (every one scored as w and as w + c: 48 scores per method)
SVD_GRID = {"dim": [50, 100], "window": [5, 10], "shift": [1.0, 5.0, 15.0], "p": [0.5, 1.0]}
SGNS_GRID = {"dim": [50, 100], "window": [5, 10], "alpha": [0.025, 0.05, 0.1],
             "negative": [5, 15]}
SGNS_EPOCHS = 5  # gensim's default number of passes
#: the default (make bench, what the chapter quotes): 4 settings each, SGNS at 3 passes
SVD_REDUCED = {"dim": [50, 100], "window": [10], "shift": [1.0, 5.0], "p": [0.5]}
SGNS_REDUCED = {"dim": [50], "window": [10], "alpha": [0.05, 0.1], "negative": [5, 15]}
SGNS_REDUCED_EPOCHS = 3
#: what the chapter quotes, committed beside it
CHAPTER_JSON = ROOT / "chapters" / "word2vec_as_svd.json"
KINDS = ("w", "w+c")


def score(vectors, vocab, pairs) -> dict:
    return {name: round(wordsim.evaluate(vectors, vocab, pairs[name]).rho, 4) for name in pairs}


def mean_rho(scores: dict) -> float:
    return (scores["ws353"] + scores["simlex"]) / 2


def svd_grid(ids, vocab, dev, grid) -> list[dict]:
    rows = []
    for window in grid["window"]:
        counts = wordvec.cooccurrence(ids, len(vocab), window, True)
        for shift in grid["shift"]:
            u, s, vt = wordvec.truncated_svd(wordvec.ppmi(counts, 0.75, shift), max(grid["dim"]))
            for dim, p in itertools.product(grid["dim"], grid["p"]):
                cfg = wordvec.SVDConfig(dim=dim, window=window, p=p, shift=shift)
                w = wordvec.weighted_vectors(u, s, p, dim)
                c = wordvec.weighted_vectors(vt.T, s, p, dim)
                for kind, vec in zip(KINDS, (w, w + c)):
                    rows.append({"config": asdict(cfg), "vectors": kind,
                                 "dev": score(vec, vocab, dev)})
                print(f"  svd {cfg.dim=} {cfg.window=} {cfg.shift=} {cfg.p=}: dev "
                      f"{rows[-2]['dev']} (w), {rows[-1]['dev']} (w+c)", flush=True)
    return rows


def sgns_grid(docs, vocab, dev, grid, epochs) -> list[dict]:
    rows = []
    for dim, window, alpha, negative in itertools.product(*grid.values()):
        cfg = wordvec.SGNSConfig(dim=dim, window=window, alpha=alpha, negative=negative,
                                 epochs=epochs)
        w, c, seconds = wordvec.train_sgns(docs, vocab, wordvec.MIN_COUNT, cfg, contexts=True)
        for kind, vec in zip(KINDS, (w, w + c)):
            rows.append({"config": asdict(cfg), "vectors": kind, "dev": score(vec, vocab, dev),
                         "seconds": round(seconds, 2)})
        print(f"  sgns {dim=} {window=} {alpha=} {negative=}: dev {rows[-2]['dev']} (w), "
              f"{rows[-1]['dev']} (w+c) ({seconds:.0f} s)", flush=True)
    return rows


def sgns_test_over_seeds(docs, vocab, test, cfg, kind, seeds) -> list[dict]:
    rows = []
    for seed in range(seeds):
        w, c, seconds = wordvec.train_sgns(docs, vocab, wordvec.MIN_COUNT, replace(cfg, seed=seed),
                                           contexts=True)
        rows.append({"seed": seed, **score(w + c if kind == "w+c" else w, vocab, test),
                     "seconds": round(seconds, 2)})
        print(f"  sgns epochs={cfg.epochs} alpha={cfg.alpha} {kind} seed {seed}: test "
              f"{rows[-1]}", flush=True)
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
                        help="train each SGNS winner with seeds 0 .. N-1 (1: no spread)")
    parser.add_argument("--full", action="store_true",
                        help="24 settings per method and SGNS at 5 passes (many times longer; "
                             "the default is 4 settings and 3 passes, what the chapter quotes)")
    args = parser.parse_args(argv)
    reduced = not args.full
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    started = time.perf_counter()
    stamp = commit_stamp()
    svd_spec, sgns_spec = (SVD_REDUCED, SGNS_REDUCED) if reduced else (SVD_GRID, SGNS_GRID)
    epochs = SGNS_REDUCED_EPOCHS if reduced else SGNS_EPOCHS
    budget = {name: int(np.prod([len(v) for v in g.values()])) * len(KINDS)
              for name, g in (("svd", svd_spec), ("sgns", sgns_spec))}
    if budget["svd"] != budget["sgns"]:
        raise ValueError(f"unequal budgets: {budget}")

    docs = wordvec.chunk(corpus.wiki_articles())
    vocab = corpus.vocabulary(docs, wordvec.MIN_COUNT)
    ids = wordvec.encode(docs, vocab)
    halves = {name: wordsim.split_pairs(wordsim.load_pairs(name)) for name in wordsim.BENCHMARKS}
    dev = {name: h[0] for name, h in halves.items()}
    test = {name: h[1] for name, h in halves.items()}
    print(f"{sum(map(len, docs)):,} tokens, {len(vocab):,} words; budget {budget}", flush=True)

    print("PPMI-SVD grid (dev half)", flush=True)
    svd_rows = svd_grid(ids, vocab, dev, svd_spec)
    print("SGNS grid (dev half)", flush=True)
    sgns_rows = sgns_grid(docs, vocab, dev, sgns_spec, epochs)
    best_svd_row = max(svd_rows, key=lambda r: mean_rho(r["dev"]))
    best_sgns_row = max(sgns_rows, key=lambda r: mean_rho(r["dev"]))
    best_svd = wordvec.SVDConfig(**best_svd_row["config"])
    best_sgns = wordvec.SGNSConfig(**best_sgns_row["config"])

    # the winners on the test half: the SVD once, end to end and timed; SGNS over seeds
    svd = wordvec.ppmi_svd(ids, len(vocab), best_svd)
    svd_vec = svd.words_plus_contexts() if best_svd_row["vectors"] == "w+c" else svd.vectors
    svd_test = score(svd_vec, vocab, test)
    sgns_seeds = sgns_test_over_seeds(docs, vocab, test, best_sgns, best_sgns_row["vectors"],
                                      args.seeds)
    cheap_seeds = sgns_test_over_seeds(docs, vocab, test, wordvec.CHAPTER_SGNS, "w", args.seeds)

    result = {
        **stamp, "reduced": reduced, "seeds": args.seeds, "budget": budget,
        "split": {name: {"dev": len(dev[name]), "test": len(test[name])} for name in dev},
        "svd": {"config": asdict(best_svd), "vectors": best_svd_row["vectors"],
                "dev": best_svd_row["dev"], "test": svd_test, "seconds": round(svd.seconds, 2)},
        "sgns": {"config": asdict(best_sgns), "vectors": best_sgns_row["vectors"],
                 "dev": best_sgns_row["dev"], "test": summary(sgns_seeds),
                 "seconds": sgns_seeds[0]["seconds"]},
        "sgns_cheap": {"config": asdict(wordvec.CHAPTER_SGNS), "vectors": "w",
                       "test": summary(cheap_seeds), "seconds": cheap_seeds[0]["seconds"]},
    }
    BENCH.mkdir(parents=True, exist_ok=True)
    out = BENCH / "wordvec.json"
    out.write_text(json.dumps({k: result[k] for k in ("svd", "sgns")}, indent=2) + "\n")
    (BENCH / "wordvec_grid.json").write_text(json.dumps(
        {"svd": svd_rows, "sgns": sgns_rows, "sgns_seeds": sgns_seeds,
         "sgns_cheap_seeds": cheap_seeds}, indent=1) + "\n")
    CHAPTER_JSON.write_text(json.dumps(result, indent=1) + "\n")

    print(f"\nSVD winner  {best_svd} ({best_svd_row['vectors']}): test {svd_test}")
    print(f"SGNS winner {best_sgns} ({best_sgns_row['vectors']}): test {summary(sgns_seeds)}")
    for name, chosen, best in (("svd", wordvec.CHOSEN_SVD, best_svd),
                               ("sgns", wordvec.CHOSEN_SGNS, best_sgns)):
        if chosen != best:
            print(f"NOTE: wordvec.CHOSEN_{name.upper()} is {chosen}, but the dev-selected "
                  f"winner is {best}: update it")
    print(f"written {CHAPTER_JSON.relative_to(ROOT)} (commit {stamp['commit'][:10]}"
          f"{', uncommitted changes' if stamp['dirty'] else ''}); "
          f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
