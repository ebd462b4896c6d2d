"""Fused optimizer updates: in place, outside any graph, with torch.optim's formulas.

An optimizer changes every parameter every step, so each update is one function
here instead of a chain of in-place operations in the optimizer: the chain's
temporaries are whole-parameter arrays, while walking the parameter a block at a
time keeps them in the CPU's cache. The plain chain is written beside each fast
path and runs wherever the fast path does not apply (CuPy arrays,
non-contiguous tensors); the tests check that both give the same numbers: bit
for bit, or for Adam, whose walk rounds some lines once (see _adam_in_blocks),
to the last bits.
"""
import bisect
import math

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..tensor import Tensor
from .linalg import VectorNorm, norm

__all__ = ["adam_step_", "foreach_mul_", "foreach_norm"]

# Elements in a block: a block of p, g, m, v and one scratch row (2.5 MB) stays in
# the CPU's cache, and a block is long enough that the threads walking a large
# parameter rarely wait for each other's Python lock between NumPy calls.
ADAM_BLOCK = 131072


def adam_step_(params, grads, exp_avgs, exp_avg_sqs, *, lr, betas, eps, steps):
    """One Adam step on each parameter of a list, in place on it and on its
    exp_avg (m) and exp_avg_sq (v):

        m = beta1 m + (1 - beta1) g
        v = beta2 v + (1 - beta2) g^2
        p = p - lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps)

    steps: each parameter's t, counted from 1 (the bias corrections 1 - beta^t
    undo m and v starting at zero). The last line is taken in the order Kingma
    and Ba give for speed (Adam, 2015, end of section 2), with both bias
    corrections folded into two scalars, so that it is one division and one
    axpby over the parameter:

        p = p - lr_t * m / (sqrt(v) + eps_t),
        lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t),  eps_t = eps sqrt(1 - beta2^t)

    (multiply the numerator and the denominator of the first form by
    sqrt(1 - beta2^t)). The gradients are read only; weight decay is the
    optimizer's business. The parameters are taken together, as torch's
    fused Adam does, so that the threads share the work of the whole model
    rather than of one parameter at a time (most parameters are too small to
    be worth splitting)."""
    lists = (params, grads, exp_avgs, exp_avg_sqs, steps)
    if len({len(x) for x in lists}) != 1:
        raise ValueError("adam_step_: params, grads, exp_avgs, exp_avg_sqs and steps must be "
                         f"lists of one length, got lengths {[len(x) for x in lists]}")
    beta1, beta2 = betas
    walked, changed = [], []
    for p, g, m, v, step in zip(*lists):
        bias1, bias2 = 1 - beta1 ** step, 1 - beta2 ** step
        lr_t, eps_t = lr * math.sqrt(bias2) / bias1, eps * math.sqrt(bias2)
        arrays = _walkable(p, g, m, v)
        if arrays is not None:
            walked.append((arrays, _block_constants(arrays[0].dtype.type, beta1, beta2, lr_t, eps_t)))
            changed += (p, m, v)
            continue
        with no_grad():   # the plain lines, which _adam_in_blocks walks block by block
            m.mul_(beta1).add_(g, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            p.addcdiv_(m, v.sqrt().add_(eps_t), value=-lr_t)
    _adam_in_blocks(walked)
    for t in changed:
        t._versions[0] += 1  # changed in place, as the plain lines count it


def _walkable(p, g, m, v):
    """The flat arrays (p, g, m, v) that _adam_in_blocks can walk: NumPy arrays of
    one dtype, p, m and v contiguous and writable; None otherwise (CuPy arrays,
    a transposed parameter), for the plain lines."""
    arrays = (p._data, g._data, m._data, v._data)
    if not all(type(a) is np.ndarray and a.dtype == arrays[0].dtype for a in arrays) or not all(
            a.flags.c_contiguous and a.flags.writeable for a in (arrays[0], arrays[2], arrays[3])):
        return None
    return tuple(a.reshape(-1) for a in arrays)


def _block_constants(kind, beta1, beta2, lr_t, eps_t):
    """The plain lines' scalars, in the parameter's dtype."""
    return kind(beta1), kind(beta2), kind(1 - beta1), kind(1 - beta2), kind(eps_t), kind(-lr_t)


def _adam_in_blocks(walked):
    """adam_step_'s plain lines, walked a block at a time: each block of p, g, m
    and v is read from memory once and its temporaries stay in the cache,
    instead of every line passing over the whole parameter. The lines of the
    form y = a x + b y are one BLAS call each (backend.axpby_), which may round
    once where the plain lines round twice or three times: the two agree to
    the last bits, not bit for bit. (Thirteen NumPy calls a block became
    seven calls, and Adam.step at benchmark shape M went from 120 to 101 ms.)

    walked: ((p, g, m, v), constants) per parameter, flat arrays. Each element's
    update is independent of the others', so the parameters are laid end to end
    and that one long range is split between the threads (tt.set_num_threads):
    a thread may end in the middle of one parameter and the next begin there.
    The numbers do not depend on where the blocks and the parts begin."""
    offsets = [0]
    for arrays, _ in walked:
        offsets.append(offsets[-1] + arrays[0].size)

    def walk(start, stop):
        scratch = np.empty(min(ADAM_BLOCK, stop - start), walked[0][0][0].dtype)
        first_param = bisect.bisect_right(offsets, start) - 1
        for i in range(first_param, len(walked)):
            if offsets[i] >= stop:
                break
            (p_, g_, m_, v_), constants = walked[i]
            beta1, beta2, keep1, keep2, eps_t, minus_lr_t = constants
            if scratch.dtype != p_.dtype:
                scratch = np.empty(min(ADAM_BLOCK, stop - start), p_.dtype)
            here, end = max(start, offsets[i]) - offsets[i], min(stop, offsets[i + 1]) - offsets[i]
            for first in range(here, end, ADAM_BLOCK):
                block = slice(first, min(first + ADAM_BLOCK, end))
                pb, gb, mb, vb = p_[block], g_[block], m_[block], v_[block]
                backend.axpby_(keep1, gb, beta1, mb)           # m = beta1 m + (1 - beta1) g
                w = np.multiply(gb, gb, out=scratch[:len(pb)])
                backend.axpby_(keep2, w, beta2, vb)            # v = beta2 v + (1 - beta2) g^2
                w = np.sqrt(vb, out=w)                         # p = p - lr_t m / (sqrt(v) + eps_t)
                w += eps_t
                w = np.divide(mb, w, out=w)
                backend.axpby_(minus_lr_t, w, 1, pb)
    if offsets[-1]:
        backend.run_in_parts(offsets[-1], walk, min_part=ADAM_BLOCK)


def foreach_mul_(tensors, scalar):
    """t.mul_(scalar) for each tensor of a list, in place, as torch._foreach_mul_,
    the tensors shared between the threads. Returns the list. clip_grad_norm_
    scales with it."""
    _each_on_the_threads(tensors, lambda i: tensors[i].mul_(scalar))
    return tensors


def _each_on_the_threads(tensors, work):
    """work(i) for each tensor tensors[i] of a list, the tensors shared between the threads
    (whole: each one's work is its own NumPy calls on one thread) by their sizes.
    On CuPy arrays, one thread: the GPU runs them."""
    offsets = [0]
    for t in tensors:
        offsets.append(offsets[-1] + t.numel())
    on_cpu = all(type(t._data) is np.ndarray for t in tensors)

    def run(start, stop):     # the tensors that start in [start, stop)
        for i in range(bisect.bisect_left(offsets, start), len(tensors)):
            if offsets[i] >= stop and stop < offsets[-1]:   # (the last part takes empty ones)
                break
            work(i)
    backend.run_in_parts(offsets[-1], run, min_part=backend.MIN_ELEMENTS_PER_THREAD
                         if on_cpu else offsets[-1] + 1)


def foreach_norm(tensors, ord=2):
    """The ord-norm of each tensor of a list, over all its elements, as
    torch._foreach_norm: a list of 0-d tensors, outside any graph.
    clip_grad_norm_ takes its total norm from them.

    A finite ord other than 0 runs the norm's own forward (VectorNorm: for ord 2,
    one dot product) on the raw array, so the numbers are tt.norm's; what it
    leaves out is an operation in the graph for each tensor, which for a model's
    hundreds of small parameters cost more than the dot products. The tensors are
    shared between the threads: at benchmark shape M, 52M elements took 15.7 ms
    on one core and 8.5 ms on two. inf, -inf and 0 go through tt.norm."""
    if not (math.isfinite(ord) and ord != 0) or any(t.dtype.kind != "f" for t in tensors):
        with no_grad():     # (tt.norm names a tensor that is not floating point)
            return [norm(t, ord) for t in tensors]
    norms = [None] * len(tensors)

    def norm_of(i):         # on raw arrays: the graph and the grad mode are not touched
        t = tensors[i]
        norms[i] = Tensor(backend.get_array_module(t._data).asarray(
            VectorNorm(ord, tuple(range(t.ndim)), False).forward(t._data)))
    _each_on_the_threads(tensors, norm_of)
    return norms
