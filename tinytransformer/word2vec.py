"""Word2Vec on tinytensor: CBOW and skip-gram with negative sampling.

Mikolov et al. (2013) learn two vectors per word: an *input* vector (the word
vector you keep) and an *output* vector. For a centre word c and a word o of
its context window, the model learns to tell the real pair from K noise pairs,
the noise words n_k drawn from the unigram distribution raised to 0.75:

    loss = -log sigmoid(x . u_c) - sum_k log sigmoid(-x . u_{n_k})

u are output vectors; x is, for skip-gram, the input vector of one context word
(gensim's orientation: the context word predicts the centre word) and, for
CBOW, the mean (or sum) of the input vectors of the whole window.

How training is organised. What word2vec.c does in a loop over words is here a
handful of array operations over a batch of a few thousand centre words:

* Host side (NumPy): read the corpus in chunks, map words to ids, drop frequent
  words at random (subsampling), draw each centre word's window radius, cut the
  windows and draw the noise words. A batch is cut into blocks of G consecutive
  centre words (see `_make_batch`).
* tinytensor: gather the rows of both embeddings that the batch touches with
  `tt.take`, as small leaf tensors; compute the loss with `tt.matmul` and
  `tt.log_sigmoid` (`cbow_loss`, `skipgram_loss`); `loss.backward()`; then the
  SGD step on just those rows with `Tensor.index_add_` (a word that occurs
  several times accumulates). No dense (V, d) gradient is ever formed, and
  nothing loops over words or pairs in Python.

The loss is summed over examples, so alpha is gensim's per-example step size;
it decays linearly from `alpha` to `min_alpha` over the whole run. Where this
differs from word2vec.c / gensim, which update after every example:

* All examples of a batch see the vectors as they were at its start. A word
  used by many examples of one batch would then take a step worth all of them
  at once and overshoot, so one batch moves a row by at most `row_cap / lr`
  examples' worth (the mean of its examples' steps beyond that). The many
  rarer words, the ones the evaluations are about, are not affected.
* The examples of a block share M noise words, each weighing K / M, instead of
  K noise words each: the same expected gradient, from far fewer rows.

Vectors are queried through `KeyedVectors` (model.wv), whose API, evaluation
results and word2vec file formats follow gensim's.
"""
import io
import itertools
import math
import mmap
import multiprocessing
import os
import queue
import sys
import threading
import time
import traceback
from collections import Counter

import numpy as np

import tinytensor as tt
from tinytensor import Parameter, Tensor, backend

from .utils.checkpoint import atomic_write, load_checkpoint, save_checkpoint
from .nn.module import Module

__all__ = ["Word2Vec", "KeyedVectors", "Vocabulary", "LineSentences", "read_corpus_file",
           "cbow_loss", "skipgram_loss", "keep_probabilities", "noise_distribution"]

MAX_SENTENCE_LENGTH = 10000   # as gensim: longer lines are cut into sentences this long


# ----------------------------------------------------------------------------------------
# Reading a corpus: one sentence per line, streamed
# ----------------------------------------------------------------------------------------
_WHITESPACE = (b" ", b"\n", b"\t", b"\r", b"\f", b"\v")


def read_corpus_file(path, max_sentence_length=MAX_SENTENCE_LENGTH, chunk_bytes=1 << 20):
    """Yield the sentences of a plain-text file as lists of words.

    One line is one sentence; words are separated by whitespace. The file is
    read `chunk_bytes` at a time and a line longer than `max_sentence_length`
    words (text8 is one line of 17M words) comes out in pieces of that many
    words, so memory stays bounded however large the file or its lines.
    """
    if max_sentence_length < 1:
        raise ValueError(f"max_sentence_length must be >= 1, got {max_sentence_length}")
    line = []  # the words of the current line not yet yielded
    leftover = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk_bytes)
            data = leftover + block
            if block:
                # Cut after the last whitespace byte, so no word (and no UTF-8
                # character: whitespace bytes never occur inside one) is split.
                cut = max(data.rfind(w) for w in _WHITESPACE) + 1
                data, leftover = data[:cut], data[cut:]
            else:
                leftover = b""
            pieces = data.decode("utf-8").split("\n")
            for i, piece in enumerate(pieces):
                line.extend(piece.split())
                ended = i < len(pieces) - 1 or not block  # the last piece may go on
                while len(line) >= max_sentence_length:
                    yield line[:max_sentence_length]
                    line = line[max_sentence_length:]
                if ended and line:
                    yield line
                    line = []
            if not block:
                return


class LineSentences:
    """A corpus file as a re-iterable sequence of sentences (lists of words),
    for every epoch: `Word2Vec(LineSentences("text8"))` is the same as
    `Word2Vec(corpus_file="text8")`."""

    def __init__(self, path, max_sentence_length=MAX_SENTENCE_LENGTH):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"LineSentences: no such file: {path}")
        self.path, self.max_sentence_length = os.fspath(path), max_sentence_length

    def __iter__(self):
        return read_corpus_file(self.path, self.max_sentence_length)

    def __repr__(self):
        return f"LineSentences({self.path!r})"


def _checked_sentences(sentences, what):
    """Iterate `sentences`, refusing a plain string where a list of words belongs."""
    for sentence in sentences:
        if isinstance(sentence, (str, bytes)):
            raise TypeError(f"{what}: each sentence must be a list of words, got a "
                            f"{type(sentence).__name__} ({sentence[:40]!r}); split it first")
        yield sentence


# ----------------------------------------------------------------------------------------
# Vocabulary, subsampling and the noise distribution
# ----------------------------------------------------------------------------------------
def keep_probabilities(counts, sample):
    """Probability of keeping each occurrence of a word when subsampling
    (word2vec.c's formula, also gensim's):

        t = sample * total,   p_keep(w) = min(1, (sqrt(count(w) / t) + 1) * t / count(w))

    `sample=0` keeps every word."""
    counts = np.asarray(counts, dtype=np.float64)
    if not 0 <= sample < 1:
        raise ValueError(f"sample must be in [0, 1), got {sample}")
    if sample == 0 or counts.size == 0:
        return np.ones(counts.shape, dtype=np.float32)
    threshold = sample * counts.sum()
    keep = (np.sqrt(counts / threshold) + 1) * threshold / counts
    return np.minimum(keep, 1.0).astype(np.float32)


def noise_distribution(counts, ns_exponent=0.75):
    """P(w) = count(w)^ns_exponent / sum_v count(v)^ns_exponent, the distribution
    negative (noise) words are drawn from."""
    weights = np.asarray(counts, dtype=np.float64) ** ns_exponent
    return weights / weights.sum()


def _subsample(ids, keep, rng):
    """A boolean mask keeping each occurrence of word w with probability keep[w]."""
    return rng.random(len(ids), dtype=np.float32) < keep[ids]


def _noise_cdf(counts, ns_exponent):
    """The cumulative noise distribution, for drawing with _draw_noise."""
    cdf = np.cumsum(noise_distribution(counts, ns_exponent))
    cdf[-1] = 1.0
    return cdf


def _draw_noise(cdf, shape, rng):
    """Word ids drawn from the noise distribution (inverse transform sampling)."""
    draws = np.searchsorted(cdf, rng.random(shape), side="right")
    return np.minimum(draws, len(cdf) - 1, out=draws).astype(np.int32)


class Vocabulary:
    """The words kept for training, most frequent first, with their counts.

    `words[i]` is the word with id i; `index[word]` its id; `counts[i]` how
    often it occurs; `total_words` is the number of words in the corpus
    (including those below min_count, which training skips)."""

    def __init__(self, words, counts, total_words=None):
        self.words = list(words)
        self.counts = np.asarray(counts, dtype=np.int64)
        if len(self.words) != len(self.counts):
            raise ValueError(f"Vocabulary: {len(self.words)} words but {len(self.counts)} counts")
        self.index = {word: i for i, word in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("Vocabulary: the words are not unique")
        self.total_words = int(self.counts.sum()) if total_words is None else int(total_words)

    @classmethod
    def build(cls, sentences, min_count=5, max_vocab_size=None):
        """Count the words of `sentences` (an iterable of lists of words) and keep
        those seen at least `min_count` times, sorted by decreasing count (ties:
        first seen first). With `max_vocab_size`, the count table is pruned
        while scanning whenever it grows past that size, as word2vec.c does:
        words seen at most 1, then 2, 3, ... times so far are dropped."""
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        counts, total, min_reduce = Counter(), 0, 1
        for sentence in _checked_sentences(sentences, "Vocabulary.build"):
            counts.update(sentence)
            total += len(sentence)
            if max_vocab_size and len(counts) > max_vocab_size:
                counts = Counter({w: c for w, c in counts.items() if c >= min_reduce + 1})
                min_reduce += 1
        kept = sorted(((w, c) for w, c in counts.items() if c >= min_count), key=lambda wc: -wc[1])
        return cls([w for w, _ in kept], [c for _, c in kept], total_words=total)

    def __len__(self):
        return len(self.words)

    def __contains__(self, word):
        return word in self.index

    def __repr__(self):
        return f"Vocabulary({len(self)} words, {self.total_words} corpus words)"

    def encode(self, words):
        """Ids of `words` as an int32 array, -1 for words not in the vocabulary."""
        return np.fromiter(map(self.index.get, words, itertools.repeat(-1)), dtype=np.int32,
                           count=len(words))


# ----------------------------------------------------------------------------------------
# The two losses, written with tinytensor operations only
# ----------------------------------------------------------------------------------------
def _as_constant(array, like):
    """A weight array as a tensor of `like`'s dtype on its device (outside the graph)."""
    if isinstance(array, Tensor):
        return array
    if not hasattr(array, "shape"):
        array = np.asarray(array)
    array = backend.to_device(array, like.device)
    return Tensor(backend.xp_for(like.device).asarray(array, dtype=like.dtype))


# How a batch is laid out (see _make_batch). It is cut into blocks of G
# consecutive centre words. A block reads the input vectors of the P = G + 2 *
# window corpus positions its windows can reach, once; `windows` (G, P) says which
# position is in which centre's window (0 outside the radius drawn for that
# centre, across a sentence boundary, and on the centre itself). The block's
# output rows are its G centre words and M noise words that all its examples
# share, each weighing K / M, so that every example still gets K noise words'
# worth of gradient in expectation (and a less noisy estimate of it). Each score
# of a block is then an entry of a matrix product, and each embedding row is
# gathered and updated a few times per centre word instead of 2 + K times per
# (centre, context) pair.

def cbow_loss(inputs, windows, centres, noise, centre_weights, noise_weights,
              straight_through=None):
    """CBOW negative-sampling loss of a batch of N blocks, summed over centre words.

    inputs:         (N, P, d) input vectors of the block's corpus positions
    windows:        (N, G, P) weight of position p in centre i's window: 1/count
                    for the mean of the window (cbow_mean), 1 for the sum, 0 outside
    centres:        (N, G, d) output vectors of the centre words
    noise:          (N, M, d) output vectors of the block's noise words
    centre_weights: (N, G) 1, or 0 for a centre word without a window (or padding)
    noise_weights:  (N, G, M) K/M, or 0 (a noise word equal to the centre word)

    h = windows @ inputs                    (N, G, d)  the hidden vector of each centre
    loss = -sum cw * log sig(h . u_centre) - sum nw * log sig(-h . u_noise)

    straight_through: (N, G, 1) factors 1/count, `windows` then holding 0/1: the
    forward pass uses the mean h = S * factor of the window sum S, but the
    gradient of h reaches every context word undivided, as in word2vec.c's and
    gensim's CBOW-mean (h = S + constant(S * (factor - 1))). The loss is the same.
    """
    h = tt.matmul(_as_constant(windows, inputs), inputs)                           # (N, G, d)
    if straight_through is not None:
        h = h + Tensor(h.data * (_as_constant(straight_through, h).data - 1))
    positive = (h * centres).sum(axis=2)                                           # (N, G)
    negative = tt.matmul(h, noise.swapaxes(1, 2))                                  # (N, G, M)
    return -(tt.log_sigmoid(positive) * _as_constant(centre_weights, h)).sum() \
        - (tt.log_sigmoid(-negative) * _as_constant(noise_weights, h)).sum()


def skipgram_loss(inputs, windows, centres, noise, noise_weights):
    """Skip-gram negative-sampling loss of a batch of N blocks, summed over
    (context word, centre word) pairs.

    inputs:        (N, P, d) input vectors of the block's corpus positions
    windows:       (N, G, P) 1 where position p is a context word of centre i
    centres:       (N, G, d) output vectors of the centre words
    noise:         (N, M, d) output vectors of the block's noise words
    noise_weights: (N, P, M) K/M times the number of the block's windows that
                   contain p (and whose centre word is not that noise word)

    Each pair (context position p, centre i) is one example; as in gensim, the
    context word's input vector predicts the centre word:
    loss = -sum_{p,i} windows[i,p] log sig(x_p . u_i) - sum_{p,m} nw[p,m] log sig(-x_p . u_m)
    """
    positive = tt.matmul(inputs, centres.swapaxes(1, 2))                           # (N, P, G)
    negative = tt.matmul(inputs, noise.swapaxes(1, 2))                             # (N, P, M)
    windows = _as_constant(windows, inputs).swapaxes(1, 2)
    return -(tt.log_sigmoid(positive) * windows).sum() \
        - (tt.log_sigmoid(-negative) * _as_constant(noise_weights, inputs)).sum()


# ----------------------------------------------------------------------------------------
# Batches: windows and noise words for a chunk of the corpus, all vectorized
# ----------------------------------------------------------------------------------------
class _Batch:
    """Blocks of centre words with their windows and noise words (see above).

    positions (N, P), centres (N, G), noise (N, M): word ids; windows (N, G, P);
    count (N, G): context words per centre; centre_weights (N, G); noise_weights
    (N, G, M) for CBOW, (N, P, M) for skip-gram; pairs, examples: how many
    (centre, context) pairs and training examples (pairs or centre words)."""
    __slots__ = ("positions", "centres", "noise", "windows", "count", "centre_weights",
                 "noise_weights", "pairs", "examples")


def _make_batch(ids, sentence, radius, start, stop, window, block, noise_words, negative,
                noise_cdf, rng, sg):
    """The blocks of the centre words ids[start:stop] of a chunk.

    ids, sentence, radius: (n,) arrays for one chunk of the corpus (after
    subsampling): word ids, the sentence of each word, and the window radius
    drawn for each centre word (1..window). A context word must lie in the same
    sentence. A centre word without any context word trains nothing.
    """
    n, g, m = len(ids), block, noise_words
    count_blocks = -(-(stop - start) // g)
    first = start + g * np.arange(count_blocks)
    positions = first[:, None] + np.arange(-window, g + window)                    # (N, P)
    np.clip(positions, 0, n - 1, out=positions)
    centres = first[:, None] + np.arange(g)                                        # (N, G)
    real = centres < stop
    np.minimum(centres, n - 1, out=centres)
    centre_radius = np.where(real, radius[centres], 0)
    centre_sentence = sentence[centres]
    windows = np.zeros((count_blocks, g, g + 2 * window), dtype=np.float32)
    rows = np.arange(g)
    for offset in itertools.chain(range(-window, 0), range(1, window + 1)):
        other = centres + offset
        ok = (centre_radius >= abs(offset)) & (other >= 0) & (other < n)
        np.clip(other, 0, n - 1, out=other)
        ok &= sentence[other] == centre_sentence
        windows[:, rows, rows + window + offset] = ok
    b = _Batch()
    b.positions, b.centres, b.windows = ids[positions], ids[centres], windows
    b.count = windows.sum(axis=2)                                                  # (N, G)
    active = b.count > 0
    b.centre_weights = active.astype(np.float32)
    b.noise = _draw_noise(noise_cdf, (count_blocks, m), rng)
    # K/M for each (centre, noise word), 0 where the noise word is the centre word
    # itself (gensim skips those) and for centres without a window
    noise_weights = (b.noise[:, None, :] != b.centres[:, :, None]) & active[:, :, None]
    noise_weights = noise_weights.astype(np.float32) * np.float32(negative / m)   # (N, G, M)
    # skip-gram: a position's noise terms count once per window (pair) it is in
    b.noise_weights = np.matmul(windows.swapaxes(1, 2), noise_weights) if sg else noise_weights
    b.pairs, b.examples = int(b.count.sum()), int(active.sum())
    if sg:
        b.examples = b.pairs
    return b


def _row_scale(ids, uses, cap):
    """Per row of a leaf: min(1, cap / U), U the uses (examples) of its word summed
    over the whole batch: no word's update is worth more than `cap` examples
    (see row_cap in Word2Vec's docstring)."""
    unique, inverse = np.unique(ids.reshape(-1), return_inverse=True)
    total = np.bincount(inverse, weights=uses.reshape(-1), minlength=len(unique))
    scale = np.minimum(1.0, cap / np.maximum(total, 1e-12))
    return scale[inverse].reshape(ids.shape).astype(np.float32)


# ----------------------------------------------------------------------------------------
# Worker processes and the progress line
# ----------------------------------------------------------------------------------------
def _share_memory(tensor):
    """Move a CPU tensor's values into an anonymous shared memory mapping (in place),
    so that processes forked afterwards read and write the same array."""
    array = tensor.data
    base = array
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    if isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap):
        return                                          # already shared
    shared = np.frombuffer(mmap.mmap(-1, max(array.nbytes, 1)), dtype=array.dtype,
                           count=array.size).reshape(array.shape)
    shared[...] = array
    tensor.data = shared


class _EpochStats:
    """Loss, examples and corpus words of one epoch, added to by the workers."""

    def __init__(self, progress):
        self.progress, self.lock = progress, threading.Lock()
        self.loss, self.examples, self.corpus_words = 0.0, 0, 0

    def add(self, loss, examples, words):
        with self.lock:
            self.loss += loss
            self.examples += examples
            self.corpus_words += words
            self.progress.update(self.corpus_words, self.loss / max(self.examples, 1))


class _Progress:
    """One line per epoch: a bar, words/s and the running loss, redrawn in place
    on a terminal (at most a few times a second) and printed once when done."""

    def __init__(self, epoch, epochs, total, enabled, stream=None):
        self.epoch, self.epochs, self.total = epoch, epochs, max(int(total), 1)
        self.enabled, self.stream = enabled, stream or sys.stderr
        self.start = self.last = time.perf_counter()
        self.live = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()

    def line(self, words, loss):
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        fraction = min(words / self.total, 1.0)
        bar = "#" * int(20 * fraction) + "." * (20 - int(20 * fraction))
        return (f"epoch {self.epoch}/{self.epochs} [{bar}] {100 * fraction:3.0f}% "
                f"{words / elapsed / 1e3:7.1f}k words/s  loss {loss:.4f}  {elapsed:6.1f}s")

    def update(self, words, loss):
        now = time.perf_counter()
        if self.live and now - self.last > 0.25:
            self.last = now
            self.stream.write("\r" + self.line(words, loss))
            self.stream.flush()

    def close(self, words, loss):
        if self.enabled:
            self.stream.write(("\r" if self.live else "") + self.line(words, loss) + "\n")
            self.stream.flush()


# ----------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------
class Word2Vec(Module):
    """Word2Vec with negative sampling, trained with tinytensor.

        model = Word2Vec(corpus_file="text8", vector_size=100, window=5, sg=1)
        model.wv.most_similar("king")

    sentences: a re-iterable of lists of words, or corpus_file: a text file with
    one sentence per line (read in a streaming fashion, every epoch). Giving
    either trains the model right away; with neither, call `build_vocab` and
    `train` yourself.

    vector_size, window (the largest radius: each centre word draws its radius
    from 1..window), min_count, max_vocab_size, sample (subsampling threshold,
    0 to keep every word), negative (noise words per example), ns_exponent (of
    the unigram distribution noise words come from), alpha and min_alpha (the
    learning rate, decayed linearly over all epochs), epochs, seed: as gensim.
    sg: 1 for skip-gram, 0 for CBOW. cbow_mean: CBOW averages the window's input
    vectors (each context word then gets the whole gradient of the mean, as in
    word2vec.c and gensim) or, if False, sums them (exact gradient).
    max_sentence_length: longer sentences are cut (gensim's 10000).
    batch_size: centre words per SGD step (2000).
    row_cap: in one step, a word's row takes at most row_cap / lr examples'
    worth of update (1.0, i.e. 40 examples at the start of training with alpha
    0.025): the examples of a batch all see the row as it was at the start of
    the batch, so a frequent word would otherwise overshoot. 0 turns it off.
    workers: processes training at once on shared vectors (CPU only; runs with
    more than one are not reproducible). device: "cpu" or "cuda".
    progress: print a line per epoch with words/s and the mean loss.

    After training: `wv` (KeyedVectors of the input vectors), `epoch_losses`
    (the mean loss per training example of each epoch: per (context, centre)
    pair for skip-gram, per centre word for CBOW), `train_seconds`,
    `words_per_second` (corpus words, dropped ones included, as gensim counts).
    """

    def __init__(self, sentences=None, corpus_file=None, vector_size=100, window=5, min_count=5,
                 sg=0, negative=5, ns_exponent=0.75, sample=1e-3, alpha=0.025, min_alpha=1e-4,
                 epochs=5, batch_size=None, seed=1, cbow_mean=True, max_vocab_size=None,
                 max_sentence_length=MAX_SENTENCE_LENGTH, row_cap=1.0, workers=1, device="cpu",
                 progress=True):
        if sentences is not None and corpus_file is not None:
            raise ValueError("Word2Vec: give sentences or corpus_file, not both")
        for name, value, low in (("vector_size", vector_size, 1), ("window", window, 1),
                                 ("negative", negative, 1), ("epochs", epochs, 1)):
            if int(value) != value or value < low:
                raise ValueError(f"Word2Vec: {name} must be an integer >= {low}, got {value}")
        if sg not in (0, 1, True, False):
            raise ValueError(f"Word2Vec: sg must be 0 (CBOW) or 1 (skip-gram), got {sg}")
        if not 0 <= sample < 1:
            raise ValueError(f"Word2Vec: sample must be in [0, 1), got {sample}")
        if alpha <= 0 or min_alpha < 0:
            raise ValueError(f"Word2Vec: alpha must be > 0 and min_alpha >= 0, got {alpha}, {min_alpha}")
        self.vector_size, self.window, self.min_count = int(vector_size), int(window), int(min_count)
        self.sg, self.negative, self.ns_exponent = int(sg), int(negative), float(ns_exponent)
        self.sample, self.alpha, self.min_alpha = float(sample), float(alpha), float(min_alpha)
        self.epochs, self.seed, self.cbow_mean = int(epochs), int(seed), bool(cbow_mean)
        self.batch_size = int(batch_size) if batch_size else 2000
        self.max_vocab_size = max_vocab_size
        self.max_sentence_length = int(max_sentence_length)
        self.device = backend.check_device(device)
        self.progress = progress
        if row_cap < 0:
            raise ValueError(f"Word2Vec: row_cap must be >= 0, got {row_cap}")
        self.row_cap = float(row_cap)
        if int(workers) != workers or workers < 1:
            raise ValueError(f"Word2Vec: workers must be an integer >= 1, got {workers}")
        self.workers = int(workers)
        if self.workers > 1 and (self.device != "cpu"
                                 or "fork" not in multiprocessing.get_all_start_methods()):
            raise ValueError("Word2Vec: workers > 1 needs the CPU and a system that can fork "
                             "processes (Linux, macOS); use workers=1")
        # centre words per block and noise words per block (see _make_batch): tuned on text8
        self._block, self._noise_words = (32, 64) if self.sg else (32, 32)
        self.vocab = None
        self.input_embedding = None     # (V, d): the word vectors (gensim's wv.vectors / syn0)
        self.output_embedding = None    # (V, d): the output vectors (gensim's syn1neg)
        self.epoch_losses = []
        self.epochs_trained = 0
        self.train_seconds = 0.0
        self.words_per_second = 0.0
        self._wv = None
        self._rng = np.random.default_rng((self.seed, 1))
        corpus = self._corpus(sentences, corpus_file)
        if corpus is not None:
            self.build_vocab(corpus)
            self.train(corpus)

    # -- setup ------------------------------------------------------------------------
    def _corpus(self, sentences, corpus_file):
        if corpus_file is not None:
            return LineSentences(corpus_file, self.max_sentence_length)
        if sentences is None:
            return None
        if isinstance(sentences, (str, os.PathLike)):
            raise TypeError("Word2Vec: sentences must be lists of words; for a file, pass "
                            "corpus_file=path")
        if iter(sentences) is sentences:
            raise TypeError("Word2Vec: sentences is an iterator, which can be read only once, "
                            "but training reads it once per epoch (plus once for the "
                            "vocabulary); pass a list, LineSentences(path) or corpus_file=path")
        return sentences

    def build_vocab(self, sentences=None, corpus_file=None):
        """Count the words, keep those with at least min_count occurrences, and
        initialise the vectors: input vectors uniform in [-0.5, 0.5) / vector_size,
        output vectors zero (as word2vec.c and gensim)."""
        corpus = self._corpus(sentences, corpus_file)
        if corpus is None:
            raise ValueError("build_vocab: give sentences or corpus_file")
        vocab = Vocabulary.build(corpus, self.min_count, self.max_vocab_size)
        if len(vocab) == 0:
            raise ValueError(f"Word2Vec: no word occurs at least min_count={self.min_count} "
                             f"times in the corpus ({vocab.total_words} words)")
        self._set_vocab(vocab)
        rng = np.random.default_rng((self.seed, 0))    # a stream apart from training's
        init = (rng.random((len(vocab), self.vector_size), dtype=np.float32) - 0.5) / self.vector_size
        self.input_embedding = Parameter(Tensor(init, device=self.device))
        self.output_embedding = Parameter(tt.zeros(len(vocab), self.vector_size, device=self.device))
        self.epoch_losses, self.epochs_trained = [], 0
        return self

    def _set_vocab(self, vocab):
        self.vocab = vocab
        self._keep = keep_probabilities(vocab.counts, self.sample)
        self._noise_cdf = _noise_cdf(vocab.counts, self.ns_exponent)
        self._wv = None

    # -- training -----------------------------------------------------------------------
    def _encoded_chunks(self, corpus, chunk_words=200000):
        """Yield (ids, sentence, raw_words) for pieces of the corpus of about
        chunk_words words: in-vocabulary ids (int32), the sentence number of each,
        and how many corpus words the piece covered (dropped words included)."""
        words, lengths = [], []
        for sentence in _checked_sentences(corpus, "Word2Vec.train"):
            if len(sentence) > self.max_sentence_length:
                pieces = [sentence[i:i + self.max_sentence_length]
                          for i in range(0, len(sentence), self.max_sentence_length)]
            else:
                pieces = [sentence]
            for piece in pieces:
                words.extend(piece)
                lengths.append(len(piece))
            if len(words) >= chunk_words:
                yield self._encode(words, lengths)
                words, lengths = [], []
        if words:
            yield self._encode(words, lengths)

    def _encode(self, words, lengths):
        ids = self.vocab.encode(words)
        sentence = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
        known = ids >= 0
        return ids[known], sentence[known], len(words)

    def train(self, sentences=None, corpus_file=None, epochs=None, alpha=None, min_alpha=None):
        """Train for `epochs` passes over the corpus (default: the model's), the
        learning rate going linearly from alpha to min_alpha. Called by the
        constructor; call it again (e.g. after `load`) to continue training."""
        corpus = self._corpus(sentences, corpus_file)
        if corpus is None:
            raise ValueError("train: give sentences or corpus_file")
        if self.vocab is None:
            raise RuntimeError("train: build_vocab first (or pass the corpus to Word2Vec(...))")
        epochs = self.epochs if epochs is None else int(epochs)
        schedule = (self.alpha if alpha is None else float(alpha),
                    self.min_alpha if min_alpha is None else float(min_alpha),
                    max(self.vocab.total_words, 1) * epochs)
        started = time.perf_counter()
        self._wv = None
        first_epoch, done = self.epochs_trained, 0
        for epoch in range(epochs):
            stats = _EpochStats(_Progress(first_epoch + epoch + 1, first_epoch + epochs,
                                          self.vocab.total_words, self.progress))
            # smaller chunks keep several worker processes busy until the end of an epoch
            jobs = self._jobs(corpus, done, schedule, 200000 if self.workers == 1 else 50000)
            if self.workers == 1:
                for job in jobs:
                    self._run_job(job, self._rng, stats)
            else:
                self._run_processes(jobs, stats)
            done += stats.corpus_words
            self.epoch_losses.append(stats.loss / max(stats.examples, 1))
            self.epochs_trained += 1
            stats.progress.close(stats.corpus_words, self.epoch_losses[-1])
        self.train_seconds = time.perf_counter() - started
        self.words_per_second = done / max(self.train_seconds, 1e-9)
        return self

    def _jobs(self, corpus, done, schedule, chunk_words):
        """One epoch as a stream of batches to train: (ids, sentence, radius, start,
        stop, lr, corpus words covered). Reading, subsampling and drawing the
        window radii happen here, in order; the windows and noise words of a
        batch are cut by whoever trains it."""
        start_alpha, end_alpha, total = schedule
        epoch_words = 0
        for ids, sentence, raw_words in self._encoded_chunks(corpus, chunk_words):
            kept = _subsample(ids, self._keep, self._rng)              # frequent words dropped
            ids, sentence = ids[kept], sentence[kept]
            radius = self._rng.integers(1, self.window + 1, size=len(ids), dtype=np.int32)
            n = len(ids)
            covered = 0
            for start in range(0, n, self.batch_size):
                stop = min(start + self.batch_size, n)
                words = raw_words * stop // n - covered                 # corpus words covered
                covered += words
                position = done + epoch_words + covered
                lr = start_alpha - (start_alpha - end_alpha) * min(position / total, 1.0)
                yield ids, sentence, radius, start, stop, lr, words
            epoch_words += raw_words
            if raw_words > covered:                                     # nothing kept at all
                yield None, None, None, 0, 0, 0.0, raw_words - covered

    def _run_job(self, job, rng, stats):
        ids, sentence, radius, start, stop, lr, words = job
        loss = examples = 0
        if stop > start:
            batch = _make_batch(ids, sentence, radius, start, stop, self.window, self._block,
                                self._noise_words, self.negative, self._noise_cdf, rng, self.sg)
            loss, examples = self._step(batch, lr), batch.examples
        stats.add(loss, examples, words)

    def _run_processes(self, jobs, stats):
        """Hogwild across processes, as gensim's worker threads (tinytensor's grad mode
        is global to a process, so one process cannot run two graphs at once): the
        embeddings live in shared memory, `workers` forked processes train the
        batches of whole chunks from a queue and update the shared rows without
        locks. Updates of concurrent batches interleave: runs are not reproducible."""
        for table in (self.input_embedding, self.output_embedding):
            _share_memory(table)
        context = multiprocessing.get_context("fork")
        work, results = context.Queue(maxsize=2 * self.workers), context.Queue()
        processes = [context.Process(target=self._worker, args=(work, results, rng), daemon=True)
                     for rng in self._rng.spawn(self.workers)]
        for process in processes:
            process.start()
        running, failure = len(processes), None

        def collect(block):
            """Take the workers' messages; with block=True, until they have all exited."""
            nonlocal running, failure
            while running:
                try:
                    message = results.get(timeout=0.5) if block else results.get_nowait()
                except queue.Empty:
                    if not block:
                        return
                    if not any(process.is_alive() for process in processes):
                        failure = failure or "a worker process died without a message"
                        return
                    continue
                if message[0] == "batch":
                    stats.add(*message[1:])
                elif message[0] == "error":
                    failure = failure or message[1]
                else:  # "exit"
                    running -= 1

        def send(item, stop_on_failure=True):
            """Queue a chunk (or the end mark); returns False if no worker is left to take it."""
            while True:
                try:
                    work.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    collect(block=False)
                    if stop_on_failure and failure:
                        raise RuntimeError(f"a Word2Vec worker process failed:\n{failure}")
                    if not any(process.is_alive() for process in processes):
                        return False
        try:
            chunk = None
            for job in itertools.chain(jobs, [None]):
                # the batches of one chunk (the same arrays) travel as one message
                if chunk is not None and (job is None or job[0] is not chunk[0]):
                    if not send(chunk):
                        break
                    collect(block=False)
                    chunk = None
                if job is None:
                    break
                if chunk is None:
                    chunk = (job[0], job[1], job[2], [])
                chunk[3].append(job[3:])
        finally:
            for _ in processes:
                if not send(None, stop_on_failure=False):
                    break
            collect(block=True)
            for process in processes:
                process.join(timeout=5)
                if process.is_alive():
                    process.terminate()
        if failure:
            raise RuntimeError(f"a Word2Vec worker process failed:\n{failure}")

    def _worker(self, work, results, rng):
        """The loop of one worker process (see _run_processes)."""
        failed = False
        while True:
            chunk = work.get()
            if chunk is None:
                results.put(("exit",))
                return
            if failed:
                continue
            ids, sentence, radius, batches = chunk
            try:
                for start, stop, lr, words in batches:
                    loss = examples = 0
                    if stop > start:
                        batch = _make_batch(ids, sentence, radius, start, stop, self.window,
                                            self._block, self._noise_words, self.negative,
                                            self._noise_cdf, rng, self.sg)
                        loss, examples = self._step(batch, lr), batch.examples
                    results.put(("batch", loss, examples, words))
            except BaseException:
                failed = True
                results.put(("error", traceback.format_exc()))

    def _step(self, batch, lr):
        """One SGD step on a batch: gather the touched rows of both embeddings as
        leaf tensors, compute the loss, backward, and update just those rows in
        place (W[ids] -= lr * grad, repeated ids accumulating). Returns the loss."""
        dim = self.vector_size
        device = (lambda a: backend.to_device(a, self.device)) if self.device != "cpu" else \
            (lambda a: a)
        ids = [device(batch.positions), device(batch.centres), device(batch.noise)]
        leaves = [tt.take(self.input_embedding, ids[0]).detach().requires_grad_(),
                  tt.take(self.output_embedding, ids[1]).detach().requires_grad_(),
                  tt.take(self.output_embedding, ids[2]).detach().requires_grad_()]
        if self.sg:
            loss = skipgram_loss(leaves[0], device(batch.windows), leaves[1], leaves[2],
                                 device(batch.noise_weights))
        else:
            factor = None
            if self.cbow_mean:
                factor = device((1 / np.maximum(batch.count, 1))[..., None].astype(np.float32))
            loss = cbow_loss(leaves[0], device(batch.windows), leaves[1], leaves[2],
                             device(batch.centre_weights), device(batch.noise_weights),
                             straight_through=factor)
        loss.backward()
        # the SGD step on the touched rows; a row used by many examples of the batch takes
        # at most row_cap / lr examples' worth of step (see row_cap in the class docstring)
        uses = [(batch.windows > 0).sum(axis=1),                       # windows holding p
                batch.count if self.sg else batch.centre_weights,      # pairs or 1
                batch.noise_weights.sum(axis=1)]                       # K/M per example
        tables = (self.input_embedding, self.output_embedding, self.output_embedding)
        for table, index, leaf, host_ids, used in zip(tables, ids, leaves,
                                                      (batch.positions, batch.centres, batch.noise),
                                                      uses):
            if self.row_cap and lr > 0:
                scale = _row_scale(host_ids, used, self.row_cap / lr)
                step = Tensor(device((-lr * scale)[..., None]))
            else:
                step = -lr
            table.index_add_(index.reshape(-1), (leaf.grad * step).reshape(-1, dim))
        return float(loss.item())

    # -- results ------------------------------------------------------------------------
    @property
    def wv(self):
        """The trained word vectors (the input embedding) as KeyedVectors."""
        if self.input_embedding is None:
            raise RuntimeError("Word2Vec: no vectors yet; build_vocab and train first")
        if self._wv is None:
            self._wv = KeyedVectors(self.input_embedding.numpy().copy(), self.vocab.words,
                                    counts=self.vocab.counts)
        return self._wv

    def _config(self):
        return {name: getattr(self, name) for name in (
            "vector_size", "window", "min_count", "sg", "negative", "ns_exponent", "sample",
            "alpha", "min_alpha", "epochs", "batch_size", "seed", "cbow_mean", "max_vocab_size",
            "max_sentence_length", "row_cap")}

    def save(self, path):
        """Save the whole model (both embeddings, vocabulary, settings, progress) to
        one .npz checkpoint, atomically, to continue training after `load`."""
        if self.vocab is None:
            raise RuntimeError("Word2Vec.save: nothing to save before build_vocab")
        extra = {"words": self.vocab.words, "counts": self.vocab.counts.tolist(),
                 "total_words": self.vocab.total_words, "epoch_losses": self.epoch_losses,
                 "epochs_trained": self.epochs_trained,
                 "rng": self._rng.bit_generator.state}
        save_checkpoint(path, self, config={"model": "Word2Vec", **self._config()}, extra=extra)

    @classmethod
    def load(cls, path, device="cpu", progress=True):
        """A model saved with `save`, ready to query or to `train` further."""
        data = load_checkpoint(path)
        config = dict(data["config"] or {})
        if config.pop("model", None) != "Word2Vec":
            raise ValueError(f"{path} is a checkpoint, but not of a Word2Vec model")
        extra = data["extra"]
        model = cls(device=device, progress=progress, **config)
        model._set_vocab(Vocabulary(extra["words"], extra["counts"], extra["total_words"]))
        shape = (len(model.vocab), model.vector_size)
        model.input_embedding = Parameter(tt.zeros(*shape, device=device))
        model.output_embedding = Parameter(tt.zeros(*shape, device=device))
        model.load_state_dict(data["model_state"])
        model.epoch_losses = list(extra["epoch_losses"])
        model.epochs_trained = int(extra["epochs_trained"])
        model._rng.bit_generator.state = extra["rng"]
        return model

    def extra_repr(self):
        kind = "skip-gram" if self.sg else ("CBOW-mean" if self.cbow_mean else "CBOW-sum")
        words = len(self.vocab) if self.vocab is not None else 0
        return f"{kind}, vocab={words}, vector_size={self.vector_size}, window={self.window}"


# ----------------------------------------------------------------------------------------
# Querying and evaluating vectors (the same results as gensim's KeyedVectors)
# ----------------------------------------------------------------------------------------
class KeyedVectors:
    """Word vectors with gensim's query API: most_similar, similarity, doesnt_match,
    evaluate_word_analogies, evaluate_word_pairs, and the word2vec file formats.

    vectors: (V, d) float32 NumPy array; index_to_key: the V words, most
    frequent first (restrict_vocab relies on that order); counts: optional.
    """

    def __init__(self, vectors, index_to_key, counts=None):
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(index_to_key):
            raise ValueError(f"KeyedVectors: {len(index_to_key)} words need vectors of shape "
                             f"({len(index_to_key)}, d), got {vectors.shape}")
        self.vectors = vectors
        self.index_to_key = list(index_to_key)
        self.key_to_index = {}
        for i, key in enumerate(self.index_to_key):
            self.key_to_index.setdefault(key, i)
        self.counts = None if counts is None else np.asarray(counts, dtype=np.int64)
        self._unit = None

    # -- lookup -------------------------------------------------------------------------
    @property
    def vector_size(self):
        return self.vectors.shape[1]

    def __len__(self):
        return len(self.index_to_key)

    def __contains__(self, key):
        return key in self.key_to_index

    def __repr__(self):
        return f"KeyedVectors({len(self)} words, vector_size={self.vector_size})"

    def get_index(self, key):
        try:
            return self.key_to_index[key]
        except KeyError:
            raise KeyError(f"word {key!r} not in vocabulary") from None

    def get_vector(self, key, norm=False):
        index = self.get_index(key)
        return self.unit_vectors[index] if norm else self.vectors[index]

    def __getitem__(self, keys):
        if isinstance(keys, str):
            return self.get_vector(keys)
        return np.stack([self.get_vector(k) for k in keys])

    @property
    def norms(self):
        return np.linalg.norm(self.vectors, axis=1)

    @property
    def unit_vectors(self):
        """Each vector divided by its length (computed once; zero vectors stay zero)."""
        if self._unit is None or self._unit.shape != self.vectors.shape:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = (self.vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
        return self._unit

    # -- queries ------------------------------------------------------------------------
    def _mean_unit_vector(self, positive, negative):
        """gensim's get_mean_vector(pre_normalize=True, post_normalize=True): the
        weighted mean of the unit vectors of the keys (weights +1 for positive,
        -1 for negative unless given as (key, weight)), normalised to length 1.
        Returns it and the indices of the keys given as words."""
        positive = [positive] if isinstance(positive, (str, np.ndarray)) else list(positive or [])
        negative = [negative] if isinstance(negative, (str, np.ndarray)) else list(negative or [])
        items = [(item, 1.0) for item in positive] + [(item, -1.0) for item in negative]
        if not items:
            raise ValueError("cannot compute a mean of no words")
        mean = np.zeros(self.vector_size, dtype=np.float32)
        total, used = 0.0, []
        for item, weight in items:
            if isinstance(item, tuple):
                item, weight = item
            if isinstance(item, np.ndarray):
                mean += np.float32(weight) * item.astype(np.float32)
            else:
                index = self.get_index(item)
                used.append(index)
                mean += np.float32(weight) * self.unit_vectors[index]
            total += abs(weight)
        if total > 0:
            mean /= np.float32(total)
        length = np.linalg.norm(mean)
        return (mean / length if length > 0 else mean).astype(np.float32), used

    def most_similar(self, positive=None, negative=None, topn=10, restrict_vocab=None):
        """The topn words whose vectors have the largest cosine similarity with the
        mean of the unit vectors of `positive` minus those of `negative` (3CosAdd
        for an analogy: most_similar(positive=["king", "woman"], negative=["man"])).
        The query words are left out. Returns [(word, similarity), ...], or with
        topn=None the similarities of all (first restrict_vocab) words."""
        if isinstance(topn, int) and topn < 1:
            return []
        mean, used = self._mean_unit_vector(positive, negative)
        limit = len(self) if not restrict_vocab else min(int(restrict_vocab), len(self))
        sims = self.unit_vectors[:limit] @ mean
        if topn is None:
            return sims
        best = _top_indices(sims, topn + len(used))
        used = set(used)
        return [(self.index_to_key[i], float(sims[i])) for i in best if i not in used][:topn]

    def similarity(self, word1, word2):
        """Cosine similarity of two words."""
        return float(self.get_vector(word1, norm=True) @ self.get_vector(word2, norm=True))

    def doesnt_match(self, words):
        """The word furthest from the mean of the (unit vectors of the) others: the
        one with the lowest cosine similarity to the normalised mean of all of them.
        Words not in the vocabulary are ignored."""
        used = [w for w in words if w in self]
        if not used:
            raise ValueError("doesnt_match: none of the words is in the vocabulary")
        vectors = np.stack([self.get_vector(w, norm=True) for w in used])
        mean = vectors.mean(axis=0)
        mean /= np.linalg.norm(mean) or 1.0
        sims = vectors @ mean
        return sorted(zip(sims.tolist(), used), reverse=True)[-1][1]

    # -- evaluation ---------------------------------------------------------------------
    def _ok_vocab(self, restrict_vocab, case_insensitive):
        """Key -> index over the first restrict_vocab words; upper-cased keys map to
        the most frequent spelling (as gensim)."""
        ok = {}
        for i, key in enumerate(self.index_to_key[:restrict_vocab]):
            ok.setdefault(key.upper() if case_insensitive else key, i)
        return ok

    def evaluate_word_analogies(self, analogies, restrict_vocab=300000, case_insensitive=True,
                                dummy4unknown=False):
        """Accuracy on an analogy file (questions-words.txt format: ": section"
        lines, then "a b c expected" lines), answering each question with
        3CosAdd: the nearest word to b - a + c, the three query words excluded,
        among the first restrict_vocab words. Questions with a word outside
        them are skipped (or, with dummy4unknown, counted wrong).

        Returns (accuracy, sections) exactly as gensim: sections is a list of
        {"section", "correct": [(A, B, C, D)...], "incorrect": [...]}, the last
        one "Total accuracy"."""
        ok = self._ok_vocab(restrict_vocab, case_insensitive)
        sections, section, questions, oov = [], None, [], 0
        with open(analogies, "rb") as f:
            for line_no, raw in enumerate(f):
                line = raw.decode("utf-8")
                if line.startswith(": "):
                    if section:
                        sections.append(section)
                    section = {"section": line.lstrip(": ").strip(), "correct": [], "incorrect": []}
                    continue
                if not section:
                    raise ValueError(f"Missing section header before line #{line_no} in {analogies}")
                words = [w.upper() if case_insensitive else w for w in line.split()]
                if len(words) != 4:
                    continue
                if any(w not in ok for w in words):
                    oov += 1
                    if dummy4unknown:
                        section["incorrect"].append(tuple(words))
                    continue
                questions.append((section, tuple(words)))
        if section:
            sections.append(section)

        # All questions at once: score matrix blocks of (questions, restrict_vocab).
        limit = min(restrict_vocab, len(self))
        unit, vectors = self.unit_vectors[:limit], self.vectors[:limit]
        norms = np.linalg.norm(vectors, axis=1)
        for first in range(0, len(questions), 2048):
            block = questions[first:first + 2048]
            index = np.array([[ok[a], ok[b], ok[c]] for _, (a, b, c, _) in block], dtype=np.int64)
            query = (unit[index[:, 1]] + unit[index[:, 2]] - unit[index[:, 0]]) / np.float32(3)
            query /= np.linalg.norm(query, axis=1, keepdims=True)
            sims = (query @ vectors.T) / norms      # as gensim: (v . q) / |v|
            rows = np.arange(len(block))[:, None]
            sims[rows, index] = -np.inf                 # most_similar leaves the inputs out
            top = np.argpartition(-sims, 5, axis=1)[:, :5] if sims.shape[1] > 5 else \
                np.tile(np.arange(sims.shape[1]), (len(block), 1))
            order = np.argsort(-sims[rows, top], axis=1, kind="stable")
            top = top[rows, order]
            for (sec, (a, b, c, expected)), candidates, inputs in zip(block, top, index):
                index_set = set(inputs.tolist())
                predicted = None
                for i in candidates:
                    if i in index_set:
                        continue                        # fewer candidates than 5 left
                    key = self.index_to_key[i]
                    predicted = key.upper() if case_insensitive else key
                    if predicted in ok and predicted not in (a, b, c):
                        break
                sec["correct" if predicted == expected else "incorrect"].append((a, b, c, expected))
        total = {"section": "Total accuracy",
                 "correct": [q for s in sections for q in s["correct"]],
                 "incorrect": [q for s in sections for q in s["incorrect"]]}
        sections.append(total)
        answered = len(total["correct"]) + len(total["incorrect"])
        score = len(total["correct"]) / answered if answered else 0.0
        return score, sections

    def evaluate_word_pairs(self, pairs, delimiter="\t", encoding="utf8", restrict_vocab=300000,
                            case_insensitive=True, dummy4unknown=False):
        """Correlation of the model's cosine similarities with human judgements
        (wordsim353.tsv format: "word1<TAB>word2<TAB>score", "#" comments).

        Returns ((pearson, p-value), (spearman, p-value), oov_ratio in percent),
        as gensim (its pearson and spearman results unpack the same way)."""
        ok = self._ok_vocab(restrict_vocab, case_insensitive)
        gold, model, oov = [], [], 0
        with open(pairs, encoding=encoding) as f:
            for line in f:
                if not line or line.startswith("#"):
                    continue
                try:
                    a, b, sim = [w.upper() if case_insensitive else w for w in line.split(delimiter)]
                    sim = float(sim)
                except ValueError:
                    continue
                if a not in ok or b not in ok:
                    oov += 1
                    if dummy4unknown:
                        gold.append(sim)
                        model.append(0.0)
                    continue
                gold.append(sim)
                unit = self.unit_vectors
                model.append(float(unit[ok[a]] @ unit[ok[b]]))
        if not gold:
            raise ValueError(f"No valid similarity judgements found in {pairs}: either invalid "
                             "format or all are out-of-vocabulary")
        gold, model = np.asarray(gold), np.asarray(model, dtype=np.float64)
        pearson = _pearson(gold, model)
        spearman = _pearson(_rank(gold), _rank(model))
        n = len(gold)
        oov_ratio = 100.0 * oov / (n if dummy4unknown else n + oov)
        return (pearson, _correlation_p_value(pearson, n)), \
            (spearman, _correlation_p_value(spearman, n)), oov_ratio

    # -- word2vec file formats ------------------------------------------------------------
    def save_word2vec_format(self, path, binary=False):
        """Write the C word2vec format, atomically: a header "V D", then one word
        per line with its values, as text ("word 0.1 -0.25 ...") or, with
        binary=True, as "word " + D little-endian float32 + "\\n"."""
        vectors = self.vectors

        def write(f):
            f.write(f"{len(self)} {self.vector_size}\n".encode("utf-8"))
            if binary:
                data = vectors.astype("<f4")
                for key, row in zip(self.index_to_key, data):
                    f.write(key.encode("utf-8") + b" " + row.tobytes() + b"\n")
            else:
                buffer = io.StringIO()
                for key, row in zip(self.index_to_key, vectors):
                    buffer.write(key + " " + " ".join(map(str, row)) + "\n")
                    if buffer.tell() > 1 << 20:
                        f.write(buffer.getvalue().encode("utf-8"))
                        buffer = io.StringIO()
                f.write(buffer.getvalue().encode("utf-8"))

        _check_keys(self.index_to_key)
        atomic_write(path, write)

    @classmethod
    def load_word2vec_format(cls, path, binary=False, limit=None, encoding="utf-8"):
        """Read a file in the C word2vec format (text or binary), e.g. one written by
        gensim's or word2vec.c's save. A repeated word keeps its first vector."""
        with open(path, "rb") as f:
            header = f.readline().decode(encoding).split()
            if len(header) != 2:
                raise ValueError(f"{path}: the first line must be 'V D' (vocabulary size, "
                                 f"dimension), got {' '.join(header)!r}")
            count, dim = int(header[0]), int(header[1])
            if limit is not None:
                count = min(count, int(limit))
            keys, vectors = [], np.empty((count, dim), dtype=np.float32)
            if binary:
                reader = _BinaryRows(f, dim)
                for i in range(count):
                    key, row = reader.next_row(path, i)
                    keys.append(key.decode(encoding))
                    vectors[i] = row
            else:
                for i in range(count):
                    line = f.readline()
                    if not line:
                        raise EOFError(f"{path}: the header announces {count} vectors but the "
                                       f"file ends after {i}")
                    parts = line.decode(encoding).rstrip().split(" ")
                    if len(parts) != dim + 1:
                        raise ValueError(f"{path}, line {i + 2}: expected a word and {dim} "
                                         f"values, got {len(parts) - 1} values")
                    keys.append(parts[0])
                    vectors[i] = np.array(parts[1:], dtype=np.float32)
        seen, keep = set(), []
        for i, key in enumerate(keys):
            if key not in seen:
                seen.add(key)
                keep.append(i)
        if len(keep) != len(keys):
            keys, vectors = [keys[i] for i in keep], vectors[keep]
        return cls(vectors, keys)


def _check_keys(keys):
    for key in keys:
        if not key or any(ch.isspace() for ch in key):
            raise ValueError(f"save_word2vec_format: the word {key!r} is empty or contains "
                             "whitespace, which the format cannot store")


class _BinaryRows:
    """Reads "word " + D float32 (+ an optional "\\n") records from a binary file."""

    def __init__(self, f, dim, chunk=1 << 20):
        self.f, self.size, self.chunk = f, 4 * dim, chunk
        self.dim, self.buffer, self.pos = dim, b"", 0

    def _fill(self):
        more = self.f.read(self.chunk)
        self.buffer = self.buffer[self.pos:] + more
        self.pos = 0
        return bool(more)

    def next_row(self, path, i):
        while True:
            space = self.buffer.find(b" ", self.pos)
            if space != -1 and len(self.buffer) - space - 1 >= self.size:
                break
            if not self._fill():
                raise EOFError(f"{path}: the file ends inside vector {i} (is the header's "
                               "count right? is it really a binary file?)")
        key = self.buffer[self.pos:space].lstrip(b"\n")  # word2vec.c puts "\n" after a vector
        row = np.frombuffer(self.buffer, dtype="<f4", count=self.dim, offset=space + 1)
        self.pos = space + 1 + self.size
        return key, row


def _top_indices(values, k):
    """Indices of the k largest values, largest first."""
    k = min(k, len(values))
    if k <= 0:
        return np.array([], dtype=np.int64)
    part = np.argpartition(-values, k - 1)[:k] if k < len(values) else np.arange(len(values))
    return part[np.argsort(-values[part], kind="stable")]


def _rank(values):
    """Ranks 1..n, ties sharing their average rank (scipy.stats.rankdata)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    average = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def _pearson(x, y):
    x, y = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y) / denominator if denominator else float("nan")


def _correlation_p_value(r, n):
    """Two-sided p-value of a correlation r over n samples (the t-test with n - 2
    degrees of freedom that scipy's pearsonr and spearmanr use)."""
    if n < 3 or not math.isfinite(r):
        return float("nan")
    if abs(r) >= 1:
        return 0.0
    df = n - 2
    return _betainc(df / 2, 0.5, df / (df + df * r * r / (1 - r * r)))


def _betainc(a, b, x):
    """Regularized incomplete beta function I_x(a, b), by its continued fraction."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _betainc(b, a, 1 - x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return math.exp(log_front) * h / a
