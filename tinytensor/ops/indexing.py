"""Indexing: x[index] and the embedding lookup take(weight, ids).

Backward scatters the gradient back to the positions that were read. An
integer array may read the same position twice; those gradients must add up,
so such indices scatter with `scatter_add` rather than plain assignment.
"""
from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from . import register

__all__ = ["getitem", "take"]


def normalize_index(index, device):
    """Tensors and lists inside an index become backend arrays."""
    xp = backend.xp_for(device)

    def convert(item):
        if isinstance(item, Tensor):
            return item.data
        if isinstance(item, list):
            return xp.asarray(item)
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
    index = normalize_index(index, x.device)
    try:
        return GetItem(index)(x)
    except IndexError as error:
        raise IndexError(f"getitem: index {index!r} does not fit shape {x.shape}: {error}") from None


class GetItemGrad(Function):
    """The backward of x[index], a Function of its own so it can be differentiated again.

    forward:  y = zeros(shape);  y[index] += g      (repeated positions add up)
    backward: dg = gy[index]
    """

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
# The embedding lookup
# ----------------------------------------------------------------------------
class Take(Function):
    """Rows of `weight` picked by integer `ids`: the embedding lookup.

    forward:  y = weight[ids]         weight (num_embeddings, dim) -> ids.shape + (dim,)
    backward: dweight = zeros;  dweight[ids[i]] += gy[i]   (one scatter; repeated ids add up)

    Fused: its backward scatters on raw arrays, so it is not twice differentiable.
    """
    twice_differentiable = False

    def __init__(self, ids):
        self.ids = ids

    def forward(self, weight):
        return weight[self.ids]

    def backward(self, gy):
        weight = self.inputs[0]
        xp = backend.xp_for(weight.device)
        gw = xp.zeros(weight.shape, dtype=gy.dtype)
        backend.scatter_add(gw, self.ids.reshape(-1), gy.data.reshape(-1, weight.shape[1]))
        return Tensor(gw)


@register
def take(weight, ids):
    """weight[ids] for a 2-D weight and integer ids (embedding lookup)."""
    return Take(check_take_args(weight, ids))(weight)


def check_take_args(weight, ids):
    """The ids as a backend array, after checking them against the weight."""
    ids = ids.data if isinstance(ids, Tensor) else backend.xp_for(weight.device).asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"take: ids must be integers, got dtype {ids.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"take: weight must be 2-D (num_embeddings, dim), got shape {weight.shape}")
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= weight.shape[0]):
        raise IndexError(f"take: ids must be in [0, {weight.shape[0]}), got values from "
                         f"{int(ids.min())} to {int(ids.max())}")
    return ids
