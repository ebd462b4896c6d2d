"""Neural-network layers' functions, with torch.nn.functional's names: layer norm,
dropout, scaled dot-product attention, embedding, linear, one_hot.

The ones on the hot path of training are *fused*: forward and backward are
each written directly on arrays, as one Function, instead of being built from
many small operations. That saves time and memory, and each is still checked
against finite differences in the tests. Their backward is not itself
differentiable (`twice_differentiable = False`); the functions built from
other operations (dropout, linear) are.

The activations (softmax, GELU) are in activation.py, the losses in loss.py;
reference.py writes each fused operation plainly, from primitive operations:
read it for what they compute, this file for how they do it fast.
"""
import math

import numpy as np

from .. import backend
from ..autograd import Function, no_grad
from ..tensor import Tensor, array_beside
from . import register
from .elementwise import constant, relu
from .linalg import matmul
from .shape import reshape, swapaxes
from .activation import row_sums, softmax_backward, stable_softmax

__all__ = ["layer_norm", "add_layer_norm", "dropout", "relu_dropout", "scaled_dot_product_attention",
           "packed_attention"]


# ----------------------------------------------------------------------------
# Layer norm
# ----------------------------------------------------------------------------
# Layer norm's rows go to the threads (backend.run_on_rows) from 2 x 2^17 elements on:
# its forward and backward make about ten passes over each row. Measured right
# after a matrix product, forward: (960, 512) 2.0 -> 1.4 ms, (1280, 256) 1.13 -> 1.03 ms,
# and (1500, 128) 0.65 -> 0.76 ms, slower: too little work to pay for the wake-up.
ROW_WISE_MIN_ELEMENTS = 1 << 17
# Attention's rows (its scores) go to the threads from 2 x 2^15 on: besides the
# passes over the scores, each row of scores costs two products with d_k-long rows.
ATTENTION_MIN_ELEMENTS = 1 << 15


def _row_means(x):
    """The mean over the last axis, keeping it (..., 1): a product with a vector of
    1/n (row_sums), which BLAS does three to four times faster than NumPy's mean."""
    return row_sums(x, 1 / x.shape[-1])


def _column_sums(x):
    """The sum over all rows (all axes but the last), by a product with ones (BLAS, as above)."""
    xp = backend.get_array_module(x)
    rows = x.reshape(-1, x.shape[-1])
    return xp.matmul(xp.ones(rows.shape[0], dtype=x.dtype), rows)


def _normalize(x, weight, bias, eps, in_place=False, out=None):
    """Layer norm's forward on arrays: (y, xhat, rstd) over the last axis.
    in_place: xhat is written over x (a temporary of the caller's own), which
    saves writing a fresh array: its memory is usually not in the cache.
    out: an array for y (the caller's rows of a larger one), instead of a fresh one."""
    xp = backend.get_array_module(x)
    centered = xp.subtract(x, _row_means(x), out=x if in_place else None)
    variance = xp.einsum("...i,...i->...", centered, centered)[..., None] / x.shape[-1]
    rstd = 1 / xp.sqrt(variance + eps)
    xhat = xp.multiply(centered, rstd, out=centered)
    y = xp.multiply(xhat, weight, out=out)
    y += bias
    return y, xhat, rstd


def _normalize_backward(g_out, xhat, rstd, weight, scratch=None, out=None):
    """Layer norm's dx on arrays, row by row. scratch: an array of xhat's shape to
    use for a temporary (the caller's next output), instead of a fresh one; out:
    an array for dx."""
    xp = backend.get_array_module(g_out)
    g = xp.multiply(g_out, weight, out=out)
    # dx = r * (g - mean(g) - xhat * mean(g * xhat)), in place on g: three fewer arrays
    g_xhat = xp.einsum("...i,...i->...", g, xhat)[..., None] / xhat.shape[-1]   # mean(g * xhat)
    g -= _row_means(g)
    g -= xp.multiply(xhat, g_xhat, out=scratch)
    g *= rstd
    return g


def _affine_grads(g_out, xhat, weight_grad, bias_grad):
    """Layer norm's (dweight or None, dbias or None): sums over all rows."""
    dim = xhat.shape[-1]
    gw = backend.get_array_module(g_out).einsum(
        "ij,ij->j", g_out.reshape(-1, dim), xhat.reshape(-1, dim)) \
        if weight_grad else None                                  # sum(gy * xhat), no temporary
    gb = _column_sums(g_out) if bias_grad else None
    return gw, gb


class LayerNorm(Function):
    """Normalize over the last axis, then scale and shift (fused).

    forward:  y = xhat * weight + bias,  xhat = (x - mean(x)) * r,  r = 1 / sqrt(var(x) + eps)
    backward: dx = r * (g - mean(g) - xhat * mean(g * xhat)),  g = gy * weight
              dweight = sum(gy * xhat),  dbias = sum(gy)     (over all but the last axis)
    """
    twice_differentiable = False

    def __init__(self, eps):
        self.eps = eps

    def forward(self, x, weight, bias):
        y, self.xhat, self.rstd = _normalize(x, weight, bias, self.eps)
        return y

    def backward(self, gy):
        _, weight, bias = self.inputs
        g = _normalize_backward(gy.data, self.xhat, self.rstd, weight.data)
        gw, gb = _affine_grads(gy.data, self.xhat, weight.requires_grad, bias.requires_grad)
        return Tensor._wrap(g), gw if gw is None else Tensor(gw), gb if gb is None else Tensor(gb)


class AddLayerNorm(Function):
    """The Transformer's "Add & Norm" after a sublayer s, in one step (fused):
    y = LayerNorm(x + dropout(s)).

    forward:  z = x + s * keep / (1 - p)  (keep: dropout's mask; z = x + s without dropout)
              y = layer norm of z, as LayerNorm
    backward: dz = LayerNorm's dx,  dx = dz,  ds = dz * keep / (1 - p);  dweight, dbias as LayerNorm
    The composed version is layer_norm(x + dropout(s)) (tt.reference.add_layer_norm);
    this one makes one pass for the dropout and the sum, and none in the backward
    beyond layer norm's and one product.
    """
    twice_differentiable = False

    def __init__(self, eps, dropout_p):
        self.eps, self.p = eps, dropout_p

    def saved_inputs(self):
        return (2,)       # the weight (x and the sublayer's output are not needed, as in torch)

    def forward(self, x, sublayer, weight, bias):
        xp = backend.get_array_module(x)
        if self.p:
            self.keep, self.scale = dropout_mask(sublayer, self.p)   # drawn whole: the same for any threads
        y, z = xp.empty_like(x), xp.empty_like(x)
        self.rstd = xp.empty(x.shape[:-1] + (1,), x.dtype)

        def rows_of(rows):      # a large array's rows are shared between the threads
            if self.p:
                part = apply_dropout_mask(sublayer[rows], self.keep[rows], self.scale, out=z[rows])
                part += x[rows]
            else:
                part = xp.add(x[rows], sublayer[rows], out=z[rows])
            # xhat is written over z, which is ours
            self.rstd[rows] = _normalize(part, weight, bias, self.eps, in_place=True, out=y[rows])[2]
        backend.run_on_rows(x, rows_of, ROW_WISE_MIN_ELEMENTS)
        self.xhat = z
        return y

    def backward(self, gy):
        weight, bias = self.inputs[2:]
        xp = backend.get_array_module(gy.data)
        dz = xp.empty_like(self.xhat)
        ds = xp.empty_like(self.xhat) if self.p else dz

        affine_parts = {}   # each part's sums for dweight and dbias, taken while it is in the cache

        def rows_of(rows):
            scratch = ds[rows] if self.p else None   # ds's memory, used as the scratch, is
            part = _normalize_backward(gy.data[rows], self.xhat[rows], self.rstd[rows], weight.data,
                                       scratch=scratch, out=dz[rows])
            if self.p:                               # still in the cache for ds itself
                apply_dropout_mask(part, self.keep[rows], self.scale, out=scratch)
            affine_parts[getattr(rows, "start", 0)] = _affine_grads(
                gy.data[rows], self.xhat[rows], weight.requires_grad, bias.requires_grad)
        backend.run_on_rows(dz, rows_of, ROW_WISE_MIN_ELEMENTS)
        # the parts' sums added in the order of their rows: the same numbers on any threads
        gw, gb = (None if sums[0] is None else sum(sums[1:], sums[0])
                  for sums in zip(*(affine_parts[start] for start in sorted(affine_parts))))
        return (Tensor._wrap(dz), Tensor._wrap(ds), gw if gw is None else Tensor(gw),
                gb if gb is None else Tensor(gb))


@register
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalize over the trailing dims `normalized_shape` to mean 0 and
    variance 1, then scale by `weight` and shift by `bias` (each of shape
    normalized_shape, optional), as torch.nn.functional.layer_norm."""
    normalized_shape = check_layer_norm_args(input, normalized_shape, weight, bias)
    size = math.prod(normalized_shape)
    xp = backend.xp_for(input.device)
    # Several trailing dims are normalized as one: flattened into the last axis and back.
    x = input if len(normalized_shape) == 1 else reshape(input, input.shape[:input.ndim - len(
        normalized_shape)] + (size,))
    weight = reshape(weight, (size,)) if weight is not None else Tensor(xp.ones(size, dtype=input.dtype))
    bias = reshape(bias, (size,)) if bias is not None else Tensor(xp.zeros(size, dtype=input.dtype))
    return reshape(LayerNorm(eps)(x, weight, bias), input.shape)


@register
def add_layer_norm(input, sublayer, normalized_shape, weight=None, bias=None, eps=1e-5,
                   dropout_p=0.0):
    """layer_norm(input + dropout(sublayer, dropout_p), normalized_shape, weight, bias, eps)
    in one fused operation: the Transformer's post-norm "Add & Norm" (torch has no
    such function; torch.nn.TransformerEncoderLayer computes the same composed).
    dropout_p: applied whenever it is above 0 (pass 0.0 in evaluation)."""
    if sublayer.shape != input.shape:
        raise ValueError(f"add_layer_norm: sublayer {sublayer.shape} must have the shape of "
                         f"input {input.shape}")
    if sublayer.dtype != input.dtype:
        raise TypeError(f"add_layer_norm: sublayer is {sublayer.dtype} but input is {input.dtype}; "
                        f"convert one first (no silent casts)")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"add_layer_norm: dropout_p must be in [0, 1), got {dropout_p}")
    normalized_shape = check_layer_norm_args(input, normalized_shape, weight, bias)
    if len(normalized_shape) != 1:
        return layer_norm(input + dropout(sublayer, dropout_p), normalized_shape, weight, bias, eps)
    xp = backend.xp_for(input.device)
    size = normalized_shape[0]
    weight = weight if weight is not None else Tensor(xp.ones(size, dtype=input.dtype))
    bias = bias if bias is not None else Tensor(xp.zeros(size, dtype=input.dtype))
    return AddLayerNorm(eps, dropout_p)(input, sublayer, weight, bias)


def check_layer_norm_args(input, normalized_shape, weight, bias):
    """normalized_shape as a tuple; it must be the input's trailing shape, and
    the shape of weight and bias when given."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    if isinstance(normalized_shape, Tensor):
        raise TypeError("layer_norm: normalized_shape is a shape (an int or a tuple of ints), "
                        "not a tensor; the weight comes after it: layer_norm(x, (D,), weight, bias)")
    normalized_shape = tuple(int(n) for n in normalized_shape)
    if not normalized_shape or len(normalized_shape) > input.ndim \
            or input.shape[input.ndim - len(normalized_shape):] != normalized_shape:
        raise ValueError(f"layer_norm: normalized_shape {normalized_shape} must be the trailing "
                         f"shape of the input, got input of shape {input.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != normalized_shape:
            raise ValueError(f"layer_norm: {name} must have shape {normalized_shape} "
                             f"(normalized_shape), got {t.shape}")
    return normalized_shape


# ----------------------------------------------------------------------------
# Dropout
# ----------------------------------------------------------------------------
def dropout_mask(array, p):
    """Dropout's draw for an array: (keep, scale), keep boolean of the array's shape
    (True with probability 1 - p, from the device's seeded generator) and the scale
    1 / (1 - p) in the array's dtype. Every fused op with dropout draws through here."""
    keep = backend.generator(backend.device_of(array)).keep_mask(array.shape, p)
    return keep, array.dtype.type(1 / (1 - p))


def apply_dropout_mask(array, keep, scale, out=None):
    """array * keep * scale on arrays: dropout's forward on a value, and its
    backward on a gradient. The boolean mask's product, then the scale in place on
    it, so one array is written (out, when given: the caller's own, still in the
    cache; a fresh one otherwise)."""
    dropped = backend.get_array_module(array).multiply(array, keep, out=out)
    dropped *= scale
    return dropped


class Dropout(Function):
    """Zero each element with probability p, scale the rest to keep the expectation.

    forward:  y = x * keep / (1 - p),  keep = [u >= p],  u uniform in [0, 1) (seeded generator)
    backward: dx = gy * keep / (1 - p)
    The mask is kept as booleans (a byte per element); see backend's keep_mask.
    """
    saves_inputs = False  # backward reads only the mask

    def __init__(self, p):
        self.p = p

    def forward(self, x):
        self.keep, self.scale = dropout_mask(x, self.p)
        return apply_dropout_mask(x, self.keep, self.scale)

    def backward(self, gy):
        return gy * constant(self.keep) * float(self.scale)


@register
def dropout(input, p=0.5, training=True):
    """Randomly zero elements with probability p during training (identity otherwise)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0
    return Dropout(p)(input)


class ReLUDropout(Function):
    """dropout(relu(x), p) in one step (fused): the middle of the Transformer's
    feed-forward network.

    forward:  y = max(x, 0) * m / (1 - p),  m = [x > 0] and keep   (keep: dropout's mask)
    backward: dx = gy * m / (1 - p)
    The composed version (tt.reference.relu_dropout) keeps x for ReLU's backward
    and the mask for dropout's; here the two masks are one boolean array (a
    byte per element), which is all the backward reads.
    max(x, 0) rather than x * m in the forward keeps relu's values where m is 0:
    NaN stays NaN and -inf gives 0, as the composed version gives.
    """
    twice_differentiable = False
    saves_inputs = False  # backward reads only m

    def __init__(self, p):
        self.p = p

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.mask, self.scale = dropout_mask(x, self.p)   # drawn whole: the same for any threads
        y = xp.empty_like(x)

        def rows_of(rows):      # a large array's rows are shared between the threads
            mask, part = self.mask[rows], xp.maximum(x[rows], x.dtype.type(0), out=y[rows])
            mask &= x[rows] > 0
            # in place on y, while it is in the cache: no float mask
            apply_dropout_mask(part, mask, self.scale, out=part)
        backend.run_on_rows(x, rows_of)
        return y

    def backward(self, gy):
        xp = backend.get_array_module(gy.data)
        dx = xp.empty_like(gy.data)

        def rows_of(rows):
            apply_dropout_mask(gy.data[rows], self.mask[rows], self.scale, out=dx[rows])
        backend.run_on_rows(dx, rows_of)
        return Tensor._wrap(dx)


@register
def relu_dropout(input, p=0.5, training=True):
    """dropout(relu(input), p, training) as one fused operation (torch has no such
    function; its feed-forward layers compute the same composed)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"relu_dropout: p must be in [0, 1], got {p}")
    if input.dtype.kind != "f":
        raise TypeError(f"relu_dropout: input must be floating point, got {input.dtype}")
    if not training or p == 0.0 or p == 1.0:
        return dropout(relu(input), p, training)
    return ReLUDropout(p)(input)




# ----------------------------------------------------------------------------
# Attention
# ----------------------------------------------------------------------------
class Attention(Function):
    """Scaled dot-product attention in one step (fused); masked scores are excluded.

    forward:  y = P V,  P = softmax(S),  S = Q K^T * scale (+ B, a float mask)
              Q (..., Lq, d_k), K (..., Lk, d_k), V (..., Lk, d_v) -> y (..., Lq, d_v)
    backward: dV = P^T gy,  dP = gy V^T,  dS = P * (dP - sum(dP * P)),
              dQ = dS K scale,  dK = dS^T Q scale,  dB = dS
    (with dropout on P, P is replaced by the dropped P in dV and dP.)
    """
    twice_differentiable = False

    def saved_inputs(self):
        return (0, 1, 2)  # q, k and v; a float mask's values are not needed

    def __init__(self, allowed, dropout_p, scale):
        self.allowed, self.dropout_p, self.scale = allowed, dropout_p, scale

    def forward(self, q, k, v, bias=None):
        xp = backend.get_array_module(q)
        if bias is not None or not self._splits(q, k, v):
            self.weights, self.keep, self.used, y = self._forward(xp, q, k, v, bias, self.allowed)
            return y
        # a batch's rows (dim 0) are shared between the threads, each writing its part
        self.weights = xp.empty(q.shape[:-1] + k.shape[-2:-1], xp.result_type(q, k))
        self.keep = xp.empty_like(self.weights) if self.dropout_p else None
        self.used = xp.empty_like(self.weights) if self.dropout_p else self.weights
        # dropout's mask drawn whole: the same on any number of threads
        mask, scale = dropout_mask(self.weights, self.dropout_p) if self.dropout_p else (None, None)
        out = self._output(xp, self.used, v)
        if out is None:
            out = xp.empty(q.shape[:-1] + v.shape[-1:], xp.result_type(self.used, v))

        def rows_of(rows):
            self._forward(xp, q[rows], k[rows], v[rows], None, self._rows(self.allowed, rows),
                          (mask[rows], scale) if self.dropout_p else None, out[rows],
                          self.weights[rows], self.keep[rows] if self.dropout_p else None,
                          self.used[rows])
        backend.run_on_rows(self.weights, rows_of, ATTENTION_MIN_ELEMENTS)
        return out

    def _splits(self, q, k, v):
        """Whether the rows of dim 0 can go to the threads: NumPy arrays (on the GPU
        the whole arrays, as written) q, k and v of one batch shape, and the mask no
        larger than the scores."""
        scores = q.shape[:-1] + k.shape[-2:-1]
        return type(q) is np.ndarray and q.ndim >= 3 and q.shape[:-2] == k.shape[:-2] == v.shape[:-2] \
            and (self.allowed is None or np.broadcast_shapes(self.allowed.shape, scores) == scores)

    def _rows(self, mask, rows):
        """A mask's part for the rows of dim 0: its own rows when it has that dim in
        full, itself when it broadcasts over it."""
        if mask is None or mask.ndim < self.weights.ndim or mask.shape[0] == 1:
            return mask
        return mask[rows]

    @staticmethod
    def _output(xp, used, v):
        """y's array. Heads (..., h, L, d_v) are written in the memory order
        (..., L, h, d_v): merging the heads, permute(0, 2, 1, 3).reshape(B, L, h * d_v),
        is then a view, not a copy. None (a fresh array) below 4 dims."""
        if used.ndim < 4:
            return None
        *batch, heads = np.broadcast_shapes(used.shape[:-2], v.shape[:-2])  # shapes only
        return xp.empty((*batch, used.shape[-2], heads, v.shape[-1]),
                        dtype=xp.result_type(used, v)).swapaxes(-2, -3)

    def _forward(self, xp, q, k, v, bias, allowed, keep=None, out=None, weights=None,
                 keep_out=None, used=None):
        """The forward's formulas on arrays: (P, dropout's scaled mask or None, the
        dropped P, y). keep: dropout's (mask, scale), drawn here when None; out,
        weights, keep_out, used: arrays to write y, P, the scaled mask and the dropped
        P into (a thread's rows of whole arrays), or None for fresh ones."""
        # scores, the product's array, is changed in place below wherever the shapes
        # allow: the same numbers, without writing more fresh arrays (not in the cache)
        scores = xp.matmul(q, k.swapaxes(-1, -2), out=weights)
        scores *= q.dtype.type(self.scale)
        if bias is not None:
            scores = scores + bias
        if allowed is not None:
            if np.broadcast_shapes(allowed.shape, scores.shape) == scores.shape:
                xp.copyto(scores, -xp.inf, where=~allowed)
            else:
                scores = xp.where(allowed, scores, xp.asarray(-xp.inf, dtype=scores.dtype))
        weights = stable_softmax(scores, axis=-1, in_place=True)
        scaled_keep, dropped = None, weights
        if self.dropout_p:
            mask, scale = keep or dropout_mask(weights, self.dropout_p)
            scaled_keep = xp.multiply(mask, scale, out=keep_out, dtype=q.dtype)
            dropped = xp.multiply(weights, scaled_keep, out=used)
        if out is None:
            out = self._output(xp, dropped, v)
        return weights, scaled_keep, dropped, xp.matmul(dropped, v, out=out)

    def backward(self, gy):
        q, k, v = (t.data for t in self.inputs[:3])
        bias = self.inputs[3] if len(self.inputs) == 4 else None
        gq, gk, gv, gbias = self.gradients(gy.data, q, k, v, bias)
        return Tensor(gq), Tensor(gk), Tensor(gv), gbias

    def gradients(self, g, q, k, v, bias, out=(None, None, None)):
        """The backward's formulas on arrays: (dQ, dK, dV, dB or None); out: arrays
        to write dQ, dK, dV into (PackedAttention's three parts of one array)."""
        xp = backend.get_array_module(g)
        if bias is not None or not self._splits(q, k, v):
            return self._gradients(xp, g, q, k, v, bias, self.weights, self.keep, self.used, out)
        # a batch's rows (dim 0) are shared between the threads, each writing its part
        out = [xp.empty(like.shape, xp.result_type(g, like)) if o is None else o
               for o, like in zip(out, (q, k, v))]

        def rows_of(rows):
            self._gradients(xp, g[rows], q[rows], k[rows], v[rows], None, self.weights[rows],
                            self.keep[rows] if self.dropout_p else None, self.used[rows],
                            [o[rows] for o in out])
        backend.run_on_rows(self.weights, rows_of, ATTENTION_MIN_ELEMENTS)
        return (*out, None)

    def _gradients(self, xp, g, q, k, v, bias, weights, keep, used, out):
        gv = xp.matmul(used.swapaxes(-1, -2), g, out=out[2])
        gp = xp.matmul(g, v.swapaxes(-1, -2))
        if self.dropout_p:
            gp *= keep
        gs = softmax_backward(weights, gp, axis=-1)
        if bias is not None and bias.requires_grad:
            gbias = Tensor(gs)
            gs = gs * q.dtype.type(self.scale)
        else:
            gbias = None
            gs *= q.dtype.type(self.scale)
        gq = xp.matmul(gs, k, out=out[0])
        gk = xp.matmul(gs.swapaxes(-1, -2), q, out=out[1])
        return gq, gk, gv, gbias


class PackedAttention(Attention):
    """Attention on a query, key and value packed in one tensor (fused):
    qkv (3, ..., L, d_k), y = Attention(qkv[0], qkv[1], qkv[2]).

    forward and backward: Attention's. The three gradients are written into one
    array of qkv's shape, so the self-attention projection that made qkv, one
    product with the three weights stacked, gets one gradient (and one product
    in its backward) instead of three gradients that would each be padded to
    qkv's shape and then added.
    """

    def saved_inputs(self):
        return (0,)

    def forward(self, qkv, bias=None):
        return super().forward(qkv[0], qkv[1], qkv[2], bias)

    def backward(self, gy):
        qkv = self.inputs[0].data
        # laid out in memory as qkv is (empty_like keeps the order of its strides): for the
        # self-attention projection's (B, L, 3, h, d_k) seen as (3, B, h, L, d_k), the
        # gradient's permute and reshape back to the projection's output are then views,
        # where a (3, B, h, L, d_k)-ordered array would be copied (13 ms a step at size M)
        g = backend.get_array_module(qkv).empty_like(qkv, dtype=gy.dtype)
        bias = self.inputs[1] if len(self.inputs) == 2 else None
        *_, gbias = self.gradients(gy.data, qkv[0], qkv[1], qkv[2], bias, out=(g[0], g[1], g[2]))
        return Tensor._wrap(g), gbias


@register
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, *, scale=None, need_weights=False):
    """softmax(q k^T * scale + mask) v over the last two dims, as
    torch.nn.functional.scaled_dot_product_attention.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev).
    attn_mask, broadcastable to (..., L, S): boolean, True where a query may
    attend to a key (False is masked out), or float, added to the scores.
    is_causal: query i attends to keys j <= i (attn_mask must then be None).
    scale: 1/sqrt(E) unless given. dropout_p: dropout on the attention weights,
    applied whenever it is above 0 (pass 0.0 in evaluation, as torch).
    A query whose keys are all masked gets zero weights and a zero output.

    need_weights=True (tinytensor's, not torch's: MultiHeadAttention needs the
    weights, which this fused operation has anyway) also returns the attention
    weights (after dropout, without gradient), as (output, weights).
    """
    allowed, bias = check_attention_args(query, key, value, attn_mask, dropout_p, is_causal)
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    fn = Attention(allowed, dropout_p, scale)
    out = fn(query, key, value) if bias is None else fn(query, key, value, bias)
    return (out, Tensor(fn.used)) if need_weights else out


@register
def packed_attention(qkv, attn_mask=None, dropout_p=0.0, is_causal=False, *, scale=None,
                     need_weights=False):
    """scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], ...), with the query, key
    and value packed in one tensor qkv of shape (3, ..., L, E) (tinytensor's, not
    torch's: torch packs them the same way inside nn.MultiheadAttention). For
    self-attention, where one product with the three projections stacked makes
    all three; its gradient comes back as one array too. The other arguments are
    scaled_dot_product_attention's."""
    if qkv.ndim < 3 or qkv.shape[0] != 3:
        raise ValueError(f"packed_attention: qkv must be (3, ..., L, E): query, key and value "
                         f"stacked on dim 0, got shape {qkv.shape}")
    with no_grad():   # views, for the shape checks only
        query, key, value = qkv[0], qkv[1], qkv[2]
    allowed, bias = check_attention_args(query, key, value, attn_mask, dropout_p, is_causal,
                                         op="packed_attention")
    scale = 1 / math.sqrt(qkv.shape[-1]) if scale is None else float(scale)
    fn = PackedAttention(allowed, dropout_p, scale)
    out = fn(qkv) if bias is None else fn(qkv, bias)
    return (out, Tensor(fn.used)) if need_weights else out


def check_attention_args(query, key, value, attn_mask, dropout_p, is_causal,
                         op="scaled_dot_product_attention"):
    """(allowed, bias): a boolean array, True where attending is allowed, and a
    float mask tensor to add to the scores; either may be None. op: the name in errors."""
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise ValueError(f"{op}: query, key and value need at least 2 dims (..., length, "
                         f"features), got {query.shape}, {key.shape}, {value.shape}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{op}: query {query.shape}, key {key.shape}, value {value.shape} "
                         "need query and key to share E (the last dim) and key and value to "
                         "share S (the length)")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"{op}: dropout_p must be in [0, 1), got {dropout_p}")
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError(f"{op}: an explicit attn_mask should not be given when "
                               "is_causal=True (as torch)")
        xp = backend.xp_for(query.device)
        return xp.tri(query.shape[-2], key.shape[-2], dtype=bool), None
    if attn_mask is None:
        return None, None
    if isinstance(attn_mask, Tensor) and attn_mask.dtype.kind == "f":
        return None, attn_mask
    mask = array_beside(attn_mask, query, op, "attn_mask")
    if mask.dtype.kind == "f":
        return None, Tensor(mask.astype(query.dtype, copy=False))
    if mask.dtype.kind != "b":
        raise TypeError(f"{op}: attn_mask must be boolean (True = may attend) or float (added "
                        f"to the scores), got {mask.dtype}")
    return mask, None


# ----------------------------------------------------------------------------
# Embedding, linear, one_hot
# ----------------------------------------------------------------------------
class Embedding(Function):
    """Rows of `weight` picked by integer `ids`: the embedding lookup (fused).

    forward:  y = weight[ids]         weight (num_embeddings, dim) -> ids.shape + (dim,)
    backward: dweight = zeros;  dweight[ids[i]] += gy[i]   (one scatter; repeated ids add up;
              rows of ids equal to padding_idx send nothing)

    Fused: its backward scatters on raw arrays, so it is not twice differentiable.
    """
    twice_differentiable = False
    saves_inputs = False  # backward reads only shapes (in-place changes of the weight are fine)

    def __init__(self, ids, padding_idx):
        self.ids, self.padding_idx = ids, padding_idx

    def forward(self, weight):
        # take along axis 0 is weight[ids], about twice as fast as fancy indexing in NumPy
        return backend.get_array_module(weight).take(weight, self.ids, axis=0)

    def backward(self, gy):
        weight = self.inputs[0]
        xp = backend.xp_for(weight.device)
        gw = xp.zeros(weight.shape, dtype=gy.dtype)
        ids, g = self.ids.reshape(-1), gy.data.reshape(-1, weight.shape[1])
        if self.padding_idx is not None:
            used = ids != self.padding_idx
            ids, g = ids[used], g[used]
        backend.scatter_add(gw, ids, g)
        return Tensor(gw)


@register
def embedding(input, weight, padding_idx=None):
    """weight[input]: the rows of a 2-D weight picked by integer ids, as
    torch.nn.functional.embedding(input, weight) (ids first). Rows read at
    padding_idx get no gradient."""
    ids = check_embedding_args(input, weight)
    if padding_idx is not None:
        if not -weight.shape[0] <= padding_idx < weight.shape[0]:
            raise ValueError(f"embedding: padding_idx {padding_idx} is outside "
                             f"[-{weight.shape[0]}, {weight.shape[0]})")
        padding_idx %= weight.shape[0]
    return Embedding(ids, padding_idx)(weight)


def check_embedding_args(input, weight):
    """The ids as a backend array, after checking them against the weight."""
    if not isinstance(weight, Tensor):
        raise TypeError(f"embedding: weight must be a Tensor (num_embeddings, dim), got "
                        f"{type(weight).__name__}; note torch's order: embedding(ids, weight)")
    ids = array_beside(input, weight, "embedding", "input")
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding: input must hold integer ids, got dtype {ids.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, dim), got shape "
                         f"{weight.shape}")
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= weight.shape[0]):
        raise IndexError(f"embedding: ids must be in [0, {weight.shape[0]}), got values from "
                         f"{int(ids.min())} to {int(ids.max())}")
    return ids


class Linear(Function):
    """x W^T + b in one step (fused): one matrix product, the bias added in place.

    forward:  y = x @ W^T + b        x (N, in), W (out, in), b (out,) -> y (N, out)
    backward: dx = gy @ W,  dW = gy^T @ x,  db = sum(gy) over the rows (= ones @ gy)

    dW comes out (out, in) and contiguous, like W (the composed version
    computes x^T @ gy and transposes it back, which costs a copy). The backward
    is made of matmul and sum, so it is differentiable again.
    """

    def saved_inputs(self):
        """x is read for dW, W for dx; the bias's value is never needed."""
        x_needed, w_needed = (edge is not None for edge in self.next_functions[:2])
        return [i for i, needed in ((0, w_needed), (1, x_needed)) if needed]

    def forward(self, x, weight, bias=None):
        if bias is None:
            return backend.get_array_module(x).matmul(x, weight.T)
        return backend.addmm(bias, x, weight.T)      # one BLAS call, the bias its starting point

    def backward(self, gy):
        x, weight = self.inputs[:2]
        needed = self.needs_input_grad
        gx = matmul(gy, weight) if needed[0] else None
        gw = matmul(swapaxes(gy, 0, 1), x) if needed[1] else None
        gb = None
        if len(needed) == 3 and needed[2]:   # sum(gy, 0), as ones @ gy: BLAS, 3x NumPy's sum
            gb = matmul(constant(backend.get_array_module(gy.data).ones(
                gy.shape[0], dtype=gy.dtype)), gy)
        return gx, gw, gb


@register
def linear(input, weight, bias=None):
    """input @ weight^T + bias, weight (out_features, in_features), as
    torch.nn.functional.linear (tt.reference.linear is the same, composed)."""
    if weight.ndim != 2 or input.shape[-1:] != weight.shape[1:]:
        raise ValueError(f"linear: input of shape {input.shape} needs a weight of shape "
                         f"(out_features, {input.shape[-1] if input.ndim else '?'}), got "
                         f"{weight.shape}")
    # One 2-D matrix product over all leading dims is much faster than a batched one.
    flat = reshape(input, (-1, weight.shape[1])) if input.ndim != 2 else input
    if bias is None or bias.shape != weight.shape[:1]:
        y = Linear()(flat, weight)
        y = y if bias is None else y + bias  # a bias that broadcasts otherwise, as torch's
    else:
        y = Linear()(flat, weight, bias)
    return reshape(y, input.shape[:-1] + (weight.shape[0],)) if input.ndim != 2 else y


def one_hot(tensor, num_classes=-1):
    """An int64 tensor with a trailing dim of size num_classes (the largest id
    plus one by default): 1 at each id, 0 elsewhere, as torch.nn.functional.one_hot."""
    xp = backend.xp_for(tensor.device) if isinstance(tensor, Tensor) else backend.xp_for(
        backend.get_default_device())
    ids = tensor.data if isinstance(tensor, Tensor) else xp.asarray(tensor)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"one_hot: ids must be integers (int64), got dtype {ids.dtype}")
    if num_classes == -1:
        num_classes = int(ids.max()) + 1 if ids.size else 0
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= num_classes):
        raise RuntimeError(f"one_hot: class values must be in [0, {num_classes}), got values "
                           f"from {int(ids.min())} to {int(ids.max())}")
    return Tensor((ids[..., None] == xp.arange(num_classes)).astype(xp.int64))
