"""Comparisons, selection and clamping (maximum, minimum, where, masked_fill,
clamp), and the elementwise operations without a gradient: floor_divide
(its backward raises, as torch's), isnan and its kin, comparisons of whole
tensors, logical and bitwise operations. The arithmetic is in elementwise.py.
"""
from .. import backend
from ..autograd import Function
from ..tensor import Tensor, promote, result_type
from . import register
from .elementwise import constant

__all__ = ["maximum", "minimum", "where", "clamp", "clip", "masked_fill",
           "floor_divide", "isnan", "isinf", "isfinite", "isclose", "allclose", "equal",
           "logical_and", "logical_or", "logical_xor", "logical_not",
           "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not"]


# ----------------------------------------------------------------------------
# Comparisons and selection
# ----------------------------------------------------------------------------
class Maximum(Function):
    """Elementwise larger of two tensors; a tie splits the gradient in half, as torch.

    forward:  y = max(a, b)
    backward: da = gy * w,  db = gy * (1 - w),  w = [a > b] + [a == b] / 2
    """

    def forward(self, a, b):
        return backend.get_array_module(a).maximum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        a_share = ((a.data > b.data) + 0.5 * (a.data == b.data)).astype(gy.dtype)
        return gy * constant(a_share), gy * constant(1 - a_share)


@register
def maximum(a, b):
    return Maximum()(*promote("maximum", a, b))


class Minimum(Function):
    """Elementwise smaller of two tensors; a tie splits the gradient in half, as torch.

    forward:  y = min(a, b)
    backward: da = gy * w,  db = gy * (1 - w),  w = [a < b] + [a == b] / 2
    """

    def forward(self, a, b):
        return backend.get_array_module(a).minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        a_share = ((a.data < b.data) + 0.5 * (a.data == b.data)).astype(gy.dtype)
        return gy * constant(a_share), gy * constant(1 - a_share)


@register
def minimum(a, b):
    return Minimum()(*promote("minimum", a, b))


class Where(Function):
    """Pick from a or b by a constant boolean condition c (which gets no gradient).

    forward:  y = c ? a : b
    backward: da = gy * [c],  db = gy * [not c]
    """

    saves_inputs = False  # only the condition, kept on the Function

    def __init__(self, condition):
        self.condition = condition

    def forward(self, a, b):
        return backend.get_array_module(a).where(self.condition, a, b)

    def backward(self, gy):
        return gy * constant(self.condition), gy * constant(~self.condition)


@register
def where(condition, a=None, b=None):
    """Elementwise `a` where `condition` is true, else `b` (condition gets no gradient).
    where(condition) alone is nonzero(condition, as_tuple=True), as in torch."""
    if a is None and b is None:
        from .indexing import nonzero
        return nonzero(condition if isinstance(condition, Tensor) else Tensor(condition),
                       as_tuple=True)
    condition = condition.data if isinstance(condition, Tensor) else condition
    if condition.dtype.kind != "b":
        raise TypeError(f"where: condition must be a boolean tensor, got dtype {condition.dtype}")
    return Where(condition)(*promote("where", a, b))


@register
def masked_fill(x, mask, value):
    """x with `value` where the boolean `mask` (broadcast to x) is true."""
    mask = mask.data if isinstance(mask, Tensor) else mask
    if mask.dtype.kind != "b":
        raise TypeError(f"masked_fill: mask must be boolean, got dtype {mask.dtype}")
    fill = Tensor(backend.xp_for(x.device).asarray(value, dtype=x.dtype))
    return Where(mask)(fill, x)


class Clip(Function):
    """Limit values to [low, high] (either bound may be None).

    forward:  y = min(max(x, low), high)
    backward: dx = gy * [low <= x <= high]
    """

    def __init__(self, low, high):
        self.low, self.high = low, high

    def forward(self, x):
        return backend.get_array_module(x).clip(x, self.low, self.high)

    def backward(self, gy):
        x = self.inputs[0].data
        inside = backend.get_array_module(x).ones(x.shape, dtype=bool)
        if self.low is not None:
            inside &= x >= self.low
        if self.high is not None:
            inside &= x <= self.high
        return gy * constant(inside)


@register
def clamp(x, min=None, max=None):
    """Limit values to [min, max]; the gradient is zero outside. The bounds are
    numbers, or tensors (broadcast against x, receiving gradient where they win)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        # maximum/minimum send a tie's gradient to x, as torch's clamp does
        y = x if min is None else maximum(x, min)
        return y if max is None else minimum(y, max)
    return Clip(min, max)(x)


@register
def clip(x, min=None, max=None):
    """torch.clip: the same as clamp."""
    return clamp(x, min, max)




# ----------------------------------------------------------------------------
# Without a gradient
# ----------------------------------------------------------------------------
class FloorDivide(Function):
    """Division rounded down (Python's //).

    forward:  y = floor(a / b)
    backward: not defined, as in torch: y is a staircase, zero almost
              everywhere and undefined at the steps
    """
    saves_inputs = False

    def forward(self, a, b):
        return backend.get_array_module(a).floor_divide(a, b)

    def backward(self, gy):
        raise RuntimeError("floor_divide: the derivative for floor_divide is not implemented (as "
                           "in torch): a // b is a staircase in a and b; detach() its inputs if "
                           "the result is a constant for you")


def floor_divide(a, b):
    """a // b, rounded down, as torch.floor_divide (and Python's //). Its
    result is part of the graph, but backward through it raises, as torch's."""
    return FloorDivide()(*promote("floor_divide", a, b))


def _array(x, device):
    return x._data if isinstance(x, Tensor) else backend.xp_for(device).asarray(x)


def _device(*xs):
    return next((x.device for x in xs if isinstance(x, Tensor)), backend.get_default_device())


def isnan(x):
    """A boolean tensor: where x is NaN."""
    return Tensor._wrap(backend.get_array_module(x.data).isnan(x.data))


def isinf(x):
    """A boolean tensor: where x is +inf or -inf."""
    return Tensor._wrap(backend.get_array_module(x.data).isinf(x.data))


def isfinite(x):
    """A boolean tensor: where x is neither NaN nor infinite."""
    return Tensor._wrap(backend.get_array_module(x.data).isfinite(x.data))


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """A boolean tensor: where |a - b| <= atol + rtol * |b|."""
    device = _device(a, b)
    return Tensor._wrap(backend.xp_for(device).isclose(
        _array(a, device), _array(b, device), rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when every element of a is close to b's (see isclose): a Python bool."""
    return bool(isclose(a, b, rtol, atol, equal_nan).data.all())


def equal(a, b):
    """True when a and b have the same shape and the same values: a Python bool."""
    if a.shape != b.shape:
        return False
    return bool((a.data == b.data).all())


def _logical(func, *xs):
    device = _device(*xs)
    return Tensor._wrap(func(*[_array(x, device) for x in xs]))


def logical_and(a, b):
    """Elementwise a and b, of any dtype (nonzero is true): a boolean tensor."""
    return _logical(backend.xp_for(_device(a, b)).logical_and, a, b)


def logical_or(a, b):
    return _logical(backend.xp_for(_device(a, b)).logical_or, a, b)


def logical_xor(a, b):
    return _logical(backend.xp_for(_device(a, b)).logical_xor, a, b)


def logical_not(x):
    return _logical(backend.xp_for(_device(x)).logical_not, x)


def _bitwise(name, operator, ufunc, *xs):
    """Bitwise operations work on booleans (logical and/or/xor/not of masks) and
    integers; the operands are promoted first (bool & int64 is int64)."""
    dtype = result_type(*xs)
    if dtype.kind not in "biu":
        raise RuntimeError(f"{name} ({operator}): needs boolean or integer tensors, got dtype "
                           f"{dtype}; compare first (x > 0) to get a boolean mask")
    device = _device(*xs)
    xp = backend.xp_for(device)
    arrays = [xp.asarray(_array(x, device), dtype=dtype) for x in xs]
    return Tensor._wrap(getattr(xp, ufunc)(*arrays))


def bitwise_and(a, b):
    """a & b: logical and of boolean tensors, bitwise and of integers."""
    return _bitwise("bitwise_and", "&", "bitwise_and", a, b)


def bitwise_or(a, b):
    """a | b: logical or of boolean tensors, bitwise or of integers."""
    return _bitwise("bitwise_or", "|", "bitwise_or", a, b)


def bitwise_xor(a, b):
    """a ^ b: logical xor of boolean tensors, bitwise xor of integers."""
    return _bitwise("bitwise_xor", "^", "bitwise_xor", a, b)


def bitwise_not(x):
    """~x: logical not of a boolean tensor, bitwise not of integers."""
    return _bitwise("bitwise_not", "~", "invert", x)

