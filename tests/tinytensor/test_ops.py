"""Every operation in tinytensor.OPS, checked three ways on every device:

1. forward: the value against a NumPy reference written here, independently
   of the operation's own code;
2. gradcheck: backward against central differences, in float64;
3. gradgradcheck: second derivatives (backward with create_graph=True), for
   the operations whose Functions are twice differentiable; the fused ones
   must instead refuse create_graph=True with a clear RuntimeError.

SPECS below is the one declaration table: one entry per operation, each with
one or more cases. `test_every_registered_op_has_a_spec` fails when an
operation is added to OPS without an entry here.
"""
import math
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinytensor as tt
from tinytensor import backend
from tensor_helpers import HAS_CUDA, NO_CUDA_REASON

FWD_RTOL, FWD_ATOL = 1e-9, 1e-12


# ----------------------------------------------------------------------------
# The declaration language of the table
# ----------------------------------------------------------------------------
class Arg:
    """A float64 input tensor. Values: `values` as given, else uniform in
    [low, high) (times a random sign with signed=True), else standard normal."""

    def __init__(self, shape=None, values=None, low=None, high=None, signed=False, grad=True):
        self.shape, self.values, self.low, self.high = shape, values, low, high
        self.signed, self.grad = signed, grad

    def build(self, rng):
        if self.values is not None:
            return np.array(self.values, dtype=np.float64)
        if self.low is not None:
            x = rng.uniform(self.low, self.high, size=self.shape)
            if self.signed:
                x = x * rng.choice([-1.0, 1.0], size=self.shape)
            return np.asarray(x, dtype=np.float64)
        return np.asarray(rng.standard_normal(self.shape), dtype=np.float64)


class Const:
    """An input that gets no gradient: a NumPy array becomes a tensor on the
    device under test (integer ids, boolean masks, float targets)."""

    def __init__(self, value):
        self.value = value


def default_call(op, *args, **kwargs):
    return op(*args, **kwargs)


def list_call(op, *tensors, **kwargs):
    """For operations that take a list of tensors (concatenate, stack)."""
    return op(list(tensors), **kwargs)


def seeded(call, seed=0):
    """Re-seed before each call, so a random mask is the same on every call
    (gradcheck evaluates the function many times)."""
    def wrapped(op, *args, **kwargs):
        tt.manual_seed(seed)
        return call(op, *args, **kwargs)
    return wrapped


class Case:
    """marks: pytest marks for every test of the case (CUDA_ONLY)."""

    def __init__(self, id, args, ref=None, kwargs=None, call=default_call, check=None,
                 gradgrad=True, why_no_gradgrad=None, marks=()):
        self.id, self.args, self.ref, self.kwargs = id, args, ref, kwargs or {}
        self.call, self.check = call, check
        self.gradgrad, self.why_no_gradgrad = gradgrad, why_no_gradgrad
        self.marks = marks
        assert (ref is None) != (check is None), f"{id}: give a reference or a check"


class Spec:
    """fused=True: the op's Functions are not twice differentiable."""

    def __init__(self, *cases, fused=False):
        self.cases, self.fused = cases, fused


# ----------------------------------------------------------------------------
# NumPy references (written independently of tinytensor's code)
# ----------------------------------------------------------------------------
def np_softmax(x, axis=-1):
    """softmax_i = 1 / sum_j exp(x_j - x_i): no max shift needed. Pairs of -inf
    give NaN terms, left out (x_i = -inf still gets 1/inf = 0 from any finite
    x_j); a row that is all -inf gives zeros."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    with np.errstate(over="ignore", invalid="ignore"):
        y = 1.0 / np.nansum(np.exp(x[..., None, :] - x[..., :, None]), axis=-1)
    y[np.all(np.isneginf(x), axis=-1)] = 0.0
    return np.moveaxis(y, -1, axis)


def np_log_softmax(x, axis=-1):
    """x - log(sum(exp(x))), the normalizer from NumPy's logaddexp."""
    return x - np.logaddexp.reduce(x, axis=axis, keepdims=True)


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


np_erf = np.vectorize(math.erf, otypes=[np.float64])   # Python's erf, one number at a time


def np_gelu(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1.0 + np_erf(x / math.sqrt(2.0)))


def np_class_last(logits, targets):
    """torch's layouts made uniform: (N, ..., C) logits and (N, ...) targets
    ((C,) is one sample; the class dim of (N, C, d1, ...) is dim 1)."""
    x, t = np.asarray(logits), np.asarray(targets)
    if x.ndim == 1:
        x, t = x[None], t[None]
    t = np.moveaxis(t, 1, -1) if t.dtype.kind == "f" else t
    return np.moveaxis(x, 1, -1), t


def np_cross_entropy(logits, targets, weight=None, ignore_index=-100, label_smoothing=0.0,
                     reduction="mean"):
    """torch's definition, one sample at a time: for a class index t,
    loss = -(1 - e) w[t] log p[t] - (e / C) sum_c w[c] log p[c], and "mean"
    divides by the sum of w[t]; for class probabilities q, loss = -sum_c w[c]
    q'[c] log p[c] with q' = (1 - e) q + e / C, and "mean" divides by the count."""
    x, t = np_class_last(logits, targets)
    classes = x.shape[-1]
    w = np.ones(classes) if weight is None else np.asarray(weight, dtype=np.float64)
    e = label_smoothing
    log_p = np_log_softmax(x, -1)
    if t.dtype.kind == "f":
        losses = -((t * (1 - e) + e / classes) * w * log_p).sum(-1)
        total = losses.size
    else:
        losses, total = np.zeros(t.shape), 0.0
        for i in np.ndindex(t.shape):
            if t[i] != ignore_index:
                losses[i] = -(1 - e) * w[t[i]] * log_p[i][t[i]] - e / classes * (w * log_p[i]).sum()
                total += w[t[i]]
    if reduction == "none":
        return losses[0] if np.ndim(logits) == 1 else losses
    return losses.sum() if reduction == "sum" else losses.sum() / total


def np_nll_loss(log_p, targets, weight=None, ignore_index=-100, reduction="mean"):
    """-w[t] log_p[t], one sample at a time; "mean" divides by the sum of w[t]."""
    x, t = np_class_last(log_p, targets)
    w = np.ones(x.shape[-1]) if weight is None else np.asarray(weight, dtype=np.float64)
    losses, total = np.zeros(t.shape), 0.0
    for i in np.ndindex(t.shape):
        if t[i] != ignore_index:
            losses[i], total = -w[t[i]] * x[i][t[i]], total + w[t[i]]
    if reduction == "none":
        return losses[0] if np.ndim(log_p) == 1 else losses
    return losses.sum() if reduction == "sum" else losses.sum() / total


def np_layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    dims = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    y = (x - x.mean(dims, keepdims=True)) / np.sqrt(x.var(dims, keepdims=True) + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def np_reduce(losses, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction](losses)


def np_mse(x, t, reduction="mean"):
    return np_reduce((x - t) ** 2, reduction)


def np_l1(x, t, reduction="mean"):
    return np_reduce(np.abs(x - t), reduction)


def np_bce(x, t, weight=None, reduction="mean"):
    losses = -(t * np.log(x) + (1 - t) * np.log1p(-x))
    return np_reduce(losses if weight is None else losses * weight, reduction)


def np_bce_with_logits(x, t, weight=None, reduction="mean", pos_weight=None):
    """-w (pw t log s + (1 - t) log(1 - s)), s = sigmoid(x), with NumPy's logaddexp:
    log s = -log(1 + exp(-x)), log(1 - s) = -log(1 + exp(x))."""
    pw = 1.0 if pos_weight is None else pos_weight
    losses = pw * t * np.logaddexp(0.0, -x) + (1 - t) * np.logaddexp(0.0, x)
    return np_reduce(losses if weight is None else losses * weight, reduction)


def np_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """torch's conventions: a boolean mask says who may attend, a float one is added."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale
    if is_causal:
        attn_mask = np.tril(np.ones((q.shape[-2], k.shape[-2]), dtype=bool))
    if attn_mask is not None and attn_mask.dtype == bool:
        scores = np.where(attn_mask, scores, -np.inf)
    elif attn_mask is not None:
        scores = scores + attn_mask
    return np_softmax(scores, -1) @ v


def np_split(x, size_or_sizes, axis=0):
    n = x.shape[axis]
    if isinstance(size_or_sizes, int):
        cuts = list(range(size_or_sizes, n, size_or_sizes))
    else:
        cuts = list(np.cumsum(size_or_sizes)[:-1])
    return np.split(x, cuts, axis=axis)


def np_sum_to(x, shape):
    while x.ndim > len(shape):
        x = x.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and x.shape[axis] != 1:
            x = x.sum(axis=axis, keepdims=True)
    return x


def np_flatten(x, start_dim=0, end_dim=-1):
    start, end = start_dim % x.ndim, end_dim % x.ndim
    return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1:])


def values_call(op, *args, **kwargs):
    """For max/min along a dim, sort and topk: the differentiable values of the
    (values, indices) named tuple."""
    return op(*args, **kwargs).values


def np_gather(x, dim, index):
    """out[p] = x[p with its dim coordinate replaced by index[p]], element by element."""
    out = np.empty(index.shape)
    for p in np.ndindex(*index.shape):
        q = list(p)
        q[dim] = index[p]
        out[p] = x[tuple(q)]
    return out


def np_scatter(x, dim, index, src):
    out = x.copy()
    for p in np.ndindex(*index.shape):
        q = list(p)
        q[dim] = index[p]
        out[tuple(q)] = src[p]
    return out


def np_scatter_add(x, dim, index, src):
    out = x.copy()
    for p in np.ndindex(*index.shape):
        q = list(p)
        q[dim] = index[p]
        out[tuple(q)] += src[p]
    return out


def np_masked_fill(x, mask, value):
    return np.where(mask, value, x)


def np_index_put(x, index, values, accumulate=False):
    y = x.copy()
    if accumulate:
        np.add.at(y, index, values)
    else:
        y[index] = values
    return y


def _setitem(y, index, value):
    """y[index] = value as a statement, for a spec: returns y."""
    y[index] = value
    return y


# A causal mask (query i may see keys 0..i) and a padding mask.
CAUSAL = np.tril(np.ones((4, 4), dtype=bool))
PADDING = np.array([[[True, True, True, False, False]], [[True, True, True, True, True]]])
ONE_ROW_MASKED = np.array([[True, False, True], [False, False, False], [True, True, True]])
# a mask with a batch dim the query, key and value lack: the output takes its shape
WIDER_THAN_SCORES = np.array([[[True, False, True, True, False]] * 3,
                              [[False, True, True, False, True]] * 3])


def check_dropout(p):
    """Each output is 0 or x / (1 - p); both occur."""
    def check(out, x, *_, device, **__):
        scaled = x / (1 - p)
        dropped = out == 0
        assert np.allclose(out[~dropped], scaled[~dropped], rtol=1e-12)
        assert 0 < dropped.sum() < out.size
    return check


def np_add_layer_norm(x, s, normalized_shape, weight=None, bias=None, eps=1e-5, dropout_p=0.0):
    return np_layer_norm(x + s, normalized_shape, weight, bias, eps)


def check_add_layer_norm_dropout(p):
    """With the same seed, dropout of ones gives the mask (0 or 1/(1-p)) the fused
    operation drew: the output must be layer_norm(x + s * mask)."""
    def check(out, x, s, shape, weight, bias, *, device, **kwargs):
        tt.manual_seed(0)
        mask = tt.dropout(tt.ones(*s.shape, dtype=tt.float64, device=device), p).numpy()
        assert 0 < (mask == 0).sum() < mask.size
        np.testing.assert_allclose(out, np_layer_norm(x + s * mask, shape, weight, bias),
                                   rtol=1e-10, atol=1e-12)
    return check


def check_relu_dropout(p):
    """With the same seed, dropout of ones gives the mask (0 or 1/(1-p)) the fused
    operation drew: the output must be relu(x) * mask, and both kinds of element occur
    among the positive x."""
    def check(out, x, *_, device, **__):
        tt.manual_seed(0)
        mask = tt.dropout(tt.ones(*x.shape, dtype=tt.float64, device=device), p).numpy()
        np.testing.assert_allclose(out, np.where(x > 0, x, 0.0) * mask, rtol=1e-12, atol=0)
        kept = mask[x > 0] != 0
        assert 0 < kept.sum() < kept.size
    return check


def check_attention_dropout(p):
    """With the same seed, running on v = identity gives the dropped weights W
    (each 0 or softmax/(1-p)); the output must then be W @ v."""
    def check(out, q, k, v, *, device, **kwargs):
        probs = np_softmax(q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1]), -1)
        eye = np.broadcast_to(np.eye(k.shape[-2]), k.shape[:-1] + (k.shape[-2],)).copy()
        tt.manual_seed(0)
        weights = tt.scaled_dot_product_attention(
            tt.tensor(q, device=device), tt.tensor(k, device=device),
            tt.tensor(eye, device=device), **kwargs).numpy()
        dropped = weights == 0
        assert 0 < dropped.sum() < weights.size
        np.testing.assert_allclose(weights[~dropped], probs[~dropped] / (1 - p), rtol=1e-12)
        np.testing.assert_allclose(out, weights @ v, rtol=FWD_RTOL, atol=FWD_ATOL)
    return check


CUDA_ONLY = [pytest.mark.gpu, pytest.mark.skipif(not HAS_CUDA, reason=NO_CUDA_REASON)]
NO_TIES = "ties make the gradient jump, so second differences are meaningless there"
INT_IDS = np.array([[0, 2, 0], [4, 0, 1]])
GATHER_IDX = np.array([[0, 2, 1, 0], [1, 1, 0, 2]])
GATHER_IDX_3D = np.array([[[3, 0], [1, 1], [2, 0]], [[0, 0], [3, 2], [1, 3]]])
SCATTER_IDX = np.array([[3, 0], [1, 2]])              # distinct positions in each row
REPEATED_IDX = np.array([[0, 2, 0, 0], [1, 1, 2, 1]])
MASK_3x4 = np.array([[True, False, True, True], [False, False, True, False],
                     [True, True, False, False]])
NEG_INF_ROWS = [[0.5, -np.inf, 1.0, -np.inf], [-np.inf, -np.inf, -np.inf, 2.0],
                [1.0, 2.0, 3.0, 4.0]]


def binary(ref, low=None, high=None, signed=False, scalar=2.5):
    """Same shape, broadcast (3,1,4) with (2,4), a Python scalar on either side."""
    kw = dict(low=low, high=high, signed=signed)
    return (
        Case("same_shape", [Arg((3, 4), **kw), Arg((3, 4), **kw)], ref),
        Case("broadcast_3x1x4_2x4", [Arg((3, 1, 4), **kw), Arg((2, 4), **kw)], ref),
        Case("broadcast_4_3x1", [Arg((4,), **kw), Arg((3, 1), **kw)], ref),
        Case("python_scalar_right", [Arg((2, 3), **kw), scalar], ref),
        Case("python_scalar_left", [scalar, Arg((2, 3), **kw)], ref),
    )


def unary(ref, **arg):
    return (Case("matrix", [Arg((3, 4), **arg)], ref), Case("scalar_0d", [Arg((), **arg)], ref))


AWAY_FROM_ZERO = dict(low=0.2, high=2.0, signed=True)
POSITIVE = dict(low=0.3, high=2.0)
X234 = Arg((2, 3, 4))


def reductions(ref, **extra):
    """axis None / int / negative int / tuple, keepdims on and off."""
    return tuple(
        Case(f"axis={axis}-keepdims={keep}", [X234], ref,
             kwargs=dict(axis=axis, keepdims=keep, **extra))
        for axis, keep in [(None, False), (None, True), (1, False), (-1, True), ((0, 2), False),
                           ((0, 2), True)])


SPECS = {
    # -- elementwise --------------------------------------------------------
    "add": Spec(*binary(np.add)),
    "sub": Spec(*binary(np.subtract)),
    "mul": Spec(*binary(np.multiply)),
    "div": Spec(*binary(np.divide, **AWAY_FROM_ZERO)),
    "maximum": Spec(*binary(np.maximum, scalar=0.1)),
    "minimum": Spec(*binary(np.minimum, scalar=0.1)),
    "neg": Spec(*unary(np.negative)),
    "pow": Spec(
        Case("tensor_exponent", [Arg((3, 4), **POSITIVE), Arg((3, 4))], np.power),
        Case("tensor_exponent_broadcast", [Arg((3, 1, 4), **POSITIVE), Arg((2, 4))], np.power),
        Case("scalar_exponent_2", [Arg((3, 4)), 2], np.power),
        Case("scalar_exponent_3", [Arg((3, 4)), 3], np.power),
        Case("scalar_exponent_0.5", [Arg((3, 4), **POSITIVE), 0.5], np.power),
        Case("scalar_exponent_-1.5", [Arg((3, 4), **POSITIVE), -1.5], np.power),
        Case("scalar_exponent_-2", [Arg((3, 4), **AWAY_FROM_ZERO), -2], lambda x, c: x ** float(c)),
        Case("python_base", [1.7, Arg((2, 3))], np.power),
        Case("exponent_only_requires_grad", [Arg((2, 3), grad=False, **POSITIVE), Arg((2, 3))],
             np.power),
    ),
    "exp": Spec(*unary(np.exp)),
    "log": Spec(*unary(np.log, **POSITIVE)),
    "sqrt": Spec(*unary(np.sqrt, **POSITIVE)),
    "abs": Spec(*unary(np.abs, **AWAY_FROM_ZERO)),
    "tanh": Spec(*unary(np.tanh)),
    "sin": Spec(*unary(np.sin)),
    "cos": Spec(*unary(np.cos)),
    "square": Spec(*unary(np.square), Case("method", [Arg((2, 3))], np.square,
                                           call=lambda op, x: x.square())),
    "rsqrt": Spec(*unary(lambda x: 1 / np.sqrt(x), **POSITIVE)),
    "clone": Spec(*unary(np.copy), Case("method_then_scale", [Arg((2, 3))], lambda x: 2 * x,
                                        call=lambda op, x: x.clone() * 2)),
    "remainder": Spec(
        # |a / b| stays between 1.09 and 1.8: floor(a / b) is constant near every input
        Case("same_shape", [Arg((3, 4), low=1.2, high=1.8, signed=True),
                            Arg((3, 4), low=1.0, high=1.1, signed=True)], np.remainder),
        Case("broadcast", [Arg((2, 1, 3), low=1.2, high=1.8, signed=True),
                           Arg((4, 3), low=1.0, high=1.1, signed=True)], np.remainder),
        Case("python_scalar", [Arg((2, 3), low=1.55, high=1.95, signed=True), 0.7], np.remainder),
        Case("operator", [Arg((2, 3), low=1.55, high=1.95, signed=True)],
             lambda x: np.remainder(x, 0.7), call=lambda op, x: x % 0.7),
    ),
    "sigmoid": Spec(*unary(np_sigmoid),
                    Case("large", [Arg(values=[-40.0, -5.0, 5.0, 40.0])], np_sigmoid)),
    "relu": Spec(*unary(lambda x: np.where(x > 0, x, 0.0), **AWAY_FROM_ZERO)),
    "erf": Spec(*unary(np_erf),
                Case("both_expansions_and_tails",
                     [Arg(values=[-27.0, -5.5, -4.0, -3.99, -1.0, -0.01, 0.0, 0.3, 2.5, 4.2, 9.0])],
                     np_erf)),
    "gelu": Spec(*unary(np_gelu),
                 Case("tails", [Arg(values=[-12.0, -6.0, -3.5, -0.5, 0.5, 3.5, 6.0])], np_gelu),
                 Case("tanh_matrix", [Arg((3, 4))], np_gelu, kwargs=dict(approximate="tanh")),
                 Case("tanh_scalar_0d", [Arg(())], np_gelu, kwargs=dict(approximate="tanh"))),
    "where": Spec(
        Case("same_shape", [Const(MASK_3x4), Arg((3, 4)), Arg((3, 4))], np.where),
        Case("broadcast_all", [Const(np.array([[True], [False]])), Arg((3, 1, 4)),
                               Arg((2, 4))], np.where),
        Case("scalar_branch", [Const(MASK_3x4), Arg((3, 4)), 0.0], np.where),
    ),
    "clip": Spec(
        Case("both", [Arg((3, 4))], np.clip, kwargs=dict(min=-0.5, max=0.7)),
        Case("min_only", [Arg((3, 4))], lambda x, min: np.maximum(x, min), kwargs=dict(min=0.1)),
        Case("max_only", [Arg((3, 4))], lambda x, max: np.minimum(x, max), kwargs=dict(max=0.1)),
    ),
    "clamp": Spec(
        Case("both", [Arg((3, 4))], np.clip, kwargs=dict(min=-0.5, max=0.7)),
        Case("min_only_method", [Arg((3, 4))], lambda x: np.maximum(x, 0.1),
             call=lambda op, x: x.clamp(min=0.1)),
        Case("tensor_bounds_broadcast", [Arg((3, 4)), Arg((4,), low=-0.8, high=-0.1),
                                         Arg((3, 1), low=0.1, high=0.8)], np.clip),
    ),
    "index_put": Spec(
        Case("int", [Arg((3, 4)), (1,), Arg((4,))], np_index_put),
        Case("slices_broadcast_values", [Arg((3, 4)), (slice(None), slice(1, 3)), Arg((3, 1))],
             np_index_put),
        Case("python_number", [Arg((3, 4)), (slice(None), 0), 2.5], np_index_put),
        Case("bool_mask", [Arg((3, 4)), (MASK_3x4,), Arg((int(MASK_3x4.sum()),))], np_index_put),
        Case("int_arrays_accumulate_repeated", [Arg((3, 4)), (np.array([0, 2, 0]), np.array([1, 1, 1])),
                                                Arg((3,))], np_index_put,
             kwargs=dict(accumulate=True)),
        Case("values_only_require_grad", [Arg((2, 3), grad=False), (0,), Arg((3,))], np_index_put),
        Case("setitem", [Arg((3, 4)), Arg((4,))], lambda x, v: np_index_put(x, (1,), 2 * v),
             call=lambda op, x, v: _setitem(x * 1.0, 1, v * 2)),
    ),
    "masked_fill": Spec(
        Case("same_shape", [Arg((3, 4)), Const(MASK_3x4), -30.0], np_masked_fill),
        Case("broadcast_mask", [Arg((2, 3, 4)), Const(MASK_3x4[:1]), 0.5], np_masked_fill),
    ),
    # A float32 round trip cannot be checked against finite differences in float64;
    # test_cast_gives_each_gradient_its_input_dtype below checks that one.
    "cast": Spec(
        Case("float64_to_float64", [Arg((3, 4)), tt.float64], lambda x, dtype: x.astype(dtype)),
        Case("dtype_by_name", [Arg((2, 3))], lambda x, dtype: x, kwargs=dict(dtype="float64")),
    ),
    "to_device": Spec(
        Case("to_its_own_device", [Arg((3, 4))], lambda x: x, call=lambda op, x: op(x, x.device)),
        Case("to_cuda_and_back", [Arg((2, 3))], lambda x: x,
             call=lambda op, x: op(op(x, "cuda"), x.device), marks=CUDA_ONLY),
    ),
    # -- reductions ---------------------------------------------------------
    "sum": Spec(*reductions(lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims))),
    "mean": Spec(*reductions(lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims))),
    "amax": Spec(
        *reductions(lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims)),
        Case("two_way_ties", [Arg(values=[[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])],
             lambda x, axis: np.max(x, axis=axis), kwargs=dict(axis=1), gradgrad=False,
             why_no_gradgrad=NO_TIES),
    ),
    "amin": Spec(
        *reductions(lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims)),
        Case("two_way_ties", [Arg(values=[[1.0, -3.0, -3.0], [2.0, 0.5, 0.5]])],
             lambda x, axis: np.min(x, axis=axis), kwargs=dict(axis=-1), gradgrad=False,
             why_no_gradgrad=NO_TIES),
    ),
    # max/min: whole tensor (ties share), (values, indices) along a dim, and elementwise.
    "max": Spec(
        Case("whole", [X234], np.max),
        Case("dim_values", [X234], lambda x, **_: np.max(x, axis=1), call=values_call, kwargs=dict(dim=1)),
        Case("dim_keepdim", [X234], lambda x, **_: np.max(x, axis=-1, keepdims=True),
             call=values_call, kwargs=dict(dim=-1, keepdim=True)),
        Case("method_axis_alias", [X234], lambda x: np.max(x, axis=0),
             call=lambda op, x: x.max(axis=0).values),
        Case("elementwise", [Arg((3, 4)), Arg((3, 4))], np.maximum),
    ),
    "min": Spec(
        Case("whole", [X234], np.min),
        Case("dim_values", [X234], lambda x, **_: np.min(x, axis=2), call=values_call, kwargs=dict(dim=2)),
        Case("dim_keepdim", [X234], lambda x, **_: np.min(x, axis=0, keepdims=True),
             call=values_call, kwargs=dict(dim=0, keepdim=True)),
        Case("elementwise", [Arg((3, 4)), Arg((3, 4))], np.minimum),
    ),
    "var": Spec(
        *reductions(lambda x, axis, keepdims: np.var(x, axis=axis, keepdims=keepdims, ddof=1)),
        *(Case(f"correction={c}-axis={axis}", [X234],
               lambda x, axis, correction: np.var(x, axis=axis, ddof=correction),
               kwargs=dict(axis=axis, correction=c))
          for c in (0, 1) for axis in (None, -1, (0, 1))),
    ),
    "std": Spec(
        Case("all", [X234], lambda x: np.std(x, ddof=1)),
        Case("dim_keepdim", [X234], lambda x, **_: np.std(x, axis=1, ddof=1, keepdims=True),
             kwargs=dict(dim=1, keepdim=True)),
        Case("unbiased_false_dims", [X234], lambda x, **_: np.std(x, axis=(0, 2)),
             kwargs=dict(dim=(0, 2), unbiased=False)),
        Case("correction_2", [X234], lambda x, **_: np.std(x, axis=-1, ddof=2),
             kwargs=dict(dim=-1, correction=2)),
    ),
    "prod": Spec(
        Case("all", [Arg((2, 3), low=0.5, high=1.5, signed=True)], np.prod),
        Case("dim", [X234], lambda x, **_: np.prod(x, axis=1), kwargs=dict(dim=1)),
        Case("dim_keepdim", [X234], lambda x, **_: np.prod(x, axis=-1, keepdims=True),
             kwargs=dict(dim=-1, keepdim=True)),
        Case("one_zero", [Arg(values=[[2.0, 0.0, 3.0], [1.5, -1.0, 0.5]])],
             lambda x, **_: np.prod(x, axis=1), kwargs=dict(dim=1)),
        Case("two_zeros", [Arg(values=[[0.0, 2.0, 0.0], [1.5, -1.0, 0.5]])],
             lambda x, **_: np.prod(x, axis=1), kwargs=dict(dim=1), gradgrad=False,
             why_no_gradgrad="with two zeros in a slice the second derivative between the "
                             "zeros is nonzero, which the zero-aware backward does not model"),
        Case("zero_all", [Arg(values=[1.5, 0.0, -2.0, 0.5])], np.prod),
    ),
    "cumsum": Spec(
        Case("dim_1", [X234, 1], lambda x, d: np.cumsum(x, axis=d)),
        Case("dim_negative", [X234], lambda x, dim, **_: np.cumsum(x, axis=dim), kwargs=dict(dim=-1)),
        Case("method", [Arg((5,))], np.cumsum, call=lambda op, x: x.cumsum(0)),
    ),
    "norm": Spec(
        Case("p2_all", [Arg((3, 4))], lambda x: np.sqrt(np.sum(x * x))),
        Case("p2_dim_keepdim", [X234], lambda x, **_: np.sqrt(np.sum(x * x, axis=-1, keepdims=True)),
             kwargs=dict(dim=-1, keepdim=True)),
        Case("p1_dim", [Arg((3, 4), **AWAY_FROM_ZERO)], lambda x, **_: np.sum(np.abs(x), axis=1),
             kwargs=dict(p=1, dim=1)),
        Case("p_inf", [Arg(values=[[1.0, -3.0, 2.0], [0.5, 0.25, -0.75]])],
             lambda x, **_: np.max(np.abs(x), axis=1), kwargs=dict(p=math.inf, dim=1)),
        Case("p_minus_inf", [Arg(values=[[1.0, -3.0, 2.0], [0.5, 0.25, -0.75]])],
             lambda x, **_: np.min(np.abs(x)), kwargs=dict(p=-math.inf)),
        Case("p3_dims", [Arg((2, 3, 4), **AWAY_FROM_ZERO)],
             lambda x, **_: np.sum(np.abs(x) ** 3, axis=(0, 2)) ** (1 / 3), kwargs=dict(p=3, dim=(0, 2))),
        Case("p2_zero_row", [Arg(values=[[0.0, 0.0, 0.0], [3.0, -4.0, 1.0]])],
             lambda x, **_: np.sqrt(np.sum(x * x, axis=1)), kwargs=dict(dim=1), gradgrad=False,
             why_no_gradgrad="the 2-norm has a kink at 0: its gradient jumps there"),
        Case("p3_zero_row_and_entry", [Arg(values=[[0.0, 0.0, 0.0], [1.0, 0.0, -2.0]])],
             lambda x, **_: np.sum(np.abs(x) ** 3, axis=1) ** (1 / 3), kwargs=dict(p=3, dim=1),
             gradgrad=False, why_no_gradgrad="the 3-norm has a kink at 0: its gradient jumps there"),
        Case("p0_counts_nonzeros", [Arg(values=[[0.0, 1.5, 0.0], [1.0, 0.0, -2.0]])],
             lambda x, **_: np.sum(x != 0, axis=1).astype(float), kwargs=dict(p=0, dim=1)),
    ),
    "sort": Spec(
        Case("last_dim", [X234], lambda x: np.sort(x, axis=-1), call=values_call),
        Case("dim_0_descending", [X234], lambda x, **_: -np.sort(-x, axis=0), call=values_call,
             kwargs=dict(dim=0, descending=True)),
    ),
    "topk": Spec(
        Case("largest_2", [X234, 2], lambda x, k: -np.sort(-x, axis=-1)[..., :k], call=values_call),
        Case("smallest_dim_1", [X234, 2], lambda x, k, dim, largest, **_: np.sort(x, axis=1)[:, :k],
             call=values_call, kwargs=dict(dim=1, largest=False)),
    ),
    "logsumexp": Spec(
        *reductions(lambda x, axis, keepdims: np.logaddexp.reduce(x, axis=axis, keepdims=keepdims)),
        Case("neg_inf_entries", [Arg(values=NEG_INF_ROWS)],
             lambda x, axis: np.logaddexp.reduce(x, axis=axis), kwargs=dict(axis=-1)),
        Case("huge_values", [Arg(values=[[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1001.0]])],
             lambda x, axis: np.logaddexp.reduce(x, axis=axis), kwargs=dict(axis=1)),
    ),
    # -- shape --------------------------------------------------------------
    "reshape": Spec(
        Case("2x3x4_to_4x6", [X234, (4, 6)], np.reshape),
        Case("minus_one", [X234, (-1, 2)], np.reshape),
        Case("to_scalar", [Arg((1, 1)), ()], np.reshape),
    ),
    "permute": Spec(
        Case("2_0_1", [X234, (2, 0, 1)], np.transpose),
        Case("varargs_negative", [X234], lambda x: np.transpose(x, (2, 0, 1)),
             call=lambda op, x: op(x, -1, 0, -2)),
        Case("method", [X234], lambda x: np.transpose(x, (1, 2, 0)),
             call=lambda op, x: x.permute(1, 2, 0)),
        Case("method_T", [Arg((3, 4))], np.transpose, call=lambda op, x: x.T),
    ),
    # transpose(dim0, dim1) swaps two dims, as torch (and swapaxes, swapdims).
    "transpose": Spec(
        Case("0_2", [X234, 0, 2], np.swapaxes),
        Case("negative", [X234, -1, -2], np.swapaxes),
        Case("method_2d", [Arg((3, 4))], np.transpose, call=lambda op, x: x.transpose(0, 1)),
        Case("swapaxes_method", [X234], lambda x: np.swapaxes(x, 0, 1),
             call=lambda op, x: x.swapaxes(0, 1)),
    ),
    "squeeze": Spec(
        Case("all", [Arg((1, 3, 1, 4))], np.squeeze),
        Case("axis_2", [Arg((1, 3, 1, 4)), 2], np.squeeze),
        Case("axis_negative", [Arg((1, 3, 1, 4)), -4], np.squeeze),
        Case("dim_not_one_is_a_no_op", [Arg((1, 3, 1, 4)), 1], lambda x, d: x),
        Case("dims_tuple", [Arg((1, 3, 1, 4))], lambda x, dim: np.squeeze(x, axis=(0, 2)),
             kwargs=dict(dim=(0, 2))),
    ),
    "unsqueeze": Spec(
        Case("front", [Arg((3, 4)), 0], np.expand_dims),
        Case("middle", [Arg((3, 4)), 1], np.expand_dims),
        Case("end_negative", [Arg((3, 4)), -1], lambda x, a: x[..., None]),
    ),
    "broadcast_to": Spec(
        Case("3x1_to_2x3x4", [Arg((3, 1)), (2, 3, 4)], np.broadcast_to),
        Case("minus_one_keeps", [Arg((3, 1)), (2, -1, 4)],
             lambda x, s: np.broadcast_to(x, (2, 3, 4))),
        Case("method_expand", [Arg((1, 4))], lambda x: np.broadcast_to(x, (3, 4)),
             call=lambda op, x: x.expand(3, 4)),
        Case("scalar", [Arg(()), (2, 3)], np.broadcast_to),
    ),
    "sum_to": Spec(
        Case("2x3x4_to_3x1", [X234, (3, 1)], np_sum_to),
        Case("2x3x4_to_1x4", [X234, (1, 4)], np_sum_to),
        Case("2x3x4_to_scalar", [X234, ()], np_sum_to),
        Case("2x3x4_to_2x1x4", [X234, (2, 1, 4)], np_sum_to),
    ),
    "cat": Spec(
        Case("axis_0", [Arg((1, 3)), Arg((2, 3)), Arg((3, 3))],
             lambda *xs, axis: np.concatenate(xs, axis=axis), kwargs=dict(axis=0), call=list_call),
        Case("axis_-1", [Arg((2, 1, 2)), Arg((2, 1, 3))],
             lambda *xs, axis: np.concatenate(xs, axis=axis), kwargs=dict(axis=-1), call=list_call),
        Case("one_input_without_grad", [Arg((2, 2)), Arg((1, 2), grad=False)],
             lambda *xs: np.concatenate(xs), call=list_call),
    ),
    "stack": Spec(
        Case("axis_0", [Arg((2, 3)), Arg((2, 3)), Arg((2, 3))],
             lambda *xs, axis: np.stack(xs, axis=axis), kwargs=dict(axis=0), call=list_call),
        Case("axis_-1", [Arg((2, 3)), Arg((2, 3))],
             lambda *xs, axis: np.stack(xs, axis=axis), kwargs=dict(axis=-1), call=list_call),
        Case("axis_1", [Arg((2, 3)), Arg((2, 3))],
             lambda *xs, axis: np.stack(xs, axis=axis), kwargs=dict(axis=1), call=list_call),
    ),
    "repeat": Spec(
        Case("2x3_by_2_1_3", [Arg((2, 3))], lambda x: np.tile(x, (2, 1, 3)),
             call=lambda op, x: op(x, 2, 1, 3)),
        Case("tuple", [X234, (1, 2, 1)], np.tile),
        Case("method", [Arg((3,))], lambda x: np.tile(x, (2, 2)), call=lambda op, x: x.repeat(2, 2)),
    ),
    "flip": Spec(
        Case("dims_0_2", [X234, (0, 2)], lambda x, d: np.flip(x, axis=d)),
        Case("method_varargs", [X234], lambda x: x[:, ::-1], call=lambda op, x: x.flip(1)),
        Case("negative", [X234], lambda x: x[..., ::-1], call=lambda op, x: op(x, -1)),
    ),
    "unbind": Spec(
        Case("dim_0", [Arg((3, 2))], lambda x: list(x)),
        Case("dim_1", [X234], lambda x, dim: [x[:, i] for i in range(3)], kwargs=dict(dim=1)),
    ),
    "split": Spec(
        Case("size_2_uneven", [Arg((5, 3)), 2], np_split),
        Case("sizes_list_axis_-1", [Arg((2, 6)), [1, 3, 2]], np_split, kwargs=dict(axis=-1)),
        Case("method", [Arg((4, 2))], lambda x: np_split(x, 1, axis=1),
             call=lambda op, x: x.split(1, axis=1)),
    ),
    "chunk": Spec(
        Case("3_chunks_of_7", [Arg((7, 2)), 3], lambda x, c: np.split(x, [3, 6])),
        Case("4_chunks_of_6", [Arg((6,)), 4], lambda x, c: np.split(x, [2, 4])),
        Case("2_chunks_axis_1", [Arg((2, 4)), 2], lambda x, c, axis: np.split(x, [2], axis=1),
             kwargs=dict(axis=1)),
    ),
    "flatten": Spec(
        Case("all", [X234], np_flatten),
        Case("start_1", [X234, 1], np_flatten),
        Case("0_to_1", [X234, 0, 1], np_flatten),
        Case("method", [X234], lambda x: x.reshape(2, 12), call=lambda op, x: x.flatten(1)),
    ),
    # -- indexing -----------------------------------------------------------
    "getitem": Spec(
        *(Case(name, [X234], lambda x, index=index: x[index],
               call=lambda op, x, index=index: op(x, index))
          for name, index in [
              ("int", 1), ("ints", (1, -1)),
              ("slices", (slice(None), slice(1, None), slice(None, None, 2))),
              ("none", (None, slice(None), 1)), ("ellipsis", (Ellipsis, 1)),
              ("ellipsis_none", (0, Ellipsis, None)),
              ("int_array_repeated", np.array([0, 1, 0, 0])),
              ("int_array_2d_repeated_axis_2",
               (slice(None), slice(None), np.array([[3, 3], [0, 3]]))),
              ("int_arrays_pairs_repeated", (np.array([0, 0, 1, 0]), np.array([2, 2, 0, 2]))),
              ("negative_repeated", (slice(None), np.array([-1, 2, 0]))),
              ("list_repeated", [1, 1, 0]),
              ("bool_mask_leading", np.array([[True, False, True], [False, True, True]])),
              ("bool_mask_full", np.arange(24).reshape(2, 3, 4) % 3 == 1),
              ("bool_mask_axis_1", (slice(None), np.array([True, False, True]))),
          ]),
        Case("method_syntax", [X234], lambda x: x[1:, np.array([0, 0, 2]), ::-1],
             call=lambda op, x: x[1:, np.array([0, 0, 2]), ::-1]),
        Case("index_is_a_tensor", [X234, Const(np.array([1, 1, 0]))], lambda x, i: x[i],
             call=lambda op, x, i: x[i]),
    ),
    "gather": Spec(
        Case("dim_1", [Arg((2, 3)), 1, Const(GATHER_IDX)], np_gather),
        Case("dim_0_smaller_index", [Arg((3, 4)), 0, Const(np.array([[2, 0], [2, 1]]))], np_gather),
        Case("method", [X234], lambda x: np_gather(x, -1, GATHER_IDX_3D),
             call=lambda op, x: x.gather(-1, tt.tensor(GATHER_IDX_3D, device=x.device))),
    ),
    "scatter": Spec(
        Case("src_dim_1", [Arg((2, 4)), 1, Const(SCATTER_IDX), Arg((2, 2))], np_scatter),
        Case("src_larger_dim_0", [Arg((3, 2)), 0, Const(np.array([[2, 0]])), Arg((2, 3))],
             np_scatter),
        Case("value", [Arg((2, 4)), 1, Const(SCATTER_IDX)], lambda x, d, i, value:
             np_scatter(x, d, i, np.full(i.shape, value)), kwargs=dict(value=-2.5)),
    ),
    "scatter_add": Spec(
        Case("repeated_dim_1", [Arg((2, 3)), 1, Const(REPEATED_IDX), Arg((2, 4))], np_scatter_add),
        Case("dim_0", [Arg((3, 2)), 0, Const(np.array([[2, 2], [0, 2]])), Arg((2, 2))],
             np_scatter_add),
    ),
    "index_select": Spec(
        Case("dim_1_repeated", [X234, 1, Const(np.array([2, 0, 2]))],
             lambda x, d, i: np.take(x, i, axis=d)),
        Case("dim_0", [Arg((4, 2)), 0, Const(np.array([3, 1]))], lambda x, d, i: x[i]),
        Case("method_negative_dim", [X234], lambda x: x[..., [3, 3]],
             call=lambda op, x: x.index_select(-1, tt.tensor([3, 3], device=x.device))),
    ),
    "embedding": Spec(
        Case("repeated_ids", [Const(INT_IDS), Arg((5, 3))], lambda ids, w: w[ids]),
        Case("ids_as_list", [[3, 3, 0], Arg((4, 2))], lambda ids, w: w[np.array(ids)]),
        fused=True,
    ),
    # -- linear algebra -----------------------------------------------------
    "matmul": Spec(
        Case("1d_1d", [Arg((4,)), Arg((4,))], np.matmul),
        Case("1d_2d", [Arg((4,)), Arg((4, 3))], np.matmul),
        Case("2d_1d", [Arg((3, 4)), Arg((4,))], np.matmul),
        Case("2d_2d", [Arg((3, 4)), Arg((4, 2))], np.matmul),
        Case("batched_broadcast", [Arg((2, 1, 3, 4)), Arg((5, 4, 2))], np.matmul),
        Case("1d_3d", [Arg((4,)), Arg((2, 4, 3))], np.matmul),
        Case("3d_1d", [Arg((2, 3, 4)), Arg((4,))], np.matmul),
        Case("operator", [Arg((2, 3)), Arg((3, 2))], np.matmul, call=lambda op, a, b: a @ b),
    ),
    "mm": Spec(
        Case("2d_2d", [Arg((3, 4)), Arg((4, 2))], lambda a, b: a @ b),
        Case("method", [Arg((2, 3)), Arg((3, 3))], lambda a, b: a @ b, call=lambda op, a, b: a.mm(b)),
    ),
    "bmm": Spec(
        Case("3d_3d", [Arg((2, 3, 4)), Arg((2, 4, 2))], lambda a, b: np.stack([a[i] @ b[i] for i in range(2)])),
    ),
    "einsum": Spec(
        Case("batched_matmul", [Arg((2, 3, 4)), Arg((2, 4, 2))], np.matmul,
             call=lambda op, a, b: op("bij,bjk->bik", a, b)),
        Case("trace", [Arg((3, 3))], np.trace, call=lambda op, a: op("ii->", a)),
        Case("diagonal", [Arg((3, 3))], np.diagonal, call=lambda op, a: op("ii->i", a)),
        Case("outer_implicit", [Arg((3,)), Arg((4,))], np.outer, call=lambda op, a, b: op("i,j", a, b)),
        Case("transpose_implicit", [Arg((2, 3))], np.transpose, call=lambda op, a: op("ji", a)),
        Case("sum_out_a_letter", [Arg((2, 3)), Arg((4,))], lambda a, b: a.sum(1)[:, None] * b,
             call=lambda op, a, b: op("ij,k->ik", a, b)),
        Case("trace_times_vector", [Arg((3, 3)), Arg((4,))], lambda a, b: np.trace(a) * b,
             call=lambda op, a, b: op("ii,j->j", a, b)),
        Case("ellipsis_list", [X234, Arg((4,))], lambda a, b: a @ b,
             call=lambda op, a, b: op("...j,j->...", [a, b])),
        Case("same_tensor_twice", [Arg((3,))], lambda a: np.dot(a, a),
             call=lambda op, a: op("i,i->", a, a)),
    ),
    # -- neural-network functions --------------------------------------------
    "softmax": Spec(
        Case("last_axis", [Arg((3, 4)), -1], np_softmax),
        Case("axis_0", [X234, 0], np_softmax),
        Case("huge_logits", [Arg(values=[[1e4, 0.0, -1e4, 1e4 - 1], [-1e4, -1e4 + 2, 3.0, -1e4]]),
                             -1], np_softmax),
        Case("neg_inf_rows", [Arg(values=NEG_INF_ROWS + [[-np.inf] * 4]), 1], np_softmax),
        Case("axis_alias", [X234], np_softmax, kwargs=dict(axis=1)),
        fused=True,
    ),
    "log_softmax": Spec(
        Case("last_axis", [Arg((3, 4)), -1], np_log_softmax),
        Case("axis_1", [X234, 1], np_log_softmax),
        Case("huge_logits", [Arg(values=[[1e4, 0.0, -1e4, 1e4 - 1], [-1e4, -1e4 + 2, 3.0, -1e4]]),
                             -1], np_log_softmax),
        fused=True,
    ),
    "cross_entropy": Spec(
        *(Case(f"reduction={r}", [Arg((4, 5)), Const(np.array([1, 0, 4, 1]))], np_cross_entropy,
               kwargs=dict(reduction=r)) for r in ("mean", "sum", "none")),
        *(Case(f"ignore_index-{r}", [Arg((4, 5)), Const(np.array([1, -100, 4, -100]))],
               np_cross_entropy, kwargs=dict(reduction=r)) for r in ("mean", "sum", "none")),
        Case("ignore_index_is_a_class", [Arg((4, 3)), Const(np.array([1, 0, 2, 1]))],
             np_cross_entropy, kwargs=dict(ignore_index=1)),
        *(Case(f"label_smoothing-{r}", [Arg((4, 5)), Const(np.array([1, -100, 4, 0]))],
               np_cross_entropy, kwargs=dict(label_smoothing=0.1, reduction=r))
          for r in ("mean", "sum", "none")),
        # torch's (N, C, d1) layout, the class dim second, with C == d1 so that taking
        # the class dim last would give another number of the right shape.
        Case("NCd_logits_C_equals_d", [Arg((2, 3, 3)), Const(np.array([[0, 2, -100], [1, 1, 0]]))],
             np_cross_entropy),
        Case("NCd1d2_none_smoothing",
             [Arg((2, 3, 2, 2)), Const(np.array([[[0, 2], [-100, 1]], [[1, 1], [0, 2]]]))],
             np_cross_entropy, kwargs=dict(reduction="none", label_smoothing=0.2)),
        Case("C_one_sample", [Arg((4,)), Const(np.array(2))], np_cross_entropy),
        Case("C_one_sample_none", [Arg((4,)), Const(np.array(3))], np_cross_entropy,
             kwargs=dict(reduction="none")),
        *(Case(f"weight_ignore_smoothing-{r}",
               [Arg((2, 3, 4)), Const(np.array([[0, 2, 1, 1], [1, 2, 0, 2]])),
                Const(np.array([0.2, 1.0, 2.5]))],
               np_cross_entropy, kwargs=dict(ignore_index=1, label_smoothing=0.3, reduction=r))
          for r in ("mean", "sum", "none")),
        Case("weight_NC", [Arg((4, 3)), Const(np.array([1, 0, 2, 1])),
                           Const(np.array([0.5, 2.0, 1.5]))], np_cross_entropy),
        *(Case(f"probabilities-{r}", [Arg((4, 3)), Arg((4, 3), low=0.0, high=1.0)],
               np_cross_entropy, kwargs=dict(reduction=r)) for r in ("mean", "sum", "none")),
        Case("probabilities_NCd_weight_smoothing",
             [Arg((2, 3, 2)), Arg((2, 3, 2), low=0.0, high=1.0), Const(np.array([0.2, 1.0, 2.5]))],
             np_cross_entropy, kwargs=dict(label_smoothing=0.1)),
        Case("huge_logits",
             [Arg(values=[[1e4, -1e4, 0.0], [0.0, 1e4, 1e4]]), Const(np.array([1, 2]))],
             np_cross_entropy),
        fused=True,
    ),
    "nll_loss": Spec(
        *(Case(f"NC-{r}", [Arg((4, 5)), Const(np.array([1, 0, 4, 1]))], np_nll_loss,
               kwargs=dict(reduction=r)) for r in ("mean", "sum", "none")),
        Case("NCd_weight_ignore", [Arg((2, 3, 4)), Const(np.array([[0, 2, 1, 1], [1, 2, 0, 2]])),
                                   Const(np.array([0.2, 1.0, 2.5]))], np_nll_loss,
             kwargs=dict(ignore_index=2)),
        Case("C_one_sample", [Arg((4,)), Const(np.array(2))], np_nll_loss),
    ),
    "layer_norm": Spec(
        Case("weight_and_bias", [X234, (4,), Arg((4,)), Arg((4,))], np_layer_norm),
        Case("no_weight_no_bias", [Arg((3, 5)), (5,)], np_layer_norm),
        Case("weight_only", [Arg((3, 5)), (5,), Arg((5,))], np_layer_norm),
        Case("bias_only_eps", [Arg((3, 5)), (5,), None, Arg((5,))], np_layer_norm,
             kwargs=dict(eps=1e-3)),
        Case("two_trailing_dims", [X234, (3, 4), Arg((3, 4)), Arg((3, 4))], np_layer_norm),
        fused=True,
    ),
    "add_layer_norm": Spec(
        Case("weight_and_bias", [X234, Arg((2, 3, 4)), (4,), Arg((4,)), Arg((4,))],
             np_add_layer_norm),
        Case("no_weight_no_bias_eps", [Arg((3, 5)), Arg((3, 5)), (5,)], np_add_layer_norm,
             kwargs=dict(eps=1e-3)),
        Case("dropout_seeded", [X234, Arg((2, 3, 4)), (4,), Arg((4,)), Arg((4,))],
             check=check_add_layer_norm_dropout(0.4), kwargs=dict(dropout_p=0.4),
             call=seeded(default_call)),
        fused=True,
    ),
    "dropout": Spec(
        Case("train_p=0.3_seeded", [Arg((6, 5)), 0.3], check=check_dropout(0.3),
             call=seeded(default_call)),
        Case("train_p=0.6_seeded", [Arg((6, 5))], check=check_dropout(0.6),
             kwargs=dict(p=0.6, training=True), call=seeded(default_call)),
        Case("eval_is_identity", [Arg((3, 4))], lambda x, p, training: x,
             kwargs=dict(p=0.5, training=False)),
        Case("p=0_is_identity", [Arg((3, 4))], lambda x, p: x, kwargs=dict(p=0.0)),
        Case("p=1_is_zero", [Arg((3, 4))], lambda x, p: 0 * x, kwargs=dict(p=1.0)),
    ),
    "relu_dropout": Spec(
        Case("train_p=0.3_seeded", [Arg((6, 5), **AWAY_FROM_ZERO), 0.3],
             check=check_relu_dropout(0.3), call=seeded(default_call)),
        Case("train_p=0.6_3d_seeded", [Arg((2, 4, 5), **AWAY_FROM_ZERO)],
             check=check_relu_dropout(0.6), kwargs=dict(p=0.6, training=True),
             call=seeded(default_call)),
        fused=True,
    ),
    "mse_loss": Spec(
        *(Case(f"reduction={r}", [Arg((3, 4)), Arg((3, 4), grad=grad_target)], np_mse,
               kwargs=dict(reduction=r))
          for r, grad_target in (("mean", True), ("sum", False), ("none", True))),
    ),
    "l1_loss": Spec(
        *(Case(f"reduction={r}", [Arg((3, 4)), Arg((3, 4), grad=grad_target)], np_l1,
               kwargs=dict(reduction=r))
          for r, grad_target in (("mean", True), ("sum", False), ("none", True))),
    ),
    "logsigmoid": Spec(
        *unary(lambda x: -np.logaddexp(0.0, -x)),
        Case("plus_minus_100", [Arg(values=[-100.0, -30.0, 0.0, 30.0, 100.0])],
             lambda x: -np.logaddexp(0.0, -x)),
    ),
    "binary_cross_entropy_with_logits": Spec(
        *(Case(f"reduction={r}",
               [Arg((3, 4), low=-4, high=4), Const(np.linspace(0, 1, 12).reshape(3, 4))],
               np_bce_with_logits, kwargs=dict(reduction=r)) for r in ("mean", "sum", "none")),
        Case("large_logits_numpy_targets",
             [Arg(values=[-50.0, -20.0, 0.0, 20.0, 50.0]), np.array([1.0, 0.0, 0.5, 1.0, 0.0])],
             np_bce_with_logits),
        Case("target_grad_weight_pos_weight",
             [Arg((3, 4), low=-4, high=4), Arg((3, 4), low=0.0, high=1.0), Const(np.full(4, 0.5))],
             np_bce_with_logits, kwargs=dict(pos_weight=np.array([1.0, 2.0, 0.5, 3.0]))),
    ),
    "binary_cross_entropy": Spec(
        *(Case(f"reduction={r}", [Arg((3, 4), low=0.05, high=0.95), Arg((3, 4), low=0.0, high=1.0)],
               np_bce, kwargs=dict(reduction=r)) for r in ("mean", "sum", "none")),
        Case("weight", [Arg((3, 4), low=0.05, high=0.95), Const(np.linspace(0, 1, 12).reshape(3, 4)),
                        Const(np.array([1.0, 0.5, 2.0, 0.0]))], np_bce),
    ),
    "linear": Spec(
        Case("2d_bias", [Arg((3, 4)), Arg((2, 4)), Arg((2,))], lambda x, w, b: x @ w.T + b),
        Case("3d_bias", [X234, Arg((5, 4)), Arg((5,))], lambda x, w, b: x @ w.T + b),
        Case("no_bias", [X234, Arg((5, 4))], lambda x, w: x @ w.T),
        Case("1d_input", [Arg((4,)), Arg((3, 4)), Arg((3,))], lambda x, w, b: w @ x + b),
    ),
    "scaled_dot_product_attention": Spec(
        Case("plain", [Arg((2, 3, 4)), Arg((2, 5, 4)), Arg((2, 5, 3))], np_attention),
        Case("causal_mask", [Arg((2, 4, 3)), Arg((2, 4, 3)), Arg((2, 4, 2)), Const(CAUSAL)],
             np_attention),
        Case("padding_mask", [Arg((2, 2, 4)), Arg((2, 5, 4)), Arg((2, 5, 3)), Const(PADDING)],
             np_attention),
        Case("fully_masked_row", [Arg((3, 2)), Arg((3, 2)), Arg((3, 2)), Const(ONE_ROW_MASKED)],
             np_attention),
        Case("mask_wider_than_scores", [Arg((3, 4)), Arg((5, 4)), Arg((5, 2)),
                                        Const(WIDER_THAN_SCORES)], np_attention),
        Case("heads_4d_broadcast_mask", [Arg((2, 2, 4, 3)), Arg((2, 2, 4, 3)), Arg((2, 2, 4, 3)),
                                         Const(CAUSAL)], np_attention),
        Case("dropout_p_seeded", [Arg((2, 3, 4)), Arg((2, 4, 4)), Arg((2, 4, 3))],
             check=check_attention_dropout(0.4), kwargs=dict(dropout_p=0.4),
             call=seeded(default_call)),
        Case("is_causal_L_not_S", [Arg((2, 3, 4)), Arg((2, 5, 4)), Arg((2, 5, 3))], np_attention,
             kwargs=dict(is_causal=True)),
        Case("float_mask_with_grad", [Arg((2, 3, 4)), Arg((2, 5, 4)), Arg((2, 5, 3)), Arg((3, 5))],
             np_attention),
        Case("float_mask_constant_scale", [Arg((2, 3, 4)), Arg((2, 5, 4)), Arg((2, 5, 3)),
                                           Const(np.where(PADDING[0], 0.0, -np.inf))],
             np_attention, kwargs=dict(scale=0.3)),
        fused=True,
    ),
}


def np_packed_attention(qkv, *args, **kwargs):
    return np_attention(qkv[0], qkv[1], qkv[2], *args, **kwargs)


def check_packed_attention_dropout(p):
    """check_attention_dropout on the three parts of qkv."""
    def check(out, qkv, *, device, **kwargs):
        check_attention_dropout(p)(out, qkv[0], qkv[1], qkv[2], device=device, **kwargs)
    return check


SPECS["packed_attention"] = Spec(
    Case("plain", [Arg((3, 2, 4, 3))], np_packed_attention),
    Case("heads_causal_mask", [Arg((3, 2, 2, 4, 3)), Const(CAUSAL)], np_packed_attention),
    Case("is_causal_scale", [Arg((3, 2, 4, 3))], np_packed_attention,
         kwargs=dict(is_causal=True, scale=0.4)),
    Case("float_mask_with_grad", [Arg((3, 2, 4, 3)), Arg((4, 4))], np_packed_attention),
    Case("dropout_p_seeded", [Arg((3, 2, 4, 4))], check=check_packed_attention_dropout(0.4),
         kwargs=dict(dropout_p=0.4), call=seeded(default_call)),
    fused=True,
)


def test_attention_lays_out_heads_so_that_the_transformers_reshapes_are_views():
    """Layouts chosen so no copy is needed (issue 11): the heads' output (B, h, L, d) is
    stored as (B, L, h, d), so merging the heads is a view; packed attention's gradient is
    stored as its input is, so the gradient of the projection output (B, L, 3, h, d) that
    the packed (3, B, h, L, d) view came from arrives contiguous, with no copy."""
    B, h, L, d = 2, 3, 4, 5
    q, k, v = (tt.randn(B, h, L, d) for _ in range(3))
    y = tt.nn.functional.scaled_dot_product_attention(q, k, v)
    merged = y.permute(0, 2, 1, 3).reshape(B, L, h * d)
    assert np.shares_memory(merged.data, y.data)
    np.testing.assert_allclose(merged.numpy(),
                               np.ascontiguousarray(y.numpy().transpose(0, 2, 1, 3)).reshape(B, L, -1))
    projected = tt.randn(B, L, 3, h, d, requires_grad=True)
    tt.nn.functional.packed_attention(projected.permute(2, 0, 3, 1, 4)).sum().backward()
    assert projected.grad.data.flags.c_contiguous


def test_packed_attention_wants_three_parts_on_dim_0():
    with pytest.raises(ValueError, match=r"packed_attention: qkv must be \(3, \.\.\., L, E\).*"
                                         r"got shape \(2, 4, 3\)"):
        tt.nn.functional.packed_attention(tt.ones(2, 4, 3))
    with pytest.raises(ValueError, match=r"packed_attention: dropout_p must be in \[0, 1\)"):
        tt.nn.functional.packed_attention(tt.ones(3, 4, 3), dropout_p=1.0)


# -- Word2Vec's fused loss (tinytensor/ops/sampling.py) ------------------------------
def np_negative_sampling(inputs, centres, noise, windows, centre_weights, noise_weights,
                         scale=None, clip=np.inf):
    """Loop over every (block, centre word) and its noise words; each score limited
    to [-clip, clip]."""
    def score(h, u):
        return min(max(float(h @ u), -clip), clip)
    total = 0.0
    for b in range(inputs.shape[0]):
        for i in range(centres.shape[1]):
            h = windows[b, i] @ inputs[b] * (1.0 if scale is None else scale[b, i, 0])
            total += centre_weights[b, i] * np.logaddexp(0.0, -score(h, centres[b, i]))
            for m in range(noise.shape[1]):
                total += noise_weights[b, i, m] * np.logaddexp(0.0, score(h, noise[b, m]))
    return np.array(total)


def test_negative_sampling_clip_gives_scores_beyond_it_no_gradient():
    """gensim's MAX_EXP: the centre score 9 lies beyond clip 6, so its term is the constant
    -log sigmoid(6) and sends nothing back; the noise score 0.3 trains as without a clip."""
    x = tt.tensor([[[3.0, 0.0]]], requires_grad=True)             # h = x (one input, window 1)
    centre = tt.tensor([[[3.0, 0.0]]], requires_grad=True)        # score 9
    noise = tt.tensor([[[0.1, 0.0]]], requires_grad=True)         # score 0.3
    args = (x, centre, noise, np.ones((1, 1, 1)), np.ones((1, 1)), np.full((1, 1, 1), 0.5))
    loss = tt.nn.functional.negative_sampling_loss(*args, clip=6)
    np.testing.assert_allclose(loss.item(), np.logaddexp(0, -6) + 0.5 * np.logaddexp(0, 0.3),
                               rtol=1e-6)
    loss.backward()
    np.testing.assert_array_equal(centre.grad.numpy(), [[[0.0, 0.0]]])
    sigmoid = 1 / (1 + np.exp(-0.3))
    np.testing.assert_allclose(noise.grad.numpy(), [[[0.5 * sigmoid * 3.0, 0.0]]], rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), [[[0.5 * sigmoid * 0.1, 0.0]]], rtol=1e-6)
    centre.grad = None
    tt.nn.functional.negative_sampling_loss(*args).backward()          # no clip: a gradient
    assert centre.grad.numpy()[0, 0, 0] < 0
    for bad in (0, -6, float("nan")):
        with pytest.raises(ValueError, match=r"negative_sampling_loss: clip must be a positive "
                                             rf"number or None, got {bad}"):
            tt.nn.functional.negative_sampling_loss(*args, clip=bad)


NS_RNG = np.random.default_rng(7)
NS_WINDOWS = (NS_RNG.random((2, 3, 5)) < 0.6).astype(float)
SPECS["negative_sampling_loss"] = Spec(
    Case("cbow_blocks", [Arg((2, 5, 4)), Arg((2, 3, 4)), Arg((2, 6, 4)), Const(NS_WINDOWS),
                         Const(NS_RNG.uniform(0, 1, (2, 3))),
                         Const(NS_RNG.uniform(0, 2, (2, 3, 6)))], np_negative_sampling),
    Case("large_scores", [Arg((2, 5, 4), low=2, high=4, signed=True),
                          Arg((2, 3, 4), low=2, high=4, signed=True),
                          Arg((2, 6, 4), low=2, high=4, signed=True), Const(NS_WINDOWS),
                          Const(np.full((2, 3), 0.5)), Const(np.full((2, 3, 6), 1.5))],
         np_negative_sampling),
    # CBOW-mean's scale: the gradient of the input rows is straight through, not the exact
    # one (test_word2vec_losses compares it with the formula written with detach); the
    # output rows' gradients stay exact
    Case("mean_scale", [Arg((2, 5, 4), grad=False), Arg((2, 3, 4)), Arg((2, 6, 4)),
                        Const(NS_WINDOWS),
                                Const(np.ones((2, 3))), Const(np.full((2, 3, 6), 5 / 6)),
                                Const(1 / np.maximum(NS_WINDOWS.sum(2, keepdims=True), 1))],
         np_negative_sampling),
    # gensim's MAX_EXP: scores beyond the clip give no gradient (these inputs put 13 of
    # the 42 scores, 2 of them centre scores, outside [-3.5, 3.5], and none within 0.1 of
    # its ends, so the finite differences see no kink)
    Case("clip", [Arg((2, 5, 4)), Arg((2, 3, 4)), Arg((2, 6, 4)), Const(NS_WINDOWS),
                  Const(np.ones((2, 3))), Const(np.full((2, 3, 6), 0.5))],
         np_negative_sampling, kwargs=dict(clip=3.5)),
    fused=True,
)


def params(keep_spec=lambda spec: True, keep_case=lambda case: True):
    return [pytest.param(name, case, id=f"{name}-{case.id}", marks=case.marks)
            for name, spec in SPECS.items() if keep_spec(spec)
            for case in spec.cases if keep_case(case)]


CASES = params()
GRADGRAD_CASES = params(lambda spec: not spec.fused, lambda case: case.gradgrad)
FUSED_CASES = params(lambda spec: spec.fused)


def materialize(name, case, device):
    """The case's inputs: (NumPy values for the reference, arguments for the op)."""
    rng = np.random.default_rng(zlib.crc32(f"{name}-{case.id}".encode()))
    arrays, args = [], []
    for a in case.args:
        if isinstance(a, Arg):
            value = a.build(rng)
            arrays.append(value.copy())
            args.append(tt.tensor(value, device=device, requires_grad=a.grad))
        elif isinstance(a, Const):
            arrays.append(a.value)
            args.append(tt.tensor(a.value, device=device))
        else:
            arrays.append(a)
            args.append(a)
    return arrays, args


def run(name, case, args):
    return case.call(tt.OPS[name], *args, **case.kwargs)


def as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def differentiable_fn(name, case):
    return lambda *args: run(name, case, args)


# ----------------------------------------------------------------------------
# The table-driven tests
# ----------------------------------------------------------------------------
def test_every_registered_op_has_a_spec():
    assert set(SPECS) == set(tt.OPS)


def test_fused_flags_match_the_functions():
    """The table's fused=True entries are exactly the ops whose Function says
    twice_differentiable = False."""
    for name, spec in SPECS.items():
        case = spec.cases[0]
        _, args = materialize(name, case, "cpu")
        out = as_list(run(name, case, args))[0]
        assert out.grad_fn is not None, name
        assert (not out.grad_fn.twice_differentiable) == spec.fused, name


@pytest.mark.parametrize("name, case", CASES)
def test_forward_matches_numpy(name, case, device):
    arrays, args = materialize(name, case, device)
    out = run(name, case, args)
    if case.check is not None:
        case.check(out.numpy(), *arrays, device=device, **case.kwargs)
        return
    with np.errstate(divide="ignore", over="ignore"):
        expected = case.ref(*arrays, **case.kwargs)
    outs = as_list(out)
    expected = expected if isinstance(expected, list) else [expected]
    assert len(outs) == len(expected)
    for o, e in zip(outs, expected):
        e = np.asarray(e)
        assert o.shape == e.shape
        assert o.device == device
        assert o.dtype == np.float64
        np.testing.assert_allclose(o.numpy(), e, rtol=FWD_RTOL, atol=FWD_ATOL)


@pytest.mark.parametrize("name, case", CASES)
def test_gradcheck(name, case, device):
    _, args = materialize(name, case, device)
    assert tt.gradcheck(differentiable_fn(name, case), args)


@pytest.mark.parametrize("name, case", GRADGRAD_CASES)
def test_gradgradcheck(name, case, device):
    _, args = materialize(name, case, device)
    assert tt.gradgradcheck(differentiable_fn(name, case), args)


@pytest.mark.parametrize("name, case", FUSED_CASES)
def test_fused_ops_refuse_create_graph(name, case, device):
    _, args = materialize(name, case, device)
    inputs = [a for a in args if isinstance(a, tt.Tensor) and a.requires_grad]
    out = as_list(run(name, case, args))[0]
    with pytest.raises(RuntimeError, match=r"fused operation.*create_graph=True"):
        tt.grad(out.sum(), inputs, create_graph=True)
    # Without create_graph the same graph is fine.
    _, args = materialize(name, case, device)
    inputs = [a for a in args if isinstance(a, tt.Tensor) and a.requires_grad]
    grads = tt.grad(as_list(run(name, case, args))[0].sum(), inputs)
    assert all(g.shape == x.shape for g, x in zip(grads, inputs))


def test_cases_without_gradgradcheck_say_why():
    for name, spec in SPECS.items():
        for case in spec.cases:
            if not spec.fused and not case.gradgrad:
                assert case.why_no_gradgrad, f"{name}-{case.id}"


# ----------------------------------------------------------------------------
# The checkers themselves catch what they are meant to catch
# ----------------------------------------------------------------------------
class WrongSquare(tt.Function):
    def forward(self, x):
        return x * x

    def backward(self, gy):
        return gy * 3 * self.inputs[0]        # wrong: d(x^2)/dx is 2x


class SquareWithRawBackward(tt.Function):
    """Right first derivative, but computed on raw arrays: no graph for create_graph."""

    def forward(self, x):
        return x * x

    def backward(self, gy):
        return tt.Tensor(gy.data * 2 * self.inputs[0].data)


def test_gradcheck_catches_a_wrong_backward():
    x = tt.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    with pytest.raises(tt.GradcheckError, match=r"gradient of input 0, shape \(3,\), is wrong"
                                                r".*3 of 3 elements differ"):
        tt.gradcheck(lambda t: WrongSquare()(t), [x])
    with pytest.raises(TypeError, match="need float64"):
        tt.gradcheck(tt.exp, [tt.tensor([1.0], requires_grad=True)])


def test_gradcheck_catches_a_function_that_cuts_the_graph():
    x = tt.tensor(np.array([1.0, -2.0]), requires_grad=True)
    with pytest.raises(tt.GradcheckError, match="the function cut the graph"):
        tt.gradcheck(lambda t: tt.Tensor(t.data * 2), [x])


def test_gradgradcheck_catches_a_backward_without_a_graph():
    x = tt.tensor(np.array([1.0, -2.0]), requires_grad=True)
    assert tt.gradcheck(lambda t: SquareWithRawBackward()(t), [x])
    with pytest.raises(tt.GradcheckError, match="the function cut the graph"):
        tt.gradgradcheck(lambda t: SquareWithRawBackward()(t), [x])
    assert tt.gradgradcheck(lambda t: t * t, [x])


def test_gradgradcheck_of_a_linear_function_passes():
    """Its second derivative is zero: the gradient does not depend on x at all."""
    x = tt.tensor(np.array([1.0, -2.0]), requires_grad=True)
    assert tt.gradgradcheck(lambda t: 3 * t + 1, [x])


# ----------------------------------------------------------------------------
# Specific behaviours, with values worked out by hand
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("reduce, whole", [(tt.amax, tt.max), (tt.amin, tt.min)])
def test_amax_amin_ties_share_the_gradient(reduce, whole, device):
    sign = 1.0 if reduce is tt.amax else -1.0
    x = tt.tensor(sign * np.array([[5.0, 5.0, 5.0, 1.0], [2.0, 7.0, 7.0, 0.0]]), device=device,
                  requires_grad=True)
    (reduce(x, dim=1) * tt.tensor(np.array([3.0, 10.0]), device=device)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, 1.0, 1.0, 0.0], [0.0, 5.0, 5.0, 0.0]])
    x.grad = None
    whole(x).backward()  # max() over everything, as torch: the two tied 7s (or -7s) share it
    winners = x.numpy() == (x.numpy().max() if sign > 0 else x.numpy().min())
    np.testing.assert_allclose(x.grad.numpy(), winners / winners.sum())
    assert winners.sum() == 2


@pytest.mark.parametrize("reduce", [tt.max, tt.min])
def test_max_min_along_a_dim_send_the_gradient_to_the_index(reduce, device):
    """As torch: the first of tied extremes is the index, and gets all of the gradient."""
    sign = 1.0 if reduce is tt.max else -1.0
    x = tt.tensor(sign * np.array([[5.0, 5.0, 5.0, 1.0], [2.0, 7.0, 7.0, 0.0]]), device=device,
                  requires_grad=True)
    values, indices = reduce(x, 1)
    assert indices.dtype == tt.int64 and indices.tolist() == [0, 1] and not indices.requires_grad
    np.testing.assert_array_equal(values.numpy(), sign * np.array([5.0, 7.0]))
    (values * tt.tensor(np.array([3.0, 10.0]), device=device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0, 0, 0, 0], [0, 10.0, 0, 0]])
    result = reduce(x, dim=0, keepdim=True)
    assert type(result).__name__ == reduce.__name__ and result.values.shape == (1, 4)
    assert result.indices.shape == (1, 4)


def test_cast_gives_each_gradient_its_input_dtype(device):
    x = tt.tensor(np.array([1.5, -2.0]), device=device, requires_grad=True)
    low = tt.cast(x, tt.float32)
    assert low.dtype == tt.float32 and low.grad_fn is not None
    (tt.cast(low, tt.float64) * tt.tensor(np.array([3.0, 4.0]), device=device)).sum().backward()
    assert x.grad.dtype == tt.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


@pytest.mark.parametrize("op", [tt.maximum, tt.minimum])
def test_maximum_minimum_split_a_tie_in_half(op, device):
    a = tt.tensor(np.array([1.0, 2.0, 3.0]), device=device, requires_grad=True)
    b = tt.tensor(np.array([1.0, 0.0, 4.0]), device=device, requires_grad=True)
    op(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy() + b.grad.numpy(), [1.0, 1.0, 1.0])
    b_wins = [0.5, 0.0, 1.0] if op is tt.maximum else [0.5, 1.0, 0.0]
    np.testing.assert_array_equal(b.grad.numpy(), b_wins)  # the tie (index 0) is shared, as torch


def test_logsumexp_of_an_all_neg_inf_slice_is_neg_inf(device):
    x = tt.tensor(np.array([[-np.inf, -np.inf], [0.0, -np.inf]]), device=device)
    with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer here
        y = tt.logsumexp(x, axis=1)
    np.testing.assert_array_equal(y.numpy(), [-np.inf, 0.0])
    with np.errstate(divide="ignore"):
        y = tt.logsumexp(x, axis=0, keepdims=True)
    np.testing.assert_array_equal(y.numpy(), [[0.0, -np.inf]])


def test_getitem_repeated_indices_accumulate(device):
    x = tt.tensor(np.arange(5.0), device=device, requires_grad=True)
    x[np.array([0, 3, 0, 0, -2])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 0.0, 2.0, 0.0])
    x.grad = None
    x[np.array([True, False, True, False, True])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 1.0, 0.0, 1.0])


def test_embedding_repeated_ids_accumulate(device):
    w = tt.tensor(np.arange(8.0).reshape(4, 2), device=device, requires_grad=True)
    out = tt.nn.functional.embedding(np.array([[3, 3], [0, 3]]), w)
    np.testing.assert_array_equal(out.numpy(), [[[6, 7], [6, 7]], [[0, 1], [6, 7]]])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[1, 1], [0, 0], [0, 0], [3, 3]])


def test_embedding_padding_idx_reads_the_row_but_sends_it_no_gradient(device):
    w = tt.tensor(np.arange(8.0).reshape(4, 2), device=device, requires_grad=True)
    for module in (tt.nn.functional, tt.reference):
        out = module.embedding(np.array([[3, 1], [1, 0]]), w, padding_idx=-3)   # row 1
        np.testing.assert_array_equal(out.numpy(), [[[6, 7], [2, 3]], [[2, 3], [0, 1]]])
        w.grad = None
        out.sum().backward()
        np.testing.assert_array_equal(w.grad.numpy(), [[1, 1], [0, 0], [0, 0], [1, 1]])


def test_softmax_is_stable_and_masked_rows_are_zero(device):
    x = tt.tensor(np.array([[1e4, 1e4, -1e4], [-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 0.0]]),
                  device=device, requires_grad=True)
    y = tt.softmax(x, dim=-1)
    np.testing.assert_array_equal(y.numpy(), [[0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [0.5, 0.0, 0.5]])
    (y * tt.tensor(np.arange(9.0).reshape(3, 3), device=device)).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    np.testing.assert_allclose(x.grad.numpy()[0], [-0.25, 0.25, 0.0])
    np.testing.assert_array_equal(x.grad.numpy()[1], [0.0, 0.0, 0.0])
    z = tt.log_softmax(tt.tensor(np.array([[1e4, 0.0, -1e4]]), device=device), dim=1)
    np.testing.assert_allclose(z.numpy(), [[0.0, -1e4, -2e4]], rtol=1e-12, atol=1e-12)


def test_logsigmoid_at_plus_minus_100_is_finite(device):
    x = tt.tensor(np.array([-100.0, 100.0]), device=device, requires_grad=True)
    y = tt.logsigmoid(x)
    np.testing.assert_allclose(y.numpy(), [-100.0, -math.exp(-100.0)], rtol=1e-12)
    y.sum().backward()
    # d/dx log_sigmoid(x) = sigmoid(-x): 1 at -100 and 3.7e-44 at +100 (sigmoid is computed
    # as (1 + tanh(x/2)) / 2, which rounds that to 0: fine in absolute terms).
    np.testing.assert_allclose(x.grad.numpy(), [1.0, math.exp(-100.0)], rtol=1e-12, atol=1e-40)
    x32 = tt.tensor([-100.0, 100.0], device=device, requires_grad=True)
    y32 = tt.logsigmoid(x32)
    y32.sum().backward()
    assert y32.dtype == tt.float32 and np.isfinite(y32.numpy()).all()
    assert np.isfinite(x32.grad.numpy()).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log1p_of_fraction_is_within_4_ulp_of_log1p(dtype):
    """logsigmoid's log(1 + e), e in [0, 1], written with log (vectorised) instead of
    log1p: within 4 units in the last place of the exact value (long double's log1p;
    NumPy's own log1p is within 1), e itself where 1 + e rounds to 1, 0 at 0."""
    from tinytensor.ops.activation import log1p_of_fraction
    rng = np.random.default_rng(0)
    eps = np.finfo(dtype).eps
    e = np.concatenate([[0.0, 1.0, eps / 4, eps / 2, eps, 2 * eps, 1e-30, 1e-3],
                        rng.random(20000), 10.0 ** rng.uniform(-40, 0, 20000)]).astype(dtype)
    got = log1p_of_fraction(e)
    assert got.dtype == dtype and got.shape == e.shape
    exact = np.log1p(e.astype(np.longdouble))
    ulp = np.spacing(np.abs(exact).astype(dtype)).astype(np.longdouble)
    ulp[exact == 0] = np.finfo(dtype).smallest_subnormal
    assert np.max(np.abs(got - exact) / ulp) <= 4
    assert got[0] == 0 and got[2] == e[2]
    assert log1p_of_fraction(dtype(0.5)).dtype == dtype      # 0-d in, 0-d out, same dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_sums_equal_numpys_sum_over_the_last_axis(dtype):
    """softmax's and layer norm's row sums (a product with a vector of ones): NumPy's
    sum's values within rounding, for contiguous rows, a transposed view, a single
    vector and no rows at all; inf and NaN in a row come through as in a sum."""
    from tinytensor.ops.activation import row_sums
    rng = np.random.default_rng(0)
    tol = dict(rtol=1e-5 if dtype == np.float32 else 1e-12, atol=0)
    x = rng.standard_normal((7, 4, 15, 15)).astype(dtype)
    for a in (x, x.swapaxes(-1, -2), x[0, 0, 0], x[:, :, :0]):
        got = row_sums(a)
        assert got.dtype == dtype and got.shape == a.shape[:-1] + (1,)
        np.testing.assert_allclose(got, a.sum(axis=-1, keepdims=True), **tol)
    np.testing.assert_allclose(row_sums(x, 1 / 15), x.mean(axis=-1, keepdims=True), **tol)
    y = np.ones((3, 5), dtype)
    y[0, 1], y[1, 2], y[1, 3], y[2, 0] = np.inf, np.inf, -np.inf, np.nan
    with np.errstate(invalid="ignore"):   # inf - inf, which NumPy's sum warns of too
        sums = row_sums(y)
    assert sums[0, 0] == np.inf and np.isnan(sums[1:]).all()
    assert row_sums(np.zeros((4, 0), dtype)).tolist() == [[0.0]] * 4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_max_equals_numpys_max_over_the_last_axis(dtype):
    """softmax's row maximum (column by column for short rows): NumPy's max exactly,
    for short rows in one block and in several, rows at and above the short limit,
    a transposed view, one column, no rows; NaN and -inf rows as in NumPy's max."""
    from tinytensor.ops.activation import ROW_BLOCK, SHORT_ROW, row_max
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 4, 15, 15)).astype(dtype)
    many = rng.standard_normal((2 * ROW_BLOCK + 5, 3)).astype(dtype)  # three blocks, the last short
    cases = [x, many, x.swapaxes(-1, -2), x[..., :1], x[:, :, :0],
             rng.standard_normal((9, SHORT_ROW - 1)).astype(dtype),
             rng.standard_normal((9, SHORT_ROW)).astype(dtype)]
    for a in cases:
        got = row_max(a)
        assert got.dtype == dtype and got.shape == a.shape[:-1] + (1,)
        np.testing.assert_array_equal(got, a.max(axis=-1, keepdims=True))
    np.testing.assert_array_equal(row_max(x, 1), x.max(axis=1, keepdims=True))  # another axis
    many[ROW_BLOCK + 1] = -np.inf                  # a fully masked row, in the second block
    many[2 * ROW_BLOCK + 2, 1] = np.nan
    got = row_max(many)
    assert got[ROW_BLOCK + 1, 0] == -np.inf and np.isnan(got[2 * ROW_BLOCK + 2, 0])
    assert np.isnan(got).sum() == 1
    np.testing.assert_array_equal(got, many.max(axis=-1, keepdims=True))


def test_bce_with_logits_matches_the_textbook_formula(device):
    x = np.array([-3.0, -0.5, 0.0, 0.7, 2.5])
    t = np.array([0.0, 1.0, 0.3, 1.0, 0.0])
    p = 1 / (1 + np.exp(-x))
    textbook = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    out = tt.binary_cross_entropy_with_logits(tt.tensor(x, device=device),
                                              tt.tensor(t, device=device), reduction="none")
    np.testing.assert_allclose(out.numpy(), textbook, rtol=1e-12)


def test_cross_entropy_hand_computed(device):
    """Two classes, logits (0, log 3): p = (1/4, 3/4)."""
    logits = tt.tensor(np.array([[0.0, math.log(3.0)], [0.0, math.log(3.0)]]), device=device,
                       requires_grad=True)
    loss = tt.cross_entropy(logits, tt.tensor(np.array([1, 0]), device=device))
    assert loss.item() == pytest.approx((-math.log(0.75) - math.log(0.25)) / 2, rel=1e-12)
    loss.backward()
    np.testing.assert_allclose(logits.grad.numpy(), [[0.125, -0.125], [-0.375, 0.375]], rtol=1e-12)


# -- dropout ------------------------------------------------------------------
def test_dropout_seeded_mask_is_reproducible(device):
    x = tt.ones(4, 50, device=device)
    tt.manual_seed(7)
    a = tt.dropout(x, 0.5).numpy()
    tt.manual_seed(7)
    b = tt.dropout(x, 0.5).numpy()
    c = tt.dropout(x, 0.5).numpy()  # the generator moved on: another mask
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert set(np.unique(a)) <= {0.0, 2.0}


def test_dropout_training_flag(device):
    x = tt.tensor(np.arange(1.0, 13.0).reshape(3, 4), device=device, requires_grad=True)
    assert tt.dropout(x, 0.9, training=False) is x
    assert np.all(tt.dropout(x, 1.0).numpy() == 0)
    assert 0 < np.sum(tt.dropout(x, 0.5, training=True).numpy() == 0) < 12


def test_dropout_preserves_the_expectation_and_rate(device):
    tt.manual_seed(0)
    p = 0.25
    x = tt.full((200, 500), 3.0, device=device, dtype=tt.float64, requires_grad=True)
    y = tt.dropout(x, p)
    values = y.numpy()
    assert abs(np.mean(values == 0) - p) < 0.005         # 100k draws: sd of the rate 0.0014
    assert abs(values.mean() - 3.0) < 0.02               # sd of the mean about 0.0055
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values / 3.0)  # gradient is the scaled mask


def test_dropout_rejects_bad_p():
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        tt.dropout(tt.ones(2), 1.5)


# -- attention ----------------------------------------------------------------
def test_attention_weights_rows_sum_to_one(device, rng):
    q, k, v = (tt.tensor(rng.standard_normal(s), device=device, requires_grad=True)
               for s in [(2, 4, 3), (2, 4, 3), (2, 4, 5)])
    out, weights = tt.scaled_dot_product_attention(q, k, v, attn_mask=CAUSAL, need_weights=True)
    w = weights.numpy()
    np.testing.assert_allclose(w.sum(-1), np.ones((2, 4)), rtol=1e-12)
    assert np.all(w[:, ~CAUSAL] == 0)  # nothing leaks from the future
    assert not weights.requires_grad
    np.testing.assert_allclose(out.numpy(), w @ v.numpy(), rtol=1e-12)
    np.testing.assert_allclose(w, np_softmax(np.where(CAUSAL, q.numpy() @ np.swapaxes(
        k.numpy(), -1, -2) / math.sqrt(3), -np.inf)), rtol=1e-12)


def test_attention_fully_masked_row_gives_zeros_not_nan(device, rng):
    q, k, v = (tt.tensor(rng.standard_normal((3, 2)), device=device, requires_grad=True)
               for _ in range(3))
    out, weights = tt.scaled_dot_product_attention(q, k, v, attn_mask=ONE_ROW_MASKED,
                                                   need_weights=True)
    np.testing.assert_array_equal(out.numpy()[1], [0.0, 0.0])
    np.testing.assert_array_equal(weights.numpy()[1], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(weights.numpy()[[0, 2]].sum(-1), [1.0, 1.0], rtol=1e-12)
    out.sum().backward()
    for t in (q, k, v):
        assert np.isfinite(t.grad.numpy()).all()
    np.testing.assert_array_equal(q.grad.numpy()[1], [0.0, 0.0])


def test_attention_dropout_is_seeded_and_off_in_eval(device, rng):
    q, k, v = (tt.tensor(rng.standard_normal((2, 6, 4)), device=device) for _ in range(3))
    tt.manual_seed(3)
    a = tt.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    tt.manual_seed(3)
    b = tt.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    plain = tt.scaled_dot_product_attention(q, k, v).numpy()
    evaluated = tt.scaled_dot_product_attention(q, k, v, dropout_p=0.0).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, plain)
    np.testing.assert_array_equal(evaluated, plain)


# -- clear errors -----------------------------------------------------------
def test_matmul_shape_mismatch_error():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not fit"):
        tt.matmul(tt.ones(2, 3), tt.ones(4, 5))
    with pytest.raises(ValueError, match=r"matmul: shapes \(3,\) and \(2,\) do not fit"):
        tt.ones(3) @ tt.ones(2)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        tt.matmul(tt.tensor(2.0), tt.ones(2))


@pytest.mark.parametrize("options", [dict(), dict(label_smoothing=0.1, ignore_index=2),
                                     dict(weight=True, label_smoothing=0.2, reduction="none")])
def test_cross_entropy_in_blocks_of_rows_gives_the_whole_arrays_numbers(monkeypatch, options):
    """cross_entropy's forward goes through the logits a block of rows at a time;
    with blocks of 2 rows (the last one short) the loss and the gradient are the
    ones of a single block, to rounding."""
    from tinytensor.ops import loss as loss_module
    rng = np.random.default_rng(0)
    logits, targets = rng.standard_normal((7, 5)) * 3, rng.integers(0, 5, 7)
    options = dict(options)
    if options.pop("weight", False):
        options["weight"] = tt.tensor(rng.random(5) + 0.5)

    def run(block_elements):
        monkeypatch.setattr(loss_module, "CROSS_ENTROPY_BLOCK", block_elements)
        x = tt.tensor(logits, requires_grad=True)
        out = tt.cross_entropy(x, tt.tensor(targets), **options)
        out.sum().backward()
        return out.numpy(), x.grad.numpy()
    blocked, whole = run(10), run(10**9)     # 10 elements: 2 rows of 5 classes per block
    np.testing.assert_allclose(blocked[0], whole[0], rtol=1e-13, atol=0)
    np.testing.assert_allclose(blocked[1], whole[1], rtol=1e-13, atol=1e-15)


def test_cross_entropy_bad_targets_errors():
    logits = tt.zeros(3, 4, requires_grad=True)
    with pytest.raises(IndexError, match=r"cross_entropy: target must be in \[0, 4\).*from 0 to 4"):
        tt.cross_entropy(logits, np.array([0, 4, 1]))
    with pytest.raises(IndexError, match=r"from -1 to 2"):
        tt.cross_entropy(logits, np.array([-1, 2, 1]))
    with pytest.raises(ValueError, match=r"cross_entropy: class-probability .* shape \(3, 4\), "
                                         r"got \(3,\); class indices must be integers"):
        tt.cross_entropy(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="cross_entropy: target must hold integer class indices"):
        tt.cross_entropy(logits, np.array([True, False, True]))
    with pytest.raises(ValueError, match=r"needs target of shape \(3,\), got \(2,\)"):
        tt.cross_entropy(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match="cross_entropy: reduction must be"):
        tt.cross_entropy(logits, np.array([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match=r"cross_entropy: weight must have shape \(4,\)"):
        tt.cross_entropy(logits, np.array([0, 1, 2]), weight=tt.ones(3))
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        tt.cross_entropy(logits, np.array([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="ignore_index is not supported for class-probability"):
        tt.cross_entropy(logits, tt.zeros(3, 4), ignore_index=0)
    with pytest.raises(ValueError, match=r"input of shape \(2, 3, 4\) \(classes on dim 1\) "
                                         r"needs target of shape \(2, 4\), got \(2, 3\)"):
        tt.cross_entropy(tt.zeros(2, 3, 4), np.zeros((2, 3), dtype=np.int64))   # (N, T, C): move C
    with pytest.raises(TypeError, match="nll_loss: target must hold integer class indices"):
        tt.nn.functional.nll_loss(logits, tt.zeros(3, 4))


def test_cross_entropy_class_dim_is_dim_1_as_torch(device):
    """(N, C, T) and the same logits as (N * T, C) rows give the same losses."""
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 3, 3))
    targets = np.array([[0, 2, 1], [1, 1, 0]])
    rows = tt.tensor(np.moveaxis(logits, 1, -1).reshape(-1, 3), device=device)
    flat = tt.cross_entropy(rows, tt.tensor(targets.reshape(-1), device=device), reduction="none")
    layered = tt.cross_entropy(tt.tensor(logits, device=device), tt.tensor(targets, device=device),
                               reduction="none")
    assert layered.shape == (2, 3)
    np.testing.assert_allclose(layered.numpy().reshape(-1), flat.numpy(), rtol=1e-12)


def test_other_nn_function_errors():
    F = tt.nn.functional
    x = tt.zeros(2, 3)
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh'"):
        F.gelu(x, approximate="erf")
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(2,\) must be the trailing"):
        F.layer_norm(x, (2,))
    with pytest.raises(TypeError, match="normalized_shape is a shape"):
        F.layer_norm(x, tt.ones(3))
    with pytest.raises(RuntimeError, match="attn_mask should not be given when is_causal=True"):
        F.scaled_dot_product_attention(x, x, x, attn_mask=np.ones((2, 2), dtype=bool), is_causal=True)
    with pytest.raises(TypeError, match="attn_mask must be boolean .* or float"):
        F.scaled_dot_product_attention(x, x, x, attn_mask=np.ones((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="dropout_p must be in"):
        F.scaled_dot_product_attention(x, x, x, dropout_p=1.0)
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 3\) needs a weight of shape "
                                         r"\(out_features, 3\), got \(4, 2\)"):
        F.linear(x, tt.zeros(4, 2))
    with pytest.raises(TypeError, match=r"embedding: weight must be a Tensor.*embedding\(ids, weight\)"):
        F.embedding(tt.zeros(2, 3), np.array([0, 1]))
    with pytest.raises(TypeError, match="embedding: input must hold integer ids"):
        F.embedding(tt.zeros(2), x)
    with pytest.raises(ValueError, match=r"mse_loss: input shape \(2, 3\) and target shape \(3,\)"):
        F.mse_loss(x, tt.zeros(3))
    with pytest.raises(ValueError, match="l1_loss: reduction must be"):
        F.l1_loss(x, x, reduction="avg")
    with pytest.raises(RuntimeError, match=r"one_hot: class values must be in \[0, 2\)"):
        F.one_hot(tt.tensor([0, 2]), 2)
    with pytest.raises(TypeError, match="one_hot: ids must be integers"):
        F.one_hot(x)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        assert F.softmax(tt.zeros(2, 3, 4)).numpy()[:, 0, 0].tolist() == [0.5, 0.5]   # dim 0, as torch


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating-point tensors can require grad.*int64"):
        tt.tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        tt.arange(3).requires_grad_()


def test_other_clear_errors():
    with pytest.raises(ValueError, match="cannot reshape a tensor of shape \\(2, 3\\)"):
        tt.ones(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match="cannot broadcast shape \\(2, 3\\) to \\(4, 3\\)"):
        tt.ones(2, 3).broadcast_to((4, 3))
    with pytest.raises(ValueError, match="split: sizes \\[1, 1\\] do not add up to 3"):
        tt.split(tt.ones(3), [1, 1])
    with pytest.raises(ValueError, match="stack: all tensors need the same shape"):
        tt.stack([tt.ones(2), tt.ones(3)])
    with pytest.raises(IndexError, match="getitem: index"):
        tt.ones(2, 3)[5]
    with pytest.raises(IndexError, match=r"embedding: ids must be in \[0, 4\)"):
        tt.nn.functional.embedding(np.array([0, 4]), tt.ones(4, 2))
    with pytest.raises(TypeError, match="mask must be boolean"):
        tt.masked_fill(tt.ones(2), np.array([1, 0]), 0.0)
    with pytest.raises(IndexError, match=r"sum\(\): Dimension out of range.*got 3.*\(2, 3\)"):
        tt.ones(2, 3).sum(axis=3)
    with pytest.raises(ValueError, match="layer_norm: weight must have shape \\(3,\\)"):
        tt.layer_norm(tt.ones(2, 3), (3,), tt.ones(2))


@pytest.mark.parametrize("call, error, message", [
    (lambda x: x.sum(dim=1, axis=1), TypeError, r"sum\(\): got both dim= and axis="),
    (lambda x: tt.mean(x, keepdim=True, keepdims=True), TypeError, "both keepdim= and keepdims="),
    (lambda x: x.sum(dim=(0, -2)), RuntimeError, r"sum\(\): dim 0 appears more than once"),
    (lambda x: x.mean(dim=1.0), TypeError, r"mean\(\): dim must be an int"),
    (lambda x: x.unsqueeze(3), IndexError, r"unsqueeze\(\).*\[-3, 2\], but got 3.*\(2, 3\)"),
    (lambda x: x.permute(0, 0), RuntimeError, r"permute\(\): dims \(0, 0\) name a dim twice"),
    (lambda x: x.permute(1), RuntimeError, r"permute\(\): dims \(1,\) must name each of the 2"),
    (lambda x: x.transpose(0, -3), IndexError, r"transpose\(\).*got -3"),
    (lambda x: x.max(dim=(0, 1)), TypeError, r"max\(\): dim must be one int.*amax"),
    (lambda x: x.prod(dim=(0, 1)), TypeError, r"prod\(\): dim must be one int"),
    (lambda x: x.flatten(1, 0), RuntimeError, r"flatten\(\): start_dim 1 comes after end_dim 0"),
    (lambda x: x.repeat(2), RuntimeError, r"repeat\(\): needs at least as many sizes as dims"),
    (lambda x: x.expand(-1, 2, 3), ValueError, r"-1.*not allowed for the new leading dims"),
    (lambda x: x.topk(4), RuntimeError, r"topk\(\): k=4 is out of range"),
    (lambda x: x.var(unbiased=True, correction=0), TypeError, "unbiased= or correction=, not both"),
    (lambda x: x.mm(tt.ones(3)), RuntimeError, r"mm\(\): b must be a matrix \(2-D\), got shape \(3,\)"),
    (lambda x: tt.mm(x, tt.ones(2, 2)), RuntimeError, r"mm\(\): shapes \(2, 3\) and \(2, 2\)"),
    (lambda x: tt.bmm(x, x), RuntimeError, r"bmm\(\): a must be a batch of matrices \(3-D\)"),
    (lambda x: tt.gather(x, 1, tt.tensor([[0.0]])), TypeError, r"gather\(\): index must be an integer"),
    (lambda x: tt.gather(x, 1, tt.tensor([[3]])), IndexError, r"gather\(\): index 3 is out of bounds "
                                                            r"for dim 1 with size 3"),
    (lambda x: tt.gather(x, 1, tt.tensor([[-1]])), IndexError, r"gather\(\): index -1 is out of bounds"),
    (lambda x: tt.gather(x, 0, tt.tensor([0, 1])), RuntimeError, r"gather\(\): index must have as many"),
    (lambda x: tt.gather(x, 1, tt.tensor([[0], [1], [0]])), RuntimeError, r"larger than the tensor"),
    (lambda x: tt.scatter(x, 1, tt.tensor([[0]]), tt.ones(1, 1, dtype=tt.float32)), RuntimeError,
     r"scatter\(\): src has dtype float32 but the tensor has float64"),
    (lambda x: tt.scatter(x, 1, tt.tensor([[0]])), TypeError, r"scatter\(\): pass src"),
    (lambda x: tt.scatter_add(x, 0, tt.tensor([[0, 1]]), tt.ones(1, 1, dtype=tt.float64)),
     RuntimeError, r"scatter_add\(\): index of shape \(1, 2\) is larger than src"),
    (lambda x: tt.index_select(x, 0, tt.tensor([[0]])), IndexError, r"index_select\(\): index must be a vector"),
    (lambda x: tt.index_select(x, 1, tt.tensor([3])), IndexError, r"index_select\(\): index 3 is out of"),
    (lambda x: x[tt.tensor([0.0])], IndexError, r"index: tensors used as indices must be integer"),
    (lambda x: x[np.array([2 ** 64 - 1], dtype=np.uint64)], IndexError,
     r"index 18446744073709551615 is out of bounds for a tensor of shape \(2, 3\)"),
    (lambda x: tt.einsum("ij,jk->ik", x), ValueError, r"einsum\(\): the equation .* has 2 operands"),
    (lambda x: tt.einsum("ijk->i", x), ValueError, r"einsum\(\): subscripts 'ijk' name 3 dims"),
    (lambda x: tt.einsum("ij->k", x), ValueError, r"einsum\(\): output subscript 'k'"),
    (lambda x: tt.einsum("ij,ij->i", x, tt.ones(3, 2, dtype=tt.float64)), ValueError,
     r"einsum\(\): 'ij,ij->i' does not fit the shapes \[\(2, 3\), \(3, 2\)\]"),
    (lambda x: tt.amax(tt.ones(0, 2)), RuntimeError, r"amax\(\): cannot reduce a tensor of shape \(0, 2\)"),
])
def test_dims_shapes_and_indices_errors_name_the_operation(call, error, message):
    x = tt.tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(error, match=message):
        call(x)


def test_torch_results_for_edge_cases():
    """Values that NumPy-style code gets wrong, as torch gives them."""
    with np.errstate(all="raise"):        # and without NumPy warnings on the way
        assert np.isnan(tt.tensor([]).var().item())            # NumPy: 0 / -1 = -0.0
        assert np.isnan(tt.tensor([2.0]).var().item())         # one element: no degree of freedom
        assert np.isnan(tt.tensor([]).mean().item())
    x = tt.tensor(np.arange(6.0).reshape(1, 2, 3))
    assert x.squeeze(1).shape == (1, 2, 3) and x.squeeze().shape == (2, 3)   # a no-op, no error
    assert x.squeeze((0, 1)).shape == (2, 3)
    assert tt.tensor(5.0).sum(dim=0).shape == () and tt.tensor(5.0).unsqueeze(-1).shape == (1,)
    assert x.sum(dim=()).shape == ()            # torch: an empty tuple of dims is all of them
    assert x.argmax().item() == 5 and x.argmax(keepdim=True).shape == (1, 1, 1)
    assert x.argmax(dim=2).dtype == tt.int64
    assert [t.shape for t in x.split(2, dim=2)] == [(1, 2, 2), (1, 2, 1)]
    assert isinstance(x.chunk(2, dim=-1), tuple) and len(tt.ones(6).chunk(4)) == 3  # as torch
    assert tt.cat([x, x], axis=0).shape == (2, 2, 3)       # NumPy's keyword still works
    assert tt.concat is tt.cat and tt.concatenate is tt.cat
    assert tt.tensor([[1, 2], [3, 4]]).cumsum(dim=1).dtype == tt.int64
    assert tt.tensor([True, True]).cumsum(0).tolist() == [1, 2]
    assert (x > 2).any(dim=2).tolist() == [[False, True]] and (x >= 0).all().item() is True
    # A stable sort, descending too: equal values keep their order; NaN comes first as the largest.
    ties = tt.tensor([1.0, 3.0, 1.0, np.nan, 3.0])
    assert ties.sort().indices.tolist() == [0, 2, 1, 4, 3]
    assert ties.sort(descending=True).indices.tolist() == [3, 1, 4, 0, 2]
    assert ties.argsort(descending=True).tolist() == [3, 1, 4, 0, 2]
    # where(condition) alone and nonzero give positions; x.where(condition, y) is where(condition, x, y).
    m = tt.tensor([[1.0, 0.0], [0.0, 3.0]])
    rows, cols = tt.where(m > 0)
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1] and rows.dtype == tt.int64
    assert m.nonzero().tolist() == [[0, 0], [1, 1]] and tt.tensor(2.0).nonzero().shape == (1, 0)
    assert m.where(m > 0, -m).tolist() == [[1.0, 0.0], [0.0, 3.0]]
    assert m[tt.where(m > 0)].tolist() == [1.0, 3.0]


def test_norm_prod_and_scatter_gradients_at_awkward_points():
    zero = tt.zeros(3, dtype=tt.float64, requires_grad=True)
    zero.norm().backward()
    assert zero.grad.tolist() == [0.0, 0.0, 0.0]                # as torch: not 0/0
    x = tt.tensor([2.0, 0.0, 3.0], dtype=tt.float64, requires_grad=True)
    x.prod().backward()
    assert x.grad.tolist() == [0.0, 6.0, 0.0]                   # the product of the others
    y = tt.tensor([0.0, 2.0, 0.0], dtype=tt.float64, requires_grad=True)
    y.prod().backward()
    assert y.grad.tolist() == [0.0, 0.0, 0.0]
    base = tt.zeros(2, 3, dtype=tt.float64, requires_grad=True)
    src = tt.tensor([[1.0, 2.0]], dtype=tt.float64, requires_grad=True)
    out = base.scatter(1, tt.tensor([[2, 0]]), src)
    assert out.tolist() == [[2.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    (out * tt.tensor(np.arange(6.0).reshape(2, 3))).sum().backward()
    assert base.grad.tolist() == [[0.0, 1.0, 0.0], [3.0, 4.0, 5.0]]   # overwritten: no gradient
    assert src.grad.tolist() == [[2.0, 0.0]]


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason=NO_CUDA_REASON)
def test_mixing_devices_is_an_error():
    a = tt.ones(3, device="cpu")
    b = tt.ones(3, device="cuda")
    with pytest.raises(RuntimeError, match="tensors on different devices, cpu and cuda"):
        a + b
    c = tt.ones(3, device="cpu", requires_grad=True)
    moved = c.to("cuda")
    assert moved.device == "cuda"
    (moved * b).sum().backward()
    assert c.grad.device == "cpu"
    np.testing.assert_array_equal(c.grad.numpy(), [1.0, 1.0, 1.0])


# ----------------------------------------------------------------------------
# Property-based: random broadcastable shapes for the binary operations
# ----------------------------------------------------------------------------
BINARY = {
    "add": (tt.add, np.add),
    "sub": (tt.sub, np.subtract),
    "mul": (tt.mul, np.multiply),
    "div": (tt.div, np.divide),
    "maximum": (tt.maximum, np.maximum),
    "minimum": (tt.minimum, np.minimum),
}
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])


def _values(rng, shape, positive_magnitude):
    x = rng.standard_normal(shape)
    if positive_magnitude:  # keep denominators away from 0
        x = np.sign(x + (x == 0)) * (0.5 + np.abs(x))
    return x


@pytest.mark.parametrize("name", sorted(BINARY))
@PROPERTY_SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
       seed=st.integers(0, 2 ** 32 - 1))
def test_binary_ops_on_random_broadcast_shapes(name, device, shapes, seed):
    op, reference = BINARY[name]
    rng = np.random.default_rng(seed)
    a_np = _values(rng, shapes.input_shapes[0], False)
    b_np = _values(rng, shapes.input_shapes[1], name == "div")
    a = tt.tensor(a_np.copy(), device=device, requires_grad=True)
    b = tt.tensor(b_np.copy(), device=device, requires_grad=True)
    out = op(a, b)
    assert out.shape == shapes.result_shape
    np.testing.assert_allclose(out.numpy(), reference(a_np, b_np), rtol=1e-12, atol=1e-15)
    weights = rng.standard_normal(shapes.result_shape)
    (out * tt.tensor(weights, device=device)).sum().backward()
    assert a.grad.shape == a.shape and b.grad.shape == b.shape
    if a.numel() + b.numel() <= 30:
        assert tt.gradcheck(op, [a, b])


@PROPERTY_SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=4, max_side=3),
       seed=st.integers(0, 2 ** 32 - 1))
def test_where_on_random_broadcast_shapes(device, shapes, seed):
    rng = np.random.default_rng(seed)
    cond_shape, a_shape, b_shape = shapes.input_shapes
    cond = rng.random(cond_shape) < 0.5
    a_np, b_np = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    a = tt.tensor(a_np.copy(), device=device, requires_grad=True)
    b = tt.tensor(b_np.copy(), device=device, requires_grad=True)
    c = tt.tensor(cond, device=device)
    out = tt.where(c, a, b)
    assert out.shape == shapes.result_shape
    np.testing.assert_array_equal(out.numpy(), np.where(cond, a_np, b_np))
    out.sum().backward()
    assert a.grad.shape == a_shape and b.grad.shape == b_shape
    # Each element of a gets one gradient per output position that picked it.
    full = np.broadcast_to(cond, shapes.result_shape)
    np.testing.assert_array_equal(a.grad.numpy(), np_sum_to(full.astype(float), a_shape))
    np.testing.assert_array_equal(b.grad.numpy(), np_sum_to((~full).astype(float), b_shape))
    if a.numel() + b.numel() <= 30:
        assert tt.gradcheck(lambda x, y: tt.where(c, x, y), [a, b])


def test_relu_dropout_is_relu_in_eval_and_at_p_0_zero_at_p_1_and_checks_its_arguments():
    x = tt.tensor([[-1.5, 0.0, 2.0], [3.0, -0.5, float("nan")]], requires_grad=True)
    relu = np.array([[0.0, 0.0, 2.0], [3.0, 0.0, np.nan]])
    for kwargs in (dict(p=0.5, training=False), dict(p=0.0)):
        np.testing.assert_array_equal(tt.nn.functional.relu_dropout(x, **kwargs).numpy(), relu)
    out = tt.nn.functional.relu_dropout(tt.tensor([[1.0, -2.0]], requires_grad=True), p=1.0)
    np.testing.assert_array_equal(out.numpy(), [[0.0, -0.0]])
    with pytest.raises(ValueError, match=r"relu_dropout: p must be in \[0, 1\], got 1.5"):
        tt.nn.functional.relu_dropout(x, 1.5)
    with pytest.raises(TypeError, match="relu_dropout: input must be floating point, got int64"):
        tt.nn.functional.relu_dropout(tt.tensor([1, 2]), 0.5)


def test_add_layer_norm_checks_its_arguments_and_keeps_several_trailing_dims():
    x, s = tt.zeros(2, 3, 4), tt.ones(2, 3, 4)
    with pytest.raises(ValueError, match=r"add_layer_norm: sublayer \(2, 3\) must have the shape"):
        tt.nn.functional.add_layer_norm(x, tt.ones(2, 3), (4,))
    with pytest.raises(TypeError, match="add_layer_norm: sublayer is float64 but input is float32"):
        tt.nn.functional.add_layer_norm(x, tt.ones(2, 3, 4, dtype=tt.float64), (4,))
    with pytest.raises(ValueError, match=r"add_layer_norm: dropout_p must be in \[0, 1\)"):
        tt.nn.functional.add_layer_norm(x, s, (4,), dropout_p=1.0)
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(5,\) must be the trailing"):
        tt.nn.functional.add_layer_norm(x, s, (5,))
    # over two trailing dims it is the composed formula, as layer_norm's
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    out = tt.nn.functional.add_layer_norm(tt.tensor(a), tt.tensor(b), (3, 4))
    np.testing.assert_allclose(out.numpy(), np_layer_norm(a + b, (3, 4)), rtol=1e-10, atol=1e-12)


def _relu_dropout_case(x, s, weight, bias):
    return tt.nn.functional.relu_dropout(x + s, 0.1)


@pytest.mark.parametrize("name, op, shape", [
    ("relu_dropout", _relu_dropout_case, (64, 20, 512)),
    ("add_layer_norm", lambda x, s, w, b: tt.nn.functional.add_layer_norm(
        x, s, x.shape[-1:], w, b, dropout_p=0.1), (64, 20, 256)),
    ("add_layer_norm without dropout", lambda x, s, w, b: tt.nn.functional.add_layer_norm(
        x, s, x.shape[-1:], w, b), (960, 512)),
    ("cross_entropy", lambda x, s, w, b: tt.cross_entropy(
        (x + s).flatten(0, 1), tt.tensor(np.arange(x.shape[0] * x.shape[1]) % 7),
        ignore_index=3, label_smoothing=0.1), (64, 20, 1024)),
    ("scaled_dot_product_attention", lambda x, s, w, b: tt.nn.functional.scaled_dot_product_attention(
        x, s, x * w, attn_mask=tt.tensor(np.arange(20) < 17), dropout_p=0.1), (64, 4, 20, 64)),
    ("packed_attention", lambda x, s, w, b: tt.nn.functional.packed_attention(
        (x + s).reshape(64, 20, 3, 4, 32).permute(2, 0, 3, 1, 4), dropout_p=0.1, is_causal=True),
     (64, 20, 384)),
])
def test_ops_split_over_threads_give_the_same_numbers_as_one_thread(name, op, shape, monkeypatch):
    """The fused ops whose large arrays go to the threads by rows (backend.run_on_rows):
    at a benchmark's shape, float32, forward and every gradient equal bit for bit
    to one thread's, and the work did reach a second thread."""
    import threading
    threads_seen = set()
    real = backend.run_in_parts

    def spy(size, work, min_part):
        def recorded(start, stop):
            threads_seen.add(threading.current_thread().name)
            return work(start, stop)
        return real(size, recorded, min_part)
    monkeypatch.setattr(backend, "run_in_parts", spy)
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape, dtype=np.float32) for _ in range(2)] + [
        rng.standard_normal(shape[-1:], dtype=np.float32) for _ in range(2)]
    before, results = tt.get_num_threads(), []
    try:
        for threads in (1, 2):
            tt.set_num_threads(threads)
            tt.manual_seed(0)
            inputs = [tt.tensor(a, requires_grad=True) for a in arrays]
            out = op(*inputs)
            (out * out).sum().backward()
            results.append([out.numpy()] + [t.grad.numpy() for t in inputs if t.grad is not None])
    finally:
        tt.set_num_threads(before)
    assert any(n.startswith("tinytensor") for n in threads_seen), "never split"
    assert len(results[0]) == len(results[1]) >= 3
    for one, two in zip(*results):
        assert one.dtype == np.float32
        np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("name, case", CASES)
def test_float32_inputs_get_float32_gradients_without_a_cast(name, case, monkeypatch):
    """No backward computes in float64 for float32 inputs (a silent upcast: twice
    the memory traffic, then a cast back by the engine). Every case's float
    tensors are made float32; the engine's cast of a gradient to its input's
    dtype (engine._fit) must then never see a float64 gradient."""
    from tinytensor.autograd import engine
    _, args = materialize(name, case, "cpu")
    args = [tt.tensor(a.numpy().astype(np.float32), requires_grad=a.requires_grad)
            if isinstance(a, tt.Tensor) and a.dtype == tt.float64 else a for a in args]
    upcasts, fit = [], engine._fit

    def recording_fit(gx, x):
        if gx.dtype == tt.float64 and x.dtype == tt.float32:
            upcasts.append(type(gx.grad_fn).__name__ if gx.grad_fn else "a fused backward")
        return fit(gx, x)
    monkeypatch.setattr(engine, "_fit", recording_fit)
    outputs = [o for o in as_list(run(name, case, args))
               if isinstance(o, tt.Tensor) and o.requires_grad]
    if not outputs:
        pytest.skip("no output with a gradient")
    tt.autograd.backward([o.sum() for o in outputs])
    assert upcasts == [], f"{name}: a float64 gradient for a float32 input"
