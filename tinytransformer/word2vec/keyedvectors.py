"""Querying word vectors with gensim's KeyedVectors API (and its results).

The words are held in the project's one vocabulary class, `Vocab` (no special
tokens); gensim's names `index_to_key` and `key_to_index` read it. Queries are
host-side NumPy on a copy of the trained vectors.
"""
import numpy as np

from ..data import Vocab
from . import evaluation, formats

__all__ = ["KeyedVectors"]


class KeyedVectors:
    """Word vectors with gensim's query API: most_similar, similarity, doesnt_match,
    evaluate_word_analogies, evaluate_word_pairs, and the word2vec file formats.

    vectors: (V, d) float32 NumPy array; index_to_key: the V distinct words,
    most frequent first (restrict_vocab relies on that order), or a `Vocab`
    (whose counts are then the words' counts); counts: optional, one per word.
    """

    def __init__(self, vectors, index_to_key, counts=None):
        vectors = np.asarray(vectors, dtype=np.float32)
        if isinstance(index_to_key, Vocab):
            if index_to_key.specials:
                raise ValueError("KeyedVectors: the vocabulary must have no special tokens")
            vocab = index_to_key
        else:
            vocab = Vocab(index_to_key, counts, specials=())
        if vectors.ndim != 2 or vectors.shape[0] != len(vocab):
            raise ValueError(f"KeyedVectors: {len(vocab)} words need vectors of shape "
                             f"({len(vocab)}, d), got {vectors.shape}")
        self.vectors, self.vocab = vectors, vocab
        self._unit = None

    # -- lookup -------------------------------------------------------------------------
    @property
    def index_to_key(self):
        """The words, by index (gensim's name for `vocab.itos`)."""
        return self.vocab.itos

    @property
    def key_to_index(self):
        """{word: index} (gensim's name for `vocab.stoi`)."""
        return self.vocab.stoi

    @property
    def counts(self):
        """How often each word was seen (zeros where that is not known)."""
        return self.vocab.counts

    @property
    def vector_size(self):
        return self.vectors.shape[1]

    def __len__(self):
        return len(self.vocab)

    def __contains__(self, key):
        return key in self.vocab

    def __repr__(self):
        return f"KeyedVectors({len(self)} words, vector_size={self.vector_size})"

    def get_index(self, key):
        try:
            return self.vocab.stoi[key]
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

    # -- evaluation (see evaluation.py) ---------------------------------------------------
    def evaluate_word_analogies(self, analogies, restrict_vocab=300000, case_insensitive=True,
                                dummy4unknown=False):
        return evaluation.evaluate_word_analogies(self, analogies, restrict_vocab,
                                                  case_insensitive, dummy4unknown)

    def evaluate_word_pairs(self, pairs, delimiter="\t", encoding="utf8", restrict_vocab=300000,
                            case_insensitive=True, dummy4unknown=False):
        return evaluation.evaluate_word_pairs(self, pairs, delimiter, encoding, restrict_vocab,
                                              case_insensitive, dummy4unknown)

    evaluate_word_analogies.__doc__ = evaluation.evaluate_word_analogies.__doc__
    evaluate_word_pairs.__doc__ = evaluation.evaluate_word_pairs.__doc__

    # -- word2vec file formats (see formats.py) -------------------------------------------
    def save_word2vec_format(self, path, binary=False):
        """Write the C word2vec format, text or (binary=True) binary, atomically."""
        formats.save_word2vec_format(path, self.index_to_key, self.vectors, binary)

    @classmethod
    def load_word2vec_format(cls, path, binary=False, limit=None, encoding="utf-8"):
        """Read a file in the C word2vec format (text or binary), e.g. one written by
        gensim's or word2vec.c's save. A repeated word keeps its first vector."""
        keys, vectors = formats.load_word2vec_format(path, binary, limit, encoding)
        return cls(vectors, keys)


def _top_indices(values, k):
    """Indices of the k largest values, largest first."""
    k = min(k, len(values))
    if k <= 0:
        return np.array([], dtype=np.int64)
    part = np.argpartition(-values, k - 1)[:k] if k < len(values) else np.arange(len(values))
    return part[np.argsort(-values[part], kind="stable")]
