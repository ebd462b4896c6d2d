"""Indexing: x[index], and gather / scatter / scatter_add / index_select along a
dim. (The embedding lookup is tinytensor.nn.functional.embedding, in nn.py:
torch's `take` means something else, flat indexing.)

Backward scatters the gradient back to the positions that were read. An
integer array may read the same position twice; those gradients must add up,
so such indices scatter with `scatter_add` rather than plain assignment.

Index tensors hold integers (int64, as torch makes them; int32 works too). A
float index is an error naming the operation, never rounded.
"""
from .. import backend
from ..autograd import Function
from ..dims import normalize_dim
from ..tensor import Tensor
from . import register

__all__ = ["getitem", "gather", "scatter", "scatter_add", "index_select", "nonzero"]

INT64_MAX = 2 ** 63 - 1


def normalize_index(index, x):
    """Tensors and lists inside an index become backend arrays; a float array
    is an IndexError, as in torch, and so is an unsigned value too large for
    int64 (NumPy would wrap 2**64 - 1 around to -1: the last element)."""
    xp = backend.xp_for(x.device)

    def convert(item):
        if isinstance(item, Tensor):
            item = item.data
        elif isinstance(item, list):
            item = xp.asarray(item)
        if hasattr(item, "dtype") and not isinstance(item, slice):
            if item.dtype.kind not in "iub":
                raise IndexError(f"index: tensors used as indices must be integer or boolean "
                                 f"(int64 as torch makes them), got dtype {item.dtype}")
            if item.dtype.kind == "u" and item.size and int(item.max()) > INT64_MAX:
                raise IndexError(f"index: index {int(item.max())} is out of bounds for a tensor "
                                 f"of shape {x.shape}")
        return item
    return tuple(convert(i) for i in index) if isinstance(index, tuple) else convert(index)


def has_integer_array(index):
    """True when the index can read a position more than once."""
    items = index if isinstance(index, tuple) else (index,)
    return any(hasattr(i, "dtype") and i.dtype.kind in "iu" for i in items)


# ----------------------------------------------------------------------------
# x[index]
# ----------------------------------------------------------------------------
class GetItem(Function):
    """Read x at an index: ints, slices, None, Ellipsis, integer arrays, boolean masks.

    forward:  y = x[index]                    (the shape the index gives)
    backward: dx = zeros of x's shape, with gy added at index (GetItemGrad)
    """
    saves_inputs = False  # backward reads only shapes (in-place changes of the input are fine)

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        return x[self.index]

    def backward(self, gy):
        x = self.inputs[0]
        return GetItemGrad(self.index, x.shape)(gy)


@register
def getitem(x, index):
    """x[index] with ints, slices, None, Ellipsis, integer arrays or boolean masks."""
    index = normalize_index(index, x)
    try:
        return GetItem(index)(x)
    except IndexError as error:
        raise IndexError(f"getitem: index {index!r} does not fit shape {x.shape}: {error}") from None


class GetItemGrad(Function):
    """The backward of x[index], a Function of its own so it can be differentiated again.

    forward:  y = zeros(shape);  y[index] += g      (repeated positions add up)
    backward: dg = gy[index]
    """
    saves_inputs = False  # backward reads only shapes (in-place changes of the input are fine)

    def __init__(self, index, shape):
        self.index, self.shape = index, shape

    def forward(self, gy):
        gx = backend.get_array_module(gy).zeros(self.shape, dtype=gy.dtype)
        if has_integer_array(self.index):
            backend.scatter_add(gx, self.index, gy)
        else:
            gx[self.index] = gy
        return gx

    def backward(self, ggx):
        return getitem(ggx, self.index)


# ----------------------------------------------------------------------------
# Along a dim: gather, scatter, scatter_add, index_select
# ----------------------------------------------------------------------------
def index_array(index, op, device):
    """An index (tensor, array or list) as an integer backend array on `device`."""
    array = index.data if isinstance(index, Tensor) else backend.xp_for(device).asarray(index)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{op}(): index must be an integer tensor (int64, as in torch), "
                        f"got dtype {array.dtype}")
    if backend.device_of(array) != device:
        raise RuntimeError(f"{op}(): index is on {backend.device_of(array)}, the tensor on {device}")
    return array


def check_bounds(index, size, dim, op):
    """Every index value in [0, size): torch allows no negative values here."""
    if index.size and (int(index.min()) < 0 or int(index.max()) >= size):
        bad = int(index.min()) if int(index.min()) < 0 else int(index.max())
        raise IndexError(f"{op}(): index {bad} is out of bounds for dim {dim} with size {size}")


def positions_along(index, dim):
    """The fancy index that reads, at each position p of `index`, the element
    whose coordinates are p's except along `dim`, where it is index[p].

    For a 2-D index and dim=1 that is (rows, index) with rows[i, j] = i: the
    coordinates the other dims keep are open grids that broadcast to index's shape.
    """
    xp = backend.get_array_module(index)
    ndim = index.ndim
    grids = [xp.arange(n).reshape((1,) * i + (n,) + (1,) * (ndim - i - 1))
             for i, n in enumerate(index.shape)]
    grids[dim] = index
    return tuple(grids)


def check_along_args(x, dim, index, op, other=None):
    """The dim as an int in [0, ndim) and the index as an array, checked as torch
    checks them: same number of dims as x, no larger than x outside `dim`
    (nor than `other`, scatter's src, anywhere), values in range."""
    dim = normalize_dim(dim, x.shape, op)
    index = index_array(index, op, x.device)
    if index.ndim != x.ndim and not (x.ndim == 0 and index.ndim <= 1):
        raise RuntimeError(f"{op}(): index must have as many dims as the tensor ({x.ndim}, shape "
                           f"{x.shape}), got shape {tuple(index.shape)}")
    index = index.reshape(x.shape) if x.ndim == 0 else index
    for d, n in enumerate(index.shape):
        if d != dim and n > x.shape[d]:
            raise RuntimeError(f"{op}(): index of shape {tuple(index.shape)} is larger than the "
                               f"tensor of shape {x.shape} in dim {d}")
        if other is not None and n > other.shape[d]:
            raise RuntimeError(f"{op}(): index of shape {tuple(index.shape)} is larger than src "
                               f"of shape {other.shape} in dim {d}")
    check_bounds(index, x.shape[dim] if x.ndim else 1, dim, op)
    return dim, index


class Gather(Function):
    """Read x along a dim at the positions in index (for dim=1 of a 2-D x:
    y[i, j] = x[i, index[i, j]]).

    forward:  y[p] = x[p with its dim coordinate replaced by index[p]]   (index's shape)
    backward: dx = zeros(x.shape).scatter_add(dim, index, gy)    (repeated positions add up)
    """
    saves_inputs = False  # backward reads only shapes (in-place changes of the input are fine)

    def __init__(self, dim, index):
        self.dim, self.index = dim, index

    def forward(self, x):
        if x.ndim == 0:
            return x.copy()
        return x[positions_along(self.index, self.dim)]

    def backward(self, gy):
        x = self.inputs[0]
        zeros = Tensor(backend.xp_for(x.device).zeros(x.shape, dtype=gy.dtype))
        return scatter_add(zeros, self.dim, self.index, gy)


@register
def gather(x, dim, index):
    """Values of x along `dim` at `index`, as torch.gather: the result has
    index's shape, and for dim=1 of a 2-D x, out[i, j] = x[i, index[i, j]]."""
    dim, index = check_along_args(x, dim, index, "gather")
    return Gather(dim, index)(x)


class ScatterAdd(Function):
    """x with src added along a dim at the positions in index (for dim=1 of a
    2-D x: y[i, index[i, j]] += src[i, j]; repeated positions add up).

    forward:  y = x;  y[p with its dim coordinate replaced by index[p]] += src[p]
    backward: dx = gy,  dsrc = gy.gather(dim, index)
    """
    saves_inputs = False  # backward reads only shapes (in-place changes of the input are fine)

    def __init__(self, dim, index):
        self.dim, self.index = dim, index

    def forward(self, x, src):
        out = x.copy()
        if x.ndim == 0:
            out += src.sum()
        else:
            backend.scatter_add(out, positions_along(self.index, self.dim), src)
        return out

    def backward(self, gy):
        return gy, gather(gy, self.dim, self.index)


class Scatter(Function):
    """x with src written along a dim at the positions in index (for dim=1 of
    a 2-D x: y[i, index[i, j]] = src[i, j]).

    forward:  y = x;  y[p with its dim coordinate replaced by index[p]] = src[p]
    backward: dx = gy where nothing was written, else 0,  dsrc = gy.gather(dim, index)

    When index repeats a position, one of the values lands there (which one is
    not specified, as in torch); src's gradient still reads every position.
    """
    saves_inputs = False  # backward reads only shapes (in-place changes of the input are fine)

    def __init__(self, dim, index):
        self.dim, self.index = dim, index

    def forward(self, x, src):
        out = x.copy()
        if x.ndim == 0:
            out[...] = src.reshape(())
        else:
            out[positions_along(self.index, self.dim)] = src
        return out

    def backward(self, gy):
        x = self.inputs[0]
        xp = backend.xp_for(x.device)
        kept = xp.ones(x.shape, dtype=gy.dtype)
        if x.ndim == 0:
            kept[...] = 0
        else:
            kept[positions_along(self.index, self.dim)] = 0
        return gy * Tensor(kept), gather(gy, self.dim, self.index)


def scatter_source(x, src, index, op):
    """src as a tensor of index's shape: a number fills it; a larger tensor is
    cut to index's shape, as torch uses only that corner of it."""
    if not isinstance(src, Tensor):
        return Tensor(backend.xp_for(x.device).full(index.shape, src, dtype=x.dtype))
    if src.dtype != x.dtype:
        raise RuntimeError(f"{op}(): src has dtype {src.dtype} but the tensor has {x.dtype}; "
                           "convert one of them first (no silent casts)")
    if src.ndim != index.ndim:
        raise RuntimeError(f"{op}(): src must have as many dims as index ({index.ndim}), got "
                           f"shape {src.shape}")
    if src.shape != tuple(index.shape):
        src = getitem(src, tuple(slice(0, n) for n in index.shape))
    return src


@register
def scatter(x, dim, index, src=None, *, value=None):
    """A copy of x with src (a tensor, or a number `value`) written along `dim`
    at `index`, as torch.scatter (out of place): for dim=1 of a 2-D x,
    out[i, index[i, j]] = src[i, j]. Differentiable in x and src."""
    if (src is None) == (value is None):
        raise TypeError("scatter(): pass src (a tensor or a number) or value=, one of them")
    src = value if src is None else src
    dim, index = check_along_args(x, dim, index, "scatter",
                                  src if isinstance(src, Tensor) else None)
    return Scatter(dim, index)(x, scatter_source(x, src, index, "scatter"))


@register
def scatter_add(x, dim, index, src):
    """A copy of x with src added along `dim` at `index`, as torch.scatter_add
    (out of place): for dim=1 of a 2-D x, out[i, index[i, j]] += src[i, j],
    repeated positions adding up. Differentiable in x and src."""
    dim, index = check_along_args(x, dim, index, "scatter_add",
                                  src if isinstance(src, Tensor) else None)
    return ScatterAdd(dim, index)(x, scatter_source(x, src, index, "scatter_add"))


@register
def index_select(x, dim, index):
    """The slices of x along `dim` picked by a 1-D integer index (repeats
    allowed), as torch.index_select: x.index_select(0, i) is x[i]."""
    dim = normalize_dim(dim, x.shape, "index_select")
    index = index_array(index, "index_select", x.device)
    if index.ndim > 1:
        raise IndexError(f"index_select(): index must be a vector (1-D), got shape "
                         f"{tuple(index.shape)}")
    index = index.reshape(-1)
    if x.ndim == 0:
        check_bounds(index, 1, dim, "index_select")
        return getitem(x.reshape(1), index)
    check_bounds(index, x.shape[dim], dim, "index_select")
    return getitem(x, (slice(None),) * dim + (index,))


def nonzero(x, *, as_tuple=False):
    """The positions of the nonzero (True) elements, as torch.nonzero: an int64
    tensor of shape (count, ndim), one row per element; with as_tuple=True, one
    1-D int64 tensor per dim (what x[...] accepts, and what where(condition)
    returns). No gradient: these are positions."""
    xp = backend.xp_for(x.device)
    if x.ndim == 0:  # as torch: (1, 0) or (0, 0) positions; as a tuple, one of length 1 or 0
        count = int(bool(x.data))
        return (Tensor(xp.zeros(count, dtype="int64")),) if as_tuple else Tensor(
            xp.zeros((count, 0), dtype="int64"))
    positions = [p.astype("int64", copy=False) for p in xp.nonzero(x.data)]
    if as_tuple:
        return tuple(Tensor(p) for p in positions)
    return Tensor(xp.stack(positions, axis=1))
