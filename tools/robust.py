"""``make robust``: every chapter executed under other seeds and as if on other machines.

A check on a trained or sampled outcome must hold with margin, not only for the seed and
the CPU that wrote it. Each chapter runs in a fresh kernel (nothing is cached) under:

    seed1, seed2, seed3   BOOK_SEED=1, 2, 3 (every generator of the chapter reseeded)
    nosimd                ATEN_CPU_CAPABILITY=default: torch's kernels without SIMD, whose
                          sums round differently, a stand-in for another CPU
    2threads              two torch / OpenMP / BLAS threads: reductions split in two. (Every
                          other execution, of the book, the tests and these variants, runs
                          on one thread, see tools.chapters.KERNEL_ENV: the one-thread
                          variant is the default, executed by make test and make bench.)

    python -m tools.robust                          # all chapters x all variants
    python -m tools.robust gan_zoo vq_vae           # some chapters
    python -m tools.robust --variants seed1,nosimd  # some variants
    python -m tools.robust --jobs 2                 # two executions side by side
    python -m tools.robust gan_zoo --save /tmp/nb   # keep the executed notebooks

Prints a table of chapters x variants (seconds, or FAIL) and writes
``_build/bench/robust.json`` with each run's seconds, peak memory and error. Exit status 1
if any chapter fails under any variant. Seconds are reported, not judged: the budget is
checked by ``make test`` and ``make bench`` on the default variant, and with ``--jobs 2``
or without SIMD a chapter is slower than on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from tools.chapters import BENCH, ROOT, run_chapter, thread_env, toc_chapters

VARIANTS: dict[str, dict[str, str]] = {
    "seed1": {"BOOK_SEED": "1"},
    "seed2": {"BOOK_SEED": "2"},
    "seed3": {"BOOK_SEED": "3"},
    "nosimd": {"ATEN_CPU_CAPABILITY": "default"},
    "2threads": thread_env(2),
}


def grid_table(stems: list[str], names: list[str], results: dict) -> str:
    """Chapters as rows, variants as columns: seconds, or FAIL."""
    rows = [f"{'chapter':32}" + "".join(f"{n:>9}" for n in names)]
    for stem in stems:
        cells = []
        for n in names:
            r = results.get((stem, n))
            cells.append("-" if r is None else f"{r.seconds:.1f}" if r.ok else "FAIL")
        rows.append(f"{stem:32}" + "".join(f"{c:>9}" for c in cells))
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapters", nargs="*", help="chapter file stems (default: all of _toc.yml)")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help=f"comma-separated, from {', '.join(VARIANTS)}")
    ap.add_argument("--jobs", type=int, default=1, help="executions side by side (default 1)")
    ap.add_argument("--save", default=None,
                    help="a folder for the executed notebooks (<chapter>-<variant>.ipynb), to "
                         "read the margins each variant printed")
    args = ap.parse_args(argv)
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant(s) {unknown}; allowed: {', '.join(VARIANTS)}")
    chapters = toc_chapters()
    if args.chapters:
        known = {p.stem for p in chapters}
        missing = [c for c in args.chapters if c not in known]
        if missing:
            ap.error(f"not a chapter of _toc.yml: {missing}")
        chapters = [p for p in chapters if p.stem in args.chapters]
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")

    jobs = [(path, name) for path in chapters for name in names]
    results = {}
    start = time.perf_counter()

    def one(job):
        path, name = job
        save = None
        if args.save:
            save = Path(args.save).resolve() / f"{path.stem}-{name}.ipynb"
            save.parent.mkdir(parents=True, exist_ok=True)
        r = run_chapter(path, cache=False, env=VARIANTS[name], save=save)
        status = "ok" if r.ok else "FAILED"
        print(f"{path.stem:32} {name:8} {r.seconds:6.1f} s {r.peak_mb:6.0f} MB  {status}"
              + (f"  {r.last_error[:150]}" if r.error else ""), flush=True)
        return job, r

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for (path, name), r in pool.map(one, jobs):
            results[(path.stem, name)] = r
    stems = [p.stem for p in chapters]
    print(f"\n{len(jobs)} executions in {time.perf_counter() - start:.0f} s "
          f"(--jobs {args.jobs}); seconds per chapter and variant:\n")
    print(grid_table(stems, names, results))
    failed = [(s, n, r) for (s, n), r in results.items() if not r.ok]
    for stem, name, r in failed:
        print(f"\n--- {stem} under {name} ({VARIANTS[name]}) failed:\n{r.error}", file=sys.stderr)
    BENCH.mkdir(parents=True, exist_ok=True)
    out = BENCH / "robust.json"
    out.write_text(json.dumps({
        "variants": {n: VARIANTS[n] for n in names},
        "runs": [{"variant": n, **asdict(r)} for (s, n), r in results.items()],
    }, indent=2) + "\n")
    print(f"\nwritten {out.relative_to(ROOT)}; "
          + ("every chapter passed every variant" if not failed
             else f"{len(failed)} of {len(jobs)} executions FAILED"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
