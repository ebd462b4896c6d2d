"""Word2Vec: gensim's trainer API (build_vocab, train, wv, save, load) around a
small Module that holds the two embedding tables (embeddings.py).

How training is organised. What word2vec.c does in a loop over words is here a
handful of array operations over a batch of a few thousand centre words:

* Host side (NumPy): read the corpus in chunks, map words to ids, drop frequent
  words at random (subsampling), draw each centre word's window radius, cut the
  windows and draw the noise words (corpus.py, sampling.py, batching.py).
* tinytensor: gather the rows of both embeddings that the batch touches, as
  small leaf tensors; compute the loss (losses.py); `loss.backward()`; then the
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
"""
import dataclasses
import math
import os
import time
import warnings

import numpy as np

import tinytensor as tt
from tinytensor import Tensor, backend

from ..data import Vocab
from ..utils import Progress, load_checkpoint, save_checkpoint
from .batching import encoded_chunks, epoch_jobs, make_batch, row_scale
from .config import Word2VecConfig
from .corpus import LineSentences
from .embeddings import Word2VecEmbeddings
from .keyedvectors import KeyedVectors
from .losses import cbow_loss, skipgram_loss
from .sampling import keep_probabilities, noise_cdf
from .vocabulary import build_vocab
from .workers import fork_available, run_processes

__all__ = ["Word2Vec"]

CACHED_WORDS = 20_000_000      # corpora up to this size are encoded once per train() call

# state_dict names of checkpoints saved when Word2Vec itself was the Module
_OLD_STATE_NAMES = {"input_embedding": "input_vectors", "output_embedding": "output_vectors"}


class _ChunkCache:
    """The encoded chunks of the first epoch, kept for the next ones when the corpus
    has at most `limit` words (8 bytes a word): reading and encoding the text again
    every epoch would take a core's time away from the workers. A larger corpus is
    streamed from its source every epoch."""

    def __init__(self, limit):
        self.limit, self.chunks, self.words, self.complete = limit, [], 0, False

    def remember(self, chunks):
        """Yield the chunks, keeping them while they fit; complete once all were kept."""
        for chunk in chunks:
            if self.chunks is not None:
                self.words += len(chunk[0])
                if self.words <= self.limit:
                    self.chunks.append(chunk)
                else:
                    self.chunks = None           # too large: stream every epoch
            yield chunk
        self.complete = self.chunks is not None


class _EpochStats:
    """Loss, examples and corpus words of one epoch, shown on its progress bar."""

    def __init__(self, bar):
        self.bar, self.loss, self.examples, self.corpus_words = bar, 0.0, 0, 0

    def add(self, loss, examples, words):
        self.loss += loss
        self.examples += examples
        self.corpus_words += words
        self.bar.update(words, loss=f"{self.mean_loss:.4f}")

    @property
    def mean_loss(self):
        return self.loss / max(self.examples, 1)


class Word2Vec:
    """Word2Vec with negative sampling, trained with tinytensor.

        model = Word2Vec(corpus_file="text8", vector_size=100, window=5, sg=1)
        model.wv.most_similar("king")

    sentences: a re-iterable of lists of words, or corpus_file: a text file with
    one sentence per line (read in a streaming fashion, every epoch). Giving
    either trains the model right away; with neither, call `build_vocab` and
    `train` yourself.

    The settings (vector_size, window, min_count, sg, negative, sample, alpha,
    epochs, seed, ...: see Word2VecConfig) are keyword arguments, or a ready
    `config=Word2VecConfig(...)` (keywords given as well replace its fields).
    They live in `model.config`; `model.window` etc. read them, as in gensim.
    workers: processes training at once on shared vectors (CPU only; runs with
    more than one are not reproducible). device: "cpu" or "cuda".
    progress: a progress bar per epoch with words/s and the mean loss.

    After build_vocab: `vocab` (the shared `Vocab`, no special tokens) and
    `model` (Word2VecEmbeddings: the two tables as a Module). After training:
    `wv` (KeyedVectors of the input vectors), `epoch_losses` (the mean loss per
    training example of each epoch: per (context, centre) pair for skip-gram, per
    centre word for CBOW), `train_seconds`, `words_per_second` (corpus words,
    dropped ones included, as gensim counts).
    """

    def __init__(self, sentences=None, corpus_file=None, *, config=None, workers=1,
                 device="cpu", progress=True, **settings):
        if sentences is not None and corpus_file is not None:
            raise ValueError("Word2Vec: give sentences or corpus_file, not both")
        self.config = Word2VecConfig(**settings) if config is None else \
            dataclasses.replace(config, **settings)
        self.device = backend.check_device(device)
        self.progress = progress
        if int(workers) != workers or workers < 1:
            raise ValueError(f"Word2Vec: workers must be an integer >= 1, got {workers}")
        self.workers = int(workers)
        if self.workers > 1 and (self.device != "cpu" or not fork_available()):
            raise ValueError("Word2Vec: workers > 1 needs the CPU and a system that can fork "
                             "processes (Linux, macOS); use workers=1")
        # centre words per block and noise words per block (see batching.py): tuned on text8
        self._block, self._noise_words = (32, 64) if self.config.sg else (32, 32)
        self.vocab = None
        self.model = None               # Word2VecEmbeddings, made by build_vocab
        self.epoch_losses = []
        self.epochs_trained = 0
        self.train_seconds = 0.0
        self.words_per_second = 0.0
        self._wv = None
        # the host-side draws (subsampling, window radii, noise words)
        self._rng = np.random.default_rng((self.config.seed, 1))
        corpus = self._corpus(sentences, corpus_file)
        if corpus is not None:
            self.build_vocab(corpus)
            self.train(corpus)

    # -- setup ------------------------------------------------------------------------
    def _corpus(self, sentences, corpus_file):
        if corpus_file is not None:
            return LineSentences(corpus_file, self.config.max_sentence_length)
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
        initialise the vectors (see Word2VecEmbeddings) after seeding tinytensor's
        generator with the model's seed (`tinytensor.manual_seed(seed)`)."""
        corpus = self._corpus(sentences, corpus_file)
        if corpus is None:
            raise ValueError("build_vocab: give sentences or corpus_file")
        c = self.config
        vocab = build_vocab(corpus, c.min_count, c.max_vocab_size)
        if len(vocab) == 0:
            raise ValueError(f"Word2Vec: no word occurs at least min_count={c.min_count} "
                             f"times in the corpus ({vocab.total} words)")
        self._set_vocab(vocab)
        tt.manual_seed(c.seed)
        # drawn on the CPU whatever the device, so a run starts the same everywhere
        self.model = Word2VecEmbeddings(len(vocab), c.vector_size).to(self.device)
        self.epoch_losses, self.epochs_trained = [], 0
        return self

    def _set_vocab(self, vocab):
        self.vocab = vocab
        self._keep = keep_probabilities(vocab.counts, self.config.sample)
        self._noise_cdf = noise_cdf(vocab.counts, self.config.ns_exponent)
        self._wv = None

    # -- training -----------------------------------------------------------------------
    def train(self, sentences=None, corpus_file=None, epochs=None, alpha=None, min_alpha=None):
        """Train for `epochs` passes over the corpus (default: the model's), the
        learning rate going linearly from alpha to min_alpha. Called by the
        constructor; call it again (e.g. after `load`) to continue training."""
        corpus = self._corpus(sentences, corpus_file)
        if corpus is None:
            raise ValueError("train: give sentences or corpus_file")
        if self.vocab is None:
            raise RuntimeError("train: build_vocab first (or pass the corpus to Word2Vec(...))")
        c = self.config
        epochs = c.epochs if epochs is None else int(epochs)
        schedule = (c.alpha if alpha is None else float(alpha),
                    c.min_alpha if min_alpha is None else float(min_alpha),
                    max(self.vocab.total, 1) * epochs)
        # smaller chunks keep several worker processes busy until the end of an epoch
        chunk_words = 200000 if self.workers == 1 else 50000
        started = time.perf_counter()
        self._wv = None
        first_epoch, done = self.epochs_trained, 0
        cache = _ChunkCache(CACHED_WORDS if epochs > 1 else 0)
        for epoch in range(first_epoch + 1, first_epoch + epochs + 1):
            with Progress(total=self.vocab.total, desc=f"epoch {epoch}/{first_epoch + epochs}",
                          unit="word", unit_scale=True, enabled=self.progress) as bar:
                stats = _EpochStats(bar)
                chunks = cache.chunks if cache.complete else cache.remember(
                    encoded_chunks(corpus, self.vocab, c.max_sentence_length, chunk_words))
                jobs = epoch_jobs(chunks, self._keep, self._rng, c.window, c.batch_size,
                                  schedule, done)
                if self.workers == 1:
                    for *job, words in jobs:
                        stats.add(*self._train_batch(*job, self._rng), words)
                else:
                    run_processes(self._train_batch,
                                  (self.model.input_vectors, self.model.output_vectors),
                                  jobs, stats, self._rng.spawn(self.workers))
            done += stats.corpus_words
            self.epoch_losses.append(stats.mean_loss)
            self.epochs_trained += 1
        self.train_seconds = time.perf_counter() - started
        self.words_per_second = done / max(self.train_seconds, 1e-9)
        self._check_learned()
        return self

    def _check_learned(self):
        """Warn when the last epoch's mean loss is above the untrained model's, (1 +
        negative) ln 2 (the output vectors start at zero, so every score is 0 and every
        sigmoid 1/2): the steps overshot. With score_clip the vectors then stay finite,
        and would otherwise end up worse than untrained without a word said. (An epoch in
        the middle may pass that level and training still recover.)"""
        c = self.config
        untrained = (1 + c.negative) * math.log(2)
        if self.epoch_losses and self.epoch_losses[-1] > untrained:
            warnings.warn(
                f"Word2Vec: the last epoch's mean loss {self.epoch_losses[-1]:.4g} is above the "
                f"untrained model's {untrained:.4g}: the steps overshoot and the vectors did "
                f"not learn; train again with a smaller alpha ({c.alpha}) or row_cap "
                f"({c.step_cap})", RuntimeWarning, stacklevel=3)

    def _train_batch(self, ids, sentence, radius, start, stop, lr, rng):
        """Cut the batch of centre words ids[start:stop] and train it: (loss, examples)."""
        if stop <= start:
            return 0.0, 0
        c = self.config
        batch = make_batch(ids, sentence, radius, start, stop, c.window, self._block,
                           self._noise_words, c.negative, self._noise_cdf, rng, c.sg)
        loss = self._step(batch, lr)
        if not math.isfinite(loss):
            raise FloatingPointError(
                f"Word2Vec: a batch's loss is {loss} at learning rate {lr:.4g}: the vectors "
                f"diverged (they now hold inf or NaN); train again with a smaller alpha "
                f"({c.alpha}) or row_cap ({c.step_cap}) (now with score_clip {c.score_clip})")
        return loss, batch.examples

    def _step(self, batch, lr):
        """One SGD step on a batch: gather the touched rows of both embeddings as
        leaf tensors, compute the loss, backward, and update just those rows in
        place (W[ids] -= lr * grad, repeated ids accumulating). Returns the loss."""
        c = self.config
        device = (lambda a: backend.to_device(a, self.device)) if self.device != "cpu" else \
            (lambda a: a)
        ids = [device(batch.positions), device(batch.centres), device(batch.noise)]
        leaves = self.model(*ids)
        if c.sg:
            loss = skipgram_loss(leaves[0], device(batch.windows), leaves[1], leaves[2],
                                 device(batch.noise_weights), clip=c.score_clip)
        else:
            factor = None
            if c.cbow_mean:      # 1 / (context words), from the batch's layout (host side)
                factor = device((1 / np.maximum(batch.count, 1))[..., None].astype(np.float32))
            loss = cbow_loss(leaves[0], device(batch.windows), leaves[1], leaves[2],
                             device(batch.centre_weights), device(batch.noise_weights),
                             straight_through=factor, clip=c.score_clip)
        loss.backward()
        # the SGD step on the touched rows; a row used by many examples of the batch takes
        # at most row_cap / lr examples' worth of step (see row_cap in Word2VecConfig)
        uses = [(batch.windows > 0).sum(axis=1),                       # windows holding p
                batch.count if c.sg else batch.centre_weights,         # pairs or 1
                batch.noise_weights.sum(axis=1)]                       # K/M per example
        tables = (self.model.input_vectors, self.model.output_vectors, self.model.output_vectors)
        with tt.no_grad():   # an optimizer step: the tables are leaves that require grad
            for table, index, leaf, host_ids, used in zip(
                    tables, ids, leaves, (batch.positions, batch.centres, batch.noise), uses):
                step = leaf.grad       # the gradient, scaled in place into the step
                if c.step_cap and lr > 0:
                    scale = row_scale(host_ids, used, c.step_cap / lr)
                    step.mul_(Tensor(device((-lr * scale)[..., None])))
                else:
                    step.mul_(-lr)
                table.index_add_(0, index.reshape(-1), step.reshape(-1, c.vector_size))
        return float(loss.item())

    # -- results ------------------------------------------------------------------------
    @property
    def wv(self):
        """The trained word vectors (the input vectors) as KeyedVectors."""
        if self.model is None:
            raise RuntimeError("Word2Vec: no vectors yet; build_vocab and train first")
        if self._wv is None:
            self._wv = KeyedVectors(self.model.input_vectors.numpy().copy(), self.vocab)
        return self._wv

    def save(self, path):
        """Save the whole model (both embeddings, vocabulary, settings, progress) to
        one .npz checkpoint, atomically, to continue training after `load`."""
        if self.vocab is None:
            raise RuntimeError("Word2Vec.save: nothing to save before build_vocab")
        extra = {"vocab": self.vocab.to_dict(), "epoch_losses": self.epoch_losses,
                 "epochs_trained": self.epochs_trained, "rng": self._rng.bit_generator.state}
        save_checkpoint(path, self.model, config={"model": "Word2Vec", **self.config.to_dict()},
                        extra=extra)

    @classmethod
    def load(cls, path, device="cpu", progress=True, workers=1):
        """A model saved with `save`, ready to query or to `train` further."""
        data = load_checkpoint(path)
        config = dict(data["config"] or {})
        if config.pop("model", None) != "Word2Vec":
            raise ValueError(f"{path} is a checkpoint, but not of a Word2Vec model")
        extra = data["extra"]
        if "vocab" in extra:
            vocab = Vocab.from_dict(extra["vocab"])
        else:                                    # saved before the shared Vocab
            vocab = Vocab(extra["words"], extra["counts"], specials=(), total=extra["total_words"])
        model = cls(config=Word2VecConfig.from_dict(config), device=device, progress=progress,
                    workers=workers)
        model._set_vocab(vocab)
        model.model = Word2VecEmbeddings(len(vocab), model.config.vector_size,
                                         random_init=False).to(device)
        model.model.load_state_dict({_OLD_STATE_NAMES.get(name, name): value
                                     for name, value in data["model_state"].items()})
        model.epoch_losses = list(extra["epoch_losses"])
        model.epochs_trained = int(extra["epochs_trained"])
        model._rng.bit_generator.state = extra["rng"]
        return model

    def __repr__(self):
        c = self.config
        kind = "skip-gram" if c.sg else ("CBOW-mean" if c.cbow_mean else "CBOW-sum")
        words = len(self.vocab) if self.vocab is not None else 0
        return f"Word2Vec({kind}, vocab={words}, vector_size={c.vector_size}, window={c.window})"


def _setting(name):
    return property(lambda self: getattr(self.config, name),
                    doc=f"model.config.{name}, read-only (gensim's attribute)")


for _field in dataclasses.fields(Word2VecConfig):     # model.window, model.sg, ... as gensim
    setattr(Word2Vec, _field.name, _setting(_field.name))
del _field
