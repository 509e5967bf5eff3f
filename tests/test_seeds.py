"""BOOK_SEED is really used: another seed prints other numbers, the same seed the same ones."""

from __future__ import annotations

import re

import nbformat
import pytest

from tools.chapters import ROOT, run_chapter

#: a quick chapter whose printed numbers (test accuracies) depend on every seed it uses,
#: and that prints no wall times
CHAPTER = ROOT / "chapters" / "layers_masks_and_reuse.md"


def printed(path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []) if out.get("output_type") == "stream")


def numbers(text: str) -> list[str]:
    return re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", text)


@pytest.mark.book
def test_book_seed_changes_the_numbers_and_a_seed_repeats_them(tmp_path):
    runs = {}
    for label, seed in (("0", "0"), ("1a", "1"), ("1b", "1")):
        out = tmp_path / f"{label}.ipynb"
        r = run_chapter(CHAPTER, cache=False, env={"BOOK_SEED": seed}, save=out)
        assert r.ok, r.error
        runs[label] = printed(out)
    assert numbers(runs["1a"]) and runs["1a"] == runs["1b"], "the same seed printed other output"
    changed = [(a, b) for a, b in zip(numbers(runs["0"]), numbers(runs["1a"])) if a != b]
    assert len(changed) >= 3, f"BOOK_SEED=1 printed the same numbers as seed 0: {changed}"
