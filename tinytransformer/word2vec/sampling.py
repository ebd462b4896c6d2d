"""Host-side sampling (NumPy): which occurrences of frequent words training
drops, and the distribution the noise words of negative sampling come from."""
import numpy as np

__all__ = ["keep_probabilities", "noise_distribution", "subsample", "noise_cdf", "draw_noise"]


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


def subsample(ids, keep, rng):
    """A boolean mask keeping each occurrence of word w with probability keep[w]."""
    return rng.random(len(ids), dtype=np.float32) < keep[ids]


def noise_cdf(counts, ns_exponent):
    """The cumulative noise distribution, for drawing with `draw_noise`."""
    cdf = np.cumsum(noise_distribution(counts, ns_exponent))
    cdf[-1] = 1.0
    return cdf


def draw_noise(cdf, shape, rng):
    """Word ids drawn from the noise distribution (inverse transform sampling)."""
    draws = np.searchsorted(cdf, rng.random(shape), side="right")
    return np.minimum(draws, len(cdf) - 1, out=draws).astype(np.int32)
