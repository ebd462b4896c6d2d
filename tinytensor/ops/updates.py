"""Fused optimizer updates: in place, outside any graph, with torch.optim's formulas.

An optimizer changes every parameter every step, so each update is one function
here instead of a chain of in-place operations in the optimizer: the chain's
temporaries are whole-parameter arrays, while walking the parameter a block at a
time keeps them in the CPU's cache. The plain chain is written beside each fast
path and runs wherever the fast path does not apply (CuPy arrays,
non-contiguous tensors); the tests check that both give the same numbers, bit
for bit.
"""
import math

import numpy as np

from .. import backend
from ..autograd import no_grad

__all__ = ["adam_step_"]

# Elements in a block: a block of p, g, m, v and one scratch row (2.5 MB) stays in
# the CPU's cache, and a block is long enough that the threads walking a large
# parameter rarely wait for each other's Python lock between NumPy calls.
ADAM_BLOCK = 131072


def adam_step_(param, grad, exp_avg, exp_avg_sq, *, lr, betas, eps, step):
    """One Adam step on one parameter, in place on param, exp_avg (m) and exp_avg_sq (v):

        m = beta1 m + (1 - beta1) g
        v = beta2 v + (1 - beta2) g^2
        p = p - lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps)

    step is t, counted from 1 (the bias corrections 1 - beta^t undo m and v
    starting at zero). grad is read only; weight decay is the optimizer's business."""
    beta1, beta2 = betas
    bias1, bias2 = 1 - beta1 ** step, 1 - beta2 ** step
    if _adam_in_blocks(param, grad, exp_avg, exp_avg_sq, beta1, beta2, lr / bias1, bias2, eps):
        return
    with no_grad():   # the plain lines, which _adam_in_blocks walks block by block
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = exp_avg_sq.sqrt().mul_(1 / math.sqrt(bias2)).add_(eps)   # sqrt(v_hat) + eps
        param.addcdiv_(exp_avg, denom, value=-lr / bias1)               # p -= lr m_hat / denom


def _adam_in_blocks(p, g, m, v, beta1, beta2, step_size, bias2, eps):
    """adam_step_'s plain lines (the same operations in the same order, so the
    same numbers), walked a block at a time: each block of p, g, m and v is read
    from memory once and its temporaries stay in the cache, instead of every
    line passing over the whole parameter. For NumPy arrays of one dtype, p, m,
    v contiguous; returns False (nothing done) otherwise."""
    arrays = (p._data, g._data, m._data, v._data)
    if not all(type(a) is np.ndarray and a.dtype == arrays[0].dtype for a in arrays) or not all(
            a.flags.c_contiguous and a.flags.writeable for a in (arrays[0], arrays[2], arrays[3])):
        return False
    p_, g_, m_, v_ = (a.reshape(-1) for a in arrays)
    kind = p_.dtype.type
    beta1, beta2, keep1, keep2 = kind(beta1), kind(beta2), kind(1 - beta1), kind(1 - beta2)
    unbias2, eps, step_size = kind(1 / math.sqrt(bias2)), kind(eps), kind(-step_size)

    def walk(start, stop):
        scratch = np.empty(min(ADAM_BLOCK, stop - start), p_.dtype)
        for first in range(start, stop, ADAM_BLOCK):
            block = slice(first, min(first + ADAM_BLOCK, stop))
            pb, gb, mb, vb = p_[block], g_[block], m_[block], v_[block]
            w = scratch[:len(pb)]
            mb *= beta1                                     # m = beta1 m + (1 - beta1) g
            mb += np.multiply(gb, keep1, out=w)
            vb *= beta2                                     # v = beta2 v + (1 - beta2) g^2
            w = np.multiply(gb, gb, out=w)
            w *= keep2
            vb += w
            w = np.sqrt(vb, out=w)                          # sqrt(v_hat) + eps
            w *= unbias2
            w += eps
            w = np.divide(mb, w, out=w)                     # p -= lr m_hat / (sqrt(v_hat) + eps)
            w *= step_size
            pb += w
    # Each element's update is independent of the others', so the parameter is
    # split between the threads (tt.set_num_threads); the numbers do not change.
    backend.run_in_parts(p_.size, walk, min_part=ADAM_BLOCK)
    for t in (p, m, v):
        t._versions[0] += 1  # changed in place, as the plain lines count it
    return True
