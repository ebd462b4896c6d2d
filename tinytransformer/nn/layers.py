"""Layers, as torch.nn: Linear, Embedding, LayerNorm, Dropout, Identity, the
activations (ReLU, GELU, Tanh, Sigmoid, Softmax, LogSoftmax), the losses
(CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, BCELoss, BCEWithLogitsLoss),
and the Transformer's FeedForward. Each forward is one function of
tinytensor.nn.functional."""
import math

import tinytensor as tt
import tinytensor.nn.functional as F
from tinytensor import Parameter

from .init import normal_, uniform_, zero_row_
from .module import Module

__all__ = ["Linear", "Embedding", "LayerNorm", "Dropout", "Identity", "ReLU", "GELU", "Tanh",
           "Sigmoid", "Softmax", "LogSoftmax", "CrossEntropyLoss", "NLLLoss", "MSELoss",
           "L1Loss", "BCELoss", "BCEWithLogitsLoss", "FeedForward"]


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
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear({self.in_features}, {self.out_features}): input's last "
                             f"dimension is {x.shape[-1] if x.ndim else None}, expected "
                             f"{self.in_features} (input shape {x.shape})")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: row i of weight (num_embeddings, embedding_dim) is the
    vector of token i. As torch.nn.Embedding, the row of padding_idx starts at
    zero and never gets a gradient (so it stays what it is)."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, _weight=None,
                 _freeze=False):
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} is outside "
                                 f"[-{num_embeddings}, {num_embeddings})")
            padding_idx %= num_embeddings   # -1 means the last row, as in PyTorch
        self.padding_idx = padding_idx
        if _weight is not None:             # from_pretrained: these values, as they are
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(_weight.shape)}, expected "
                                 f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight, requires_grad=not _freeze)
            return
        self.weight = normal_(Parameter(tt.zeros(num_embeddings, embedding_dim)))
        if padding_idx is not None:
            zero_row_(self.weight, padding_idx)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        """An Embedding holding the rows of the 2-D `embeddings` (trained elsewhere,
        a Word2Vec's say), not trained further unless freeze=False."""
        embeddings = embeddings if isinstance(embeddings, tt.Tensor) else tt.tensor(embeddings)
        if embeddings.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D "
                             f"(num_embeddings, embedding_dim), got shape {embeddings.shape}")
        rows, dim = embeddings.shape
        return cls(rows, dim, padding_idx, _weight=embeddings.detach(), _freeze=freeze)

    def forward(self, ids):
        return F.embedding(ids, self.weight, self.padding_idx)   # ids.shape + (embedding_dim,)

    def extra_repr(self):
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class LayerNorm(Module):
    """Normalize the trailing dims normalized_shape to mean 0, variance 1, then
    scale and shift (weight starts at 1, bias at 0; none with
    elementwise_affine=False). eps=1e-5 as in PyTorch."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True):
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape, self.eps = tuple(normalized_shape), eps
        self.elementwise_affine = elementwise_affine
        self.weight = Parameter(tt.ones(self.normalized_shape)) if elementwise_affine else None
        self.bias = Parameter(tt.zeros(self.normalized_shape)) if elementwise_affine and bias \
            else None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, " \
               f"elementwise_affine={self.elementwise_affine}"


class Dropout(Module):
    """Zero elements with probability p (0.5 by default, as torch) in training
    mode, scaling the rest by 1 / (1 - p); the identity in eval mode."""

    def __init__(self, p=0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Identity(Module):
    """Returns its input (a placeholder where a layer is switched off)."""

    def __init__(self, *args, **kwargs):
        pass

    def forward(self, x):
        return x


# -- activations ------------------------------------------------------------------------
class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class GELU(Module):
    """x Phi(x), exact (erf) by default; approximate="tanh" for the tanh formula."""

    def __init__(self, approximate="none"):
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Softmax(Module):
    def __init__(self, dim=None):
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, x):
        return F.log_softmax(x, self.dim)


# -- losses: forward(input, target), the settings given once --------------------------------
class CrossEntropyLoss(Module):
    """F.cross_entropy; the class weight is a buffer (it moves with .to())."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        self.register_buffer("weight", weight)
        self.ignore_index, self.reduction = ignore_index, reduction
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(Module):
    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        self.register_buffer("weight", weight)
        self.ignore_index, self.reduction = ignore_index, reduction

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(Module):
    def __init__(self, reduction="mean"):
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(MSELoss):
    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class BCELoss(Module):
    def __init__(self, weight=None, reduction="mean"):
        self.register_buffer("weight", weight)
        self.reduction = reduction

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(Module):
    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.reduction = reduction

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class FeedForward(Module):
    """The position-wise feed-forward network of the Transformer:
    FFN(x) = W2 dropout(relu(W1 x + b1)) + b2, d_model -> d_ff -> d_model."""

    def __init__(self, d_model, d_ff, dropout=0.1):
        self.linear1 = Linear(d_model, d_ff)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(d_ff, d_model)

    def forward(self, x):
        hidden = F.relu_dropout(self.linear1(x), self.dropout.p, self.dropout.training)
        return self.linear2(hidden)   # relu_dropout is dropout(relu(.)) fused
