"""Execute the book's chapters one by one, measured, and fill the build's execution cache.

Each chapter runs in a fresh kernel inside a child process; the child reports the wall
time (kernel start to last cell) and the kernel's peak resident memory, and stores the
executed notebook in the jupyter-cache that ``jupyter-book build`` reads
(``execute_notebooks: cache``). The build then reuses those outputs instead of running
the chapter a second time.

    python -m tools.chapters run chapters/det_exp_trace.md   # one chapter, a table line
    python -m tools.chapters run --no-cache chapters/x.md    # measure only, cache untouched
    python -m tools.chapters list                            # the chapters in _toc.yml
    python -m tools.chapters book                            # make book: see build_book
"""

from __future__ import annotations

import json
import re
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from book import checks

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / ".jupyter_cache"
BENCH = ROOT / "_build" / "bench"
#: The budget of every chapter (DEVELOPERS.md): a free Binder session.
MAX_SECONDS = 60.0
MAX_PEAK_MB = 1536.0
#: Hard stop for a chapter that hangs; it fails the budget long before this.
KILL_AFTER = 600
#: Environment of every kernel: precomputed sliders, stable hashing, no network, and one
#: compute thread. The book's networks are small: a second intra-op thread saves little and
#: its cost depends on the machine. Spinning OpenMP threads make small torch operations
#: 10-90x slower whenever the cores are shared with anything else; sleeping ones (passive)
#: cost a wake-up per operation, which on some machines makes a 64x64 matrix product 25x
#: slower (317 us against 13 us with one thread, measured on a 2-core AMD EPYC VM). One
#: thread is fast everywhere, and it is what a one-CPU Binder session has anyway.
#: ``make robust`` also runs every chapter with two threads.
def thread_env(n: int) -> dict[str, str]:
    """Environment variables that give OpenMP, MKL and OpenBLAS (so torch and NumPy) n threads."""
    return {f"{lib}_NUM_THREADS": str(n) for lib in ("OMP", "MKL", "OPENBLAS")}


KERNEL_ENV = {"BOOK_SLIDERS": "static", "PYTHONHASHSEED": "0", "HF_HUB_OFFLINE": "1",
              "OMP_WAIT_POLICY": "passive", **thread_env(1)}


@dataclass
class Result:
    chapter: str
    seconds: float
    peak_mb: float
    ok: bool
    error: str = ""
    cached: bool = False
    slowest: list = field(default_factory=list)  # [(seconds, first line of the cell)]

    @property
    def last_error(self) -> str:
        """The last non-empty line of the error (the failing assertion), or ''."""
        return next((ln for ln in reversed(self.error.splitlines()) if ln.strip()), "")

    @property
    def within_budget(self) -> bool:
        return self.ok and self.seconds <= MAX_SECONDS and self.peak_mb <= MAX_PEAK_MB


def toc_chapters(toc: Path = ROOT / "_toc.yml") -> list[Path]:
    """The chapter files listed in ``_toc.yml``, in book order (the root page excluded)."""
    data = yaml.safe_load(toc.read_text())
    found: list[Path] = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                # the notebook, not a data file beside it (gan_zoo.json next to gan_zoo.md)
                found.extend([p for p in (ROOT / (node["file"] + ext) for ext in (".md", ".ipynb"))
                              if p.exists()][:1] or [ROOT / (node["file"] + ".md")])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk({k: v for k, v in data.items() if k != "root"})
    return [p for p in found if p.parent.name == "chapters"]


def read_chapter(path: Path):
    """Read a MyST-markdown notebook exactly as MyST-NB does, so cache hashes match."""
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    return read_myst_markdown_notebook(Path(path).read_text(encoding="utf-8"),
                                       MdParserConfig(), add_source_map=True)


def _cell_error(err: Exception) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip().splitlines()
    # nbclient's message ends with the exception line; keep the informative tail
    return "\n".join(text[-12:])


def _child(path: Path, cache: bool, save: str | None = None) -> dict:
    """Run in the child process: execute, measure, cache (and save the notebook to ``save``)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = read_chapter(path)
    for key, value in KERNEL_ENV.items():  # a variable the caller set (make robust) wins
        os.environ.setdefault(key, value)
    client = NotebookClient(nb, timeout=KILL_AFTER, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    error = ""
    start = time.perf_counter()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as err:
        error = _cell_error(err)
    seconds = time.perf_counter() - start
    # the kernel is our child and has been reaped: its peak RSS (kB on Linux)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    slowest = _slowest_cells(nb)
    if save:  # with the cells' timings (nbclient's metadata), for a timeline
        import nbformat

        nbformat.write(nb, save)
    for cell in nb.cells:  # timings are ours; MyST-NB's hash of the cell would differ
        cell.get("metadata", {}).pop("execution", None)
    stored = False
    if not error and cache:
        from jupyter_cache import get_cache
        from jupyter_cache.base import CacheBundleIn

        import fcntl

        CACHE.mkdir(parents=True, exist_ok=True)
        with open(CACHE.parent / ".jupyter_cache.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # chapters executed side by side: one writer
            get_cache(str(CACHE)).cache_notebook_bundle(
                CacheBundleIn(nb, str(path), data={"execution_seconds": seconds}),
                check_validity=False, overwrite=True)
        stored = True
    return asdict(Result(path.stem, round(seconds, 2), round(peak_mb, 1), not error,
                         error, stored, slowest))


def _slowest_cells(nb, count: int = 3) -> list:
    """The cells that took longest, from the timings nbclient records in cell metadata."""
    from datetime import datetime

    timed = []
    for cell in nb.cells:
        ex = cell.get("metadata", {}).get("execution", {})
        start, end = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
        if start and end:
            secs = (datetime.fromisoformat(end.replace("Z", "+00:00"))
                    - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
            first = next((ln for ln in cell.source.splitlines()
                          if ln.strip() and not ln.startswith(":")), "")
            timed.append((round(secs, 2), first[:60]))
    return sorted(timed, reverse=True)[:count]


def run_chapter(path: Path, cache: bool = True, env: dict | None = None,
                save: Path | None = None) -> Result:
    """Execute one chapter in a fresh process and kernel; see the module docstring.

    ``env`` adds environment variables for the kernel (``BOOK_SEED``, thread counts, ...);
    ``save`` is a file to write the executed notebook to (.ipynb).
    """
    path = Path(path).resolve()
    cmd = [sys.executable, "-m", "tools.chapters", "_child", str(path)]
    if not cache:
        cmd.append("--no-cache")
    if save:
        cmd += ["--save", str(save)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                              timeout=KILL_AFTER + 60, env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return Result(path.stem, float(KILL_AFTER), 0.0, False, "timed out")
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return Result(path.stem, 0.0, 0.0, False,
                      f"runner failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return Result(**json.loads(lines[-1]))


def starts_workers(path: Path) -> bool:
    """Whether a chapter starts worker processes of its own (``training.start_side_by_side``
    or ``side_by_side``, one per core): such a chapter uses every core and runs alone."""
    return "side_by_side(" in Path(path).read_text(encoding="utf-8")


def default_jobs() -> int:
    """Chapters executed side by side: ``BOOK_JOBS`` if set, else 2 on a machine with at
    least two cores (each chapter computes on one thread), else 1."""
    raw = os.environ.get("BOOK_JOBS", "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"BOOK_JOBS must be an integer >= 1, got {raw!r}")
        return int(raw)
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def run_chapters(paths: list[Path], jobs: int | None = None, say=print) -> dict[str, Result]:
    """Execute chapters as :func:`run_chapter` does, ``jobs`` at a time (default
    :func:`default_jobs`): first those that start worker processes, one by one, then the
    others side by side, each on a core of its own. Returns the results by stem.

    Side by side, a chapter shares the memory bus and the caches with its neighbour: on the
    book's 2-core machine it takes 0-25 % longer than alone, so a chapter within its 40 s
    idle budget stays well inside the 60 s limit. ``BOOK_JOBS=1`` executes one at a time.
    """
    from concurrent.futures import ThreadPoolExecutor

    jobs = default_jobs() if jobs is None else checks.integer(jobs, "jobs")
    results: dict[str, Result] = {}

    def one(path: Path) -> Result:
        say(f"[book] executing {path.stem} in a fresh kernel ...")
        r = run_chapter(path)
        say(f"[book] {path.stem}: {r.seconds:.1f} s, {r.peak_mb:.0f} MB, "
            f"{'ok' if r.ok else 'FAILED'}")
        return r

    alone = [p for p in paths if jobs == 1 or starts_workers(p)]
    for path in alone:
        results[path.stem] = one(path)
    rest = [p for p in paths if p not in alone]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for path, r in zip(rest, pool.map(one, rest)):
            results[path.stem] = r
    return {p.stem: results[p.stem] for p in paths}


def is_cached(path: Path) -> bool:
    """Whether the build's cache holds an execution of the chapter as it is now."""
    from jupyter_cache import get_cache

    if not CACHE.exists():
        return False
    try:
        get_cache(str(CACHE)).match_cache_notebook(read_chapter(path))
    except KeyError:
        return False
    return True


#: Chapters the build must not execute (comma-separated paths), read by tools/sphinx_fixes.py.
SKIP_ENV = "BOOK_SKIP_EXECUTION"


def build_book(results: dict[str, Result] | None = None, say=print, full: bool = False) -> dict:
    """Execute every chapter, then build the book with -W, even when chapters fail.

    ``results`` holds executions already done (by stem); a chapter not in it is executed
    unless the cache holds it as it is now. A chapter that fails is left out of the build's
    own execution (it would only fail again, after as long), so every other page is built;
    its page has no outputs. Returns ``{"returncode", "log", "html", "failed"}``, where
    ``failed`` maps each failing chapter to its :class:`Result`. ``full`` rebuilds every page
    (``--all``); otherwise Sphinx reads only the pages that changed since the last build.
    """
    results = dict(results or {})
    todo = []
    for path in toc_chapters():
        if path.stem in results:
            continue
        if is_cached(path):
            say(f"[book] {path.stem}: cached")
            continue
        todo.append(path)
    results.update(run_chapters(todo, say=say))
    failed = {stem: r for stem, r in results.items() if not r.ok}
    say("[book] jupyter-book build . -W -n --keep-going ...")
    exe = Path(sys.executable).with_name("jupyter-book")
    skip = ",".join(f"chapters/{stem}.md" for stem in failed)
    proc = subprocess.run([str(exe), "build", str(ROOT), "-W", "-n", "--keep-going"]
                          + (["--all"] if full else []),
                          cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **KERNEL_ENV, SKIP_ENV: skip})
    log = proc.stdout + proc.stderr
    (ROOT / "_build").mkdir(exist_ok=True)
    (ROOT / "_build" / "build.log").write_text(
        log + ("\nbuild succeeded\n" if proc.returncode == 0 else ""))
    say(f"[book] build exit status {proc.returncode} (log: _build/build.log)")
    return {"returncode": proc.returncode, "log": log, "html": ROOT / "_build" / "html",
            "failed": failed}


def failure_table(failed: dict[str, Result]) -> str:
    """Every failing chapter with the last line of its error (the failing assertion)."""
    rows = [f"{len(failed)} chapter(s) failed:", f"{'chapter':32} error"]
    for stem, r in failed.items():
        rows.append(f"{stem:32} {r.last_error[:200]}")
    return "\n".join(rows)


def commit_stamp() -> dict:
    """The commit a benchmark ran on, and whether book/ or tools/ differed from it."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = git("status", "--porcelain", "--", "book", "tools").strip()
    return {"commit": git("rev-parse", "HEAD").strip(), "dirty": bool(dirty)}


def table(results: list[Result]) -> str:
    """The results as a fixed-width table, budget verdict per chapter."""
    rows = [f"{'chapter':32} {'seconds':>8} {'peak MB':>8}  status"]
    for r in results:
        status = ("ok" if r.within_budget else
                  "FAILED" if not r.ok else "OVER BUDGET")
        rows.append(f"{r.chapter:32} {r.seconds:8.1f} {r.peak_mb:8.0f}  {status}")
    return "\n".join(rows)


def write_json(results: list[Result], path: Path = BENCH / "chapters.json") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [{"chapter": r.chapter, "seconds": r.seconds, "peak_mb": r.peak_mb, "ok": r.ok}
            for r in results]
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def main(argv: list[str]) -> int:
    if argv[:1] == ["_child"]:
        save = argv[argv.index("--save") + 1] if "--save" in argv else None
        print(json.dumps(_child(Path(argv[1]), cache="--no-cache" not in argv, save=save)))
        return 0
    if argv[:1] == ["book"]:
        built = build_book()
        if built["failed"]:
            for stem, r in built["failed"].items():
                print(f"\n--- {stem} failed:\n{r.error}", file=sys.stderr)
            print("\n" + failure_table(built["failed"]), file=sys.stderr)
        elif built["returncode"]:
            print("\n".join(built["log"].splitlines()[-30:]), file=sys.stderr)
        print(f"\nThe book is built: open file://{ROOT}/_build/html/index.html"
              if built["returncode"] == 0 and not built["failed"] else
              "\nThe build FAILED (log: _build/build.log); the pages that built are in _build/html")
        return 1 if built["returncode"] or built["failed"] else 0
    if argv[:1] == ["list"]:
        print("\n".join(str(p.relative_to(ROOT)) for p in toc_chapters()))
        return 0
    if argv[:1] == ["run"] and len(argv) > 1:
        results = []
        cache = "--no-cache" not in argv
        for arg in [a for a in argv[1:] if a != "--no-cache"]:
            results.append(run_chapter(Path(arg), cache=cache))
        print(table(results), flush=True)
        for r in results:
            for secs, line in r.slowest:
                print(f"    {secs:6.1f} s  {line}")
        for r in results:
            if r.error:
                print(f"\n--- {r.chapter} failed:\n{r.error}", file=sys.stderr)
        return 0 if all(r.within_budget for r in results) else 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
