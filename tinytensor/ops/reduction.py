"""Reductions over a dim (or several, or all): sums and averages, extremes,
products, log-sum-exp, and the orderings (sort, argsort, topk, argmax).

Each takes torch's `dim` and `keepdim` (NumPy's `axis` and `keepdims` work as
aliases, see dims.py). Backward of a reduction spreads each output gradient
back over the elements that were reduced: it re-inserts the reduced dims (as
size 1) and broadcasts.

As in torch, `max(x, dim)` and `min(x, dim)`, `sort` and `topk` return a
named tuple (values, indices): the values are differentiable (they are read
with `gather` at the indices), the int64 indices are not. Integer and boolean
results (argmax, any, all) have no gradient.
"""
import builtins
from collections import namedtuple
from types import SimpleNamespace

from .. import backend
from ..autograd import Function
from ..dims import dim_aliases, normalize_dim, normalize_dims
from ..tensor import Tensor, int64
from . import register
from .comparison import maximum, minimum, where
from .elementwise import cast, constant, exp, sqrt
from .indexing import gather
from .shape import broadcast_to, flip, reshape, squeeze

__all__ = ["sum", "mean", "var", "std", "max", "min", "amax", "amin", "logsumexp", "prod",
           "cumsum", "argmax", "argmin", "any", "all", "sort", "argsort", "topk",
           "return_types"]

# The named tuples that torch.return_types holds: result.values, result.indices.
return_types = SimpleNamespace(**{name: namedtuple(name, ["values", "indices"])
                                  for name in ["max", "min", "sort", "topk"]})


def reduced_size(shape, axes):
    """How many elements each output of a reduction over `axes` summarizes."""
    count = 1
    for a in axes:
        count *= shape[a]
    return count


def kept_shape(shape, axes):
    """The shape with reduced axes kept as size 1 (what keepdim=True gives)."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def spread_back(gy, x, axes):
    """Broadcast a reduction's gradient back to the input's shape."""
    return broadcast_to(reshape(gy, kept_shape(x.shape, axes)), x.shape)


def check_float(x, op):
    if x.dtype.kind not in "fc":
        raise RuntimeError(f"{op}(): needs a floating-point tensor, got dtype {x.dtype} "
                           "(convert it with .float() first)")


# ----------------------------------------------------------------------------
# Sums and averages
# ----------------------------------------------------------------------------
class Sum(Function):
    """Sum over dims: each output's gradient goes to every element it summed.

    forward:  y = sum_dims(x)        (x's shape without the dims, or with them as 1)
    backward: dx = broadcast(gy) to x's shape
    """
    saves_inputs = False  # backward reads only shapes (in-place changes of the input are fine)

    def __init__(self, axes, keepdim):
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x):
        return x.sum(axis=self.axes, keepdims=self.keepdim)

    def backward(self, gy):
        return spread_back(gy, self.inputs[0], self.axes)


@register
@dim_aliases
def sum(x, dim=None, keepdim=False):
    """Sum over `dim` (an int, a tuple, or None for all)."""
    return Sum(normalize_dims(dim, x.shape, "sum"), keepdim)(x)


def divide_by_count(total, count):
    """total / count; a count of 0 (an empty tensor, or var of one element) gives
    NaN, as torch does, instead of NumPy's 0 / -1 = -0.0."""
    return total / count if count > 0 else total * float("nan")


@register
@dim_aliases
def mean(x, dim=None, keepdim=False):
    """Average over `dim`."""
    check_float(x, "mean")
    count = reduced_size(x.shape, normalize_dims(dim, x.shape, "mean"))
    return divide_by_count(sum(x, dim, keepdim), count)


@register
@dim_aliases
def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over `dim`: sum((x - mean)^2) / (N - correction), as torch.var.

    correction=1 (the default; unbiased=True) is the unbiased estimate;
    correction=0 (unbiased=False) is the population variance that layer norm
    uses. torch's positional order is (dim, unbiased, keepdim). With no
    degrees of freedom left (N <= correction) the result is NaN, as in torch."""
    check_float(x, "var")
    if unbiased is not None and correction is not None:
        raise TypeError("var(): pass unbiased= or correction=, not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    count = reduced_size(x.shape, normalize_dims(dim, x.shape, "var"))
    centered = x - mean(x, dim, keepdim=True)
    return divide_by_count(sum(centered * centered, dim, keepdim),
                           builtins.max(count - correction, 0))


@register
@dim_aliases
def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Standard deviation over `dim`: sqrt(var), with var's arguments."""
    return sqrt(var(x, dim, unbiased, keepdim, correction=correction))


# ----------------------------------------------------------------------------
# Extremes
# ----------------------------------------------------------------------------
class MaxMin(Function):
    """amax or amin over dims; the gradient goes to the extreme elements, shared among ties.

    forward:  y = max_dims(x)  (or min)
    backward: dx = broadcast(gy) * [x == y] / (number of ties)
    """

    def __init__(self, axes, keepdim, largest):
        self.axes, self.keepdim, self.largest = axes, keepdim, largest

    def forward(self, x):
        reduce = x.max if self.largest else x.min
        return reduce(axis=self.axes, keepdims=self.keepdim)

    def backward(self, gy):
        x = self.inputs[0]
        y = self.output().data.reshape(kept_shape(x.shape, self.axes))
        winners = (x.data == y).astype(x.dtype)
        winners /= winners.sum(axis=self.axes, keepdims=True)
        return spread_back(gy, x, self.axes) * constant(winners)


def extreme(x, dim, keepdim, largest, op):
    axes = normalize_dims(dim, x.shape, op)
    if reduced_size(x.shape, range(x.ndim)) == 0 or reduced_size(x.shape, axes) == 0:
        raise RuntimeError(f"{op}(): cannot reduce a tensor of shape {x.shape} over dims "
                           f"{axes} that hold no elements")
    return MaxMin(axes, keepdim, largest)(x)


@register
@dim_aliases
def amax(x, dim=(), keepdim=False):
    """Largest value over `dim` (an int, a tuple; () or None for all). Ties
    share the gradient equally, as in torch."""
    return extreme(x, dim, keepdim, True, "amax")


@register
@dim_aliases
def amin(x, dim=(), keepdim=False):
    """Smallest value over `dim` (an int, a tuple; () or None for all)."""
    return extreme(x, dim, keepdim, False, "amin")


def extreme_along(x, dim, keepdim, largest, op):
    """The named tuple (values, indices) of max/min along one dim."""
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{op}(): dim must be one int for (values, indices); for several "
                        f"dims use a{op}(x, dim={tuple(dim)})")
    d = normalize_dim(dim, x.shape, op)
    if x.ndim and x.shape[d] == 0:
        raise IndexError(f"{op}(): dim {dim} of a tensor of shape {x.shape} is empty")
    xp = backend.xp_for(x.device)
    pick = xp.argmax if largest else xp.argmin
    indices = (pick(x.data, axis=d, keepdims=True) if x.ndim else xp.zeros((), dtype=int64))
    indices = indices.astype(int64, copy=False)
    values = gather(x, d, indices)
    if not keepdim and x.ndim:
        values, indices = squeeze(values, d), indices.squeeze(d)
    return getattr(return_types, op)(values, Tensor(indices))


@register
@dim_aliases
def max(x, dim=None, keepdim=False):
    """torch.max's three forms:

    max(x)                  the largest value, a 0-d tensor (ties share the gradient)
    max(x, dim, keepdim)    a named tuple (values, indices) along `dim`; the
                            gradient goes to the element at the index
    max(x, other)           the elementwise maximum of two tensors
    """
    if isinstance(dim, Tensor):
        return maximum(x, dim)
    if dim is None:
        return extreme(x, None, False, True, "max")
    return extreme_along(x, dim, keepdim, True, "max")


@register
@dim_aliases
def min(x, dim=None, keepdim=False):
    """torch.min: min(x), min(x, dim, keepdim) -> (values, indices), min(x, other)."""
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    if dim is None:
        return extreme(x, None, False, False, "min")
    return extreme_along(x, dim, keepdim, False, "min")


# ----------------------------------------------------------------------------
# Products and running sums
# ----------------------------------------------------------------------------
class Prod(Function):
    """Product over one dim (or all).

    forward:  y = prod_dim(x)
    backward: dx_i = gy * (the product of every reduced element but x_i)
    """

    def __init__(self, axes, keepdim):
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x):
        return x.prod(axis=self.axes, keepdims=self.keepdim)

    def backward(self, gy):
        x = self.inputs[0]
        return spread_back(gy, x, self.axes) * product_of_others(x, self.axes, self.output())


def product_of_others(x, axes, y):
    """For each x_i, the product of the other elements of its slice.

    That is y / x_i, except where x_i = 0: dividing would give 0/0. A slice
    with one zero has a single nonzero entry, at the zero: the product of the
    rest. A slice with two or more zeros has none. Written with tensor
    operations, so it can be differentiated again.
    """
    y = spread_back(y, x, axes)
    zero = x.data == 0
    if not zero.any():
        return y / x
    nonzero = where(constant(zero), 1.0, x)
    rest = spread_back(Prod(axes, True)(nonzero), x, axes)
    one_zero = zero.sum(axis=axes, keepdims=True) == 1
    return where(constant(zero), rest * constant(one_zero), y / nonzero)


@register
@dim_aliases
def prod(x, dim=None, keepdim=False):
    """Product over one `dim`, or over all elements (dim=None), as torch.prod.
    Differentiable, also where elements are 0."""
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"prod(): dim must be one int, got {dim!r} (torch.prod reduces one dim "
                        "or all)")
    axes = normalize_dims(dim, x.shape, "prod")
    return Prod(axes, keepdim)(x)


class CumSum(Function):
    """Running sum along a dim.

    forward:  y_i = x_0 + ... + x_i
    backward: dx_i = gy_i + ... + gy_last     (a running sum from the other end)
    """
    saves_inputs = False  # backward reads only shapes (in-place changes of the input are fine)

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        return x.cumsum(axis=self.dim)

    def backward(self, gy):
        return flip(cumsum(flip(gy, self.dim), self.dim), self.dim)


@register
@dim_aliases
def cumsum(x, dim, *, dtype=None):
    """Running sum along `dim` (required, as in torch); integers and booleans
    sum as int64, as in torch."""
    dim = normalize_dim(dim, x.shape, "cumsum")
    if dtype is not None:
        x = cast(x, dtype)
    elif x.dtype.kind in "biu":
        x = cast(x, int64)
    if x.ndim == 0:
        return x * 1
    return CumSum(dim)(x)


# ----------------------------------------------------------------------------
# log-sum-exp
# ----------------------------------------------------------------------------
class LogSumExp(Function):
    """log(sum(exp(x))) over dims, shifted by the max so that exp never overflows.

    forward:  y = m + log(sum_dims(exp(x - m))),  m = max_dims(x)
    backward: dx = broadcast(gy) * exp(x - y)    (= gy * softmax(x))
    """

    def __init__(self, axes, keepdim):
        self.axes, self.keepdim = axes, keepdim

    def forward(self, x):
        xp = backend.get_array_module(x)
        m = x.max(axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # an all -inf slice stays -inf, not NaN
        y = xp.log(xp.exp(x - m).sum(axis=self.axes, keepdims=True)) + m
        return y if self.keepdim else y.reshape(
            tuple(n for i, n in enumerate(x.shape) if i not in self.axes))

    def backward(self, gy):
        x = self.inputs[0]
        y = reshape(self.output(), kept_shape(x.shape, self.axes))
        return spread_back(gy, x, self.axes) * exp(x - y)


@register
@dim_aliases
def logsumexp(x, dim, keepdim=False):
    """log(sum(exp(x))) over `dim` (required, as in torch), without overflow."""
    return LogSumExp(normalize_dims(dim, x.shape, "logsumexp"), keepdim)(x)


# ----------------------------------------------------------------------------
# Results without a gradient: positions and truth values
# ----------------------------------------------------------------------------
def arg_extreme(x, dim, keepdim, largest, op):
    xp = backend.xp_for(x.device)
    pick = xp.argmax if largest else xp.argmin
    if reduced_size(x.shape, range(x.ndim)) == 0:
        raise RuntimeError(f"{op}(): the tensor of shape {x.shape} is empty")
    if dim is None:  # the position in the flattened tensor
        index = pick(x.data.reshape(-1)).astype(int64)
        return Tensor(index.reshape((1,) * x.ndim) if keepdim else index)
    d = normalize_dim(dim, x.shape, op)
    if x.ndim == 0:
        return Tensor(xp.zeros((), dtype=int64))
    return Tensor(pick(x.data, axis=d, keepdims=keepdim).astype(int64))


@dim_aliases
def argmax(x, dim=None, keepdim=False):
    """The int64 position of the largest value along `dim` (the first among
    ties), or in the flattened tensor when dim=None."""
    return arg_extreme(x, dim, keepdim, True, "argmax")


@dim_aliases
def argmin(x, dim=None, keepdim=False):
    """The int64 position of the smallest value along `dim`."""
    return arg_extreme(x, dim, keepdim, False, "argmin")


@dim_aliases
def any(x, dim=None, keepdim=False):
    """True where some element along `dim` (an int, a tuple, None for all) is nonzero."""
    axes = normalize_dims(dim, x.shape, "any")
    return Tensor(x.data.astype(bool).any(axis=axes, keepdims=keepdim))


@dim_aliases
def all(x, dim=None, keepdim=False):
    """True where every element along `dim` is nonzero."""
    axes = normalize_dims(dim, x.shape, "all")
    return Tensor(x.data.astype(bool).all(axis=axes, keepdims=keepdim))


# ----------------------------------------------------------------------------
# Orderings: sort, argsort, topk
# ----------------------------------------------------------------------------
def stable_argsort(a, dim, descending):
    """Indices that sort `a` along `dim`, equal values keeping their order.

    Descending: sort the reversed array ascending and reverse the result, so
    equal values still come in their original order, and NaN (which NumPy
    sorts last) comes first, as torch puts it.
    """
    xp = backend.get_array_module(a)
    options = {"kind": "stable"} if xp.__name__ == "numpy" else {}  # CuPy's sort is stable
    if not descending:
        return xp.argsort(a, axis=dim, **options)
    reversed_order = xp.argsort(xp.flip(a, axis=dim), axis=dim, **options)
    return (a.shape[dim] - 1) - xp.flip(reversed_order, axis=dim)


def sorted_indices(x, dim, descending, op):
    dim = normalize_dim(dim, x.shape, op)
    xp = backend.xp_for(x.device)
    if x.ndim == 0:
        return dim, xp.zeros((), dtype=int64)
    return dim, stable_argsort(x.data, dim, descending).astype(int64, copy=False)


@register
@dim_aliases
def sort(x, dim=-1, descending=False, stable=False):
    """The values along `dim` in order, and where they came from: a named
    tuple (values, indices), as torch.sort. The sort is always stable (equal
    values keep their order), so stable=True changes nothing."""
    dim, indices = sorted_indices(x, dim, descending, "sort")
    return return_types.sort(gather(x, dim, indices), Tensor(indices))


@dim_aliases
def argsort(x, dim=-1, descending=False, stable=False):
    """The int64 indices that sort x along `dim` (sort(...).indices)."""
    return Tensor(sorted_indices(x, dim, descending, "argsort")[1])


@register
@dim_aliases
def topk(x, k, dim=-1, largest=True, sorted=True):
    """The k largest (or smallest, largest=False) values along `dim` and their
    indices: a named tuple (values, indices), as torch.topk. They always come
    sorted (sorted=False allows any order, and this is one)."""
    dim, indices = sorted_indices(x, dim, largest, "topk")
    size = x.shape[dim] if x.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError(f"topk(): k={k} is out of range for dim {dim} of size {size} "
                           f"(shape {x.shape})")
    if x.ndim:
        indices = indices[(slice(None),) * dim + (slice(0, k),)]
    return return_types.topk(gather(x, dim, indices), Tensor(indices))
