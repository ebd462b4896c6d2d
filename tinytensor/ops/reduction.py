"""Reductions over an axis (or all axes): sum, mean, max, min, var, logsumexp.

Backward of a reduction spreads each output gradient back over the elements
that were reduced: it re-inserts the reduced axes (as size 1) and broadcasts.
"""
import builtins

from .. import backend
from ..autograd import Function
from . import register
from .elementwise import constant, exp
from .shape import broadcast_to, reshape

__all__ = ["sum", "mean", "max", "min", "var", "logsumexp"]


def normalize_axes(axis, ndim):
    """axis=None, an int or a tuple, as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
    return tuple(sorted(a % builtins.max(ndim, 1) for a in axes))


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
    """Sum over axes: each output's gradient goes to every element it summed.

    forward:  y = sum_axes(x)        (x's shape without the axes, or with them as 1)
    backward: dx = broadcast(gy) to x's shape
    """

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = normalize_axes(self.axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return spread_back(gy, self.inputs[0], self.axes)


@register
def sum(x, axis=None, keepdims=False):
    """Sum over `axis` (an int, a tuple, or None for all)."""
    return Sum(axis, keepdims)(x)


@register
def mean(x, axis=None, keepdims=False):
    """Average over `axis`."""
    count = reduced_size(x.shape, normalize_axes(axis, x.ndim))
    return sum(x, axis, keepdims) / count


@register
def var(x, axis=None, keepdims=False, correction=1):
    """Variance over `axis`: sum((x - mean)^2) / (N - correction).
    correction=1 (the default, as in PyTorch) is the unbiased estimate;
    correction=0 is the population variance that layer norm uses."""
    count = reduced_size(x.shape, normalize_axes(axis, x.ndim))
    centered = x - mean(x, axis, keepdims=True)
    return sum(centered * centered, axis, keepdims) / (count - correction)


# ----------------------------------------------------------------------------
# Extremes
# ----------------------------------------------------------------------------
class MaxMin(Function):
    """max or min over axes; the gradient goes to the extreme elements, shared among ties.

    forward:  y = max_axes(x)  (or min)
    backward: dx = broadcast(gy) * [x == y] / (number of ties)
    """

    def __init__(self, axis, keepdims, largest):
        self.axis, self.keepdims, self.largest = axis, keepdims, largest

    def forward(self, x):
        self.axes = normalize_axes(self.axis, x.ndim)
        reduce = x.max if self.largest else x.min
        return reduce(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        x = self.inputs[0]
        y = self.output().data.reshape(kept_shape(x.shape, self.axes))
        winners = (x.data == y).astype(x.dtype)
        winners /= winners.sum(axis=self.axes, keepdims=True)
        return spread_back(gy, x, self.axes) * constant(winners)


@register
def max(x, axis=None, keepdims=False):
    """Largest value over `axis` (the gradient is shared among ties)."""
    return MaxMin(axis, keepdims, largest=True)(x)


@register
def min(x, axis=None, keepdims=False):
    """Smallest value over `axis`."""
    return MaxMin(axis, keepdims, largest=False)(x)


# ----------------------------------------------------------------------------
# log-sum-exp
# ----------------------------------------------------------------------------
class LogSumExp(Function):
    """log(sum(exp(x))) over axes, shifted by the max so that exp never overflows.

    forward:  y = m + log(sum_axes(exp(x - m))),  m = max_axes(x)
    backward: dx = broadcast(gy) * exp(x - y)    (= gy * softmax(x))
    """

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.axes = normalize_axes(self.axis, x.ndim)
        m = x.max(axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # an all -inf slice stays -inf, not NaN
        y = xp.log(xp.exp(x - m).sum(axis=self.axes, keepdims=True)) + m
        return y if self.keepdims else y.reshape(
            tuple(n for i, n in enumerate(x.shape) if i not in self.axes))

    def backward(self, gy):
        x = self.inputs[0]
        y = reshape(self.output(), kept_shape(x.shape, self.axes))
        return spread_back(gy, x, self.axes) * exp(x - y)


@register
def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over `axis`, without overflow."""
    return LogSumExp(axis, keepdims)(x)
