"""KeyedVectors: queries and evaluations on hand-made vectors, checked against
hand-computed results (and gensim's, where gensim is installed)."""
import math
import os

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from tinytransformer.word2vec import KeyedVectors

try:
    import gensim
    from gensim.models import KeyedVectors as GensimKeyedVectors
    GENSIM_DATA = os.path.join(os.path.dirname(gensim.__file__), "test", "test_data")
except ImportError:  # gensim is only used to compare with, never required
    gensim = None

needs_gensim = pytest.mark.skipif(gensim is None, reason="gensim is not installed")


# ----------------------------------------------------------------------------------------
# Queries and evaluations on hand-made vectors
# ----------------------------------------------------------------------------------------
def family_vectors():
    """man = e1, woman = e2, king = e1 + e3, queen = e2 + e3, apple = e4,
    pear = e4 + 0.1 e1: king - man + woman points exactly at queen."""
    e = np.eye(4, dtype=np.float32)
    vectors = np.stack([e[0], e[1], e[0] + e[2], e[1] + e[2], e[3], e[3] + 0.1 * e[0]])
    return KeyedVectors(vectors, ["man", "woman", "king", "queen", "apple", "pear"])


def test_most_similar_similarity_and_doesnt_match():
    kv = family_vectors()
    assert kv.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0] == "queen"
    top = kv.most_similar("apple", topn=2)
    assert [w for w, _ in top] == ["pear", "man"]       # the query word itself is left out
    assert top[0][1] == pytest.approx(1 / math.sqrt(1.01), rel=1e-6)
    assert kv.similarity("king", "queen") == pytest.approx(0.5, rel=1e-6)   # cos 60 degrees
    assert kv.similarity("man", "apple") == pytest.approx(0.0, abs=1e-7)
    assert kv.doesnt_match(["man", "king", "woman", "apple"]) == "apple"
    assert kv.most_similar("king", topn=None).shape == (6,)
    assert len(kv.most_similar("king", topn=10, restrict_vocab=3)) == 2
    with pytest.raises(KeyError, match="unicorn"):
        kv.most_similar("unicorn")


def test_evaluate_word_analogies_on_a_hand_written_file(tmp_path):
    path = tmp_path / "questions.txt"
    path.write_text(": family\n"
                    "man king woman queen\n"        # king - man + woman = queen: correct
                    "woman queen man king\n"        # queen - woman + man = king: correct
                    "MAN KING WOMAN QUEEN\n"        # case-insensitive: correct
                    ": mixed\n"
                    "man woman king apple\n"        # the answer is queen, not apple: wrong
                    "man king woman unicorn\n")     # not in the vocabulary: skipped
    kv = family_vectors()
    score, sections = kv.evaluate_word_analogies(path)
    assert score == 0.75
    assert [s["section"] for s in sections] == ["family", "mixed", "Total accuracy"]
    assert sections[0]["correct"] == [("MAN", "KING", "WOMAN", "QUEEN"),
                                      ("WOMAN", "QUEEN", "MAN", "KING"),
                                      ("MAN", "KING", "WOMAN", "QUEEN")]
    assert sections[1]["incorrect"] == [("MAN", "WOMAN", "KING", "APPLE")]
    assert len(sections[2]["correct"]) == 3 and len(sections[2]["incorrect"]) == 1
    assert kv.evaluate_word_analogies(path, dummy4unknown=True)[0] == 0.6
    assert kv.evaluate_word_analogies(path, restrict_vocab=4)[0] == 1.0   # apple is left out
    assert kv.evaluate_word_analogies(path, case_insensitive=False)[0] == 2 / 3


def test_evaluate_word_pairs_on_a_hand_written_file(tmp_path):
    # unit vectors at 0, 30, 60, 90 and 120 degrees: cosines 0.866, 0.5, 0, -0.5 with "a"
    angles = np.radians([0, 30, 60, 90, 120])
    kv = KeyedVectors(np.stack([np.cos(angles), np.sin(angles)], axis=1), list("abcde"))
    path = tmp_path / "pairs.tsv"
    path.write_text("# word1\tword2\tscore\n"
                    "a\tb\t9\na\tc\t7\na\td\t8\nA\tE\t1\na\tzebra\t5\n")
    (pearson, p_pearson), (spearman, p_spearman), oov = kv.evaluate_word_pairs(path)
    # model ranks 4 3 2 1, gold ranks 4 2 3 1: rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert spearman == pytest.approx(0.8)
    # with 2 degrees of freedom, the two-sided p-value of r is 1 - |r|
    assert p_spearman == pytest.approx(0.2)
    # Pearson by hand: gold deviations (2.75, .75, 1.75, -5.25), model (.6495, .2835, -.2165,
    # -.7165): 5.3815 / sqrt(38.75 * 1.0625) = 0.8387
    model = np.array([math.sqrt(3) / 2, 0.5, 0.0, -0.5])
    gold = np.array([9.0, 7.0, 8.0, 1.0])
    dm, dg = model - model.mean(), gold - gold.mean()
    expected = (dm @ dg) / math.sqrt((dm @ dm) * (dg @ dg))
    assert expected == pytest.approx(0.8387, abs=1e-4)
    assert pearson == pytest.approx(expected, rel=1e-6)
    assert p_pearson == pytest.approx(1 - expected, rel=1e-6)
    assert oov == pytest.approx(20.0)                    # 1 pair of 5 has an unknown word
    assert kv.evaluate_word_pairs(path, dummy4unknown=True)[2] == pytest.approx(20.0)  # 1 of 5


@needs_gensim
def test_evaluations_match_gensim_on_the_same_vectors():
    questions = os.path.join(GENSIM_DATA, "questions-words.txt")
    pairs = os.path.join(GENSIM_DATA, "wordsim353.tsv")
    words = set()
    with open(questions) as f:
        words.update(w.lower() for line in f if not line.startswith(":") for w in line.split())
    with open(pairs) as f:
        words.update(w.lower() for line in f if not line.startswith("#") for w in line.split("\t")[:2])
    words = sorted(words)[::2] + ["Paris", "KING"]   # some questions out of vocabulary; case twins
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(words), 8)).astype(np.float32)
    # plant structure so that a fair share of the analogies is answered right
    vectors[:, :4] += 3 * rng.standard_normal((1, 4)).astype(np.float32)
    ours = KeyedVectors(vectors, words)
    theirs = GensimKeyedVectors(8)
    theirs.add_vectors(words, vectors)
    for restrict in (300000, 300):
        score, sections = ours.evaluate_word_analogies(questions, restrict_vocab=restrict)
        g_score, g_sections = theirs.evaluate_word_analogies(questions, restrict_vocab=restrict)
        assert score == pytest.approx(g_score)
        assert [(s["section"], s["correct"], s["incorrect"]) for s in sections] == \
            [(s["section"], s["correct"], s["incorrect"]) for s in g_sections]
    ours_pairs = ours.evaluate_word_pairs(pairs)
    their_pairs = theirs.evaluate_word_pairs(pairs)
    assert_allclose([*ours_pairs[0], *ours_pairs[1], ours_pairs[2]],
                    [*their_pairs[0], *their_pairs[1], their_pairs[2]], rtol=1e-5)
    query = dict(positive=[words[10], words[20]], negative=[words[30]], topn=5)
    ours_top, their_top = ours.most_similar(**query), theirs.most_similar(**query)
    assert [w for w, _ in ours_top] == [w for w, _ in their_top]
    assert_allclose([s for _, s in ours_top], [s for _, s in their_top], rtol=1e-5)
    odd = [words[1], words[2], words[3], words[4]]
    assert ours.doesnt_match(odd) == theirs.doesnt_match(odd)


def test_keyed_vectors_hold_their_words_in_the_shared_vocab():
    from tinytransformer.data import Vocab
    kv = family_vectors()
    assert isinstance(kv.vocab, Vocab) and kv.vocab.specials == ()
    assert kv.index_to_key is kv.vocab.itos and kv.key_to_index is kv.vocab.stoi
    assert kv.get_index("queen") == 3 and "queen" in kv and "unicorn" not in kv and len(kv) == 6
    with pytest.raises(KeyError, match="unicorn"):
        kv.get_index("unicorn")
    vocab = Vocab(["b", "a"], [5, 2], specials=())
    counted = KeyedVectors(np.eye(2), vocab)
    assert counted.vocab is vocab and counted.counts.tolist() == [5, 2]
    assert counted.vectors.dtype == np.float32
    with pytest.raises(ValueError, match="duplicate"):
        KeyedVectors(np.eye(2), ["a", "a"])
    with pytest.raises(ValueError, match="special"):
        KeyedVectors(np.eye(5), Vocab.build([["x"]]))
    with pytest.raises(ValueError, match="shape"):
        KeyedVectors(np.eye(3), ["a", "b"])


def test_the_statistics_behind_the_p_values():
    from tinytransformer.word2vec import evaluation
    # closed forms of the regularized incomplete beta function
    for x in (0.01, 0.3, 0.5, 0.77, 0.999):
        assert evaluation.betainc(1, 1, x) == pytest.approx(x, rel=1e-12)
        assert evaluation.betainc(3.5, 1, x) == pytest.approx(x ** 3.5, rel=1e-10)
        assert evaluation.betainc(1, 2.5, x) == pytest.approx(1 - (1 - x) ** 2.5, rel=1e-10)
    assert evaluation.betainc(7.0, 7.0, 0.5) == pytest.approx(0.5, rel=1e-12)
    assert evaluation.betainc(2, 3, 0) == 0 and evaluation.betainc(2, 3, 1) == 1
    # with one degree of freedom (n = 3) the t-test's p-value of r is 1 - 2 asin(|r|) / pi
    for r in (0.1, 0.5, -0.9):
        expected = 1 - 2 * math.asin(abs(r)) / math.pi
        assert evaluation.correlation_p_value(r, 3) == pytest.approx(expected, rel=1e-9)
    assert evaluation.correlation_p_value(1.0, 10) == 0.0
    assert math.isnan(evaluation.correlation_p_value(0.5, 2))
    assert_allclose(evaluation.rank(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1, 3.5, 2])
    assert evaluation.pearson(np.arange(5.0), 2 * np.arange(5.0) + 1) == pytest.approx(1.0)
    assert math.isnan(evaluation.pearson(np.ones(3), np.arange(3.0)))
