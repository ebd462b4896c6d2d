"""Elementwise operations. Each class holds its forward and, right below it,
its backward; the lower-case function under it is what users call.

Binary operations broadcast their inputs like NumPy; the backward engine sums
each gradient back to its input's shape (see `sum_to`), so no operation here
has to think about broadcasting.
"""
import math

from .. import backend
from ..tensor import Function, Tensor
from . import register

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "tanh",
           "sigmoid", "relu", "gelu", "maximum", "minimum", "where", "clip", "masked_fill",
           "cast", "to_device"]


def constant(array):
    """A tensor outside the graph (a mask, a saved value) for use in backward."""
    return Tensor(array)


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        return gy, -gy


class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        return gy * b, gy * a


class Div(Function):
    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = gy / b
        return ga, -ga * a / b


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Pow(Function):
    """x ** p for a tensor exponent p: d/dx = p x^(p-1), d/dp = x^p log x."""

    def forward(self, x, p):
        return x ** p

    def backward(self, gy):
        x, p = self.inputs
        gx = gy * p * x ** (p - 1)
        gp = gy * self.output() * log(x) if p.requires_grad else None
        return gx, gp


class PowScalar(Function):
    """x ** c for a Python number c: d/dx = c x^(c-1)."""

    def __init__(self, exponent):
        self.exponent = exponent

    def forward(self, x):
        return x ** self.exponent

    def backward(self, gy):
        x, = self.inputs
        c = self.exponent
        return gy * c * x ** (c - 1) if c != 2 else gy * 2 * x


class Exp(Function):
    def forward(self, x):
        return backend.get_array_module(x).exp(x)

    def backward(self, gy):
        return gy * self.output()


class Log(Function):
    def forward(self, x):
        return backend.get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


class Sqrt(Function):
    def forward(self, x):
        return backend.get_array_module(x).sqrt(x)

    def backward(self, gy):
        return gy / (2 * self.output())


class Abs(Function):
    def forward(self, x):
        return backend.get_array_module(x).abs(x)

    def backward(self, gy):
        x = self.inputs[0].data
        return gy * constant(backend.get_array_module(x).sign(x))


class Tanh(Function):
    def forward(self, x):
        return backend.get_array_module(x).tanh(x)

    def backward(self, gy):
        y = self.output()
        return gy * (1 - y * y)


class Sigmoid(Function):
    def forward(self, x):
        xp = backend.get_array_module(x)
        # 0.5 * (1 + tanh(x/2)) is sigmoid without overflow in exp for large |x|
        return 0.5 * (xp.tanh(0.5 * x) + 1)

    def backward(self, gy):
        y = self.output()
        return gy * y * (1 - y)


class ReLU(Function):
    def forward(self, x):
        return x * (x > 0)

    def backward(self, gy):
        return gy * constant(self.inputs[0].data > 0)


class GELU(Function):
    """GELU, tanh approximation: 0.5 x (1 + tanh(k (x + 0.044715 x^3))), k = sqrt(2/pi)."""
    K = math.sqrt(2 / math.pi)

    def forward(self, x):
        xp = backend.get_array_module(x)
        return 0.5 * x * (1 + xp.tanh(self.K * (x + 0.044715 * x ** 3)))

    def backward(self, gy):
        x, = self.inputs
        t = tanh(self.K * (x + 0.044715 * x ** 3))
        dt = (1 - t * t) * self.K * (1 + 3 * 0.044715 * x * x)
        return gy * (0.5 * (1 + t) + 0.5 * x * dt)


class Maximum(Function):
    def forward(self, a, b):
        return backend.get_array_module(a).maximum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        a_wins = a.data >= b.data   # ties send the gradient to the first input
        return gy * constant(a_wins), gy * constant(~a_wins)


class Minimum(Function):
    def forward(self, a, b):
        return backend.get_array_module(a).minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        a_wins = a.data <= b.data
        return gy * constant(a_wins), gy * constant(~a_wins)


class Where(Function):
    """condition ? a : b, with a constant boolean condition."""

    def __init__(self, condition):
        self.condition = condition

    def forward(self, a, b):
        return backend.get_array_module(a).where(self.condition, a, b)

    def backward(self, gy):
        keep = constant(self.condition)
        return gy * keep, gy * constant(~self.condition)


class Clip(Function):
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


class Cast(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, gy):
        return cast(gy, self.inputs[0].dtype)


class ToDevice(Function):
    def __init__(self, device):
        self.device = device

    def forward(self, x):
        return backend.to_device(x, self.device)

    def backward(self, gy):
        return to_device(gy, self.inputs[0].device)


@register
def add(a, b):
    """a + b, broadcast."""
    return Add()(a, b)


@register
def sub(a, b):
    """a - b, broadcast."""
    return Sub()(a, b)


@register
def mul(a, b):
    """a * b, broadcast."""
    return Mul()(a, b)


@register
def div(a, b):
    """a / b, broadcast."""
    return Div()(a, b)


@register
def neg(x):
    return Neg()(x)


@register
def pow(x, exponent):
    """x ** exponent; the exponent is a Python number or a tensor."""
    if isinstance(exponent, (int, float)) and isinstance(x, Tensor):
        return PowScalar(exponent)(x)
    return Pow()(x, exponent)


@register
def exp(x):
    return Exp()(x)


@register
def log(x):
    """Natural logarithm."""
    return Log()(x)


@register
def sqrt(x):
    return Sqrt()(x)


@register
def abs(x):
    return Abs()(x)


@register
def tanh(x):
    return Tanh()(x)


@register
def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return Sigmoid()(x)


@register
def relu(x):
    """max(x, 0)."""
    return ReLU()(x)


@register
def gelu(x):
    """Gaussian error linear unit, tanh approximation (PyTorch's approximate='tanh')."""
    return GELU()(x)


@register
def maximum(a, b):
    return Maximum()(a, b)


@register
def minimum(a, b):
    return Minimum()(a, b)


@register
def where(condition, a, b):
    """Elementwise `a` where `condition` is true, else `b` (condition gets no gradient)."""
    condition = condition.data if isinstance(condition, Tensor) else condition
    return Where(condition)(a, b)


@register
def clip(x, min=None, max=None):
    """Limit values to [min, max]; the gradient is zero outside."""
    if min is None and max is None:
        raise ValueError("clip: give at least one of min and max")
    return Clip(min, max)(x)


@register
def masked_fill(x, mask, value):
    """x with `value` where the boolean `mask` (broadcast to x) is true."""
    mask = mask.data if isinstance(mask, Tensor) else mask
    if mask.dtype.kind != "b":
        raise TypeError(f"masked_fill: mask must be boolean, got dtype {mask.dtype}")
    fill = Tensor(backend.xp_for(x.device).asarray(value, dtype=x.dtype))
    return Where(mask)(fill, x)


def cast(x, dtype):
    """x converted to another dtype; the gradient is converted back."""
    return Cast(dtype)(x)


def to_device(x, device):
    """x copied to another device; the gradient is copied back."""
    return ToDevice(device)(x)
