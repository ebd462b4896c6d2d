"""Layers: Linear, Embedding, LayerNorm, Dropout, activations, FeedForward."""
import math

import tinytensor as tt
import tinytensor.nn.functional as F
from tinytensor import Parameter

from .init import normal_, uniform_, zero_row_
from .module import Module

__all__ = ["Linear", "Embedding", "LayerNorm", "Dropout", "ReLU", "GELU", "FeedForward"]


class Linear(Module):
    """y = x W^T + b.

    weight: (out_features, in_features), as in PyTorch, so weights port directly.
    bias: (out_features,) or None. Default init as PyTorch's:
    U(-1/sqrt(in_features), 1/sqrt(in_features)) for both.
    """

    def __init__(self, in_features, out_features, bias=True):
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features)
        self.weight = uniform_(Parameter(tt.zeros(out_features, in_features)), -bound, bound)
        self.bias = uniform_(Parameter(tt.zeros(out_features)), -bound, bound) if bias else None

    def forward(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(f"Linear({self.in_features}, {self.out_features}): input's last "
                             f"dimension is {x.shape[-1]}, expected {self.in_features} "
                             f"(input shape {x.shape})")
        # One 2-D matrix product over all leading axes is much faster than a batched one.
        flat = x.reshape(-1, self.in_features) if x.ndim != 2 else x
        y = flat @ self.weight.T
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(x.shape[:-1] + (self.out_features,)) if x.ndim != 2 else y

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: row i of weight (num_embeddings, embedding_dim) is the
    vector of token i. Rows of padding_idx are zero and get no gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None):
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is outside "
                                 f"[-{num_embeddings}, {num_embeddings})")
            padding_idx %= num_embeddings   # -1 means the last row, as in PyTorch
        self.padding_idx = padding_idx
        self.weight = normal_(Parameter(tt.zeros(num_embeddings, embedding_dim)))
        if padding_idx is not None:
            zero_row_(self.weight, padding_idx)

    def forward(self, ids):
        return F.embedding(ids, self.weight, self.padding_idx)   # ids.shape + (embedding_dim,)

    def extra_repr(self):
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class LayerNorm(Module):
    """Normalize the last axis to mean 0, variance 1, then scale and shift
    (weight starts at 1, bias at 0). eps=1e-5 as in PyTorch."""

    def __init__(self, normalized_shape, eps=1e-5):
        self.normalized_shape, self.eps = normalized_shape, eps
        self.weight = Parameter(tt.ones(normalized_shape))
        self.bias = Parameter(tt.zeros(normalized_shape))

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"


class Dropout(Module):
    """Zero elements with probability p in training mode; identity in eval mode."""

    def __init__(self, p=0.1):
        self.p = p

    def forward(self, x):
        return tt.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class ReLU(Module):
    def forward(self, x):
        return tt.relu(x)


class GELU(Module):
    def forward(self, x):
        return F.gelu(x)


class FeedForward(Module):
    """The position-wise feed-forward network of the Transformer:
    FFN(x) = W2 dropout(relu(W1 x + b1)) + b2, d_model -> d_ff -> d_model."""

    def __init__(self, d_model, d_ff, dropout=0.1):
        self.linear1 = Linear(d_model, d_ff)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(d_ff, d_model)

    def forward(self, x):
        return self.linear2(self.dropout(tt.relu(self.linear1(x))))
