"""In-place operations: Tensor's methods whose names end in _ (add_, copy_,
clamp_, ...), +=, -=, *=, /=, and x[index] = v, with what they record.

A tensor changed in place while a graph is recorded becomes the output of a
Function whose input is its old value (see _in_place below): `y += 1`
records an Add, `y.clamp_(0, 1)` a Clip. Two Functions have no out-of-place
operation elsewhere, so they are here:

- IndexPut: x[index] = values (torch's index_put and its CopySlices node);
- Copy: copy_ and fill_, whose new values do not depend on the old ones.
"""
import operator

import numpy as np

from .. import backend, ops
from ..autograd import Function, _Mode
from ..dims import normalize_dim
from ..dtypes import can_cast
from ..tensor import Tensor, _raw
from . import register
from .indexing import getitem, normalize_index

__all__ = ["index_put"]


class IndexPut(Function):
    """x with values written at an index: what x[index] = values records.

    forward:  y = x;  y[index] = values           (accumulate: y[index] += values,
                                                    repeated positions adding up)
    backward: dx = gy with zeros at index          (accumulate: dx = gy)
              dvalues = gy[index]                  (summed back to values' shape)
    """
    saves_inputs = False  # backward needs only the index

    def __init__(self, index, accumulate):
        self.index, self.accumulate = index, accumulate

    def forward(self, x, values):
        y = x.copy()
        if self.accumulate:
            backend.scatter_add(y, self.index, values)
        else:
            y[self.index] = values
        return y

    def backward(self, gy):
        gx = gy if self.accumulate else index_put(gy, self.index, 0.0)
        gvalues = None
        if self.needs_input_grad[1]:
            gvalues = getitem(gy, self.index)
            values = self.inputs[1]
            if gvalues.ndim < values.ndim:  # values (1, n) written into a row (n,): NumPy allows it
                gvalues = gvalues.reshape((1,) * (values.ndim - gvalues.ndim) + gvalues.shape)
        return gx, gvalues


@register
def index_put(x, indices, values, accumulate=False):
    """x with x[indices] = values (accumulate=True: x[indices] += values), out of
    place, as torch.index_put. `indices` is what x[...] takes: a tuple of index
    tensors, as torch's, or ints, slices, masks. Values are converted to x's dtype."""
    index = normalize_index(indices, x)
    if not isinstance(values, Tensor):
        values = Tensor(backend.xp_for(x.device).asarray(values, dtype=x.dtype))
    elif values.dtype != x.dtype:
        values = values.to(x.dtype)
    try:
        return IndexPut(index, accumulate)(x, values)
    except (IndexError, ValueError) as error:
        raise type(error)(f"index_put: cannot write values of shape {values.shape} at index "
                          f"{index!r} of a tensor of shape {x.shape}: {error}") from None


class Copy(Function):
    """New values for a tensor, broadcast to its shape and converted to its
    dtype: what copy_(src) and fill_(value) record.

    forward:  y = src   (broadcast to x's shape; x's values are not used)
    backward: dx = 0,  dsrc = gy   (summed back to src's shape)
    """
    saves_inputs = False

    def forward(self, x, src):
        xp = backend.get_array_module(x)
        return xp.broadcast_to(src, x.shape).astype(x.dtype, copy=True)

    def backward(self, gy):
        zeros = Tensor(backend.get_array_module(gy.data).zeros(gy.shape, dtype=gy.dtype))
        return zeros, gy


# ------------------------------------------------------------------------
# In place: torch's names ending in _, and +=, -=, *=, /=, x[index] = v.
# Each one writes into this tensor's own memory (a view, or a NumPy array
# shared through from_numpy, sees the change), counts a new version, and
# returns self: `p -= lr * p.grad` keeps the same Parameter object.
# ------------------------------------------------------------------------
# These functions are Tensor's in-place methods (tensor.py attaches each name in
# TENSOR_METHODS to Tensor), so their first argument is the tensor, `self`.

def _in_place(self, op, others, write, compute):
    """Run one in-place operation.

    write(array): the change made in the array itself, when no graph is
        recorded (under no_grad, or when nothing involved requires grad);
    compute(old): the same operation out of place, on a tensor `old`
        standing for self's value before the change, when a graph is.

    With a graph, self moves to the end of it, as in torch: `old` takes
    self's former place (the Functions recorded before the change keep
    their input), and self becomes the output of compute's Function.
    """
    self._check_in_place(op, others)
    if not (_Mode.grad_enabled and (self._requires_grad or any(
            isinstance(o, Tensor) and o._requires_grad for o in others))):
        array = self._writable(op)
        try:
            write(array)
        except (TypeError, ValueError) as error:  # a cast NumPy refuses, a shape that cannot broadcast
            raise RuntimeError(f"{op}: {error} (tensor of shape {self.shape}, dtype "
                               f"{self.dtype})") from None
        self._versions[0] += 1
        return self
    if self._base is not None:
        return self._in_place_on_view(op, compute)
    old = self._stand_in()
    result = compute(old)
    self._check_result(op, result)
    fn = result.grad_fn
    if fn is not None and any(fn.inputs[i] is old for i in fn.saved_inputs()):
        # fn's backward reads the old values, which are about to be overwritten: keep a copy.
        old._data, old._versions = old._data.copy(), [old._versions[0]]
    if result.dtype != self.dtype:
        result = ops.cast(result, self.dtype)
    self._writable(op)[...] = result._data
    self._versions[0] += 1
    if result.grad_fn is not None:
        self.grad_fn, self._requires_grad = result.grad_fn, True
        result.grad_fn._set_output(self)
    return self

def _in_place_on_view(self, op, compute):
    """An in-place change of a view, recorded as a change of its base, as in
    torch: base[index] = compute(base[index]), after which the view is again
    base[index] (the same memory) in the graph."""
    base, index = self._base, self._view_index
    if base._requires_grad and base.grad_fn is None:
        raise RuntimeError(f"{op}: a view of a leaf tensor that requires grad cannot be changed "
                           "in place while gradients are recorded; change it under "
                           "tinytensor.no_grad()")
    if index is None:
        made_by = type(self.grad_fn).__name__ if self.grad_fn is not None else "a view operation"
        raise RuntimeError(
            f"{op}: this tensor is a view (made by {made_by}) of another tensor's memory; "
            "tinytensor records in-place changes of views picked by one index from their "
            "base (x[0:2] += v), not of reshaped, transposed or expanded views, or views of "
            "views, while gradients are recorded (torch does): change the base tensor, or "
            "clone() the view first")
    current = ops.getitem(base, index)
    result = compute(current)
    self._check_result(op, result)
    fn = result.grad_fn
    if fn is not None and any(fn.inputs[i] is current for i in fn.saved_inputs()):
        current._data, current._versions = current._data.copy(), [current._versions[0]]
    base.index_put_(index, result)  # writes into the memory this view shows
    fresh = ops.getitem(base, index)
    if fresh.grad_fn is not None:
        self.grad_fn, self._requires_grad = fresh.grad_fn, True
        fresh.grad_fn._set_output(self)
    self._base_grad_fn = base.grad_fn
    return self

def _check_result(self, op, result):
    if result.shape != self.shape:
        raise RuntimeError(f"{op}: the result has shape {result.shape}, but the tensor changed in "
                           f"place has shape {self.shape}; an in-place operation cannot "
                           "change the shape")
    if not can_cast(result.dtype, self.dtype):
        raise RuntimeError(f"{op}: result type {result.dtype} can't be cast to the desired "
                           f"output type {self.dtype}")

def _check_in_place(self, op, others=()):
    """torch's rules for changing a tensor in place while a graph is recorded."""
    if not _Mode.grad_enabled:
        return
    if self._requires_grad and self.grad_fn is None:
        raise RuntimeError(
            f"{op}: a leaf tensor that requires grad cannot be changed in place while "
            "gradients are recorded (torch: 'a leaf Variable that requires grad is being used "
            "in an in-place operation'); change it under tinytensor.no_grad(), as an "
            "optimizer step does")

def _writable(self, op):
    """The array to write into. A NumPy scalar (what a reduction may give)
    becomes a 0-d array; a broadcast view (expand) cannot be written."""
    if isinstance(self._data, np.generic):
        self._data = np.array(self._data)
    if not getattr(self._data.flags, "writeable", True):  # (CuPy arrays are always writable)
        raise RuntimeError(f"{op}: this tensor's memory is read-only (an expand()ed tensor "
                           "shows one element in many places); clone() it first")
    return self._data

def _stand_in(self):
    """A new tensor for this tensor's value before an in-place change: it
    takes this tensor's place in the graph, as the output of its grad_fn."""
    old = Tensor._wrap(self._data)
    old._versions, old._requires_grad, old.grad_fn = self._versions, self._requires_grad, self.grad_fn
    if self.grad_fn is not None:
        self.grad_fn._set_output(old, keep_version=True)
    return old

def add_(self, other, *, alpha=1):
    """self += alpha * other."""
    other = other if alpha == 1 else other * alpha
    return self._in_place("add_", (other,), lambda a: operator.iadd(a, _raw(other)),
                          lambda old: ops.add(old, other))

def sub_(self, other, *, alpha=1):
    """self -= alpha * other."""
    other = other if alpha == 1 else other * alpha
    return self._in_place("sub_", (other,), lambda a: operator.isub(a, _raw(other)),
                          lambda old: ops.sub(old, other))

def mul_(self, other):
    """self *= other."""
    return self._in_place("mul_", (other,), lambda a: operator.imul(a, _raw(other)),
                          lambda old: ops.mul(old, other))

def div_(self, other):
    """self /= other (true division: an integer tensor cannot hold the result)."""
    return self._in_place("div_", (other,), lambda a: operator.itruediv(a, _raw(other)),
                          lambda old: ops.div(old, other))

def pow_(self, exponent):
    """self **= exponent."""
    return self._in_place("pow_", (exponent,), lambda a: operator.ipow(a, _raw(exponent)),
                          lambda old: ops.pow(old, exponent))

def __iadd__(self, other): return self.add_(other)
def __isub__(self, other): return self.sub_(other)
def __imul__(self, other): return self.mul_(other)
def __itruediv__(self, other): return self.div_(other)
def __ipow__(self, other): return self.pow_(other)

def __ifloordiv__(self, other):
    return self._in_place("floor_divide_", (other,), lambda a: operator.ifloordiv(a, _raw(other)),
                          lambda old: ops.floor_divide(old, other))

def __imod__(self, other):
    return self._in_place("remainder_", (other,), lambda a: operator.imod(a, _raw(other)),
                          lambda old: ops.remainder(old, other))

def __iand__(self, other): return self._bitwise_in_place("bitwise_and_", operator.iand, other)
def __ior__(self, other): return self._bitwise_in_place("bitwise_or_", operator.ior, other)
def __ixor__(self, other): return self._bitwise_in_place("bitwise_xor_", operator.ixor, other)

def _bitwise_in_place(self, op, write, other):
    if self.dtype.kind not in "biu":
        raise TypeError(f"{op}: needs a boolean or integer tensor, got dtype {self.dtype}")
    return self._in_place(op, (), lambda a: write(a, _raw(other)), None)

def zero_(self):
    """Set every element to 0."""
    return self.fill_(0)

def fill_(self, value):
    """Set every element to `value` (a number, or a 0-d tensor)."""
    if isinstance(value, Tensor) and value.ndim != 0:
        raise RuntimeError(f"fill_: only a 0-dimensional value tensor can fill a tensor, got "
                           f"one of shape {value.shape}")

    def write(array):
        array[...] = _raw(value)
    return self._in_place("fill_", (value,), write, lambda old: ops.inplace.Copy()(old, value))

def copy_(self, src):
    """Copy src's values in (broadcast to this shape, converted to this
    dtype and device); the gradient flows to src, none to the old values."""
    if not isinstance(src, Tensor):
        src = Tensor(src)
    if src.device != self.device:
        src = src.to(self.device)

    def write(array):
        array[...] = src._data
    return self._in_place("copy_", (src,), write, lambda old: ops.inplace.Copy()(old, src))

def clamp_(self, min=None, max=None):
    """Limit every element to [min, max] in place."""
    def write(array):
        backend.get_array_module(array).clip(array, _raw(min), _raw(max), out=array)
    return self._in_place("clamp_", (min, max), write, lambda old: ops.clamp(old, min, max))

clip_ = clamp_

def masked_fill_(self, mask, value):
    """Set the elements where the boolean `mask` is true to `value`."""
    def write(array):
        mask_array = _raw(mask)
        if mask_array.dtype.kind != "b":
            raise TypeError(f"mask must be boolean, got dtype {mask_array.dtype}")
        backend.get_array_module(array).copyto(array, _raw(value), where=mask_array)
    return self._in_place("masked_fill_", (value,), write,
                          lambda old: ops.masked_fill(old, mask, value))

def index_put_(self, indices, values, accumulate=False):
    """self[indices] = values (accumulate=True: +=, repeated positions adding up)."""
    index = ops.indexing.normalize_index(indices, self)

    def write(array):
        value = values._data if isinstance(values, Tensor) else values
        if accumulate:
            backend.scatter_add(array, index, value)
        else:
            array[index] = value
    return self._in_place("index_put_", (values,), write,
                          lambda old: ops.index_put(old, indices, values, accumulate))

def __setitem__(self, index, value):
    """x[index] = value: index_put_; recorded in the graph where torch records it."""
    try:
        self.index_put_(index, value)
    except IndexError as error:
        raise IndexError(f"index_put_ (x[index] = value): {error}") from None

def addcmul_(self, tensor1, tensor2, *, value=1):
    """self += value * tensor1 * tensor2."""
    def write(array):
        product = _raw(tensor1) * _raw(tensor2)
        if value != 1:
            product *= array.dtype.type(value)
        array += product
    return self._in_place("addcmul_", (tensor1, tensor2), write,
                          lambda old: old + value * tensor1 * tensor2)

def addcdiv_(self, tensor1, tensor2, *, value=1):
    """self += value * tensor1 / tensor2."""
    def write(array):
        quotient = _raw(tensor1) / _raw(tensor2)
        if value != 1:
            quotient *= array.dtype.type(value)
        array += quotient
    return self._in_place("addcdiv_", (tensor1, tensor2), write,
                          lambda old: old + value * tensor1 / tensor2)

def index_add_(self, dim, index, source, *, alpha=1):
    """self[..., index[i], ...] += alpha * source[..., i, ...] along `dim`, as torch.

    `index` holds integers (repeated ones accumulate); `source` has this
    tensor's shape except along dim, where it has len(index) entries. With
    dim 0 this is the sparse SGD step of an embedding: only the touched
    rows are written.
    """
    dim = normalize_dim(dim, self.shape, "index_add_")
    xp = backend.xp_for(self.device)
    index_array = index._data if isinstance(index, Tensor) else xp.asarray(index)
    source_array = source._data if isinstance(source, Tensor) else xp.asarray(source)
    if index_array.ndim != 1 or index_array.dtype.kind not in "iu":
        raise TypeError(f"index_add_: index must be a 1-D integer tensor, got shape "
                        f"{tuple(index_array.shape)} and dtype {index_array.dtype}")
    expected = self.shape[:dim] + (index_array.shape[0],) + self.shape[dim + 1:]
    if self.ndim == 0 or tuple(source_array.shape) != expected:
        raise ValueError(f"index_add_: source of shape {tuple(source_array.shape)} does not fit "
                         f"index of length {index_array.shape[0]} into a tensor of shape "
                         f"{self.shape} along dim {dim} (expected {expected})")
    if backend.device_of(index_array) != self.device or backend.device_of(source_array) != self.device:
        raise RuntimeError(f"index_add_: index and source must be on {self.device}, like the tensor")
    if source_array.dtype != self.dtype:
        raise TypeError(f"index_add_: source has dtype {source_array.dtype} but the tensor has "
                        f"{self.dtype}; convert it first (no silent casts)")
    length = self.shape[dim]
    if index_array.size:
        low, high = int(index_array.min()), int(index_array.max())
        if low < -length or high >= length:
            raise IndexError(f"index_add_: index values must be in [-{length}, {length}) for "
                             f"dim {dim} of shape {self.shape}, got values from {low} to {high}")
        if low < 0:
            index_array = index_array % length
    scaled = source if alpha == 1 else source * alpha

    def write(array):
        if index_array.size:
            backend.scatter_add(xp.moveaxis(array, dim, 0), index_array,
                                xp.moveaxis(_raw(scaled) if isinstance(scaled, Tensor)
                                            else xp.asarray(scaled), dim, 0))
    position = (slice(None),) * dim + (Tensor._wrap(index_array),)
    return self._in_place("index_add_", (source,), write,
                          lambda old: ops.index_put(old, position, scaled, accumulate=True))


TENSOR_METHODS = ('_in_place', '_in_place_on_view', '_check_result', '_check_in_place', '_writable', '_stand_in', 'add_', 'sub_', 'mul_', 'div_', 'pow_', '__iadd__', '__isub__', '__imul__', '__itruediv__', '__ipow__', '__ifloordiv__', '__imod__', '__iand__', '__ior__', '__ixor__', '_bitwise_in_place', 'zero_', 'fill_', 'copy_', 'clamp_', 'masked_fill_', 'index_put_', '__setitem__', 'addcmul_', 'addcdiv_', 'index_add_', 'clip_')
