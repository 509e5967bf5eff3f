"""Static checks that a chapter says only what its cells computed, and shows it properly.

Read by ``tests/test_truth.py`` on each chapter's source and on the notebook its test run
executed (the build's execution cache, filled by ``tools.chapters``):

- ``unglued_numbers``: a decimal number typed in the prose or its inline maths (outside
  code and glue roles) that one of the chapter's cells also prints (the printed value rounded to the
  prose's decimals), unless the code writes it as a literal (a setting, like ``p = 0.15``).
  Such a number must come from the cell through ``{glue:text}``.
- ``uncaptioned_figures``: an image output not stored by ``glue`` (so not shown through a
  numbered ``glue:figure``), a ``glue:figure``/``{figure}`` without a caption or a name,
  and a ``sliders.show`` call without a ``caption=``.
- ``exercise_problems``: fewer than two exercises, a solution without a code cell that
  asserts, a solution that is not a hidden dropdown.
- ``getsource_calls``: code shown by ``inspect.getsource`` instead of ``literalinclude``.

    python -m tools.truth chapters/gan_zoo.md      # the problems of one chapter
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: A decimal number with at least two significant digits (0.568, 0.44, 12.5) or in
#: scientific notation (3.7e-5): short ones (0.5, 10) are usually settings, not results.
_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)(?![\w.]*\d)")
_FENCE = re.compile(r"^(`{3,}|:{3,})\s*(\{[^}]*\})?(.*)$")


def _significant(text: str) -> int:
    mantissa = re.split(r"[eE]", text)[0].replace(".", "").lstrip("0")
    return len(mantissa)


def _strip_inline(line: str) -> str:
    """The line without code, roles with their targets, links and labels (inline maths
    stays: a result typed as $0.785$ is still typed)."""
    line = re.sub(r"\\times\s*10\^\{?(-?\d+)\}?", r"e\1", line)  # 6\times10^{-8} -> 6e-8
    line = re.sub(r"\{[\w:-]+\}`[^`]*`", " ", line)       # {glue:text}`x:.3f`, {cite}`...`
    line = re.sub(r"`[^`]*`", " ", line)
    line = re.sub(r"\]\([^)]*\)", "] ", line)              # link targets
    line = re.sub(r"https?://\S+", " ", line)
    line = re.sub(r"arXiv:\s*\d+\.\d+", " ", line, flags=re.I)
    return line


#: Directives whose body is not prose (code, maths, files, bibliographies).
_NOT_PROSE = {"code-cell", "code", "code-block", "math", "literalinclude", "raw", "eval-rst",
              "bibliography", "glue:math", "glue:any", "glue:text", "toctree", "mermaid"}


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of the markdown prose: no code cells, maths blocks, front matter
    or directive options; a directive's body (a caption, an exercise) counts as prose."""
    out: list[tuple[int, str]] = []
    stack: list[tuple[str, bool]] = []  # open fences, and whether their body is prose
    in_math = front = False
    for i, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if i == 1 and s == "---":
            front = True
            continue
        if front:
            front = s != "---"
            continue
        if stack and s == stack[-1][0]:  # the fence that closes the innermost block
            stack.pop()
            continue
        m = _FENCE.match(s)
        if m:
            name = (m.group(2) or "").strip("{}")
            inside_prose = not stack or stack[-1][1]
            stack.append((m.group(1), inside_prose and bool(name) and name not in _NOT_PROSE))
            continue
        if stack and not stack[-1][1]:
            continue
        if s.startswith("$$"):
            if not (len(s) > 4 and s.endswith("$$")):
                in_math = not in_math
            continue
        if in_math or s.startswith((":", "+++", "<!--")) or re.fullmatch(r"\(.*\)=", s):
            continue
        out.append((i, line))
    return out


def printed_texts(nb) -> list[str]:
    """Everything the notebook's code cells printed or returned as text."""
    texts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                texts.append(out.get("text", ""))
            elif "data" in out and not out.get("metadata", {}).get("scrapbook"):
                texts.append(out["data"].get("text/plain", ""))
    return texts


def _printed_values(nb) -> list[tuple[float, str]]:
    vals = []
    for text in printed_texts(nb):
        for m in re.finditer(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?", text):
            try:
                vals.append((float(m.group()), m.group()))
            except ValueError:
                pass
    return vals


def _matches(prose: str, printed: list[tuple[float, str]]) -> bool:
    value = float(prose)
    if "e" in prose.lower():
        digits = len(re.split(r"[eE]", prose)[0].split(".")[-1]) if "." in prose else 0
        fmt = f"{{:.{digits}e}}"
        want = fmt.format(value)
        return any(fmt.format(abs(v)) == want for v, _ in printed if v)
    decimals = len(prose.split(".")[1])
    return any(round(abs(v), decimals) == value for v, _ in printed)


def _code_literals(nb) -> set[float]:
    """The numbers written in the code cells' source: settings the chapter chose, not results."""
    found = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            for m in re.finditer(r"(?<![\w.])\d*\.?\d+(?:[eE][-+]?\d+)?", cell.source):
                found.add(float(m.group()))
    return found


def unglued_numbers(text: str, nb) -> list[tuple[int, str]]:
    """(line, number) of prose decimals (two or more significant digits, or scientific
    notation) that a cell printed and that are not a setting written in the code."""
    printed, settings = _printed_values(nb), _code_literals(nb)
    found = []
    for i, line in prose_lines(text):
        for m in _NUMBER.finditer(_strip_inline(line)):
            number = m.group(1)
            if not (_significant(number) >= 2 or "e" in number.lower()):
                continue
            if float(number) not in settings and _matches(number, printed):
                found.append((i, number))
    return found


def _directives(text: str, names: tuple[str, ...]) -> list[tuple[int, str, list[str], list[str]]]:
    """(line, name, option lines, body lines) of every directive called one of ``names``."""
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        m = _FENCE.match(line.strip())
        if not (m and m.group(2) and m.group(2).strip("{}") in names):
            continue
        fence, opts, body = m.group(1), [], []
        for nxt in lines[i + 1:]:
            if nxt.strip() == fence:
                break
            (opts if nxt.strip().startswith(":") and not body else body).append(nxt)
        found.append((i + 1, m.group(2).strip("{}"), opts, body))
    return found


def uncaptioned_figures(text: str, nb) -> list[str]:
    """What keeps the chapter's figures from being numbered, captioned and named."""
    problems = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data and not out.get("metadata", {}).get("scrapbook"):
                first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
                problems.append(f"an image shown outside glue:figure (cell starting {first[:50]!r})")
    for line, name, opts, body in _directives(text, ("glue:figure", "figure")):
        if not any(b.strip() for b in body):
            problems.append(f"line {line}: {name} without a caption")
        if not any(o.strip().startswith(":name:") for o in opts):
            problems.append(f"line {line}: {name} without :name: (it cannot be referenced)")
    for m in re.finditer(r"sliders\.show\(", text):
        depth, end = 1, m.end()
        while depth and end < len(text):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        if "caption=" not in text[m.end():end]:
            line = text[:m.start()].count("\n") + 1
            problems.append(f"line {line}: sliders.show without caption=")
    return problems


def exercise_problems(text: str) -> list[str]:
    """Fewer than two exercises, or a solution that does not assert its answer."""
    problems = []
    exercises = _directives(text, ("exercise",))
    if len(exercises) < 2:
        problems.append(f"{len(exercises)} exercise(s), at least 2 wanted")
    starts = [m.start() for m in re.finditer(r"^[`:]{3,}\s*\{solution-start\}", text, flags=re.M)]
    labels = [m.group(1) for m in re.finditer(r"^[`:]{3,}\s*\{solution-start\}\s*(\S+)", text,
                                               flags=re.M)]
    ends = [m.start() for m in re.finditer(r"^[`:]{3,}\s*\{solution-end\}", text, flags=re.M)]
    if len(starts) < len(exercises):
        problems.append(f"{len(exercises)} exercises but {len(starts)} solutions")
    if len(starts) != len(ends):
        problems.append("a solution-start without its solution-end")
    ex_labels = [o.split(":label:")[1].strip() for _, _, opts, _ in exercises
                 for o in opts if ":label:" in o]
    for label in labels:
        if label not in ex_labels:
            problems.append(f"solution for {label!r}, which is no exercise's :label:")
    for start, end in zip(starts, ends):
        block = text[start:end]
        head = block.splitlines()[:4]
        if not any(":class: dropdown" in h for h in head):
            problems.append(f"solution at line {text[:start].count(chr(10)) + 1} is not a dropdown")
        cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", block, flags=re.S)
        if not any(re.search(r"^\s*assert\b", c, flags=re.M) for c in cells):
            problems.append(f"solution at line {text[:start].count(chr(10)) + 1} has no code "
                            "cell with an assert")
    return problems


def getsource_calls(text: str) -> list[int]:
    return [i for i, ln in enumerate(text.splitlines(), 1) if "getsource" in ln]


def executed(path: Path):
    """The chapter as the build shows it: its executed notebook from the build's cache
    (KeyError when the chapter, as it is now, has not been executed)."""
    from jupyter_cache import get_cache

    from tools.chapters import CACHE, read_chapter

    cache = get_cache(str(CACHE))
    record = cache.match_cache_notebook(read_chapter(path))
    return cache.get_cache_bundle(record.pk).nb


def report(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    nb = executed(path)
    problems = [f"line {i}: typed number {n} is printed by a cell: glue it"
                for i, n in unglued_numbers(text, nb)]
    problems += uncaptioned_figures(text, nb)
    problems += exercise_problems(text)
    problems += [f"line {i}: inspect.getsource, use literalinclude" for i in getsource_calls(text)]
    return problems


if __name__ == "__main__":
    bad = 0
    for arg in sys.argv[1:]:
        found = report(Path(arg))
        bad += bool(found)
        print(f"{Path(arg).stem}: {len(found)} problem(s)")
        for p in found:
            print("  " + p)
    sys.exit(1 if bad else 0)
