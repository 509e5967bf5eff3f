"""Build a small book holding only the given chapters, to check them in isolation.

    python -m tools.preview chapters/det_exp_trace.md [more.md ...] [--out DIR]

The chapters are executed (fresh kernel), built with the book's own configuration and
``-W -n --keep-going`` (so a failing cell, a bad reference or an unknown citation fails),
into ``DIR`` (default: a folder under ``_build/preview``). Several previews can run side by
side: each has its own build folder and execution cache. Cross-references to chapters
that are not in the preview will be reported as broken.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tools.chapters import KERNEL_ENV, ROOT


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapters", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    stems = [p.stem for p in args.chapters]
    out = (args.out or ROOT / "_build" / "preview" / "-".join(stems)).resolve()
    src = out / "src"
    if src.exists():
        shutil.rmtree(src)
    (src / "chapters").mkdir(parents=True)
    for name in ("_config.yml", "references.bib", "intro.md"):
        shutil.copy(ROOT / name, src / name)
    # a chapter's own entries, not yet merged into references.bib
    with open(src / "references.bib", "a", encoding="utf-8") as bib:
        for path in args.chapters:
            extra = path.with_suffix(".bib")
            if extra.exists():
                bib.write("\n" + extra.read_text(encoding="utf-8"))
    shutil.copytree(ROOT / "static", src / "static")
    for folder in ("tools", "book"):  # book/ too, for {literalinclude} of package code
        shutil.copytree(ROOT / folder, src / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for path in args.chapters:
        shutil.copy(path, src / "chapters" / path.name)
        for extra in path.parent.glob(path.stem + ".*"):  # data or images beside it
            if extra.suffix not in (".md", ".bib"):
                shutil.copy(extra, src / "chapters" / extra.name)
    toc = ["format: jb-book", "root: intro", "chapters:"]
    toc += [f"  - file: chapters/{s}" for s in stems]
    (src / "_toc.yml").write_text("\n".join(toc) + "\n")
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(src), "--path-output", str(out),
           "-W", "-n", "--keep-going"]
    print(" ".join(cmd), flush=True)
    done = subprocess.run(cmd, env={**os.environ, **KERNEL_ENV})
    html = out / "_build" / "html" / "chapters"
    print(f"\npages: {html}/" + (", ".join(f"{s}.html" for s in stems)))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
