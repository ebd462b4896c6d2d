"""Shape operations: they move values around without changing them, so each
backward moves the gradient back the same way.

`sum_to` is the one place where broadcasting is undone: the backward engine
calls it whenever an input's gradient came out larger than the input.
"""
from .. import backend
from ..autograd import Function
from . import register
from .indexing import getitem

__all__ = ["reshape", "transpose", "swapaxes", "squeeze", "unsqueeze", "broadcast_to",
           "expand", "sum_to", "concatenate", "stack", "split", "chunk", "flatten"]


# ----------------------------------------------------------------------------
# Reshaping
# ----------------------------------------------------------------------------
class Reshape(Function):
    """The same values in another shape.

    forward:  y = x read in the new shape (same values, same order)
    backward: dx = gy reshaped to x's shape
    """

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, gy):
        return reshape(gy, self.inputs[0].shape)


@register
def reshape(x, shape):
    """The same values in another shape (one dimension may be -1)."""
    shape = tuple(shape) if not isinstance(shape, int) else (shape,)
    if x.shape == shape:
        return x
    try:
        return Reshape(shape)(x)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                         f"({x.size} elements) into {shape}") from None


@register
def squeeze(x, axis=None):
    """Remove axes of size 1 (all of them, or only `axis`)."""
    if axis is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    axis = axis % x.ndim
    if x.shape[axis] != 1:
        raise ValueError(f"squeeze: axis {axis} of shape {x.shape} has size {x.shape[axis]}, not 1")
    return reshape(x, x.shape[:axis] + x.shape[axis + 1:])


@register
def unsqueeze(x, axis):
    """Insert an axis of size 1 at position `axis`."""
    axis = axis % (x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


@register
def flatten(x, start_dim=0, end_dim=-1):
    """Merge the axes from start_dim to end_dim into one."""
    start, end = start_dim % x.ndim, end_dim % x.ndim
    merged = 1
    for n in x.shape[start:end + 1]:
        merged *= n
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


# ----------------------------------------------------------------------------
# Permuting axes
# ----------------------------------------------------------------------------
class Transpose(Function):
    """Permute the axes (reverse them when axes is None).

    forward:  y = x with axes permuted:  y.shape[i] = x.shape[axes[i]]
    backward: dx = gy permuted by the inverse permutation
    """

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return transpose(gy, None)
        inverse = [0] * len(self.axes)
        for position, axis in enumerate(self.axes):
            inverse[axis] = position
        return transpose(gy, tuple(inverse))


@register
def transpose(x, axes=None):
    """Permute the axes (reverse them if axes is None), like numpy.transpose
    and torch.permute."""
    if axes is not None:
        axes = tuple(a % x.ndim for a in axes)
        if sorted(axes) != list(range(x.ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of "
                             f"{x.ndim} dimensions (shape {x.shape})")
    return Transpose(axes)(x)


@register
def swapaxes(x, axis1, axis2):
    """Exchange two axes."""
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, axes)


# ----------------------------------------------------------------------------
# Broadcasting, and undoing it
# ----------------------------------------------------------------------------
class BroadcastTo(Function):
    """Repeat x along axes of size 1 and new leading axes.

    forward:  y = x broadcast to the new shape
    backward: dx = sum_to(gy, x's shape)
    """

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return backend.get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.inputs[0].shape)


@register
def broadcast_to(x, shape):
    """Repeat x along axes of size 1 (and new leading axes) to reach `shape`.
    -1 keeps a dimension, as in torch.expand."""
    shape = tuple(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to fewer dimensions {shape}")
    shape = tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
    if shape == x.shape:
        return x
    for i, n in enumerate(x.shape):
        if n != 1 and n != shape[lead + i]:
            raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    return BroadcastTo(shape)(x)


expand = broadcast_to  # torch's name


class SumTo(Function):
    """Sum a broadcast array back down to `shape`: the inverse of broadcasting.

    forward:  y = x summed over the leading axes broadcasting added, and over
                  the axes where `shape` has size 1              (-> shape)
    backward: dx = broadcast(gy) to x's shape
    """

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        lead = x.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(self.shape) if n == 1 and x.shape[lead + i] != 1)
        return x.sum(axis=axes, keepdims=True).reshape(self.shape) if axes else x.reshape(self.shape)

    def backward(self, gy):
        return broadcast_to(gy, self.inputs[0].shape)


@register
def sum_to(x, shape):
    """Sum x down to `shape`: the inverse of broadcasting, used by backward."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return SumTo(shape)(x)


# ----------------------------------------------------------------------------
# Joining and splitting
# ----------------------------------------------------------------------------
class Concatenate(Function):
    """Join tensors along an existing axis.

    forward:  y = [x1, x2, ...] along axis      (the sizes along it add up)
    backward: dxi = the slice of gy where xi went
    """

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        return backend.get_array_module(xs[0]).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        grads, start = [], 0
        for x in self.inputs:
            index = [slice(None)] * gy.ndim
            index[self.axis] = slice(start, start + x.shape[self.axis])
            grads.append(getitem(gy, tuple(index)))
            start += x.shape[self.axis]
        return tuple(grads)


@register
def concatenate(tensors, axis=0):
    """Join tensors along an existing axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    axis = axis % tensors[0].ndim
    for t in tensors[1:]:
        if t.ndim != tensors[0].ndim or any(
                a != b for i, (a, b) in enumerate(zip(t.shape, tensors[0].shape)) if i != axis):
            raise ValueError(f"concatenate: shapes {[u.shape for u in tensors]} differ "
                             f"outside axis {axis}")
    return Concatenate(axis)(*tensors)


@register
def stack(tensors, axis=0):
    """Join same-shaped tensors along a new axis."""
    tensors = list(tensors)
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors need the same shape, got {sorted(shapes)}")
    return concatenate([unsqueeze(t, axis) for t in tensors], axis=axis)


@register
def split(x, size_or_sizes, axis=0):
    """Cut x along `axis` into pieces of `size` (the last may be smaller), or
    into the given list of sizes, as torch.split."""
    length = x.shape[axis]
    if isinstance(size_or_sizes, int):
        sizes = [min(size_or_sizes, length - start) for start in range(0, length, size_or_sizes)]
    else:
        sizes = list(size_or_sizes)
        if sum(sizes) != length:
            raise ValueError(f"split: sizes {sizes} do not add up to {length} (axis {axis} "
                             f"of shape {x.shape})")
    pieces, start = [], 0
    for size in sizes:
        index = [slice(None)] * x.ndim
        index[axis] = slice(start, start + size)
        pieces.append(getitem(x, tuple(index)))
        start += size
    return pieces


@register
def chunk(x, chunks, axis=0):
    """Cut x into `chunks` nearly equal pieces along `axis`, as torch.chunk."""
    size = -(-x.shape[axis] // chunks)
    return split(x, size, axis)
