"""Activations with torch.nn.functional's names: softmax and log-softmax (fused:
forward and backward each written directly on arrays), erf and the GELU made of
it, and log-sigmoid. reference.py writes the fused ones plainly."""
import math
import warnings

import numpy as np

from .. import backend
from ..autograd import Function
from ..dims import dim_aliases, normalize_dim
from ..tensor import Tensor
from . import register
from .elementwise import cast, exp, sigmoid, tanh
from .shape import reshape

__all__ = ["softmax", "log_softmax", "erf", "gelu", "logsigmoid"]


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


def row_sums(x, scale=1.0):
    """scale * x.sum(axis=-1, keepdims=True), as a product with a constant vector.
    BLAS's matrix-vector product is 3 to 6 times faster than NumPy's sum over a
    short last axis (an attention row of 15 to 30 scores, a layer norm's row)."""
    xp = backend.get_array_module(x)
    n = x.shape[-1]
    rows = x.reshape(-1, n) if x.flags.c_contiguous and x.size else x   # 2-D: one product, not a loop
    return xp.matmul(rows, xp.full(n, scale, dtype=x.dtype)).reshape(x.shape[:-1] + (1,))


# Rows shorter than this take row_max's column-by-column path; from about 64 on,
# NumPy's own reduction is as fast (measured at 15 to 100 columns, 0.4 to 8 MB).
SHORT_ROW = 64
ROW_BLOCK = 4096   # rows per block: at most 4096 x 63 float32 (1 MB) stays in the cache


def row_max(x, axis=-1):
    """x.max(axis=axis, keepdims=True), the same values (NaN included).

    NumPy's max over a short last axis - an attention row of 15 to 30 scores -
    spends its time starting and ending each row: 0.46 ms for (100, 4, 15, 15).
    Taking np.maximum of the columns instead, column 0 with column 1, then with
    column 2, ..., does one long vectorized pass per column: 0.05 ms. The rows
    go a block at a time, so that the columns' strided reads stay in the cache.
    Along another axis, or on the GPU, it is NumPy's (CuPy's) max."""
    xp = backend.get_array_module(x)
    n = x.shape[-1] if x.ndim else 0
    last = axis in (-1, x.ndim - 1)
    if xp is not np or not last or not 1 < n < SHORT_ROW or not x.flags.c_contiguous:
        return x.max(axis=axis, keepdims=True)
    rows = x.reshape(-1, n)
    out = np.empty(rows.shape[0], dtype=x.dtype)
    for start in range(0, rows.shape[0], ROW_BLOCK):
        block, best = rows[start:start + ROW_BLOCK], out[start:start + ROW_BLOCK]
        np.copyto(best, block[:, 0])
        for column in range(1, n):
            np.maximum(best, block[:, column], out=best)
    return out.reshape(x.shape[:-1] + (1,))


def stable_softmax(x, axis, in_place=False):
    """exp(x - max) / sum: the max shift keeps exp from overflowing. A slice that
    is entirely -inf (fully masked) gives zeros instead of NaN.
    in_place: write the result over x (a temporary of the caller's own): the same
    numbers, and one fresh array fewer to write - which costs, because a fresh
    array's memory is usually not in the cache."""
    xp = backend.get_array_module(x)
    last = axis in (-1, x.ndim - 1)
    m = row_max(x, axis)
    e = xp.subtract(x, xp.where(xp.isfinite(m), m, 0), out=x if in_place else None)
    xp.exp(e, out=e)                      # in place: this runs on every attention score
    total = row_sums(e) if last and e.dtype.kind == "f" else e.sum(axis=axis, keepdims=True)
    e /= xp.where(total == 0, 1, total)
    return e


def softmax_backward(y, gy, axis):
    """For y = softmax(x): dx = y * (gy - sum(gy * y))."""
    xp = backend.get_array_module(y)
    dx = gy * y
    last = axis in (-1, y.ndim - 1) and dx.dtype.kind == "f"
    dx = xp.subtract(gy, row_sums(dx) if last else dx.sum(axis=axis, keepdims=True), out=dx)
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
        m = row_max(x, self.dim)
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




def log_sigmoid_array(x):
    """log sigmoid(x) = min(x, 0) - log(1 + exp(-|x|)) on an array, stable for any x.
    A new array (LogSigmoid's forward, and fused losses)."""
    xp = backend.get_array_module(x)
    return xp.minimum(x, 0) - log1p_of_fraction(xp.exp(-xp.abs(x)))


def log1p_of_fraction(e):
    """log(1 + e) for e in [0, 1], within 4 units in the last place (NumPy's log1p: 1)
    and on the CPU about twice as fast (NumPy's log1p is not vectorised; its log is):

        log1p(e) = log(u) * e / (u - 1),   u = 1 + e rounded

    u - 1 is exact, and the factor e / (u - 1) undoes the rounding of 1 + e
    (Goldberg, "What every computer scientist should know about floating-point
    arithmetic", 1991). Where e is below half a unit in the last place of 1, u is
    1 and log1p(e) is e itself."""
    xp = backend.get_array_module(e)
    u = e + 1
    rounded = u - 1
    tiny = rounded == 0
    return xp.where(tiny, e, xp.log(u) * (e / xp.where(tiny, 1, rounded)))


class LogSigmoid(Function):
    """log(sigmoid(x)), stable for any x.

    forward:  y = min(x, 0) - log(1 + exp(-|x|))
    backward: dx = gy * sigmoid(-x)
    """

    def forward(self, x):
        return log_sigmoid_array(x)

    def backward(self, gy):
        return gy * sigmoid(-self.inputs[0])


@register
def logsigmoid(input):
    """log(sigmoid(x)), stable for large |x| (the Word2Vec loss is made of it)."""
    return LogSigmoid()(input)


