"""The small framework models are built from, as torch.nn: Module trees, layers,
losses, their initialisations, attention, and utils (gradient clipping)."""
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential, evaluating
from .init import normal_, uniform_, xavier_uniform_, zero_row_, zeros_
from .layers import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Dropout, Embedding, FeedForward,
                     GELU, Identity, L1Loss, LayerNorm, Linear, LogSoftmax, MSELoss, NLLLoss, ReLU,
                     Sigmoid, Softmax, Tanh)
from .attention import MultiHeadAttention, PositionalEncoding, causal_mask, scaled_dot_product_attention
from . import utils
