"""Parallel text: reading sentence pairs, splitting them, and batching them for training.

Everything here runs on the host in plain Python and NumPy; the model only ever sees the
integer arrays that :func:`make_batches` returns.

* :func:`read_tsv` reads the Tatoeba / manythings.org format, :func:`train_dev_split` splits it.
* :func:`make_batches` groups sentences of similar length into padded ``int64`` arrays.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Sequence

import numpy as np

from ..data import BOS, EOS, PAD, pad_sequences

__all__ = ["read_tsv", "train_dev_split", "make_batches"]


def read_tsv(path, src: str = "zh", tgt: str = "en") -> list[tuple[str, str]]:
    """Read sentence pairs in the Tatoeba / manythings.org format:
    ``English<TAB>Chinese[<TAB>attribution]`` per line, UTF-8, with or without a byte-order mark.

    ``src`` and ``tgt`` ("zh" or "en") choose the direction; pairs come back as
    ``(src, tgt)``.  Malformed lines (fewer than two columns, an empty side, bytes that are not
    UTF-8, NUL bytes as in UTF-16) are skipped, and one warning says how many and where the
    first was.  Blank lines are ignored silently.  A file in another encoding thus gives no
    pairs, and the caller reports that.
    """
    columns = {"en": 0, "zh": 1}
    if src not in columns or tgt not in columns or src == tgt:
        raise ValueError(f"src and tgt must be 'zh' and 'en' in some order, got {src!r}, {tgt!r}")
    pairs: list[tuple[str, str]] = []
    skipped, first_bad = 0, None
    # errors="replace": a stray bad byte costs that line, not the whole file.
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for line_number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = [field.strip() for field in line.split("\t")]
            # U+FFFD stands for bytes that are not UTF-8; NUL bytes mean UTF-16 or binary.
            if len(fields) < 2 or not fields[0] or not fields[1] or "\ufffd" in line \
                    or "\x00" in line:
                skipped += 1
                first_bad = first_bad or line_number
                continue
            pairs.append((fields[columns[src]], fields[columns[tgt]]))
    if skipped:
        warnings.warn(f"read_tsv: skipped {skipped} malformed line(s) in {path} "
                      f"(first at line {first_bad})", stacklevel=2)
    return pairs


def train_dev_split(pairs: Sequence[tuple[str, str]], dev_fraction: float = 0.1,
                    seed: int = 0) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Split pairs into ``(train, dev)`` by source sentence, so that a sentence with several
    translations (common in Tatoeba) is never in both.  About ``dev_fraction`` of the distinct
    source sentences go to dev; both parts keep the input order."""
    if not 0.0 <= dev_fraction <= 1.0:
        raise ValueError(f"dev_fraction must be in [0, 1], got {dev_fraction}")
    sources = sorted({source for source, _ in pairs})     # sorted: independent of input order
    random.Random(seed).shuffle(sources)
    dev_sources = set(sources[:round(dev_fraction * len(sources))])
    train = [pair for pair in pairs if pair[0] not in dev_sources]
    dev = [pair for pair in pairs if pair[0] in dev_sources]
    return train, dev


def make_batches(src_ids: Sequence[Sequence[int]], tgt_ids: Sequence[Sequence[int]],
                 max_tokens: int, shuffle: bool = True, seed: int | None = None,
                 rng: np.random.Generator | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Group sentence pairs into padded batches of about ``max_tokens`` tokens.

    ``src_ids`` and ``tgt_ids`` are token ids *without* special tokens (as from
    :meth:`Vocab.encode`).  This function adds them: each source becomes ``src + [EOS]``, each
    target ``[BOS] + tgt + [EOS]`` (the decoder's input is then ``tgt[:, :-1]`` and its
    label ``tgt[:, 1:]``).  Rows are padded with :data:`PAD` to the longest in their batch.

    Pairs are sorted by length so that a batch wastes little on padding, then cut so that
    ``rows * longest_padded_row`` (source or target, whichever is longer) stays within
    ``max_tokens``; a pair longer than that gets a batch of its own.  With ``shuffle``, pairs of
    equal length are mixed and the batch order is shuffled, using ``rng`` or else a generator
    seeded with ``seed``; without it the order is by length.

    Returns a list of ``(src, tgt)`` ``int64`` arrays of shapes ``(rows, src_len)`` and
    ``(rows, tgt_len)``; every pair is in exactly one batch.
    """
    if len(src_ids) != len(tgt_ids):
        raise ValueError(f"{len(src_ids)} sources but {len(tgt_ids)} targets")
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    if shuffle and rng is None:
        rng = np.random.default_rng(seed)

    order = np.arange(len(src_ids))
    if shuffle:
        order = rng.permutation(order)       # then a stable sort mixes equal-length pairs
    order = sorted(order.tolist(), key=lambda i: (len(src_ids[i]), len(tgt_ids[i])))

    groups: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        row_len = max(len(src_ids[i]) + 1, len(tgt_ids[i]) + 2)
        if current and (len(current) + 1) * max(longest, row_len) > max_tokens:
            groups.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, row_len)
    if current:
        groups.append(current)
    if shuffle:
        groups = [groups[k] for k in rng.permutation(len(groups))]

    return [(pad_sequences([list(src_ids[i]) + [EOS] for i in group], PAD),
             pad_sequences([[BOS] + list(tgt_ids[i]) + [EOS] for i in group], PAD))
            for group in groups]

