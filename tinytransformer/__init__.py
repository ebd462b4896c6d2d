"""tinytransformer: built only on tinytensor, in layers that import downwards only.

    nn/            the framework: Module, layers, initialisation, attention
    optim/         optimizers and learning-rate schedules
    utils/         atomic files, checkpoints, the progress reporter
    data/          the vocabulary and padding, shared by the applications
    transformer.py the encoder-decoder model; decoding.py greedy and beam search
    translation/   the Chinese-English translator (tokenizers, corpus, trainer)
    word2vec/      CBOW and skip-gram (trainer, KeyedVectors, file formats)
"""
from . import data, nn, optim, utils
from .nn import (Dropout, Embedding, FeedForward, GELU, Identity, LayerNorm, Linear, Module,
                 ModuleDict, ModuleList, MultiHeadAttention, Parameter, PositionalEncoding, ReLU,
                 Sequential, causal_mask, evaluating, normal_, scaled_dot_product_attention,
                 uniform_, xavier_uniform_)
from .transformer import Decoder, DecoderLayer, Encoder, EncoderLayer, Transformer, TransformerConfig
from .decoding import beam_search, greedy_decode
from .word2vec import KeyedVectors, Word2Vec  # noqa: E402
