"""The Tensor: an n-dimensional array that can remember how it was computed.

A Tensor wraps a backend array (`.data`, NumPy or CuPy). A tensor made by an
operation points back at that operation's Function through `.grad_fn`; leaves
(tensors you made yourself) have none. `backward()` hands the graph to the
engine in autograd.py, which fills in the leaves' `.grad`.

Read this file for what a tensor holds and offers; autograd.py for how its
gradients are computed; ops/ for the operations themselves.
"""
import numpy as np

from . import backend
from .dims import dim_aliases


# ----------------------------------------------------------------------------
# dtypes, and turning values into arrays and tensors
# ----------------------------------------------------------------------------
float32, float64 = np.dtype("float32"), np.dtype("float64")
int32, int64, bool_ = np.dtype("int32"), np.dtype("int64"), np.dtype("bool")
DEFAULT_FLOAT = float32


def as_array(data, dtype=None, device=None):
    """Turn Python numbers, lists, NumPy or CuPy arrays into a backend array.

    Python floats and lists of floats become float32 (the default float
    dtype); a NumPy array or scalar keeps its dtype, as in PyTorch.
    """
    device = backend.check_device(device) if device is not None else None
    if isinstance(data, Tensor):
        data = data.data
    if backend.device_of(data) == "cuda" or isinstance(data, np.ndarray):
        array = data
    else:
        array = np.asarray(data)
        if dtype is None and array.dtype == float64 and not isinstance(data, np.generic):
            array = array.astype(DEFAULT_FLOAT)  # a NumPy scalar keeps its dtype, as an array
    if dtype is not None and array.dtype != np.dtype(dtype):
        array = array.astype(dtype)
    target = device or (backend.device_of(array) if backend.device_of(array) == "cuda"
                        else backend.get_default_device())
    return backend.to_device(array, target)


def as_tensors(inputs, op_name):
    """An operation's inputs as tensors on one device: Python scalars become
    tensors of their partner's dtype; tensors on different devices are an error."""
    reference = next((x for x in inputs if isinstance(x, Tensor)), None)
    if reference is None:
        return tuple(Tensor(x) for x in inputs)
    if all(isinstance(x, Tensor) for x in inputs):
        tensors = inputs
    else:
        tensors = tuple(x if isinstance(x, Tensor) else _scalar_like(x, reference) for x in inputs)
    device = reference.device
    for x in tensors:
        if x.device != device:
            raise RuntimeError(f"{op_name}: tensors on different devices, {device} and "
                               f"{x.device}; move them with .to(device) first")
    return tensors


def _scalar_like(value, reference):
    """A Python number as a tensor of the reference's dtype: no silent upcast."""
    dtype = reference.dtype
    if dtype.kind not in "fc" and isinstance(value, float):
        dtype = DEFAULT_FLOAT
    return Tensor(backend.xp_for(reference.device).asarray(value, dtype=dtype))


# ----------------------------------------------------------------------------
# Tensor
# ----------------------------------------------------------------------------
class Tensor:
    """An n-dimensional array that can remember how it was computed."""

    __array_priority__ = 1000  # make `ndarray * Tensor` call Tensor.__rmul__

    def __init__(self, data, requires_grad=False, dtype=None, device=None, name=None):
        self.data = as_array(data, dtype, device)
        self.grad = None
        self.grad_fn = None       # the Function that made this tensor (None: a leaf)
        self.name = name
        self._requires_grad = False
        self._retains_grad = False
        self._hooks = []
        self.requires_grad = requires_grad

    @staticmethod
    def _wrap(array):
        """A tensor around `array`, which is already a backend array: how every
        operation makes its output, without as_array's conversions."""
        out = Tensor.__new__(Tensor)
        out.data, out.grad, out.grad_fn, out.name = array, None, None, None
        out._requires_grad, out._retains_grad, out._hooks = False, False, []
        return out

    # ------------------------------------------------------------------------
    # Attributes
    # ------------------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        if flag and self.data.dtype.kind not in "fc":
            raise TypeError(
                f"only floating-point tensors can require grad, got dtype {self.data.dtype} "
                f"(integer tensors hold indices; convert with .float() first)")
        if not flag and self.grad_fn is not None:
            raise RuntimeError("requires_grad can only be turned off on a leaf; use .detach()")
        self._requires_grad = bool(flag)

    def requires_grad_(self, flag=True):
        self.requires_grad = flag
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return int(self.data.size)

    @property
    def device(self):
        return backend.device_of(self.data)

    def __len__(self):
        return self.shape[0]

    def item(self):
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(-1)[0].item()

    def numpy(self):
        """The values as a host NumPy array (copied from the GPU if needed)."""
        return backend.to_numpy(self.data)

    def tolist(self):
        return self.numpy().tolist()

    def detach(self):
        """The same values, cut off from the graph."""
        return Tensor(self.data)

    def to(self, device=None, dtype=None):
        """A copy on another device and/or with another dtype (self if nothing changes)."""
        device = backend.check_device(device) if device is not None else self.device
        if device == self.device and (dtype is None or np.dtype(dtype) == self.dtype):
            return self
        out = self
        if dtype is not None and np.dtype(dtype) != self.dtype:
            out = ops.cast(out, dtype)
        if device != self.device:
            out = ops.to_device(out, device)
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtype=float32)

    def double(self):
        return self.to(dtype=float64)

    def long(self):
        return Tensor(self.data.astype(int64))

    def __repr__(self):
        body = np.array2string(self.numpy(), precision=4, separator=", ", prefix="tensor(")
        extras = [f"dtype={self.dtype}"]
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{type(self.grad_fn).__name__}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"tensor({body}, {', '.join(extras)})"

    # ------------------------------------------------------------------------
    # Gradients
    # ------------------------------------------------------------------------
    def retain_grad(self):
        """Keep `.grad` on this non-leaf tensor after backward (leaves always keep it)."""
        self._retains_grad = True

    def register_hook(self, hook):
        """Call `hook(grad)` when this tensor's gradient is computed; a non-None
        return value replaces the gradient. Returns a handle with `.remove()`."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        self._hooks.append(hook)
        hooks = self._hooks

        class Handle:
            def remove(self):
                if hook in hooks:
                    hooks.remove(hook)
        return Handle()

    def zero_grad(self):
        self.grad = None

    def _ones_like(self):
        """The gradient that starts backward from a scalar: d(self)/d(self) = 1."""
        return Tensor(backend.xp_for(self.device).ones(self.data.shape, dtype=self.dtype))

    def backward(self, gradient=None, retain_graph=False, create_graph=False):
        """Compute the gradient of this tensor with respect to every leaf that
        requires grad, adding it to their `.grad`."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad "
                               "(no input of its graph has requires_grad=True)")
        if gradient is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a scalar, but this tensor has shape "
                    f"{self.shape}; pass gradient= a tensor of that shape")
            gradient = self._ones_like()
        gradient = gradient if isinstance(gradient, Tensor) else Tensor(gradient, dtype=self.dtype)
        if gradient.shape != self.shape:
            raise ValueError(f"backward(): gradient shape {gradient.shape} does not match "
                             f"tensor shape {self.shape}")
        run_backward([self], [gradient], retain_graph or create_graph, create_graph)

    # ------------------------------------------------------------------------
    # Operators (the operations live in tinytensor/ops)
    # ------------------------------------------------------------------------
    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.sub(self, other)
    def __rsub__(self, other): return ops.sub(other, self)
    def __mul__(self, other): return ops.mul(self, other)
    def __rmul__(self, other): return ops.mul(other, self)
    def __truediv__(self, other): return ops.div(self, other)
    def __rtruediv__(self, other): return ops.div(other, self)
    def __pow__(self, other): return ops.pow(self, other)
    def __rpow__(self, other): return ops.pow(other, self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __neg__(self): return ops.neg(self)
    def __getitem__(self, index): return ops.getitem(self, index)

    # Comparisons give boolean tensors and have no gradient.
    def _compare(self, other, op):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor(op(self.data, other))

    def __eq__(self, other): return self._compare(other, lambda a, b: a == b)
    def __ne__(self, other): return self._compare(other, lambda a, b: a != b)
    def __lt__(self, other): return self._compare(other, lambda a, b: a < b)
    def __le__(self, other): return self._compare(other, lambda a, b: a <= b)
    def __gt__(self, other): return self._compare(other, lambda a, b: a > b)
    def __ge__(self, other): return self._compare(other, lambda a, b: a >= b)
    __hash__ = object.__hash__  # tensors are used as dict keys by identity

    def __bool__(self):
        if self.size != 1:
            raise RuntimeError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.item())

    def __float__(self): return float(self.item())
    def __int__(self): return int(self.item())

    # ------------------------------------------------------------------------
    # Methods that read like PyTorch
    # ------------------------------------------------------------------------
    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def abs(self): return ops.abs(self)
    def tanh(self): return ops.tanh(self)
    def sigmoid(self): return ops.sigmoid(self)
    def relu(self): return ops.relu(self)
    def clip(self, min=None, max=None): return ops.clip(self, min, max)
    clamp = clip
    def masked_fill(self, mask, value): return ops.masked_fill(self, mask, value)
    # Reductions: torch's dim/keepdim; NumPy's axis=/keepdims= work as aliases (dims.py).
    @dim_aliases
    def sum(self, dim=None, keepdim=False): return ops.sum(self, dim, keepdim)
    @dim_aliases
    def mean(self, dim=None, keepdim=False): return ops.mean(self, dim, keepdim)
    @dim_aliases
    def max(self, dim=None, keepdim=False): return ops.max(self, dim, keepdim)
    @dim_aliases
    def min(self, dim=None, keepdim=False): return ops.min(self, dim, keepdim)
    @dim_aliases
    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return ops.var(self, dim, unbiased, keepdim, correction=correction)
    @dim_aliases
    def logsumexp(self, dim, keepdim=False): return ops.logsumexp(self, dim, keepdim)
    def softmax(self, axis=-1): return ops.softmax(self, axis)
    def log_softmax(self, axis=-1): return ops.log_softmax(self, axis)
    def argmax(self, axis=None): return Tensor(self.data.argmax(axis=axis))
    def reshape(self, *shape): return ops.reshape(self, _shape_arg(shape))
    view = reshape
    def transpose(self, *axes): return ops.transpose(self, _shape_arg(axes) or None)
    def permute(self, *axes): return ops.transpose(self, _shape_arg(axes))
    def swapaxes(self, a, b): return ops.swapaxes(self, a, b)
    @dim_aliases
    def squeeze(self, dim=None): return ops.squeeze(self, dim)
    @dim_aliases
    def unsqueeze(self, dim): return ops.unsqueeze(self, dim)
    def expand(self, *shape): return ops.broadcast_to(self, _shape_arg(shape))
    def broadcast_to(self, shape): return ops.broadcast_to(self, shape)
    def flatten(self, start_dim=0, end_dim=-1): return ops.flatten(self, start_dim, end_dim)
    @dim_aliases
    def split(self, split_size, dim=0): return ops.split(self, split_size, dim)
    @dim_aliases
    def chunk(self, chunks, dim=0): return ops.chunk(self, chunks, dim)

    @property
    def T(self):
        return ops.transpose(self, None)

    # ------------------------------------------------------------------------
    # In-place updates, for optimizers (PyTorch's names; they record no graph)
    # ------------------------------------------------------------------------
    def _check_in_place(self, op):
        if _Mode.grad_enabled and self.requires_grad:
            raise RuntimeError(f"{op}: a tensor that requires grad cannot be changed in place while "
                               "gradients are recorded; use tinytensor.no_grad()")

    def _operand(self, other):
        return other.data if isinstance(other, Tensor) else other

    def add_(self, other, alpha=1.0):
        """self += alpha * other, in place (no graph)."""
        self._check_in_place("add_")
        other = self._operand(other)
        self.data += other if alpha == 1.0 else other * self.dtype.type(alpha)
        return self

    def mul_(self, other):
        """self *= other, in place (no graph)."""
        self._check_in_place("mul_")
        other = self._operand(other)
        self.data *= self.dtype.type(other) if isinstance(other, (int, float)) else other
        return self

    def addcmul_(self, a, b, value=1.0):
        """self += value * a * b, in place (no graph)."""
        self._check_in_place("addcmul_")
        product = self._operand(a) * self._operand(b)
        product *= self.dtype.type(value)
        self.data += product
        return self

    def addcdiv_(self, a, b, value=1.0):
        """self += value * a / b, in place (no graph)."""
        self._check_in_place("addcdiv_")
        quotient = self._operand(a) / self._operand(b)
        quotient *= self.dtype.type(value)
        self.data += quotient
        return self

    def index_add_(self, index, source):
        """In place, without recording a graph: self[index[i]] += source[i] along dim 0.

        As torch.Tensor.index_add_(0, index, source): `index` holds integers
        (repeated ones accumulate), `source` has shape (len(index),) + self.shape[1:].
        This is the sparse SGD step of an embedding: only the touched rows are
        written. Returns self. A non-leaf tensor that is part of a graph being
        recorded cannot be changed in place (its users' backward would see the
        new values).
        """
        if _Mode.grad_enabled and self.requires_grad and self.grad_fn is not None:
            raise RuntimeError(
                f"index_add_: cannot modify a non-leaf tensor (made by {type(self.grad_fn).__name__}) "
                "in place while gradients are recorded; use it under tinytensor.no_grad() "
                "or on the leaf it comes from")
        xp = backend.xp_for(self.device)
        index = index.data if isinstance(index, Tensor) else xp.asarray(index)
        source = source.data if isinstance(source, Tensor) else xp.asarray(source)
        if index.ndim != 1 or index.dtype.kind not in "iu":
            raise TypeError(f"index_add_: index must be a 1-D integer array, got shape "
                            f"{tuple(index.shape)} and dtype {index.dtype}")
        if self.ndim == 0 or tuple(source.shape) != (index.shape[0],) + self.shape[1:]:
            raise ValueError(f"index_add_: source of shape {tuple(source.shape)} does not fit "
                             f"index of length {index.shape[0]} into a tensor of shape {self.shape} "
                             f"(expected {(index.shape[0],) + self.shape[1:]})")
        if backend.device_of(index) != self.device or backend.device_of(source) != self.device:
            raise RuntimeError(f"index_add_: index and source must be on {self.device}, like the tensor")
        if source.dtype != self.dtype:
            raise TypeError(f"index_add_: source has dtype {source.dtype} but the tensor has "
                            f"{self.dtype}; convert it first (no silent casts)")
        rows = self.shape[0]
        if index.size == 0:
            return self
        low, high = int(index.min()), int(index.max())
        if low < -rows or high >= rows:
            raise IndexError(f"index_add_: index values must be in [-{rows}, {rows}), got values "
                             f"from {low} to {high}")
        if low < 0:
            index = index % rows
        backend.scatter_add(self.data, index, source)
        return self


def _shape_arg(args):
    """Accept both t.reshape(2, 3) and t.reshape((2, 3))."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


class Parameter(Tensor):
    """A tensor that is a model's weight: a leaf that requires grad."""

    def __init__(self, data, requires_grad=True, name=None):
        super().__init__(data, requires_grad=requires_grad, name=name)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


# autograd.py and ops/ build on Tensor, so they are imported once it exists.
from .autograd import _Mode, run_backward  # noqa: E402
from . import ops  # noqa: E402
