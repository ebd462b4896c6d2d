"""Linear algebra: matrix products (matmul, with NumPy's and torch's rules for
1-D and batched operands; mm for matrices only; bmm for batches of them),
einsum, and norms."""
import math

import numpy as np

from .. import backend
from ..autograd import Function
from ..dims import dim_aliases, normalize_dims
from ..tensor import Tensor
from . import register
from .comparison import where
from .elementwise import abs, constant, pow
from .reduction import amax, amin, sum
from .shape import swapaxes, unsqueeze, squeeze

__all__ = ["matmul", "mm", "bmm", "einsum", "norm"]


# ----------------------------------------------------------------------------
# Matrix products
# ----------------------------------------------------------------------------
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


@register
def mm(a, b):
    """The product of two matrices (2-D only, no broadcasting), as torch.mm."""
    for name, t in (("a", a), ("b", b)):
        if t.ndim != 2:
            raise RuntimeError(f"mm(): {name} must be a matrix (2-D), got shape {t.shape}; "
                               "matmul handles vectors and batches")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(f"mm(): shapes {a.shape} and {b.shape} cannot be multiplied "
                           f"({a.shape[0]}x{a.shape[1]} and {b.shape[0]}x{b.shape[1]})")
    return MatMul()(a, b)


@register
def bmm(a, b):
    """Batched matrix product (3-D only, equal batch sizes, no broadcasting), as torch.bmm."""
    for name, t in (("a", a), ("b", b)):
        if t.ndim != 3:
            raise RuntimeError(f"bmm(): {name} must be a batch of matrices (3-D), got shape "
                               f"{t.shape}; matmul broadcasts batches")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise RuntimeError(f"bmm(): shapes {a.shape} and {b.shape} do not fit: expected "
                           f"(B, n, k) and (B, k, m)")
    return MatMul()(a, b)


# ----------------------------------------------------------------------------
# einsum
# ----------------------------------------------------------------------------
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def parse_einsum(equation, shapes):
    """The equation as explicit subscripts: one string of letters per operand
    and one for the output ("..." replaced by letters of its own; without
    "->" the output is the letters used once, in alphabetical order, after
    the "..." dims, as torch and NumPy do)."""
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum(): the equation {equation!r} has {len(terms)} operands, "
                         f"got {len(shapes)} tensors")
    unused = [c for c in LETTERS if c not in equation]
    ellipsis_ndim = 0
    for term, shape in zip(terms, shapes):
        letters = term.replace("...", "")
        if any(c not in LETTERS for c in letters):
            raise ValueError(f"einsum(): subscripts must be letters, got {term!r}")
        if "..." in term:
            ellipsis_ndim = max(ellipsis_ndim, len(shape) - len(letters))
        elif len(letters) != len(shape):
            raise ValueError(f"einsum(): subscripts {term!r} name {len(letters)} dims, but the "
                             f"operand has shape {tuple(shape)}")
    ellipsis = "".join(unused[:ellipsis_ndim])
    explicit = []
    for term, shape in zip(terms, shapes):
        if "..." in term:   # right-aligned: an operand with fewer "..." dims broadcasts
            own = len(shape) - len(term.replace("...", ""))
            term = term.replace("...", ellipsis[ellipsis_ndim - own:])
        explicit.append(term)
    if arrow:
        output = output.replace("...", ellipsis)
    else:
        once = sorted(c for c in set("".join(explicit)) if c not in ellipsis
                      and "".join(explicit).count(c) == 1)
        output = ellipsis + "".join(sorted(once, key=LETTERS.index))
    return explicit, output


class Einsum(Function):
    """A sum of products named by subscripts (numpy.einsum's language).

    forward:  y = einsum("s1,s2,...->out", x1, x2, ...)
    backward: dxi = einsum("out,s1,...(without si)...->si", gy, the other xs),
              with a ones vector for a letter only xi has (the gradient is the
              same all along it) and an identity matrix for a letter xi repeats
              (a diagonal: only the diagonal gets gradient)
    """

    def __init__(self, subscripts, output):
        self.subscripts, self.output_subscripts = subscripts, output

    def forward(self, *xs):
        equation = ",".join(self.subscripts) + "->" + self.output_subscripts
        return backend.get_array_module(xs[0]).einsum(equation, *xs)

    def backward(self, gy):
        return tuple(self.input_grad(i, gy) if x.requires_grad else None
                     for i, x in enumerate(self.inputs))

    def input_grad(self, i, gy):
        xs, subs = self.inputs, self.subscripts
        xp = backend.xp_for(gy.device)
        sizes = {c: n for x, s in zip(xs, subs) for c, n in zip(s, x.shape) if n != 1}
        for x, s in zip(xs, subs):
            for c, n in zip(s, x.shape):
                sizes.setdefault(c, n)
        terms = [self.output_subscripts] + [s for j, s in enumerate(subs) if j != i]
        operands = [gy] + [x for j, x in enumerate(xs) if j != i]
        target, used = "", set("".join(terms))
        free = [c for c in LETTERS if c not in "".join(subs) + self.output_subscripts]
        for c in subs[i]:
            if c in target:               # a repeated letter: a diagonal of xi
                fresh = free.pop(0)
                terms.append(c + fresh)
                operands.append(Tensor(xp.eye(sizes[c], dtype=gy.dtype)))
                target += fresh
                continue
            if c not in used:             # only xi has it: the gradient is constant along it
                terms.append(c)
                operands.append(Tensor(xp.ones(sizes[c], dtype=gy.dtype)))
                used.add(c)
            target += c
        return Einsum(terms, target)(*operands)


@register
def einsum(equation, *operands):
    """Sums of products named by letters, as torch.einsum: "ij,jk->ik" is a
    matrix product, "ii->" a trace, "bij->bji" a transpose. The operands may
    also come as one list. Differentiable (its backward is einsums again)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum(): needs at least one operand")
    subscripts, output = parse_einsum(equation, [t.shape for t in operands])
    for c in set(output):
        if output.count(c) > 1 or c not in "".join(subscripts):
            raise ValueError(f"einsum(): output subscript {c!r} of {equation!r} must appear once, "
                             "and in an operand")
    try:
        return Einsum(subscripts, output)(*operands)
    except ValueError as error:  # a letter with two different sizes
        raise ValueError(f"einsum(): {equation!r} does not fit the shapes "
                         f"{[t.shape for t in operands]}: {error}") from None


# ----------------------------------------------------------------------------
# Norms
# ----------------------------------------------------------------------------
class VectorNorm(Function):
    """The p-norm over dims, for a finite p other than 0. Where a gradient
    would be 0/0 (x_i = 0, or a whole slice of 0s) it is 0, as in torch.

    forward:  y = (sum_dims |x|^p)^(1/p)      (p = 2: sqrt(sum x^2); p = 1: sum |x|)
    backward: dx = broadcast(gy) * sign(x) * (|x| / y)^(p - 1)
              (p = 2: gy * x / y;  p = 1: gy * sign(x))
    """

    def __init__(self, p, axes, keepdim):
        self.p, self.axes, self.keepdim = p, axes, keepdim

    def forward(self, x):
        if x.dtype == "float16":   # x^2 overflows float16 from 256 on: summed in float32, as torch
            with np.errstate(over="ignore"):   # a norm beyond 65504 is inf, as torch's, unwarned
                return self.forward(x.astype("float32")).astype("float16")
        xp = backend.get_array_module(x)
        reduce = dict(axis=self.axes, keepdims=self.keepdim)
        if self.p == 2:
            if len(self.axes) == x.ndim and x.ndim and x.flags.c_contiguous:
                flat = x.reshape(-1)  # the whole array: one dot product (BLAS), no x * x array
                total = xp.sqrt(xp.dot(flat, flat))
                return total.reshape((1,) * x.ndim) if self.keepdim else total
            return xp.sqrt((x * x).sum(**reduce))
        if self.p == 1:
            return xp.abs(x).sum(**reduce)
        return (xp.abs(x) ** self.p).sum(**reduce) ** (1.0 / self.p)

    def backward(self, gy):
        x, p = self.inputs[0], self.p
        kept = tuple(1 if i in self.axes else n for i, n in enumerate(x.shape))
        g = gy.reshape(kept)
        sign = constant(backend.get_array_module(x.data).sign(x.data))
        if p == 1:
            return g * sign
        y = self.output().reshape(kept)
        y = where(constant(y.data == 0), 1.0, y)   # y = 0 only where the whole slice is 0
        if p == 2:
            return g * x / y
        nonzero = constant(x.data != 0)
        ratio = where(nonzero, abs(x), 1.0) / y
        return g * where(nonzero, sign * pow(ratio, p - 1), 0.0)


@register
@dim_aliases
def norm(x, p="fro", dim=None, keepdim=False):
    """The p-norm of x over `dim` (an int, a tuple, None for all elements),
    as torch.norm for vectors: p=2 (also "fro", the default) sqrt(sum x^2);
    p=1 sum |x|; p=inf max |x|; p=-inf min |x|; p=0 the count of nonzeros;
    another number p: (sum |x|^p)^(1/p)."""
    if x.dtype.kind != "f":
        raise RuntimeError(f"norm(): needs a floating-point tensor, got dtype {x.dtype}")
    if isinstance(p, str) and p != "fro":
        raise ValueError(f"norm(): p={p!r} is not supported (numbers, inf and 'fro' are)")
    p = 2 if p == "fro" else p
    axes = normalize_dims(dim, x.shape, "norm")
    if p == math.inf:
        return amax(abs(x), axes, keepdim)
    if p == -math.inf:
        return amin(abs(x), axes, keepdim)
    if p == 0:  # a count: its gradient is 0 everywhere (0 * x is 0 where x is 0)
        return sum(where(constant(x.data != 0), 1.0, 0.0 * x), axes, keepdim)
    return VectorNorm(p, axes, keepdim)(x)
