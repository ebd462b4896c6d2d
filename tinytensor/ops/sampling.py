"""Negative sampling (Word2Vec's loss) as one fused operation.

Word2Vec scores a hidden vector h (a context word's input vector for
skip-gram, the mean of a window's input vectors for CBOW) against output
vectors u: the real word, to be told apart from K noise words,

    loss = -sum  positive * log sigmoid(h . u)  +  negative * log sigmoid(-h . u)

Composed from small operations (tt.reference.negative_sampling_loss) that is
two embedding lookups, two matrix products, two log-sigmoids, products with
the weights and sums, each a Function with its own pass over memory and its
own temporary arrays, and as many again in the backward. Here it is one
Function: the lookups, the products and the log-sigmoid in the forward, and
the whole backward written out:

    S = h @ U^T,    dloss/dS = (positive + negative) * sigmoid(S) - positive

(since d/ds -log sigmoid(s) = -sigmoid(-s) = sigmoid(s) - 1), then
dh = dS @ U, dU = dS^T @ h, and the rows' gradients are summed into the
tables by id. Fused: not twice differentiable.
"""
from .. import backend
from ..autograd import Function
from ..tensor import Tensor, array_beside
from . import register

__all__ = ["negative_sampling_loss"]


class NegativeSampling(Function):
    """The negative-sampling loss of blocks of examples (see negative_sampling_loss).

    forward:  X = input_vectors[input_ids] (N, P, d),  U = output_vectors[output_ids] (N, R, d)
              H = windows @ X  (or X)        (N, Q, d)   S = H @ U^T                      (N, Q, R)
              loss = -sum((p + n) * log sigmoid(S) - n * S)     (log sigmoid(-s) = log sigmoid(s) - s)
    backward: dS = g * ((p + n) * sigmoid(S) - p)
              dH = dS @ U,  dU = dS^T @ H,  dX = grad_windows^T @ dH  (or dH)
              d input_vectors[input_ids] += dX,  d output_vectors[output_ids] += dU
    """
    twice_differentiable = False
    saves_inputs = False   # backward uses the gathered rows saved by forward, not the tables

    def __init__(self, input_ids, output_ids, positive, negative, windows, grad_windows):
        self.input_ids, self.output_ids = input_ids, output_ids
        self.positive, self.negative = positive, negative
        self.windows, self.grad_windows = windows, grad_windows

    def forward(self, input_vectors, output_vectors):
        xp = backend.get_array_module(input_vectors)
        self.shapes = input_vectors.shape, output_vectors.shape
        x = input_vectors[self.input_ids]                             # (N, P, d)
        u = output_vectors[self.output_ids]                           # (N, R, d)
        h = x if self.windows is None else xp.matmul(self.windows, x)  # (N, Q, d)
        # U^T as a contiguous array: a batched product with a transposed operand is slower
        s = xp.matmul(h, xp.ascontiguousarray(u.swapaxes(-1, -2)))   # (N, Q, R)
        half = (self.positive + self.negative) * 0.5
        # log sigmoid(s) = min(s, 0) - log(1 + exp(-|s|)), stable for any s
        log_sig = xp.abs(s)
        xp.negative(log_sig, out=log_sig)
        xp.exp(log_sig, out=log_sig)
        xp.log1p(log_sig, out=log_sig)
        xp.subtract(xp.minimum(s, 0), log_sig, out=log_sig)
        loss = xp.vdot(self.negative, s) - 2 * xp.vdot(half, log_sig)
        # dloss/dS = (p + n) sigmoid(s) - p, with sigmoid(s) = (1 + tanh(s / 2)) / 2
        ds = xp.tanh(s * 0.5)
        ds *= half
        ds += half
        ds -= self.positive
        self.saved = x, u, h, ds
        return xp.asarray(loss, dtype=s.dtype)

    def backward(self, gy):
        x, u, h, ds = self.saved
        xp = backend.get_array_module(ds)
        ds = ds * gy.data
        dh = xp.matmul(ds, u)                                         # (N, Q, d)
        du = xp.matmul(ds.swapaxes(-1, -2), h)                        # (N, R, d)
        mix = self.windows if self.grad_windows is None else self.grad_windows
        dx = dh if mix is None else xp.matmul(mix.swapaxes(-1, -2), dh)  # (N, P, d)
        grads = []
        for shape, ids, rows in zip(self.shapes, (self.input_ids, self.output_ids), (dx, du)):
            g = xp.zeros(shape, dtype=rows.dtype)
            backend.scatter_add(g, ids.reshape(-1), rows.reshape(-1, shape[1]))
            grads.append(Tensor(g))
        return tuple(grads)


def check_negative_sampling_args(input_vectors, output_vectors, input_ids, output_ids, positive,
                                 negative, windows, grad_windows):
    """The arrays of the arguments (on the vectors' device, weights in their dtype), checked."""
    op = "negative_sampling_loss"
    for name, v in (("input_vectors", input_vectors), ("output_vectors", output_vectors)):
        if not isinstance(v, Tensor) or v.ndim != 2:
            raise TypeError(f"{op}: {name} must be a 2-D Tensor (rows, d)")
    if input_vectors.shape[1] != output_vectors.shape[1]:
        raise ValueError(f"{op}: input_vectors {input_vectors.shape} and output_vectors "
                         f"{output_vectors.shape} need the same row size d")
    like = input_vectors
    ids = []
    for name, value, table in (("input_ids", input_ids, input_vectors),
                               ("output_ids", output_ids, output_vectors)):
        array = array_beside(value, like, op, name)
        if array.dtype.kind not in "iu" or array.ndim < 1:
            raise TypeError(f"{op}: {name} must hold integer ids (..., count), got dtype "
                            f"{array.dtype} and shape {tuple(array.shape)}")
        if array.size and (int(array.min()) < 0 or int(array.max()) >= table.shape[0]):
            raise IndexError(f"{op}: {name} must be in [0, {table.shape[0]}), got values from "
                             f"{int(array.min())} to {int(array.max())}")
        ids.append(array)
    xp = backend.xp_for(like.device)
    weights = [None if w is None else xp.asarray(array_beside(w, like, op, name), dtype=like.dtype)
               for name, w in (("positive", positive), ("negative", negative),
                               ("windows", windows), ("grad_windows", grad_windows))]
    positive, negative, windows, grad_windows = weights
    batch, count_in, count_out = ids[0].shape[:-1], ids[0].shape[-1], ids[1].shape[-1]
    if ids[1].shape[:-1] != batch:
        raise ValueError(f"{op}: input_ids {tuple(ids[0].shape)} and output_ids "
                         f"{tuple(ids[1].shape)} need the same leading (block) dims")
    if grad_windows is not None and windows is None:
        raise ValueError(f"{op}: grad_windows needs windows")
    for name, w in (("windows", windows), ("grad_windows", grad_windows)):
        if w is not None and (w.shape[:-2] != batch or w.shape[-1] != count_in):
            raise ValueError(f"{op}: {name} must have shape {batch + ('Q', count_in)}, got "
                             f"{tuple(w.shape)}")
    hidden = count_in if windows is None else windows.shape[-2]
    if grad_windows is not None and grad_windows.shape != windows.shape:
        raise ValueError(f"{op}: grad_windows {tuple(grad_windows.shape)} must have the shape of "
                         f"windows {tuple(windows.shape)}")
    expected = batch + (hidden, count_out)
    for name, w in (("positive", positive), ("negative", negative)):
        if w is None or tuple(w.shape) != expected:
            raise ValueError(f"{op}: {name} must have shape {expected} (blocks, hidden vectors, "
                             f"output ids), got {None if w is None else tuple(w.shape)}")
    return ids[0], ids[1], positive, negative, windows, grad_windows


@register
def negative_sampling_loss(input_vectors, output_vectors, input_ids, output_ids, positive,
                           negative, windows=None, grad_windows=None):
    """Word2Vec's negative-sampling loss over blocks of examples, summed (fused).

    input_vectors (A, d), output_vectors (B, d): tables of rows (Word2Vec passes
    the rows a batch touches); input_ids (N, P), output_ids (N, R): the rows
    each block reads. windows (N, Q, P): the hidden vectors are H = windows @ X,
    X = input_vectors[input_ids] (CBOW: each row of windows averages a window);
    None: H = X (skip-gram, Q = P). positive, negative (N, Q, R): the weights of
    -log sigmoid(h_q . u_r) (the pair is real) and of -log sigmoid(-h_q . u_r)
    (u_r is noise) for each hidden vector q and output row r of a block.

        loss = -sum positive * log sigmoid(S) - sum negative * log sigmoid(-S),  S = H @ U^T

    grad_windows (the shape of windows): the gradient of H goes back to X
    through grad_windows instead of windows. CBOW-mean passes the 0/1 windows
    here, so each context word gets the whole gradient of the mean, as in
    word2vec.c and gensim; that is not the loss's exact gradient (the
    reference writes it with detach).
    """
    arrays = check_negative_sampling_args(input_vectors, output_vectors, input_ids, output_ids,
                                          positive, negative, windows, grad_windows)
    input_ids, output_ids, positive, negative, windows, grad_windows = arrays
    return NegativeSampling(input_ids, output_ids, positive, negative, windows,
                            grad_windows)(input_vectors, output_vectors)
