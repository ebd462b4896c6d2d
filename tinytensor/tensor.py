"""The Tensor: an n-dimensional array that can remember how it was computed.

A Tensor wraps a backend array (`.data`, NumPy or CuPy). A tensor made by an
operation points back at that operation's Function through `.grad_fn`; leaves
(tensors you made yourself) have none. `backward()` hands the graph to the
engine in autograd/engine.py, which fills in the leaves' `.grad`.

The file in order: turning values into arrays; the Tensor's
attributes, conversions and gradients; its operators and methods (each one
line, calling tinytensor/ops). The in-place operations, which count a version
and keep the graph right, are in ops/inplace.py.

Read this file for what a tensor holds and offers; autograd/engine.py for how
its gradients are computed; ops/ for the operations themselves.
"""
import numpy as np

from . import backend
from .dims import dim_aliases, normalize_dim
from .dtypes import (DEFAULT_FLOAT, bool_, float32, float64, int64, result_type,
                     float16, int16, int32)


# ----------------------------------------------------------------------------
# Turning values into arrays and tensors (the dtypes are in dtypes.py)
# ----------------------------------------------------------------------------
def as_array(data, dtype=None, device=None):
    """Turn Python numbers, lists, NumPy or CuPy arrays into a backend array.

    Python floats and lists of floats become float32 (the default float
    dtype); a NumPy array or scalar keeps its dtype, as in PyTorch.
    """
    device = backend.check_device(device) if device is not None else None
    if isinstance(data, Tensor):
        data = data._data
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


def array_beside(value, like, op, name):
    """The array of an operation's extra argument (a mask, ids, a target): a
    tensor's own, which must be on `like`'s device, or a list or NumPy value
    moved there. (`as_array` above is for making new tensors.)"""
    if isinstance(value, Tensor):
        if value.device != like.device:
            raise RuntimeError(f"{op}: {name} is on {value.device} but the input is on "
                               f"{like.device}; move it with .to(device) first")
        return value.data
    return backend.xp_for(like.device).asarray(value)


def as_tensors(inputs, op_name):
    """An operation's inputs as tensors on one device: Python scalars become
    tensors of their partner's dtype; tensors on different devices are an error."""
    reference = None
    for x in inputs:
        if isinstance(x, Tensor):
            reference = x
            break
    if reference is None:
        return tuple(Tensor(x) for x in inputs)
    tensors = inputs
    for x in inputs:
        if not isinstance(x, Tensor):
            tensors = tuple([x if isinstance(x, Tensor) else _scalar_like(x, reference)
                             for x in inputs])
            break
    kind = type(reference._data)
    for x in tensors:
        # The same array type is the same device; only otherwise ask (a NumPy scalar is on the CPU too).
        if type(x._data) is not kind and x.device != reference.device:
            raise RuntimeError(f"{op_name}: tensors on different devices, {reference.device} and "
                               f"{x.device}; move them with .to(device) first")
    return tensors


def _scalar_like(value, reference):
    """A Python number as a tensor of the reference's dtype: no silent upcast.
    (Operations that promote, like add, convert their operands first: promote.)"""
    dtype = reference._data.dtype
    if dtype.kind in "bui":
        dtype = result_type(reference, value)
    if type(reference._data) is np.ndarray:  # the common case, without as_array's checks
        return Tensor._wrap(np.asarray(value, dtype=dtype))
    return Tensor(backend.xp_for(reference.device).asarray(value, dtype=dtype))


def promote(op_name, *operands):
    """The operands as tensors of their result_type, on one device: what every
    elementwise operation does first, as in torch (int tensor * 1.5 is float32,
    float32 + float64 is float64). Operands already of that dtype are returned
    as they are; the others are converted with `cast`, which keeps the graph."""
    if len(operands) == 2:  # the common cases, kept cheap
        a, b = operands
        if isinstance(a, Tensor):
            if isinstance(b, Tensor):
                if a._data.dtype == b._data.dtype:
                    return operands
                if b._data.dtype == bool and a._data.dtype.kind == "f":
                    return operands  # a mask: NumPy keeps a's dtype without a converted copy
            elif (type(b) is float or type(b) is int) and a._data.dtype.kind == "f":
                return operands  # as_tensors gives the number the tensor's dtype
        elif (type(a) is float or type(a) is int) and isinstance(b, Tensor) and b._data.dtype.kind == "f":
            return operands
    dtype = result_type(*operands)
    reference = next((x for x in operands if isinstance(x, Tensor)), None)
    xp = backend.xp_for(reference.device if reference is not None else backend.get_default_device())
    converted = []
    for x in operands:
        if not isinstance(x, Tensor):
            x = Tensor._wrap(xp.asarray(x, dtype=dtype))
        elif x._data.dtype != dtype:
            x = ops.cast(x, dtype)
        converted.append(x)
    return as_tensors(tuple(converted), op_name)


# ----------------------------------------------------------------------------
# Tensor
# ----------------------------------------------------------------------------
class Tensor:
    """An n-dimensional array that can remember how it was computed."""

    __array_priority__ = 1000  # make `ndarray * Tensor` call Tensor.__rmul__
    _base = None               # for a view: the tensor whose memory it shares (torch's _base)
    _view_index = None         # for a view picked from _base by an index: that index
    _base_grad_fn = None       # for a view: _base's grad_fn when the view was made
    # Defaults shared by every tensor until one sets its own (saves each
    # operation's output setting them: see _wrap).
    grad = None
    grad_fn = None             # the Function that made this tensor (None: a leaf)
    name = None
    _requires_grad = False
    _retains_grad = False
    _hooks = ()                # register_hook gives a tensor a list of its own

    def __init__(self, data, requires_grad=False, dtype=None, device=None, name=None):
        self._data = as_array(data, dtype, device)
        self.grad = None
        self.grad_fn = None       # the Function that made this tensor (None: a leaf)
        self.name = name
        self._requires_grad = False
        self._retains_grad = False
        self._hooks = []
        self._versions = [0]      # see _version; a view shares the list with its base
        self.requires_grad = requires_grad

    @staticmethod
    def _wrap(array):
        """A tensor around `array`, which is already a backend array: how every
        operation makes its output, without as_array's conversions."""
        out = Tensor.__new__(Tensor)
        out._data = array
        out._versions = [0]  # everything else keeps the class's defaults
        return out

    # ------------------------------------------------------------------------
    # Attributes
    # ------------------------------------------------------------------------
    @property
    def data(self):
        """The backend array (NumPy or CuPy) holding the values."""
        return self._data

    @data.setter
    def data(self, array):
        """`p.data = new_array` puts other values in (a new array: not an in-place
        change). `w.data -= 1` is, in Python, `w.data = w.data.__isub__(1)`: the
        same array comes back changed in place, so that counts as an in-place
        change (the version goes up, see _version)."""
        if array is self._data:
            self._versions[0] += 1
        else:
            self._data = as_array(array)

    @property
    def _version(self):
        """How many times the values were changed in place (torch's `_version`).

        A Function records the versions of the tensors its backward reads; if
        one has changed by backward time, backward raises instead of computing
        a gradient from the wrong values. A view shares the counter with the
        tensor whose memory it shows, since changing one changes both."""
        return self._versions[0]

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        if flag and self._data.dtype.kind not in "fc":
            raise TypeError(
                f"only floating-point tensors can require grad, got dtype {self._data.dtype} "
                f"(integer tensors hold indices; convert with .float() first)")
        if not flag and self.grad_fn is not None:
            raise RuntimeError("requires_grad can only be turned off on a leaf; use .detach()")
        self._requires_grad = bool(flag)

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def shape(self):
        return tuple(self._data.shape)

    @property
    def ndim(self):
        return self._data.ndim

    def size(self, dim=None):
        """The shape, as torch: size() is the tuple, size(d) one dim's length."""
        if dim is None:
            return tuple(self._data.shape)
        return self._data.shape[normalize_dim(dim, self._data.shape, "size")]

    def numel(self):
        """The number of elements."""
        return int(self._data.size)

    nelement = numel

    def dim(self):
        """The number of dimensions (ndim)."""
        return self._data.ndim

    ndimension = dim

    def element_size(self):
        """Bytes per element."""
        return self._data.dtype.itemsize

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    @property
    def is_cuda(self):
        return self.device == "cuda"

    @property
    def device(self):
        return backend.device_of(self._data)

    def __len__(self):
        return self.shape[0]

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"item(): a tensor with {self._data.size} elements (shape "
                               f"{self.shape}) cannot be converted to a Python number")
        return self._data.reshape(-1)[0].item()

    def numpy(self):
        """The values as a host NumPy array (copied from the GPU if needed)."""
        return backend.to_numpy(self._data)

    def __array__(self, dtype=None, copy=None):
        """np.asarray(t) gives the values (a host copy for a GPU tensor)."""
        array = self.numpy()
        return array if dtype is None else array.astype(dtype, copy=False)

    def tolist(self):
        return self.numpy().tolist()

    def detach(self):
        """The same values (the same memory), cut off from the graph."""
        out = Tensor._wrap(self._data)
        out._versions = self._versions  # one memory, one version counter, as in torch
        return out

    def detach_(self):
        """Cut this tensor off from the graph, in place: it becomes a leaf."""
        self.grad_fn, self._requires_grad = None, False
        return self

    def clone(self):
        """A copy with its own memory; the gradient flows back to self."""
        return ops.clone(self)

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        """Another dtype and/or device, read as torch reads it: to(dtype),
        to(device), to(device, dtype), to(other) (other's device and dtype), or
        by keyword. Returns self when nothing changes (unless copy=True); the
        conversion is part of the graph."""
        for arg in args:
            if isinstance(arg, Tensor):
                device, dtype = arg.device, arg.dtype
            elif isinstance(arg, str) and arg.split(":")[0] in backend.DEVICES:
                device = arg
            else:
                try:
                    dtype = np.dtype(arg)
                except TypeError:
                    raise TypeError(f"to(): expected a dtype, a device or a tensor, got "
                                    f"{arg!r}") from None
        device = backend.check_device(device) if device is not None else self.device
        dtype = np.dtype(dtype) if dtype is not None else self.dtype
        out = self
        if dtype != self.dtype:
            out = ops.cast(out, dtype)
        if device != self.device:
            out = ops.to_device(out, device)
        if copy and out is self:
            out = ops.clone(self)
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    # torch's conversions: each is .to(that dtype)
    def float(self): return self.to(float32)
    def double(self): return self.to(float64)
    def half(self): return self.to(float16)
    def int(self): return self.to(int32)
    def long(self): return self.to(int64)
    def short(self): return self.to(int16)
    def bool(self): return self.to(bool_)
    def type_as(self, other): return self.to(other.dtype)

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
        if type(self._hooks) is not list:
            self._hooks = []
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
        return Tensor(backend.xp_for(self.device).ones(self._data.shape, dtype=self.dtype))

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Compute the gradient of this tensor with respect to every leaf that
        requires grad, adding it to their `.grad` (only to the tensors in
        `inputs`, when given, as torch)."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad "
                               "(no input of its graph has requires_grad=True)")
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a scalar, but this tensor has shape "
                    f"{self.shape}; pass gradient= a tensor of that shape")
            gradient = self._ones_like()
        gradient = gradient if isinstance(gradient, Tensor) else Tensor(gradient, dtype=self.dtype)
        if gradient.shape != self.shape:
            raise ValueError(f"backward(): gradient shape {gradient.shape} does not match "
                             f"tensor shape {self.shape}")
        retain = create_graph if retain_graph is None else retain_graph
        if inputs is None:
            run_backward([self], [gradient], retain, create_graph)
            return
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        grads = run_backward([self], [gradient], retain, create_graph, inputs=inputs)
        for t, g in zip(inputs, grads):
            if g is not None:
                g = g if create_graph else g.detach().clone()
                t.grad = g if t.grad is None else t.grad + g

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
    def __floordiv__(self, other): return ops.floor_divide(self, other)
    def __rfloordiv__(self, other): return ops.floor_divide(other, self)
    def __mod__(self, other): return ops.remainder(self, other)
    def __rmod__(self, other): return ops.remainder(other, self)
    def __abs__(self): return ops.abs(self)
    def __getitem__(self, index): return ops.getitem(self, index)

    # Bitwise operators: logical on boolean tensors (masks), bitwise on integers.
    def __and__(self, other): return ops.bitwise_and(self, other)
    def __rand__(self, other): return ops.bitwise_and(other, self)
    def __or__(self, other): return ops.bitwise_or(self, other)
    def __ror__(self, other): return ops.bitwise_or(other, self)
    def __xor__(self, other): return ops.bitwise_xor(self, other)
    def __rxor__(self, other): return ops.bitwise_xor(other, self)
    def __invert__(self): return ops.bitwise_not(self)

    # Comparisons give boolean tensors and have no gradient.
    def _compare(self, other, op):
        other = other._data if isinstance(other, Tensor) else other
        return Tensor._wrap(op(self._data, other))

    def __eq__(self, other): return self._compare(other, lambda a, b: a == b)
    def __ne__(self, other): return self._compare(other, lambda a, b: a != b)
    def __lt__(self, other): return self._compare(other, lambda a, b: a < b)
    def __le__(self, other): return self._compare(other, lambda a, b: a <= b)
    def __gt__(self, other): return self._compare(other, lambda a, b: a > b)
    def __ge__(self, other): return self._compare(other, lambda a, b: a >= b)
    __hash__ = object.__hash__  # tensors are used as dict keys by identity

    def __bool__(self):
        if self._data.size != 1:
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
    def sin(self): return ops.sin(self)
    def cos(self): return ops.cos(self)
    def square(self): return ops.square(self)
    def rsqrt(self): return ops.rsqrt(self)
    def pow(self, exponent): return ops.pow(self, exponent)
    def floor_divide(self, other): return ops.floor_divide(self, other)
    def remainder(self, other): return ops.remainder(self, other)
    def eq(self, other): return self == other
    def ne(self, other): return self != other
    def lt(self, other): return self < other
    def le(self, other): return self <= other
    def gt(self, other): return self > other
    def ge(self, other): return self >= other
    def isnan(self): return ops.isnan(self)
    def isinf(self): return ops.isinf(self)
    def isfinite(self): return ops.isfinite(self)
    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return ops.isclose(self, other, rtol, atol, equal_nan)
    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return ops.allclose(self, other, rtol, atol, equal_nan)
    def equal(self, other): return ops.equal(self, other)
    def logical_and(self, other): return ops.logical_and(self, other)
    def logical_or(self, other): return ops.logical_or(self, other)
    def logical_xor(self, other): return ops.logical_xor(self, other)
    def logical_not(self): return ops.logical_not(self)
    def bitwise_and(self, other): return ops.bitwise_and(self, other)
    def bitwise_or(self, other): return ops.bitwise_or(self, other)
    def bitwise_xor(self, other): return ops.bitwise_xor(self, other)
    def bitwise_not(self): return ops.bitwise_not(self)
    def clamp(self, min=None, max=None): return ops.clamp(self, min, max)
    clip = clamp
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
    @dim_aliases
    def softmax(self, dim=None, dtype=None): return ops.softmax(self, dim, dtype)
    @dim_aliases
    def log_softmax(self, dim=None, dtype=None): return ops.log_softmax(self, dim, dtype)
    @dim_aliases
    def amax(self, dim=(), keepdim=False): return ops.amax(self, dim, keepdim)
    @dim_aliases
    def amin(self, dim=(), keepdim=False): return ops.amin(self, dim, keepdim)
    @dim_aliases
    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return ops.std(self, dim, unbiased, keepdim, correction=correction)
    @dim_aliases
    def prod(self, dim=None, keepdim=False): return ops.prod(self, dim, keepdim)
    @dim_aliases
    def cumsum(self, dim, *, dtype=None): return ops.cumsum(self, dim, dtype=dtype)
    @dim_aliases
    def norm(self, p="fro", dim=None, keepdim=False): return ops.norm(self, p, dim, keepdim)
    @dim_aliases
    def argmax(self, dim=None, keepdim=False): return ops.argmax(self, dim, keepdim)
    @dim_aliases
    def argmin(self, dim=None, keepdim=False): return ops.argmin(self, dim, keepdim)
    @dim_aliases
    def any(self, dim=None, keepdim=False): return ops.any(self, dim, keepdim)
    @dim_aliases
    def all(self, dim=None, keepdim=False): return ops.all(self, dim, keepdim)
    @dim_aliases
    def sort(self, dim=-1, descending=False, stable=False):
        return ops.sort(self, dim, descending, stable)
    @dim_aliases
    def argsort(self, dim=-1, descending=False, stable=False):
        return ops.argsort(self, dim, descending, stable)
    @dim_aliases
    def topk(self, k, dim=-1, largest=True, sorted=True): return ops.topk(self, k, dim, largest, sorted)
    # Shapes: torch's meanings (transpose swaps two dims; permute takes a whole order).
    def reshape(self, *shape): return ops.reshape(self, _shape_arg(shape))
    view = reshape    # always allowed here: NumPy copies when a view is impossible
    def contiguous(self): return self
    def transpose(self, dim0, dim1): return ops.transpose(self, dim0, dim1)
    def permute(self, *dims): return ops.permute(self, _shape_arg(dims))
    swapaxes = swapdims = transpose
    @dim_aliases
    def squeeze(self, dim=None): return ops.squeeze(self, dim)
    @dim_aliases
    def unsqueeze(self, dim): return ops.unsqueeze(self, dim)
    def expand(self, *shape): return ops.broadcast_to(self, _shape_arg(shape))
    def broadcast_to(self, shape): return ops.broadcast_to(self, shape)
    def sum_to_size(self, *size): return ops.sum_to(self, _shape_arg(size))
    def flatten(self, start_dim=0, end_dim=-1): return ops.flatten(self, start_dim, end_dim)
    @dim_aliases
    def split(self, split_size, dim=0): return ops.split(self, split_size, dim)
    @dim_aliases
    def chunk(self, chunks, dim=0): return ops.chunk(self, chunks, dim)
    @dim_aliases
    def unbind(self, dim=0): return ops.unbind(self, dim)
    def repeat(self, *sizes): return ops.repeat(self, _shape_arg(sizes))
    def flip(self, *dims): return ops.flip(self, _shape_arg(dims))
    # Indexing along a dim, and matrix products
    def gather(self, dim, index): return ops.gather(self, dim, index)
    def scatter(self, dim, index, src=None, *, value=None):
        return ops.scatter(self, dim, index, src, value=value)
    def scatter_add(self, dim, index, src): return ops.scatter_add(self, dim, index, src)
    def index_select(self, dim, index): return ops.index_select(self, dim, index)
    def nonzero(self, *, as_tuple=False): return ops.nonzero(self, as_tuple=as_tuple)
    def where(self, condition, other): return ops.where(condition, self, other)
    def matmul(self, other): return ops.matmul(self, other)
    def mm(self, other): return ops.mm(self, other)
    def bmm(self, other): return ops.bmm(self, other)

    @property
    def T(self):
        """All dims reversed: the matrix transpose of a 2-D tensor (a 0-d or 1-d tensor itself)."""
        return self.permute(*range(self.ndim - 1, -1, -1)) if self.ndim > 1 else self

    @property
    def mT(self):
        """The last two dims swapped: a batch of matrices, each transposed."""
        if self.ndim < 2:
            raise RuntimeError(f"mT: tensor.mT is only supported on matrices or batches of "
                               f"matrices; got a {self.ndim}-D tensor (shape {self.shape})")
        return self.transpose(-2, -1)

    def t(self):
        """The transpose of a matrix (a 0-d or 1-d tensor itself), as torch.t."""
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                               f"{self.ndim}-D (shape {self.shape}); use transpose(dim0, dim1) "
                               "or .mT")
        return self.T

    # In place (add_, copy_, +=, x[index] = v, ...): written in ops/inplace.py,
    # beside the Functions they record, and attached to Tensor at the end of this file.

def _raw(value):
    """A tensor's array, or a Python number as it is."""
    return value._data if isinstance(value, Tensor) else value


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


# autograd/ and ops/ build on Tensor, so they are imported once it exists.
from .autograd import _Mode, run_backward  # noqa: E402,F401  (_Mode: tests switch modes through it)
from . import ops  # noqa: E402

# The in-place methods: see ops/inplace.py.
for _name in ops.inplace.TENSOR_METHODS:
    setattr(Tensor, _name, getattr(ops.inplace, _name))
