"""Elementwise operations. Each Function class holds its forward and its
backward; the lower-case function right under it is what users call.

Binary operations broadcast their inputs like NumPy; the backward engine sums
each gradient back to its input's shape (see `sum_to`), so no operation here
has to think about broadcasting. In the docstrings, gy is the gradient of the
output y, and dx the gradient that backward returns for the input x.

dtypes follow torch's promotion (tensor.result_type): a binary operation first
converts its operands to one dtype (int64 tensor * 1.5 is float32, float32 +
float64 is float64), and the functions of floats (exp, sin, sqrt, true
division, ...) turn integer tensors into the default float dtype.

Comparisons, selection, clamping and the operations without a gradient are
in comparison.py.
"""
from .. import backend
from ..autograd import Function
from ..tensor import DEFAULT_FLOAT, Tensor, promote, result_type
from . import register

__all__ = ["add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "rsqrt", "square",
           "abs", "sin", "cos", "tanh", "sigmoid", "relu", "clone", "remainder", "cast",
           "to_device", "subtract", "multiply", "divide", "true_divide", "negative"]


def constant(array):
    """A tensor outside the graph (a mask, a saved value) for use in backward."""
    return Tensor(array)


def floating(x):
    """x itself, or an integer or boolean tensor converted to the default float
    dtype, for functions of floats (torch: exp(int tensor) is float32)."""
    if isinstance(x, Tensor) and x._data.dtype.kind in "biu":
        return cast(x, DEFAULT_FLOAT)
    return x


# ----------------------------------------------------------------------------
# Arithmetic
# ----------------------------------------------------------------------------
class Add(Function):
    """Sum of two tensors.

    forward:  y = a + b
    backward: da = gy,  db = gy
    """
    saves_inputs = False

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy


@register
def add(a, b):
    """a + b, broadcast."""
    return Add()(*promote("add", a, b))


class Sub(Function):
    """Difference of two tensors.

    forward:  y = a - b
    backward: da = gy,  db = -gy
    """
    saves_inputs = False

    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        return gy, -gy


@register
def sub(a, b):
    """a - b, broadcast."""
    return Sub()(*promote("sub", a, b))


class Mul(Function):
    """Elementwise product.

    forward:  y = a * b
    backward: da = gy * b,  db = gy * a
    """

    def forward(self, a, b):
        return a * b

    def saved_inputs(self):
        """a is needed only for db, b only for da."""
        return [i for i in (0, 1) if self.next_functions[1 - i] is not None]

    def backward(self, gy):
        a, b = self.inputs
        to_a, to_b = self.next_functions
        return gy * b if to_a is not None else None, gy * a if to_b is not None else None


@register
def mul(a, b):
    """a * b, broadcast."""
    return Mul()(*promote("mul", a, b))


class Div(Function):
    """Elementwise quotient.

    forward:  y = a / b
    backward: da = gy / b,  db = -gy * a / b^2
    """

    def forward(self, a, b):
        return a / b

    def saved_inputs(self):
        """b is needed for both gradients, a only for db."""
        return (0, 1) if self.next_functions[1] is not None else (1,)

    def backward(self, gy):
        a, b = self.inputs
        ga = gy / b
        return ga, (-ga * a / b if self.needs_input_grad[1] else None)


@register
def div(a, b):
    """a / b, broadcast; true division: integers give the default float dtype."""
    a, b = promote("div", a, b)  # a Python number is left as it is only beside a float tensor
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype.kind not in "fc":
        a, b = cast(a, DEFAULT_FLOAT), cast(b, DEFAULT_FLOAT)
    return Div()(a, b)


class Neg(Function):
    """Negation.

    forward:  y = -x
    backward: dx = -gy
    """
    saves_inputs = False

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

    def saved_inputs(self):
        """x for both gradients, p only for dx."""
        return (0, 1) if self.next_functions[0] is not None else (0,)

    def backward(self, gy):
        x, p = self.inputs
        gx = gy * p * x ** (p - 1) if self.needs_input_grad[0] else None
        gp = gy * self.output() * log(x) if self.needs_input_grad[1] else None
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
        if x.dtype.kind in "biu" and result_type(x, exponent).kind == "f":
            x = cast(x, DEFAULT_FLOAT)  # int tensor ** 0.5 is float32, as torch
        return PowScalar(exponent)(x)
    return Pow()(*promote("pow", x, exponent))


# ----------------------------------------------------------------------------
# Exponentials, roots and activations
# ----------------------------------------------------------------------------
class Exp(Function):
    """Exponential.

    forward:  y = exp(x)
    backward: dx = gy * y
    """
    saves_inputs = False  # backward reads the output

    def forward(self, x):
        return backend.get_array_module(x).exp(x)

    def backward(self, gy):
        return gy * self.output()


@register
def exp(x):
    return Exp()(floating(x))


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
    return Log()(floating(x))


class Sqrt(Function):
    """Square root.

    forward:  y = sqrt(x)
    backward: dx = gy / (2 y)
    """
    saves_inputs = False  # backward reads the output

    def forward(self, x):
        return backend.get_array_module(x).sqrt(x)

    def backward(self, gy):
        return gy / (2 * self.output())


@register
def sqrt(x):
    return Sqrt()(floating(x))


class Rsqrt(Function):
    """Reciprocal square root.

    forward:  y = 1 / sqrt(x)
    backward: dx = -gy * y^3 / 2
    """
    saves_inputs = False  # backward reads the output

    def forward(self, x):
        return 1 / backend.get_array_module(x).sqrt(x)

    def backward(self, gy):
        y = self.output()
        return gy * y * y * y * -0.5


@register
def rsqrt(x):
    """1 / sqrt(x)."""
    return Rsqrt()(floating(x))


class Square(Function):
    """Square.

    forward:  y = x^2
    backward: dx = 2 x gy
    """

    def forward(self, x):
        return x * x

    def backward(self, gy):
        return gy * self.inputs[0] * 2


@register
def square(x):
    """x * x."""
    return Square()(x)


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
    saves_inputs = False  # backward reads the output

    def forward(self, x):
        return backend.get_array_module(x).tanh(x)

    def backward(self, gy):
        y = self.output()
        return gy * (1 - y * y)


@register
def tanh(x):
    return Tanh()(floating(x))


class Sin(Function):
    """Sine.

    forward:  y = sin(x)
    backward: dx = gy * cos(x)
    """

    def forward(self, x):
        return backend.get_array_module(x).sin(x)

    def backward(self, gy):
        return gy * cos(self.inputs[0])


@register
def sin(x):
    return Sin()(floating(x))


class Cos(Function):
    """Cosine.

    forward:  y = cos(x)
    backward: dx = -gy * sin(x)
    """

    def forward(self, x):
        return backend.get_array_module(x).cos(x)

    def backward(self, gy):
        return -gy * sin(self.inputs[0])


@register
def cos(x):
    return Cos()(floating(x))


def sigmoid_array(x):
    """1 / (1 + exp(-x)) on an array, as (1 + tanh(x / 2)) / 2: no overflow in exp for
    large |x|. A new array (Sigmoid's forward, and fused operations' backward)."""
    xp = backend.get_array_module(x)
    return 0.5 * (xp.tanh(0.5 * x) + 1)


class Sigmoid(Function):
    """Logistic sigmoid.

    forward:  y = 1 / (1 + exp(-x)),  computed as (1 + tanh(x/2)) / 2
    backward: dx = gy * y * (1 - y)
    """
    saves_inputs = False  # backward reads the output

    def forward(self, x):
        return sigmoid_array(x)

    def backward(self, gy):
        y = self.output()
        return gy * y * (1 - y)


@register
def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return Sigmoid()(floating(x))


class ReLU(Function):
    """Rectified linear unit.

    forward:  y = max(x, 0)
    backward: dx = gy * [x > 0]
    """

    def forward(self, x):
        return backend.get_array_module(x).maximum(x, x.dtype.type(0))  # NaN stays NaN

    def backward(self, gy):
        return gy * constant(self.inputs[0].data > 0)


@register
def relu(x):
    """max(x, 0)."""
    return ReLU()(x)


class Clone(Function):
    """A copy in memory of its own.

    forward:  y = x (copied)
    backward: dx = gy
    """
    saves_inputs = False

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


@register
def clone(x):
    """A copy of x with memory of its own; the gradient flows back to x."""
    return Clone()(x)


class Remainder(Function):
    """The remainder of floor division, with the sign of the divisor (Python's %).

    forward:  y = a - floor(a / b) * b
    backward: da = gy,  db = -gy * floor(a / b)   (floor(a/b) is a constant
              between the jumps, where y is not differentiable)
    """

    def saved_inputs(self):
        return (0, 1) if self.next_functions[1] is not None else ()

    def forward(self, a, b):
        return backend.get_array_module(a).remainder(a, b)

    def backward(self, gy):
        a, b = self.inputs
        if not self.needs_input_grad[1]:
            return gy, None
        quotient = backend.get_array_module(a.data).floor_divide(a.data, b.data)
        return gy, -gy * constant(quotient)


@register
def remainder(a, b):
    """a % b: the remainder with the sign of b, as torch.remainder and Python."""
    return Remainder()(*promote("remainder", a, b))


# ----------------------------------------------------------------------------
# dtype and device
# ----------------------------------------------------------------------------
class Cast(Function):
    """The same values in another dtype.

    forward:  y = x as dtype
    backward: dx = gy as x's dtype
    """
    saves_inputs = False

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
    saves_inputs = False

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


# ----------------------------------------------------------------------------
# torch's other names for the operations above
# ----------------------------------------------------------------------------
subtract, multiply, divide, true_divide, negative = sub, mul, div, div, neg


