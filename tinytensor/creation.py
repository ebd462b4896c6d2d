"""Functions that make new tensors, on the default device unless told otherwise."""
import numpy as np

from . import backend
from .tensor import DEFAULT_FLOAT, Tensor

__all__ = ["tensor", "zeros", "ones", "full", "arange", "eye", "rand", "randn",
           "zeros_like", "ones_like", "full_like", "rand_like", "randn_like"]


def _device(device):
    return backend.check_device(device) if device is not None else backend.get_default_device()


def _make(array, requires_grad):
    return Tensor(array, requires_grad=requires_grad)


def tensor(data, dtype=None, device=None, requires_grad=False, name=None):
    """A tensor from Python numbers, nested lists, or a NumPy/CuPy array.
    Python floats become float32; NumPy arrays keep their dtype."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device, name=name)


def zeros(*shape, dtype=DEFAULT_FLOAT, device=None, requires_grad=False):
    return _make(backend.xp_for(_device(device)).zeros(_shape(shape), dtype=dtype), requires_grad)


def ones(*shape, dtype=DEFAULT_FLOAT, device=None, requires_grad=False):
    return _make(backend.xp_for(_device(device)).ones(_shape(shape), dtype=dtype), requires_grad)


def full(shape, fill_value, dtype=DEFAULT_FLOAT, device=None, requires_grad=False):
    xp = backend.xp_for(_device(device))
    return _make(xp.full(_shape((shape,)), fill_value, dtype=dtype), requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None, requires_grad=False):
    """Like numpy.arange; integer arguments give int64, float ones float32."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
        dtype = np.int64 if is_int else DEFAULT_FLOAT
    xp = backend.xp_for(_device(device))
    return _make(xp.arange(start, stop, step, dtype=dtype), requires_grad)


def eye(n, m=None, dtype=DEFAULT_FLOAT, device=None, requires_grad=False):
    return _make(backend.xp_for(_device(device)).eye(n, m, dtype=dtype), requires_grad)


def rand(*shape, dtype=DEFAULT_FLOAT, device=None, requires_grad=False):
    """Uniform in [0, 1), from the device's seeded generator."""
    rng = backend.generator(_device(device))
    return _make(rng.random(_shape(shape), dtype=dtype), requires_grad)


def randn(*shape, dtype=DEFAULT_FLOAT, device=None, requires_grad=False):
    """Standard normal, from the device's seeded generator."""
    rng = backend.generator(_device(device))
    return _make(rng.standard_normal(_shape(shape), dtype=dtype), requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return zeros(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return ones(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad=False):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=t.device,
                requires_grad=requires_grad)


def rand_like(t, dtype=None, requires_grad=False):
    return rand(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def randn_like(t, dtype=None, requires_grad=False):
    return randn(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def _shape(args):
    """zeros(2, 3), zeros((2, 3)) and zeros([2, 3]) all mean shape (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(int(n) for n in args[0])
    return tuple(int(n) for n in args)
