"""``make bench``: execute every chapter in a fresh kernel, measured, then the extra benchmarks.

Chapters are executed two at a time on a 2-core machine, each on a core of its own
(``tools.chapters.run_chapters``; those that start worker processes alone), which takes a
chapter 0-25 % longer than on an idle machine; a chapter over the idle target of
:data:`IDLE_SECONDS` side by side is executed again alone, and that time is the one kept.
So every time in the table is the idle time or above it. ``BOOK_JOBS=1`` runs one at a time.

Writes ``_build/bench/chapters.json`` (a list of ``{"chapter", "seconds", "peak_mb", "ok"}``)
and prints it as a table. Then runs the ``tools/bench_*.py`` scripts whose numbers chapters
quote (through a JSON committed beside the chapter: the word-vector and GAN comparisons),
each writing its own ``_build/bench/<name>.json``; ``--all`` runs the others too (those that
only repeat a chapter's own numbers, ``bench_vae``).

    python -m tools.bench                  # every chapter, then the quoted comparisons
    python -m tools.bench --all            # ... and every other bench_*.py
    python -m tools.bench det_exp_trace    # some chapters only, no scripts

Exit status is non-zero if a chapter fails or leaves the budget.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tools.chapters import BENCH, MAX_PEAK_MB, MAX_SECONDS, ROOT, run_chapter, run_chapters, \
    starts_workers, table, thread_env, toc_chapters, write_json

#: Every chapter's target on an idle 2-core machine (DEVELOPERS.md); the hard limit of the
#: tests is MAX_SECONDS, for slower machines.
IDLE_SECONDS = 40.0


#: The bench scripts that only repeat a chapter's numbers (no chapter reads their output):
#: run by ``--all`` only.
REPEATS = {"bench_vae"}


def run_scripts(parallel: int = 2, every: bool = False) -> int:
    """Run the ``tools/bench_*.py`` (all of them if ``every``, else those not in
    :data:`REPEATS`), ``parallel`` at a time, each logged to its own file.

    Each script keeps to one core (gensim with one worker and one BLAS thread, the GANs on
    one torch thread, the VAEs small), so two side by side take about the time of the longer
    one (bench_gan the longest). Their wall times
    are measured with the other script running: compare them with each other, not with an
    idle machine's.
    """
    scripts = sorted((p for p in (ROOT / "tools").glob("bench_*.py") if every or p.stem not in REPEATS),
                     key=_longest_first)
    BENCH.mkdir(parents=True, exist_ok=True)
    running: list[tuple[Path, subprocess.Popen, float]] = []
    status = 0

    def finish(entry):
        script, proc, started = entry
        code = proc.wait()
        log = BENCH / f"{script.stem}.log"
        print(f"\n--- {script.relative_to(ROOT)}: exit {code}, "
              f"{time.perf_counter() - started:.0f} s (log {log.relative_to(ROOT)})")
        print("\n".join(log.read_text().splitlines()[-25:]), flush=True)
        return code

    for script in scripts:
        while len(running) >= parallel:
            done = next((e for e in running if e[1].poll() is not None), None)
            if done is None:
                time.sleep(1)
                continue
            running.remove(done)
            status = finish(done) or status
        print(f"running {script.relative_to(ROOT)} ...", flush=True)
        log = open(BENCH / f"{script.stem}.log", "w")
        running.append((script, subprocess.Popen([sys.executable, "-m", f"tools.{script.stem}"],
                                                 cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                                 env={**os.environ, **thread_env(1)}),
                        time.perf_counter()))
    for entry in running:
        status = finish(entry) or status
    return status


def _longest_first(script: Path) -> int:
    return 0 if script.stem == "bench_wordvec" else 1


def main(argv: list[str]) -> int:
    every = "--all" in argv
    argv = [a for a in argv if a != "--all"]
    chapters = toc_chapters()
    if argv:  # a subset by file stem: python -m tools.bench det_exp_trace
        chapters = [p for p in chapters if p.stem in argv]
    start = time.perf_counter()
    runs = run_chapters(chapters, say=lambda msg: print(msg, flush=True))
    for path in chapters:
        r = runs[path.stem]
        if r.ok and r.seconds > IDLE_SECONDS and not starts_workers(path) and len(chapters) > 1:
            print(f"{path.stem}: {r.seconds:.1f} s beside another chapter; again, alone ...",
                  flush=True)
            runs[path.stem] = run_chapter(path)
        if runs[path.stem].error:
            print(runs[path.stem].error, file=sys.stderr)
    results = list(runs.values())
    out = write_json(results)
    print(f"\n{len(results)} chapters in {time.perf_counter() - start:.0f} s; budget per chapter: "
          f"{IDLE_SECONDS:.0f} s idle ({MAX_SECONDS:.0f} s hard limit), {MAX_PEAK_MB:.0f} MB peak")
    print(table(results))
    over = [r.chapter for r in results if r.seconds > IDLE_SECONDS]
    print(f"over {IDLE_SECONDS:.0f} s: {', '.join(over) if over else 'none'}")
    print(f"written {out.relative_to(ROOT)}")
    status = 0 if all(r.within_budget for r in results) else 1
    if not argv:
        status = run_scripts(every=every) or status
        print("\n".join(["", "benchmark files:"] +
                        [f"  {p.relative_to(ROOT)}" for p in sorted(BENCH.glob("*.json"))]))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
