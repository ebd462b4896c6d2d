"""Text handling for the translation example: tokenizers, vocabulary, TSV corpora and batching.

Everything here runs on the host in plain Python and NumPy; the model only ever sees the
integer arrays that :func:`make_batches` returns.

* :func:`tokenize_zh` splits Chinese into characters (a good unit for a small corpus: no word
  segmenter needed, and a few hundred characters cover it).
* :func:`tokenize_en` / :func:`detokenize_en` turn English into lower-cased word tokens and back.
* :class:`Vocab` maps tokens to ids, with the special tokens ``<pad>``, ``<unk>``, ``<s>`` and
  ``</s>`` at ids :data:`PAD`, :data:`UNK`, :data:`BOS`, :data:`EOS` = 0, 1, 2, 3.
* :func:`read_tsv` reads the Tatoeba / manythings.org format, :func:`train_dev_split` splits it.
* :func:`make_batches` groups sentences of similar length into padded ``int64`` arrays.
"""

from __future__ import annotations

import random
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from .corpus import ENGLISH_PROPER_NOUNS

__all__ = [
    "PAD", "UNK", "BOS", "EOS", "SPECIAL_TOKENS",
    "tokenize_zh", "tokenize_en", "detokenize_en",
    "Vocab", "read_tsv", "train_dev_split", "make_batches",
]

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "</s>")


# --------------------------------------------------------------------------------------------
# Tokenizers
# --------------------------------------------------------------------------------------------

# A run of ASCII letters/digits (a Latin name, a number) is one token; any other
# non-space character (a Chinese character, a punctuation mark) is a token by itself.
_ZH_TOKEN = re.compile(r"[A-Za-z0-9]+|\S")

# A word is a run of letters/digits, possibly with inner apostrophes that keep contractions
# and possessives whole ("don't", "mary's"); any other non-space character stands alone.
_EN_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|\S")

_NO_SPACE_BEFORE = set(".,!?;:%)]}")
_NO_SPACE_AFTER = set("([{$")
_JOINERS = {"-", "/"}          # written without spaces on either side: "well-known"
_SENTENCE_END = set(".!?")

# Lower-case token -> how it is written; "i" and its contractions are handled separately.
_TRUECASE = {word.lower(): word for word in ENGLISH_PROPER_NOUNS}


def tokenize_zh(text: str) -> list[str]:
    """One token per Chinese character or punctuation mark; runs of ASCII letters and digits
    stay whole; whitespace is dropped.  ``"我有3个iPad。"`` -> ``我 有 3 个 iPad 。``"""
    return _ZH_TOKEN.findall(text)


def tokenize_en(text: str) -> list[str]:
    """Lower-cased words with punctuation split off; contractions and possessives stay one
    token.  ``"Don't go, Mary's cat!"`` -> ``don't go , mary's cat !``"""
    return _EN_TOKEN.findall(text.lower().replace("\u2019", "'"))


def _truecase(token: str, truecase: dict[str, str]) -> str:
    stem, apostrophe, rest = token.partition("'")
    if stem == "i":                                  # I, I'm, I'd
        return "I" + apostrophe + rest
    if stem in truecase:                             # Mary, Mary's, Beijing
        return truecase[stem] + apostrophe + rest
    return token


def detokenize_en(tokens: Iterable[str], proper_nouns: Iterable[str] | None = None) -> str:
    """Rebuild English text from :func:`tokenize_en` tokens: no space before punctuation,
    capital letters at sentence starts, on "I" and on known proper nouns.

    Lower-casing loses the case of names, so they are restored from ``proper_nouns``
    (default: the names, places and languages of the built-in corpus,
    :data:`tinytransformer.corpus.ENGLISH_PROPER_NOUNS`), which makes
    ``detokenize_en(tokenize_en(s)) == s`` for the sentences of that corpus.  Names it does not
    know (say, in a Tatoeba corpus) come back lower-case.
    """
    truecase = _TRUECASE if proper_nouns is None else {w.lower(): w for w in proper_nouns}
    pieces: list[str] = []
    previous = None
    capitalise_next = True
    for token in tokens:
        word = _truecase(token, truecase)
        if capitalise_next and word[:1].isalpha():
            word = word[0].upper() + word[1:]
            capitalise_next = False
        glue = (previous is None or token in _NO_SPACE_BEFORE or previous in _NO_SPACE_AFTER
                or token in _JOINERS or previous in _JOINERS)
        pieces.append(word if glue else " " + word)
        if token in _SENTENCE_END:
            capitalise_next = True
        previous = token
    return "".join(pieces)


# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

class Vocab:
    """A token <-> id mapping with the four special tokens first.

    Built from token lists: tokens seen at least ``min_freq`` times are kept (at most
    ``max_size`` entries in all, specials included), most frequent first and alphabetically
    among equals, so the same data always gives the same ids.  Tokens not in the vocabulary
    encode to :data:`UNK`.

    >>> v = Vocab([["a", "b", "a"], ["c"]], min_freq=1)
    >>> v.encode(["a", "c", "zzz"])
    [4, 6, 1]
    """

    def __init__(self, token_lists: Iterable[Sequence[str]] = (), min_freq: int = 1,
                 max_size: int | None = None):
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            if isinstance(tokens, str):
                raise TypeError("Vocab wants lists of tokens, got a string; tokenize it first")
            counts.update(tokens)
        for special in SPECIAL_TOKENS:
            counts.pop(special, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max(0, max_size - len(SPECIAL_TOKENS))]
        self._set_tokens(list(SPECIAL_TOKENS) + kept)

    def _set_tokens(self, tokens: list[str]) -> None:
        self.itos: list[str] = tokens
        self.stoi: dict[str, int] = {token: i for i, token in enumerate(tokens)}

    # Construction from the raw counts is the common case; this alias reads well at call sites.
    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], min_freq: int = 1,
              max_size: int | None = None) -> Vocab:
        return cls(token_lists, min_freq=min_freq, max_size=max_size)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {' '.join(self.itos[4:12])} ...)"

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Token ids; unknown tokens become :data:`UNK`.  No ``<s>``/``</s>`` are added."""
        return [self.stoi.get(token, UNK) for token in tokens]

    def decode(self, ids: Iterable[int], strip_special: bool = True) -> list[str]:
        """Tokens for ``ids``.  With ``strip_special`` (the default) decoding stops at the first
        ``</s>`` and drops ``<pad>`` and ``<s>``; ``<unk>`` is kept, since it stands for a word.
        Without it, every id is decoded as is."""
        tokens = []
        for i in ids:
            i = int(i)                               # accepts NumPy integers
            if strip_special:
                if i == EOS:
                    break
                if i in (PAD, BOS):
                    continue
            tokens.append(self.itos[i])
        return tokens

    def to_dict(self) -> dict:
        """A JSON-serialisable form, to save alongside a checkpoint."""
        return {"tokens": list(self.itos)}

    @classmethod
    def from_dict(cls, data: dict) -> Vocab:
        """The inverse of :meth:`to_dict`."""
        tokens = list(data["tokens"])
        if tuple(tokens[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"a vocabulary must start with {SPECIAL_TOKENS}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("duplicate tokens in vocabulary")
        vocab = cls.__new__(cls)
        vocab._set_tokens(tokens)
        return vocab


# --------------------------------------------------------------------------------------------
# Reading and splitting parallel text
# --------------------------------------------------------------------------------------------

def read_tsv(path, src: str = "zh", tgt: str = "en") -> list[tuple[str, str]]:
    """Read sentence pairs in the Tatoeba / manythings.org format:
    ``English<TAB>Chinese[<TAB>attribution]`` per line, UTF-8, with or without a byte-order mark.

    ``src`` and ``tgt`` ("zh" or "en") choose the direction; pairs come back as
    ``(src, tgt)``.  Malformed lines (fewer than two columns, an empty side, bytes that are not
    UTF-8) are skipped, and one warning says how many and where the first was.  Blank lines are
    ignored silently.
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
            if len(fields) < 2 or not fields[0] or not fields[1] or "\ufffd" in line:
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


# --------------------------------------------------------------------------------------------
# Batching
# --------------------------------------------------------------------------------------------

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

    batches = []
    for group in groups:
        sources = [list(src_ids[i]) + [EOS] for i in group]
        targets = [[BOS] + list(tgt_ids[i]) + [EOS] for i in group]
        batches.append((_pad(sources), _pad(targets)))
    return batches


def _pad(rows: list[list[int]]) -> np.ndarray:
    out = np.full((len(rows), max(len(r) for r in rows)), PAD, dtype=np.int64)
    for k, row in enumerate(rows):
        out[k, :len(row)] = row
    return out
