"""Word2Vec on tinytensor (tinytransformer.word2vec) and Tensor.index_add_.

The losses are checked against finite differences and a NumPy transcription;
the samplers against their formulas; training against a corpus with planted
structure; the evaluations against hand-computed results (and gensim's, where
gensim is installed); the word2vec file formats against files written by hand.
"""
import math
import os
import struct

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import tinytensor as tt
from tinytransformer import word2vec as w2v
from tinytransformer.word2vec import KeyedVectors, LineSentences, Vocabulary, Word2Vec

try:
    import gensim
    from gensim.models import KeyedVectors as GensimKeyedVectors
    GENSIM_DATA = os.path.join(os.path.dirname(gensim.__file__), "test", "test_data")
except ImportError:  # gensim is only used to compare with, never required
    gensim = None

needs_gensim = pytest.mark.skipif(gensim is None, reason="gensim is not installed")
needs_cuda = pytest.mark.skipif(not tt.cuda_is_available(), reason="CUDA is not available")
TEXT8 = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "text8-2M",
                     "text8_2M.txt")


# ----------------------------------------------------------------------------------------
# Tensor.index_add_
# ----------------------------------------------------------------------------------------
def test_index_add_accumulates_repeated_rows():
    w = tt.tensor(np.arange(12, dtype=np.float32).reshape(4, 3))
    before = w.numpy().copy()
    source = np.array([[1, 2, 3], [10, 20, 30], [100, 200, 300], [5, 5, 5]], dtype=np.float32)
    out = w.index_add_(np.array([0, 2, 0, -1]), tt.tensor(source))
    assert out is w
    expected = before.copy()
    expected[0] += source[0] + source[2]
    expected[2] += source[1]
    expected[3] += source[3]
    assert_array_equal(w.numpy(), expected)


def test_index_add_on_1d_and_on_a_parameter_leaf():
    v = tt.zeros(3)
    v.index_add_(tt.tensor(np.array([1, 1, 2])), tt.tensor([1.0, 2.0, 3.0]))
    assert_array_equal(v.numpy(), [0, 3, 3])
    p = tt.Parameter(tt.zeros(2, 2))          # a leaf that requires grad may be updated
    p.index_add_(np.array([1]), tt.ones(1, 2))
    assert_array_equal(p.numpy(), [[0, 0], [1, 1]])
    assert p.grad_fn is None and p.grad is None


def test_index_add_refuses_bad_arguments():
    w = tt.zeros(3, 2)
    with pytest.raises(ValueError, match="does not fit"):
        w.index_add_(np.array([0, 1]), tt.ones(3, 2))
    with pytest.raises(IndexError, match="index values"):
        w.index_add_(np.array([3]), tt.ones(1, 2))
    with pytest.raises(TypeError, match="integer"):
        w.index_add_(np.array([0.0]), tt.ones(1, 2))
    with pytest.raises(TypeError, match="dtype"):
        w.index_add_(np.array([0]), tt.ones(1, 2, dtype=tt.float64))
    x = tt.ones(3, 2, requires_grad=True)
    y = x * 2                                 # a non-leaf in a recorded graph
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.index_add_(np.array([0]), tt.ones(1, 2))
    with tt.no_grad():
        y.index_add_(np.array([0]), tt.ones(1, 2))
    assert_array_equal(y.numpy()[0], [3, 3])


# ----------------------------------------------------------------------------------------
# Reading a corpus
# ----------------------------------------------------------------------------------------
def test_read_corpus_file_streams_lines_and_cuts_long_ones(tmp_path):
    lines = ["le café  noir", "", "über alles \t und", "x " * 25 + "y", "last line no newline"]
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    expected = []
    for line in lines:
        words = line.split()
        expected += [words[i:i + 10] for i in range(0, len(words), 10)]
    for chunk in (1, 3, 7, 1 << 20):           # chunks that cut words and UTF-8 characters
        got = list(w2v.read_corpus_file(path, max_sentence_length=10, chunk_bytes=chunk))
        assert got == expected
    assert list(LineSentences(path, 10)) == expected


@pytest.mark.skipif(not os.path.exists(TEXT8), reason="the text8 prefix is not in ../shared/data")
def test_read_corpus_file_on_text8_matches_a_plain_split():
    with open(TEXT8, "rb") as f:
        head = f.read(200_000)
    words = head[:head.rfind(b" ")].decode().split()
    got = []
    for sentence in w2v.read_corpus_file(TEXT8, max_sentence_length=1000, chunk_bytes=65536):
        got += sentence
        if len(got) >= len(words):
            break
    assert got[:len(words)] == words


# ----------------------------------------------------------------------------------------
# Vocabulary, subsampling, noise
# ----------------------------------------------------------------------------------------
def test_vocabulary_counts_prunes_and_sorts():
    sentences = [["b", "a", "b", "c"], ["c", "b", "d"], ["a", "e"]]
    vocab = Vocabulary.build(sentences, min_count=2)
    assert vocab.words == ["b", "a", "c"]        # by count, ties in order of first sight
    assert vocab.counts.tolist() == [3, 2, 2]
    assert vocab.total_words == 9
    assert vocab.encode(["c", "zzz", "b"]).tolist() == [2, -1, 0]
    # max_vocab_size prunes rare words while scanning, as gensim does
    many = [[f"rare{i}"] for i in range(50)] + [["common"] * 5]
    pruned = Vocabulary.build(many, min_count=1, max_vocab_size=10)
    assert "common" in pruned and "rare0" not in pruned and len(pruned) <= 10
    assert Vocabulary.build(many, min_count=2, max_vocab_size=10).words == ["common"]


def test_subsampling_keeps_words_with_the_formula_frequency():
    counts = np.array([50000, 20000, 5000, 800, 40, 3])
    sample = 1e-2
    keep = w2v.keep_probabilities(counts, sample)
    t = sample * counts.sum()
    formula = np.minimum(1, (np.sqrt(counts / t) + 1) * t / counts)
    assert_allclose(keep, formula, rtol=1e-6)
    assert keep[-1] == 1 and keep[0] < 0.5
    # the sampler used in training, run on many occurrences of each word
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(len(counts)), 40000).astype(np.int32)
    kept_ids = ids[w2v._subsample(ids, keep, rng)]
    observed = np.bincount(kept_ids, minlength=len(counts)) / 40000
    assert_allclose(observed, formula, atol=0.01)
    assert_array_equal(w2v.keep_probabilities(counts, 0), 1)


def test_noise_words_follow_the_unigram_to_the_075():
    counts = np.array([1000, 300, 100, 10, 1])
    p = counts ** 0.75 / (counts ** 0.75).sum()
    assert_allclose(w2v.noise_distribution(counts), p)
    cdf = w2v._noise_cdf(counts, 0.75)
    draws = w2v._draw_noise(cdf, (200000,), np.random.default_rng(1))
    observed = np.bincount(draws, minlength=len(counts)) / draws.size
    assert_allclose(observed, p, atol=0.004)
    # other exponents: 1 is the unigram distribution, 0 the uniform one
    assert_allclose(w2v.noise_distribution(counts, 1.0), counts / counts.sum())
    assert_allclose(w2v.noise_distribution(counts, 0.0), 0.2)


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


# ----------------------------------------------------------------------------------------
# The word2vec file formats
# ----------------------------------------------------------------------------------------
HAND_VECTORS = np.array([[0.5, -1.25, 2.0], [0.0, 0.001, -3.5]], dtype=np.float32)
HAND_WORDS = ["hello", "wörld"]


def test_text_format_matches_a_file_written_by_hand_and_round_trips(tmp_path):
    path = tmp_path / "vectors.txt"
    KeyedVectors(HAND_VECTORS, HAND_WORDS).save_word2vec_format(path)
    assert path.read_bytes() == "2 3\nhello 0.5 -1.25 2.0\nwörld 0.0 0.001 -3.5\n".encode()
    rng = np.random.default_rng(0)
    vectors = (rng.standard_normal((50, 7)) * 10.0 ** rng.integers(-8, 8, (50, 7))).astype(np.float32)
    words = [f"w{i}" for i in range(48)] + ["ünïcode", "x"]
    KeyedVectors(vectors, words).save_word2vec_format(path)
    back = KeyedVectors.load_word2vec_format(path)
    assert back.index_to_key == words
    assert_array_equal(back.vectors, vectors)           # exactly: the shortest repr round-trips
    assert KeyedVectors.load_word2vec_format(path, limit=3).index_to_key == words[:3]


def test_binary_format_matches_a_file_written_by_hand_and_round_trips(tmp_path):
    path = tmp_path / "vectors.bin"
    KeyedVectors(HAND_VECTORS, HAND_WORDS).save_word2vec_format(path, binary=True)
    expected = (b"2 3\n" + b"hello " + struct.pack("<3f", 0.5, -1.25, 2.0) + b"\n"
                + "wörld ".encode() + struct.pack("<3f", 0.0, 0.001, -3.5) + b"\n")
    assert path.read_bytes() == expected
    back = KeyedVectors.load_word2vec_format(path, binary=True)
    assert back.index_to_key == HAND_WORDS
    assert_array_equal(back.vectors, HAND_VECTORS)
    # without the newline after each vector (as gensim writes it), and a vector whose
    # bytes contain spaces and newlines
    tricky = np.frombuffer(b"\n \n  \n\n \n\n  ", dtype="<f4").reshape(1, 3)
    path.write_bytes(b"2 3\n" + b"a " + tricky.tobytes() + b"b " + HAND_VECTORS[0].tobytes())
    back = KeyedVectors.load_word2vec_format(path, binary=True)
    assert back.index_to_key == ["a", "b"]
    assert_array_equal(back.vectors, np.concatenate([tricky, HAND_VECTORS[:1]]))


def test_formats_refuse_broken_files(tmp_path):
    path = tmp_path / "broken.txt"
    path.write_text("3 2\na 1 2\nb 3 4\n")
    with pytest.raises(EOFError):
        KeyedVectors.load_word2vec_format(path)
    path.write_text("1 2\na 1 2 3\n")
    with pytest.raises(ValueError, match="expected a word and 2 values"):
        KeyedVectors.load_word2vec_format(path)
    path.write_bytes(b"2 2\na " + struct.pack("<2f", 1, 2))
    with pytest.raises(EOFError):
        KeyedVectors.load_word2vec_format(path, binary=True)
    with pytest.raises(ValueError, match="whitespace"):
        KeyedVectors(np.zeros((1, 2)), ["two words"]).save_word2vec_format(tmp_path / "x.txt")


@needs_gensim
@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_our_files_and_we_read_gensims(tmp_path, binary):
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((30, 5)).astype(np.float32)
    words = [f"wörd{i}" for i in range(30)]
    ours_path, their_path = tmp_path / "ours", tmp_path / "theirs"
    KeyedVectors(vectors, words).save_word2vec_format(ours_path, binary=binary)
    theirs = GensimKeyedVectors.load_word2vec_format(ours_path, binary=binary)
    assert theirs.index_to_key == words
    assert_array_equal(theirs.vectors, vectors)
    theirs.save_word2vec_format(their_path, binary=binary)
    back = KeyedVectors.load_word2vec_format(their_path, binary=binary)
    assert back.index_to_key == words
    assert_array_equal(back.vectors, vectors)


# ----------------------------------------------------------------------------------------
# The losses: gradients and values
# ----------------------------------------------------------------------------------------
def log_sigmoid(x):
    return -np.log1p(np.exp(-x))


def random_block_arrays(seed, n=2, g=3, window=1, m=4, d=3):
    rng = np.random.default_rng(seed)
    p = g + 2 * window
    windows = (rng.random((n, g, p)) < 0.6).astype(np.float64)
    return dict(
        inputs=rng.standard_normal((n, p, d)), windows=windows,
        centres=rng.standard_normal((n, g, d)), noise=rng.standard_normal((n, m, d)),
        centre_weights=(rng.random((n, g)) < 0.8).astype(np.float64),
        cbow_noise_weights=rng.random((n, g, m)), sg_noise_weights=rng.random((n, p, m)))


def leaves(arrays, names=("inputs", "centres", "noise")):
    return {k: tt.tensor(arrays[k], requires_grad=True) for k in names}


def test_cbow_loss_gradcheck_and_value():
    a = random_block_arrays(0)
    t = leaves(a)

    def loss(inputs, centres, noise):
        return w2v.cbow_loss(inputs, a["windows"], centres, noise, a["centre_weights"],
                             a["cbow_noise_weights"])

    assert tt.gradcheck(loss, [t["inputs"], t["centres"], t["noise"]])
    expected = 0.0                       # a loop over centre words, straight from the formula
    for n in range(2):
        for i in range(3):
            h = a["windows"][n, i] @ a["inputs"][n]
            expected -= a["centre_weights"][n, i] * log_sigmoid(h @ a["centres"][n, i])
            for m in range(4):
                expected -= a["cbow_noise_weights"][n, i, m] * log_sigmoid(-h @ a["noise"][n, m])
    assert loss(t["inputs"], t["centres"], t["noise"]).item() == pytest.approx(expected, rel=1e-12)


def test_skipgram_loss_gradcheck_and_value():
    a = random_block_arrays(1)
    t = leaves(a)

    def loss(inputs, centres, noise):
        return w2v.skipgram_loss(inputs, a["windows"], centres, noise, a["sg_noise_weights"])

    assert tt.gradcheck(loss, [t["inputs"], t["centres"], t["noise"]])
    expected = 0.0                       # a loop over (context, centre) pairs and noise terms
    for n in range(2):
        for p in range(5):
            x = a["inputs"][n, p]
            for i in range(3):
                expected -= a["windows"][n, i, p] * log_sigmoid(x @ a["centres"][n, i])
            for m in range(4):
                expected -= a["sg_noise_weights"][n, p, m] * log_sigmoid(-x @ a["noise"][n, m])
    assert loss(t["inputs"], t["centres"], t["noise"]).item() == pytest.approx(expected, rel=1e-12)


def test_cbow_mean_straight_through_gives_word2vecs_context_update():
    a = random_block_arrays(2, g=1, window=2)          # one centre word per block
    ones = (a["windows"] > 0).astype(np.float64)
    count = np.maximum(ones.sum(axis=2, keepdims=True), 1)
    mean, straight = leaves(a), leaves(a)
    args = (a["centre_weights"], a["cbow_noise_weights"])
    exact = w2v.cbow_loss(mean["inputs"], ones / count, mean["centres"], mean["noise"], *args)
    word2vec = w2v.cbow_loss(straight["inputs"], ones, straight["centres"], straight["noise"],
                             *args, straight_through=1 / count)
    assert word2vec.item() == pytest.approx(exact.item(), rel=1e-12)   # the same loss...
    exact.backward()
    word2vec.backward()
    for name in ("centres", "noise"):
        assert_allclose(straight[name].grad.numpy(), mean[name].grad.numpy(), rtol=1e-12)
    # ...but each context word gets the hidden vector's whole gradient, not 1/count of it
    assert_allclose(straight["inputs"].grad.numpy(), mean["inputs"].grad.numpy() * count,
                    rtol=1e-12)


# ----------------------------------------------------------------------------------------
# Batches
# ----------------------------------------------------------------------------------------
def test_make_batch_cuts_the_windows_of_the_formula():
    rng = np.random.default_rng(3)
    n, window, block = 40, 3, 4
    ids = rng.integers(0, 50, n).astype(np.int32)
    sentence = np.repeat(np.arange(6), [7, 1, 12, 5, 9, 6]).astype(np.int32)  # one 1-word sentence
    radius = rng.integers(1, window + 1, n).astype(np.int32)
    counts = rng.integers(1, 100, 50)
    cdf = w2v._noise_cdf(counts, 0.75)
    start, stop = 5, 31                                 # 26 centres: 6 full blocks + 2
    for sg in (0, 1):
        b = w2v._make_batch(ids, sentence, radius, start, stop, window, block, 8, 5, cdf,
                            np.random.default_rng(0), sg)
        assert b.windows.shape == (7, block, block + 2 * window)
        expected = np.zeros_like(b.windows)
        pairs = 0
        for c in range(start, stop):
            j, i = divmod(c - start, block)
            assert b.centres[j, i] == ids[c]
            for o in range(-radius[c], radius[c] + 1):
                if o and 0 <= c + o < n and sentence[c + o] == sentence[c]:
                    first = start + j * block - window      # corpus position of column 0
                    expected[j, i, c + o - first] = 1
                    assert b.positions[j, c + o - first] == ids[c + o]
                    pairs += 1
        assert_array_equal(b.windows, expected)
        assert b.pairs == pairs and b.examples == (pairs if sg else (b.count > 0).sum())
        assert_array_equal(b.centre_weights, b.count > 0)
        assert b.centre_weights[-1, 2:].sum() == 0          # padding past `stop`
        # K/M per noise word, 0 where it is the centre word itself
        same = b.noise[:, None, :] == b.centres[:, :, None]
        cbow_weights = np.where(same, 0, 5 / 8) * b.centre_weights[..., None]
        if sg:
            assert_allclose(b.noise_weights, expected.swapaxes(1, 2) @ cbow_weights, rtol=1e-6)
        else:
            assert_allclose(b.noise_weights, cbow_weights, rtol=1e-6)


def test_row_scale_caps_a_words_update_at_row_cap_examples():
    ids = np.array([[1, 1, 2], [3, 1, 2]])
    uses = np.array([[40.0, 40.0, 10.0], [70.0, 0.0, 10.0]])
    scale = w2v._row_scale(ids, uses, 64)  # at most 64 examples per word
    assert_allclose(scale, [[0.8, 0.8, 1.0], [64 / 70, 0.8, 1.0]], rtol=1e-6)


# ----------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------
ANIMALS = "cat dog horse cow sheep goat pig duck mouse lion".split()
COLOURS = "red blue green yellow purple orange pink brown black white".split()


def topic_corpus(sentences=300, length=8, seed=0):
    """Sentences that each use the words of one topic only."""
    rng = np.random.default_rng(seed)
    corpus = []
    for k in range(sentences):
        topic = ANIMALS if k % 2 else COLOURS
        corpus.append([topic[j] for j in rng.integers(0, len(topic), length)])
    return corpus


def mean_similarity(kv, group_a, group_b):
    sims = [kv.similarity(a, b) for a in group_a for b in group_b if a != b]
    return float(np.mean(sims))


@pytest.mark.parametrize("sg", [0, 1])
def test_planted_topics_are_learned(sg):
    model = Word2Vec(topic_corpus(), vector_size=16, window=3, min_count=1, sample=0, sg=sg,
                     epochs=8, alpha=0.05, batch_size=200, seed=1, progress=False)
    kv = model.wv
    within = (mean_similarity(kv, ANIMALS, ANIMALS) + mean_similarity(kv, COLOURS, COLOURS)) / 2
    across = mean_similarity(kv, ANIMALS, COLOURS)
    assert within > across + 0.15, (within, across)
    for word in ("cat", "red"):
        topic = ANIMALS if word in ANIMALS else COLOURS
        assert all(w in topic for w, _ in kv.most_similar(word, topn=5))
    assert kv.doesnt_match(["cat", "dog", "cow", "blue"]) == "blue"
    assert kv.doesnt_match(["red", "pink", "lion", "black"]) == "lion"
    assert model.epoch_losses[-1] < model.epoch_losses[0]



def test_epoch_loss_is_the_mean_loss_per_example():
    # With a vanishing learning rate the vectors stay at their start, where every output
    # vector is zero, so every score is 0 and each term costs log 2: an example costs
    # (1 + K) log 2, less the rare noise words equal to the centre word (left out).
    corpus = [[f"w{i}" for i in np.random.default_rng(k).integers(0, 300, 12)] for k in range(200)]
    for sg in (0, 1):
        model = Word2Vec(corpus, min_count=1, sample=0, sg=sg, alpha=1e-12, min_alpha=0,
                         epochs=2, negative=5, progress=False)
        assert model.epoch_losses == pytest.approx([6 * math.log(2)] * 2, rel=0.01)


def test_training_is_reproducible_and_prints_progress(capsys):
    corpus = topic_corpus(100)
    runs = [Word2Vec(corpus, vector_size=8, min_count=1, epochs=2, seed=5, progress=True)
            for _ in range(2)]
    assert_array_equal(runs[0].wv.vectors, runs[1].wv.vectors)
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "words/s" in err and "loss" in err
    other = Word2Vec(corpus, vector_size=8, min_count=1, epochs=2, seed=6, progress=False)
    assert not np.array_equal(other.wv.vectors, runs[0].wv.vectors)


def test_corpus_file_and_sentences_train_the_same(tmp_path):
    corpus = topic_corpus(120)
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(" ".join(s) for s in corpus) + "\n")
    kwargs = dict(vector_size=8, min_count=1, epochs=2, seed=3, progress=False)
    from_file = Word2Vec(corpus_file=str(path), **kwargs)
    from_list = Word2Vec(corpus, **kwargs)
    assert from_file.vocab.words == from_list.vocab.words
    assert_array_equal(from_file.wv.vectors, from_list.wv.vectors)


def test_save_load_and_continue_training(tmp_path):
    corpus = topic_corpus(150)
    model = Word2Vec(corpus, vector_size=8, min_count=1, epochs=2, seed=2, progress=False)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = Word2Vec.load(path, progress=False)
    assert loaded.vocab.words == model.vocab.words
    assert_array_equal(loaded.wv.vectors, model.wv.vectors)
    assert_array_equal(loaded.output_embedding.numpy(), model.output_embedding.numpy())
    assert (loaded.sg, loaded.window, loaded.epochs_trained) == (model.sg, model.window, 2)
    # continuing from the file is the same as continuing the model in memory
    model.train(corpus, epochs=1)
    loaded.train(corpus, epochs=1)
    assert loaded.epochs_trained == 3 and len(loaded.epoch_losses) == 3
    assert_array_equal(loaded.wv.vectors, model.wv.vectors)
    with pytest.raises(ValueError, match="not of a Word2Vec"):
        from tinytransformer.utils.checkpoint import save_checkpoint
        save_checkpoint(tmp_path / "other.npz", None, config={"model": "Transformer"})
        Word2Vec.load(tmp_path / "other.npz")


def test_worker_processes_update_the_shared_vectors():
    model = Word2Vec(topic_corpus(), vector_size=16, window=3, min_count=1, sample=0,
                     epochs=6, batch_size=100, workers=2, seed=1, progress=False)
    kv = model.wv
    within = (mean_similarity(kv, ANIMALS, ANIMALS) + mean_similarity(kv, COLOURS, COLOURS)) / 2
    assert within > mean_similarity(kv, ANIMALS, COLOURS) + 0.15
    assert len(model.epoch_losses) == 6 and model.epoch_losses[-1] < model.epoch_losses[0]


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(TypeError, match="iterator"):
        Word2Vec(iter([["a", "b"]]), min_count=1)
    with pytest.raises(TypeError, match="list of words"):
        Word2Vec(["a sentence as a string"], min_count=1)
    with pytest.raises(ValueError, match="not both"):
        Word2Vec([["a"]], corpus_file="x.txt")
    with pytest.raises(ValueError, match="min_count"):
        Word2Vec([["a", "b"]], min_count=5, progress=False)
    with pytest.raises(ValueError, match="sg"):
        Word2Vec(sg=2)
    with pytest.raises(RuntimeError, match="build_vocab"):
        Word2Vec().train([["a"]])


@needs_cuda
def test_training_on_the_gpu_matches_the_topics():
    model = Word2Vec(topic_corpus(), vector_size=16, window=3, min_count=1, sample=0,
                     epochs=8, batch_size=100, seed=1, device="cuda", progress=False)
    assert model.input_embedding.device == "cuda"
    kv = model.wv
    within = (mean_similarity(kv, ANIMALS, ANIMALS) + mean_similarity(kv, COLOURS, COLOURS)) / 2
    assert within > mean_similarity(kv, ANIMALS, COLOURS) + 0.15
    cpu = Word2Vec(topic_corpus(), vector_size=16, window=3, min_count=1, sample=0,
                   epochs=8, batch_size=100, seed=1, device="cpu", progress=False)
    assert_allclose(model.epoch_losses, cpu.epoch_losses, rtol=1e-2)


def test_a_failing_worker_process_is_reported(monkeypatch):
    def broken_step(self, batch, lr):
        raise ValueError("boom in a worker")

    monkeypatch.setattr(Word2Vec, "_step", broken_step)
    model = Word2Vec(vector_size=8, min_count=1, epochs=1, workers=2, progress=False)
    corpus = topic_corpus(400)
    model.build_vocab(corpus)
    with pytest.raises(RuntimeError, match="boom in a worker"):
        model.train(corpus)
