"""Matrix multiplication, with NumPy's rules for 1-D and batched operands."""
from .. import backend
from ..autograd import Function
from . import register
from .shape import swapaxes, unsqueeze, squeeze

__all__ = ["matmul"]


class MatMul(Function):
    """Matrix product, batch axes broadcast (the engine sums them back in backward).

    forward:  y = a @ b              a (..., n, k), b (..., k, m) -> y (..., n, m)
    backward: da = gy @ b^T,  db = a^T @ gy
    """

    def forward(self, a, b):
        return backend.get_array_module(a).matmul(a, b)

    def backward(self, gy):
        a, b = self.inputs
        return matmul(gy, swapaxes(b, -1, -2)), matmul(swapaxes(a, -1, -2), gy)


@register
def matmul(a, b):
    """a @ b. 1-D operands are treated as a row (left) or a column (right)
    vector, and that axis is removed from the result, as in NumPy."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes "
                         f"{a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not fit: "
                         f"{a.shape[-1]} columns against {b.shape[-2 if b.ndim > 1 else 0]} rows")
    if a.ndim == 1:
        return squeeze(matmul(unsqueeze(a, 0), b), -2 if b.ndim > 1 else -1)
    if b.ndim == 1:
        return squeeze(matmul(a, unsqueeze(b, -1)), -1)
    return MatMul()(a, b)
