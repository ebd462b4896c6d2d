"""Shape operations: they move values around without changing them, so each
backward moves the gradient back the same way.

`sum_to` is the one place where broadcasting is undone: the backward engine
calls it whenever an input's gradient came out larger than the input.
"""
import builtins
import math

from .. import backend
from ..autograd import Function
from ..dims import dim_aliases, normalize_dim, normalize_dims
from . import register
from .indexing import getitem

__all__ = ["reshape", "permute", "transpose", "swapaxes", "swapdims", "squeeze", "unsqueeze",
           "broadcast_to", "expand", "sum_to", "repeat", "flip", "cat", "concat", "concatenate",
           "stack", "split", "chunk", "unbind", "flatten"]


# ----------------------------------------------------------------------------
# Reshaping
# ----------------------------------------------------------------------------
class Reshape(Function):
    """The same values in another shape.

    forward:  y = x read in the new shape (same values, same order)
    backward: dx = gy reshaped to x's shape
    """
    saves_inputs = False  # backward reads only shapes (in-place changes of the input are fine)

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
                         f"({math.prod(x.shape)} elements) into {shape}") from None


@register
@dim_aliases
def squeeze(x, dim=None):
    """Remove dims of size 1: all of them, or those of `dim` (an int or a tuple)
    that have size 1. As in torch, a named dim whose size is not 1 is left
    alone (no error)."""
    dims = normalize_dims(dim, x.shape, "squeeze")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if not (i in dims and n == 1)))


@register
@dim_aliases
def unsqueeze(x, dim):
    """Insert a dim of size 1 at position `dim` (-1: after the last)."""
    dim = normalize_dim(dim, x.shape, "unsqueeze", ndim=x.ndim + 1)
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


@register
def flatten(x, start_dim=0, end_dim=-1):
    """Merge the dims from start_dim to end_dim into one (a 0-d tensor becomes 1-d)."""
    start = normalize_dim(start_dim, x.shape, "flatten")
    end = normalize_dim(end_dim, x.shape, "flatten")
    if start > end:
        raise RuntimeError(f"flatten(): start_dim {start_dim} comes after end_dim {end_dim} "
                           f"for a tensor of shape {x.shape}")
    if x.ndim == 0:
        return reshape(x, (1,))
    merged = 1
    for n in x.shape[start:end + 1]:
        merged *= n
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


# ----------------------------------------------------------------------------
# Permuting dims
# ----------------------------------------------------------------------------
class Permute(Function):
    """Reorder the dims.

    forward:  y = x with its dims reordered:  y.shape[i] = x.shape[dims[i]]
    backward: dx = gy permuted by the inverse order
    """
    saves_inputs = False  # backward reads only shapes (in-place changes of the input are fine)

    def __init__(self, dims):
        self.dims = dims

    def forward(self, x):
        return x.transpose(self.dims)

    def backward(self, gy):
        inverse = [0] * len(self.dims)
        for position, dim in enumerate(self.dims):
            inverse[dim] = position
        return permute(gy, tuple(inverse))


@register
def permute(x, *dims):
    """Reorder the dims, as torch.permute: y.shape[i] = x.shape[dims[i]].
    `dims` names every dim exactly once, as varargs or one tuple."""
    dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    if len(dims) != x.ndim:
        raise RuntimeError(f"permute(): dims {tuple(dims)} must name each of the {x.ndim} dims "
                           f"of a tensor of shape {x.shape} once")
    dims = tuple(normalize_dim(d, x.shape, "permute") for d in dims)
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"permute(): dims {dims} name a dim twice (shape {x.shape})")
    return Permute(dims)(x)


@register
def transpose(x, dim0, dim1):
    """Swap two dims, as torch.transpose: x.transpose(-2, -1) transposes the
    last two (for a whole new order of the dims, use permute)."""
    order = list(range(x.ndim))
    dim0, dim1 = (normalize_dim(d, x.shape, "transpose") for d in (dim0, dim1))
    if x.ndim == 0:
        return x
    order[dim0], order[dim1] = order[dim1], order[dim0]
    return Permute(tuple(order))(x)


swapaxes = swapdims = transpose  # torch's other names for it


# ----------------------------------------------------------------------------
# Broadcasting, and undoing it
# ----------------------------------------------------------------------------
class BroadcastTo(Function):
    """Repeat x along axes of size 1 and new leading axes.

    forward:  y = x broadcast to the new shape
    backward: dx = sum_to(gy, x's shape)
    """
    saves_inputs = False  # backward reads only shapes (in-place changes of the input are fine)

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
    if -1 in shape[:lead]:
        raise ValueError(f"broadcast_to: size -1 (keep the size) is not allowed for the new "
                         f"leading dims of {shape}: shape {x.shape} has none to keep")
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
    saves_inputs = False  # backward reads only shapes (in-place changes of the input are fine)

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
# Repeating and reversing
# ----------------------------------------------------------------------------
@register
def repeat(x, *sizes):
    """Tile x: repeat it sizes[i] times along dim i, as torch.Tensor.repeat
    (NumPy's tile). More sizes than dims add leading dims.

    Built from broadcasting: each dim n becomes a pair (r, n) with x repeated
    along r, then each pair merges into one dim of r * n. Its backward is
    therefore broadcasting's: sum over the copies.
    """
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    if len(sizes) < x.ndim:
        raise RuntimeError(f"repeat(): needs at least as many sizes as dims: {len(sizes)} sizes "
                           f"{sizes} for a tensor of shape {x.shape}")
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    paired = reshape(x, tuple(n for size in shape for n in (1, size)))
    tiled = broadcast_to(paired, tuple(n for r, size in zip(sizes, shape) for n in (r, size)))
    return reshape(tiled, tuple(r * size for r, size in zip(sizes, shape)))


class Flip(Function):
    """Reverse the order of the elements along some dims.

    forward:  y = x reversed along dims
    backward: dx = gy reversed along the same dims
    """
    saves_inputs = False  # backward reads only shapes (in-place changes of the input are fine)

    def __init__(self, dims):
        self.dims = dims

    def forward(self, x):
        return backend.get_array_module(x).flip(x, axis=self.dims)

    def backward(self, gy):
        return flip(gy, self.dims)


@register
def flip(x, *dims):
    """Reverse x along `dims` (varargs, or one tuple), as torch.flip."""
    dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    dims = normalize_dims(tuple(dims), x.shape, "flip") if dims else ()
    if not dims:
        return x
    return Flip(dims)(x)


# ----------------------------------------------------------------------------
# Joining and splitting
# ----------------------------------------------------------------------------
class Concatenate(Function):
    """Join tensors along an existing dim.

    forward:  y = [x1, x2, ...] along dim      (the sizes along it add up)
    backward: dxi = the slice of gy where xi went
    """
    saves_inputs = False  # backward reads only shapes (in-place changes of the input are fine)

    def __init__(self, dim):
        self.dim = dim

    def forward(self, *xs):
        return backend.get_array_module(xs[0]).concatenate(xs, axis=self.dim)

    def backward(self, gy):
        grads, start = [], 0
        for x in self.inputs:
            index = [slice(None)] * gy.ndim
            index[self.dim] = slice(start, start + x.shape[self.dim])
            grads.append(getitem(gy, tuple(index)))
            start += x.shape[self.dim]
        return tuple(grads)


@register
@dim_aliases
def cat(tensors, dim=0):
    """Join tensors along an existing dim, as torch.cat (also named concat
    and concatenate)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat(): needs at least one tensor")
    first = tensors[0]
    dim = normalize_dim(dim, first.shape, "cat")
    for t in tensors[1:]:
        if t.ndim != first.ndim or any(
                a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != dim):
            raise ValueError(f"cat(): shapes {[u.shape for u in tensors]} differ "
                             f"outside dim {dim}")
    return Concatenate(dim)(*tensors)


concat = concatenate = cat  # torch's other names for it


@register
@dim_aliases
def stack(tensors, dim=0):
    """Join same-shaped tensors along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack(): needs at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors need the same shape, got {sorted(shapes)}")
    dim = normalize_dim(dim, tensors[0].shape, "stack", ndim=tensors[0].ndim + 1)
    return cat([unsqueeze(t, dim) for t in tensors], dim=dim)


@register
@dim_aliases
def split(x, split_size_or_sections, dim=0):
    """Cut x along `dim` into pieces of `split_size` (the last may be smaller),
    or into the given list of sizes; a tuple of tensors, as torch.split."""
    dim = normalize_dim(dim, x.shape, "split")
    length = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0 and length > 0:
            raise ValueError(f"split(): split_size must be positive, got {size}")
        sizes = [min(size, length - start) for start in range(0, length, size)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != length:
            raise ValueError(f"split: sizes {sizes} do not add up to {length} (dim {dim} "
                             f"of shape {x.shape})")
    pieces, start = [], 0
    for size in sizes:
        index = [slice(None)] * x.ndim
        index[dim] = slice(start, start + size)
        pieces.append(getitem(x, tuple(index)))
        start += size
    return tuple(pieces)


@register
@dim_aliases
def unbind(x, dim=0):
    """The slices of x along `dim`, as a tuple of tensors with that dim removed."""
    dim = normalize_dim(dim, x.shape, "unbind")
    if x.ndim == 0:
        raise IndexError("unbind(): a 0-d tensor has no dim to unbind")
    return tuple(getitem(x, (slice(None),) * dim + (i,)) for i in range(x.shape[dim]))


@register
@dim_aliases
def chunk(x, chunks, dim=0):
    """Cut x into `chunks` nearly equal pieces along `dim`, as torch.chunk
    (pieces of ceil(n / chunks), so there may be fewer than `chunks`)."""
    if chunks <= 0:
        raise ValueError(f"chunk(): chunks must be positive, got {chunks}")
    dim = normalize_dim(dim, x.shape, "chunk")
    size = -(-x.shape[dim] // chunks)
    return split(x, builtins.max(size, 1), dim)
