"""Word2VecConfig: every setting that shapes a Word2Vec model and its training,
saved in its checkpoints (how many processes and which device train it are
choices of a run, not of the model, and are not in it)."""
import dataclasses
from typing import Optional

from .corpus import MAX_SENTENCE_LENGTH

__all__ = ["Word2VecConfig"]


@dataclasses.dataclass
class Word2VecConfig:
    """The settings of `Word2Vec`, with gensim's names and defaults.

    vector_size, window (the largest radius: each centre word draws its radius
    from 1..window), min_count, max_vocab_size (prune the count table while
    scanning, as word2vec.c), sample (subsampling threshold, 0 to keep every
    word), negative (noise words per example), ns_exponent (of the unigram
    distribution noise words come from), alpha and min_alpha (the learning
    rate, decayed linearly over all epochs), epochs, seed: as gensim.
    sg: 1 for skip-gram, 0 for CBOW. cbow_mean: CBOW averages the window's
    input vectors (each context word then gets the whole gradient of the mean,
    as in word2vec.c and gensim) or, if False, sums them (exact gradient).
    max_sentence_length: longer sentences are cut (gensim's 10000).
    batch_size: centre words per SGD step (None: 2000).
    row_cap: in one step, a word's row takes at most row_cap / lr examples'
    worth of update: the examples of a batch all see the row as it was at the
    start of the batch, so a frequent word would otherwise overshoot. A capped
    row moves by row_cap times its examples' mean step, a full-batch gradient
    step of size row_cap on the row's mean loss, which is stable while row_cap
    times that loss's curvature (about sigmoid' |h|^2) stays below 2. CBOW's h
    is the mean of a window, shorter than skip-gram's single word vector, so
    CBOW takes a larger cap: None (the default) means 3 for CBOW, 1 for
    skip-gram (see `step_cap`). Measured on text8-2M, 2 workers, means over
    seeds 11 to 20, with score_clip 6: CBOW's WordSim-353 0.355 with cap 1,
    0.359 with 2, 0.370 with 3 (gensim 0.375), analogies 4.51%, 4.75%, 4.72%
    (gensim 4.79%); skip-gram with cap 3 answers 5.5% of the analogies where
    cap 1 answers 8.5%. Where most rows meet the cap in every batch (a corpus
    of 20 words) CBOW with cap 3 learns less than with cap 1 at alpha 0.025 and
    overshoots from alpha 0.05 on, in batches of 2000 (a warning says so; lower
    alpha or row_cap there). 0 turns the cap off (CBOW then learns almost
    nothing: 0.3% analogy accuracy).
    score_clip: every score h . u is clamped to [-score_clip, score_clip]
    before its log-sigmoid, so a term scored beyond it trains nothing: gensim's
    and word2vec.c's MAX_EXP, 6 (they skip such a term). None: no clamp.
    """
    vector_size: int = 100
    window: int = 5
    min_count: int = 5
    sg: int = 0
    negative: int = 5
    ns_exponent: float = 0.75
    sample: float = 1e-3
    alpha: float = 0.025
    min_alpha: float = 1e-4
    epochs: int = 5
    batch_size: Optional[int] = 2000
    seed: int = 1
    cbow_mean: bool = True
    max_vocab_size: Optional[int] = None
    max_sentence_length: int = MAX_SENTENCE_LENGTH
    row_cap: Optional[float] = None
    score_clip: Optional[float] = 6.0

    def __post_init__(self):
        for name, low in (("vector_size", 1), ("window", 1), ("negative", 1), ("epochs", 1),
                          ("min_count", 1), ("max_sentence_length", 1)):
            value = getattr(self, name)
            if int(value) != value or value < low:
                raise ValueError(f"Word2Vec: {name} must be an integer >= {low}, got {value}")
            setattr(self, name, int(value))
        if self.sg not in (0, 1, True, False):
            raise ValueError(f"Word2Vec: sg must be 0 (CBOW) or 1 (skip-gram), got {self.sg}")
        if not 0 <= self.sample < 1:
            raise ValueError(f"Word2Vec: sample must be in [0, 1), got {self.sample}")
        if self.alpha <= 0 or self.min_alpha < 0:
            raise ValueError(f"Word2Vec: alpha must be > 0 and min_alpha >= 0, got "
                             f"{self.alpha}, {self.min_alpha}")
        if self.row_cap is not None and not self.row_cap >= 0:
            raise ValueError(f"Word2Vec: row_cap must be >= 0 or None, got {self.row_cap}")
        if self.score_clip is not None:
            if not self.score_clip > 0:          # `not >` refuses NaN too
                raise ValueError(f"Word2Vec: score_clip must be > 0 or None, got {self.score_clip}")
            self.score_clip = float(self.score_clip)
        self.sg, self.seed, self.cbow_mean = int(self.sg), int(self.seed), bool(self.cbow_mean)
        self.batch_size = int(self.batch_size) if self.batch_size else 2000
        self.ns_exponent, self.sample = float(self.ns_exponent), float(self.sample)
        self.alpha, self.min_alpha = float(self.alpha), float(self.min_alpha)
        if self.row_cap is not None:
            self.row_cap = float(self.row_cap)

    @property
    def step_cap(self):
        """The row cap in effect: row_cap, or for None 3 for CBOW and 1 for skip-gram."""
        if self.row_cap is not None:
            return self.row_cap
        return 1.0 if self.sg else 3.0

    @classmethod
    def from_dict(cls, values):
        """From a saved dict (to_dict's); an unknown field is a ValueError."""
        try:
            return cls(**values)
        except TypeError as error:     # e.g. "got an unexpected keyword argument 'x'"
            raise ValueError(f"Word2VecConfig: {error}") from None

    def to_dict(self):
        return dataclasses.asdict(self)
