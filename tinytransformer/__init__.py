"""tinytransformer: layers, optimizers, the Transformer and Word2Vec, built only on tinytensor."""
from .module import Module, ModuleList, Parameter, Sequential
from .layers import (Dropout, Embedding, FeedForward, GELU, LayerNorm, Linear, ReLU, normal_,
                     uniform_, xavier_uniform_)
from .attention import MultiHeadAttention, PositionalEncoding, causal_mask, scaled_dot_product_attention
from .transformer import Decoder, DecoderLayer, Encoder, EncoderLayer, Transformer
from .decoding import beam_search, greedy_decode
from . import checkpoint, optim, schedule  # noqa: E402  (tf.optim.Adam, as torch.optim.Adam)
from .word2vec import KeyedVectors, Word2Vec  # noqa: E402
