"""Elementwise operations. Each Function class holds its forward and its
backward; the lower-case function right under it is what users call.

Binary operations broadcast their inputs like NumPy; the backward engine sums
each gradient back to its input's shape (see `sum_to`), so no operation here
has to think about broadcasting. In the docstrings, gy is the gradient of the
output y, and dx the gradient that backward returns for the input x.
"""
import math

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from . import register

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "tanh",
           "sigmoid", "relu", "gelu", "maximum", "minimum", "where", "clip", "masked_fill",
           "cast", "to_device"]


def constant(array):
    """A tensor outside the graph (a mask, a saved value) for use in backward."""
    return Tensor(array)


# ----------------------------------------------------------------------------
# Arithmetic
# ----------------------------------------------------------------------------
class Add(Function):
    """Sum of two tensors.

    forward:  y = a + b
    backward: da = gy,  db = gy
    """

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy


@register
def add(a, b):
    """a + b, broadcast."""
    return Add()(a, b)


class Sub(Function):
    """Difference of two tensors.

    forward:  y = a - b
    backward: da = gy,  db = -gy
    """

    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        return gy, -gy


@register
def sub(a, b):
    """a - b, broadcast."""
    return Sub()(a, b)


class Mul(Function):
    """Elementwise product.

    forward:  y = a * b
    backward: da = gy * b,  db = gy * a
    """

    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        return gy * b, gy * a


@register
def mul(a, b):
    """a * b, broadcast."""
    return Mul()(a, b)


class Div(Function):
    """Elementwise quotient.

    forward:  y = a / b
    backward: da = gy / b,  db = -gy * a / b^2
    """

    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = gy / b
        return ga, -ga * a / b


@register
def div(a, b):
    """a / b, broadcast."""
    return Div()(a, b)


class Neg(Function):
    """Negation.

    forward:  y = -x
    backward: dx = -gy
    """

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


@register
def neg(x):
    return Neg()(x)


class Pow(Function):
    """Power with a tensor exponent.

    forward:  y = x ** p
    backward: dx = gy * p * x^(p-1),  dp = gy * y * log(x)
    """

    def forward(self, x, p):
        return x ** p

    def backward(self, gy):
        x, p = self.inputs
        gx = gy * p * x ** (p - 1)
        gp = gy * self.output() * log(x) if p.requires_grad else None
        return gx, gp


class PowScalar(Function):
    """Power with a Python number c as the exponent.

    forward:  y = x ** c
    backward: dx = gy * c * x^(c-1)
    """

    def __init__(self, exponent):
        self.exponent = exponent

    def forward(self, x):
        return x ** self.exponent

    def backward(self, gy):
        x, = self.inputs
        c = self.exponent
        return gy * c * x ** (c - 1) if c != 2 else gy * 2 * x


@register
def pow(x, exponent):
    """x ** exponent; the exponent is a Python number or a tensor."""
    if isinstance(exponent, (int, float)) and isinstance(x, Tensor):
        return PowScalar(exponent)(x)
    return Pow()(x, exponent)


# ----------------------------------------------------------------------------
# Exponentials, roots and activations
# ----------------------------------------------------------------------------
class Exp(Function):
    """Exponential.

    forward:  y = exp(x)
    backward: dx = gy * y
    """

    def forward(self, x):
        return backend.get_array_module(x).exp(x)

    def backward(self, gy):
        return gy * self.output()


@register
def exp(x):
    return Exp()(x)


class Log(Function):
    """Natural logarithm.

    forward:  y = log(x)
    backward: dx = gy / x
    """

    def forward(self, x):
        return backend.get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


@register
def log(x):
    """Natural logarithm."""
    return Log()(x)


class Sqrt(Function):
    """Square root.

    forward:  y = sqrt(x)
    backward: dx = gy / (2 y)
    """

    def forward(self, x):
        return backend.get_array_module(x).sqrt(x)

    def backward(self, gy):
        return gy / (2 * self.output())


@register
def sqrt(x):
    return Sqrt()(x)


class Abs(Function):
    """Absolute value.

    forward:  y = |x|
    backward: dx = gy * sign(x)    (0 at x = 0)
    """

    def forward(self, x):
        return backend.get_array_module(x).abs(x)

    def backward(self, gy):
        x = self.inputs[0].data
        return gy * constant(backend.get_array_module(x).sign(x))


@register
def abs(x):
    return Abs()(x)


class Tanh(Function):
    """Hyperbolic tangent.

    forward:  y = tanh(x)
    backward: dx = gy * (1 - y^2)
    """

    def forward(self, x):
        return backend.get_array_module(x).tanh(x)

    def backward(self, gy):
        y = self.output()
        return gy * (1 - y * y)


@register
def tanh(x):
    return Tanh()(x)


class Sigmoid(Function):
    """Logistic sigmoid.

    forward:  y = 1 / (1 + exp(-x)),  computed as (1 + tanh(x/2)) / 2
    backward: dx = gy * y * (1 - y)
    """

    def forward(self, x):
        xp = backend.get_array_module(x)
        # 0.5 * (1 + tanh(x/2)) is sigmoid without overflow in exp for large |x|
        return 0.5 * (xp.tanh(0.5 * x) + 1)

    def backward(self, gy):
        y = self.output()
        return gy * y * (1 - y)


@register
def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return Sigmoid()(x)


class ReLU(Function):
    """Rectified linear unit.

    forward:  y = max(x, 0)
    backward: dx = gy * [x > 0]
    """

    def forward(self, x):
        return x * (x > 0)

    def backward(self, gy):
        return gy * constant(self.inputs[0].data > 0)


@register
def relu(x):
    """max(x, 0)."""
    return ReLU()(x)


class GELU(Function):
    """Gaussian error linear unit, tanh approximation, with k = sqrt(2/pi).

    forward:  y = x/2 * (1 + t),  t = tanh(k (x + 0.044715 x^3))
    backward: dx = gy * ((1 + t)/2 + x/2 * (1 - t^2) * k (1 + 3 * 0.044715 x^2))
    """
    K = math.sqrt(2 / math.pi)

    def forward(self, x):
        xp = backend.get_array_module(x)
        return 0.5 * x * (1 + xp.tanh(self.K * (x + 0.044715 * x ** 3)))

    def backward(self, gy):
        x, = self.inputs
        t = tanh(self.K * (x + 0.044715 * x ** 3))
        dt = (1 - t * t) * self.K * (1 + 3 * 0.044715 * x * x)
        return gy * (0.5 * (1 + t) + 0.5 * x * dt)


@register
def gelu(x):
    """Gaussian error linear unit, tanh approximation (PyTorch's approximate='tanh')."""
    return GELU()(x)


# ----------------------------------------------------------------------------
# Comparisons and selection
# ----------------------------------------------------------------------------
class Maximum(Function):
    """Elementwise larger of two tensors; a tie sends the gradient to a.

    forward:  y = max(a, b)
    backward: da = gy * [a >= b],  db = gy * [a < b]
    """

    def forward(self, a, b):
        return backend.get_array_module(a).maximum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        a_wins = a.data >= b.data
        return gy * constant(a_wins), gy * constant(~a_wins)


@register
def maximum(a, b):
    return Maximum()(a, b)


class Minimum(Function):
    """Elementwise smaller of two tensors; a tie sends the gradient to a.

    forward:  y = min(a, b)
    backward: da = gy * [a <= b],  db = gy * [a > b]
    """

    def forward(self, a, b):
        return backend.get_array_module(a).minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        a_wins = a.data <= b.data
        return gy * constant(a_wins), gy * constant(~a_wins)


@register
def minimum(a, b):
    return Minimum()(a, b)


class Where(Function):
    """Pick from a or b by a constant boolean condition c (which gets no gradient).

    forward:  y = c ? a : b
    backward: da = gy * [c],  db = gy * [not c]
    """

    def __init__(self, condition):
        self.condition = condition

    def forward(self, a, b):
        return backend.get_array_module(a).where(self.condition, a, b)

    def backward(self, gy):
        return gy * constant(self.condition), gy * constant(~self.condition)


@register
def where(condition, a, b):
    """Elementwise `a` where `condition` is true, else `b` (condition gets no gradient)."""
    condition = condition.data if isinstance(condition, Tensor) else condition
    return Where(condition)(a, b)


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
def clip(x, min=None, max=None):
    """Limit values to [min, max]; the gradient is zero outside."""
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    return Clip(min, max)(x)


# ----------------------------------------------------------------------------
# dtype and device
# ----------------------------------------------------------------------------
class Cast(Function):
    """The same values in another dtype.

    forward:  y = x as dtype
    backward: dx = gy as x's dtype
    """

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, gy):
        return cast(gy, self.inputs[0].dtype)


@register
def cast(x, dtype):
    """x converted to another dtype; the gradient is converted back."""
    return Cast(dtype)(x)


class ToDevice(Function):
    """The same values on another device.

    forward:  y = x copied to device
    backward: dx = gy copied back to x's device
    """

    def __init__(self, device):
        self.device = device

    def forward(self, x):
        return backend.to_device(x, self.device)

    def backward(self, gy):
        return to_device(gy, self.inputs[0].device)


@register
def to_device(x, device):
    """x copied to another device; the gradient is copied back."""
    return ToDevice(device)(x)
