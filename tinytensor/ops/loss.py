"""Losses with torch.nn.functional's names and layouts: cross-entropy (fused) and
the negative log-likelihood with the class dim 1 ((N, C), (N, C, d1, ...)) or a
single sample's (C,); the regression losses and the binary ones, built from
other operations (so twice differentiable). reference.py writes cross-entropy
plainly."""
import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor, array_beside
from . import register
from .comparison import clip
from .elementwise import abs, constant, log
from .reduction import mean, sum
from .activation import log_softmax, logsigmoid, row_sums

__all__ = ["cross_entropy", "mse_loss", "binary_cross_entropy_with_logits"]

# In torch's losses, the positional slots after the inputs (and weight) belong to the
# deprecated size_average and reduce; here everything after them is keyword-only
# (reduction=, ignore_index=, ...), so a positional value fails instead of meaning
# something else.
REDUCTIONS = ("mean", "sum", "none")

# Logits per block of rows in cross-entropy's forward: 512 KB of float32, which stays
# in the cache through the block's passes (32 rows of 4000 classes, 16 of 8000).
CROSS_ENTROPY_BLOCK = 131072


def check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


# ----------------------------------------------------------------------------
# Cross-entropy and the negative log-likelihood
# ----------------------------------------------------------------------------
def class_rows(array, class_dim):
    """An (N, C) view of an array whose classes lie along class_dim: (C,) is one
    row; (N, C, d1, ...) has its class dim moved last, then (N * d1 * ..., C)."""
    if array.ndim == 1:
        return array[None]
    if array.ndim == 2:
        return array
    xp = backend.get_array_module(array)
    return xp.moveaxis(array, class_dim, -1).reshape(-1, array.shape[class_dim])


def from_class_rows(rows, shape, class_dim):
    """The inverse of class_rows: (N, C) rows back to an array of `shape`."""
    if len(shape) <= 2:
        return rows.reshape(shape)
    xp = backend.get_array_module(rows)
    moved = shape[:class_dim] + shape[class_dim + 1:] + (shape[class_dim],)
    return xp.ascontiguousarray(xp.moveaxis(rows.reshape(moved), -1, class_dim))


class CrossEntropy(Function):
    """Softmax cross-entropy of logits against class-index targets (fused).

    Row i holds the logits of one target t_i: (N, C), or each position of
    (N, C, d1, ...), or a single (C,). p = softmax over the classes, w the
    class weights (all 1 without `weight`), e the label smoothing:
    forward:  loss_i = (1 - e) w[t_i] (-log p[i, t_i]) + (e / C) sum_c w[c] (-log p[i, c])
              "mean": sum_i loss_i / sum_i w[t_i];  "sum": sum_i loss_i;  "none": loss_i
    backward: dlogits_i = g_i ((1 - e) w[t_i] (p_i - onehot(t_i)) + (e / C) (W p_i - w)),
              W = sum_c w[c], g_i = gy (divided by sum_i w[t_i] for "mean")
    A target equal to ignore_index has loss 0 and is not counted.
    """
    twice_differentiable = False
    saves_inputs = False  # backward reads p, kept from forward

    def __init__(self, targets, weight, ignore_index, label_smoothing, reduction):
        self.targets = targets.reshape(-1)      # one per row
        self.target_shape = targets.shape
        self.weight, self.ignore_index = weight, ignore_index
        self.smoothing, self.reduction = label_smoothing, reduction

    def forward(self, logits):
        xp = backend.get_array_module(logits)
        self.shape = logits.shape
        rows = class_rows(logits, 1)
        n, classes = rows.shape
        self.valid = self.targets != self.ignore_index
        self.safe_targets = xp.where(self.valid, self.targets, 0)
        # The weight of each row's target (0 for ignored rows): what "mean" divides by.
        picked = self.valid.astype(rows.dtype)
        if self.weight is not None:
            picked *= self.weight[self.safe_targets]
        self.picked = picked
        # log p = shifted - log_norm; only the target's log p and the (weighted) mean over
        # the classes are needed, so the (N, C) array of log p is never made: one exp pass
        # gives p too. exp(shifted) is kept unnormalized with 1 / its row sums:
        # p = exp_shifted * inv_total. The backward multiplies by a per-row factor anyway,
        # so dividing here would be one more pass over the (N, C) logits for nothing.
        # The rows go a block at a time, so that each block's four passes (max, shift,
        # exp, sum) find it in the cache: at (1280, 4000) the (N, C) array is 20 MB. A
        # large array's blocks are shared between the threads: whole blocks, the same
        # ones on any number of threads, so the row sums (BLAS) give the same numbers.
        self.exp_shifted = xp.empty_like(rows)
        target_shifted, smooth_shifted = xp.empty(n, rows.dtype), xp.empty(n, rows.dtype)
        total = xp.empty((n, 1), rows.dtype)
        block = max(1, CROSS_ENTROPY_BLOCK // max(1, classes)) if xp is np else max(1, n)
        starts = range(0, n, block)

        def blocks_of(first, last):
            for start in starts[first:last]:
                part = slice(start, start + block)
                logits = rows[part]
                shifted = xp.subtract(logits, logits.max(axis=1, keepdims=True),
                                      out=self.exp_shifted[part])
                target_shifted[part] = shifted[xp.arange(len(shifted)), self.safe_targets[part]]
                if self.smoothing:
                    smooth_shifted[part] = (row_sums(shifted, 1 / classes)[:, 0]  # sum_c / C (BLAS)
                                            if self.weight is None else shifted @ self.weight / classes)
                total[part] = row_sums(xp.exp(shifted, out=shifted))
        backend.run_in_parts(len(starts), blocks_of,
                             min_part=-(-backend.MIN_ELEMENTS_PER_THREAD // (block * max(1, classes))))
        self.inv_total = 1 / total
        log_norm = xp.log(total[:, 0])
        losses = picked * (log_norm - target_shifted)
        if self.smoothing:
            weight_sum = classes if self.weight is None else self.weight.sum()
            smooth = log_norm * (weight_sum / classes) - smooth_shifted      # (1/C) sum_c w (-log p)
            losses = (1 - self.smoothing) * losses + self.smoothing * smooth * self.valid
        if self.reduction == "none":
            return losses.reshape(self.target_shape)
        if self.reduction == "sum":
            return losses.sum()
        self.count = picked.sum()
        return losses.sum() / self.count

    def backward(self, gy):
        xp = backend.get_array_module(self.exp_shifted)
        n, classes = self.exp_shifted.shape
        e = self.smoothing
        valid = self.valid.astype(self.exp_shifted.dtype)   # float: bool * a Python float is float64
        # g_i, the incoming gradient of row i's loss, as a column (N, 1)
        if self.reduction == "none":
            g_row = gy.data.reshape(-1, 1)
        else:
            g_row = xp.full((n, 1), gy.data / self.count if self.reduction == "mean" else gy.data,
                            dtype=self.exp_shifted.dtype)
        # the formula's terms, each row's factors multiplied first so that the (N, C)
        # array is written once: p_i * (((1 - e) w[t_i] + (e / C) W) g_i), then the rest
        scale = (1 - e) * self.picked
        if e:
            weight_sum = classes if self.weight is None else self.weight.sum()
            scale = scale + (e / classes) * weight_sum * valid
        row_factor = self.inv_total * scale[:, None] * g_row                   # (N, 1)
        smooth = (e / classes) * valid[:, None] * g_row if e else None          # (N, 1)
        at_target = (1 - e) * self.picked * g_row[:, 0]                          # (N,)
        g = xp.empty_like(self.exp_shifted)

        def rows_of(rows):      # a large array's rows are shared between the threads
            part = xp.multiply(self.exp_shifted[rows], row_factor[rows], out=g[rows])
            part[xp.arange(len(part)), self.safe_targets[rows]] -= at_target[rows]
            if e:
                part -= smooth[rows] if self.weight is None else smooth[rows] * self.weight
        backend.run_on_rows(g, rows_of)
        return Tensor(from_class_rows(g, self.shape, 1))


@register
def cross_entropy(input, target, weight=None, *, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy between logits and targets, as torch.nn.functional.cross_entropy.

    input: (N, C), (N, C, d1, ...) (the class dim is dim 1) or (C,).
    target: class indices of shape (N,), (N, d1, ...) or () - or class
    probabilities of the input's shape (a float tensor, which may require grad).
    weight: (C,), a weight per class. ignore_index: a class index whose targets
    count for nothing. label_smoothing e: the target becomes (1 - e) of itself
    plus e spread evenly over the classes. reduction: "mean" (over the
    targets' weights, or over N * d1 * ... for probabilities), "sum", "none".
    """
    target, weight = check_cross_entropy_args(input, target, weight, ignore_index,
                                              label_smoothing, reduction)
    if isinstance(target, Tensor):
        return cross_entropy_with_probabilities(input, target, weight, label_smoothing,
                                                reduction)
    return CrossEntropy(target, weight, ignore_index, label_smoothing, reduction)(input)


def cross_entropy_with_probabilities(input, target, weight, label_smoothing, reduction):
    """-sum_c w_c q_c log p_c for probability targets q (smoothed), from log_softmax:
    its gradient reaches the targets too."""
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    q = target if not label_smoothing else target * (1 - label_smoothing) + label_smoothing / classes
    terms = q * log_softmax(input, class_dim)
    if weight is not None:
        terms = terms * constant(weight.reshape((classes,) + (1,) * (input.ndim - class_dim - 1)))
    losses = -sum(terms, class_dim)
    if reduction == "mean":
        return sum(losses) / (input.numel() // classes)
    return sum(losses) if reduction == "sum" else losses


def check_cross_entropy_args(input, target, weight, ignore_index, label_smoothing, reduction,
                             op="cross_entropy"):
    """The targets (an integer array, or a float Tensor of probabilities) and the
    weight (an array or None), after checking every argument against the input."""
    check_reduction(op, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if not isinstance(input, Tensor) or input.dtype.kind != "f":
        raise TypeError(f"{op}: input must be a floating-point tensor of logits, got "
                        f"{getattr(input, 'dtype', type(input).__name__)}")
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have a class dim: (C,), (N, C) or (N, C, d1, ...), "
                         "got a 0-d tensor")
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    if weight is not None:
        weight = array_beside(weight, input, op, "weight")
        if weight.shape != (classes,):
            raise ValueError(f"{op}: weight must have shape ({classes},), one per class of "
                             f"input {input.shape}, got {tuple(weight.shape)}")
        weight = weight.astype(input.dtype, copy=False)
    if not isinstance(target, Tensor):
        target = Tensor(array_beside(target, input, op, "target"))
    if target.dtype.kind == "f" and op == "cross_entropy":       # class probabilities
        if target.shape != input.shape:
            raise ValueError(f"{op}: class-probability (float) targets must have the input's "
                             f"shape {input.shape}, got {target.shape}; class indices must be "
                             "integers")
        if ignore_index != -100:
            raise ValueError(f"{op}: ignore_index is not supported for class-probability "
                             "(floating-point) targets")
        return target, weight
    target = array_beside(target, input, op, "target")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices (or, for cross_entropy, "
                        f"class probabilities), got dtype {target.dtype}")
    expected = input.shape[:class_dim] + input.shape[class_dim + 1:]
    if tuple(target.shape) != expected:
        raise ValueError(f"{op}: input of shape {input.shape} (classes on dim {class_dim}) "
                         f"needs target of shape {expected}, got {tuple(target.shape)}")
    real = target[target != ignore_index]
    if real.size and (int(real.min()) < 0 or int(real.max()) >= classes):
        raise IndexError(f"{op}: target must be in [0, {classes}) or ignore_index "
                         f"({ignore_index}), got values from {int(real.min())} to {int(real.max())}")
    return target, weight


def target_weights(input, target, weight, ignore_index):
    """A constant of the input's shape: w[t] at each target's class, 0 elsewhere
    (and 0 in the rows of ignored targets)."""
    xp = backend.xp_for(input.device)
    class_dim = 0 if input.ndim == 1 else 1
    classes = input.shape[class_dim]
    ids = xp.expand_dims(target, class_dim)                        # a size-1 class dim
    class_ids = xp.arange(classes).reshape((classes,) + (1,) * (input.ndim - class_dim - 1))
    chosen = ((class_ids == ids) & (ids != ignore_index)).astype(input.dtype)
    if weight is not None:
        chosen *= weight.reshape(class_ids.shape)
    return chosen


@register
def nll_loss(input, target, weight=None, *, ignore_index=-100, reduction="mean"):
    """The negative log-likelihood -w[t] input[t] of log-probabilities `input`
    (the layouts of cross_entropy) at class indices `target`, as
    torch.nn.functional.nll_loss; "mean" divides by the targets' weights."""
    target, weight = check_cross_entropy_args(input, target, weight, ignore_index, 0.0,
                                              reduction, op="nll_loss")
    chosen = target_weights(input, target, weight, ignore_index)
    losses = -sum(input * constant(chosen), 0 if input.ndim == 1 else 1)
    if reduction == "mean":
        return sum(losses) / float(chosen.sum())
    return sum(losses) if reduction == "sum" else losses



# ----------------------------------------------------------------------------
# Regression and binary losses
# ----------------------------------------------------------------------------
def reduce_loss(losses, reduction, op="loss"):
    check_reduction(op, reduction)
    if reduction == "mean":
        return mean(losses)
    return sum(losses) if reduction == "sum" else losses


def check_same_shape(op, input, target):
    if input.shape != target.shape:
        raise ValueError(f"{op}: input shape {input.shape} and target shape {target.shape} "
                         "differ (broadcasting here is almost always a bug)")


def as_target(target, input):
    """Targets given as a list or NumPy array become a constant of the input's dtype."""
    if isinstance(target, Tensor):
        return target
    return Tensor(backend.xp_for(input.device).asarray(target, dtype=input.dtype))


@register
def mse_loss(input, target, *, reduction="mean"):
    """Mean squared error (input - target)^2."""
    target = as_target(target, input)
    check_same_shape("mse_loss", input, target)
    diff = input - target
    return reduce_loss(diff * diff, reduction, "mse_loss")


@register
def l1_loss(input, target, *, reduction="mean"):
    """Mean absolute error |input - target|."""
    target = as_target(target, input)
    check_same_shape("l1_loss", input, target)
    return reduce_loss(abs(input - target), reduction, "l1_loss")



@register
def binary_cross_entropy(input, target, weight=None, *, reduction="mean"):
    """-w (t log(x) + (1 - t) log(1 - x)) for probabilities x; each log is
    clamped at -100, as torch does, so x = 0 or 1 gives a finite loss."""
    target = as_target(target, input)
    check_same_shape("binary_cross_entropy", input, target)
    losses = -(target * clip(log(input), min=-100.0) + (1 - target) * clip(log(1 - input), min=-100.0))
    if weight is not None:
        losses = losses * as_target(weight, input)
    return reduce_loss(losses, reduction, "binary_cross_entropy")


@register
def binary_cross_entropy_with_logits(input, target, weight=None, *, reduction="mean",
                                     pos_weight=None):
    """-w (pw t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))) from the logits x,
    without overflow (log(1 - sigmoid(x)) = log_sigmoid(x) - x). pos_weight
    (one per class, the last dim) weighs the positive term."""
    target = as_target(target, input)
    check_same_shape("binary_cross_entropy_with_logits", input, target)
    log_p = logsigmoid(input)
    if pos_weight is None:
        losses = (1 - target) * input - log_p
    else:
        losses = (1 - target) * input - (1 + (as_target(pos_weight, input) - 1) * target) * log_p
    if weight is not None:
        losses = losses * as_target(weight, input)
    return reduce_loss(losses, reduction, "binary_cross_entropy_with_logits")


