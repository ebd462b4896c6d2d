"""The fused operations, written plainly.

Each function here takes the arguments of the fused operation of the same
name (tt.softmax, tt.cross_entropy, ...) and computes the same thing, but
only by composing ordinary operations: exp, sum, log, mean, var, getitem,
matmul, masked_fill, where. So it reads like the formula, and since every
step has a differentiable backward it is also twice differentiable
(create_graph=True goes through it), at the price of speed and memory.

    tt.reference.softmax(x, dim=-1)    # equals tt.softmax(x, dim=-1), in value and gradient

Read these for what the fused operations compute; nn.py for how they do it
in one pass. They are not operations of their own, so they are not in OPS;
the tests check each against its fused twin.
"""
import math

from .. import backend
from ..dims import dim_aliases
from ..tensor import Tensor
from .comparison import clamp, masked_fill, where
from .elementwise import exp, log, relu, sqrt
from .indexing import getitem
from .linalg import matmul
from .activation import softmax_dim
from .loss import check_cross_entropy_args, target_weights
from .nn import check_attention_args, check_embedding_args, check_layer_norm_args, dropout
from .reduction import mean, sum, var
from .shape import swapaxes

__all__ = ["softmax", "log_softmax", "cross_entropy", "layer_norm", "add_layer_norm", "relu_dropout", "linear",
           "scaled_dot_product_attention", "packed_attention", "embedding", "negative_sampling_loss"]


def _max_shift(x, dim):
    """max(x) along `dim`, to subtract before exp so that exp never overflows.

    It is a constant (no gradient): softmax(x - c) = softmax(x) for any c. A
    slice that is all -inf is shifted by 0, since -inf - (-inf) would be NaN.
    """
    xp = backend.xp_for(x.device)
    m = x.data.max(axis=dim, keepdims=True)
    return Tensor(xp.where(xp.isfinite(m), m, 0))


@dim_aliases
def softmax(input, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along `dim`; a slice that is all -inf gives zeros."""
    dim = softmax_dim("softmax", input, dim)
    input = input if dtype is None else input.to(dtype=dtype)
    e = exp(input - _max_shift(input, dim))
    total = sum(e, dim, keepdim=True)
    return e / where(total > 0, total, 1.0)  # an all -inf slice: 0 / 1, not 0 / 0


@dim_aliases
def log_softmax(input, dim=None, dtype=None):
    """log(softmax(x)) along `dim`: the shifted x minus the log of its normalizer."""
    dim = softmax_dim("log_softmax", input, dim)
    input = input if dtype is None else input.to(dtype=dtype)
    shifted = input - _max_shift(input, dim)
    return shifted - log(sum(exp(shifted), dim, keepdim=True))


def cross_entropy(input, target, weight=None, *, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """-sum_c w_c q_c log p_c, p = softmax(input) over the class dim (dim 1, or
    dim 0 of a single (C,) sample).

    q is the target distribution: the given probabilities, or the one-hot of a
    class index; label smoothing e makes it (1 - e) q + e / C. Rows of targets
    equal to ignore_index have q = 0. "mean" divides by the sum of w at the
    target classes (class indices) or by the number of rows (probabilities).
    """
    target, weight = check_cross_entropy_args(input, target, weight, ignore_index,
                                              label_smoothing, reduction)
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    log_p = log_softmax(input, class_dim)
    if isinstance(target, Tensor):                                   # probabilities
        q, count = target, input.size // classes
    else:                                                            # class indices
        one_hot = target_weights(input, target, None, ignore_index)  # 0 in ignored rows
        counted = one_hot.sum(axis=class_dim, keepdims=True)        # 1, or 0 if ignored
        q = Tensor(one_hot)
        count = float(target_weights(input, target, weight, ignore_index).sum())
    if label_smoothing:
        q = q * (1 - label_smoothing) + label_smoothing / classes
        if not isinstance(target, Tensor):
            q = q * Tensor(counted)                                  # ignored rows stay 0
    if weight is not None:
        q = q * Tensor(weight.reshape((classes,) + (1,) * (input.ndim - class_dim - 1)))
    losses = -sum(q * log_p, class_dim)
    if reduction == "none":
        return losses
    return sum(losses) if reduction == "sum" else sum(losses) / count


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """(x - mean) / sqrt(var + eps) over the trailing dims normalized_shape,
    then * weight + bias."""
    normalized_shape = check_layer_norm_args(input, normalized_shape, weight, bias)
    dims = tuple(range(input.ndim - len(normalized_shape), input.ndim))
    centered = input - mean(input, dims, keepdim=True)
    y = centered / sqrt(var(input, dims, keepdim=True, correction=0) + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, *, scale=None, need_weights=False):
    """softmax(q k^T * scale + mask) v: the four lines of "Attention Is All You Need".

    A boolean mask (True = may attend) removes scores before the softmax; a
    float mask is added to them. A query whose keys are all masked gets zero
    weights and a zero output. Dropout on the weights is tt.dropout, which
    draws the same mask as the fused operation from the same seed.
    """
    allowed, bias = check_attention_args(query, key, value, attn_mask, dropout_p, is_causal)
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = matmul(query, swapaxes(key, -1, -2)) * scale
    if bias is not None:
        scores = scores + bias
    if allowed is not None:
        scores = masked_fill(scores, Tensor(~allowed), -math.inf)
    weights = dropout(softmax(scores, dim=-1), dropout_p)
    out = matmul(weights, value)
    return (out, weights.detach()) if need_weights else out


def packed_attention(qkv, *args, **kwargs):
    """Attention on the query, key and value stacked in qkv (3, ..., L, E)."""
    return scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], *args, **kwargs)


def add_layer_norm(input, sublayer, normalized_shape, weight=None, bias=None, eps=1e-5,
                   dropout_p=0.0):
    """The Transformer's "Add & Norm": layer norm of input + dropout(sublayer)."""
    return layer_norm(input + dropout(sublayer, dropout_p), normalized_shape, weight, bias, eps)


def relu_dropout(input, p=0.5, training=True):
    """The feed-forward network's middle: dropout of relu(input)."""
    return dropout(relu(input), p, training)


def linear(input, weight, bias=None):
    """input @ weight^T + bias, the matrix product over the last dim (the fused
    tt.linear computes it in one step, and dW without a transpose)."""
    y = matmul(input, swapaxes(weight, 0, 1))
    return y if bias is None else y + bias


def embedding(input, weight, padding_idx=None):
    """weight[input]: the rows of a 2-D weight picked by integer ids; the rows
    read at padding_idx are taken detached, so they pass no gradient back."""
    ids = check_embedding_args(input, weight)
    rows = getitem(weight, ids)
    if padding_idx is None:
        return rows
    padding_idx %= weight.shape[0]
    at_padding = Tensor((ids == padding_idx)[..., None])
    return where(at_padding, rows.detach(), rows)


def negative_sampling_loss(inputs, centres, noise, windows, centre_weights, noise_weights,
                           scale=None, clip=None):
    """CBOW's negative-sampling loss, as its formula: mix each window into its
    hidden vector, score it against its centre word and the block's noise
    words, weigh the log-sigmoids. With scale, the forward pass uses
    scale * h but the gradient of h passes undivided: h + detach(h * (scale - 1)).
    With clip, the scores are clamped to [-clip, clip] before their log-sigmoids."""
    from .activation import logsigmoid
    from .sampling import check_negative_sampling_args
    windows, centre_weights, noise_weights, scale = check_negative_sampling_args(
        inputs, centres, noise, windows, centre_weights, noise_weights, scale, clip)
    h = matmul(Tensor(windows), inputs)                                      # (N, G, d)
    if scale is not None:
        h = h + (h * Tensor(scale - 1)).detach()
    centre_scores = sum(h * centres, 2)                                      # (N, G)
    noise_scores = matmul(h, swapaxes(noise, 1, 2))                          # (N, G, M)
    if clip is not None:
        centre_scores = clamp(centre_scores, -clip, clip)
        noise_scores = clamp(noise_scores, -clip, clip)
    return -(sum(logsigmoid(centre_scores) * Tensor(centre_weights))
             + sum(logsigmoid(-noise_scores) * Tensor(noise_weights)))
