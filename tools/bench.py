"""``make bench``: execute every chapter in a fresh kernel, measured, then the extra benchmarks.

Writes ``_build/bench/chapters.json`` (a list of ``{"chapter", "seconds", "peak_mb", "ok"}``)
and prints it as a table. Then runs each ``tools/bench_*.py`` script, if any, which write
their own ``_build/bench/<name>.json`` (e.g. the word-vector or GAN comparisons).
Exit status is non-zero if a chapter fails or leaves the budget.
"""

from __future__ import annotations

import subprocess
import sys

from tools.chapters import BENCH, MAX_PEAK_MB, MAX_SECONDS, ROOT, run_chapter, table, \
    toc_chapters, write_json


def main(argv: list[str]) -> int:
    chapters = toc_chapters()
    if argv:  # a subset by file stem: python -m tools.bench det_exp_trace
        chapters = [p for p in chapters if p.stem in argv]
    results = []
    for path in chapters:
        print(f"executing {path.stem} ...", flush=True)
        results.append(run_chapter(path))
        if results[-1].error:
            print(results[-1].error, file=sys.stderr)
    out = write_json(results)
    print(f"\nbudget per chapter: {MAX_SECONDS:.0f} s, {MAX_PEAK_MB:.0f} MB peak")
    print(table(results))
    print(f"written {out.relative_to(ROOT)}")
    status = 0 if all(r.within_budget for r in results) else 1
    if not argv:
        for script in sorted((ROOT / "tools").glob("bench_*.py")):
            print(f"\nrunning {script.relative_to(ROOT)} ...", flush=True)
            done = subprocess.run([sys.executable, "-m", f"tools.{script.stem}"], cwd=ROOT)
            status = status or done.returncode
        print("\n".join(["", "benchmark files:"] +
                        [f"  {p.relative_to(ROOT)}" for p in sorted(BENCH.glob("*.json"))]))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
