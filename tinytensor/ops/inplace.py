"""What in-place operations record in the graph.

A tensor changed in place while a graph is recorded becomes the output of a
Function whose input is its old value (see Tensor._in_place): `y += 1`
records an Add, `y.clamp_(0, 1)` a Clip. This file holds the two Functions
that have no out-of-place operation elsewhere:

- IndexPut: x[index] = values (torch's index_put and its CopySlices node);
- Copy: copy_ and fill_, whose new values do not depend on the old ones.
"""
from .. import backend
from ..autograd import Function
from ..tensor import Tensor
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
