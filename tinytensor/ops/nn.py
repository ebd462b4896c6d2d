"""Neural-network functions: softmax, losses, layer norm, dropout, attention.

These sit on the hot path of training, so most are *fused*: forward and
backward are each written directly on arrays, as one Function, instead of
being built from many small operations. That saves time and memory, and each
is still checked against finite differences in the tests. Their backward is
not itself differentiable (`twice_differentiable = False`); those built from
other operations (log_sigmoid, the losses made from it, dropout) are.

reference.py writes each fused operation plainly, from primitive operations:
read it for what they compute, this file for how they do it fast.
"""
import math

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from . import register
from .elementwise import constant, sigmoid
from .reduction import mean, sum
from .shape import reshape

__all__ = ["softmax", "log_softmax", "cross_entropy", "layer_norm", "dropout", "mse_loss",
           "log_sigmoid", "binary_cross_entropy_with_logits", "scaled_dot_product_attention"]


# ----------------------------------------------------------------------------
# Softmax and log-softmax
# ----------------------------------------------------------------------------
def stable_softmax(x, axis):
    """exp(x - max) / sum: the max shift keeps exp from overflowing. A slice that
    is entirely -inf (fully masked) gives zeros instead of NaN."""
    xp = backend.get_array_module(x)
    m = x.max(axis=axis, keepdims=True)
    e = x - xp.where(xp.isfinite(m), m, 0)
    xp.exp(e, out=e)                      # in place: this runs on every attention score
    total = e.sum(axis=axis, keepdims=True)
    e /= xp.where(total == 0, 1, total)
    return e


def softmax_backward(y, gy, axis):
    """For y = softmax(x): dx = y * (gy - sum(gy * y))."""
    dx = gy - (gy * y).sum(axis=axis, keepdims=True)
    dx *= y
    return dx


class Softmax(Function):
    """Softmax along an axis (fused); a slice that is all -inf gives zeros.

    forward:  y = exp(x - max(x)) / sum(exp(x - max(x)))
    backward: dx = y * (gy - sum(gy * y))
    """
    twice_differentiable = False

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        self.y = stable_softmax(x, self.axis)
        return self.y

    def backward(self, gy):
        return Tensor(softmax_backward(self.y, gy.data, self.axis))


@register
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`, computed without overflow."""
    return Softmax(axis)(x)


class LogSoftmax(Function):
    """Log of the softmax along an axis (fused), without overflow or log(0).

    forward:  y = x - logsumexp(x)
    backward: dx = gy - exp(y) * sum(gy)
    """
    twice_differentiable = False

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        m = x.max(axis=self.axis, keepdims=True)
        shifted = x - xp.where(xp.isfinite(m), m, 0)
        self.y = shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        return self.y

    def backward(self, gy):
        xp = backend.get_array_module(self.y)
        g = gy.data
        return Tensor(g - xp.exp(self.y) * g.sum(axis=self.axis, keepdims=True))


@register
def log_softmax(x, axis=-1):
    """log(softmax(x)) along `axis`, computed without overflow or log(0)."""
    return LogSoftmax(axis)(x)


# ----------------------------------------------------------------------------
# Cross-entropy
# ----------------------------------------------------------------------------
class CrossEntropy(Function):
    """Softmax cross-entropy of logits (N, C) against integer targets t (N,), fused.

    forward:  loss_i = (1 - e) * (-log p[i, t_i]) + e * mean_c(-log p[i, c]),
              p = softmax(logits), e = label smoothing;  reduced to () unless "none"
    backward: dlogits = (p - q) * gy,  q = (1 - e) * onehot(t) + e / C
              (divided by the count of targets for "mean")

    Targets equal to ignore_index contribute nothing and are not counted.
    """
    twice_differentiable = False

    def __init__(self, targets, ignore_index, label_smoothing, reduction):
        self.targets, self.ignore_index = targets, ignore_index
        self.smoothing, self.reduction = label_smoothing, reduction

    def forward(self, logits):
        xp = backend.get_array_module(logits)
        n, classes = logits.shape
        rows = xp.arange(n)
        self.valid = self.targets != self.ignore_index
        self.safe_targets = xp.where(self.valid, self.targets, 0)
        # log p = shifted - log_norm; only the target's log p and the mean over classes are
        # needed, so the (N, C) array of log p is never made: one exp pass gives p too.
        shifted = logits - logits.max(axis=1, keepdims=True)
        losses = -shifted[rows, self.safe_targets]
        if self.smoothing:
            mean_shifted = shifted.mean(axis=1)
        self.p = xp.exp(shifted, out=shifted)
        total = self.p.sum(axis=1, keepdims=True)
        self.p /= total
        log_norm = xp.log(total[:, 0])
        losses = losses + log_norm
        if self.smoothing:
            losses = (1 - self.smoothing) * losses + self.smoothing * (log_norm - mean_shifted)
        losses = losses * self.valid
        if self.reduction == "none":
            return losses
        if self.reduction == "sum":
            return losses.sum()
        self.count = self.valid.sum()
        return losses.sum() / self.count.astype(logits.dtype)

    def backward(self, gy):
        xp = backend.get_array_module(self.p)
        n, classes = self.p.shape
        g = self.p.copy()
        g[xp.arange(n), self.safe_targets] -= 1 - self.smoothing
        if self.smoothing:
            g -= self.smoothing / classes
        g *= self.valid[:, None]
        if self.reduction == "none":
            return Tensor(g * gy.data[:, None])
        if self.reduction == "mean":
            g /= self.count.astype(g.dtype)
        return Tensor(g * gy.data)


@register
def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    """Cross-entropy between logits (..., C) and integer class targets (...).

    The class axis is the last one (flatten a (batch, time, C) output or pass
    it as is). `ignore_index` targets are skipped; `label_smoothing` mixes the
    one-hot target with the uniform distribution; `reduction` is "mean" (over
    the targets that are not ignored), "sum" or "none".
    """
    targets = check_cross_entropy_args(logits, targets, ignore_index, label_smoothing, reduction)
    loss = CrossEntropy(targets.reshape(-1), ignore_index, label_smoothing, reduction)(
        reshape(logits, (-1, logits.shape[-1])))
    return reshape(loss, targets.shape) if reduction == "none" else loss


def check_cross_entropy_args(logits, targets, ignore_index, label_smoothing, reduction):
    """The targets as a backend array, after checking every argument of cross_entropy."""
    targets = targets.data if isinstance(targets, Tensor) else backend.xp_for(
        logits.device).asarray(targets)
    if targets.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class ids, got dtype {targets.dtype}")
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"cross_entropy: logits of shape {logits.shape} need targets of shape "
                         f"{logits.shape[:-1]}, got {targets.shape}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    classes = logits.shape[-1]
    flat = targets.reshape(-1)
    real = flat[flat != ignore_index]
    if real.size and (int(real.min()) < 0 or int(real.max()) >= classes):
        raise IndexError(f"cross_entropy: targets must be in [0, {classes}) or ignore_index "
                         f"({ignore_index}), got values from {int(real.min())} to {int(real.max())}")
    return targets


# ----------------------------------------------------------------------------
# Layer norm
# ----------------------------------------------------------------------------
class LayerNorm(Function):
    """Normalize over the last axis, then scale and shift (fused).

    forward:  y = xhat * weight + bias,  xhat = (x - mean(x)) * r,  r = 1 / sqrt(var(x) + eps)
    backward: dx = r * (g - mean(g) - xhat * mean(g * xhat)),  g = gy * weight
              dweight = sum(gy * xhat),  dbias = sum(gy)     (over all but the last axis)
    """
    twice_differentiable = False

    def __init__(self, eps):
        self.eps = eps

    def forward(self, x, weight, bias):
        xp = backend.get_array_module(x)
        centered = x - x.mean(axis=-1, keepdims=True)
        variance = xp.einsum("...i,...i->...", centered, centered)[..., None] / x.shape[-1]
        self.rstd = 1 / xp.sqrt(variance + self.eps)
        self.xhat = xp.multiply(centered, self.rstd, out=centered)
        y = self.xhat * weight
        y += bias
        return y

    def backward(self, gy):
        x, weight, bias = self.inputs
        g_out = gy.data
        dim = x.shape[-1]
        g = g_out * weight.data
        gx = self.rstd * (g - g.mean(axis=-1, keepdims=True)
                          - self.xhat * (g * self.xhat).mean(axis=-1, keepdims=True))
        gw = (g_out * self.xhat).reshape(-1, dim).sum(axis=0) if weight.requires_grad else None
        gb = g_out.reshape(-1, dim).sum(axis=0) if bias.requires_grad else None
        return Tensor(gx), gw if gw is None else Tensor(gw), gb if gb is None else Tensor(gb)


@register
def layer_norm(x, weight=None, bias=None, eps=1e-5):
    """Normalize over the last axis to mean 0 and variance 1, then scale by
    `weight` and shift by `bias` (each of shape (D,), optional)."""
    check_layer_norm_args(x, weight, bias)
    dim = x.shape[-1]
    xp = backend.xp_for(x.device)
    weight = weight if weight is not None else Tensor(xp.ones(dim, dtype=x.dtype))
    bias = bias if bias is not None else Tensor(xp.zeros(dim, dtype=x.dtype))
    return LayerNorm(eps)(x, weight, bias)


def check_layer_norm_args(x, weight, bias):
    """weight and bias, when given, must have shape (D,) for an input (..., D)."""
    dim = x.shape[-1]
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (dim,):
            raise ValueError(f"layer_norm: {name} must have shape ({dim},) for input "
                             f"{x.shape}, got {t.shape}")


# ----------------------------------------------------------------------------
# Dropout
# ----------------------------------------------------------------------------
class Dropout(Function):
    """Zero each element with probability p, scale the rest to keep the expectation.

    forward:  y = x * m,   m = [u >= p] / (1 - p),  u uniform in [0, 1) (seeded generator)
    backward: dx = gy * m
    """

    def __init__(self, p):
        self.p = p

    def forward(self, x):
        rng = backend.generator(backend.device_of(x))
        keep = rng.random(x.shape, dtype="float32") >= self.p
        self.mask = keep.astype(x.dtype) * x.dtype.type(1 / (1 - self.p))
        return x * self.mask

    def backward(self, gy):
        return gy * constant(self.mask)


@register
def dropout(x, p=0.5, training=True):
    """Randomly zero elements with probability p during training (identity otherwise)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0
    return Dropout(p)(x)


# ----------------------------------------------------------------------------
# Regression and binary losses
# ----------------------------------------------------------------------------
def reduce_loss(losses, reduction):
    if reduction == "mean":
        return mean(losses)
    if reduction == "sum":
        return sum(losses)
    if reduction == "none":
        return losses
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


@register
def mse_loss(input, target, reduction="mean"):
    """Mean squared error (input - target)^2."""
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ")
    diff = input - target
    return reduce_loss(diff * diff, reduction)


class LogSigmoid(Function):
    """log(sigmoid(x)), stable for any x.

    forward:  y = min(x, 0) - log(1 + exp(-|x|))
    backward: dx = gy * sigmoid(-x)
    """

    def forward(self, x):
        xp = backend.get_array_module(x)
        return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gy):
        return gy * sigmoid(-self.inputs[0])


@register
def log_sigmoid(x):
    """log(sigmoid(x)), stable for large |x| (the Word2Vec loss is made of it)."""
    return LogSigmoid()(x)


@register
def binary_cross_entropy_with_logits(logits, targets, reduction="mean"):
    """-(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))), computed from the
    logits x without overflow as (1 - t) x - log_sigmoid(x)."""
    if not isinstance(targets, Tensor):
        targets = Tensor(backend.xp_for(logits.device).asarray(targets, dtype=logits.dtype))
    return reduce_loss((1 - targets) * logits - log_sigmoid(logits), reduction)


# ----------------------------------------------------------------------------
# Attention
# ----------------------------------------------------------------------------
class Attention(Function):
    """Scaled dot-product attention in one step (fused); masked scores are excluded.

    forward:  y = P V,  P = softmax(S),  S = Q K^T / sqrt(d_k)
              Q (..., Lq, d_k), K (..., Lk, d_k), V (..., Lk, d_v) -> y (..., Lq, d_v)
    backward: dV = P^T gy,  dP = gy V^T,  dS = P * (dP - sum(dP * P)),
              dQ = dS K / sqrt(d_k),  dK = dS^T Q / sqrt(d_k)
    """
    twice_differentiable = False

    def __init__(self, mask, dropout_p):
        self.mask, self.dropout_p = mask, dropout_p

    def forward(self, q, k, v):
        xp = backend.get_array_module(q)
        self.scale = q.dtype.type(1 / math.sqrt(q.shape[-1]))
        scores = xp.matmul(q, k.swapaxes(-1, -2)) * self.scale
        if self.mask is not None:
            scores = xp.where(self.mask, scores, xp.asarray(-xp.inf, dtype=scores.dtype))
        self.weights = stable_softmax(scores, axis=-1)
        used = self.weights
        if self.dropout_p:
            rng = backend.generator(backend.device_of(q))
            keep = rng.random(used.shape, dtype="float32") >= self.dropout_p
            self.keep = keep.astype(q.dtype) * q.dtype.type(1 / (1 - self.dropout_p))
            used = used * self.keep
        self.used = used
        return xp.matmul(used, v)

    def backward(self, gy):
        xp = backend.get_array_module(gy.data)
        q, k, v = (t.data for t in self.inputs)
        g = gy.data
        gv = xp.matmul(self.used.swapaxes(-1, -2), g)
        gp = xp.matmul(g, v.swapaxes(-1, -2))
        if self.dropout_p:
            gp = gp * self.keep
        gs = softmax_backward(self.weights, gp, axis=-1) * self.scale
        gq = xp.matmul(gs, k)
        gk = xp.matmul(gs.swapaxes(-1, -2), q)
        return Tensor(gq), Tensor(gk), Tensor(gv)


@register
def scaled_dot_product_attention(q, k, v, mask=None, dropout_p=0.0, training=True,
                                 return_weights=False):
    """softmax(q k^T / sqrt(d_k)) v over the last two axes.

    q: (..., L_q, d_k), k: (..., L_k, d_k), v: (..., L_k, d_v) -> (..., L_q, d_v).
    mask: boolean, broadcastable to (..., L_q, L_k); True means "may attend"
    (as in torch's scaled_dot_product_attention). A query whose keys are all
    masked gets zero weights and a zero output, never NaN.
    With return_weights=True, also returns the attention weights (no grad).
    """
    mask = check_attention_args(q, k, v, mask)
    fn = Attention(mask, dropout_p if training else 0.0)
    out = fn(q, k, v)
    return (out, Tensor(fn.weights)) if return_weights else out


def check_attention_args(q, k, v, mask):
    """The mask as a backend array (or None), after checking the shapes and the mask."""
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: q {q.shape}, k {k.shape}, v {v.shape} "
                         "need q and k to share d_k and k and v to share L_k")
    if mask is not None:
        mask = mask.data if isinstance(mask, Tensor) else mask
        if mask.dtype.kind != "b":
            raise TypeError(f"scaled_dot_product_attention: mask must be boolean, got {mask.dtype}")
    return mask
