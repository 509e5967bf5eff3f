"""The layout of book/: one subpackage per part of _toc.yml, the cross-cutting modules at the
top, small modules, and tests/ mirroring it."""

from __future__ import annotations

import importlib
import pkgutil
import types
from pathlib import Path

import pytest
import yaml

import book

ROOT = Path(book.__file__).resolve().parent.parent
#: subpackage of book/ -> the overview page of its part in _toc.yml, in book order
PARTS = {"warmups": "parts/warmups", "optim": "parts/optimisation",
         "regularise": "parts/regularisation", "representations": "parts/representations",
         "generative": "parts/generative"}
#: the modules every part uses, the only ones at the top of book/
CROSS_CUTTING = {"sliders", "frames", "live_sliders", "checks", "training", "data", "seeding", "stacked"}
MAX_LINES = 320


def modules() -> list[types.ModuleType]:
    """Every module and package of book/, imported."""
    found = [book]
    for info in pkgutil.walk_packages(book.__path__, prefix="book."):
        found.append(importlib.import_module(info.name))
    return found


def toc_parts() -> dict[str, list[str]]:
    """Overview page of each part -> the stems of its chapters, as _toc.yml lists them."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return {page["file"]: [Path(s["file"]).stem for s in page.get("sections", [])]
            for part in toc["parts"] for page in part["chapters"]}


def test_subpackages_are_the_parts_of_the_toc():
    assert list(toc_parts()) == list(PARTS.values())
    packages = {m.__name__.split(".")[1] for m in modules()
                if m is not book and hasattr(m, "__path__")}
    assert packages == set(PARTS)


def test_every_module_sits_in_a_part_or_is_cross_cutting():
    for m in modules():
        parts = m.__name__.split(".")[1:]
        if len(parts) == 1 and not hasattr(m, "__path__"):
            assert parts[0] in CROSS_CUTTING, f"{m.__name__} is a flat module outside the parts"
        elif parts:
            assert parts[0] in PARTS, f"{m.__name__} is not in a subpackage named for a part"
            assert len(parts) <= 2, f"{m.__name__} is nested below its part's subpackage"


@pytest.mark.parametrize("module", modules(), ids=lambda m: m.__name__)
def test_modules_are_small(module):
    lines = len(Path(module.__file__).read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module.__name__} has {lines} lines; split it by idea"


@pytest.mark.parametrize("name", PARTS)
def test_part_packages_name_their_chapters_and_re_export_nothing(name):
    package = importlib.import_module(f"book.{name}")
    doc = package.__doc__ or ""
    for chapter in toc_parts()[PARTS[name]]:
        assert chapter in doc, f"book.{name}'s docstring does not name its chapter {chapter}"
    public = {k for k, v in vars(package).items()
              if not k.startswith("_") and not isinstance(v, types.ModuleType)}
    assert not public, f"book.{name} re-exports {sorted(public)}; import the modules instead"


def test_tests_mirror_the_package():
    tests = Path(__file__).resolve().parent
    assert {p.name for p in tests.iterdir() if (p / "__init__.py").exists()} == set(PARTS)
    for part in PARTS:
        for test in (tests / part).glob("test_*.py"):
            module = ROOT / "book" / part / f"{test.stem.removeprefix('test_')}.py"
            assert module.exists(), f"{test.relative_to(tests)} tests no module of book/{part}/"
    for test in tests.glob("test_*.py"):
        name = test.stem.removeprefix("test_")
        assert not any((ROOT / "book" / part / f"{name}.py").exists() for part in PARTS), \
            f"{test.name} belongs in the folder of its part"
