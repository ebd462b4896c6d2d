"""Reductions over a dim (or several, or all): sum, mean, max, min, var, logsumexp.

Each takes torch's `dim` and `keepdim` (NumPy's `axis` and `keepdims` work as
aliases, see dims.py). Backward of a reduction spreads each output gradient
back over the elements that were reduced: it re-inserts the reduced dims (as
size 1) and broadcasts.
"""
import builtins

from .. import backend
from ..autograd import Function
from ..dims import dim_aliases, normalize_dims
from . import register
from .elementwise import constant, exp
from .shape import broadcast_to, reshape

__all__ = ["sum", "mean", "max", "min", "var", "logsumexp"]


def reduced_size(shape, axes):
    """How many elements each output of a reduction over `axes` summarizes."""
    count = 1
    for a in axes:
        count *= shape[a]
    return count


def kept_shape(shape, axes):
    """The shape with reduced axes kept as size 1 (what keepdims=True gives)."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def spread_back(gy, x, axes):
    """Broadcast a reduction's gradient back to the input's shape."""
    return broadcast_to(reshape(gy, kept_shape(x.shape, axes)), x.shape)


# ----------------------------------------------------------------------------
# Sums and averages
# ----------------------------------------------------------------------------
class Sum(Function):
    """Sum over dims: each output's gradient goes to every element it summed.

    forward:  y = sum_dims(x)        (x's shape without the dims, or with them as 1)
    backward: dx = broadcast(gy) to x's shape
    """

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
    count = reduced_size(x.shape, normalize_dims(dim, x.shape, "mean"))
    return divide_by_count(sum(x, dim, keepdim), count)


@register
@dim_aliases
def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    """Variance over `dim`: sum((x - mean)^2) / (N - correction), as torch.var.

    correction=1 (the default; unbiased=True) is the unbiased estimate;
    correction=0 (unbiased=False) is the population variance that layer norm
    uses. torch's positional order is (dim, unbiased, keepdim)."""
    if unbiased is not None and correction is not None:
        raise TypeError("var(): pass unbiased= or correction=, not both")
    if correction is None:
        correction = 0 if unbiased is False else 1
    count = reduced_size(x.shape, normalize_dims(dim, x.shape, "var"))
    centered = x - mean(x, dim, keepdim=True)
    return divide_by_count(sum(centered * centered, dim, keepdim), builtins.max(count - correction, 0))


# ----------------------------------------------------------------------------
# Extremes
# ----------------------------------------------------------------------------
class MaxMin(Function):
    """max or min over axes; the gradient goes to the extreme elements, shared among ties.

    forward:  y = max_axes(x)  (or min)
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


@register
@dim_aliases
def max(x, dim=None, keepdim=False):
    """Largest value over `dim` (the gradient is shared among ties)."""
    return MaxMin(normalize_dims(dim, x.shape, "max"), keepdim, largest=True)(x)


@register
@dim_aliases
def min(x, dim=None, keepdim=False):
    """Smallest value over `dim`."""
    return MaxMin(normalize_dims(dim, x.shape, "min"), keepdim, largest=False)(x)


# ----------------------------------------------------------------------------
# log-sum-exp
# ----------------------------------------------------------------------------
class LogSumExp(Function):
    """log(sum(exp(x))) over axes, shifted by the max so that exp never overflows.

    forward:  y = m + log(sum_axes(exp(x - m))),  m = max_axes(x)
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
