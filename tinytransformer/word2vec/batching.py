"""Host-side batching (NumPy): the corpus as a stream of batches of centre
words, each with its windows and noise words, cut without a Python loop over
words or pairs.

A batch is cut into blocks of G consecutive centre words (see losses.py for
the layout and why): a block reads the P = G + 2 * window corpus positions its
windows can reach, and `windows` (G, P) says which position is in which
centre's window (0 outside the radius drawn for that centre, across a sentence
boundary, and on the centre itself).
"""
import numpy as np

from .corpus import checked_sentences
from .sampling import draw_noise, subsample

__all__ = ["Batch", "make_batch", "row_scale", "encoded_chunks", "epoch_jobs"]


class Batch:
    """Blocks of centre words with their windows and noise words.

    positions (N, P), centres (N, G), noise (N, M): word ids; windows (N, G, P);
    count (N, G): context words per centre; centre_weights (N, G); noise_weights
    (N, G, M) for CBOW, (N, P, M) for skip-gram; pairs, examples: how many
    (centre, context) pairs and training examples (pairs or centre words).
"""
    __slots__ = ("positions", "centres", "noise", "windows", "count", "centre_weights",
                 "noise_weights", "pairs", "examples")


def make_batch(ids, sentence, radius, start, stop, window, block, noise_words, negative,
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
    # every (centre, offset) at once: position centre + offset is in the window if the
    # drawn radius reaches it and it lies in the corpus and in the centre's sentence
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
    other = centres[:, :, None] + offsets                                          # (N, G, 2w)
    ok = (centre_radius[:, :, None] >= np.abs(offsets)) & (other >= 0) & (other < n)
    np.clip(other, 0, n - 1, out=other)
    ok &= sentence[other] == centre_sentence[:, :, None]
    windows = np.zeros((count_blocks, g, g + 2 * window), dtype=np.float32)
    rows = np.arange(g)[:, None]
    windows[:, rows, rows + window + offsets] = ok
    b = Batch()
    b.positions, b.centres, b.windows = ids[positions], ids[centres], windows
    b.count = ok.sum(axis=2, dtype=np.float32)                                     # (N, G)
    active = b.count > 0
    b.centre_weights = active.astype(np.float32)
    b.noise = draw_noise(noise_cdf, (count_blocks, m), rng)
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


def row_scale(ids, uses, cap):
    """Per row of a leaf: min(1, cap / U), U the uses (examples) of its word summed
    over the whole batch: no word's update is worth more than `cap` examples
    (see row_cap in Word2Vec's docstring)."""
    uses_of_word = np.bincount(ids.reshape(-1), weights=uses.reshape(-1))   # vocabulary-long
    total = uses_of_word[ids]          # each row's word's, so the scale is taken at the rows only
    return np.minimum(1.0, cap / np.maximum(total, 1e-12)).astype(np.float32)


def encoded_chunks(corpus, vocab, max_sentence_length, chunk_words=200000):
    """Yield (ids, sentence, raw_words) for pieces of the corpus of about
    chunk_words words: in-vocabulary ids (int32), the sentence number of each,
    and how many corpus words the piece covered (dropped words included)."""
    words, lengths = [], []

    def encode():
        ids = vocab.encode_array(words)                 # -1 for a word not in the vocabulary
        sentence = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
        known = ids >= 0
        return ids[known], sentence[known], len(words)

    for sentence in checked_sentences(corpus, "Word2Vec.train"):
        if len(sentence) > max_sentence_length:
            pieces = [sentence[i:i + max_sentence_length]
                      for i in range(0, len(sentence), max_sentence_length)]
        else:
            pieces = [sentence]
        for piece in pieces:
            words.extend(piece)
            lengths.append(len(piece))
        if len(words) >= chunk_words:
            yield encode()
            words, lengths = [], []
    if words:
        yield encode()


def epoch_jobs(chunks, keep, rng, window, batch_size, schedule, done):
    """One epoch as a stream of batches to train: (ids, sentence, radius, start,
    stop, lr, corpus words covered). Subsampling and drawing the window radii
    happen here, in order; the windows and noise words of a batch are cut by
    whoever trains it.

    schedule: (start alpha, end alpha, corpus words of the whole run); done:
    corpus words trained before this epoch (the learning rate decays linearly)."""
    start_alpha, end_alpha, total = schedule
    epoch_words = 0
    for ids, sentence, raw_words in chunks:
        kept = subsample(ids, keep, rng)                                # frequent words dropped
        ids, sentence = ids[kept], sentence[kept]
        radius = rng.integers(1, window + 1, size=len(ids), dtype=np.int32)
        n = len(ids)
        covered = 0
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            words = raw_words * stop // n - covered                     # corpus words covered
            covered += words
            position = done + epoch_words + covered
            lr = start_alpha - (start_alpha - end_alpha) * min(position / total, 1.0)
            yield ids, sentence, radius, start, stop, lr, words
        epoch_words += raw_words
        if raw_words > covered:                                         # nothing kept at all
            yield None, None, None, 0, 0, 0.0, raw_words - covered
