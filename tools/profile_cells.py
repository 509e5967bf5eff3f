"""CPU seconds per code cell of a chapter, run in this process (for finding slow cells).

    python -m tools.profile_cells chapters/det_exp_trace.md

CPU time (all threads of this process) is much less disturbed than wall time when the
machine is busy, so it helps to judge a chapter's cost while other work runs.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

import matplotlib

from tools.chapters import KERNEL_ENV, read_chapter


def main(argv: list[str]) -> int:
    matplotlib.use("Agg")
    os.environ.update(KERNEL_ENV)
    path = Path(argv[0]).resolve()
    os.chdir(path.parent)
    ns: dict = {"__name__": "__main__"}
    total_cpu, total_wall = 0.0, 0.0
    for cell in read_chapter(path).cells:
        if cell.cell_type != "code":
            continue
        src = "\n".join(ln for ln in cell.source.splitlines() if not ln.startswith(("%", "!")))
        c0, w0 = time.process_time(), time.perf_counter()
        exec(compile(src, str(path), "exec"), ns)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        total_cpu, total_wall = total_cpu + cpu, total_wall + wall
        first = next((ln for ln in src.splitlines() if ln.strip()), "")[:60]
        print(f"cpu {cpu:6.2f} s  wall {wall:6.2f} s  {first}", file=sys.__stderr__)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"total cpu {total_cpu:.1f} s, wall {total_wall:.1f} s, peak {peak:.0f} MB",
          file=sys.__stderr__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
