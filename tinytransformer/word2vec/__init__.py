"""Word2Vec on tinytensor: CBOW and skip-gram with negative sampling (Mikolov
et al., 2013), with gensim's API, evaluations and word2vec file formats.

    corpus.py        streaming a corpus: read_corpus_file, LineSentences
    vocabulary.py    counting it into the shared Vocab (word2vec.c's pruning)
    sampling.py      subsampling keep-probabilities, the noise distribution
    losses.py        the CBOW and skip-gram negative-sampling losses
    batching.py      windows and noise words of a batch, the epoch's batches
    embeddings.py    Word2VecEmbeddings: the two tables, a Module
    config.py        Word2VecConfig: the settings, saved in checkpoints
    workers.py       training in several processes on shared vectors
    trainer.py       Word2Vec: build_vocab, train, wv, save, load
    keyedvectors.py  KeyedVectors: most_similar, similarity, ...
    evaluation.py    analogies, word-pair correlations and their statistics
    formats.py       the word2vec text and binary formats

    model = Word2Vec(corpus_file="text8", vector_size=100, window=5, sg=1)
    model.wv.most_similar("king")
"""
from .batching import make_batch, row_scale
from .config import Word2VecConfig
from .corpus import MAX_SENTENCE_LENGTH, LineSentences, read_corpus_file
from .embeddings import Word2VecEmbeddings
from .keyedvectors import KeyedVectors
from .losses import cbow_loss, skipgram_loss
from .sampling import draw_noise, keep_probabilities, noise_cdf, noise_distribution, subsample
from .trainer import Word2Vec
from .vocabulary import build_vocab, count_words

__all__ = ["Word2Vec", "Word2VecConfig", "Word2VecEmbeddings", "KeyedVectors", "LineSentences",
           "read_corpus_file", "MAX_SENTENCE_LENGTH", "build_vocab", "count_words",
           "cbow_loss", "skipgram_loss", "keep_probabilities", "noise_distribution",
           "noise_cdf", "draw_noise", "subsample", "make_batch", "row_scale"]
