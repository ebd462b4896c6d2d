"""dtypes with torch's names, and torch's type promotion.

A dtype is a NumPy dtype (`tt.float32 == np.float32`); float32 is the default.
Promotion follows torch, not NumPy, where they differ: an int64 tensor with a
float32 tensor gives float32 (NumPy: float64), and a Python number only
changes the dtype when it brings a higher category (`float32 tensor * 2.5`
stays float32; `int64 tensor * 2.5` is float32).
"""
import numpy as np

__all__ = ["float16", "half", "float32", "float_", "float64", "double", "uint8", "int8",
           "int16", "short", "int32", "int_", "int64", "long", "bool_", "complex64",
           "complex128", "DEFAULT_FLOAT", "get_default_dtype", "is_floating_point",
           "promote_types", "result_type", "can_cast"]

# torch's dtype names. A dtype is a NumPy dtype: tt.float32 == np.float32.
float16 = half = np.dtype("float16")
float32 = float_ = np.dtype("float32")
float64 = double = np.dtype("float64")
uint8, int8 = np.dtype("uint8"), np.dtype("int8")
int16 = short = np.dtype("int16")
int32 = int_ = np.dtype("int32")
int64 = long = np.dtype("int64")
bool_ = np.dtype("bool")
complex64, complex128 = np.dtype("complex64"), np.dtype("complex128")
DEFAULT_FLOAT = float32

# The categories of torch's promotion rules, from low to high.
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def get_default_dtype():
    """The dtype of tensors made from Python floats: float32, as in torch."""
    return DEFAULT_FLOAT


def is_floating_point(x):
    return x.dtype.kind == "f"


def promote_types(type1, type2):
    """The smallest dtype both dtypes convert to, by torch's rule: within a
    category (bool < integer < float < complex) as NumPy; across categories
    the higher one's dtype, so int64 with float32 gives float32 (NumPy: float64)."""
    type1, type2 = np.dtype(type1), np.dtype(type2)
    high, low = sorted((type1, type2), key=lambda t: _CATEGORY[t.kind], reverse=True)
    if _CATEGORY[high.kind] == _CATEGORY[low.kind] or (high.kind == "c" and low.kind == "f"):
        return np.promote_types(high, low)  # complex64 with float64 gives complex128
    return high


def result_type(*operands):
    """The dtype of an operation on tensors and Python numbers, as torch.result_type.

    Operands count in three ranks: tensors with dimensions, 0-d tensors, and
    Python numbers. A lower rank only decides the dtype when it brings a higher
    category: float32 tensor + 2.5 stays float32, int32 tensor + 3 stays int32,
    but int64 tensor + 2.5 is float32 (the default float) and bool tensor + 1 is
    int64. A Python int is an int64, a float the default float dtype.
    """
    ranks = [None, None, None]  # dimensioned tensors, 0-d tensors, Python numbers
    for x in operands:
        if hasattr(x, "dtype") and hasattr(x, "ndim"):  # a Tensor, a NumPy or CuPy array or scalar
            rank, dtype = (0 if x.ndim else 1), np.dtype(x.dtype)
        elif isinstance(x, bool):
            rank, dtype = 2, bool_
        elif isinstance(x, int):
            rank, dtype = 2, int64
        elif isinstance(x, float):
            rank, dtype = 2, DEFAULT_FLOAT
        elif isinstance(x, complex):
            rank, dtype = 2, complex64
        else:
            raise TypeError(f"result_type: expected tensors or Python numbers, got "
                            f"{type(x).__name__}")
        ranks[rank] = dtype if ranks[rank] is None else promote_types(ranks[rank], dtype)
    dimensioned, zero_dim, numbers = ranks
    return _combine(dimensioned, _combine(zero_dim, numbers))


def _combine(higher, lower):
    """torch's rule for a higher-ranked dtype meeting a lower-ranked one."""
    if higher is None or lower is None:
        return lower if higher is None else higher
    if higher.kind == "c":
        return higher
    if lower.kind == "c":  # a float keeps its size: float64 with a complex number is complex128
        return np.promote_types(higher, complex64) if higher.kind == "f" else lower
    if higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":  # the lower rank brings a higher category
        return promote_types(higher, lower)
    return higher


def can_cast(from_, to):
    """Whether an in-place operation may write a `from_` result into a `to`
    tensor: not to a lower category (float into int, int into bool), as torch.can_cast."""
    return _CATEGORY[np.dtype(from_).kind] <= _CATEGORY[np.dtype(to).kind]
