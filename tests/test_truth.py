"""Every chapter says only what its cells computed, captions its figures and ends with
exercises whose solutions assert (tools/truth.py); the rules themselves are tested first."""

from __future__ import annotations

import nbformat
import pytest

from tests.conftest import chapter_result
from tools import truth
from tools.chapters import toc_chapters

CHAPTERS = toc_chapters()


def _nb(*printed: str, image_glued: bool | None = None):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=t) for t in printed]
    if image_glued is not None:
        meta = {"scrapbook": {"name": "fig"}} if image_glued else {}
        cell.outputs.append(nbformat.v4.new_output("display_data", data={"image/png": "iVBO"},
                                                   metadata=meta))
    nb.cells = [cell]
    return nb


def test_a_typed_number_that_a_cell_printed_is_found():
    text = "The loss reaches 0.57 and $\\beta = 0.785$; code `0.1234` and 12 are fine.\n"
    found = [n for _, n in truth.unglued_numbers(text, _nb("loss 0.5682 hq 0.7848 x 0.1234"))]
    assert found == ["0.57", "0.785"]
    assert truth.unglued_numbers("reaches {glue:text}`loss:.2f`.\n", _nb("0.5682")) == []
    assert truth.unglued_numbers("a setting of 0.5\n", _nb("0.5")) == []  # one digit: a setting
    assert [n for _, n in truth.unglued_numbers("near $6\\times10^{-7}$\n", _nb("6.1e-07"))] \
        == ["6e-7"]


def test_a_setting_written_in_the_code_is_not_a_result():
    nb = _nb("p = 0.15: loss 4.81")
    nb.cells[0].source = "for p in [0.15, 0.4]:\n    train(p)"
    assert [n for _, n in truth.unglued_numbers("at $p = 0.15$ the loss is 4.81\n", nb)] == ["4.81"]


def test_numbers_in_code_and_maths_blocks_are_not_prose():
    text = "```{code-cell} ipython3\nprint(0.5682)\n```\n$$\nx = 0.5682\n$$\n"
    assert truth.unglued_numbers(text, _nb("0.5682")) == []


def test_figures_must_be_glued_captioned_and_named():
    assert truth.uncaptioned_figures("", _nb(image_glued=False))
    assert truth.uncaptioned_figures("", _nb(image_glued=True)) == []
    bare = "```{glue:figure} fig\n```\n"
    assert len(truth.uncaptioned_figures(bare, _nb())) == 2
    good = "```{glue:figure} fig\n:name: fig-x\n\nWhat to see.\n```\n"
    assert truth.uncaptioned_figures(good, _nb()) == []
    assert truth.uncaptioned_figures("sliders.show(draw,\n    a=[1, 2])\n", _nb())
    assert truth.uncaptioned_figures("sliders.show(draw, a=f(1), caption='x')\n", _nb()) == []


EXERCISE = """````{{exercise}} Title
:label: ex-{n}

Question.
````

````{{solution-start}} ex-{n}
{cls}
````

```{{code-cell}} ipython3
{code}
```

````{{solution-end}}
````
"""


def _exercises(n=2, cls=":class: dropdown", code="assert 1 + 1 == 2"):
    return "".join(EXERCISE.format(n=i, cls=cls, code=code) for i in range(n))


def test_two_exercises_with_hidden_asserting_solutions():
    assert truth.exercise_problems(_exercises()) == []
    assert truth.exercise_problems(_exercises(n=1))
    assert truth.exercise_problems(_exercises(cls=""))
    assert truth.exercise_problems(_exercises(code="print(1 + 1)"))


@pytest.mark.book
@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_says_only_what_it_computed(path):
    assert chapter_result(path).ok, f"{path.stem} did not execute"
    problems = truth.report(path)
    assert not problems, f"{path.stem}:\n  " + "\n  ".join(problems)
