"""book.representations.triplets: the decoder on hand-built probability tensors, the tag
scheme, the corpus and P/R/F1 against hand counts."""

import numpy as np
import pytest

from book.representations import triplets as T

P = len(T.PREDICATES)


def _probs(n, starts=(), ends=(), high=0.9, low=0.1):
    """(n, 2) start/end probabilities: `high` at the given positions, `low` elsewhere."""
    out = np.full((n, 2), low)
    out[list(starts), 0] = high
    out[list(ends), 1] = high
    return out


def _objects(n, items, high=0.8):
    """(n, P, 2) object probabilities with spans [(predicate, start, end)] switched on."""
    out = np.full((n, P, 2), 0.05)
    for p, a, b in items:
        out[a, p, 0] = out[b, p, 1] = high
    return out


def test_spans_pair_each_start_with_the_nearest_end_after_it():
    start = np.array([0.9, 0.0, 0.7, 0.0, 0.0, 0.6, 0.0])
    end = np.array([0.0, 0.8, 0.9, 0.0, 0.9, 0.0, 0.0])
    # 0 -> 1 (nearest), 2 -> 2 (one-token span), 5 -> no end after it: dropped
    assert T.spans(start, end) == [(0, 1), (2, 2)]
    assert T.spans(start, end, threshold=0.85) == [(0, 2)]      # start 2 and end 1 drop out
    assert T.spans(np.zeros(4), np.ones(4)) == []


def test_decode_chain_where_one_entity_is_object_then_subject():
    # "A1 A2 founded K1 K2 , based in C": (A, founded, K), (K, based_in, C)
    n, founded, based = 8, T.PREDICATES.index("founded"), T.PREDICATES.index("based_in")
    objects = {(0, 1): _objects(n, [(founded, 3, 4)]), (3, 4): _objects(n, [(based, 7, 7)])}
    got = T.decode(_probs(n, starts=[0, 3], ends=[1, 4]), objects.__getitem__)
    assert got == {(0, 1, founded, 3, 4), (3, 4, based, 7, 7)}


def test_decode_one_subject_two_objects_and_one_pair_two_predicates():
    n, founded = 9, T.PREDICATES.index("founded")
    objects = {(0, 1): _objects(n, [(founded, 3, 4), (founded, 6, 8)])}
    got = T.decode(_probs(n, starts=[0], ends=[1]), objects.__getitem__)
    assert got == {(0, 1, founded, 3, 4), (0, 1, founded, 6, 8)}
    born, lives = T.PREDICATES.index("born_in"), T.PREDICATES.index("lives_in")
    objects = {(0, 1): _objects(n, [(born, 6, 7), (lives, 6, 7)])}
    got = T.decode(_probs(n, starts=[0], ends=[1]), objects.__getitem__)
    assert got == {(0, 1, born, 6, 7), (0, 1, lives, 6, 7)}


def test_decode_nested_object_inside_its_subject():
    # "... paris bank ...": (paris bank, based_in, paris), the object inside the subject
    n, based = 6, T.PREDICATES.index("based_in")
    objects = {(2, 3): _objects(n, [(based, 2, 2)])}
    assert T.decode(_probs(n, starts=[2], ends=[3]), objects.__getitem__) == {(2, 3, based, 2, 2)}


def test_decode_cannot_hold_two_subjects_with_one_start():
    # a limitation of the nearest-end rule: spans (0, 0) and (0, 2) give (0, 0) only
    n = 5
    objects = {(0, 0): _objects(n, [(0, 4, 4)]), (0, 2): _objects(n, [(1, 4, 4)])}
    assert T.decode(_probs(n, starts=[0], ends=[0, 2]), objects.__getitem__) == {(0, 0, 0, 4, 4)}


def test_decode_validates_shapes():
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        T.decode(np.zeros((4, 3)), lambda s: np.zeros((4, P, 2)))
    with pytest.raises(ValueError, match=r"\(T, P, 2\)"):
        T.decode(_probs(4, [0], [1]), lambda s: np.zeros((3, P, 2)))
    with pytest.raises(ValueError, match="1-D"):
        T.spans(np.zeros(3), np.zeros(4))


def _corpus(overlap, n=400, seed=0, unseen=0.0):
    return T.generate(n, overlap, np.random.default_rng(seed), unseen=unseen)


def test_pointer_targets_decode_back_to_every_gold_set():
    for s in _corpus(0.5):
        subj, objs = T.pointer_targets(s.triples, len(s.tokens))
        got = T.decode(subj, lambda span: objs.get(span, np.zeros((len(s.tokens), P, 2))))
        assert got == s.triples, s.tokens


def test_templates_are_overlapping_exactly_when_declared():
    assert not any(T.is_overlapping(s.triples) for s in _corpus(0.0))
    assert all(T.is_overlapping(s.triples) for s in _corpus(1.0))
    assert T.is_overlapping({(0, 1, 0, 5, 5), (0, 1, 1, 5, 5)})        # one pair, two predicates
    assert T.is_overlapping({(0, 1, 2, 3, 4), (3, 4, 3, 3, 3)})        # nested
    assert not T.is_overlapping({(0, 1, 0, 3, 3), (5, 6, 1, 8, 9)})


def test_corpus_spans_hold_the_named_entities_and_names_are_held_out():
    for s in _corpus(0.5):
        for s0, s1, p, o0, o1 in s.triples:
            assert 0 <= s0 <= s1 < len(s.tokens) and 0 <= o0 <= o1 < len(s.tokens)
            assert T.PREDICATES[p]
    seen_words = {w for s in _corpus(0.5) for w in s.tokens}
    held = {"rosa", "omar", "parks", "khayyam", "buenos", "hong", "vertex"}
    assert not seen_words & held
    unseen_words = {w for s in _corpus(0.5, unseen=1.0) for w in s.tokens}
    assert held <= unseen_words and "ada" not in unseen_words
    a, b = _corpus(0.5, n=50, seed=3), _corpus(0.5, n=50, seed=3)
    assert [s.tokens for s in a] == [s.tokens for s in b]


def test_encode_pads_and_maps_unknown_words():
    ids, lengths = T.encode([T.Sentence(["ada", "lovelace", "."]), T.Sentence(["rosa"])])
    assert lengths.tolist() == [3, 1] and ids.shape == (2, 3)
    assert ids[1, 0] == T.VOCAB[T.UNK] and ids[1, 1:].tolist() == [0, 0]
    assert ids[0, 0] == T.VOCAB["ada"]
    with pytest.raises(ValueError, match="no tokens"):
        T.encode([T.Sentence([])])


def test_tags_round_trip_without_overlap_and_lose_triples_with_it():
    born, lives = T.PREDICATES.index("born_in"), T.PREDICATES.index("lives_in")
    tags = T.to_tags({(0, 1, born, 4, 5)}, 7)
    assert tags.tolist() == [1 + 2 * born, 1 + 2 * born, 0, 0, 2 + 2 * born, 2 + 2 * born, 0]
    for s in _corpus(0.0):
        assert T.from_tags(T.to_tags(s.triples, len(s.tokens))) == s.triples
    # one pair, two predicates: one tag per token keeps only one of the two triples
    epo = {(0, 1, born, 5, 5), (0, 1, lives, 5, 5)}
    assert T.from_tags(T.to_tags(epo, 7)) == {(0, 1, born, 5, 5)}
    # one subject, two objects of one predicate: both objects pair with the nearest subject
    founded = T.PREDICATES.index("founded")
    two = {(0, 1, founded, 3, 4), (0, 1, founded, 6, 7)}
    assert T.from_tags(T.to_tags(two, 8)) == two


def test_prf_against_a_hand_count():
    a, b, c, x = (0, 0, 0, 1, 1), (2, 2, 1, 3, 3), (0, 1, 2, 4, 4), (5, 5, 3, 6, 6)
    # hits 1 (a), predicted 3, gold 2
    p, r, f = T.prf([{a, b, x}, set()], [{a}, {c}])
    assert (p, r) == pytest.approx((1 / 3, 1 / 2)) and f == pytest.approx(0.4)
    assert T.prf([set()], [{a}]) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="one predicted set per gold set"):
        T.prf([set()], [])


def test_generate_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="number of sentences"):
        T.generate(0, 0.5, rng)
    with pytest.raises(ValueError, match="overlapping"):
        T.generate(5, 1.5, rng)
    with pytest.raises(ValueError, match="unseen"):
        T.generate(5, 0.5, rng, unseen=-0.1)


def test_tags_pair_each_object_with_its_nearest_subject():
    # "P1 lives in C1 , and P2 lives in C2": two subjects of one predicate
    lives = T.PREDICATES.index("lives_in")
    two = {(0, 1, lives, 4, 4), (7, 8, lives, 11, 11)}
    assert T.from_tags(T.to_tags(two, 13)) == two


def test_overlap_kinds_of_hand_built_sets():
    assert T.overlap_kind({(0, 1, 0, 5, 5)}) == "normal"
    assert T.overlap_kind({(0, 1, 0, 5, 5), (0, 1, 1, 5, 5)}) == "pair"
    assert T.overlap_kind({(0, 1, 2, 3, 4), (3, 4, 3, 3, 3)}) == "nested"
    assert T.overlap_kind({(0, 1, 2, 3, 4), (3, 4, 3, 7, 7)}) == "shared"
    kinds = {T.overlap_kind(s.triples) for s in _corpus(1.0)}
    assert kinds == {"pair", "nested", "shared"}
