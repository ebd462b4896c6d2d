"""The vocabulary: tokens <-> ids, most frequent first, with their counts.

One class serves every application. The translator keeps four special tokens
in front (`<pad> <unk> <s> </s>`, ids 0-3, so PAD is 0 as the embedding's
padding row expects); Word2Vec keeps none, and a word it does not know encodes
to -1, which its batching drops.

    vocab = Vocab.build([["我", "有", "苹果"], ["我", "爱", "你"]])
    vocab.encode(["我", "猫"])      # [4, 1]: 猫 is unknown, <unk> is id 1
"""
import itertools
from collections import Counter

import numpy as np

__all__ = ["Vocab", "PAD", "UNK", "BOS", "EOS", "SPECIAL_TOKENS"]

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "</s>")
UNKNOWN_ID = -1      # what an unknown token encodes to in a vocabulary without <unk>


class Vocab:
    """`itos[i]` is the token with id i, `stoi[token]` its id, `counts[i]` how often
    it was seen (0 for the specials); `total` counts every token seen while
    building, kept or not."""

    def __init__(self, tokens, counts=None, specials=SPECIAL_TOKENS, total=None):
        tokens = list(tokens)
        specials = tuple(specials)
        if tuple(tokens[:len(specials)]) != specials:
            raise ValueError(f"Vocab: the tokens must start with the specials {specials}, "
                             f"got {tokens[:len(specials)]}")
        counts = np.zeros(len(tokens), np.int64) if counts is None else np.asarray(counts, np.int64)
        if counts.shape != (len(tokens),):
            raise ValueError(f"Vocab: {len(tokens)} tokens but {counts.size} counts")
        self.itos, self.counts, self.specials = tokens, counts, specials
        self.stoi = {token: i for i, token in enumerate(tokens)}
        if len(self.stoi) != len(tokens):
            raise ValueError("Vocab: duplicate tokens")
        self.total = int(counts.sum()) if total is None else int(total)
        self.unk_id = self.stoi.get("<unk>", UNKNOWN_ID) if "<unk>" in specials else UNKNOWN_ID
        self._stripped = {self.stoi[t] for t in ("<pad>", "<s>") if t in specials}
        self._end = self.stoi.get("</s>") if "</s>" in specials else None

    # -- building ----------------------------------------------------------------
    @classmethod
    def build(cls, token_lists, min_freq=1, max_size=None, specials=SPECIAL_TOKENS):
        """Count the tokens of `token_lists` (an iterable of token lists) and keep
        those seen at least `min_freq` times (at most `max_size` entries in all,
        specials included)."""
        counts, total = Counter(), 0
        for tokens in token_lists:
            if isinstance(tokens, str):
                raise TypeError("Vocab.build wants lists of tokens, got a string; tokenize it first")
            counts.update(tokens)
            total += len(tokens)
        return cls.from_counts(counts, min_freq, max_size, specials, total)

    @classmethod
    def from_counts(cls, counts, min_freq=1, max_size=None, specials=SPECIAL_TOKENS, total=None):
        """From a {token: count} mapping: most frequent first, ties in the order the
        tokens were first seen (as word2vec.c and gensim), so the same data always
        gives the same ids."""
        if min_freq < 1:
            raise ValueError(f"Vocab: min_freq must be >= 1, got {min_freq}")
        kept = [(t, c) for t, c in counts.items() if c >= min_freq and t not in specials]
        kept.sort(key=lambda tc: -tc[1])                    # a stable sort keeps first-seen order
        if max_size is not None:
            kept = kept[:max(0, max_size - len(specials))]
        total = sum(counts.values()) if total is None else total
        return cls(list(specials) + [t for t, _ in kept],
                   [0] * len(specials) + [c for _, c in kept], specials, total)

    # -- lookups -------------------------------------------------------------------
    def __len__(self):
        return len(self.itos)

    def __contains__(self, token):
        return token in self.stoi

    def __eq__(self, other):
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self):
        shown = " ".join(self.itos[len(self.specials):len(self.specials) + 8])
        return f"Vocab({len(self)} tokens: {shown} ...)"

    def encode(self, tokens):
        """Token ids, as a list; an unknown token is `<unk>`'s id (-1 without <unk>).
        No `<s>`/`</s>` are added."""
        unk = self.unk_id
        return [self.stoi.get(token, unk) for token in tokens]

    def encode_array(self, tokens, dtype=np.int32):
        """`encode` as a NumPy array (the fast path for long corpora)."""
        ids = map(self.stoi.get, tokens, itertools.repeat(self.unk_id))   # map: no Python frame per token
        return np.fromiter(ids, dtype=dtype, count=len(tokens))

    def decode(self, ids, strip_special=True):
        """Tokens for `ids`. With `strip_special`, decoding stops at the first `</s>`
        and drops `<pad>` and `<s>` (`<unk>` stays: it stands for a word)."""
        tokens = []
        for i in ids:
            i = int(i)                                      # accepts NumPy integers
            if strip_special:
                if i == self._end:
                    break
                if i in self._stripped:
                    continue
            tokens.append(self.itos[i])
        return tokens

    # -- saving --------------------------------------------------------------------
    def to_dict(self):
        """A JSON-serialisable form, to save alongside a checkpoint."""
        return {"tokens": list(self.itos), "counts": self.counts.tolist(),
                "specials": list(self.specials), "total": self.total}

    @classmethod
    def from_dict(cls, data):
        """The inverse of `to_dict` (older checkpoints hold only "tokens", with the
        four specials)."""
        try:
            tokens = list(data["tokens"])
            specials = tuple(data.get("specials", SPECIAL_TOKENS))
            return cls(tokens, data.get("counts"), specials, data.get("total"))
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not a vocabulary: {error!r}") from None
