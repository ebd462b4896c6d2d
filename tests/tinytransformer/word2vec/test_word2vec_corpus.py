"""Reading a corpus, counting it into the shared Vocab, subsampling and the
noise distribution (tinytransformer.word2vec.corpus, vocabulary, sampling)."""
import os

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from tinytransformer import word2vec as w2v
from tinytransformer.data import Vocab
from tinytransformer.word2vec import LineSentences

TEXT8 = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "data",
                     "text8-2M", "text8_2M.txt")


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
    vocab = w2v.build_vocab(sentences, min_count=2)
    assert isinstance(vocab, Vocab) and vocab.specials == ()    # the one shared vocabulary
    assert vocab.itos == ["b", "a", "c"]         # by count, ties in order of first sight
    assert vocab.counts.tolist() == [3, 2, 2]
    assert vocab.total == 9
    encoded = vocab.encode_array(["c", "zzz", "b"])
    assert encoded.dtype == np.int32 and encoded.tolist() == [2, -1, 0]
    # max_vocab_size prunes rare words while scanning, as gensim does
    many = [[f"rare{i}"] for i in range(50)] + [["common"] * 5]
    pruned = w2v.build_vocab(many, min_count=1, max_vocab_size=10)
    assert "common" in pruned and "rare0" not in pruned and len(pruned) <= 10
    assert w2v.build_vocab(many, min_count=2, max_vocab_size=10).itos == ["common"]
    assert pruned.total == 55                    # pruned words still count as corpus words
    with pytest.raises(ValueError, match="min_count"):
        w2v.build_vocab(sentences, min_count=0)
    with pytest.raises(TypeError, match="list of words"):
        w2v.build_vocab(["a sentence as a string"])


def test_count_words_prunes_like_word2vec_c():
    # the table is pruned whenever it holds more than 3 words: first the words seen once
    # so far, then those seen at most twice, ...
    sentences = [["a", "a", "b", "c"], ["d"], ["a", "b", "e"], ["f", "g"]]
    counts, total = w2v.count_words(sentences, max_vocab_size=3)
    assert total == 10
    # after "d": a:2 b:1 c:1 d:1 -> pruned (count <= 1) to a:2; then a:3 b:1 e:1 (3 words);
    # then a:3 b:1 e:1 f:1 g:1 -> pruned (count <= 2) to a:3
    assert dict(counts) == {"a": 3}
    assert w2v.count_words(sentences)[0] == {"a": 3, "b": 2, "c": 1, "d": 1, "e": 1, "f": 1, "g": 1}


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
    kept_ids = ids[w2v.subsample(ids, keep, rng)]
    observed = np.bincount(kept_ids, minlength=len(counts)) / 40000
    assert_allclose(observed, formula, atol=0.01)
    assert_array_equal(w2v.keep_probabilities(counts, 0), 1)


def test_noise_words_follow_the_unigram_to_the_075():
    counts = np.array([1000, 300, 100, 10, 1])
    p = counts ** 0.75 / (counts ** 0.75).sum()
    assert_allclose(w2v.noise_distribution(counts), p)
    cdf = w2v.noise_cdf(counts, 0.75)
    draws = w2v.draw_noise(cdf, (200000,), np.random.default_rng(1))
    observed = np.bincount(draws, minlength=len(counts)) / draws.size
    assert_allclose(observed, p, atol=0.004)
    # other exponents: 1 is the unigram distribution, 0 the uniform one
    assert_allclose(w2v.noise_distribution(counts, 1.0), counts / counts.sum())
    assert_allclose(w2v.noise_distribution(counts, 0.0), 0.2)


def test_a_bad_byte_is_reported_with_the_file_and_its_offset_in_the_file(tmp_path):
    path = tmp_path / "corpus.txt"
    good = ("word " * 300).encode()              # 1500 bytes, more than one chunk
    path.write_bytes(good + b"caf\xe9 au lait\n")
    with pytest.raises(UnicodeDecodeError, match=r"corpus\.txt.*at byte 1503") as info:
        list(w2v.read_corpus_file(path, chunk_bytes=64))
    assert "UTF-8" in str(info.value)


def test_text_without_whitespace_is_read_in_linear_time(tmp_path):
    """6 MB with no whitespace in 64-byte chunks: the earlier reader re-joined and
    re-searched all it had so far, ~94,000 passes over up to 6 MB (66 s here); the
    linear one takes 0.1 s. The bound is 200x that, so load on the machine does
    not make it fail, but the quadratic reader does."""
    import time
    path = tmp_path / "one_word.txt"
    size = 6_000_000
    path.write_bytes(b"a" * size + b" b\n")
    start = time.perf_counter()
    sentences = list(w2v.read_corpus_file(path, chunk_bytes=64))
    assert time.perf_counter() - start < 20
    assert [len(w) for w in sentences[0]] == [size, 1]
