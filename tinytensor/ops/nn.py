"""Neural-network functions, with torch.nn.functional's names and arguments:
softmax, erf and GELU, the losses, layer norm, dropout, embedding, linear,
attention. `tinytensor.nn.functional` (import it as F) lists them all.

The ones on the hot path of training are *fused*: forward and backward are
each written directly on arrays, as one Function, instead of being built from
many small operations. That saves time and memory, and each is still checked
against finite differences in the tests. Their backward is not itself
differentiable (`twice_differentiable = False`); the functions built from
other operations (the regression and binary losses, nll_loss, linear,
dropout, GELU) are.

reference.py writes each fused operation plainly, from primitive operations:
read it for what they compute, this file for how they do it fast.

Layouts are torch's: a class dim is dim 1 ((N, C), (N, C, d1, ...)), or dim 0
of a single sample (C,).
"""
import math
import warnings

from .. import backend
from ..autograd import Function
from ..dims import dim_aliases, normalize_dim
from ..tensor import Tensor
from . import register
from .elementwise import abs, cast, clip, constant, exp, log, sigmoid, tanh, where
from .linalg import matmul
from .reduction import mean, sum
from .shape import reshape, swapaxes

# The operations also found directly under tinytensor (tt.softmax, ...); the
# rest are in tinytensor.nn.functional only, as in torch.
__all__ = ["softmax", "log_softmax", "erf", "gelu", "cross_entropy", "layer_norm", "dropout",
           "mse_loss", "logsigmoid", "binary_cross_entropy_with_logits",
           "scaled_dot_product_attention"]

# In torch's losses, the positional slots after the inputs (and weight) belong to the
# deprecated size_average and reduce; here everything after them is keyword-only
# (reduction=, ignore_index=, ...), so a positional value fails instead of meaning
# something else.
REDUCTIONS = ("mean", "sum", "none")


def check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def as_array(value, like, op, name):
    """A Tensor's array, or a list/NumPy value as an array on `like`'s device."""
    if isinstance(value, Tensor):
        if value.device != like.device:
            raise RuntimeError(f"{op}: {name} is on {value.device} but the input is on "
                               f"{like.device}; move it with .to(device) first")
        return value.data
    return backend.xp_for(like.device).asarray(value)


# ----------------------------------------------------------------------------
# Softmax and log-softmax
# ----------------------------------------------------------------------------
def softmax_dim(op, x, dim):
    """The dim to normalize over. Without one, torch's old implicit choice
    (dim 0 for 0-, 1- and 3-d inputs, else dim 1) with torch's warning."""
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1
        warnings.warn(f"Implicit dimension choice for {op} has been deprecated. "
                      "Change the call to include dim=X as an argument.", UserWarning,
                      stacklevel=3)
    return normalize_dim(dim, x.shape, op)


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
    """Softmax along a dim (fused); a slice that is all -inf gives zeros.

    forward:  y = exp(x - max(x)) / sum(exp(x - max(x)))
    backward: dx = y * (gy - sum(gy * y))
    """
    twice_differentiable = False
    saves_inputs = False  # backward reads the output

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        return stable_softmax(x, self.dim)

    def backward(self, gy):
        return Tensor(softmax_backward(self.output().data, gy.data, self.dim))


@register
@dim_aliases
def softmax(input, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along `dim`, computed without overflow. With
    `dtype`, the input is cast to it first (as torch)."""
    dim = softmax_dim("softmax", input, dim)
    if dtype is not None:
        input = cast(input, dtype)
    if input.ndim == 0:
        return reshape(Softmax(0)(reshape(input, (1,))), ())
    return Softmax(dim)(input)


class LogSoftmax(Function):
    """Log of the softmax along a dim (fused), without overflow or log(0).

    forward:  y = x - logsumexp(x)
    backward: dx = gy - exp(y) * sum(gy)
    """
    twice_differentiable = False
    saves_inputs = False  # backward reads the output

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        xp = backend.get_array_module(x)
        m = x.max(axis=self.dim, keepdims=True)
        shifted = x - xp.where(xp.isfinite(m), m, 0)
        return shifted - xp.log(xp.exp(shifted).sum(axis=self.dim, keepdims=True))

    def backward(self, gy):
        y = self.output().data
        xp = backend.get_array_module(y)
        g = gy.data
        return Tensor(g - xp.exp(y) * g.sum(axis=self.dim, keepdims=True))


@register
@dim_aliases
def log_softmax(input, dim=None, dtype=None):
    """log(softmax(x)) along `dim`, computed without overflow or log(0)."""
    dim = softmax_dim("log_softmax", input, dim)
    if dtype is not None:
        input = cast(input, dtype)
    if input.ndim == 0:
        return reshape(LogSoftmax(0)(reshape(input, (1,))), ())
    return LogSoftmax(dim)(input)


# ----------------------------------------------------------------------------
# erf, and the GELU made of it
# ----------------------------------------------------------------------------
# NumPy has no erf, so here is one, written with array operations only (so it
# runs on CuPy too), accurate to float64 round-off (1 ulp for erf, 2-4 ulps
# relative for erfc, whose tiny tail values keep their relative accuracy):
# - |x| < 4: a Taylor polynomial around the nearest center c = k/8. Each
#   center's erf(c) and erfc(c) come from Python's math module, and the
#   derivatives have a closed form, erf^(n)(c) = 2/sqrt(pi) (-1)^(n-1) H_(n-1)(c) exp(-c^2)
#   (H: the Hermite polynomials), so the whole table is computed once, here;
# - |x| >= 4: Laplace's continued fraction for erfc, which converges fast there.
TAYLOR_STEP = 1 / 8        # centers 0, 1/8, ..., 4: |x - c| <= 1/16
TAYLOR_END = 4.0
TAYLOR_TERMS = 18          # (1/16)^n / n! and H_n(4) keep 18 terms below round-off
FRACTION_TERMS = 20        # the continued fraction's depth, enough from 4 on
SQRT_PI = math.sqrt(math.pi)


def erf_taylor_table():
    """(erf(c), erfc(c), the coefficients erf^(n)(c) / n! for n = 1..TAYLOR_TERMS)
    for every center c, as NumPy arrays."""
    import numpy as np
    centers = [k * TAYLOR_STEP for k in range(int(TAYLOR_END / TAYLOR_STEP) + 1)]
    coefficients = np.empty((len(centers), TAYLOR_TERMS))
    for k, c in enumerate(centers):
        scale = 2 / SQRT_PI * math.exp(-c * c)
        hermite_before, hermite = 0.0, 1.0                    # H_(n-2), H_(n-1) for n = 1
        factorial = 1.0
        for n in range(1, TAYLOR_TERMS + 1):
            factorial *= n
            coefficients[k, n - 1] = scale * (-1) ** (n - 1) * hermite / factorial
            hermite_before, hermite = hermite, 2 * c * hermite - 2 * (n - 1) * hermite_before
    return (np.array([math.erf(c) for c in centers]), np.array([math.erfc(c) for c in centers]),
            coefficients)


ERF_AT, ERFC_AT, ERF_COEFFICIENTS = erf_taylor_table()


def erf_erfc_taylor(xp, a):
    """(erf(a), erfc(a)) for 0 <= a < 4: erf(c + h) = erf(c) + sum_n d_n h^n, by Horner."""
    k = xp.rint(a * (1 / TAYLOR_STEP)).astype(xp.int64)   # the nearest center
    h = a - k * TAYLOR_STEP                                  # exact: |h| <= 1/16
    d = xp.asarray(ERF_COEFFICIENTS, dtype=a.dtype)[k]        # (elements, TAYLOR_TERMS)
    p = d[:, -1]
    for n in range(TAYLOR_TERMS - 2, -1, -1):
        p = p * h + d[:, n]
    correction = p * h
    return (xp.asarray(ERF_AT, dtype=a.dtype)[k] + correction,
            xp.asarray(ERFC_AT, dtype=a.dtype)[k] - correction)


def exp_minus_square(xp, x):
    """exp(-x^2), without the error of rounding x^2 (a relative error of x^2
    ulps in the result, large in the tails): x = hi + lo with hi on a grid of
    1/64, so hi^2 is exact and only the small (x - hi)(x + hi) is rounded."""
    hi = xp.round(x * 64) / 64
    return xp.exp(-hi * hi) * xp.exp(-(x - hi) * (x + hi))


def erfc_fraction(xp, a):
    """erfc(a) for a >= 4, Laplace's continued fraction, evaluated bottom up:
    erfc(a) = exp(-a^2) / sqrt(pi) / (a + (1/2) / (a + 1 / (a + (3/2) / (a + 2 / ...))))"""
    a = xp.minimum(a, 30)   # erfc(30) underflows to 0 anyway; inf would give inf - inf
    f = a
    for k in range(FRACTION_TERMS, 0, -1):
        f = a + (k / 2) / f
    return exp_minus_square(xp, a) / (SQRT_PI * f)


def erf_erfc_array(x):
    """(erf(x), erfc(x)) of every element of an array."""
    xp = backend.get_array_module(x)
    a = xp.abs(x)
    near = a < TAYLOR_END
    erf_a, erfc_a = xp.empty_like(x), xp.empty_like(x)
    erf_a[near], erfc_a[near] = erf_erfc_taylor(xp, a[near])
    far = ~near                                 # also NaN, which stays NaN
    erfc_a[far] = erfc_fraction(xp, a[far])
    erf_a[far] = 1 - erfc_a[far]
    negative = x < 0                            # erf(-a) = -erf(a), erfc(-a) = 1 + erf(a)
    return xp.copysign(erf_a, x), xp.where(negative, 1 + erf_a, erfc_a)


def erf_array(x):
    return erf_erfc_array(x)[0]


def normal_cdf_array(x):
    """Phi(x) = erfc(-x / sqrt(2)) / 2: from erfc, so that its tiny values in the
    left tail keep their relative accuracy (1 + erf(x / sqrt(2)) would not)."""
    return erf_erfc_array(-x * (1 / math.sqrt(2)))[1] / 2


class Erf(Function):
    """The error function.

    forward:  y = erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt
    backward: dx = gy * 2/sqrt(pi) * exp(-x^2)
    """

    def forward(self, x):
        return erf_array(x)

    def backward(self, gy):
        x, = self.inputs
        return gy * (2 / SQRT_PI) * exp(-(x * x))


@register
def erf(input):
    """The error function, as torch.erf."""
    return Erf()(input)


class GELU(Function):
    """Gaussian error linear unit: x times the standard normal CDF of x.

    forward:  y = x Phi(x),  Phi(x) = (1 + erf(x / sqrt(2))) / 2        ("none", exact)
              y = x/2 (1 + t),  t = tanh(k (x + 0.044715 x^3)),  k = sqrt(2/pi)   ("tanh")
    backward: dx = gy (Phi(x) + x phi(x)),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
              dx = gy ((1 + t)/2 + x/2 (1 - t^2) k (1 + 3 * 0.044715 x^2))     ("tanh")
    """
    K = math.sqrt(2 / math.pi)

    def __init__(self, approximate):
        self.approximate = approximate

    def forward(self, x):
        if self.approximate == "tanh":
            xp = backend.get_array_module(x)
            return 0.5 * x * (1 + xp.tanh(self.K * (x + 0.044715 * x ** 3)))
        return x * normal_cdf_array(x)

    def backward(self, gy):
        x, = self.inputs
        if self.approximate == "tanh":
            t = tanh(self.K * (x + 0.044715 * x ** 3))
            dt = (1 - t * t) * self.K * (1 + 3 * 0.044715 * x * x)
            return gy * (0.5 * (1 + t) + 0.5 * x * dt)
        cdf = 0.5 * (1 + erf(x * (1 / math.sqrt(2))))
        pdf = exp(-0.5 * (x * x)) * (1 / math.sqrt(2 * math.pi))
        return gy * (cdf + x * pdf)


@register
def gelu(input, approximate="none"):
    """Gaussian error linear unit x Phi(x), exact (erf) by default; with
    approximate="tanh", the tanh formula of the GELU paper (and GPT-2)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU(approximate)(input)


# ----------------------------------------------------------------------------
# Cross-entropy and the negative log-likelihood
# ----------------------------------------------------------------------------
def class_rows(array, class_dim):
    """An (N, C) view of an array whose classes lie along class_dim: (C,) is one
    row; (N, C, d1, ...) has its class dim moved last, then (N * d1 * ..., C)."""
    if array.ndim == 1:
        return array[None]
    if array.ndim == 2:
        return array
    xp = backend.get_array_module(array)
    return xp.moveaxis(array, class_dim, -1).reshape(-1, array.shape[class_dim])


def from_class_rows(rows, shape, class_dim):
    """The inverse of class_rows: (N, C) rows back to an array of `shape`."""
    if len(shape) <= 2:
        return rows.reshape(shape)
    xp = backend.get_array_module(rows)
    moved = shape[:class_dim] + shape[class_dim + 1:] + (shape[class_dim],)
    return xp.ascontiguousarray(xp.moveaxis(rows.reshape(moved), -1, class_dim))


class CrossEntropy(Function):
    """Softmax cross-entropy of logits against class-index targets (fused).

    Row i holds the logits of one target t_i: (N, C), or each position of
    (N, C, d1, ...), or a single (C,). p = softmax over the classes, w the
    class weights (all 1 without `weight`), e the label smoothing:
    forward:  loss_i = (1 - e) w[t_i] (-log p[i, t_i]) + (e / C) sum_c w[c] (-log p[i, c])
              "mean": sum_i loss_i / sum_i w[t_i];  "sum": sum_i loss_i;  "none": loss_i
    backward: dlogits_i = g_i ((1 - e) w[t_i] (p_i - onehot(t_i)) + (e / C) (W p_i - w)),
              W = sum_c w[c], g_i = gy (divided by sum_i w[t_i] for "mean")
    A target equal to ignore_index has loss 0 and is not counted.
    """
    twice_differentiable = False
    saves_inputs = False  # backward reads p, kept from forward

    def __init__(self, targets, weight, ignore_index, label_smoothing, reduction):
        self.targets = targets.reshape(-1)      # one per row
        self.target_shape = targets.shape
        self.weight, self.ignore_index = weight, ignore_index
        self.smoothing, self.reduction = label_smoothing, reduction

    def forward(self, logits):
        xp = backend.get_array_module(logits)
        self.shape = logits.shape
        rows = class_rows(logits, 1)
        n, classes = rows.shape
        self.valid = self.targets != self.ignore_index
        self.safe_targets = xp.where(self.valid, self.targets, 0)
        # The weight of each row's target (0 for ignored rows): what "mean" divides by.
        picked = self.valid.astype(rows.dtype)
        if self.weight is not None:
            picked *= self.weight[self.safe_targets]
        self.picked = picked
        # log p = shifted - log_norm; only the target's log p and the (weighted) mean over
        # the classes are needed, so the (N, C) array of log p is never made: one exp pass
        # gives p too.
        shifted = rows - rows.max(axis=1, keepdims=True)
        target_shifted = shifted[xp.arange(n), self.safe_targets]
        if self.smoothing:
            if self.weight is None:
                smooth_shifted = shifted.mean(axis=1)                         # sum_c / C
            else:
                smooth_shifted = shifted @ self.weight / classes
        self.p = xp.exp(shifted, out=shifted)
        total = self.p.sum(axis=1, keepdims=True)
        self.p /= total
        log_norm = xp.log(total[:, 0])
        losses = picked * (log_norm - target_shifted)
        if self.smoothing:
            weight_sum = classes if self.weight is None else self.weight.sum()
            smooth = log_norm * (weight_sum / classes) - smooth_shifted      # (1/C) sum_c w (-log p)
            losses = (1 - self.smoothing) * losses + self.smoothing * smooth * self.valid
        if self.reduction == "none":
            return losses.reshape(self.target_shape)
        if self.reduction == "sum":
            return losses.sum()
        self.count = picked.sum()
        return losses.sum() / self.count

    def backward(self, gy):
        xp = backend.get_array_module(self.p)
        n, classes = self.p.shape
        e = self.smoothing
        scale = (1 - e) * self.picked
        if e:
            weight_sum = classes if self.weight is None else self.weight.sum()
            scale = scale + (e / classes) * weight_sum * self.valid
        g = self.p * scale[:, None]
        g[xp.arange(n), self.safe_targets] -= (1 - e) * self.picked
        if e:
            ones = 1.0 if self.weight is None else self.weight
            g -= (e / classes) * self.valid[:, None] * ones
        if self.reduction == "none":
            g *= gy.data.reshape(-1)[:, None]
        else:
            g *= gy.data / self.count if self.reduction == "mean" else gy.data
        return Tensor(from_class_rows(g, self.shape, 1))


@register
def cross_entropy(input, target, weight=None, *, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy between logits and targets, as torch.nn.functional.cross_entropy.

    input: (N, C), (N, C, d1, ...) (the class dim is dim 1) or (C,).
    target: class indices of shape (N,), (N, d1, ...) or () - or class
    probabilities of the input's shape (a float tensor, which may require grad).
    weight: (C,), a weight per class. ignore_index: a class index whose targets
    count for nothing. label_smoothing e: the target becomes (1 - e) of itself
    plus e spread evenly over the classes. reduction: "mean" (over the
    targets' weights, or over N * d1 * ... for probabilities), "sum", "none".
    """
    target, weight = check_cross_entropy_args(input, target, weight, ignore_index,
                                              label_smoothing, reduction)
    if isinstance(target, Tensor):
        return cross_entropy_with_probabilities(input, target, weight, label_smoothing,
                                                reduction)
    return CrossEntropy(target, weight, ignore_index, label_smoothing, reduction)(input)


def cross_entropy_with_probabilities(input, target, weight, label_smoothing, reduction):
    """-sum_c w_c q_c log p_c for probability targets q (smoothed), from log_softmax:
    its gradient reaches the targets too."""
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    q = target if not label_smoothing else target * (1 - label_smoothing) + label_smoothing / classes
    terms = q * log_softmax(input, class_dim)
    if weight is not None:
        terms = terms * constant(weight.reshape((classes,) + (1,) * (input.ndim - class_dim - 1)))
    losses = -sum(terms, class_dim)
    if reduction == "mean":
        return sum(losses) / (input.numel() // classes)
    return sum(losses) if reduction == "sum" else losses


def check_cross_entropy_args(input, target, weight, ignore_index, label_smoothing, reduction,
                             op="cross_entropy"):
    """The targets (an integer array, or a float Tensor of probabilities) and the
    weight (an array or None), after checking every argument against the input."""
    check_reduction(op, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if not isinstance(input, Tensor) or input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be a floating-point tensor of logits, got "
                        f"{getattr(input, 'dtype', type(input).__name__)}")
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have a class dim: (C,), (N, C) or (N, C, d1, ...), "
                         "got a 0-d tensor")
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    if weight is not None:
        weight = as_array(weight, input, op, "weight")
        if weight.shape != (classes,):
            raise ValueError(f"{op}: weight must have shape ({classes},), one per class of "
                             f"input {input.shape}, got {tuple(weight.shape)}")
        weight = weight.astype(input.dtype, copy=False)
    if not isinstance(target, Tensor):
        target = Tensor(as_array(target, input, op, "target"))
    if target.dtype.kind == "f" and op == "cross_entropy":       # class probabilities
        if target.shape != input.shape:
            raise ValueError(f"{op}: class-probability (float) targets must have the input's "
                             f"shape {input.shape}, got {target.shape}; class indices must be "
                             "integers")
        if ignore_index != -100:
            raise ValueError(f"{op}: ignore_index is not supported for class-probability "
                             "(floating-point) targets")
        return target, weight
    target = as_array(target, input, op, "target")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices (or, for cross_entropy, "
                        f"class probabilities), got dtype {target.dtype}")
    expected = input.shape[:class_dim] + input.shape[class_dim + 1:]
    if tuple(target.shape) != expected:
        raise ValueError(f"{op}: input of shape {input.shape} (classes on dim {class_dim}) "
                         f"needs target of shape {expected}, got {tuple(target.shape)}")
    real = target[target != ignore_index]
    if real.size and (int(real.min()) < 0 or int(real.max()) >= classes):
        raise IndexError(f"{op}: target must be in [0, {classes}) or ignore_index "
                         f"({ignore_index}), got values from {int(real.min())} to {int(real.max())}")
    return target, weight


def target_weights(input, target, weight, ignore_index):
    """A constant of the input's shape: w[t] at each target's class, 0 elsewhere
    (and 0 in the rows of ignored targets)."""
    xp = backend.xp_for(input.device)
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    ids = xp.expand_dims(target, class_dim)                        # a size-1 class dim
    class_ids = xp.arange(classes).reshape((classes,) + (1,) * (input.ndim - class_dim - 1))
    chosen = ((class_ids == ids) & (ids != ignore_index)).astype(input.dtype)
    if weight is not None:
        chosen *= weight.reshape(class_ids.shape)
    return chosen


@register
def nll_loss(input, target, weight=None, *, ignore_index=-100, reduction="mean"):
    """The negative log-likelihood -w[t] input[t] of log-probabilities `input`
    (the layouts of cross_entropy) at class indices `target`, as
    torch.nn.functional.nll_loss; "mean" divides by the targets' weights."""
    target, weight = check_cross_entropy_args(input, target, weight, ignore_index, 0.0,
                                              reduction, op="nll_loss")
    chosen = target_weights(input, target, weight, ignore_index)
    losses = -sum(input * constant(chosen), 0 if input.ndim == 1 else 1)
    if reduction == "mean":
        return sum(losses) / float(chosen.sum())
    return sum(losses) if reduction == "sum" else losses


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
        xp = backend.get_array_module(gy.data)
        g_out, xhat = gy.data, self.xhat
        dim = x.shape[-1]
        g = g_out * weight.data
        # dx = r * (g - mean(g) - xhat * mean(g * xhat)), in place on g: three fewer arrays
        g_xhat = xp.einsum("...i,...i->...", g, xhat)[..., None] / dim   # mean(g * xhat)
        g -= g.mean(axis=-1, keepdims=True)
        g -= xhat * g_xhat
        g *= self.rstd
        gw = (g_out * xhat).reshape(-1, dim).sum(axis=0) if weight.requires_grad else None
        gb = g_out.reshape(-1, dim).sum(axis=0) if bias.requires_grad else None
        return Tensor._wrap(g), gw if gw is None else Tensor(gw), gb if gb is None else Tensor(gb)


@register
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing dims `normalized_shape` to mean 0 and
    variance 1, then scale by `weight` and shift by `bias` (each of shape
    normalized_shape, optional), as torch.nn.functional.layer_norm."""
    normalized_shape = check_layer_norm_args(input, normalized_shape, weight, bias)
    size = math.prod(normalized_shape)
    xp = backend.xp_for(input.device)
    # Several trailing dims are normalized as one: flattened into the last axis and back.
    x = input if len(normalized_shape) == 1 else reshape(input, input.shape[:input.ndim - len(
        normalized_shape)] + (size,))
    weight = reshape(weight, (size,)) if weight is not None else Tensor(xp.ones(size, dtype=input.dtype))
    bias = reshape(bias, (size,)) if bias is not None else Tensor(xp.zeros(size, dtype=input.dtype))
    return reshape(LayerNorm(eps)(x, weight, bias), input.shape)


def check_layer_norm_args(input, normalized_shape, weight, bias):
    """normalized_shape as a tuple; it must be the input's trailing shape, and
    the shape of weight and bias when given."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    if isinstance(normalized_shape, Tensor):
        raise TypeError("layer_norm: normalized_shape is a shape (an int or a tuple of ints), "
                        "not a tensor; the weight comes after it: layer_norm(x, (D,), weight, bias)")
    normalized_shape = tuple(int(n) for n in normalized_shape)
    if not normalized_shape or len(normalized_shape) > input.ndim \
            or input.shape[input.ndim - len(normalized_shape):] != normalized_shape:
        raise ValueError(f"layer_norm: normalized_shape {normalized_shape} must be the trailing "
                         f"shape of the input, got input of shape {input.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != normalized_shape:
            raise ValueError(f"layer_norm: {name} must have shape {normalized_shape} "
                             f"(normalized_shape), got {t.shape}")
    return normalized_shape


# ----------------------------------------------------------------------------
# Dropout
# ----------------------------------------------------------------------------
class Dropout(Function):
    """Zero each element with probability p, scale the rest to keep the expectation.

    forward:  y = x * keep / (1 - p),  keep = [u >= p],  u uniform in [0, 1) (seeded generator)
    backward: dx = gy * keep / (1 - p)
    The mask is kept as booleans (a byte per element); see backend's keep_mask.
    """
    saves_inputs = False  # backward reads only the mask

    def __init__(self, p):
        self.p = p

    def forward(self, x):
        self.keep = backend.generator(backend.device_of(x)).keep_mask(x.shape, self.p)
        self.scale = x.dtype.type(1 / (1 - self.p))
        y = x * self.keep
        y *= self.scale
        return y

    def backward(self, gy):
        return gy * constant(self.keep) * float(self.scale)


@register
def dropout(input, p=0.5, training=True):
    """Randomly zero elements with probability p during training (identity otherwise)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0
    return Dropout(p)(input)


# ----------------------------------------------------------------------------
# Regression and binary losses
# ----------------------------------------------------------------------------
def reduce_loss(losses, reduction, op="loss"):
    check_reduction(op, reduction)
    if reduction == "mean":
        return mean(losses)
    return sum(losses) if reduction == "sum" else losses


def check_same_shape(op, input, target):
    if input.shape != target.shape:
        raise ValueError(f"{op}: input shape {input.shape} and target shape {target.shape} "
                         "differ (broadcasting here is almost always a bug)")


def as_target(target, input):
    """Targets given as a list or NumPy array become a constant of the input's dtype."""
    if isinstance(target, Tensor):
        return target
    return Tensor(backend.xp_for(input.device).asarray(target, dtype=input.dtype))


@register
def mse_loss(input, target, *, reduction="mean"):
    """Mean squared error (input - target)^2."""
    target = as_target(target, input)
    check_same_shape("mse_loss", input, target)
    diff = input - target
    return reduce_loss(diff * diff, reduction, "mse_loss")


@register
def l1_loss(input, target, *, reduction="mean"):
    """Mean absolute error |input - target|."""
    target = as_target(target, input)
    check_same_shape("l1_loss", input, target)
    return reduce_loss(abs(input - target), reduction, "l1_loss")


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
def logsigmoid(input):
    """log(sigmoid(x)), stable for large |x| (the Word2Vec loss is made of it)."""
    return LogSigmoid()(input)


@register
def binary_cross_entropy(input, target, weight=None, *, reduction="mean"):
    """-w (t log(x) + (1 - t) log(1 - x)) for probabilities x; each log is
    clamped at -100, as torch does, so x = 0 or 1 gives a finite loss."""
    target = as_target(target, input)
    check_same_shape("binary_cross_entropy", input, target)
    losses = -(target * clip(log(input), min=-100.0) + (1 - target) * clip(log(1 - input), min=-100.0))
    if weight is not None:
        losses = losses * as_target(weight, input)
    return reduce_loss(losses, reduction, "binary_cross_entropy")


@register
def binary_cross_entropy_with_logits(input, target, weight=None, *, reduction="mean",
                                     pos_weight=None):
    """-w (pw t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))) from the logits x,
    without overflow (log(1 - sigmoid(x)) = log_sigmoid(x) - x). pos_weight
    (one per class, the last dim) weighs the positive term."""
    target = as_target(target, input)
    check_same_shape("binary_cross_entropy_with_logits", input, target)
    log_p = logsigmoid(input)
    if pos_weight is None:
        losses = (1 - target) * input - log_p
    else:
        losses = (1 - target) * input - (1 + (as_target(pos_weight, input) - 1) * target) * log_p
    if weight is not None:
        losses = losses * as_target(weight, input)
    return reduce_loss(losses, reduction, "binary_cross_entropy_with_logits")


# ----------------------------------------------------------------------------
# Attention
# ----------------------------------------------------------------------------
class Attention(Function):
    """Scaled dot-product attention in one step (fused); masked scores are excluded.

    forward:  y = P V,  P = softmax(S),  S = Q K^T * scale (+ B, a float mask)
              Q (..., Lq, d_k), K (..., Lk, d_k), V (..., Lk, d_v) -> y (..., Lq, d_v)
    backward: dV = P^T gy,  dP = gy V^T,  dS = P * (dP - sum(dP * P)),
              dQ = dS K scale,  dK = dS^T Q scale,  dB = dS
    (with dropout on P, P is replaced by the dropped P in dV and dP.)
    """
    twice_differentiable = False

    def saved_inputs(self):
        return (0, 1, 2)  # q, k and v; a float mask's values are not needed

    def __init__(self, allowed, dropout_p, scale):
        self.allowed, self.dropout_p, self.scale = allowed, dropout_p, scale

    def forward(self, q, k, v, bias=None):
        xp = backend.get_array_module(q)
        scale = q.dtype.type(self.scale)
        scores = xp.matmul(q, k.swapaxes(-1, -2)) * scale
        if bias is not None:
            scores = scores + bias
        if self.allowed is not None:
            scores = xp.where(self.allowed, scores, xp.asarray(-xp.inf, dtype=scores.dtype))
        self.weights = stable_softmax(scores, axis=-1)
        used = self.weights
        if self.dropout_p:
            keep = backend.generator(backend.device_of(q)).keep_mask(used.shape, self.dropout_p)
            self.keep = keep.astype(q.dtype) * q.dtype.type(1 / (1 - self.dropout_p))
            used = used * self.keep
        self.used = used
        return xp.matmul(used, v)

    def backward(self, gy):
        xp = backend.get_array_module(gy.data)
        q, k, v = (t.data for t in self.inputs[:3])
        g = gy.data
        gv = xp.matmul(self.used.swapaxes(-1, -2), g)
        gp = xp.matmul(g, v.swapaxes(-1, -2))
        if self.dropout_p:
            gp = gp * self.keep
        gs = softmax_backward(self.weights, gp, axis=-1)
        gbias = Tensor(gs) if len(self.inputs) == 4 and self.inputs[3].requires_grad else None
        gs = gs * q.dtype.type(self.scale)
        gq = xp.matmul(gs, k)
        gk = xp.matmul(gs.swapaxes(-1, -2), q)
        return Tensor(gq), Tensor(gk), Tensor(gv), gbias


@register
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, *, scale=None, need_weights=False):
    """softmax(q k^T * scale + mask) v over the last two dims, as
    torch.nn.functional.scaled_dot_product_attention.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev).
    attn_mask, broadcastable to (..., L, S): boolean, True where a query may
    attend to a key (False is masked out), or float, added to the scores.
    is_causal: query i attends to keys j <= i (attn_mask must then be None).
    scale: 1/sqrt(E) unless given. dropout_p: dropout on the attention weights,
    applied whenever it is above 0 (pass 0.0 in evaluation, as torch).
    A query whose keys are all masked gets zero weights and a zero output.

    need_weights=True (tinytensor's, not torch's: MultiHeadAttention needs the
    weights, which this fused operation has anyway) also returns the attention
    weights (after dropout, without gradient), as (output, weights).
    """
    allowed, bias = check_attention_args(query, key, value, attn_mask, dropout_p, is_causal)
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    fn = Attention(allowed, dropout_p, scale)
    out = fn(query, key, value) if bias is None else fn(query, key, value, bias)
    return (out, Tensor(fn.used)) if need_weights else out


def check_attention_args(query, key, value, attn_mask, dropout_p, is_causal):
    """(allowed, bias): a boolean array, True where attending is allowed, and a
    float mask tensor to add to the scores; either may be None."""
    op = "scaled_dot_product_attention"
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise ValueError(f"{op}: query, key and value need at least 2 dims (..., length, "
                         f"features), got {query.shape}, {key.shape}, {value.shape}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{op}: query {query.shape}, key {key.shape}, value {value.shape} "
                         "need query and key to share E (the last dim) and key and value to "
                         "share S (the length)")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"{op}: dropout_p must be in [0, 1), got {dropout_p}")
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError(f"{op}: an explicit attn_mask should not be given when "
                               "is_causal=True (as torch)")
        xp = backend.xp_for(query.device)
        return xp.tri(query.shape[-2], key.shape[-2], dtype=bool), None
    if attn_mask is None:
        return None, None
    if isinstance(attn_mask, Tensor) and attn_mask.dtype.kind == "f":
        return None, attn_mask
    mask = as_array(attn_mask, query, op, "attn_mask")
    if mask.dtype.kind == "f":
        return None, Tensor(mask.astype(query.dtype, copy=False))
    if mask.dtype.kind != "b":
        raise TypeError(f"{op}: attn_mask must be boolean (True = may attend) or float (added "
                        f"to the scores), got {mask.dtype}")
    return mask, None


# ----------------------------------------------------------------------------
# Embedding, linear, one_hot
# ----------------------------------------------------------------------------
class Embedding(Function):
    """Rows of `weight` picked by integer `ids`: the embedding lookup (fused).

    forward:  y = weight[ids]         weight (num_embeddings, dim) -> ids.shape + (dim,)
    backward: dweight = zeros;  dweight[ids[i]] += gy[i]   (one scatter; repeated ids add up;
              rows of ids equal to padding_idx send nothing)

    Fused: its backward scatters on raw arrays, so it is not twice differentiable.
    """
    twice_differentiable = False
    saves_inputs = False  # backward reads only shapes (in-place changes of the weight are fine)

    def __init__(self, ids, padding_idx):
        self.ids, self.padding_idx = ids, padding_idx

    def forward(self, weight):
        return weight[self.ids]

    def backward(self, gy):
        weight = self.inputs[0]
        xp = backend.xp_for(weight.device)
        gw = xp.zeros(weight.shape, dtype=gy.dtype)
        ids, g = self.ids.reshape(-1), gy.data.reshape(-1, weight.shape[1])
        if self.padding_idx is not None:
            used = ids != self.padding_idx
            ids, g = ids[used], g[used]
        backend.scatter_add(gw, ids, g)
        return Tensor(gw)


@register
def embedding(input, weight, padding_idx=None):
    """weight[input]: the rows of a 2-D weight picked by integer ids, as
    torch.nn.functional.embedding(input, weight) (ids first). Rows read at
    padding_idx get no gradient."""
    ids = check_embedding_args(input, weight)
    if padding_idx is not None:
        if not -weight.shape[0] <= padding_idx < weight.shape[0]:
            raise ValueError(f"embedding: padding_idx {padding_idx} is outside "
                             f"[-{weight.shape[0]}, {weight.shape[0]})")
        padding_idx %= weight.shape[0]
    return Embedding(ids, padding_idx)(weight)


def check_embedding_args(input, weight):
    """The ids as a backend array, after checking them against the weight."""
    if not isinstance(weight, Tensor):
        raise TypeError(f"embedding: weight must be a Tensor (num_embeddings, dim), got "
                        f"{type(weight).__name__}; note torch's order: embedding(ids, weight)")
    ids = as_array(input, weight, "embedding", "input")
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding: input must hold integer ids, got dtype {ids.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, dim), got shape "
                         f"{weight.shape}")
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= weight.shape[0]):
        raise IndexError(f"embedding: ids must be in [0, {weight.shape[0]}), got values from "
                         f"{int(ids.min())} to {int(ids.max())}")
    return ids


class Linear(Function):
    """x W^T + b in one step (fused): one matrix product, the bias added in place.

    forward:  y = x @ W^T + b        x (N, in), W (out, in), b (out,) -> y (N, out)
    backward: dx = gy @ W,  dW = gy^T @ x,  db = sum(gy) over the rows

    dW comes out (out, in) and contiguous, like W (the composed version
    computes x^T @ gy and transposes it back, which costs a copy). The backward
    is made of matmul and sum, so it is differentiable again.
    """

    def saved_inputs(self):
        """x is read for dW, W for dx; the bias's value is never needed."""
        x_needed, w_needed = (edge is not None for edge in self.next_functions[:2])
        return [i for i, needed in ((0, w_needed), (1, x_needed)) if needed]

    def forward(self, x, weight, bias=None):
        y = backend.get_array_module(x).matmul(x, weight.T)
        if bias is not None:
            y += bias
        return y

    def backward(self, gy):
        x, weight = self.inputs[:2]
        needed = self.needs_input_grad
        gx = matmul(gy, weight) if needed[0] else None
        gw = matmul(swapaxes(gy, 0, 1), x) if needed[1] else None
        gb = sum(gy, 0) if len(needed) == 3 and needed[2] else None
        return gx, gw, gb


@register
def linear(input, weight, bias=None):
    """input @ weight^T + bias, weight (out_features, in_features), as
    torch.nn.functional.linear (tt.reference.linear is the same, composed)."""
    if weight.ndim != 2 or input.shape[-1:] != weight.shape[1:]:
        raise ValueError(f"linear: input of shape {input.shape} needs a weight of shape "
                         f"(out_features, {input.shape[-1] if input.ndim else '?'}), got "
                         f"{weight.shape}")
    # One 2-D matrix product over all leading dims is much faster than a batched one.
    flat = reshape(input, (-1, weight.shape[1])) if input.ndim != 2 else input
    if bias is None or bias.shape != weight.shape[:1]:
        y = Linear()(flat, weight)
        y = y if bias is None else y + bias  # a bias that broadcasts otherwise, as torch's
    else:
        y = Linear()(flat, weight, bias)
    return reshape(y, input.shape[:-1] + (weight.shape[0],)) if input.ndim != 2 else y


def one_hot(tensor, num_classes=-1):
    """An int64 tensor with a trailing dim of size num_classes (the largest id
    plus one by default): 1 at each id, 0 elsewhere, as torch.nn.functional.one_hot."""
    xp = backend.xp_for(tensor.device) if isinstance(tensor, Tensor) else backend.xp_for(
        backend.get_default_device())
    ids = tensor.data if isinstance(tensor, Tensor) else xp.asarray(tensor)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"one_hot: ids must be integers (int64), got dtype {ids.dtype}")
    if num_classes == -1:
        num_classes = int(ids.max()) + 1 if ids.size else 0
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= num_classes):
        raise RuntimeError(f"one_hot: class values must be in [0, {num_classes}), got values "
                           f"from {int(ids.min())} to {int(ids.max())}")
    return Tensor((ids[..., None] == xp.arange(num_classes)).astype(xp.int64))
