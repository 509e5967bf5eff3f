"""Triple extraction (chapter ``triplet_extraction``): a synthetic corpus with known triples,
the half-pointer-half-tagging decoder, a one-tag-per-token baseline scheme, and P/R/F1.

A triple is ``(s0, s1, p, o0, o1)``: the subject span ``s0..s1`` and the object span
``o0..o1`` (token indices, both ends included) linked by predicate number ``p``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from book import checks

PREDICATES = ("born_in", "lives_in", "founded", "based_in", "employs")
FIRST = ("ada", "alan", "grace", "linus", "marie", "niels", "emmy", "kurt", "rosa", "omar")
LAST = ("lovelace", "turing", "hopper", "pauling", "curie", "bohr", "noether", "godel",
        "parks", "khayyam")
CITIES = ("paris", "oslo", "lima", "kyoto", "new york", "san jose", "cape town",
          "rio de janeiro", "buenos aires", "hong kong")
BRANDS = ("acme", "apex", "nova", "orbit", "zenith", "vertex")
SUFFIXES = ("motors", "labs", "bank", "systems", "foods")
FILLERS = ("in fact ,", "reportedly ,", "as the archive shows ,")
#: how many names at the end of each list never occur in training sentences
HELD_OUT = {"first": 2, "last": 2, "city": 2, "brand": 1}

# Slots: P person, C city, K company, N company named after a city ("paris bank"); an
# object "N.city" is the city's span inside N (a nested span).  (template, triples)
NORMAL = (
    ("P1 was born in C1 .", [("P1", "born_in", "C1")]),
    ("P1 lives in C1 .", [("P1", "lives_in", "C1")]),
    ("P1 founded K1 .", [("P1", "founded", "K1")]),
    ("K1 is based in C1 .", [("K1", "based_in", "C1")]),
    ("K1 hired P1 .", [("K1", "employs", "P1")]),
    ("P1 visited C1 but was born in C2 .", [("P1", "born_in", "C2")]),
    ("P1 lives in C1 , and P2 was born in C2 .", [("P1", "lives_in", "C1"), ("P2", "born_in", "C2")]),
    ("K1 , based in C1 , praised P1 .", [("K1", "based_in", "C1")]),
    ("P1 met P2 , who lives in C1 .", [("P2", "lives_in", "C1")]),
    ("K1 hired P1 , and K2 is based in C1 .", [("K1", "employs", "P1"), ("K2", "based_in", "C1")]),
)
OVERLAPPING = (
    ("P1 , born in C1 , founded K1 .", [("P1", "born_in", "C1"), ("P1", "founded", "K1")]),
    ("P1 founded K1 and K2 .", [("P1", "founded", "K1"), ("P1", "founded", "K2")]),
    ("P1 founded K1 , which is based in C1 .", [("P1", "founded", "K1"), ("K1", "based_in", "C1")]),
    ("K1 , based in C1 , hired P1 .", [("K1", "based_in", "C1"), ("K1", "employs", "P1")]),
    ("P1 was born and lives in C1 .", [("P1", "born_in", "C1"), ("P1", "lives_in", "C1")]),
    ("P1 founded N1 , named after its home city .",
     [("P1", "founded", "N1"), ("N1", "based_in", "N1.city")]),
    ("K1 hired P1 , who was born in C1 .", [("K1", "employs", "P1"), ("P1", "born_in", "C1")]),
    ("P1 lives in C1 and founded K1 there .",
     [("P1", "lives_in", "C1"), ("P1", "founded", "K1"), ("K1", "based_in", "C1")]),
)
_SEEN = (FIRST[:-HELD_OUT["first"]], LAST[:-HELD_OUT["last"]], CITIES[:-HELD_OUT["city"]],
         BRANDS[:-HELD_OUT["brand"]], SUFFIXES, FILLERS)
_WORDS = {w for t, _ in NORMAL + OVERLAPPING for w in t.split() if not w[-1].isdigit()}
_WORDS |= {w for group in _SEEN for name in group for w in name.split()}
UNK = "<unk>"
#: token -> id of every word a training sentence can hold; 0 is padding, 1 the unknown word
VOCAB = {w: i + 1 for i, w in enumerate([UNK] + sorted(_WORDS))}


@dataclass
class Sentence:
    tokens: list[str]
    triples: set[tuple[int, int, int, int, int]] = field(default_factory=set)


def _entity(kind: str, rng: np.random.Generator, unseen: float) -> list[str]:
    def pick(names, group):                      # a held-out name with probability `unseen`
        k = HELD_OUT.get(group, 0)
        pool = names[len(names) - k:] if k and rng.random() < unseen else names[:len(names) - k]
        return pool[rng.integers(len(pool))].split()
    if kind == "P":
        return pick(FIRST, "first") + pick(LAST, "last")
    if kind == "C":
        return pick(CITIES, "city")
    if kind == "N" or (kind == "K" and rng.random() < 0.3):      # a company named after a city
        return pick(CITIES, "city") + pick(SUFFIXES, "suffix")
    return pick(BRANDS, "brand") + pick(SUFFIXES, "suffix")


def fill(template: str, triples: list[tuple[str, str, str]], rng: np.random.Generator,
         filler: bool = False, unseen: float = 0.0) -> Sentence:
    """Fill the slots of ``template`` with distinct random entities and locate its triples;
    each name is one of the held-out names with probability ``unseen``."""
    tokens, spans, chosen = [], {}, {}
    if filler:
        tokens += FILLERS[rng.integers(len(FILLERS))].split()
    for word in template.split():
        if word[-1].isdigit():
            name = _entity(word[0], rng, unseen)
            while " ".join(name) in chosen.values():              # distinct entities
                name = _entity(word[0], rng, unseen)
            chosen[word] = " ".join(name)
            spans[word] = (len(tokens), len(tokens) + len(name) - 1)
            if word[0] == "N":                                     # the city inside N
                spans[word + ".city"] = (len(tokens), len(tokens) + len(name) - 2)
            tokens += name
        else:
            tokens.append(word)
    found = {spans[s] + (PREDICATES.index(p),) + spans[o] for s, p, o in triples}
    return Sentence(tokens, found)


def generate(n: int, overlap: float, rng: np.random.Generator,
             unseen: float = 0.0) -> list[Sentence]:
    """``n`` sentences, a share ``overlap`` of them (in expectation) from overlapping
    templates; each name is held out of training with probability ``unseen``."""
    checks.integer(n, "the number of sentences")
    checks.number(overlap, "the share of overlapping sentences", 0.0, high=1.0, high_ok=True)
    checks.number(unseen, "the share of unseen names", 0.0, high=1.0, high_ok=True)
    out = []
    for _ in range(n):
        pool = OVERLAPPING if rng.random() < overlap else NORMAL
        template, triples = pool[rng.integers(len(pool))]
        out.append(fill(template, triples, rng, rng.random() < 0.3, unseen))
    return out


def is_overlapping(triples) -> bool:
    """True when two triples share an entity or their entity spans intersect (nesting)."""
    ts = sorted(triples)
    for a in range(len(ts)):
        for b in range(a + 1, len(ts)):
            for x in (ts[a][:2], ts[a][3:]):
                for y in (ts[b][:2], ts[b][3:]):
                    if x[0] <= y[1] and y[0] <= x[1]:
                        return True
    return False


def overlap_kind(triples) -> str:
    """``normal``, or the first that applies of ``pair`` (two triples on one subject-object
    pair), ``nested`` (two distinct spans that intersect) and ``shared`` (an entity in two
    triples)."""
    ts = sorted(triples)
    if len({(t[:2], t[3:]) for t in ts}) < len(ts):
        return "pair"
    entities = {t[:2] for t in ts} | {t[3:] for t in ts}
    if any(a != b and a[0] <= b[1] and b[0] <= a[1] for a in entities for b in entities):
        return "nested"
    return "shared" if is_overlapping(ts) else "normal"


def encode(sentences: list[Sentence]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (B, T), padded with 0, a word outside VOCAB as <unk>; the lengths (B,)."""
    lengths = np.array([len(s.tokens) for s in sentences])
    ids = np.zeros((len(sentences), lengths.max()), dtype=np.int64)
    for i, s in enumerate(sentences):
        if not s.tokens:
            raise ValueError(f"sentence {i} has no tokens")
        ids[i, :lengths[i]] = [VOCAB.get(w, VOCAB[UNK]) for w in s.tokens]
    return ids, lengths


# --- half pointer, half tagging -----------------------------------------------------------

def pointer_targets(triples, n_tokens: int, n_predicates: int = len(PREDICATES)):
    """0/1 targets: subject starts/ends (T, 2), and per subject span the object
    starts/ends of every predicate (T, P, 2)."""
    subj = np.zeros((n_tokens, 2))
    objs: dict[tuple[int, int], np.ndarray] = {}
    for s0, s1, p, o0, o1 in triples:
        subj[s0, 0] = subj[s1, 1] = 1
        obj = objs.setdefault((s0, s1), np.zeros((n_tokens, n_predicates, 2)))
        obj[o0, p, 0] = obj[o1, p, 1] = 1
    return subj, objs


def spans(start: np.ndarray, end: np.ndarray, threshold: float = 0.5) -> list[tuple[int, int]]:
    """Pair every start with the nearest end at or after it: (T,), (T,) -> [(i, j)]."""
    start, end = np.asarray(start), np.asarray(end)
    if start.shape != end.shape or start.ndim != 1:
        raise ValueError(f"start and end must be 1-D of one length, got {start.shape}, {end.shape}")
    ends = np.flatnonzero(end > threshold)
    out = []
    for i in np.flatnonzero(start > threshold):
        later = ends[ends >= i]
        if len(later):
            out.append((int(i), int(later[0])))
    return out


def decode(subject_probs: np.ndarray, object_probs: Callable[[tuple[int, int]], np.ndarray],
           threshold: float = 0.5) -> set[tuple[int, int, int, int, int]]:
    """Triples from subject start/end probabilities (T, 2) and, for each decoded subject
    span, the object start/end probabilities (T, P, 2) that ``object_probs(span)`` returns."""
    subject_probs = np.asarray(subject_probs)
    if subject_probs.ndim != 2 or subject_probs.shape[1] != 2:
        raise ValueError(f"subject probabilities must be (T, 2), got {subject_probs.shape}")
    found = set()
    for s in spans(subject_probs[:, 0], subject_probs[:, 1], threshold):
        obj = np.asarray(object_probs(s))
        if obj.ndim != 3 or obj.shape[0] != len(subject_probs) or obj.shape[2] != 2:
            raise ValueError(f"object probabilities must be (T, P, 2) with T = "
                             f"{len(subject_probs)}, got {obj.shape}")
        for p in range(obj.shape[1]):
            found |= {s + (p,) + o for o in spans(obj[:, p, 0], obj[:, p, 1], threshold)}
    return found


# --- the baseline: one tag per token --------------------------------------------------------

def n_tags(n_predicates: int = len(PREDICATES)) -> int:
    """O, then one tag per (predicate, role) with role subject or object: 1 + 2 P tags."""
    return 1 + 2 * n_predicates


def to_tags(triples, n_tokens: int) -> np.ndarray:
    """One tag per token (T,): 1 + 2 p + role on the tokens of each span; a span whose tokens
    already carry a tag is dropped, which is how a one-tag scheme loses overlapping triples."""
    tags = np.zeros(n_tokens, dtype=np.int64)
    for s0, s1, p, o0, o1 in sorted(triples):
        for role, (a, b) in enumerate(((s0, s1), (o0, o1))):
            if not tags[a:b + 1].any():
                tags[a:b + 1] = 1 + 2 * p + role
    return tags


def from_tags(tags) -> set[tuple[int, int, int, int, int]]:
    """Triples from a tag sequence: a span is a run of one tag; each object is paired with
    the nearest subject of its predicate before it (after it if there is none)."""
    tags = np.asarray(tags)
    found: dict[tuple[int, int], list[tuple[int, int]]] = {}
    i = 0
    while i < len(tags):
        j, t = i, int(tags[i])
        while j + 1 < len(tags) and tags[j + 1] == t:
            j += 1
        if t:
            found.setdefault(((t - 1) // 2, (t - 1) % 2), []).append((i, j))
        i = j + 1
    triples = set()
    for (p, role), objects in found.items():
        subjects = found.get((p, 0), [])
        if role == 1 and subjects:
            for o in objects:
                # preceding subjects first, then the smallest gap between the spans
                s = min(subjects, key=lambda s: (s[0] > o[0], max(o[0] - s[1], s[0] - o[1])))
                triples.add(s + (p,) + o)
    return triples


# --- metrics ---------------------------------------------------------------------------------

def prf(predicted: list[set], gold: list[set]) -> tuple[float, float, float]:
    """Micro precision, recall and F1 over sentences: hits / predicted, hits / gold, and
    their harmonic mean (0 where a denominator is 0)."""
    if len(predicted) != len(gold):
        raise ValueError(f"need one predicted set per gold set, got {len(predicted)} and {len(gold)}")
    hits = sum(len(set(p) & set(g)) for p, g in zip(predicted, gold))
    n_pred, n_gold = sum(map(len, predicted)), sum(map(len, gold))
    precision = hits / n_pred if n_pred else 0.0
    recall = hits / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
