"""The fused operations, written plainly.

Each function here takes the arguments of the fused operation of the same
name (tt.softmax, tt.cross_entropy, ...) and computes the same thing, but
only by composing ordinary operations: exp, sum, max, log, mean, var,
getitem, matmul, masked_fill, where. So it reads like the formula, and since
every step has a differentiable backward it is also twice differentiable
(create_graph=True goes through it), at the price of speed and memory.

    tt.reference.softmax(x)       # equals tt.softmax(x), in value and gradient

Read these for what the fused operations compute; nn.py and indexing.py for
how they do it in one pass. They are not operations of their own, so they are
not in OPS; the tests check each against its fused twin.
"""
import math

from .. import backend
from .elementwise import exp, log, masked_fill, sqrt, where
from .indexing import check_take_args, getitem
from .linalg import matmul
from .nn import check_attention_args, check_cross_entropy_args, check_layer_norm_args, dropout
from .reduction import amax, mean, sum, var
from .shape import reshape, swapaxes

__all__ = ["softmax", "log_softmax", "cross_entropy", "layer_norm",
           "scaled_dot_product_attention", "take"]


def _max_shift(x, axis):
    """max(x) along `axis`, to subtract before exp so that exp never overflows.

    It is a constant (no gradient): softmax(x - c) = softmax(x) for any c. A
    slice that is all -inf is shifted by 0, since -inf - (-inf) would be NaN.
    """
    m = amax(x, axis, keepdims=True).detach()
    return where(m > -math.inf, m, 0.0)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`; a slice that is all -inf gives zeros."""
    e = exp(x - _max_shift(x, axis))
    total = sum(e, axis, keepdims=True)
    return e / where(total > 0, total, 1.0)  # an all -inf slice: 0 / 1, not 0 / 0


def log_softmax(x, axis=-1):
    """log(softmax(x)) along `axis`: the shifted x minus the log of its normalizer."""
    shifted = x - _max_shift(x, axis)
    return shifted - log(sum(exp(shifted), axis, keepdims=True))


def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    """-sum_c q_c log p_c for logits (..., C) and integer targets (...).

    p = softmax(logits); q is the one-hot target mixed with the uniform
    distribution: (1 - e) on the target plus e / C everywhere, e = label_smoothing.
    Targets equal to ignore_index give a loss of 0 and are not counted in the mean.
    """
    targets = check_cross_entropy_args(logits, targets, ignore_index, label_smoothing, reduction)
    log_p = log_softmax(reshape(logits, (-1, logits.shape[-1])))             # (N, C)
    flat = targets.reshape(-1)
    xp = backend.xp_for(logits.device)
    counted = flat != ignore_index
    rows, classes = xp.arange(flat.shape[0]), xp.where(counted, flat, 0)  # ignored: any class
    losses = -getitem(log_p, (rows, classes))                                # -log p[i, t_i]
    if label_smoothing:
        losses = (1 - label_smoothing) * losses - label_smoothing * mean(log_p, axis=-1)
    losses = where(counted, losses, 0.0)
    if reduction == "none":
        return reshape(losses, targets.shape)
    if reduction == "sum":
        return sum(losses)
    return sum(losses) / int(counted.sum())


def layer_norm(x, weight=None, bias=None, eps=1e-5):
    """(x - mean) / sqrt(var + eps) over the last axis, then * weight + bias."""
    check_layer_norm_args(x, weight, bias)
    centered = x - mean(x, axis=-1, keepdims=True)
    y = centered / sqrt(var(x, axis=-1, keepdims=True, correction=0) + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def scaled_dot_product_attention(q, k, v, mask=None, dropout_p=0.0, training=True,
                                 return_weights=False):
    """softmax(q k^T / sqrt(d_k)) v: the four lines of "Attention Is All You Need".

    mask (boolean, True = may attend) removes scores before the softmax; a
    query whose keys are all masked gets zero weights and a zero output. Dropout
    on the weights is tt.dropout, which draws the same mask as the fused
    operation from the same seed.
    """
    mask = check_attention_args(q, k, v, mask)
    scores = matmul(q, swapaxes(k, -1, -2)) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = masked_fill(scores, ~mask, -math.inf)
    weights = softmax(scores, axis=-1)
    out = matmul(dropout(weights, dropout_p, training), v)
    return (out, weights.detach()) if return_weights else out


def take(weight, ids):
    """weight[ids]: the rows of a 2-D weight picked by integer ids (embedding lookup)."""
    return getitem(weight, check_take_args(weight, ids))
