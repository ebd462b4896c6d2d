"""The small framework models are built from, as torch.nn: Module trees, layers,
their initialisations, and attention."""
from .module import Module, ModuleList, Parameter, Sequential, evaluating
from .init import normal_, uniform_, xavier_uniform_, zero_row_
from .layers import Dropout, Embedding, FeedForward, GELU, LayerNorm, Linear, ReLU
from .attention import MultiHeadAttention, PositionalEncoding, causal_mask, scaled_dot_product_attention
