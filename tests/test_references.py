"""references.bib: every entry parses, and no two entries render the same citation label.

The book cites in author-year style ("Su, 2019"). Two entries with the same first author
and the same year would both read "Su, 2019"; they must carry year suffixes (2019a, 2019b).
"""

from collections import defaultdict
from pathlib import Path

import pytest
from pybtex.database import parse_file

BIB = Path(__file__).resolve().parent.parent / "references.bib"


@pytest.fixture(scope="module")
def entries():
    return parse_file(str(BIB), bib_format="bibtex").entries


def label(entry) -> tuple[str, str]:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    surname = " ".join(people[0].last_names) if people else entry.fields.get("title", "")
    return surname, entry.fields.get("year", "")


def test_every_entry_has_an_author_title_and_year(entries):
    for key, entry in entries.items():
        assert entry.persons.get("author") or entry.persons.get("editor"), key
        assert entry.fields.get("title") and entry.fields.get("year"), key


def test_author_year_labels_are_unique(entries):
    by_label = defaultdict(list)
    for key, entry in entries.items():
        by_label[label(entry)].append(key)
    clashes = {f"{a}, {y}": keys for (a, y), keys in by_label.items() if len(keys) > 1}
    assert not clashes, ("same first author and year, add year suffixes (2019a, 2019b, ...): "
                         f"{clashes}")


def test_year_suffixes_are_consecutive(entries):
    by_author_year = defaultdict(list)
    for entry in entries.values():
        surname, year = label(entry)
        if year[-1:].isalpha():
            by_author_year[surname, year[:-1]].append(year[-1])
    for (surname, year), letters in by_author_year.items():
        assert sorted(letters) == [chr(ord("a") + i) for i in range(len(letters))], \
            (surname, year, sorted(letters))
