"""Dimensions, the way PyTorch names and checks them.

Every operation that works along a dimension takes `dim` (one int, or a tuple
of ints where torch allows several) and, for reductions, `keepdim`. NumPy's
spellings `axis` and `keepdims` are accepted as aliases (torch accepts them
too); giving both spellings of one argument is a TypeError.

A dim may count from the end (-1 is the last). One that does not exist raises
an IndexError naming the operation, the dim and the shape, as torch does, where
NumPy-style code would wrap it around silently.

This module imports nothing of tinytensor, so tensor.py can use it for the
methods as well as ops/ for the functions.
"""
import functools
import operator

ALIASES = {"axis": "dim", "keepdims": "keepdim"}


def dim_aliases(func):
    """Let `func` (a function or method with `dim`/`keepdim` parameters) also
    be called with `axis=`/`keepdims=`."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        for alias, name in ALIASES.items():
            if alias in kwargs:
                if name in kwargs:
                    raise TypeError(f"{func.__name__}(): got both {name}= and {alias}= "
                                    f"({alias} is NumPy's name for {name}); pass one of them")
                kwargs[name] = kwargs.pop(alias)
        return func(*args, **kwargs)
    return wrapper


def normalize_dim(dim, shape, op, ndim=None):
    """`dim` as an index in [0, ndim) of a tensor of `shape`.

    ndim defaults to len(shape); unsqueeze passes len(shape) + 1 (it may insert
    after the last dim). As in torch, a 0-d tensor accepts dim 0 and -1.
    """
    ndim = len(shape) if ndim is None else ndim
    try:
        dim = operator.index(dim)
    except TypeError:
        raise TypeError(f"{op}(): dim must be an int, got {type(dim).__name__} {dim!r}") from None
    size = max(ndim, 1)
    if not -size <= dim < size:
        raise IndexError(
            f"{op}(): Dimension out of range (expected to be in range of [{-size}, {size - 1}], "
            f"but got {dim}): dim {dim} does not exist in a tensor of shape {tuple(shape)}")
    return dim % size


def normalize_dims(dims, shape, op):
    """None, one dim or a tuple of dims, as a sorted tuple of indices in [0, ndim).

    None and the empty tuple both mean every dim, as in torch. A dim named
    twice is an error. On a 0-d tensor the result is () (nothing to reduce).
    """
    ndim = len(shape)
    if dims is None:
        return tuple(range(ndim))
    if isinstance(dims, (tuple, list)):
        if len(dims) == 0:
            return tuple(range(ndim))
        normalized = [normalize_dim(d, shape, op) for d in dims]
        for d in set(normalized):
            if normalized.count(d) > 1:
                raise RuntimeError(f"{op}(): dim {d} appears more than once in dims {tuple(dims)}")
    else:
        normalized = [normalize_dim(dims, shape, op)]
    if ndim == 0:
        return ()
    return tuple(sorted(normalized))
