"""Functions that make new tensors, as torch's: on the default device unless
told otherwise, with `dtype=`, `device=` and `requires_grad=` keywords.

Sizes are given as torch takes them: zeros(2, 3), zeros((2, 3)) and
zeros([2, 3]) are the same. Without a dtype, floats are float32 (the default
float dtype), integers int64, and booleans bool.
"""
import math
import numbers

import numpy as np

from . import backend
from .tensor import DEFAULT_FLOAT, Tensor, as_array, int64

__all__ = ["tensor", "as_tensor", "from_numpy", "is_tensor", "numel",
           "empty", "zeros", "ones", "full", "arange", "linspace", "eye",
           "rand", "randn", "randint", "randperm",
           "empty_like", "zeros_like", "ones_like", "full_like", "rand_like", "randn_like",
           "randint_like"]


def _device(device):
    return backend.check_device(device) if device is not None else backend.get_default_device()


def _make(array, requires_grad):
    return Tensor(array, requires_grad=requires_grad)


# ----------------------------------------------------------------------------
# From data
# ----------------------------------------------------------------------------
def tensor(data, dtype=None, device=None, requires_grad=False, name=None):
    """A new tensor from Python numbers, nested lists, or a NumPy/CuPy array,
    always with memory of its own (as torch.tensor, which copies).
    Python floats become float32, ints int64; NumPy arrays keep their dtype."""
    source = data._data if isinstance(data, Tensor) else data
    array = as_array(data, dtype, device)
    if array is source or backend.device_of(array) == backend.device_of(source) and \
            isinstance(source, np.ndarray) and np.shares_memory(array, source):
        array = array.copy()
    return Tensor(array, requires_grad=requires_grad, name=name)


def as_tensor(data, dtype=None, device=None):
    """A tensor that shares memory with `data` when it can (a tensor or an array
    of the right dtype and device comes through as it is), as torch.as_tensor."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if (dtype or device) else data
    return Tensor(as_array(data, dtype, device))


def from_numpy(ndarray):
    """A tensor sharing memory with a NumPy array: changing one changes the other."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(ndarray).__name__}")
    out = Tensor._wrap(ndarray)
    return out


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(x):
    return x.numel()


# ----------------------------------------------------------------------------
# Filled with one value
# ----------------------------------------------------------------------------
def empty(*size, dtype=None, device=None, requires_grad=False):
    """A tensor whose values are whatever the memory held: set them before use."""
    xp = backend.xp_for(_device(device))
    return _make(xp.empty(_shape(size), dtype=dtype or DEFAULT_FLOAT), requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    xp = backend.xp_for(_device(device))
    return _make(xp.zeros(_shape(size), dtype=dtype or DEFAULT_FLOAT), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    xp = backend.xp_for(_device(device))
    return _make(xp.ones(_shape(size), dtype=dtype or DEFAULT_FLOAT), requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor of `size` filled with fill_value; the dtype follows the value
    when not given (3 gives int64, 1.5 float32, True bool), as torch."""
    if dtype is None:
        dtype = _dtype_of_number(fill_value)
    xp = backend.xp_for(_device(device))
    return _make(xp.full(_shape((size,)), fill_value, dtype=dtype), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The n x m identity matrix (ones on the diagonal)."""
    xp = backend.xp_for(_device(device))
    return _make(xp.eye(n, m, dtype=dtype or DEFAULT_FLOAT), requires_grad)


# ----------------------------------------------------------------------------
# Ranges
# ----------------------------------------------------------------------------
def arange(start=0, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Values from start up to (not including) end, `step` apart, as torch.arange:
    arange(5) is 0..4. Integer arguments give int64, a float anywhere float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if dtype is None:
        is_int = all(isinstance(v, (numbers.Integral, np.integer)) for v in (start, end, step))
        dtype = int64 if is_int else DEFAULT_FLOAT
    xp = backend.xp_for(_device(device))
    count = max(0, math.ceil((end - start) / step))
    if np.dtype(dtype).kind in "iu":
        array = xp.arange(start, start + count * step, step, dtype=dtype)[:count]
    else:  # start + i * step in float64, then rounded once to the dtype
        array = (start + step * xp.arange(count, dtype=np.float64)).astype(dtype)
    return _make(array, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """`steps` values evenly spaced from start to end, both included."""
    xp = backend.xp_for(_device(device))
    array = xp.linspace(start, end, int(steps), dtype=np.float64).astype(dtype or DEFAULT_FLOAT)
    return _make(array, requires_grad)


# ----------------------------------------------------------------------------
# Random, from the device's seeded generator (tinytensor.manual_seed)
# ----------------------------------------------------------------------------
def rand(*size, dtype=None, device=None, requires_grad=False):
    """Uniform in [0, 1)."""
    rng = backend.generator(_device(device))
    return _make(rng.random(_shape(size), dtype=dtype or DEFAULT_FLOAT), requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False):
    """Standard normal."""
    rng = backend.generator(_device(device))
    return _make(rng.standard_normal(_shape(size), dtype=dtype or DEFAULT_FLOAT), requires_grad)


def randint(low=0, high=None, size=None, dtype=None, device=None, requires_grad=False):
    """Integers uniform in [low, high), as torch: randint(high, size) or
    randint(low, high, size); int64 unless told otherwise."""
    if size is None:  # randint(high, size)
        if high is None:
            raise TypeError("randint() needs a size: randint(high, size) or randint(low, high, size)")
        low, high, size = 0, low, high
    if high is None:
        raise TypeError("randint() needs high: randint(high, size) or randint(low, high, size)")
    device = _device(device)
    array = backend.generator(device).integers(low, high, _shape((size,)))
    return _make(array.astype(dtype or int64, copy=False), requires_grad)


def randperm(n, dtype=None, device=None, requires_grad=False):
    """A random permutation of 0..n-1 (int64)."""
    array = backend.generator(_device(device)).permutation(int(n))
    return _make(array.astype(dtype or int64, copy=False), requires_grad)


# ----------------------------------------------------------------------------
# Like another tensor: its shape, and its dtype and device unless told otherwise
# ----------------------------------------------------------------------------
def empty_like(input, dtype=None, device=None, requires_grad=False):
    return empty(input.shape, dtype=dtype or input.dtype, device=device or input.device,
                 requires_grad=requires_grad)


def zeros_like(input, dtype=None, device=None, requires_grad=False):
    return zeros(input.shape, dtype=dtype or input.dtype, device=device or input.device,
                 requires_grad=requires_grad)


def ones_like(input, dtype=None, device=None, requires_grad=False):
    return ones(input.shape, dtype=dtype or input.dtype, device=device or input.device,
                requires_grad=requires_grad)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):
    return full(input.shape, fill_value, dtype=dtype or input.dtype,
                device=device or input.device, requires_grad=requires_grad)


def rand_like(input, dtype=None, device=None, requires_grad=False):
    return rand(input.shape, dtype=dtype or input.dtype, device=device or input.device,
                requires_grad=requires_grad)


def randn_like(input, dtype=None, device=None, requires_grad=False):
    return randn(input.shape, dtype=dtype or input.dtype, device=device or input.device,
                 requires_grad=requires_grad)


def randint_like(input, low=0, high=None, dtype=None, device=None, requires_grad=False):
    """randint_like(input, high) or randint_like(input, low, high)."""
    if high is None:
        low, high = 0, low
    return randint(low, high, input.shape, dtype=dtype or input.dtype,
                   device=device or input.device, requires_grad=requires_grad)


def _dtype_of_number(value):
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(value, (numbers.Integral, np.integer)):
        return int64
    if isinstance(value, complex):
        return np.dtype("complex64")
    return DEFAULT_FLOAT


def _shape(args):
    """zeros(2, 3), zeros((2, 3)) and zeros([2, 3]) all mean shape (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(int(n) for n in args[0])
    return tuple(int(n) for n in args)
