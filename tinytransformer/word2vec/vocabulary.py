"""Counting a corpus into the project's one vocabulary class, `Vocab` (with no
special tokens: a word Word2Vec does not know encodes to -1 and is dropped)."""
from collections import Counter

from ..data import Vocab
from .corpus import checked_sentences

__all__ = ["count_words", "build_vocab"]


def count_words(sentences, max_vocab_size=None):
    """({word: count} in first-seen order, number of words) of `sentences`.

    With `max_vocab_size`, the table is pruned while scanning whenever it grows
    past that size, as word2vec.c does: words seen at most 1, then 2, 3, ...
    times so far are dropped, so memory stays bounded on a huge corpus."""
    counts, total, min_reduce = Counter(), 0, 1
    for sentence in checked_sentences(sentences, "build_vocab"):
        counts.update(sentence)
        total += len(sentence)
        if max_vocab_size and len(counts) > max_vocab_size:
            counts = Counter({w: c for w, c in counts.items() if c > min_reduce})
            min_reduce += 1
    return counts, total


def build_vocab(sentences, min_count=5, max_vocab_size=None):
    """The words seen at least `min_count` times, most frequent first (ties: first
    seen first), with their counts; `total` counts every corpus word, including
    those training skips."""
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    counts, total = count_words(sentences, max_vocab_size)
    return Vocab.from_counts(counts, min_freq=min_count, specials=(), total=total)
